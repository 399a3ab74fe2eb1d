//! Seed inputs for the three targets, made from the recordings
//! (`modems/*/recordings/*.rec`, `modems/*/captures/*.rec`) and from a few
//! hand-written sessions.
//!
//! * `framer`: the `M:` bytes of every recording and capture, with the profile its
//!   `@profile` header names, fed with two first ops and two chunkings.
//! * `driver_*`: for every recording of the target's modem, its calls as actions
//!   (create, connect until done, send, recv, close, cleanup, time), and what its
//!   modem lines hold beyond the bring-up as honest modem actions: each payload
//!   header with its bytes becomes a `Datagram` for that handle, other lines
//!   `Junk`; a second seed appends the whole `M:` stream as `Raw` bytes.

use std::path::{Path, PathBuf};

use cellsock::replay::{Recording, Step};

use crate::action::{program, Action, MAX_DATA};
use crate::reference::{self, Dialect};

/// One seed: target, file name, bytes.
pub type Seed = (&'static str, String, Vec<u8>);

fn rec_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(modems) = std::fs::read_dir(root.join("modems")) else {
        return files;
    };
    for m in modems.flatten() {
        for sub in ["recordings", "captures"] {
            let Ok(entries) = std::fs::read_dir(m.path().join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "rec") {
                    files.push(e.path());
                }
            }
        }
    }
    files.sort();
    files
}

fn modem_bytes(rec: &Recording) -> Vec<u8> {
    let mut out = Vec::new();
    for (_, step) in &rec.steps {
        if let Step::Modem(b) = step {
            out.extend_from_slice(b);
        }
    }
    out
}

/// Lines every bring-up has; they carry nothing for a seed.
fn routine(line: &[u8]) -> bool {
    const ROUTINE: [&[u8]; 6] = [b"OK", b"ERROR", b"SEND OK", b"> ", b">", b"AT"];
    ROUTINE.contains(&line)
        || line.starts_with(b"+CPIN:")
        || line.starts_with(b"+QIACT:")
        || line.starts_with(b"+CGPADDR:")
        || line.starts_with(b"#XSOCKET:")
        || line.starts_with(b"#XCONNECT:")
        || line.starts_with(b"+QISTATE:")
        || line.starts_with(b"+QIOPEN:")
}

/// The modem actions a run of `M:` bytes stands for.
fn modem_actions(dialect: Dialect, bytes: &[u8], out: &mut Vec<Action>) {
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
            break;
        };
        let line = rest[..end].trim_ascii();
        let mut next = at + end + 1;
        if rest.get(end) == Some(&b'\r') && rest.get(end + 1) == Some(&b'\n') {
            next += 1;
        }
        if let Some((h, len)) = reference::header(dialect, line) {
            let data = bytes.get(next..next + len).unwrap_or(&[]).to_vec();
            next += data.len();
            out.push(Action::Datagram {
                target: h.map_or(0, |h| h.min(127) as u8),
                form: u8::from(h.is_none()),
                when: 0,
                data: data[..data.len().min(MAX_DATA)].to_vec(),
            });
        } else if !line.is_empty() && !routine(line) {
            out.push(Action::Junk {
                when: 0,
                data: line.to_vec(),
            });
        }
        at = next;
    }
}

fn word(args: &[Vec<u8>], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |a| a.as_slice())
}

fn sock(args: &[Vec<u8>]) -> u8 {
    std::str::from_utf8(word(args, 1))
        .ok()
        .and_then(|w| w.strip_prefix('s'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A recording's calls and modem lines as a driver program.
fn driver_program(dialect: Dialect, rec: &Recording) -> Vec<Action> {
    let mut out = Vec::new();
    let mut connected = false;
    let mut run = Vec::new();
    for (_, step) in &rec.steps {
        if !matches!(step, Step::Modem(_)) && !run.is_empty() {
            if connected {
                modem_actions(dialect, &run, &mut out);
            }
            run.clear();
        }
        match step {
            Step::Modem(b) => run.extend_from_slice(b),
            Step::Advance(ms) | Step::At(ms) => out.push(Action::Advance {
                kind: match ms {
                    0..=100 => 1,
                    101..=999 => 4,
                    1000..=4999 => 5,
                    5000..=59_999 => 7,
                    _ => 9,
                },
            }),
            Step::Call { args, expect } => match word(args, 0) {
                b"create" => out.push(Action::Create { family: 0 }),
                b"connect" => {
                    out.push(Action::Connect {
                        sock: sock(args),
                        host: 0,
                        port: 0,
                        repeat: true,
                    });
                    connected |= expect.starts_with("OK");
                }
                b"send" => out.push(Action::Send {
                    sock: sock(args),
                    data: word(args, 2).to_vec(),
                    repeat: true,
                }),
                b"recv" => out.push(Action::Recv {
                    sock: sock(args),
                    buf: 6,
                }),
                b"close" => out.push(Action::Close {
                    sock: sock(args),
                    repeat: true,
                }),
                b"cleanup" => out.push(Action::Cleanup {
                    sock: sock(args),
                    repeat: true,
                }),
                b"shutdown" => out.push(Action::Shutdown { sock: sock(args) }),
                b"rx_off" => out.push(Action::Query {
                    sock: sock(args),
                    what: 7,
                }),
                b"bytes_received" => out.push(Action::Query {
                    sock: sock(args),
                    what: 3,
                }),
                _ => {}
            },
            Step::Host(_) => {}
        }
    }
    if connected && !run.is_empty() {
        modem_actions(dialect, &run, &mut out);
    }
    out
}

/// Hand-written sessions: the paths a recording-derived seed may not reach.
fn sessions() -> Vec<(&'static str, Vec<Action>)> {
    use Action::*;
    let connect = |sock| Connect {
        sock,
        host: 0,
        port: 0,
        repeat: true,
    };
    let three = vec![
        Create { family: 0 },
        Create { family: 0 },
        Create { family: 0 },
        connect(0),
        connect(1),
        connect(2),
    ];
    let mut healthy = three.clone();
    for s in 0..3u8 {
        healthy.push(Send {
            sock: s,
            data: b"\r\nOK\r\n> \x00\x1a".to_vec(),
            repeat: true,
        });
        healthy.push(Datagram {
            target: s,
            form: 0,
            when: 0,
            data: b"\xf5\x00\x01\x5f\r\nSEND OK\r\n".to_vec(),
        });
        healthy.push(Datagram {
            target: s,
            form: 1,
            when: 0,
            data: b"buffered one".to_vec(),
        });
        healthy.push(Recv { sock: s, buf: 6 });
        healthy.push(Recv { sock: s, buf: 6 });
    }
    let mut faults = three.clone();
    for kind in 1..12u8 {
        faults.push(Fault { kind, arg: kind });
        faults.push(Send {
            sock: kind % 3,
            data: b"fault".to_vec(),
            repeat: true,
        });
        faults.push(Advance { kind: 12 });
        faults.push(Recv {
            sock: kind % 3,
            buf: 6,
        });
    }
    let mut urcs = three.clone();
    for kind in 0..10u8 {
        urcs.push(Urc {
            kind,
            arg: 1,
            when: kind % 3,
        });
        urcs.push(Datagram {
            target: 1,
            form: 0,
            when: 2,
            data: b"after a urc".to_vec(),
        });
        urcs.push(Send {
            sock: 1,
            data: b"x".to_vec(),
            repeat: true,
        });
        urcs.push(Recv { sock: 1, buf: 6 });
    }
    let mut lies = three.clone();
    for kind in 0..3u8 {
        lies.push(Lie {
            target: 0,
            kind,
            len: 7,
            data: b"short".to_vec(),
        });
        lies.push(Datagram {
            target: 0,
            form: 0,
            when: 0,
            data: b"resync".to_vec(),
        });
        lies.push(Recv { sock: 0, buf: 6 });
    }
    let mut bad = vec![Create { family: 2 }, Create { family: 0 }];
    for host in [
        &b"a\"b"[..],
        b"a\rb",
        b"a,b",
        b"a b",
        b"a\x00b",
        b"",
        b"[::1]",
    ] {
        bad.push(ConnectBad {
            sock: 0,
            host: host.to_vec(),
            port: b"5683".to_vec(),
        });
    }
    for port in [&b"0"[..], b"65536", b"-1", b"", b"123456", b"80a"] {
        bad.push(ConnectBad {
            sock: 0,
            host: b"example.com".to_vec(),
            port: port.to_vec(),
        });
    }
    bad.push(connect(0));
    bad.push(SendSized {
        sock: 0,
        len: 1461,
        fill: 0,
        repeat: false,
    });
    bad.push(Send {
        sock: 0,
        data: Vec::new(),
        repeat: false,
    });
    bad.push(Cleanup {
        sock: 0,
        repeat: true,
    });
    bad.push(Send {
        sock: 0,
        data: b"late".to_vec(),
        repeat: false,
    });
    // Unconnected sockets and the resolver.
    let mut full = vec![Create { family: 0 }, Create { family: 0 }];
    full.push(Bind {
        sock: 0,
        port: 0,
        repeat: true,
    });
    full.push(connect(1));
    for to in 0..4u8 {
        full.push(SendTo {
            sock: 0,
            to,
            data: b"to a peer".to_vec(),
            repeat: true,
        });
        full.push(Datagram {
            target: 0,
            form: to << 1,
            when: 0,
            data: b"\xf5\x00\x09\x5ffrom a peer".to_vec(),
        });
        full.push(Datagram {
            target: 0,
            form: (to << 1) | 1,
            when: 0,
            data: b"read from a peer".to_vec(),
        });
        full.push(Recv { sock: 0, buf: 6 });
        full.push(Recv { sock: 0, buf: 6 });
    }
    full.push(SendTo {
        sock: 1,
        to: 0,
        data: b"connected: refused".to_vec(),
        repeat: false,
    });
    for name in 0..7u8 {
        for family in 0..3u8 {
            full.push(Resolve {
                name,
                family,
                repeat: true,
            });
        }
    }
    vec![
        ("unconnected_and_dns", full),
        ("healthy", healthy),
        ("faults", faults),
        ("urcs", urcs),
        ("lies", lies),
        ("bad_input", bad),
    ]
}

/// Every seed, from the repository at `root`.
pub fn all(root: &Path) -> Vec<Seed> {
    let mut seeds = Vec::new();
    for path in rec_files(root) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(rec) = Recording::parse(&text) else {
            continue;
        };
        let name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let profile = rec.header("profile").unwrap_or("generic");
        let p = match profile {
            "bg96" => 0u8,
            "bg96-buffer" => 1,
            "nrf91" => 2,
            "nrf91-poll" => 3,
            _ => 4,
        };
        let stream = modem_bytes(&rec);
        for (op, seed) in [(0u8, 0u16), (1, 7)] {
            let mut bytes = vec![p, op];
            bytes.extend_from_slice(&seed.to_be_bytes());
            bytes.extend_from_slice(&stream);
            seeds.push(("framer", format!("{name}-{op}"), bytes));
        }
        let is_recording = path.parent().and_then(Path::file_name) == Some("recordings".as_ref());
        let (target, dialect) = match p {
            0 | 1 => ("driver_bg96", Dialect::Bg96),
            2 | 3 => ("driver_nrf91", Dialect::Nrf91),
            _ => continue,
        };
        if !is_recording {
            continue;
        }
        let config = if p % 2 == 1 { 0x55 } else { 0x54 };
        let mut actions = driver_program(dialect, &rec);
        seeds.push((target, name.clone(), program(config, 0, &actions)));
        seeds.push((
            target,
            format!("{name}-chunked"),
            program(config, 3, &actions),
        ));
        for piece in stream.chunks(MAX_DATA) {
            actions.push(Action::Raw {
                data: piece.to_vec(),
            });
        }
        seeds.push((target, format!("{name}-raw"), program(config, 0, &actions)));
    }
    for (name, actions) in sessions() {
        for (target, config) in [
            ("driver_bg96", 0x54u8),
            ("driver_bg96", 0x55),
            ("driver_nrf91", 0x54),
            ("driver_nrf91", 0x55),
        ] {
            seeds.push((
                target,
                format!("{name}-{config:02x}"),
                program(config, 5, &actions),
            ));
        }
    }
    seeds
}
