//! What the benches share: the recorded BG96 byte stream, the two ways of feeding
//! it to a digester (the driver's window and atat's `Ingress` loop), and atat's
//! stock `AtDigester` set up as a BG96 user of atat would set it up.
#![allow(dead_code)]

use std::path::Path;

use atat::digest::{DigestResult, Digester};
use cellsock::framer::{Frame, Framer, FramerDigester, Ingress};
use cellsock::modems::bg96::Bg96;
use cellsock::profile::{Context, Profile};
use cellsock::replay::{Recording, Step};

/// Bytes handed to the digester per UART read: a typical DMA half-buffer or
/// idle-line chunk on a Cortex-M4 at 115200 baud.
pub const CHUNK: usize = 64;

/// The receive window, as large as the driver's (`cellsock::INGRESS_CAPACITY`).
pub const WINDOW: usize = cellsock::INGRESS_CAPACITY;

/// One run of modem output (consecutive `M:` lines of a recording) and whether a
/// send was waiting for its prompt when it began.
#[derive(Clone, Debug)]
pub struct Segment {
    /// Recording it comes from.
    pub file: String,
    /// The modem's bytes.
    pub bytes: Vec<u8>,
    /// The host had written `AT+QISEND=<id>,<n>` with n > 0 and no prompt came yet.
    pub awaiting_prompt: bool,
}

/// Every BG96 recording's modem bytes (`M:`), in file order, cut where the host
/// spoke. This is the "realistic recorded stream": bring-up answers, URCs, prompts,
/// send results, direct-push and buffer-mode datagrams (binary ones included), and
/// the hostile cases the recordings hold (lying lengths, junk, reboots).
pub fn bg96_stream() -> Vec<Segment> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("modems/bg96/recordings");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("modems/bg96/recordings exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rec"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable recording");
        let rec = Recording::parse(&text).expect("valid recording");
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut awaiting = false;
        let mut cur: Option<Segment> = None;
        for (_, step) in &rec.steps {
            match step {
                Step::Modem(b) => {
                    cur.get_or_insert_with(|| Segment {
                        file: file.clone(),
                        bytes: Vec::new(),
                        awaiting_prompt: awaiting,
                    })
                    .bytes
                    .extend_from_slice(b);
                }
                other => {
                    if let Some(s) = cur.take() {
                        out.push(s);
                    }
                    if let Step::Host(h) = other {
                        awaiting = if h.starts_with(b"AT") {
                            awaiting_prompt_after(h.strip_suffix(b"\r").unwrap_or(h))
                        } else {
                            // Payload bytes: the prompt came.
                            false
                        };
                    }
                }
            }
        }
        if let Some(s) = cur.take() {
            out.push(s);
        }
    }
    out
}

/// `AT+QISEND=<id>,<n>` with n > 0: the modem answers with the prompt.
fn awaiting_prompt_after(line: &[u8]) -> bool {
    let Some(p) = line.strip_prefix(b"AT+QISEND=") else {
        return false;
    };
    let p = String::from_utf8_lossy(p);
    p.split(',')
        .nth(1)
        .and_then(|n| n.trim().parse::<u32>().ok())
        .is_some_and(|n| n > 0)
}

/// Total bytes of `segs`.
pub fn total_bytes(segs: &[Segment]) -> usize {
    segs.iter().map(|s| s.bytes.len()).sum()
}

/// What a pass over the stream produced (so nothing is optimised away, and so the
/// two digesters' views can be compared).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub frames: usize,
    pub responses: usize,
    pub urcs: usize,
    pub prompts: usize,
    pub payload_bytes: usize,
    pub dropped: usize,
}

/// The driver's path: `Framer::next` over cellsock's receive window, `CHUNK` bytes
/// per read, the context switched off when the prompt is framed (as the engine
/// does). With `classify`, each frame is also classified by the BG96 profile.
pub fn run_framer(segs: &[Segment], classify: bool) -> Tally {
    let profile = Bg96::new();
    let mut framer = Framer::new();
    let mut ingress: Ingress<WINDOW> = Ingress::new();
    let mut t = Tally::default();
    for seg in segs {
        let mut ctx = Context {
            op: None,
            awaiting_prompt: seg.awaiting_prompt,
        };
        for chunk in seg.bytes.chunks(CHUNK) {
            let mut off = 0;
            while off < chunk.len() {
                let n = ingress.push(&chunk[off..]);
                off += n;
                loop {
                    let (frame, used) = framer.next(ingress.data(), WINDOW, &profile, &ctx);
                    match frame {
                        None if used == 0 => break,
                        None => t.dropped += used,
                        Some(f) => {
                            t.frames += 1;
                            match f {
                                Frame::Prompt => {
                                    t.prompts += 1;
                                    ctx.awaiting_prompt = false;
                                }
                                Frame::Payload { data, .. } => t.payload_bytes += data.len(),
                                Frame::Line(_) => {}
                            }
                            if classify {
                                std::hint::black_box(profile.classify(f, &ctx));
                            } else {
                                std::hint::black_box(f);
                            }
                        }
                    }
                    ingress.consume(used);
                }
                if n == 0 && ingress.len() == ingress.capacity() {
                    ingress.clear();
                }
            }
        }
    }
    t
}

/// atat's `Ingress` loop (atat 0.25 `ingress.rs`, `try_advance`): append a read,
/// digest until nothing is swallowed, `copy_within` the rest to the front after
/// every result, clear when full. `on_prompt` lets a context-aware digester learn
/// that the prompt came.
pub fn run_digester<D: Digester>(
    d: &mut D,
    segs: &[Segment],
    mut on_segment: impl FnMut(&mut D, &Segment),
    mut on_prompt: impl FnMut(&mut D),
) -> Tally {
    let mut buf = vec![0u8; WINDOW];
    let mut pos = 0;
    let mut t = Tally::default();
    for seg in segs {
        on_segment(d, seg);
        for chunk in seg.bytes.chunks(CHUNK) {
            let mut off = 0;
            while off < chunk.len() {
                if pos == buf.len() {
                    // atat's read_from: "Ingress buffer full, clearing".
                    pos = 0;
                }
                let n = (buf.len() - pos).min(chunk.len() - off);
                buf[pos..pos + n].copy_from_slice(&chunk[off..off + n]);
                pos += n;
                off += n;
                while pos > 0 {
                    let (res, swallowed) = d.digest(&buf[..pos]);
                    match res {
                        DigestResult::None => t.dropped += swallowed,
                        DigestResult::Prompt(_) => {
                            t.frames += 1;
                            t.prompts += 1;
                            on_prompt(d);
                        }
                        DigestResult::Urc(u) => {
                            t.frames += 1;
                            t.urcs += 1;
                            std::hint::black_box(u);
                        }
                        DigestResult::Response(r) => {
                            t.frames += 1;
                            t.responses += 1;
                            std::hint::black_box(r.is_ok());
                        }
                    }
                    if swallowed == 0 {
                        break;
                    }
                    buf.copy_within(swallowed..pos, 0);
                    pos -= swallowed;
                }
            }
        }
    }
    t
}

/// cellsock's framer behind atat's `Digester` trait, fed by atat's loop.
pub fn run_framer_digester(segs: &[Segment]) -> Tally {
    let mut d = FramerDigester::new(Bg96::new(), WINDOW);
    run_digester(
        &mut d,
        segs,
        |d, seg| {
            d.set_context(Context {
                op: None,
                awaiting_prompt: seg.awaiting_prompt,
            })
        },
        |d| d.set_context(Context::default()),
    )
}

/// The URCs a BG96 application built on atat declares (what `#[derive(AtatUrc)]`
/// generates its `Parser` from: one `urc_helper` per code, tried in order).
pub mod peer {
    use atat::atat_derive::{AtatResp, AtatUrc};
    use atat::heapless::String;

    #[derive(Clone, Debug, AtatResp)]
    pub struct QiUrc {
        pub kind: String<16>,
        pub id: u8,
    }

    #[derive(Clone, Debug, AtatResp)]
    pub struct QiOpen {
        pub id: u8,
        pub err: u16,
    }

    #[derive(Clone, Debug, AtatResp)]
    pub struct Cereg {
        pub stat: u8,
    }

    #[derive(Clone, Debug, AtatResp)]
    pub struct Cpin {
        pub code: String<16>,
    }

    #[derive(Clone, Debug, AtatUrc)]
    pub enum Bg96Urc {
        #[at_urc("+QIURC")]
        QiUrc(QiUrc),
        #[at_urc("+QIOPEN")]
        QiOpen(QiOpen),
        #[at_urc("+CEREG")]
        Cereg(Cereg),
        #[at_urc("+CPIN")]
        Cpin(Cpin),
        #[at_urc("RDY")]
        Ready,
        #[at_urc("APP RDY")]
        AppReady,
        #[at_urc("POWERED DOWN")]
        PoweredDown,
    }

    /// atat's stock digester for these URCs.
    pub type PeerDigester = atat::digest::AtDigester<Bg96Urc>;
}

/// atat's `AtDigester<Bg96Urc>`, fed by atat's loop.
pub fn run_at_digester(segs: &[Segment]) -> Tally {
    let mut d = peer::PeerDigester::new();
    run_digester(&mut d, segs, |_, _| {}, |_| {})
}

/// The segments atat's `AtDigester` gets through without panicking (each segment
/// tried alone on a fresh digester), and the ones where it panics, with the
/// panic message.
pub fn at_digester_survivors(segs: &[Segment]) -> (Vec<Segment>, Vec<(Segment, String)>) {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for s in segs {
        let one = std::slice::from_ref(s);
        match std::panic::catch_unwind(|| run_at_digester(one)) {
            Ok(_) => ok.push(s.clone()),
            Err(e) => {
                let msg = e
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| e.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                bad.push((s.clone(), msg));
            }
        }
    }
    std::panic::set_hook(hook);
    (ok, bad)
}
