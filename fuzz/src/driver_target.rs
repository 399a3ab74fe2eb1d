//! Targets `driver_bg96` and `driver_nrf91`: the whole driver, through `NetStack`,
//! running a program of API calls and modem behaviour decoded from the input
//! ([`Action`]), against the scripted modem of [`crate::modem`].
//!
//! Input: `[config, chunking, actions...]`. The modem answers every command the
//! driver writes, healthily unless a queued [`Fault`] says otherwise; datagrams,
//! URCs, junk lines and lying headers are fed now or inside the next answer, cut
//! into reads as the chunking says.
//!
//! Invariants (a failed one panics, which the fuzzer reports):
//! * nothing panics, every call returns, `poll_at` never says "now" to a driver
//!   that then has nothing to do;
//! * while the modem is honest (no `Raw` bytes, no lying header, no answer that a
//!   timed-out command may have taken for another's): every datagram a socket
//!   receives is exactly one the modem sent for the handle that socket opened, in
//!   order, at most once (so never another socket's); every payload the modem
//!   takes is one the application gave to `send` on that socket (or the filler of
//!   an aborted send); `send` reports `Ok(n)` only for a datagram the modem
//!   accepted; every command line is one the modem knows, with the host the
//!   application gave; a header over the limit is dropped and counted;
//! * always: every datagram received follows, in the modem's bytes, a header
//!   announcing exactly its length (for the socket's own connectID on the BG96);
//!   `bytes_received` is the sum of what `recv` returned, `dropped_too_large` the
//!   number of `MessageSize` answers, `bytes_sent` at least what `send` reported;
//!   every modem byte is read and every written byte counted; a handle answers
//!   `BadHandle` exactly when the application cleaned it up; bad hosts and ports
//!   are refused as the reference says; error codes are the modem's;
//! * at the end, with the modem healthy again: every socket can be cleaned up, a
//!   new one connects, sends, and receives a datagram (the driver resynchronised).

use cellsock::replay::{ReplayUart, Rng, VirtualClock};
use core::net::{IpAddr, SocketAddr};

use cellsock::{
    AddressFamily, Config, Driver, Error, NetStack, Profile, Reason, SocketHandle, Stats,
};

use crate::action::Action;
use crate::input::Reader;
use crate::modem::{dns, slot_local_port, slot_port, Answer, Fault, Modem, Note, Peer};
use crate::reference::{self, Dialect};

/// Sockets in the driver under test.
pub const N: usize = 3;
/// Receive ring per socket (small, so rings fill up).
pub const RX: usize = 2048;
const MTU: usize = 1460;
const RX_GAP_MS: u64 = 1000;

/// `CELLSOCK_FUZZ_TRACE=1`: print every action, modem byte and driver line (for
/// reading a crash input: `cargo run --bin replay -- <target> <file>`).
fn trace() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("CELLSOCK_FUZZ_TRACE").is_some())
}

type Stack<'d, P> = NetStack<'d, P, ReplayUart, VirtualClock, N, RX>;

/// Handles no socket of a 3-socket driver owns; 256 and up would alias small
/// handles if truncated to a byte.
const STRAYS: [u32; 10] = [3, 7, 11, 12, 99, 255, 256, 257, 300, 65_536];

/// Wait out busy loops that end by themselves (see `Harness::check_spin`). Two
/// known ones made this necessary while they were open (fixed in c012655); off, so
/// any busy loop fails.
const TOLERATE_BOUNDED_SPINS: bool = false;

/// Who datagrams to unconnected sockets come from.
const SENDERS: [(&str, u16); 3] = [
    ("192.0.2.7", 40000),
    ("2001:db8::5", 61000),
    ("198.51.100.1", 5683),
];

/// Where `SendTo` sends (the last one has port 0).
const DESTINATIONS: [&str; 4] = [
    "192.0.2.7:40000",
    "[2001:db8::5]:61000",
    "198.51.100.1:5683",
    "192.0.2.7:0",
];

/// The names `Resolve` asks for.
const NAMES: [&str; 7] = [
    "example.com",
    "v4only.example",
    "v6only.example",
    "nowhere.invalid",
    "192.0.2.99",
    "[2001:db8::1]",
    "bad,name",
];

/// The same address as the modem printed it?
fn same_peer(peer: &Option<Peer>, addr: &Option<SocketAddr>) -> bool {
    match (peer, addr) {
        (None, None) => true,
        (Some((ip, port)), Some(a)) => {
            ip.parse::<IpAddr>().ok() == Some(a.ip()) && *port == a.port()
        }
        _ => false,
    }
}

/// Junk the `Garbage` fault puts before an answer (none of it a final result or
/// a header).
const GARBAGE: [&[u8]; 4] = [
    b"\r\ngarbage\r\n",
    b"\r\n\x00\x00\xff\r\n",
    b"\r\n+QIND: \"csq\",20,99\r\n",
    b"\r\n+CGEV: ME PDN ACT 0\r\n",
];

#[derive(Default)]
struct Slot {
    alive: bool,
    handle: Option<SocketHandle>,
    /// Datagrams the modem sent this socket, with their senders (unconnected).
    expected: Vec<(Vec<u8>, Option<Peer>)>,
    cursor: usize,
    recv_sum: u64,
    too_large: u32,
    /// What the application gave to send / send_to on it.
    candidates: Vec<(Vec<u8>, Option<SocketAddr>)>,
    accepted: Vec<usize>,
    acc_cursor: usize,
    accepted_sum: u64,
    reported_sum: u64,
    /// The last send that answered "in progress", not repeated to its end yet.
    pending_send: Option<(Vec<u8>, Option<SocketAddr>)>,
}

impl Slot {
    fn born(&mut self, h: SocketHandle) {
        *self = Slot {
            alive: true,
            handle: Some(h),
            ..Slot::default()
        };
    }
}

/// A datagram expected at a slot, with its sender (unconnected sockets).
type Expect = (usize, Vec<u8>, Option<Peer>);

struct Harness<'d, P: Profile> {
    stack: Stack<'d, P>,
    clock: VirtualClock,
    modem: Modem,
    dialect: Dialect,
    slots: [Slot; N],
    known: Vec<SocketHandle>,
    /// Every modem byte fed, in order.
    stream: Vec<u8>,
    /// Bytes the driver wrote and the modem took.
    written: u64,
    /// The modem said something the strict checks cannot follow.
    tainted: bool,
    chunk_seed: u8,
    feeds: u64,
    seq: u16,
    before: Vec<u8>,
    mid: Vec<u8>,
    /// Datagrams in `before` and `mid`, the datagrams the answer being given reads
    /// out, and those of a late answer: expected once their bytes go out.
    before_expect: Vec<Expect>,
    mid_expect: Vec<Expect>,
    read_expect: Vec<Expect>,
    late_expect: Vec<Expect>,
    after: Vec<u8>,
    late: Vec<u8>,
    /// Commands the driver had written when the late answer was held back: if it
    /// has written another since, the late answer may end that one.
    late_commands: u32,
    cut_rest: Option<(Vec<u8>, bool)>,
    max_host: usize,
    max_recv: usize,
    hosts: Vec<String>,
}

fn result_ok<T>(r: &Result<T, Error>) -> bool {
    !matches!(r, Err(Error::Failed(Reason::BadHandle)))
}

impl<P: Profile> Harness<'_, P> {
    fn stats(&self) -> Stats {
        self.stack.driver.stats()
    }

    fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Feed modem bytes: `chunked` cut into reads as the chunking says, `atomic`
    /// in the same read as the last of them (so it is framed before the driver can
    /// start another command).
    fn feed(&mut self, chunked: &[u8], atomic: &[u8]) {
        if let Some((rest, _)) = self.cut_rest.as_mut() {
            // Half an answer is on the line: everything else comes after it.
            rest.extend_from_slice(chunked);
            rest.extend_from_slice(atomic);
            return;
        }
        if chunked.is_empty() && atomic.is_empty() {
            return;
        }
        self.stream.extend_from_slice(chunked);
        self.stream.extend_from_slice(atomic);
        if trace() {
            let all = [chunked, atomic].concat();
            eprintln!("  M: {}", cellsock::replay::escape(&all));
        }
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        if self.chunk_seed == 0 || chunked.is_empty() {
            chunks.push(chunked.to_vec());
        } else {
            self.feeds += 1;
            let mut rng = Rng::new(u64::from(self.chunk_seed) << 32 ^ self.feeds);
            let mut at = 0;
            while at < chunked.len() {
                let n = rng.range(1, chunked.len() - at);
                let n = if rng.range(0, 3) == 0 {
                    n
                } else {
                    n.min(rng.range(1, 8))
                };
                chunks.push(chunked[at..at + n].to_vec());
                at += n;
            }
        }
        if let Some(last) = chunks.last_mut() {
            last.extend_from_slice(atomic);
        }
        for c in chunks {
            self.stack.uart.feed(&c);
            self.stack.poll();
        }
    }

    /// Modem bytes that are not an answer: now, before the next answer, or inside
    /// it (before its final result).
    fn inject(&mut self, bytes: &[u8], when: u8) {
        match when % 3 {
            0 => self.feed(bytes, &[]),
            1 => self.before.extend_from_slice(bytes),
            _ => self.mid.extend_from_slice(bytes),
        }
    }

    /// Lines that could end a command (finals, prompts, junk): now when no command
    /// waits for an answer, else right after the next answer in the same read.
    fn inject_final(&mut self, bytes: &[u8], now: bool) {
        if now && !self.modem.silenced && self.cut_rest.is_none() {
            self.feed(bytes, &[]);
        } else {
            self.after.extend_from_slice(bytes);
        }
    }

    /// Send an answer on its way, decorated as the fault says.
    fn deliver(&mut self, ans: Answer, fault: Fault, line: &[u8]) {
        let mut body = std::mem::take(&mut self.before);
        match fault {
            Fault::Echo => {
                body.extend_from_slice(line);
                body.push(b'\r');
            }
            Fault::Garbage(g) => body.extend_from_slice(GARBAGE[g as usize % GARBAGE.len()]),
            _ => {}
        }
        body.extend_from_slice(&ans.body);
        body.extend_from_slice(&std::mem::take(&mut self.mid));
        let expect: Vec<Expect> = [
            std::mem::take(&mut self.before_expect),
            std::mem::take(&mut self.read_expect),
            std::mem::take(&mut self.mid_expect),
        ]
        .concat();
        if fault == Fault::Late {
            self.late_expect.extend(expect);
        } else {
            self.expect(expect);
        }
        body.extend_from_slice(&ans.fin);
        // A prompt is no complete answer: the exchange goes on with the payload, so
        // what waits for "after the next answer" waits for the one that ends it.
        let prompt = self.modem.payload.is_some();
        let mut after = if prompt {
            Vec::new()
        } else {
            std::mem::take(&mut self.after)
        };
        if fault == Fault::Double && !prompt {
            after.extend_from_slice(b"\r\nOK\r\n");
        }
        match fault {
            Fault::Late => {
                if self.late.is_empty() {
                    self.late_commands = self.stats().engine.commands;
                }
                self.late.extend_from_slice(&body);
                self.late.extend_from_slice(&after);
                self.modem.silenced = true;
            }
            Fault::Cut(at) if self.cut_rest.is_none() && !body.is_empty() => {
                let at = (at as usize * body.len() / 256).clamp(1, body.len());
                self.feed(&body[..at], &[]);
                let mut rest = body[at..].to_vec();
                rest.extend_from_slice(&after);
                self.cut_rest = Some((rest, ans.has_payload));
            }
            // With something that must not be cut off from it, the whole final
            // line goes in one read (a line already ends at its CR).
            _ if !after.is_empty() => {
                let cut = body.len() - ans.fin.len();
                after.splice(0..0, body[cut..].iter().copied());
                self.feed(&body[..cut], &after);
            }
            _ => self.feed(&body, &[]),
        }
    }

    /// Take what the driver wrote and answer one command (or payload); false when
    /// nothing complete is waiting.
    fn respond(&mut self) -> bool {
        if let Some(wait) = self.modem.payload.clone() {
            if self.stack.uart.written().len() < wait.len {
                return false;
            }
            let payload = self.stack.uart.take_written(wait.len);
            if trace() {
                eprintln!("  H: {} (payload)", cellsock::replay::escape(&payload));
            }
            self.written += wait.len as u64;
            self.modem.payload = None;
            let ans = self.modem.payload_done(wait, payload);
            self.notes();
            self.deliver(ans, Fault::None, b"");
            return true;
        }
        let w = self.stack.uart.written();
        // NUL filler of an aborted BG96 send, the nRF91's `+++` and CRs.
        let skip = w
            .iter()
            .take_while(|&&b| matches!(b, 0 | b'\r' | b'\n'))
            .count();
        if skip > 0 {
            self.stack.uart.take_written(skip);
            self.written += skip as u64;
            return true;
        }
        let Some(end) = w.iter().position(|&b| b == b'\r') else {
            return false;
        };
        let mut line = self.stack.uart.take_written(end + 1);
        self.written += line.len() as u64;
        line.pop();
        if trace() {
            eprintln!(
                "  H: {}  [{:?}]",
                cellsock::replay::escape(&line),
                self.modem.faults.front()
            );
        }
        if !line.is_empty() && line.iter().all(|&b| b == b'+') {
            // The nRF91 send abort (`+++`), or what is left of it after a modem
            // that took its first bytes as the payload.
            return true;
        }
        let fault = self.modem.faults.front().copied().unwrap_or(Fault::None);
        let ans = self.modem.answer(&line);
        self.notes();
        match ans {
            Some(ans) => self.deliver(ans, fault, &line),
            None => {
                let reads = std::mem::take(&mut self.read_expect);
                self.expect(reads);
            }
        }
        true
    }

    fn expect(&mut self, list: Vec<Expect>) {
        for (slot, d, from) in list {
            self.slots[slot].expected.push((d, from));
        }
    }

    /// Apply what the modem noticed.
    fn notes(&mut self) {
        for note in std::mem::take(&mut self.modem.notes) {
            match note {
                Note::Read(slot, d, from) => self.read_expect.push((slot, d, from)),
                Note::Payload(owner, bytes, accepted, to) => {
                    let Some(slot) = owner else { continue };
                    let s = &mut self.slots[slot];
                    let given = s
                        .candidates
                        .iter()
                        .any(|(d, dest)| *d == bytes && same_peer(&to, dest));
                    if given {
                        if accepted {
                            s.accepted.push(bytes.len());
                            s.accepted_sum += bytes.len() as u64;
                        }
                    } else if !is_filler(self.dialect, &bytes) && !self.tainted {
                        panic!(
                            "the modem received on socket {slot}'s handle a payload the \
                             application never sent on it (or not to {to:?}): {:?}",
                            String::from_utf8_lossy(&bytes)
                        );
                    }
                }
                Note::Unknown(line) if !self.tainted => panic!(
                    "the driver wrote a line the modem does not know: {:?}",
                    String::from_utf8_lossy(&line)
                ),
                Note::BadHost(host) if !self.tainted => panic!(
                    "an open names a host the application never gave: {:?}",
                    String::from_utf8_lossy(&host)
                ),
                Note::Unknown(_) | Note::BadHost(_) => {}
            }
        }
    }

    /// Answer everything the driver wrote, until it writes nothing more.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            self.stack.poll();
            if !self.respond() {
                break;
            }
        }
        self.check_spin();
    }

    /// `poll_at` must not say "now" to a driver that then does nothing.
    /// `poll_at` must not say "now" to a driver that then does nothing.
    ///
    /// With [`TOLERATE_BOUNDED_SPINS`] set (for a known busy loop that ends by
    /// itself, until it is fixed), a spin is waited out in 100 ms steps and only
    /// one that lasts 300 s of virtual time fails.
    fn check_spin(&mut self) {
        if self.spin_ended() {
            return;
        }
        if !TOLERATE_BOUNDED_SPINS {
            panic!(
                "poll_at keeps answering now ({} ms) but polling does nothing\n{}",
                self.now(),
                self.describe()
            );
        }
        let start = self.now();
        while self.now() - start < 300_000 {
            self.clock.advance(100);
            if self.spin_ended() {
                return;
            }
        }
        panic!("poll_at has answered now since {start} ms (300 s) and polling does nothing");
    }

    /// What the driver shows from outside, for failure messages.
    fn describe(&self) -> String {
        let d = &*self.stack.driver;
        let socks: Vec<String> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let h = s.handle?;
                Some(format!(
                    "s{i} alive={} state={:?} local_port={:?}",
                    s.alive,
                    d.state(h),
                    d.local_port(h)
                ))
            })
            .collect();
        format!(
            "network: {:?}\nsockets: {socks:?}\nstats: {:?}\npoll_at: {:?}",
            d.network(),
            d.stats(),
            d.poll_at()
        )
    }

    /// True when `poll_at` names a later time, or a poll made progress.
    fn spin_ended(&mut self) -> bool {
        for _ in 0..4 {
            let now = self.now();
            match self.stack.driver.poll_at() {
                Some(t) if t.as_millis() <= now => {}
                _ => return true,
            }
            self.stack.poll();
            let mut progressed = false;
            while self.respond() {
                progressed = true;
                self.stack.poll();
            }
            if progressed {
                return true;
            }
        }
        false
    }

    /// Let `ms` pass; what the modem held back comes now.
    fn advance(&mut self, ms: u64) {
        let timeouts = self.stats().engine.timeouts;
        self.clock.advance(ms);
        self.stack.poll();
        let timed_out = self.stats().engine.timeouts > timeouts;
        if let Some((rest, payload)) = self.cut_rest.take() {
            if timed_out || (payload && ms >= RX_GAP_MS) {
                // The rest may answer a later command, or (after a stale flush) a
                // payload's bytes may be read as lines.
                self.tainted = true;
            }
            self.modem.silenced = false;
            // In one read: a final result in it must not be left for the next
            // command to take.
            self.feed(&[], &rest);
        }
        if !self.late.is_empty() {
            // Out of step: the driver gave up on the command (timed out) or moved
            // on to another (a stray final answered it), so the late answer may
            // end whichever command is in flight now (no driver can tell).
            if timed_out || self.stats().engine.commands != self.late_commands {
                self.tainted = true;
            }
            self.modem.silenced = false;
            let late = std::mem::take(&mut self.late);
            let expect = std::mem::take(&mut self.late_expect);
            self.expect(expect);
            self.feed(&[], &late);
        }
        self.pump();
    }

    /// Answer, then let time pass to the driver's next deadline (at most 1 s).
    fn settle(&mut self) {
        self.pump();
        let now = self.now();
        // To the next deadline; a poll_at that says "now" (known busy loops, see
        // check_spin) moves the clock by 100 ms.
        let wait = match self.stack.driver.poll_at() {
            Some(t) if t.as_millis() > now => (t.as_millis() - now).min(1000),
            Some(_) => 100,
            None => 1000,
        };
        self.advance(wait);
    }

    fn sock(&self, s: u8) -> Option<(usize, SocketHandle)> {
        let h = *self.known.get(s as usize % self.known.len().max(1))?;
        Some((h.index(), h))
    }

    /// Checks every call on a handle shares.
    fn common<T: std::fmt::Debug>(&self, slot: usize, what: &str, r: &Result<T, Error>) {
        let alive = self.slots[slot].alive;
        assert_eq!(
            result_ok(r),
            alive,
            "{what} on socket {slot} (alive: {alive}) answered {r:?}"
        );
        if let (false, Err(Error::Failed(Reason::ModemError(n) | Reason::OpenFailed(n)))) =
            (self.tainted, r)
        {
            assert!(
                *n == 0 || self.modem.codes.contains(&u32::from(*n)),
                "{what}: error code {n} is not one the modem sent ({:?})",
                self.modem.codes
            );
        }
    }

    fn delivered(&mut self, slot: usize, d: &[u8], from: Option<SocketAddr>) {
        if !self.tainted {
            let s = &mut self.slots[slot];
            let found = (s.cursor..s.expected.len())
                .find(|&k| s.expected[k].0 == d && same_peer(&s.expected[k].1, &from));
            match found {
                Some(k) => s.cursor = k + 1,
                None => panic!(
                    "socket {slot} received a datagram the modem never sent it (or twice, \
                     or out of order, or from another sender than {from:?}): {} bytes {:?}\n\
                     expected (from {}): {:?}",
                    d.len(),
                    String::from_utf8_lossy(&d[..d.len().min(48)]),
                    s.cursor,
                    s.expected
                        .iter()
                        .map(|(d, f)| (d.len(), d.get(..4).map(<[u8]>::to_vec), f.clone()))
                        .collect::<Vec<_>>()
                ),
            }
        }
        let bg96 = self.dialect == Dialect::Bg96;
        let framed = reference::framed_in(self.dialect, &self.stream, d, |h| {
            !bg96 || h.is_none_or(|h| h == slot as u32)
        });
        let bare_read = self.dialect == Dialect::Nrf91 && d.is_empty();
        assert!(
            framed || bare_read,
            "socket {slot} received a datagram no header in the modem's bytes framed: {:?}",
            String::from_utf8_lossy(d)
        );
        self.slots[slot].recv_sum += d.len() as u64;
    }

    fn send(&mut self, sock: u8, data: &[u8], to: Option<SocketAddr>, repeat: bool) {
        let Some((slot, h)) = self.sock(sock) else {
            return;
        };
        for _ in 0..if repeat { 30 } else { 1 } {
            let r = match to {
                Some(to) => self.stack.send_to(h, to, data),
                None => self.stack.send(h, data),
            };
            if to.is_some_and(|a| a.port() == 0) {
                assert_eq!(r, Err(Error::Failed(Reason::InvalidPort)), "send_to port 0");
                return;
            }
            self.common(slot, "send", &r);
            match r {
                Ok(n) => {
                    assert!(n > 0 && n <= MTU, "send reported Ok({n})");
                    let s = &mut self.slots[slot];
                    if !self.tainted {
                        match (s.acc_cursor..s.accepted.len()).find(|&k| s.accepted[k] == n) {
                            Some(k) => s.acc_cursor = k + 1,
                            None => panic!(
                                "send on socket {slot} reported Ok({n}) but the modem accepted no such datagram"
                            ),
                        }
                    }
                    s.reported_sum += n as u64;
                }
                Err(Error::MessageSize) => {
                    assert!(data.len() > MTU, "MessageSize for {}", data.len())
                }
                Err(Error::NotSupported) => assert!(data.is_empty(), "NotSupported for a datagram"),
                Err(Error::InProgress) => {
                    assert!(
                        !data.is_empty() && data.len() <= MTU,
                        "a datagram of {} bytes was queued",
                        data.len()
                    );
                    self.slots[slot].candidates.push((data.to_vec(), to));
                    self.slots[slot].pending_send = Some((data.to_vec(), to));
                }
                Err(Error::WouldBlock) => panic!("send answered WouldBlock"),
                Err(Error::Failed(_)) => {}
            }
            if r != Err(Error::InProgress) {
                self.slots[slot].pending_send = None;
                break;
            }
            self.settle();
        }
    }

    fn repeat_call(&mut self, sock: u8, repeat: bool, what: &str) {
        let Some((slot, h)) = self.sock(sock) else {
            return;
        };
        for _ in 0..if repeat { 60 } else { 1 } {
            let r = match what {
                "close" => self.stack.close(h),
                _ => self.stack.cleanup(h),
            };
            // Closing drops a queued send.
            self.slots[slot].pending_send = None;
            self.common(slot, what, &r);
            match r {
                Ok(()) if what == "cleanup" => self.slots[slot].alive = false,
                Ok(()) | Err(Error::InProgress) | Err(Error::Failed(Reason::BadHandle)) => {}
                Err(e) => panic!("{what} answered {e:?}"),
            }
            if r != Err(Error::InProgress) {
                break;
            }
            self.settle();
        }
    }

    fn handle_for(&self, target: u8) -> u32 {
        if target & 0x80 != 0 {
            STRAYS[target as usize % STRAYS.len()]
        } else {
            match self.dialect {
                Dialect::Bg96 => u32::from(target % 4),
                Dialect::Nrf91 => u32::from(target % 8),
            }
        }
    }

    fn datagram(&mut self, target: u8, form: u8, when: u8, mut data: Vec<u8>) {
        data.truncate(self.max_recv);
        let pushed = form & 1 == 0;
        if data.len() >= 4 {
            self.seq = self.seq.wrapping_add(1);
            let [a, b] = self.seq.to_be_bytes();
            data[..4].copy_from_slice(&[0xF5, a, b, 0x5F]);
        }
        let handle = self.handle_for(target);
        if self.dialect == Dialect::Nrf91 && handle > 255 && pushed {
            // The nRF91 profile reads no header for a handle that is no byte, so
            // the bytes after it are framed as lines (docs/reliability.md).
            self.tainted = true;
        }
        let (ip, port) = SENDERS[(form >> 1) as usize % SENDERS.len()];
        let from: Peer = (ip.to_string(), port);
        let unconnected = self.modem.is_unconnected(handle);
        if trace() {
            eprintln!(
                "  handle {handle}: {:?}",
                self.modem.handles.get(handle as usize)
            );
        }
        let bytes = self.modem.datagram(handle, pushed, &data, &from);
        let visible = !(self.dialect == Dialect::Nrf91 && data.is_empty());
        if pushed && visible {
            if let Some(slot) = self.modem.expect_owner(handle) {
                // Expected in the order the bytes reach the driver: now, or with
                // the next answer (before it, or after the data it reads out).
                let e = (slot, data, unconnected.then_some(from));
                match when % 3 {
                    0 => self.slots[e.0].expected.push((e.1, e.2)),
                    1 => self.before_expect.push(e),
                    _ => self.mid_expect.push(e),
                }
            }
        }
        self.inject(&bytes, when);
    }

    fn urc(&mut self, kind: u8, arg: u8, when: u8) {
        let bg96 = self.dialect == Dialect::Bg96;
        let line = |s: String| format!("\r\n{s}\r\n").into_bytes();
        match kind % 10 {
            0 => {
                let stat = arg % 6;
                self.modem.reg = stat;
                let text = if !bg96 && arg & 0x80 != 0 {
                    format!("+CEREG: {stat},\"0140\",\"000AEB3A\",7")
                } else {
                    format!("+CEREG: {stat}")
                };
                self.inject(&line(text), when);
            }
            1 => {
                let h = arg as usize % 16;
                self.modem.closed(h);
                let text = if bg96 {
                    format!("+QIURC: \"closed\",{h}")
                } else {
                    format!("#XAPOLL: {h},16")
                };
                self.feed(&line(text), &[]);
            }
            2 => {
                self.modem.pdp_lost();
                let text = match (bg96, arg & 1) {
                    (true, _) => "+QIURC: \"pdpdeact\",1",
                    (false, 0) => "+CGEV: NW PDN DEACT 0",
                    (false, _) => "+CGEV: ME PDN DEACT 0",
                };
                self.feed(&line(text.into()), &[]);
            }
            3 => {
                let text = if bg96 {
                    "+QIURC: \"pdpdeact\",2"
                } else {
                    "+CGEV: NW PDN DEACT 3"
                };
                self.inject(&line(text.into()), when);
            }
            4 => {
                let text = if bg96 {
                    "+QIURC: \"incoming full\"".to_string()
                } else {
                    format!("#XAPOLL: {},4", arg % 8)
                };
                self.inject(&line(text), when);
            }
            5 => {
                self.modem.reboot();
                let text: &[u8] = match (bg96, arg & 1) {
                    (true, 0) => b"\r\nRDY\r\n",
                    (true, _) => b"\r\nRDY\r\n\r\nAPP RDY\r\n",
                    (false, _) => b"\r\nReady\r\n",
                };
                self.feed(text, &[]);
            }
            6 => {
                const FINALS: [&str; 6] = [
                    "OK",
                    "ERROR",
                    "SEND OK",
                    "SEND FAIL",
                    "+CME ERROR: 4",
                    "#XDATAMODE: 0",
                ];
                let text = FINALS[arg as usize % FINALS.len()];
                if let Some(code) = text.strip_prefix("+CME ERROR: ") {
                    // A stray final may answer the command in flight: its code is
                    // one the modem sent.
                    self.modem.codes.push(code.parse().expect("a number"));
                }
                self.inject_final(&line(text.into()), when.is_multiple_of(2));
            }
            7 => self.inject_final(b"\r\n> ", when.is_multiple_of(2)),
            8 => {
                let h = self.handle_for(arg);
                let text = if bg96 {
                    format!("+QIURC: \"recv\",{h}")
                } else {
                    format!("#XAPOLL: {h},1")
                };
                self.inject(&line(text), when);
            }
            _ => {
                const BG96: [&str; 3] = ["+QIND: \"csq\",20,99", "+CPIN: READY", "+QUSIM: 1"];
                const NRF91: [&str; 3] = [
                    "+CGEV: ME PDN ACT 0",
                    "+CESQ: 99,99,255,255,20,52",
                    "#XAPOLL: 0,4",
                ];
                let list = if bg96 { BG96 } else { NRF91 };
                let text = list[arg as usize % list.len()];
                self.inject(&line(text.into()), when);
            }
        }
    }

    fn junk(&mut self, when: u8, data: &[u8]) {
        let mut junk: Vec<u8> = data
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        let lead = junk
            .iter()
            .position(|&b| !b.is_ascii_whitespace())
            .unwrap_or(junk.len());
        let core = trim(&junk[lead..]);
        let ctx = cellsock::profile::Context::default();
        let is_header = reference::header(self.dialect, core).is_some()
            || self
                .stack
                .driver
                .profile()
                .payload_length(core, &ctx)
                .is_some();
        if core.is_empty() {
            return;
        }
        // A restart (a boot banner, or echo coming back) is the Urc action's job:
        // the modem must restart with it.
        let restart = matches!(
            self.stack
                .driver
                .profile()
                .classify(cellsock::framer::Frame::Line(core), &ctx),
            cellsock::profile::Event::Urc(
                cellsock::profile::Urc::Boot | cellsock::profile::Urc::PoweredDown
            )
        ) || core.get(..2).is_some_and(|p| p.eq_ignore_ascii_case(b"AT"));
        if core[0] == b'>' || is_header || restart {
            junk.insert(0, b'X');
        }
        let mut bytes = b"\r\n".to_vec();
        bytes.extend_from_slice(&junk);
        bytes.extend_from_slice(b"\r\n");
        self.inject_final(&bytes, when.is_multiple_of(2));
    }

    fn lie(&mut self, target: u8, kind: u8, len: u16, data: &[u8]) {
        let handle = self.handle_for(target);
        let header = |n: usize| -> Vec<u8> {
            match self.dialect {
                Dialect::Bg96 => format!("\r\n+QIURC: \"recv\",{handle},{n}\r\n"),
                Dialect::Nrf91 => format!("\r\n#XRECV: {handle},0,{n}\r\n"),
            }
            .into_bytes()
        };
        match kind % 3 {
            0 => {
                let claimed = self.max_recv + 1 + len as usize;
                let before = self.stats().framer.bad_lengths;
                let now = self.cut_rest.is_none();
                let bytes = header(claimed);
                // (A header whose handle is no byte is no header at all for the
                // nRF91 profile: an unknown line, nothing to count.)
                let ctx = cellsock::profile::Context::default();
                let is_header = self
                    .stack
                    .driver
                    .profile()
                    .payload_length(trim(&bytes), &ctx)
                    .is_some();
                self.feed(&bytes, &[]);
                if now && !self.tainted {
                    assert_eq!(
                        self.stats().framer.bad_lengths,
                        before + u32::from(is_header),
                        "a header announcing {claimed} bytes was not dropped and counted"
                    );
                }
            }
            k => {
                let claimed = if k == 1 {
                    len as usize % (data.len() + 1)
                } else {
                    data.len() + 1 + len as usize % 64
                };
                let mut bytes = header(claimed.min(self.max_recv));
                bytes.extend_from_slice(data);
                bytes.extend_from_slice(b"\r\n");
                self.tainted = true;
                self.feed(&bytes, &[]);
            }
        }
    }

    fn query(&mut self, sock: u8, what: u8) {
        let Some((slot, h)) = self.sock(sock) else {
            return;
        };
        let alive = self.slots[slot].alive;
        let (reported, accepted, recv_sum, too_large) = {
            let s = &self.slots[slot];
            (s.reported_sum, s.accepted_sum, s.recv_sum, s.too_large)
        };
        let d = &mut *self.stack.driver;
        match what % 9 {
            0 => {
                let r = d.state(h);
                self.common(slot, "state", &r);
            }
            1 => {
                let r = d.inner_mtu(h);
                self.common(slot, "mtu", &r);
                if alive {
                    assert_eq!(r, Ok(MTU));
                }
            }
            2 => {
                let r = d.bytes_sent(h);
                self.common(slot, "bytes_sent", &r);
                if let Ok(v) = r {
                    assert!(v >= reported, "bytes_sent {v} < reported {reported}");
                    assert!(
                        self.tainted || v <= accepted,
                        "bytes_sent {v} > accepted by the modem {accepted}"
                    );
                }
            }
            3 => {
                let r = d.bytes_received(h);
                self.common(slot, "bytes_received", &r);
                if let Ok(v) = r {
                    assert_eq!(
                        v, recv_sum,
                        "bytes_received against the datagrams recv gave"
                    );
                }
            }
            4 => {
                let r = d.socket_stats(h);
                self.common(slot, "socket_stats", &r);
                if let Ok(st) = r {
                    assert_eq!(st.bytes_received, recv_sum);
                    assert_eq!(st.dropped_too_large, too_large);
                }
            }
            5 => {
                let r = d.local_port(h);
                self.common(slot, "local_port", &r);
            }
            6 => {
                let can_bind = d.profile().can_bind_local_port();
                let r = d.reuse_last_port(h);
                self.common(slot, "reuse_last_port", &r);
                if alive && !can_bind {
                    assert_eq!(r, Err(Error::NotSupported));
                }
            }
            7 => {
                let r = d.queue_mode_rx_off(h);
                self.common(slot, "rx_off", &r);
                if alive {
                    assert_eq!(r, Ok(()));
                }
            }
            _ => {
                let r = d.system_socket(h);
                self.common(slot, "system_socket", &r);
                if alive {
                    assert_eq!(r, Ok(None));
                }
            }
        }
    }

    fn resolve(&mut self, name: u8, family: u8, repeat: bool) {
        let name = NAMES[name as usize % NAMES.len()];
        let fam = [
            AddressFamily::Unspecified,
            AddressFamily::Ipv4,
            AddressFamily::Ipv6,
        ][family as usize % 3];
        let fits = |ip: &IpAddr| match fam {
            AddressFamily::Unspecified => true,
            AddressFamily::Ipv4 => ip.is_ipv4(),
            AddressFamily::Ipv6 => ip.is_ipv6(),
        };
        let literal: Option<IpAddr> = name.trim_matches(['[', ']']).parse().ok();
        for _ in 0..if repeat { 120 } else { 1 } {
            let r = self.stack.resolve(name, fam);
            match r {
                Ok(ip) => {
                    if let Some(lit) = literal {
                        assert_eq!(ip, lit, "resolve {name}");
                    } else if !self.tainted {
                        let known = dns(name.as_bytes())
                            .iter()
                            .any(|a| a.parse::<IpAddr>().ok() == Some(ip));
                        assert!(known && fits(&ip), "resolve {name} {fam:?} gave {ip}");
                    }
                    assert!(fits(&ip), "resolve {name} {fam:?} gave {ip}");
                }
                Err(Error::Failed(Reason::InvalidHost)) => assert_eq!(name, "bad,name"),
                Err(Error::NotSupported) => panic!("resolve answered NotSupported"),
                Err(Error::MessageSize) => panic!("resolve answered MessageSize"),
                Err(_) => {}
            }
            if name == "bad,name" {
                assert_eq!(r, Err(Error::Failed(Reason::InvalidHost)));
            }
            if let Some(lit) = literal {
                let want = if fits(&lit) {
                    Ok(lit)
                } else {
                    Err(Error::Failed(Reason::DnsFailed))
                };
                assert_eq!(
                    r, want,
                    "resolve {name} {fam:?}: a literal is answered at once"
                );
            }
            if r != Err(Error::InProgress) {
                break;
            }
            self.settle();
        }
    }

    fn act(&mut self, action: Action) {
        if trace() {
            let mut a = format!("{action:?}");
            a.truncate(300);
            eprintln!("{} ms: {a}", self.now());
        }
        match action {
            Action::Create { family } => {
                let fam = [
                    AddressFamily::Unspecified,
                    AddressFamily::Ipv4,
                    AddressFamily::Ipv6,
                ][family as usize % 3];
                let alive = self.slots.iter().filter(|s| s.alive).count();
                let r = self.stack.create(fam);
                if trace() {
                    eprintln!("  => {:?}", r.map(|h| h.index()));
                }
                match r {
                    Ok(h) => {
                        let slot = h.index();
                        assert!(
                            slot < N && !self.slots[slot].alive,
                            "create gave a live slot"
                        );
                        self.slots[slot].born(h);
                        if !self.known.contains(&h) {
                            self.known.push(h);
                        }
                    }
                    Err(Error::Failed(Reason::NoFreeSocket)) => {
                        assert_eq!(alive, N, "NoFreeSocket with a free slot")
                    }
                    Err(Error::NotSupported) => assert_eq!(fam, AddressFamily::Ipv6),
                    Err(e) => panic!("create answered {e:?}"),
                }
            }
            Action::Connect {
                sock,
                host,
                port,
                repeat,
            } => {
                let Some((slot, h)) = self.sock(sock) else {
                    return;
                };
                let host = self.hosts[host as usize % self.hosts.len()].clone();
                if let Some(inner) = reference::host(&host, self.max_host) {
                    if !self.modem.hosts.iter().any(|k| k == inner) {
                        self.modem.hosts.push(inner.to_string());
                    }
                }
                let port = slot_port(slot, port).to_string();
                for _ in 0..if repeat { 60 } else { 1 } {
                    let r = self.stack.connect(h, &host, &port);
                    self.common(slot, "connect", &r);
                    assert!(
                        !matches!(
                            r,
                            Err(Error::Failed(Reason::InvalidHost | Reason::InvalidPort))
                        ),
                        "connect refused {host:?} {port:?}: {r:?}"
                    );
                    if r != Err(Error::InProgress) {
                        break;
                    }
                    self.settle();
                }
            }
            Action::ConnectBad { sock, host, port } => {
                let Some((slot, h)) = self.sock(sock) else {
                    return;
                };
                let host = String::from_utf8_lossy(&host).into_owned();
                let port = String::from_utf8_lossy(&port).into_owned();
                let max = self.max_host;
                let want_host = reference::host(&host, max);
                let want_port = reference::port(&port);
                assert_eq!(
                    cellsock::validate_host(&host, max).ok(),
                    want_host,
                    "{host:?}"
                );
                assert_eq!(cellsock::parse_port(&port).ok(), want_port, "{port:?}");
                if want_host.is_some() && want_port.is_some() {
                    return;
                }
                let state = self.stack.driver.state(h);
                let r = self.stack.driver.connect(h, &host, &port);
                let want = if !self.slots[slot].alive {
                    Reason::BadHandle
                } else if want_host.is_none() {
                    Reason::InvalidHost
                } else {
                    Reason::InvalidPort
                };
                assert_eq!(r, Err(Error::Failed(want)), "connect {host:?} {port:?}");
                assert_eq!(
                    self.stack.driver.state(h),
                    state,
                    "a refused connect changed state"
                );
            }
            Action::Send { sock, data, repeat } => self.send(sock, &data, None, repeat),
            Action::SendSized {
                sock,
                len,
                fill,
                repeat,
            } => {
                let data = vec![fill; len as usize % 1600];
                self.send(sock, &data, None, repeat);
            }
            Action::Recv { sock, buf } => {
                let Some((slot, h)) = self.sock(sock) else {
                    return;
                };
                const SIZES: [usize; 10] = [0, 1, 4, 16, 64, 512, 1460, 1500, 2048, 4096];
                let mut b = vec![0u8; SIZES[buf as usize % SIZES.len()]];
                let r = self.stack.recv_from(h, &mut b);
                if trace() {
                    eprintln!("  => s{slot} {r:?}");
                }
                self.common(slot, "recv", &r);
                match r {
                    Ok((n, from)) => self.delivered(slot, &b[..n], from),
                    Err(Error::MessageSize) => self.slots[slot].too_large += 1,
                    Err(Error::WouldBlock) | Err(Error::Failed(_)) => {}
                    Err(e) => panic!("recv answered {e:?}"),
                }
            }
            Action::Shutdown { sock } => {
                let Some((slot, h)) = self.sock(sock) else {
                    return;
                };
                if let Some((data, to)) = self.slots[slot].pending_send.clone() {
                    // Known driver bug (tests/fuzz_regressions.rs,
                    // shutdown_with_a_queued_send_frees_the_send_buffer): a send
                    // queued before shutdown keeps the send buffer for good. The
                    // application finishes its send first until it is fixed.
                    self.send(sock, &data, to, true);
                    if self.slots[slot].pending_send.is_some() {
                        return;
                    }
                }
                let r = self.stack.shutdown(h);
                self.common(slot, "shutdown", &r);
            }
            Action::Close { sock, repeat } => self.repeat_call(sock, repeat, "close"),
            Action::Cleanup { sock, repeat } => self.repeat_call(sock, repeat, "cleanup"),
            Action::Query { sock, what } => self.query(sock, what),
            Action::Event => {
                let _ = self.stack.driver.next_event();
            }
            Action::Datagram {
                target,
                form,
                when,
                data,
            } => self.datagram(target, form, when, data),
            Action::DatagramSized {
                target,
                form,
                when,
                len,
                fill,
            } => self.datagram(target, form, when, vec![fill; len as usize % 2100]),
            Action::Urc { kind, arg, when } => self.urc(kind, arg, when),
            Action::Junk { when, data } => self.junk(when, &data),
            Action::Raw { data } => {
                self.tainted = true;
                self.feed(&data, &[]);
            }
            Action::Lie {
                target,
                kind,
                len,
                data,
            } => self.lie(target, kind, len, &data),
            Action::Fault { kind, arg } => {
                if self.modem.faults.len() < 8 {
                    self.modem.faults.push_back(Fault::from(kind, arg));
                }
            }
            Action::Advance { kind } => {
                const MS: [u64; 12] = [
                    1, 50, 299, 301, 999, 1000, 1001, 5_000, 30_000, 60_000, 150_001, 240_001,
                ];
                let ms = match MS.get(kind as usize % (MS.len() + 1)) {
                    Some(&ms) => ms,
                    None => {
                        let now = self.now();
                        match self.stack.driver.poll_at() {
                            Some(t) if t.as_millis() > now => t.as_millis() - now,
                            Some(_) => 100,
                            None => 1000,
                        }
                    }
                };
                self.advance(ms);
            }
            Action::Chunking { seed } => self.chunk_seed = seed,
            Action::Poll => self.stack.poll(),
            Action::Bind { sock, port, repeat } => {
                let Some((slot, h)) = self.sock(sock) else {
                    return;
                };
                let local = slot_local_port(slot, port);
                for _ in 0..if repeat { 60 } else { 1 } {
                    let r = self.stack.bind(h, local);
                    self.common(slot, "bind", &r);
                    assert!(
                        !matches!(
                            r,
                            Err(Error::NotSupported
                                | Error::Failed(Reason::InvalidHost | Reason::InvalidPort))
                        ),
                        "bind {local}: {r:?}"
                    );
                    if r != Err(Error::InProgress) {
                        break;
                    }
                    self.settle();
                }
            }
            Action::SendTo {
                sock,
                to,
                data,
                repeat,
            } => {
                let to: SocketAddr = DESTINATIONS[to as usize % DESTINATIONS.len()]
                    .parse()
                    .expect("a socket address");
                self.send(sock, &data, Some(to), repeat);
            }
            Action::Resolve {
                name,
                family,
                repeat,
            } => self.resolve(name, family, repeat),
        }
        self.pump();
    }

    /// Everything held back goes out; the modem is healthy from now on; every
    /// socket is cleaned up; a new one must connect, send and receive.
    fn finish(&mut self) {
        if trace() {
            eprintln!("{} ms: finish", self.now());
        }
        let pending = [
            std::mem::take(&mut self.before),
            std::mem::take(&mut self.mid),
            std::mem::take(&mut self.after),
        ]
        .concat();
        let expect: Vec<Expect> = [
            std::mem::take(&mut self.before_expect),
            std::mem::take(&mut self.mid_expect),
        ]
        .concat();
        self.expect(expect);
        if (self.modem.silenced || self.modem.payload.is_some()) && !pending.is_empty() {
            // Stray finals or prompts held for the next answer now reach a command
            // still waiting for its own (or a send whose prompt the driver never
            // saw): they answer it, and the modem said so, so it is not waiting
            // for a payload any more.
            self.tainted = true;
            self.modem.payload = None;
        }
        self.feed(&pending, &[]);
        self.modem.faults.clear();
        self.advance(2 * RX_GAP_MS);
        let st = self.stats();
        assert_eq!(self.stack.uart.pending_rx(), 0, "modem bytes left unread");
        assert_eq!(st.driver.rx_bytes, self.stream.len() as u64, "rx_bytes");
        assert_eq!(
            st.driver.tx_bytes,
            self.written + self.stack.uart.written().len() as u64,
            "tx_bytes"
        );

        // Healthy again. After a lie the modem may still count payload bytes the
        // driver will never write (a prompt it never saw): a healthy modem does not.
        if self.tainted {
            self.modem.payload = None;
        }
        self.modem.reg = 1;
        self.feed(b"\r\n+CEREG: 1\r\n", &[]);
        self.pump();
        for slot in 0..N {
            if !self.slots[slot].alive {
                continue;
            }
            let h = self.slots[slot].handle.expect("a live slot has a handle");
            for _ in 0..300 {
                match self.stack.cleanup(h) {
                    Ok(()) => {
                        self.slots[slot].alive = false;
                        break;
                    }
                    Err(Error::InProgress) => self.settle(),
                    Err(e) => panic!("cleanup of live socket {slot} answered {e:?}"),
                }
            }
            assert!(
                !self.slots[slot].alive,
                "cleanup of socket {slot} never completes"
            );
        }
        let h = self
            .stack
            .create(AddressFamily::Unspecified)
            .expect("create after every socket was cleaned up");
        let slot = h.index();
        self.slots[slot].born(h);
        let port = slot_port(slot, 9).to_string();
        self.modem.hosts.push("192.0.2.1".into());
        let mut failures = 0;
        let mut connected = false;
        for _ in 0..1500 {
            match self.stack.connect(h, "192.0.2.1", &port) {
                Ok(()) => {
                    connected = true;
                    break;
                }
                Err(Error::InProgress) => self.settle(),
                Err(e) => {
                    failures += 1;
                    if trace() {
                        eprintln!("{} ms: connect: {e:?}\n{}", self.now(), self.describe());
                    }
                    assert!(
                        failures < 10,
                        "the driver does not reconnect: {e:?}\n{}",
                        self.describe()
                    );
                    self.settle();
                }
            }
        }
        assert!(connected, "the driver did not resynchronise: no connect");
        let mut sent = false;
        self.slots[slot]
            .candidates
            .push((b"still alive".to_vec(), None));
        for _ in 0..300 {
            match self.stack.send(h, b"still alive") {
                Ok(n) => {
                    assert_eq!(n, 11);
                    sent = true;
                    break;
                }
                Err(Error::InProgress) => self.settle(),
                Err(e) => panic!("the driver did not resynchronise: send answered {e:?}"),
            }
        }
        assert!(sent, "the driver did not resynchronise: no send");
        let handle = self
            .modem
            .handle_of(slot)
            .expect("the modem holds the socket the driver connected");
        let from: Peer = ("192.0.2.1".into(), 1009);
        let bytes = self
            .modem
            .datagram(handle as u32, true, b"pong after all", &from);
        self.feed(&bytes, &[]);
        self.pump();
        let mut buf = [0u8; 64];
        let r = self.stack.recv(h, &mut buf);
        assert_eq!(
            r.map(|n| buf[..n].to_vec()),
            Ok(b"pong after all".to_vec()),
            "the driver did not resynchronise: datagram not received"
        );
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &s[start..end]
}

/// The bytes an aborted send completes the announced length with.
fn is_filler(dialect: Dialect, bytes: &[u8]) -> bool {
    match dialect {
        Dialect::Bg96 => bytes.iter().all(|&b| b == 0),
        Dialect::Nrf91 => bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b == if i < 3 { b'+' } else { b'\r' }),
    }
}

/// The well-formed hosts `Connect` uses.
fn hosts(max: usize) -> Vec<String> {
    vec![
        "192.0.2.1".into(),
        "example.com".into(),
        "[2001:db8::1]".into(),
        "lwm2m-server_1.example".into(),
        "h".repeat(max),
    ]
}

/// The configuration byte: receive mode, poll interval, timeouts, grace.
fn config(b: u8, nrf91: bool) -> Config {
    let mut c = if nrf91 {
        let mut c = Config::new("").expect("valid APN");
        c.context_id = 0;
        c
    } else {
        Config::new("internet").expect("valid APN")
    };
    c.poll_interval_ms = [0, 1_000, 60_000, 5_000][(b >> 1) as usize & 3];
    c.max_timeouts = [1, 2, 3, 3][(b >> 3) as usize & 3];
    c.registration_grace_ms = [1_000, 5_000, 60_000, 60_000][(b >> 5) as usize & 3];
    if b & 0x80 != 0 {
        c.connect_timeout_ms = 20_000;
    }
    c
}

/// One fuzz input against `profile`.
pub fn run<P: Profile>(data: &[u8], dialect: Dialect, profile: impl Fn(bool) -> P) {
    let mut r = Reader::new(data);
    let cfg = r.u8();
    let chunk_seed = r.u8();
    let nrf91 = dialect == Dialect::Nrf91;
    let profile = profile(cfg & 1 == 1);
    let limits = profile.limits();
    let max_host = limits.max_host_len.min(128);
    let mut driver: Driver<P, N, RX> = Driver::new(profile, config(cfg, nrf91));
    let clock = VirtualClock::new();
    let stack = NetStack::new(&mut driver, ReplayUart::new(None), clock.clone());
    let mut h = Harness {
        stack,
        clock,
        modem: Modem::new(dialect),
        dialect,
        slots: Default::default(),
        known: Vec::new(),
        stream: Vec::new(),
        written: 0,
        tainted: false,
        chunk_seed,
        feeds: 0,
        seq: 0,
        before: Vec::new(),
        mid: Vec::new(),
        before_expect: Vec::new(),
        mid_expect: Vec::new(),
        read_expect: Vec::new(),
        late_expect: Vec::new(),
        after: Vec::new(),
        late: Vec::new(),
        late_commands: 0,
        cut_rest: None,
        max_host,
        max_recv: limits.max_recv,
        hosts: hosts(max_host),
    };
    let mut steps = 0;
    while !r.is_empty() && steps < 400 {
        let action = Action::decode(&mut r);
        h.act(action);
        steps += 1;
    }
    h.finish();
}
