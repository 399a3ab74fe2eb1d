//! The rig every end-to-end test runs on: a driver (through `NetStack`) with one of
//! the modem profiles, the matching simulated modem on an in-process UART, real UDP
//! on the loopback interface and an echo server thread, on a virtual clock.
//!
//! The rig is the same for every modem: [`Modem`] says which profile, simulator and
//! recording name a run uses and holds the few facts a test needs in the modem's own
//! words (command names, error reasons, bring-up steps); [`Net`] and [`TestSim`]
//! hide the profile type and the simulator type behind trait objects, so that a
//! test is an ordinary function of a [`Modem`].
//!
//! `tests/campaign.rs` includes this file too (`#[path]`), for its long sessions
//! on every modem; it keeps its own pace of the clock (see
//! [`Rig::wait_for_the_network`]).

use std::collections::HashMap;
use std::time::{Duration, Instant as WallInstant};

use cellsock::modems::bg96::sim::{self as bg96_sim, Bg96Sim, Bg96SimConfig};
use cellsock::modems::bg96::Bg96;
use cellsock::modems::nrf91_slm::sim::{self as nrf91_sim, Nrf91Sim, Nrf91SimConfig};
use cellsock::modems::nrf91_slm::Nrf91Slm;
use cellsock::profile::Profile;
use cellsock::replay::{Recorder, RecordingClock, RecordingUart, Rng, VirtualClock};
use cellsock::sim::udp::EchoServer;
use cellsock::sim::{HostUart, Line, SimModem};
use cellsock::{
    AddressFamily, Config, Driver, Error, Instant, NalSocket, NetStack, Reason, SocketHandle,
    SocketState,
};
use embedded_nal::{Dns, UdpFullStack};

pub const RX: usize = 8192;

/// Longest stretch of virtual time one tick skips.
const MAX_JUMP_MS: u64 = 10;
/// How long (real time) a tick waits for a datagram on its way through the kernel.
const ECHO_WAIT: Duration = Duration::from_millis(200);
/// Real-time bound of any wait in these tests.
const WALL_LIMIT: Duration = Duration::from_secs(20);

/// The modems (and receive modes) the end-to-end tests run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modem {
    /// BG96, direct push (`+QIURC: "recv",<id>,<len>`).
    Bg96,
    /// BG96, buffer access (`AT+QIRD`).
    Bg96Buffer,
    /// nRF91 Serial Modem, automatic reception, on the default bearer (context 0,
    /// the network's APN: the recommended configuration).
    Nrf91,
    /// nRF91 Serial Modem, `#XAPOLL` + `AT#XRECVFROM`, on a context of its own
    /// (context 1 with an APN), so that both context paths run.
    Nrf91Poll,
}

impl Modem {
    /// The test instance named `name` (the function names `per_modem!` makes).
    pub fn named(name: &str) -> Modem {
        match name {
            "bg96" => Modem::Bg96,
            "bg96_buffer" => Modem::Bg96Buffer,
            "nrf91" => Modem::Nrf91,
            "nrf91_poll" => Modem::Nrf91Poll,
            other => panic!("no modem {other:?}"),
        }
    }

    /// The profile's name (the recording's `@profile`).
    pub fn name(self) -> &'static str {
        match self {
            Modem::Bg96 => "bg96",
            Modem::Bg96Buffer => "bg96-buffer",
            Modem::Nrf91 => "nrf91",
            Modem::Nrf91Poll => "nrf91-poll",
        }
    }

    pub fn is_bg96(self) -> bool {
        matches!(self, Modem::Bg96 | Modem::Bg96Buffer)
    }

    /// The configuration a test starts from.
    pub fn config(self) -> Config {
        match self {
            Modem::Bg96 | Modem::Bg96Buffer | Modem::Nrf91Poll => Config::new("internet").unwrap(),
            Modem::Nrf91 => {
                let mut c = Config::new("").unwrap();
                c.context_id = 0;
                c
            }
        }
    }

    /// The send command (the one that asks for the payload prompt).
    pub fn send_cmd(self) -> &'static str {
        if self.is_bg96() {
            "AT+QISEND"
        } else {
            "AT#XSEND"
        }
    }

    /// The commands of an open whose answer can be lost.
    pub fn open_cmds(self) -> &'static [&'static str] {
        if self.is_bg96() {
            &["AT+QIOPEN"]
        } else {
            &["AT#XSOCKET", "AT#XCONNECT"]
        }
    }

    /// Bytes of the payload prompt on the wire (`\r\n> `; `\r\nOK\r\n`).
    pub fn prompt_len(self) -> usize {
        if self.is_bg96() {
            4
        } else {
            6
        }
    }

    /// Text of the modem's socket commands, which must never reach a peer.
    pub fn socket_cmd_text(self) -> &'static [u8] {
        if self.is_bg96() {
            b"AT+QI"
        } else {
            b"AT#X"
        }
    }

    /// What a connect to a name that does not resolve reports.
    pub fn dns_failure(self) -> Reason {
        if self.is_bg96() {
            Reason::DnsFailed
        } else {
            // AT#XCONNECT answers a plain ERROR, with no code.
            Reason::OpenFailed(0)
        }
    }

    /// The command that asks whether the context is active.
    pub fn context_query_cmd(self) -> &'static str {
        if self.is_bg96() {
            "AT+QIACT?"
        } else {
            "AT+CGPADDR"
        }
    }

    /// Commands of the bring-up and open, in order (fault tests reboot at each),
    /// except the context query (see `fault_reboot_during_the_context_query`).
    pub fn bring_up_cmds(self) -> &'static [&'static str] {
        match self {
            Modem::Bg96 | Modem::Bg96Buffer => &[
                "ATE0",
                "AT+CMEE",
                "AT+CPIN",
                "AT+CEREG?",
                "AT+QIACT=1",
                "AT+QIOPEN",
                "AT+QISTATE",
            ],
            Modem::Nrf91 => &[
                "ATE0",
                "AT+CMEE",
                "AT+CEREG=",
                "AT+CGEREP",
                "AT+CFUN",
                "AT#XCLOSE",
                "AT#XRECVCFG",
                "AT#XAPOLL",
                "AT+CPIN",
                "AT+CEREG?",
                "AT#XSOCKET",
                "AT#XCONNECT",
            ],
            Modem::Nrf91Poll => &[
                "ATE0",
                "AT+CGDCONT",
                "AT+CFUN",
                "AT#XRECVCFG",
                "AT+CPIN",
                "AT+CEREG?",
                "AT+CGACT=1",
                "AT#XSOCKET",
                "AT#XCONNECT",
            ],
        }
    }

    /// The header of a pushed datagram of `len` bytes for modem socket `id`, and the
    /// bytes that follow its data.
    pub fn push_frame(self, id: u8, data: &[u8]) -> Vec<u8> {
        let mut out = if self.is_bg96() {
            format!("\r\n+QIURC: \"recv\",{id},{}\r\n", data.len()).into_bytes()
        } else {
            format!("\r\n#XRECV: {id},0,{}\r\n", data.len()).into_bytes()
        };
        out.extend_from_slice(data);
        if !self.is_bg96() {
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// True when the modem holds URCs back during a send (the nRF91 does, until
    /// `#XDATAMODE`): a socket or context lost inside a send then shows first as
    /// the send's failure.
    pub fn holds_urcs_in_send(self) -> bool {
        !self.is_bg96()
    }
}

/// Modem-neutral knobs of the simulators, mapped to each one's configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Speed {
    /// The simulator's default latencies.
    #[default]
    Normal,
    /// Everything answered at once.
    Instant,
    /// Every answer takes this many milliseconds.
    SlowAnswers(u32),
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SimSetup {
    pub speed: Speed,
    /// The modem was up before the driver started (an MCU-only reset).
    pub running: bool,
    /// With `running`: sockets an earlier run left open (nRF91 only).
    pub leftover_sockets: u8,
}

/// What the tests ask a simulator beyond [`SimModem`].
pub trait TestSim: SimModem {
    fn echo(&self) -> bool;
    fn context_active(&self, cid: u8) -> bool;
    /// Modem sockets that are open and connected.
    fn connected(&self) -> Vec<u8>;
    fn socket_in_use(&self, id: u8) -> bool;
    fn local_port(&self, id: u8) -> Option<u16>;
    /// Every release assistance indication the modem took: (socket, value). The
    /// BG96 has none.
    fn release_assistance(&self) -> Vec<(u8, u8)>;
}

impl TestSim for Bg96Sim {
    fn echo(&self) -> bool {
        Bg96Sim::echo(self)
    }
    fn context_active(&self, cid: u8) -> bool {
        cid == 1 && self.pdp_active()
    }
    fn connected(&self) -> Vec<u8> {
        (0..bg96_sim::SOCKETS as u8)
            .filter(|&id| self.socket_open(id as usize))
            .collect()
    }
    fn socket_in_use(&self, id: u8) -> bool {
        Bg96Sim::socket_in_use(self, id as usize)
    }
    fn local_port(&self, id: u8) -> Option<u16> {
        Bg96Sim::local_port(self, id as usize)
    }
    fn release_assistance(&self) -> Vec<(u8, u8)> {
        Vec::new()
    }
}

impl TestSim for Nrf91Sim {
    fn echo(&self) -> bool {
        Nrf91Sim::echo(self)
    }
    fn context_active(&self, cid: u8) -> bool {
        Nrf91Sim::context_active(self, cid)
    }
    fn connected(&self) -> Vec<u8> {
        self.handles()
            .into_iter()
            .filter(|&h| self.socket_connected(h))
            .collect()
    }
    fn socket_in_use(&self, id: u8) -> bool {
        Nrf91Sim::socket_in_use(self, id)
    }
    fn local_port(&self, id: u8) -> Option<u16> {
        Nrf91Sim::local_port(self, id)
    }
    fn release_assistance(&self) -> Vec<(u8, u8)> {
        Nrf91Sim::release_assistance(self).to_vec()
    }
}

pub fn sim_for(modem: Modem, line: Line, s: SimSetup) -> (Box<dyn TestSim>, HostUart) {
    // SIM_TRACE=1 cargo test --test sim_e2e <name> -- --nocapture
    let trace = std::env::var_os("SIM_TRACE").is_some();
    if modem.is_bg96() {
        let latency = match s.speed {
            Speed::Normal => bg96_sim::Latency::default(),
            Speed::Instant => bg96_sim::Latency::ZERO,
            Speed::SlowAnswers(ms) => bg96_sim::Latency {
                response_ms: ms,
                ..bg96_sim::Latency::default()
            },
        };
        let cfg = Bg96SimConfig {
            latency,
            start: if s.running {
                bg96_sim::Start::Running
            } else {
                bg96_sim::Start::PowerOn
            },
            trace,
            ..Bg96SimConfig::default()
        };
        let (sim, uart) = Bg96Sim::with_line(line, cfg);
        (Box::new(sim), uart)
    } else {
        let latency = match s.speed {
            Speed::Normal => nrf91_sim::Latency::default(),
            Speed::Instant => nrf91_sim::Latency::ZERO,
            Speed::SlowAnswers(ms) => nrf91_sim::Latency {
                response_ms: ms,
                ..nrf91_sim::Latency::default()
            },
        };
        let cfg = Nrf91SimConfig {
            latency,
            start: if s.running {
                nrf91_sim::Start::Running
            } else {
                nrf91_sim::Start::PowerOn
            },
            leftover_sockets: s.leftover_sockets,
            trace,
            ..Nrf91SimConfig::default()
        };
        let (sim, uart) = Nrf91Sim::with_line(line, cfg);
        (Box::new(sim), uart)
    }
}

/// The embedded-nal traits as a third-party crate uses them, whatever the profile.
pub trait NalStack:
    UdpFullStack<UdpSocket = NalSocket, Error = Error> + Dns<Error = Error>
{
}

impl<T: UdpFullStack<UdpSocket = NalSocket, Error = Error> + Dns<Error = Error>> NalStack for T {}

/// The driver's API as the tests use it, whatever the profile type.
pub trait Net {
    /// The same stack through embedded-nal's traits.
    fn nal(&mut self) -> &mut dyn NalStack;
    fn poll(&mut self);
    fn create(&mut self, family: AddressFamily) -> Result<SocketHandle, Error>;
    fn connect(&mut self, h: SocketHandle, host: &str, port: &str) -> Result<(), Error>;
    fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, Error>;
    fn recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, Error>;
    fn close(&mut self, h: SocketHandle) -> Result<(), Error>;
    fn cleanup(&mut self, h: SocketHandle) -> Result<(), Error>;
    fn state(&self, h: SocketHandle) -> Result<SocketState, Error>;
    fn inner_mtu(&self, h: SocketHandle) -> Result<usize, Error>;
    fn reuse_last_port(&mut self, h: SocketHandle) -> Result<(), Error>;
    fn queue_mode_rx_off(&mut self, h: SocketHandle) -> Result<(), Error>;
    fn poll_at(&self) -> Option<Instant>;
    fn local_port(&self, h: SocketHandle) -> Result<Option<u16>, Error>;
    fn bytes_sent(&self, h: SocketHandle) -> Result<u64, Error>;
    fn bytes_received(&self, h: SocketHandle) -> Result<u64, Error>;
    /// `Some(true)` registered, `Some(false)` not, `None` not known yet.
    fn registered(&self) -> Option<bool>;
}

type Stack<P> = NetStack<'static, P, RecordingUart<HostUart>, RecordingClock<VirtualClock>, 4, RX>;

impl<P: Profile> Net for Stack<P> {
    fn nal(&mut self) -> &mut dyn NalStack {
        self
    }
    fn poll(&mut self) {
        NetStack::poll(self)
    }
    fn create(&mut self, family: AddressFamily) -> Result<SocketHandle, Error> {
        NetStack::create(self, family)
    }
    fn connect(&mut self, h: SocketHandle, host: &str, port: &str) -> Result<(), Error> {
        NetStack::connect(self, h, host, port)
    }
    fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        NetStack::send(self, h, data)
    }
    fn recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, Error> {
        NetStack::recv(self, h, buf)
    }
    fn close(&mut self, h: SocketHandle) -> Result<(), Error> {
        NetStack::close(self, h)
    }
    fn cleanup(&mut self, h: SocketHandle) -> Result<(), Error> {
        NetStack::cleanup(self, h)
    }
    fn state(&self, h: SocketHandle) -> Result<SocketState, Error> {
        NetStack::state(self, h)
    }
    fn inner_mtu(&self, h: SocketHandle) -> Result<usize, Error> {
        NetStack::inner_mtu(self, h)
    }
    fn reuse_last_port(&mut self, h: SocketHandle) -> Result<(), Error> {
        NetStack::reuse_last_port(self, h)
    }
    fn queue_mode_rx_off(&mut self, h: SocketHandle) -> Result<(), Error> {
        NetStack::queue_mode_rx_off(self, h)
    }
    fn poll_at(&self) -> Option<Instant> {
        self.driver.poll_at()
    }
    fn local_port(&self, h: SocketHandle) -> Result<Option<u16>, Error> {
        self.driver.local_port(h)
    }
    fn bytes_sent(&self, h: SocketHandle) -> Result<u64, Error> {
        self.driver.bytes_sent(h)
    }
    fn bytes_received(&self, h: SocketHandle) -> Result<u64, Error> {
        self.driver.bytes_received(h)
    }
    fn registered(&self) -> Option<bool> {
        self.driver
            .network()
            .registration
            .map(|(s, _)| s.is_registered())
    }
}

fn stack<P: Profile + 'static>(
    profile: P,
    config: Config,
    rec: &Recorder,
    uart: HostUart,
    clock: VirtualClock,
) -> Box<dyn Net> {
    let driver: &'static mut Driver<P, 4, RX> = Box::leak(Box::new(Driver::new(profile, config)));
    Box::new(NetStack::new(driver, rec.uart(uart), rec.clock(clock)))
}

pub type Ledger = HashMap<Vec<u8>, usize>;

pub struct Rig {
    #[allow(dead_code)]
    pub modem: Modem,
    /// The context the driver uses.
    pub cid: u8,
    pub clock: VirtualClock,
    pub sim: Box<dyn TestSim>,
    pub net: Box<dyn Net>,
    pub rec: Recorder,
    pub echo: EchoServer,
    /// Datagrams the driver reported as sent.
    pub sent: Ledger,
    /// Per socket: datagrams whose echo is expected.
    pub expect: HashMap<SocketHandle, Ledger>,
    /// Per socket: datagrams received that were not expected (lossy tests).
    pub unexpected: Vec<(SocketHandle, Vec<u8>)>,
    /// The modem's id of each connected socket.
    ids: HashMap<SocketHandle, u8>,
    pub rng: Rng,
    /// Since when an echo has been on its way (see `tick`).
    in_flight_since: Option<WallInstant>,
}

pub struct Setup {
    pub sim: SimSetup,
    pub line: Line,
    pub config: Config,
    pub record: bool,
}

impl Setup {
    pub fn new(modem: Modem) -> Setup {
        Setup {
            sim: SimSetup::default(),
            line: Line::baud(115_200),
            config: modem.config(),
            record: false,
        }
    }
}

pub fn take(set: &mut Ledger, data: &[u8]) -> bool {
    match set.get_mut(data) {
        Some(n) if *n > 1 => {
            *n -= 1;
            true
        }
        Some(_) => {
            set.remove(data);
            true
        }
        None => false,
    }
}

impl Rig {
    pub fn new(modem: Modem) -> Rig {
        Rig::with(modem, Setup::new(modem))
    }

    pub fn with(modem: Modem, setup: Setup) -> Rig {
        let echo = EchoServer::start().unwrap();
        let (mut sim, uart) = sim_for(modem, setup.line, setup.sim);
        let rec = if setup.record {
            Recorder::new(modem.name(), &setup.config)
        } else {
            Recorder::off()
        };
        let clock = VirtualClock::new();
        sim.step(Instant::ZERO);
        let cid = setup.config.context_id;
        let config = setup.config;
        let net = match modem {
            Modem::Bg96 => stack(Bg96::new(), config, &rec, uart, clock.clone()),
            Modem::Bg96Buffer => stack(Bg96::buffered(), config, &rec, uart, clock.clone()),
            Modem::Nrf91 => stack(Nrf91Slm::new(), config, &rec, uart, clock.clone()),
            Modem::Nrf91Poll => stack(Nrf91Slm::polled(), config, &rec, uart, clock.clone()),
        };
        Rig {
            modem,
            cid,
            clock,
            sim,
            net,
            rec,
            echo,
            sent: Ledger::new(),
            expect: HashMap::new(),
            unexpected: Vec::new(),
            ids: HashMap::new(),
            rng: Rng::new(0x5eed_cafe),
            in_flight_since: None,
        }
    }

    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// One round: the driver polls, the clock moves on, the modem acts at the new
    /// time (so that what the application writes next is stamped with it).
    ///
    /// The clock jumps to the next thing the driver or the simulator waits for, at
    /// least 1 ms and at most `MAX_JUMP_MS` (an application loop, like Anjay's,
    /// calls in at least that often). It must not run ahead of the real network:
    /// while the simulator has sent more datagrams than the echo server got, or the
    /// server has sent back more than the simulator took in, a datagram is on its
    /// way through the kernel and the clock waits for it (in real time, briefly).
    pub fn tick(&mut self) {
        self.net.poll();
        if self.wait_for_the_network() {
            return;
        }
        let now = self.clock.now_ms();
        let next = [self.net.poll_at(), self.sim.next_event()]
            .into_iter()
            .flatten()
            .min();
        let next = next.map_or(now + 1, |t| t.as_millis().clamp(now + 1, now + MAX_JUMP_MS));
        self.clock.set(next);
        self.sim.step(Instant::from_millis(next));
    }

    /// While a datagram is on its way through the kernel (the simulator has sent
    /// more than the echo server got, or the server more than the simulator took
    /// in): wait briefly in real time, step the simulator at the same virtual time,
    /// and answer true; the clock must not move on yet. After `ECHO_WAIT` the
    /// datagram is taken as gone for good (its socket was closed meanwhile) and
    /// this answers false.
    pub fn wait_for_the_network(&mut self) -> bool {
        let now = self.clock.now_ms();
        let st = self.sim.stats();
        let at_server = self.echo.count() as u64;
        let in_flight =
            st.datagrams_out > at_server || at_server > st.datagrams_in + st.datagrams_lost;
        if in_flight {
            let since = *self.in_flight_since.get_or_insert_with(WallInstant::now);
            if since.elapsed() < ECHO_WAIT {
                std::thread::sleep(Duration::from_micros(20));
                self.sim.step(Instant::from_millis(now));
                return true;
            }
        } else {
            self.in_flight_since = None;
        }
        false
    }

    /// Tick until `f` gives an answer; bounded in real time and in virtual time.
    pub fn until<T>(
        &mut self,
        what: &str,
        max_ms: u64,
        mut f: impl FnMut(&mut Rig) -> Option<T>,
    ) -> T {
        let wall = WallInstant::now();
        let start = self.now();
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            if wall.elapsed() > WALL_LIMIT || self.now() - start > max_ms {
                panic!(
                    "{what}: no result after {} ms virtual, {:?} real",
                    self.now() - start,
                    wall.elapsed()
                );
            }
            self.tick();
        }
    }

    /// Wait `ms` of virtual time.
    pub fn wait(&mut self, ms: u64) {
        let until = self.now() + ms;
        self.until("wait", ms + 1_000, |rig| (rig.now() >= until).then_some(()));
    }

    pub fn create(&mut self) -> SocketHandle {
        let r = self.net.create(AddressFamily::Unspecified);
        self.rec.create(&r);
        r.unwrap()
    }

    pub fn connect_to(&mut self, h: SocketHandle, host: &str, port: &str) -> Result<(), Error> {
        let (host, port) = (host.to_string(), port.to_string());
        let before = self.sim.connected();
        let r = self.until("connect", 600_000, |rig| {
            let r = rig.net.connect(h, &host, &port);
            rig.rec.connect(h, &host, &port, &r);
            (r != Err(Error::InProgress)).then_some(r)
        });
        self.ids.remove(&h);
        if r.is_ok() {
            self.learn_id(h, &before);
        }
        r
    }

    /// Which modem socket `h` got: the connected one no other socket has (or, if
    /// that is not one, the one that was not connected before).
    fn learn_id(&mut self, h: SocketHandle, before: &[u8]) {
        let after = self.sim.connected();
        let others: Vec<u8> = self.ids.values().copied().collect();
        let free: Vec<u8> = after
            .iter()
            .copied()
            .filter(|id| !others.contains(id))
            .collect();
        let id = match free.as_slice() {
            [id] => *id,
            _ => {
                let new: Vec<u8> = free
                    .iter()
                    .copied()
                    .filter(|id| !before.contains(id))
                    .collect();
                match new.as_slice() {
                    [id] => *id,
                    _ => panic!("which modem socket is {h:?}? connected {after:?}, others {others:?}, before {before:?}"),
                }
            }
        };
        self.ids.insert(h, id);
    }

    /// The modem's id of socket `h` (its handle or connectID), as of its last
    /// connect.
    pub fn id(&self, h: SocketHandle) -> u8 {
        *self.ids.get(&h).expect("socket was connected")
    }

    pub fn connect(&mut self, h: SocketHandle) -> Result<(), Error> {
        let port = self.echo.port().to_string();
        self.connect_to(h, "localhost", &port)
    }

    pub fn close(&mut self, h: SocketHandle) -> Result<(), Error> {
        self.until("close", 600_000, |rig| {
            let r = rig.net.close(h);
            rig.rec.close(h, &r);
            (r != Err(Error::InProgress)).then_some(r)
        })
    }

    /// A datagram handed to `send` on `h`: its echo may come back (even before the
    /// send reports its result, since the modem puts the datagram on the network
    /// before it says it did).
    pub fn expect_echo(&mut self, h: SocketHandle, data: &[u8]) {
        *self
            .expect
            .entry(h)
            .or_default()
            .entry(data.to_vec())
            .or_default() += 1;
    }

    /// The result of a send: an `Ok` goes into the ledger of sent datagrams, an
    /// error withdraws the expected echo.
    pub fn settle_send(&mut self, h: SocketHandle, data: &[u8], r: &Result<usize, Error>) {
        match r {
            Ok(n) => {
                assert_eq!(*n, data.len(), "a datagram is sent whole");
                *self.sent.entry(data.to_vec()).or_default() += 1;
            }
            Err(_) => {
                take(self.expect.entry(h).or_default(), data);
            }
        }
    }

    /// Send until the driver gives a result.
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        self.expect_echo(h, data);
        let r = self.until("send", 600_000, |rig| {
            let r = rig.net.send(h, data);
            rig.rec.send(h, data, &r);
            (r != Err(Error::InProgress)).then_some(r)
        });
        self.settle_send(h, data, &r);
        r
    }

    /// One `recv` call; a datagram must be one this socket expects.
    pub fn recv_once(&mut self, h: SocketHandle, strict: bool) -> Result<Vec<u8>, Error> {
        let mut buf = [0u8; 1500];
        let r = self.net.recv(h, &mut buf);
        self.rec.recv(h, &buf, &r);
        let n = r?;
        let data = buf[..n].to_vec();
        let ok = take(self.expect.entry(h).or_default(), &data);
        if !ok {
            assert!(
                !strict,
                "socket {h:?} received a datagram it did not expect ({} bytes)",
                data.len()
            );
            self.unexpected.push((h, data.clone()));
        }
        Ok(data)
    }

    /// Receive until a datagram or an error comes.
    pub fn recv(&mut self, h: SocketHandle) -> Result<Vec<u8>, Error> {
        self.until("recv", 600_000, |rig| match rig.recv_once(h, true) {
            Err(Error::WouldBlock) => None,
            r => Some(r),
        })
    }

    /// `queue_mode_rx_off`, recorded.
    pub fn rx_off(&mut self, h: SocketHandle) -> Result<(), Error> {
        let r = self.net.queue_mode_rx_off(h);
        self.rec.rx_off(h, &r);
        r
    }

    pub fn echo_ok(&mut self, h: SocketHandle, data: &[u8]) {
        assert_eq!(self.send(h, data), Ok(data.len()));
        assert_eq!(self.recv(h).unwrap(), data);
    }

    pub fn random_datagram(&mut self, min: usize, max: usize) -> Vec<u8> {
        let len = self.rng.range(min, max);
        (0..len).map(|_| self.rng.next_u64() as u8).collect()
    }

    pub fn outstanding(&self, h: SocketHandle) -> usize {
        self.expect.get(&h).map_or(0, |m| m.values().sum())
    }

    /// The contract's ledger: every datagram reported sent reached the server, and
    /// every unexpected datagram a socket received is one the server echoed.
    pub fn check_sent_reached_server(&self) {
        let wall = WallInstant::now();
        let want: usize = self.sent.values().sum();
        while self.echo.count() < want && wall.elapsed() < WALL_LIMIT {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut got = Ledger::new();
        for d in self.echo.received() {
            *got.entry(d).or_default() += 1;
        }
        for (d, n) in &self.sent {
            let have = got.get(d).copied().unwrap_or(0);
            assert!(
                have >= *n,
                "the driver reported a {}-byte datagram sent {n} time(s), the server got it {have} time(s)",
                d.len()
            );
        }
        for (h, d) in &self.unexpected {
            assert!(
                got.contains_key(d),
                "socket {h:?} received {} bytes the server never echoed",
                d.len()
            );
        }
    }

    /// Drop expectations (after a fault made echoes uncertain).
    pub fn forget_expected(&mut self) {
        self.expect.clear();
    }
}
