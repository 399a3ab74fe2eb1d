//! Property tests (docs/reliability.md, "Property tests"), with modest case counts
//! so `cargo test` stays fast:
//!
//! * every recording passes under arbitrary chunk boundaries (on top of the 52
//!   fixed chunkings of `tests/recordings.rs`), with the same counters as fed whole;
//! * the recording format round-trips: any recording written and parsed again is
//!   the same transcript;
//! * URCs interleaved at random line boundaries into valid exchanges (registered
//!   again, "incoming full", a datagram for the other socket, boot noise) change
//!   nothing the application sees beyond their meaning: the same send results, the
//!   same bytes written to the modem, the same datagrams, plus exactly the
//!   injected datagram on the socket it was addressed to.
//!
//! The scripted modem of the last one is the fuzz targets' (`fuzz/src/modem.rs`).

#[allow(dead_code)]
#[path = "../fuzz/src/reference.rs"]
mod reference;

#[allow(dead_code)]
#[path = "../fuzz/src/modem.rs"]
mod modem;

use std::path::{Path, PathBuf};

use cellsock::modems::bg96::Bg96;
use cellsock::modems::nrf91_slm::Nrf91Slm;
use cellsock::replay::{
    run_cuts, Chunking, Cuts, Mismatch, Recording, ReplayUart, Step, VirtualClock,
};
use cellsock::{AddressFamily, Config, Driver, Error, NetStack, Profile, SocketHandle, Stats};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, TestCaseError, TestRunner};

use modem::{slot_port, Modem};
use reference::Dialect;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(PropConfig {
        cases,
        failure_persistence: None,
        ..PropConfig::default()
    })
}

// ---------------------------------------------------------------------------
// Chunking invariance

/// Arbitrary cuts per recording.
const CUT_CASES: u32 = 12;

fn recordings() -> Vec<(PathBuf, Recording)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("modems");
    let mut out = Vec::new();
    for modem in std::fs::read_dir(&root).expect("modems/") {
        let dir = modem.expect("readable").path().join("recordings");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.expect("readable").path();
            if path.extension().is_none_or(|x| x != "rec") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable");
            let rec = Recording::parse(&text).expect("recordings parse");
            if rec.header("host-only").is_none() {
                out.push((path, rec));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn replay_cuts(rec: &Recording, cuts: &Cuts) -> Result<Stats, Mismatch> {
    match rec.header("profile") {
        Some("bg96") => run_cuts(Bg96::new(), rec, cuts),
        Some("bg96-buffer") => run_cuts(Bg96::buffered(), rec, cuts),
        Some("nrf91") => run_cuts(Nrf91Slm::new(), rec, cuts),
        Some("nrf91-poll") => run_cuts(Nrf91Slm::polled(), rec, cuts),
        other => panic!("unknown profile {other:?}"),
    }
}

/// Read sizes: mostly tiny (where framing bugs hide), some large.
fn cuts() -> impl Strategy<Value = Cuts> {
    let size = prop_oneof![4 => 1usize..=4, 3 => 1usize..=32, 1 => 1usize..=2000];
    (vec(size, 1..12), proptest::option::of(any::<u64>()))
        .prop_map(|(reads, write_seed)| Cuts { reads, write_seed })
}

#[test]
fn every_recording_passes_under_arbitrary_cuts() {
    let recs = recordings();
    assert!(recs.len() > 20, "recordings found: {}", recs.len());
    for (path, rec) in &recs {
        let whole = cellsock::modems::replay(rec, Chunking::Whole)
            .unwrap_or_else(|m| panic!("{}: {m}", path.display()));
        runner(CUT_CASES)
            .run(&cuts(), |cuts| {
                let stats = replay_cuts(rec, &cuts)
                    .map_err(|m| TestCaseError::fail(format!("{m}\n  ({cuts:?})")))?;
                prop_assert_eq!(stats, whole, "counters differ from the whole feed");
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

// ---------------------------------------------------------------------------
// The recording format round-trips

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    // Bytes the format must escape, more often than uniform bytes would give them.
    let byte = prop_oneof![
        3 => any::<u8>(),
        2 => proptest::sample::select(&b" \\\r\n\t\"=>#:@x"[..]),
    ];
    vec(byte, 0..max)
}

/// Printable text without blanks at either end (what a header value or an expected
/// result can be: the parser trims both).
fn trimmed_text() -> impl Strategy<Value = String> {
    "([!-~]([ -~]{0,24}[!-~])?)?"
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        bytes(40).prop_map(Step::Host),
        bytes(40).prop_map(Step::Modem),
        any::<u64>().prop_map(Step::Advance),
        any::<u64>().prop_map(Step::At),
        (vec(bytes(12), 1..5), trimmed_text())
            .prop_map(|(args, expect)| Step::Call { args, expect }),
    ]
}

fn recording() -> impl Strategy<Value = Recording> {
    let header = ("[a-z][a-z0-9-]{0,10}", trimmed_text());
    (vec(header, 0..4), vec(step(), 0..20)).prop_map(|(headers, steps)| Recording {
        headers,
        steps: steps.into_iter().map(|s| (0, s)).collect(),
    })
}

#[test]
fn the_recording_format_round_trips() {
    runner(256)
        .run(&recording(), |rec| {
            let text = rec.to_text();
            let back =
                Recording::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(&back.headers, &rec.headers, "{}", text);
            let steps: Vec<&Step> = back.steps.iter().map(|(_, s)| s).collect();
            let want: Vec<&Step> = rec.steps.iter().map(|(_, s)| s).collect();
            prop_assert_eq!(steps, want, "{}", text);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The two arguments the property found that did not come back: `=>` (read as the
/// result separator, e.g. in a datagram `a=>b`) and a literal `""` (read as the
/// empty argument). Both are escaped now.
#[test]
fn arguments_that_look_like_syntax_round_trip() {
    for arg in [
        &b"=>"[..],
        b"a=>b",
        b"\"\"",
        b"",
        b"=",
        b">",
        b"\"",
        b"=\\>",
    ] {
        let rec = Recording {
            headers: Vec::new(),
            steps: vec![(
                0,
                Step::Call {
                    args: vec![b"send".to_vec(), b"s0".to_vec(), arg.to_vec()],
                    expect: "OK 2".into(),
                },
            )],
        };
        let back = Recording::parse(&rec.to_text()).expect("parses");
        assert_eq!(back.steps[0].1, rec.steps[0].1, "{}", rec.to_text());
    }
}

// ---------------------------------------------------------------------------
// URCs interleaved into valid exchanges

/// What the application does.
#[derive(Clone, Debug)]
enum Op {
    Send(usize, Vec<u8>),
    Push(usize, Vec<u8>),
    Recv(usize),
}

/// A URC whose meaning, once the sockets are connected, is: nothing for the
/// application, or one datagram for one socket.
#[derive(Clone, Debug)]
enum Urc {
    Registered,
    Roaming,
    Neutral,
    Noise,
    DatagramFor(usize, Vec<u8>),
}

/// Where a URC goes in an answer: before it, between its information lines and its
/// final result (or prompt), after it.
type Slot = Option<(Urc, u8)>;

fn op() -> impl Strategy<Value = Op> {
    let data = vec(any::<u8>(), 1..48);
    prop_oneof![
        (0..2usize, data.clone()).prop_map(|(s, d)| Op::Send(s, d)),
        (0..2usize, data).prop_map(|(s, d)| Op::Push(s, [&b"\xdd"[..], &d].concat())),
        (0..2usize).prop_map(Op::Recv),
    ]
}

fn urc() -> impl Strategy<Value = Urc> {
    prop_oneof![
        Just(Urc::Registered),
        Just(Urc::Roaming),
        Just(Urc::Neutral),
        Just(Urc::Noise),
        (0..2usize, vec(any::<u8>(), 0..32)).prop_map(|(s, d)| Urc::DatagramFor(s, d)),
    ]
}

/// The sender of pushed datagrams (connected sockets do not show it).
fn peer() -> modem::Peer {
    ("192.0.2.1".into(), 5683)
}

/// What the application saw.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    sends: Vec<Result<usize, Error>>,
    delivered: [Vec<Vec<u8>>; 2],
    written: Vec<u8>,
    unknown_lines: u32,
    stray_finals: u32,
    injected: [Vec<Vec<u8>>; 2],
}

struct Session<'d, P: Profile> {
    stack: NetStack<'d, P, ReplayUart, VirtualClock, 2, 8192>,
    modem: Modem,
    slots: Vec<Slot>,
    next_slot: usize,
    seen: Seen,
    injected_count: u32,
}

impl<P: Profile> Session<'_, P> {
    fn urc_bytes(&mut self, urc: &Urc) -> Vec<u8> {
        let bg96 = self.modem.dialect == Dialect::Bg96;
        let line = |s: &str| format!("\r\n{s}\r\n").into_bytes();
        match urc {
            Urc::Registered => line("+CEREG: 1"),
            Urc::Roaming => line("+CEREG: 5"),
            Urc::Neutral if bg96 => line("+QIURC: \"incoming full\""),
            Urc::Neutral => line("#XAPOLL: 0,4"),
            Urc::Noise if bg96 => line("+QIND: \"csq\",20,99"),
            Urc::Noise => line("+CGEV: ME PDN ACT 0"),
            Urc::DatagramFor(s, d) => {
                self.injected_count += 1;
                let data = [&b"\xeeinj"[..], &self.injected_count.to_be_bytes(), d].concat();
                self.seen.injected[*s].push(data.clone());
                let handle = self.modem.handle_of(*s).expect("socket open") as u32;
                self.modem.datagram(handle, true, &data, &peer())
            }
        }
    }

    /// Feed an answer with the next interleaving slot's URC in it.
    fn feed_answer(&mut self, body: &[u8], fin: &[u8], interleave: bool) {
        let slot = if interleave {
            let s = self.slots.get(self.next_slot).cloned().flatten();
            self.next_slot += 1;
            s
        } else {
            None
        };
        let mut bytes = Vec::new();
        let (urc, pos) = match &slot {
            Some((u, p)) => (Some(self.urc_bytes(u)), p % 3),
            None => (None, 0),
        };
        let urc = urc.unwrap_or_default();
        if pos == 0 {
            bytes.extend_from_slice(&urc);
        }
        bytes.extend_from_slice(body);
        if pos == 1 {
            bytes.extend_from_slice(&urc);
        }
        bytes.extend_from_slice(fin);
        if pos == 2 {
            bytes.extend_from_slice(&urc);
        }
        self.stack.uart.feed(&bytes);
        self.stack.poll();
    }

    /// Answer everything the driver wrote (`interleave`: URCs go into the answers).
    fn pump(&mut self, interleave: bool) {
        for _ in 0..1000 {
            self.stack.poll();
            if let Some(wait) = self.modem.payload.clone() {
                if self.stack.uart.written().len() < wait.len {
                    return;
                }
                let payload = self.stack.uart.take_written(wait.len);
                self.seen.written.extend_from_slice(&payload);
                self.modem.payload = None;
                let ans = self.modem.payload_done(wait, payload);
                self.feed_answer(&ans.body, &ans.fin, interleave);
                continue;
            }
            let w = self.stack.uart.written();
            let Some(end) = w.iter().position(|&b| b == b'\r') else {
                return;
            };
            let line = self.stack.uart.take_written(end + 1);
            self.seen.written.extend_from_slice(&line);
            let ans = self
                .modem
                .answer(&line[..end])
                .expect("a healthy modem answers every command");
            self.feed_answer(&ans.body, &ans.fin, interleave);
        }
        panic!("the exchange does not settle");
    }

    fn drain(&mut self, s: usize, h: SocketHandle) {
        let mut buf = [0u8; 2048];
        loop {
            match self.stack.recv(h, &mut buf) {
                Ok(n) => self.seen.delivered[s].push(buf[..n].to_vec()),
                Err(Error::WouldBlock) => return,
                Err(e) => panic!("recv failed: {e:?}"),
            }
        }
    }
}

fn session<P: Profile>(profile: P, dialect: Dialect, ops: &[Op], slots: &[Slot]) -> Seen {
    let mut config = Config::new("").expect("APN");
    if dialect == Dialect::Nrf91 {
        config.context_id = 0;
    }
    config.poll_interval_ms = 0;
    let mut driver: Driver<P, 2, 8192> = Driver::new(profile, config);
    let mut s = Session {
        stack: NetStack::new(&mut driver, ReplayUart::new(None), VirtualClock::new()),
        modem: Modem::new(dialect),
        slots: slots.to_vec(),
        next_slot: 0,
        seen: Seen::default(),
        injected_count: 0,
    };
    s.modem.hosts.push("192.0.2.1".into());
    let h: Vec<SocketHandle> = (0..2)
        .map(|_| s.stack.create(AddressFamily::Unspecified).expect("create"))
        .collect();
    for (i, &sock) in h.iter().enumerate() {
        let port = slot_port(i, 0).to_string();
        let mut done = false;
        for _ in 0..100 {
            match s.stack.connect(sock, "192.0.2.1", &port) {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(Error::InProgress) => s.pump(false),
                Err(e) => panic!("connect failed: {e:?}"),
            }
        }
        assert!(done, "socket {i} did not connect");
    }
    // From here on the modem is registered and both sockets are open: a
    // registration URC means nothing new.
    s.seen.written.clear();
    for op in ops {
        match op {
            Op::Send(i, data) => {
                let mut r = s.stack.send(h[*i], data);
                for _ in 0..20 {
                    if r != Err(Error::InProgress) {
                        break;
                    }
                    s.pump(true);
                    r = s.stack.send(h[*i], data);
                }
                s.seen.sends.push(r);
            }
            Op::Push(i, data) => {
                let handle = s.modem.handle_of(*i).expect("socket open") as u32;
                let bytes = s.modem.datagram(handle, true, data, &peer());
                s.feed_answer(&bytes, b"", true);
                s.pump(true);
            }
            Op::Recv(i) => s.drain(*i, h[*i]),
        }
    }
    s.pump(true);
    for (i, &sock) in h.iter().enumerate() {
        s.drain(i, sock);
    }
    let st = s.stack.driver.stats();
    s.seen.unknown_lines = st.driver.unknown_lines;
    s.seen.stray_finals = st.engine.stray_finals;
    s.seen
}

fn check_interleaving<P: Profile>(
    profile: impl Fn() -> P,
    dialect: Dialect,
    ops: &[Op],
    slots: &[Slot],
) -> Result<(), TestCaseError> {
    let plain = session(profile(), dialect, ops, &[]);
    let mixed = session(profile(), dialect, ops, slots);
    prop_assert_eq!(&mixed.sends, &plain.sends, "send results");
    prop_assert_eq!(&mixed.written, &plain.written, "bytes written to the modem");
    prop_assert_eq!(mixed.unknown_lines, plain.unknown_lines, "unknown lines");
    prop_assert_eq!(mixed.stray_finals, plain.stray_finals, "stray finals");
    for s in 0..2 {
        let (injected, own): (Vec<Vec<u8>>, Vec<Vec<u8>>) = mixed.delivered[s]
            .iter()
            .cloned()
            .partition(|d| d.starts_with(b"\xeeinj"));
        prop_assert_eq!(&own, &plain.delivered[s], "socket {}: its own datagrams", s);
        prop_assert_eq!(
            &injected,
            &mixed.injected[s],
            "socket {}: exactly the datagrams addressed to it",
            s
        );
    }
    Ok(())
}

fn interleavings() -> impl Strategy<Value = (Vec<Op>, Vec<Slot>)> {
    (
        vec(op(), 1..12),
        vec(proptest::option::of((urc(), any::<u8>())), 0..40),
    )
}

#[test]
fn urcs_interleaved_change_only_what_they_mean_bg96() {
    runner(48)
        .run(&interleavings(), |(ops, slots)| {
            check_interleaving(Bg96::new, Dialect::Bg96, &ops, &slots)
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn urcs_interleaved_change_only_what_they_mean_nrf91() {
    runner(48)
        .run(&interleavings(), |(ops, slots)| {
            check_interleaving(Nrf91Slm::new, Dialect::Nrf91, &ops, &slots)
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
