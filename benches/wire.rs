//! Wire efficiency against the simulated modems (`cellsock::modems::bg96::sim`,
//! `cellsock::modems::nrf91_slm::sim`): AT exchanges and UART bytes per datagram,
//! traffic while idle, and line-rate efficiency at 115200 baud. Everything runs on a virtual clock with the line paced
//! at 10 bit times per byte, so every figure is deterministic (datagrams cross real
//! UDP on 127.0.0.1, which only moves them, never times them).
//!
//! ```sh
//! cargo bench --bench wire           # prints the tables of docs/performance.md
//! ```
//!
//! Numbers are printed as `key value` lines after a human-readable table, for
//! `scripts/perf.sh`.

use std::cell::RefCell;
use std::net::UdpSocket;
use std::rc::Rc;

use cellsock::modems::bg96::sim::{self as bg96_sim, Bg96Sim, Bg96SimConfig};
use cellsock::modems::bg96::Bg96;
use cellsock::modems::nrf91_slm::sim::{self as nrf91_sim, Nrf91Sim, Nrf91SimConfig};
use cellsock::modems::nrf91_slm::Nrf91Slm;
use cellsock::replay::VirtualClock;
use cellsock::sim::{HostUart, Line, SimModem};
use cellsock::{
    AddressFamily, Clock, Config, Driver, Error, Instant, NetStack, Profile, SocketHandle,
};

const BAUD: u32 = 115_200;
const SOCKETS: usize = 2;
const RX: usize = 4096;

/// Host-side writes, stamped with the virtual time (ms) they were made at.
type WriteLog = Rc<RefCell<Vec<(u64, Vec<u8>)>>>;

/// The simulator's UART with every host write logged.
struct Tap {
    inner: HostUart,
    clock: VirtualClock,
    log: WriteLog,
}

impl embedded_io::ErrorType for Tap {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.inner.read(buf)
    }
}

impl embedded_io::ReadReady for Tap {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        self.inner.read_ready()
    }
}

impl embedded_io::Write for Tap {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let n = self.inner.write(buf)?;
        if n > 0 {
            self.log
                .borrow_mut()
                .push((self.clock.now_ms(), buf[..n].to_vec()));
        }
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush()
    }
}

impl embedded_io::WriteReady for Tap {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        self.inner.write_ready()
    }
}

/// Counters at one moment, to take differences of.
#[derive(Clone, Copy, Debug, Default)]
struct Snap {
    /// Commands the driver started.
    commands: u64,
    /// Bytes host -> modem.
    to_modem: u64,
    /// Bytes modem -> host.
    to_host: u64,
    /// Virtual time, ms.
    ms: u64,
}

impl Snap {
    fn minus(self, o: Snap) -> Snap {
        Snap {
            commands: self.commands - o.commands,
            to_modem: self.to_modem - o.to_modem,
            to_host: self.to_host - o.to_host,
            ms: self.ms - o.ms,
        }
    }
    fn bytes(self) -> u64 {
        self.to_modem + self.to_host
    }
}

/// How a measurement wants the simulated modem.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Powered on now, the simulator's realistic latencies.
    Realistic,
    /// Already running, every answer at once: only the line and the driver set
    /// the pace.
    Instant,
}

/// A simulated modem and the profile that drives it.
trait Modem: SimModem + Sized {
    type P: Profile + 'static;
    /// Name in the tables.
    const NAME: &'static str;
    /// The simulator on a line at `BAUD`, and the driver's end of it.
    fn start(mode: Mode) -> (Self, HostUart);
    /// The profile: pushed reception, or (`buffered`) reading each datagram.
    fn profile(buffered: bool) -> Self::P;
    /// What the buffered profile is called.
    const BUFFERED: &'static str;
    /// The local UDP port of the driver's first socket.
    fn first_socket_port(&self) -> Option<u16>;
}

impl Modem for Bg96Sim {
    type P = Bg96;
    const NAME: &'static str = "bg96";
    const BUFFERED: &'static str = "buffer mode, AT+QIRD";
    fn start(mode: Mode) -> (Self, HostUart) {
        let cfg = match mode {
            Mode::Realistic => Bg96SimConfig::default(),
            Mode::Instant => Bg96SimConfig {
                latency: bg96_sim::Latency::ZERO,
                start: bg96_sim::Start::Running,
                ..Bg96SimConfig::default()
            },
        };
        Bg96Sim::with_line(Line::baud(BAUD), cfg)
    }
    fn profile(buffered: bool) -> Bg96 {
        if buffered {
            Bg96::buffered()
        } else {
            Bg96::new()
        }
    }
    fn first_socket_port(&self) -> Option<u16> {
        self.local_port(0)
    }
}

impl Modem for Nrf91Sim {
    type P = Nrf91Slm;
    const NAME: &'static str = "nrf91";
    const BUFFERED: &'static str = "polled, #XAPOLL + #XRECV";
    fn start(mode: Mode) -> (Self, HostUart) {
        let cfg = match mode {
            Mode::Realistic => Nrf91SimConfig::default(),
            Mode::Instant => Nrf91SimConfig {
                latency: nrf91_sim::Latency::ZERO,
                start: nrf91_sim::Start::Running,
                ..Nrf91SimConfig::default()
            },
        };
        Nrf91Sim::with_line(Line::baud(BAUD), cfg)
    }
    fn profile(buffered: bool) -> Nrf91Slm {
        if buffered {
            Nrf91Slm::polled()
        } else {
            Nrf91Slm::new()
        }
    }
    fn first_socket_port(&self) -> Option<u16> {
        (0..8).find_map(|h| self.local_port(h))
    }
}

/// A driver on a simulated modem with a UDP peer on 127.0.0.1.
struct Rig<S: Modem> {
    sim: S,
    stack: NetStack<'static, S::P, Tap, VirtualClock, SOCKETS, RX>,
    clock: VirtualClock,
    log: WriteLog,
    peer: UdpSocket,
    socket: SocketHandle,
}

impl<S: Modem> Rig<S> {
    fn new(buffered: bool, mode: Mode) -> Rig<S> {
        let (sim, uart) = S::start(mode);
        let profile = S::profile(buffered);
        let clock = VirtualClock::new();
        let log: WriteLog = Rc::default();
        let tap = Tap {
            inner: uart,
            clock: clock.clone(),
            log: log.clone(),
        };
        let driver: &'static mut Driver<S::P, SOCKETS, RX> = Box::leak(Box::new(Driver::new(
            profile,
            Config::new("internet").unwrap(),
        )));
        let mut stack = NetStack::new(driver, tap, clock.clone());
        let socket = stack.create(AddressFamily::Unspecified).unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_nonblocking(true).unwrap();
        let mut rig = Rig {
            sim,
            stack,
            clock,
            log,
            peer,
            socket,
        };
        rig.step();
        rig
    }

    fn snap(&mut self) -> Snap {
        let line = self.sim.stats().line;
        Snap {
            commands: self.stack.driver.stats().engine.commands as u64,
            to_modem: line.to_modem.bytes,
            to_host: line.to_host.bytes,
            ms: self.clock.now_ms(),
        }
    }

    /// The simulator acts on everything due by now, then the driver polls.
    fn step(&mut self) {
        let now = self.clock.now();
        self.sim.step(now);
        self.stack.poll();
    }

    /// Move the clock to the next moment something happens (a byte arrives, an
    /// answer or deadline falls due), at least 1 ms on and at most `max_ms`, and
    /// step there.
    fn advance(&mut self, max_ms: u64) {
        let now = self.clock.now_ms();
        let next = [self.sim.next_event(), self.stack.driver.poll_at()]
            .into_iter()
            .flatten()
            .map(Instant::as_millis)
            .min()
            .unwrap_or(u64::MAX);
        let t = next.clamp(now + 1, now + max_ms.max(1));
        self.clock.set(t);
        self.step();
    }

    fn connect(&mut self) {
        let port = self.peer.local_addr().unwrap().port().to_string();
        let start = self.clock.now_ms();
        loop {
            match self.stack.connect(self.socket, "127.0.0.1", &port) {
                Ok(()) => return,
                Err(Error::InProgress) => {}
                Err(e) => panic!("connect: {e:?}"),
            }
            assert!(
                self.clock.now_ms() - start < 300_000,
                "connect takes too long"
            );
            self.advance(1000);
        }
    }

    /// Send one datagram and wait (on the virtual clock) for the driver to report
    /// it sent; the application calls `send` again at every step, as Anjay does.
    fn send(&mut self, data: &[u8]) {
        let start = self.clock.now_ms();
        loop {
            match self.stack.send(self.socket, data) {
                Ok(n) => {
                    assert_eq!(n, data.len());
                    return;
                }
                Err(Error::InProgress) => {}
                Err(e) => panic!("send: {e:?}"),
            }
            assert!(self.clock.now_ms() - start < 10_000, "send takes too long");
            self.advance(1000);
        }
    }

    /// Datagrams the peer got so far (and their bytes).
    fn drain_peer(&mut self) -> (usize, usize) {
        let mut buf = [0u8; 2048];
        let (mut n, mut bytes) = (0, 0);
        while let Ok(len) = self.peer.recv(&mut buf) {
            n += 1;
            bytes += len;
        }
        (n, bytes)
    }

    /// The peer sends `count` datagrams of `len` bytes to the modem's socket.
    fn peer_sends(&mut self, count: usize, len: usize) {
        let port = self
            .sim
            .first_socket_port()
            .expect("a socket open in the sim");
        let data = payload(len);
        for _ in 0..count {
            self.peer.send_to(&data, ("127.0.0.1", port)).unwrap();
        }
    }

    /// Receive `count` datagrams of `len` bytes; returns the time (ms) the last one
    /// was handed to the application.
    fn receive(&mut self, count: usize, len: usize) -> u64 {
        let mut buf = vec![0u8; 1500];
        let mut got = 0;
        let start = self.clock.now_ms();
        loop {
            loop {
                match self.stack.recv(self.socket, &mut buf) {
                    Ok(n) => {
                        assert_eq!(n, len);
                        got += 1;
                    }
                    Err(Error::WouldBlock) => break,
                    Err(e) => panic!("recv: {e:?}"),
                }
            }
            if got == count {
                return self.clock.now_ms();
            }
            assert!(
                self.clock.now_ms() - start < 60_000,
                "receive takes too long ({got}/{count})"
            );
            self.advance(1);
        }
    }

    /// Command lines the host wrote from virtual time `since` on (payload writes
    /// left out).
    fn command_lines(&self, since: u64) -> Vec<String> {
        self.log
            .borrow()
            .iter()
            .filter(|(t, b)| *t >= since && b.starts_with(b"AT"))
            .map(|(_, b)| String::from_utf8_lossy(b).trim_end().to_string())
            .collect()
    }
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// Per-datagram figures of one direction.
struct PerDatagram {
    what: String,
    count: usize,
    len: usize,
    d: Snap,
}

impl PerDatagram {
    fn commands(&self) -> f64 {
        self.d.commands as f64 / self.count as f64
    }
    fn bytes_per_payload_byte(&self) -> f64 {
        self.d.bytes() as f64 / (self.count * self.len) as f64
    }
    fn overhead(&self) -> f64 {
        (self.d.bytes() as f64 - (self.count * self.len) as f64) / self.count as f64
    }
}

fn sends<S: Modem>(rig: &mut Rig<S>, count: usize, len: usize) -> PerDatagram {
    let data = payload(len);
    let before = rig.snap();
    for _ in 0..count {
        rig.send(&data);
    }
    let d = rig.snap().minus(before);
    let (n, bytes) = rig.drain_peer();
    assert_eq!(
        (n, bytes),
        (count, count * len),
        "the peer got every datagram"
    );
    PerDatagram {
        what: "send".into(),
        count,
        len,
        d,
    }
}

fn receives<S: Modem>(rig: &mut Rig<S>, count: usize, len: usize, what: &str) -> PerDatagram {
    let before = rig.snap();
    rig.peer_sends(count, len);
    rig.receive(count, len);
    // Let the exchange settle (buffer mode: the last read's OK).
    for _ in 0..20 {
        rig.advance(1);
    }
    let d = rig.snap().minus(before);
    PerDatagram {
        what: what.into(),
        count,
        len,
        d,
    }
}

/// `count` datagrams of `len` bytes, each sent by the peer only after the previous
/// one was received and the line went quiet (isolated arrivals, not a burst).
fn receives_one_by_one<S: Modem>(
    rig: &mut Rig<S>,
    count: usize,
    len: usize,
    what: &str,
) -> PerDatagram {
    let before = rig.snap();
    for _ in 0..count {
        rig.peer_sends(1, len);
        rig.receive(1, len);
        for _ in 0..50 {
            rig.advance(1);
        }
    }
    let d = rig.snap().minus(before);
    PerDatagram {
        what: what.into(),
        count,
        len,
        d,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    measure::<Bg96Sim>();
    measure::<Nrf91Sim>();
}

/// Every figure for one simulated modem; `key value` lines are prefixed with its
/// name.
fn measure<S: Modem>() {
    let name = S::NAME;
    let byte_ns = Line::baud(BAUD).byte_time();
    println!("# {name}: cellsock wire efficiency, simulated modem at {BAUD} baud (virtual time)");
    println!();

    // 1. Exchanges and bytes per datagram, with the simulator's realistic latencies.
    let mut rig = Rig::<S>::new(false, Mode::Realistic);
    let t0 = rig.snap();
    rig.connect();
    let bring_up = rig.snap().minus(t0);
    let mut rows = Vec::new();
    for len in [16, 100, 1000] {
        rows.push(sends(&mut rig, 20, len));
        rows.push(receives(&mut rig, 20, len, "receive (pushed)"));
    }
    rows.push(receives_one_by_one(
        &mut rig,
        10,
        100,
        "receive (pushed), one at a time",
    ));
    // Idle: ten minutes without traffic.
    let idle_from = rig.clock.now_ms();
    let before = rig.snap();
    while rig.clock.now_ms() < idle_from + 600_000 {
        let left = idle_from + 600_000 - rig.clock.now_ms();
        rig.advance(left.min(60_000));
    }
    let idle = rig.snap().minus(before);
    let idle_lines = rig.command_lines(idle_from);
    let poll_interval = rig.stack.driver.config().poll_interval_ms as u64;

    // Reading each datagram with a command, for comparison.
    let mut brig = Rig::<S>::new(true, Mode::Realistic);
    brig.connect();
    let buffered = format!("receive ({})", S::BUFFERED);
    for len in [16, 100, 1000] {
        rows.push(receives(&mut brig, 20, len, &buffered));
    }
    rows.push(receives_one_by_one(
        &mut brig,
        10,
        100,
        &format!("{buffered}, one at a time"),
    ));

    println!(
        "## {name}: AT exchanges and UART bytes per datagram (bursts of 20, or 10 one at a time)"
    );
    println!();
    println!("| direction | payload B | AT exchanges / datagram | UART bytes / payload byte | framing bytes / datagram |");
    println!("|---|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} | {:.3} | {:.1} |",
            r.what,
            r.len,
            r.commands(),
            r.bytes_per_payload_byte(),
            r.overhead()
        );
    }
    println!();
    println!(
        "bring-up to a connected socket: {} AT exchanges, {} UART bytes, {} ms (virtual)",
        bring_up.commands,
        bring_up.bytes(),
        bring_up.ms
    );
    println!(
        "idle 600 s: {} AT exchanges, {} UART bytes; poll_interval_ms = {poll_interval}: {:?}",
        idle.commands,
        idle.bytes(),
        idle_lines
    );
    println!();
    for r in &rows {
        let key = format!(
            "{name}_{}{}_{}",
            if r.what == "send" {
                "send"
            } else if r.what.contains(S::BUFFERED) {
                "recv_read"
            } else {
                "recv_push"
            },
            if r.what.contains("one at a time") {
                "_single"
            } else {
                ""
            },
            r.len
        );
        println!("{key}_exchanges_per_datagram {:.3}", r.commands());
        println!(
            "{key}_uart_bytes_per_payload_byte {:.4}",
            r.bytes_per_payload_byte()
        );
    }
    println!("{name}_bringup_exchanges {}", bring_up.commands);
    println!("{name}_bringup_uart_bytes {}", bring_up.bytes());
    println!("{name}_idle_600s_exchanges {}", idle.commands);
    println!("{name}_idle_600s_uart_bytes {}", idle.bytes());
    println!(
        "{name}_idle_600s_poll_intervals {}",
        600_000 / poll_interval.max(1)
    );
    println!();

    // 2. Line-rate efficiency: answers without latency, so only the line and the
    // driver set the pace.
    let (k, len) = (50usize, 1000usize);
    let mut rig = Rig::<S>::new(false, Mode::Instant);
    rig.connect();
    let data = payload(len);
    rig.send(&data); // warm: the first datagram is not timed
    rig.drain_peer();
    let before = rig.snap();
    for _ in 0..k {
        rig.send(&data);
    }
    let tx = rig.snap().minus(before);
    let (n, _) = rig.drain_peer();
    assert_eq!(n, k);
    let tx_framing = (tx.bytes() as f64 - (k * len) as f64) / k as f64;
    let tx_best = len as f64 / (len as f64 + tx_framing) * BAUD as f64 / 10.0;
    let tx_achieved = (k * len) as f64 / (tx.ms as f64 / 1000.0);
    let tx_line_ms = tx.bytes() as f64 * byte_ns as f64 / 1e6;

    // Receive: the peer sends back to back, the modem pushes at line rate.
    for _ in 0..5 {
        rig.advance(1);
    }
    let before = rig.snap();
    rig.peer_sends(k, len);
    let done = rig.receive(k, len);
    let rx = rig.snap().minus(before);
    let rx_ms = done - before.ms;
    let rx_framing = (rx.bytes() as f64 - (k * len) as f64) / k as f64;
    let rx_best = len as f64 / (len as f64 + rx_framing) * BAUD as f64 / 10.0;
    let rx_achieved = (k * len) as f64 / (rx_ms as f64 / 1000.0);

    println!(
        "## {name}: line-rate efficiency ({k} datagrams of {len} B, {BAUD} baud, modem answers at once)"
    );
    println!();
    println!("| direction | framing B / datagram | best B/s | achieved B/s | efficiency | line busy | virtual ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| send | {tx_framing:.1} | {tx_best:.0} | {tx_achieved:.0} | {:.4} | {:.1} ms | {} |",
        tx_achieved / tx_best,
        tx_line_ms,
        tx.ms
    );
    println!(
        "| receive (pushed) | {rx_framing:.1} | {rx_best:.0} | {rx_achieved:.0} | {:.4} | | {rx_ms} |",
        rx_achieved / rx_best
    );
    println!();
    println!("{name}_send_1000_framing_bytes {tx_framing:.1}");
    println!("{name}_send_1000_best_bytes_per_s {tx_best:.1}");
    println!("{name}_send_1000_achieved_bytes_per_s {tx_achieved:.1}");
    println!(
        "{name}_send_1000_line_rate_efficiency {:.4}",
        tx_achieved / tx_best
    );
    println!(
        "{name}_send_1000_idle_ms_per_datagram {:.3}",
        (tx.ms as f64 - tx_line_ms) / k as f64
    );
    println!("{name}_recv_1000_framing_bytes {rx_framing:.1}");
    println!("{name}_recv_1000_best_bytes_per_s {rx_best:.1}");
    println!("{name}_recv_1000_achieved_bytes_per_s {rx_achieved:.1}");
    println!(
        "{name}_recv_1000_line_rate_efficiency {:.4}",
        rx_achieved / rx_best
    );
    println!();
}
