//! A simulated nRF91 running the Serial Modem 1.99 (feature `sim`, host only): it
//! reads the driver's bytes from an in-process UART and answers as the pinned
//! firmware does (`modems/nrf91_slm/README.md`), with each socket backed by a real
//! UDP socket on the loopback address.
//!
//! What it does, and what it assumes where the documentation is silent:
//!
//! * **Boot**: at power-on (and after [`Fault::Reboot`]) it hears nothing for
//!   [`Nrf91SimConfig::boot_ms`], then prints `Ready`. Echo is off (the Serial
//!   Modem's default; `ATE1`/`ATE0` switch it), `AT+CMEE=0`, `AT+CEREG=0`,
//!   `AT+CGEREP=0`, the radio off (`AT+CFUN=0`), no sockets, no automatic
//!   reception, no `#XAPOLL`.
//! * **Command lines** end at `\r` (`CONFIG_SM_CR_TERMINATION`); bytes before `AT` on
//!   a line are ignored, so a lone `\n`, `+++` or a run of `\r` is nothing. Unknown
//!   commands answer `ERROR`. Errors of the modem firmware's own commands (`+C...`)
//!   are `+CME ERROR: <n>` with `AT+CMEE=1`; the Serial Modem's `#X` commands answer
//!   a plain `ERROR` whatever `+CMEE` says.
//! * **URCs are held back** while a command runs (they follow its final answer) and
//!   during data mode (they follow `#XDATAMODE`). Pushed datagrams are not held by a
//!   command (they can come before its answer) but never enter data mode.
//! * **Radio and registration**: `AT+CFUN=1` starts the search (`+CEREG: 2`); the
//!   SIM answers `AT+CPIN?` with `READY` [`Nrf91SimConfig::sim_ready_ms`] later
//!   (`+CME ERROR: 10` before); registration comes
//!   [`Nrf91SimConfig::register_ms`] after `AT+CFUN=1` (`+CEREG: 1`), and the
//!   default bearer (cid 0) [`Nrf91SimConfig::pdn_ms`] after that (`+CGEV: ME PDN
//!   ACT 0`). `AT+CFUN=0`/`4` detaches. `AT+CEREG?` → `+CEREG: <n>,<stat>` (n ≥ 2
//!   adds tac, ci, AcT when registered), URC `+CEREG: <stat>`. `AT+CESQ` →
//!   `+CESQ: 99,99,255,255,<rsrq>,<rsrp>`.
//! * **Contexts**: cid 0 always exists; `AT+CGDCONT=<cid>,"<type>","<apn>"` defines
//!   1..=10. `AT+CGPADDR=<cid>` → `+CGPADDR: <cid>,"<ip>"` when active (IPv6 as
//!   `0:0:0:0:0:0:0:1` for `IPV6`/`IPV4V6`), `+CGPADDR: <cid>` when not, `ERROR`
//!   for an undefined cid. `AT+CGACT` is refused for cid 0 (`+CME ERROR: 0`: the
//!   modem manages the default bearer); for cid ≥ 1 it answers `OK` after
//!   [`Latency::activate_ms`] and then `+CGEV: ME PDN ACT <cid>` (`ME PDN DEACT`
//!   when deactivating an active context; `ERROR` while not registered).
//! * **Sockets**: handles are the lowest free of 0..=7 (the modem library's file
//!   descriptors). `AT#XSOCKET=<1|2>,2,0[,<cid>]` → `#XSOCKET: <h>,2,17`, `OK`
//!   (`ERROR` when all 8 are taken, for other types, or a cid > 10);
//!   `AT#XBIND=<h>,<port>` binds the loopback UDP socket (`ERROR` if the port is
//!   taken); `AT#XCONNECT=<h>,"<host>",<port>` resolves with the host's resolver
//!   (`*.invalid` never resolves) after [`Latency::connect_ms`] →
//!   `#XCONNECT: <h>,1`, `OK`, or `ERROR` (no resolution, wrong family, the
//!   socket's context not active). `AT#XCLOSE=<h>` → `#XCLOSE: <h>,0`, `OK`
//!   (`ERROR` for an unknown handle); `AT#XCLOSE` closes all, one line each.
//!   `AT#XSOCKET?` lists them.
//! * **Release assistance**: `AT#XSOCKETOPT=<h>,1,61,<1..5>` (`AT_SO_RAI` set) →
//!   `OK` for an allocated handle (the firmware passes it to `setsockopt` on the
//!   socket, connected or not), `ERROR` for an unknown handle or another value;
//!   recorded ([`Nrf91Sim::release_assistance`]) and otherwise without effect (no
//!   radio state is simulated). Other socket options, and gets, answer `ERROR`
//!   (not simulated).
//! * **Send**: `AT#XSEND=<h>,2,<flags>,<len>` answers `OK` and enters data mode,
//!   takes exactly `len` bytes (nothing in them is special), sends one datagram
//!   and leaves with `#XDATAMODE: 0`, or `+++` and `#XDATAMODE: -1` when the send
//!   fails (not registered, the socket hung up or its context gone, longer than
//!   the simulated network's 1460-byte MTU, [`Fault::SendFail`]). Without a length
//!   data mode ends at `+++` (no guard time simulated). `len` over the 4 KiB
//!   data-mode buffer, an unknown handle or a socket that is not connected:
//!   `ERROR`. The string form `AT#XSEND=<h>,0,<flags>,"<text>"` answers
//!   `#XSEND: <h>,0,<n>`, `OK`. The data-mode inactivity flush (a pause in the
//!   payload splits the datagram) is not simulated.
//! * **Receive**: datagrams wait in the socket (as in the modem's buffer) until
//!   pushed or read. `AT#XRECVCFG=[<h>],<flags>[,<hex>]` with flags bit 0 turns on
//!   automatic reception (binary only): `#XRECV: <h>,0,<size>` + bytes + CR LF,
//!   pushed in AT-command mode only. A zero-length datagram is pushed as a bare
//!   CR LF and stops automatic reception for that socket until a read returns data
//!   (the firmware re-arms only after a non-empty receive). `AT#XRECVFROM=<h>,0,
//!   <flags>[,<timeout>]` → `#XRECVFROM: <h>,0,<size>,"<ip>",<port>` + bytes + CR
//!   LF `OK`; a zero-length datagram gives a bare `OK`; nothing waiting `ERROR` (at
//!   once with `MSG_DONTWAIT` (64), else after the timeout, without waiting for
//!   data meanwhile). `AT#XRECV` is the same without the address. Datagrams
//!   longer than 2048 bytes are cut to 2048, as the firmware's `recv` into its
//!   2048-byte buffer does.
//! * **Unconnected sockets**: `AT#XSENDTO=<h>,2,<flags>,"<host>",<port>,<len>`
//!   on a socket that is not connected (bound with `AT#XBIND`, or bound to a port
//!   the system chooses on its first send) enters data mode like `AT#XSEND` and
//!   sends the datagram to `<host>` (resolved as for `AT#XCONNECT`); the string
//!   form answers `#XSENDTO: <h>,0,<n>`, `OK`. Datagrams for such a socket name
//!   their sender: pushed as `#XRECVFROM: <h>,0,<size>,"<ip>",<port>` + bytes + CR
//!   LF, read with `AT#XRECVFROM` in the same form.
//! * **DNS**: `AT#XGETADDRINFO="<host>"[,<family>]` (family 0 any, 1 IPv4, 2 IPv6)
//!   answers after [`Latency::connect_ms`] `#XGETADDRINFO: "<ip>[ <ip>...]"`, `OK`
//!   with every address the host's resolver gives (IPv4 first), or
//!   `#XGETADDRINFO: "DNS failure"`, `ERROR` when the name does not resolve
//!   (`*.invalid` never does), the modem is not registered, or [`Fault::DnsFail`]
//!   asked for a failure.
//! * **`#XAPOLL`**: `AT#XAPOLL=[<h>],1[,<events>]`. `#XAPOLL: <h>,1` (`POLLIN`, if
//!   asked for) when data waits, once: re-armed by a read that returns data and at
//!   the end of data mode (as the firmware's one-shot poll callbacks are).
//!   Closure (`POLLHUP`, 16) is always reported, once.
//!
//! Faults ([`Fault`]) in the Serial Modem's words: `Ready` after a reboot,
//! `+CGEV: NW PDN DEACT <cid>` for each context that has sockets (the default
//! bearer comes back by itself [`Nrf91SimConfig::reactivate_ms`] later, with `+CGEV:
//! ME PDN ACT 0`; a context of one's own needs `AT+CGACT`), `#XAPOLL: <h>,16` for a
//! socket closed by the network (the handle stays until `AT#XCLOSE=<h>`),
//! `+CEREG: 2` / `+CEREG: 1`, `+++` `#XDATAMODE: -1` for a refused send.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};

use crate::sim::at::{command, framed, split_args, Arg, Form};
use crate::sim::udp::{self, Recv};
use crate::sim::{
    pipe, to_instant_ceil, to_nanos, Fault, FaultSchedule, HostUart, Line, ModemPort, Nanos,
    SendPoint, SimModem, SimStats, Timeline, NS_PER_MS,
};
use crate::time::Instant;

/// Handles 0..=7.
pub const SOCKETS: usize = 8;
/// Largest datagram the simulated network carries (a longer one fails the send).
pub const MAX_SEND: usize = 1460;
/// The data-mode buffer: a longer announced length is refused.
pub const DATA_MODE_BUF: usize = 4096;
/// Largest datagram handed to the host (`sm_data_buf`).
pub const MAX_RECV: usize = 2048;
/// Longest command line kept; longer lines are thrown away.
pub const MAX_LINE: usize = 4096;
/// Longest host name `AT#XCONNECT` takes.
pub const MAX_HOST: usize = 127;
/// Context ids 0..=10.
pub const CONTEXTS: usize = 11;

const POLLIN: u8 = 1;
const POLLHUP: u8 = 16;
const MSG_DONTWAIT: u32 = 64;

/// How long the simulated modem takes, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    /// From the end of a command line to its answer.
    pub response_ms: u32,
    /// `AT#XCONNECT` (name resolution) to its answer.
    pub connect_ms: u32,
    /// `AT+CGACT` to its `OK`.
    pub activate_ms: u32,
    /// From the last payload byte to `#XDATAMODE`.
    pub send_ms: u32,
    /// `AT#XCLOSE` to its answer.
    pub close_ms: u32,
}

impl Latency {
    /// Everything answered at once.
    pub const ZERO: Latency = Latency {
        response_ms: 0,
        connect_ms: 0,
        activate_ms: 0,
        send_ms: 0,
        close_ms: 0,
    };
}

impl Default for Latency {
    /// A quick modem on a good network: 2 ms answers, 20 ms connects (DNS), 300 ms
    /// activation.
    fn default() -> Self {
        Latency {
            response_ms: 2,
            connect_ms: 20,
            activate_ms: 300,
            send_ms: 5,
            close_ms: 5,
        }
    }
}

/// The modem's state when the simulation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Start {
    /// Just powered on: silent until `Ready`, radio off.
    #[default]
    PowerOn,
    /// Up for a while, configured by an earlier MCU run (`+CMEE=1`, `+CEREG=1`,
    /// `+CGEREP=1`), radio on, registered, the default bearer active, no banner;
    /// [`Nrf91SimConfig::leftover_sockets`] sockets still open.
    Running,
}

/// How the simulated nRF91 behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nrf91SimConfig {
    /// Answer times.
    pub latency: Latency,
    /// State at the start.
    pub start: Start,
    /// From power-on or reboot to `Ready`.
    pub boot_ms: u32,
    /// From `AT+CFUN=1` to the SIM answering `READY`.
    pub sim_ready_ms: u32,
    /// From `AT+CFUN=1` to registration.
    pub register_ms: u32,
    /// From registration to the default bearer (cid 0) being active.
    pub pdn_ms: u32,
    /// From the network deactivating the default bearer to the modem having it
    /// back (while registered).
    pub reactivate_ms: u32,
    /// The IPv4 address `AT+CGPADDR` reports. The sockets are bound on the loopback
    /// address.
    pub ip: String,
    /// `AT+CPIN?` can ever answer `READY` (otherwise `+CME ERROR: 10`).
    pub sim_ready: bool,
    /// Sockets an earlier MCU run left open ([`Start::Running`] only).
    pub leftover_sockets: u8,
    /// Print every command line, payload and output chunk to stderr (debugging).
    pub trace: bool,
}

impl Default for Nrf91SimConfig {
    fn default() -> Self {
        Nrf91SimConfig {
            latency: Latency::default(),
            start: Start::PowerOn,
            boot_ms: 300,
            sim_ready_ms: 100,
            register_ms: 400,
            pdn_ms: 100,
            reactivate_ms: 500,
            ip: "127.0.0.1".into(),
            sim_ready: true,
            leftover_sockets: 0,
            trace: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Context {
    /// `IP`, `IPV6` or `IPV4V6`.
    pdp_type: String,
    apn: String,
    active: bool,
}

#[derive(Debug)]
struct Sock {
    /// 1 IPv4, 2 IPv6.
    family: u8,
    cid: u8,
    udp: Option<UdpSocket>,
    remote: Option<SocketAddr>,
    lport: u16,
    /// Closed by the network: the handle stays until `AT#XCLOSE=<h>`.
    hung: bool,
    /// The socket's context was deactivated: it cannot send or receive.
    dead: bool,
    /// Datagrams waiting in the modem, with their sender.
    rxq: VecDeque<(Vec<u8>, SocketAddr)>,
    /// Automatic reception on for this socket.
    auto_recv: bool,
    /// Automatic reception armed (off after a zero-length push until a read).
    push_armed: bool,
    /// `#XAPOLL` events asked for this socket (`None`: not polled).
    poll_events: Option<u8>,
    /// `POLLIN` may be reported (one-shot).
    pollin_armed: bool,
}

#[derive(Debug)]
enum Input {
    /// Booting: bytes are lost.
    Deaf,
    /// Collecting a command line.
    Line(Vec<u8>),
    /// Collecting a payload in data mode.
    Data(Payload),
}

#[derive(Debug)]
struct Payload {
    handle: u8,
    /// `AT#XSENDTO`: the destination.
    to: Option<SocketAddr>,
    /// `Some(len)`: exactly len bytes; `None`: until `+++`.
    len: Option<usize>,
    buf: Vec<u8>,
    fail: bool,
    before_result: Vec<Vec<u8>>,
}

#[derive(Debug)]
enum Action {
    Emit(Vec<u8>),
    Boot,
    Register(u8),
    /// The default bearer (cid 0) comes up.
    DefaultBearer,
    Activated {
        cid: u8,
        answer: bool,
    },
}

#[derive(Debug, Default)]
struct Armed {
    ignore: u32,
    swallow: u32,
    send_fail: u32,
    dns_fail: u32,
    during_send: Vec<(Vec<u8>, SendPoint)>,
}

/// The simulated nRF91 with the Serial Modem.
#[derive(Debug)]
pub struct Nrf91Sim {
    port: ModemPort,
    cfg: Nrf91SimConfig,
    faults: FaultSchedule,
    timeline: Timeline<Action>,
    now: Nanos,
    input: Input,
    echo: bool,
    cmee: u8,
    cereg: u8,
    cgerep: u8,
    cfun: u8,
    reg: u8,
    sim_ready_at: Option<Nanos>,
    contexts: Vec<Option<Context>>,
    sockets: Vec<Option<Sock>>,
    /// Automatic reception for sockets opened from now on.
    auto_recv_all: bool,
    /// `#XAPOLL` events for sockets opened from now on (`None`: off).
    poll_all: Option<u8>,
    armed: Armed,
    mute: bool,
    /// URCs wait until this moment (the answer of the command in progress).
    busy_until: Nanos,
    /// URCs held back during data mode.
    held: Vec<Vec<u8>>,
    /// No push before this moment (the end of the last data mode).
    push_after: Nanos,
    stats: SimStats,
    rx_buf: Vec<u8>,
    /// Every release assistance indication taken: (handle, value).
    rai: Vec<(u8, u8)>,
}

fn ms(ms: u32) -> Nanos {
    ms as u64 * NS_PER_MS
}

/// The loopback address of a socket family.
fn loopback(family: u8) -> IpAddr {
    if family == 2 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

/// Resolve `host` to an address of the socket's family (`*.invalid` never resolves).
fn resolve(host: &str, port: u16, family: u8) -> Option<SocketAddr> {
    if family == 1 {
        return udp::resolve(host, port).filter(SocketAddr::is_ipv4);
    }
    // Names under .invalid never resolve (udp::resolve says so without asking).
    udp::resolve(host, port)?;
    (host, port)
        .to_socket_addrs()
        .ok()?
        .find(SocketAddr::is_ipv6)
}

impl Nrf91Sim {
    /// A simulated nRF91 on the modem end of a line.
    pub fn new(port: ModemPort, cfg: Nrf91SimConfig) -> Self {
        let mut sim = Nrf91Sim {
            port,
            faults: FaultSchedule::new(),
            timeline: Timeline::new(),
            now: 0,
            input: Input::Deaf,
            echo: false,
            cmee: 0,
            cereg: 0,
            cgerep: 0,
            cfun: 0,
            reg: 0,
            sim_ready_at: None,
            contexts: Vec::new(),
            sockets: (0..SOCKETS).map(|_| None).collect(),
            auto_recv_all: false,
            poll_all: None,
            armed: Armed::default(),
            mute: false,
            busy_until: 0,
            held: Vec::new(),
            push_after: 0,
            stats: SimStats::default(),
            rx_buf: vec![0u8; MAX_RECV + 1],
            rai: Vec::new(),
            cfg,
        };
        sim.reset_contexts();
        match sim.cfg.start {
            Start::PowerOn => sim.timeline.at(ms(sim.cfg.boot_ms), Action::Boot),
            Start::Running => {
                sim.input = Input::Line(Vec::new());
                sim.cmee = 1;
                sim.cereg = 1;
                sim.cgerep = 1;
                sim.cfun = 1;
                sim.reg = 1;
                sim.sim_ready_at = Some(0);
                if let Some(Some(c)) = sim.contexts.get_mut(0) {
                    c.active = true;
                }
                for _ in 0..sim.cfg.leftover_sockets.min(SOCKETS as u8) {
                    sim.new_socket(1, 0);
                }
            }
        }
        sim
    }

    /// A line and a simulated nRF91 on it: the simulator and the driver's transport.
    pub fn with_line(line: Line, cfg: Nrf91SimConfig) -> (Self, HostUart) {
        let (host, port) = pipe(line);
        (Nrf91Sim::new(port, cfg), host)
    }

    /// The configuration.
    pub fn config(&self) -> &Nrf91SimConfig {
        &self.cfg
    }

    /// Change the latencies from now on.
    pub fn set_latency(&mut self, latency: Latency) {
        self.cfg.latency = latency;
    }

    /// True while echo is on.
    pub fn echo(&self) -> bool {
        self.echo
    }

    /// True once booted (`Ready` printed).
    pub fn booted(&self) -> bool {
        !matches!(self.input, Input::Deaf)
    }

    /// True while in data mode (taking a payload).
    pub fn in_data_mode(&self) -> bool {
        matches!(self.input, Input::Data(_))
    }

    /// True while context `cid` is active.
    pub fn context_active(&self, cid: u8) -> bool {
        matches!(self.contexts.get(cid as usize), Some(Some(c)) if c.active)
    }

    /// The registration status (`<stat>` of `+CEREG`).
    pub fn registration(&self) -> u8 {
        self.reg
    }

    /// The handles the modem holds, ascending.
    pub fn handles(&self) -> Vec<u8> {
        (0..SOCKETS as u8)
            .filter(|&h| self.socket_in_use(h))
            .collect()
    }

    /// True when handle `h` is allocated (open, or hung up and not closed yet).
    pub fn socket_in_use(&self, h: u8) -> bool {
        self.sockets.get(h as usize).is_some_and(|s| s.is_some())
    }

    /// True when handle `h` is connected and can send.
    pub fn socket_connected(&self, h: u8) -> bool {
        matches!(self.sockets.get(h as usize), Some(Some(s))
            if s.remote.is_some() && s.udp.is_some() && !s.hung && !s.dead)
    }

    /// The local UDP port of handle `h` (once bound or connected).
    pub fn local_port(&self, h: u8) -> Option<u16> {
        self.sockets
            .get(h as usize)?
            .as_ref()
            .filter(|s| s.udp.is_some())
            .map(|s| s.lport)
    }

    /// Every release assistance indication the modem took
    /// (`AT#XSOCKETOPT=<h>,1,61,<value>`), in order: (handle, value). Kept across
    /// reboots.
    pub fn release_assistance(&self) -> &[(u8, u8)] {
        &self.rai
    }

    /// Datagrams waiting in the modem for handle `h`.
    pub fn waiting(&self, h: u8) -> usize {
        self.sockets
            .get(h as usize)
            .and_then(Option::as_ref)
            .map_or(0, |s| s.rxq.len())
    }

    /// Make `data` arrive for handle `h` as if from its remote (for datagrams a real
    /// socket cannot produce on demand, such as an empty one from the peer). False
    /// when the handle is not connected.
    pub fn deliver(&mut self, h: u8, data: &[u8]) -> bool {
        let registered = self.registered();
        match self.sockets.get_mut(h as usize) {
            Some(Some(s)) if s.remote.is_some() && !s.hung && !s.dead => {
                if registered {
                    let n = data.len().min(MAX_RECV);
                    let from = s.remote.unwrap_or(SocketAddr::new(loopback(s.family), 0));
                    s.rxq
                        .push_back((data.get(..n).unwrap_or_default().to_vec(), from));
                    self.stats.datagrams_in += 1;
                    self.stats.bytes_in += n as u64;
                } else {
                    self.stats.datagrams_lost += 1;
                }
                true
            }
            _ => false,
        }
    }

    /// The line's modem end (for dropping bytes or looking at counters).
    pub fn port(&mut self) -> &mut ModemPort {
        &mut self.port
    }

    fn reset_contexts(&mut self) {
        self.contexts = (0..CONTEXTS).map(|_| None).collect();
        if let Some(c) = self.contexts.get_mut(0) {
            *c = Some(Context {
                pdp_type: "IP".into(),
                apn: String::new(),
                active: false,
            });
        }
    }

    fn trace(&self, t: Nanos, tag: &str, bytes: &[u8]) {
        if self.cfg.trace {
            eprintln!(
                "[{:>9.3} ms] nrf91 {tag}: {}",
                t as f64 / NS_PER_MS as f64,
                crate::replay::escape(bytes)
            );
        }
    }

    fn at_ms(&self, t: Nanos) -> Instant {
        Instant::from_millis(t / NS_PER_MS)
    }

    fn registered(&self) -> bool {
        self.reg == 1 || self.reg == 5
    }

    // ----- output ------------------------------------------------------------

    /// Part of the answer to the command being acted on (lost under
    /// [`Fault::SwallowAnswer`]); URCs wait for it.
    fn answer(&mut self, at: Nanos, bytes: Vec<u8>) {
        self.busy_until = self.busy_until.max(at);
        if !self.mute {
            self.timeline.at(at, Action::Emit(bytes));
        }
    }

    /// Unsolicited output: after the answer of the command in progress, or after
    /// data mode.
    fn urc(&mut self, t: Nanos, bytes: Vec<u8>) {
        if matches!(self.input, Input::Data(_)) {
            self.held.push(bytes);
        } else {
            let at = t.max(self.busy_until);
            self.timeline.at(at, Action::Emit(bytes));
        }
    }

    fn reply_at(&self, t: Nanos) -> Nanos {
        t + ms(self.cfg.latency.response_ms)
    }

    fn ok(&mut self, t: Nanos) {
        let at = self.reply_at(t);
        self.answer(at, b"\r\nOK\r\n".to_vec());
    }

    fn error(&mut self, t: Nanos) {
        let at = self.reply_at(t);
        self.answer(at, b"\r\nERROR\r\n".to_vec());
    }

    /// An error of the modem firmware's own commands.
    fn cme(&mut self, t: Nanos, code: u16) {
        if self.cmee == 0 {
            return self.error(t);
        }
        let at = self.reply_at(t);
        self.answer(at, format!("\r\n+CME ERROR: {code}\r\n").into_bytes());
    }

    fn info_ok(&mut self, t: Nanos, lines: &[String]) {
        let mut out = framed(lines);
        out.extend_from_slice(b"\r\nOK\r\n");
        let at = self.reply_at(t);
        self.answer(at, out);
    }

    fn cereg_urc(&mut self, t: Nanos) {
        match self.cereg {
            0 => {}
            1 => self.urc(t, format!("\r\n+CEREG: {}\r\n", self.reg).into_bytes()),
            _ if self.registered() => self.urc(
                t,
                format!("\r\n+CEREG: {},\"0140\",\"000AEB3A\",7\r\n", self.reg).into_bytes(),
            ),
            _ => self.urc(t, format!("\r\n+CEREG: {}\r\n", self.reg).into_bytes()),
        }
    }

    fn cgev(&mut self, t: Nanos, event: &str) {
        if self.cgerep != 0 {
            self.urc(t, format!("\r\n+CGEV: {event}\r\n").into_bytes());
        }
    }

    // ----- the step ------------------------------------------------------------

    fn run_events(&mut self) {
        loop {
            let byte = self.port.next_from_host().filter(|&t| t <= self.now);
            let action = self.timeline.next_time().filter(|&t| t <= self.now);
            match (byte, action) {
                (None, None) => break,
                (Some(b), Some(a)) if a <= b => self.run_action(),
                (Some(_), _) => {
                    if let Some((t, b)) = self.port.recv(self.now) {
                        self.on_byte(t, b);
                    }
                }
                (None, Some(_)) => self.run_action(),
            }
        }
    }

    fn run_action(&mut self) {
        let Some((t, action)) = self.timeline.pop_due(self.now) else {
            return;
        };
        match action {
            Action::Emit(bytes) => {
                self.trace(t, "M", &bytes);
                self.port.send(t, &bytes)
            }
            Action::Boot => {
                self.input = Input::Line(Vec::new());
                self.trace(t, "M", b"\r\nReady\r\n");
                self.port.send(t, b"\r\nReady\r\n");
            }
            Action::Register(stat) => {
                if self.cfun != 1 || self.reg == stat {
                    return;
                }
                self.reg = stat;
                self.cereg_urc(t);
                if self.registered() && !self.context_active(0) {
                    self.timeline
                        .at(t + ms(self.cfg.pdn_ms), Action::DefaultBearer);
                }
            }
            Action::DefaultBearer => {
                if self.cfun == 1 && self.registered() && !self.context_active(0) {
                    if let Some(Some(c)) = self.contexts.get_mut(0) {
                        c.active = true;
                    }
                    self.cgev(t, "ME PDN ACT 0");
                }
            }
            Action::Activated { cid, answer } => {
                if let Some(Some(c)) = self.contexts.get_mut(cid as usize) {
                    c.active = true;
                }
                if answer {
                    self.trace(t, "M", b"\r\nOK\r\n");
                    self.port.send(t, b"\r\nOK\r\n");
                }
                self.cgev(t, &format!("ME PDN ACT {cid}"));
            }
        }
    }

    fn on_byte(&mut self, t: Nanos, b: u8) {
        match &mut self.input {
            Input::Deaf => {}
            Input::Line(buf) => {
                if self.echo {
                    self.port.send(t, &[b]);
                }
                match b {
                    b'\r' => {
                        let line = std::mem::take(buf);
                        self.on_line(t, line);
                    }
                    b'\n' => {}
                    _ if buf.len() >= MAX_LINE => buf.clear(),
                    _ => buf.push(b),
                }
            }
            Input::Data(p) => {
                p.buf.push(b);
                let done = match p.len {
                    Some(len) => p.buf.len() >= len,
                    None if p.buf.ends_with(b"+++") => {
                        p.buf.truncate(p.buf.len() - 3);
                        true
                    }
                    // Terminator mode: what does not fit the buffer is lost.
                    None => {
                        if p.buf.len() > DATA_MODE_BUF + 3 {
                            p.buf.remove(0);
                        }
                        false
                    }
                };
                if done {
                    self.finish_send(t);
                }
            }
        }
    }

    fn on_line(&mut self, t: Nanos, raw: Vec<u8>) {
        let Some(start) = raw.windows(2).position(|w| w.eq_ignore_ascii_case(b"AT")) else {
            return;
        };
        self.trace(t, "H", &raw);
        let line = raw.get(start..).unwrap_or_default();
        self.stats.commands += 1;
        let now = self.at_ms(t);
        for f in self.faults.on_line(now, line) {
            self.apply(t, f);
        }
        if !matches!(self.input, Input::Line(_)) {
            return; // rebooted by a fault
        }
        if self.armed.ignore > 0 {
            self.armed.ignore -= 1;
            return;
        }
        self.mute = self.armed.swallow > 0;
        if self.mute {
            self.armed.swallow -= 1;
        }
        let text = String::from_utf8_lossy(line).into_owned();
        self.execute(t, &text);
        self.mute = false;
    }

    fn execute(&mut self, t: Nanos, line: &str) {
        let Some((name, form)) = command(line) else {
            return self.error(t);
        };
        match (name.as_str(), form) {
            ("AT", Form::Exec) => self.ok(t),
            ("ATE0" | "ATE", Form::Exec) => {
                self.echo = false;
                self.ok(t)
            }
            ("ATE1", Form::Exec) => {
                self.echo = true;
                self.ok(t)
            }
            ("AT+CGMM", Form::Exec) => self.info_ok(t, &["nRF9151-LACA".into()]),
            ("AT+CGMR", Form::Exec) => self.info_ok(t, &["mfw_nrf91x1_2.0.2".into()]),
            ("AT+CMEE", Form::Set(a)) => match a.trim().parse::<u8>() {
                Ok(n @ 0..=1) => {
                    self.cmee = n;
                    self.ok(t)
                }
                _ => self.error(t),
            },
            ("AT+CMEE", Form::Read) => self.info_ok(t, &[format!("+CMEE: {}", self.cmee)]),
            ("AT+CEREG", Form::Set(a)) => match a.trim().parse::<u8>() {
                Ok(n @ 0..=5) => {
                    self.cereg = n;
                    self.ok(t)
                }
                _ => self.cme(t, 50),
            },
            ("AT+CEREG", Form::Read) => {
                let line = if self.cereg >= 2 && self.registered() {
                    format!(
                        "+CEREG: {},{},\"0140\",\"000AEB3A\",7",
                        self.cereg, self.reg
                    )
                } else {
                    format!("+CEREG: {},{}", self.cereg, self.reg)
                };
                self.info_ok(t, &[line])
            }
            ("AT+CGEREP", Form::Set(a)) => match a.trim().parse::<u8>() {
                Ok(n @ 0..=1) => {
                    self.cgerep = n;
                    self.ok(t)
                }
                _ => self.cme(t, 50),
            },
            ("AT+CGEREP", Form::Read) => self.info_ok(t, &[format!("+CGEREP: {},0", self.cgerep)]),
            ("AT+CFUN", Form::Set(a)) => self.cfun_set(t, a),
            ("AT+CFUN", Form::Read) => self.info_ok(t, &[format!("+CFUN: {}", self.cfun)]),
            ("AT+CPIN", Form::Read) => {
                let ready = self.cfg.sim_ready
                    && self.cfun != 0
                    && self.sim_ready_at.is_some_and(|at| at <= t);
                if ready {
                    self.info_ok(t, &["+CPIN: READY".into()])
                } else {
                    self.cme(t, 10)
                }
            }
            ("AT+CESQ", Form::Exec) => {
                let line = if self.registered() {
                    "+CESQ: 99,99,255,255,20,52"
                } else {
                    "+CESQ: 99,99,255,255,255,255"
                };
                self.info_ok(t, &[line.into()])
            }
            ("AT+CGDCONT", Form::Set(a)) => self.cgdcont(t, a),
            ("AT+CGDCONT", Form::Read) => {
                let lines = self
                    .contexts
                    .iter()
                    .enumerate()
                    .filter_map(|(cid, c)| {
                        let c = c.as_ref()?;
                        Some(format!("+CGDCONT: {cid},\"{}\",\"{}\"", c.pdp_type, c.apn))
                    })
                    .collect::<Vec<_>>();
                self.info_ok(t, &lines)
            }
            ("AT+CGPADDR", Form::Set(a)) => self.cgpaddr(t, a),
            ("AT+CGACT", Form::Set(a)) => self.cgact(t, a),
            ("AT#XSOCKET", Form::Set(a)) => self.xsocket(t, a),
            ("AT#XSOCKET", Form::Read) => {
                let lines = (0..SOCKETS)
                    .filter_map(|h| {
                        let s = self.sockets.get(h)?.as_ref()?;
                        Some(format!("#XSOCKET: {h},{},0,2,{}", s.family, s.cid))
                    })
                    .collect::<Vec<_>>();
                self.info_ok(t, &lines)
            }
            ("AT#XBIND", Form::Set(a)) => self.xbind(t, a),
            ("AT#XCONNECT", Form::Set(a)) => self.xconnect(t, a),
            ("AT#XCLOSE", Form::Exec) => self.xclose_all(t),
            ("AT#XCLOSE", Form::Set(a)) => self.xclose(t, a),
            ("AT#XSOCKETOPT", Form::Set(a)) => self.xsocketopt(t, a),
            ("AT#XSEND", Form::Set(a)) => self.xsend(t, a),
            ("AT#XSENDTO", Form::Set(a)) => self.xsendto(t, a),
            ("AT#XGETADDRINFO", Form::Set(a)) => self.xgetaddrinfo(t, a),
            ("AT#XRECVFROM", Form::Set(a)) => self.xrecv(t, a, true),
            ("AT#XRECV", Form::Set(a)) => self.xrecv(t, a, false),
            ("AT#XRECVCFG", Form::Set(a)) => self.xrecvcfg(t, a),
            ("AT#XAPOLL", Form::Set(a)) => self.xapoll(t, a),
            _ => self.error(t),
        }
    }

    // ----- radio and contexts ----------------------------------------------------

    fn cfun_set(&mut self, t: Nanos, a: &str) {
        match a.trim().parse::<u8>() {
            Ok(1) => {
                if self.cfun != 1 {
                    self.cfun = 1;
                    self.sim_ready_at = Some(t + ms(self.cfg.sim_ready_ms));
                    self.reg = 2;
                    self.ok(t);
                    self.cereg_urc(t);
                    self.timeline
                        .at(t + ms(self.cfg.register_ms), Action::Register(1));
                } else {
                    self.ok(t);
                }
            }
            Ok(n @ (0 | 4)) => {
                let was_on = self.cfun == 1;
                self.cfun = n;
                if n == 0 {
                    self.sim_ready_at = None;
                }
                self.ok(t);
                if was_on {
                    self.detach(t);
                }
            }
            _ => self.cme(t, 50),
        }
    }

    /// Radio off: no registration, no context, sockets dead.
    fn detach(&mut self, t: Nanos) {
        self.timeline.retain(|a| {
            !matches!(
                a,
                Action::Register(_) | Action::DefaultBearer | Action::Activated { .. }
            )
        });
        self.reg = 0;
        for c in self.contexts.iter_mut().flatten() {
            c.active = false;
        }
        for s in self.sockets.iter_mut().flatten() {
            s.dead = true;
            s.udp = None;
            s.rxq.clear();
        }
        self.cereg_urc(t);
        self.cgev(t, "ME DETACH");
    }

    fn cgdcont(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.cme(t, 50);
        };
        let cid = args.first().and_then(Arg::num).map(|c| c as usize);
        let Some(cid) = cid.filter(|&c| c < CONTEXTS) else {
            return self.cme(t, 50);
        };
        match args.as_slice() {
            // AT+CGDCONT=<cid>: undefine (not the default bearer).
            [_] if cid > 0 => {
                if let Some(c) = self.contexts.get_mut(cid) {
                    *c = None;
                }
                self.ok(t)
            }
            [_, ty, rest @ ..] if ty.quoted => {
                let ty = ty.text.to_ascii_uppercase();
                if !matches!(ty.as_str(), "IP" | "IPV6" | "IPV4V6") {
                    return self.cme(t, 50);
                }
                let apn = rest.first().map(|a| a.text.clone()).unwrap_or_default();
                let active = self.context_active(cid as u8);
                if let Some(c) = self.contexts.get_mut(cid) {
                    *c = Some(Context {
                        pdp_type: ty,
                        apn,
                        active,
                    });
                }
                self.ok(t)
            }
            _ => self.cme(t, 50),
        }
    }

    fn cgpaddr(&mut self, t: Nanos, a: &str) {
        let cid = a.trim().parse::<usize>().ok().filter(|&c| c < CONTEXTS);
        let Some(cid) = cid else {
            return self.cme(t, 50);
        };
        let line = match self.contexts.get(cid) {
            Some(Some(c)) if c.active => match c.pdp_type.as_str() {
                "IPV6" => format!("+CGPADDR: {cid},\"0:0:0:0:0:0:0:1\""),
                "IPV4V6" => format!("+CGPADDR: {cid},\"{}\",\"0:0:0:0:0:0:0:1\"", self.cfg.ip),
                _ => format!("+CGPADDR: {cid},\"{}\"", self.cfg.ip),
            },
            Some(Some(_)) => format!("+CGPADDR: {cid}"),
            _ => return self.cme(t, 50),
        };
        self.info_ok(t, &[line])
    }

    fn cgact(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.cme(t, 50);
        };
        let (Some(state), Some(cid)) = (
            args.first().and_then(Arg::num),
            args.get(1).and_then(Arg::num),
        ) else {
            return self.cme(t, 50);
        };
        let cid = cid as u8;
        // The default bearer is the modem's: "could not be activated or deactivated".
        if cid == 0 || state > 1 || !matches!(self.contexts.get(cid as usize), Some(Some(_))) {
            return self.cme(t, 0);
        }
        let active = self.context_active(cid);
        match state {
            1 if active => self.ok(t),
            1 if !self.registered() => self.cme(t, 0),
            1 => {
                let at = t + ms(self.cfg.latency.activate_ms);
                self.busy_until = self.busy_until.max(at);
                self.timeline.at(
                    at,
                    Action::Activated {
                        cid,
                        answer: !self.mute,
                    },
                );
            }
            _ => {
                self.timeline
                    .retain(|a| !matches!(a, Action::Activated { cid: c, .. } if *c == cid));
                self.deactivate(cid);
                let at = t + ms(self.cfg.latency.activate_ms);
                self.answer(at, b"\r\nOK\r\n".to_vec());
                if active {
                    self.cgev(at, &format!("ME PDN DEACT {cid}"));
                }
            }
        }
    }

    /// Context `cid` is gone: its sockets can neither send nor receive.
    fn deactivate(&mut self, cid: u8) {
        if let Some(Some(c)) = self.contexts.get_mut(cid as usize) {
            c.active = false;
        }
        for s in self.sockets.iter_mut().flatten() {
            if s.cid == cid {
                s.dead = true;
                s.udp = None;
                s.rxq.clear();
            }
        }
    }

    // ----- sockets ---------------------------------------------------------------

    fn new_socket(&mut self, family: u8, cid: u8) -> Option<u8> {
        let h = self.sockets.iter().position(Option::is_none)?;
        let slot = self.sockets.get_mut(h)?;
        *slot = Some(Sock {
            family,
            cid,
            udp: None,
            remote: None,
            lport: 0,
            hung: false,
            dead: false,
            rxq: VecDeque::new(),
            auto_recv: self.auto_recv_all,
            push_armed: true,
            poll_events: self.poll_all,
            pollin_armed: true,
        });
        u8::try_from(h).ok()
    }

    /// The socket with handle `args[0]`.
    fn handle_arg(&self, args: &[Arg]) -> Option<u8> {
        let h = args.first()?.num()?;
        let h = u8::try_from(h).ok()?;
        self.socket_in_use(h).then_some(h)
    }

    fn xsocket(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let num = |i: usize| args.get(i).and_then(Arg::num);
        let cid = match args.get(3) {
            None => Some(0),
            Some(c) => c.num().filter(|&c| (c as usize) < CONTEXTS),
        };
        let (Some(family @ 1..=2), Some(2), Some(0), Some(cid), true) =
            (num(0), num(1), num(2), cid, args.len() <= 4)
        else {
            // Other types and roles are not simulated.
            return self.error(t);
        };
        match self.new_socket(family as u8, cid as u8) {
            Some(h) => self.info_ok(t, &[format!("#XSOCKET: {h},2,17")]),
            None => self.error(t),
        }
    }

    fn xbind(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let port = args.get(1).and_then(Arg::num).filter(|&p| p <= 65535);
        let (Some(h), Some(port), 2) = (self.handle_arg(&args), port, args.len()) else {
            return self.error(t);
        };
        let Some(Some(s)) = self.sockets.get_mut(h as usize) else {
            return self.error(t);
        };
        if s.udp.is_some() || s.hung || s.dead {
            return self.error(t);
        }
        let bound = UdpSocket::bind(SocketAddr::new(loopback(s.family), port as u16))
            .and_then(|u| u.set_nonblocking(true).map(|_| u));
        match bound {
            Ok(u) => {
                s.lport = u.local_addr().map(|a| a.port()).unwrap_or(0);
                s.udp = Some(u);
                self.ok(t)
            }
            Err(_) => self.error(t),
        }
    }

    fn xconnect(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let host = args.get(1).filter(|h| {
            h.quoted && !h.text.is_empty() && h.text.len() <= MAX_HOST && !h.text.contains(' ')
        });
        let port = args
            .get(2)
            .and_then(Arg::num)
            .filter(|p| (1..=65535).contains(p));
        let (Some(h), Some(host), Some(port), 3) = (self.handle_arg(&args), host, port, args.len())
        else {
            return self.error(t);
        };
        let host = host.text.clone();
        let at = self.reply_at(t).max(t + ms(self.cfg.latency.connect_ms));
        let fail = |sim: &mut Self| sim.answer(at, b"\r\nERROR\r\n".to_vec());
        let registered = self.registered();
        let (family, cid, hung, dead) = match self.sockets.get(h as usize) {
            Some(Some(s)) => (s.family, s.cid, s.hung, s.dead),
            _ => return fail(self),
        };
        if hung || dead || !registered || !self.context_active(cid) {
            return fail(self);
        }
        let Some(remote) = resolve(&host, port as u16, family) else {
            return fail(self);
        };
        let Some(Some(s)) = self.sockets.get_mut(h as usize) else {
            return fail(self);
        };
        let sock = match s.udp.take() {
            Some(u) => Ok(u),
            None => UdpSocket::bind(SocketAddr::new(loopback(family), 0))
                .and_then(|u| u.set_nonblocking(true).map(|_| u)),
        };
        let connected = sock.and_then(|u| u.connect(remote).map(|_| u));
        match connected {
            Ok(u) => {
                s.lport = u.local_addr().map(|a| a.port()).unwrap_or(0);
                s.udp = Some(u);
                s.remote = Some(remote);
                let mut out = framed(&[format!("#XCONNECT: {h},1")]);
                out.extend_from_slice(b"\r\nOK\r\n");
                self.answer(at, out);
            }
            Err(_) => fail(self),
        }
    }

    fn xclose(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let (Some(h), 1) = (self.handle_arg(&args), args.len()) else {
            return self.error(t);
        };
        if let Some(s) = self.sockets.get_mut(h as usize) {
            *s = None;
        }
        let mut out = framed(&[format!("#XCLOSE: {h},0")]);
        out.extend_from_slice(b"\r\nOK\r\n");
        let at = self.reply_at(t).max(t + ms(self.cfg.latency.close_ms));
        self.answer(at, out);
    }

    /// `AT#XSOCKETOPT=<h>,1,61,<value>`: release assistance (`AT_SO_RAI`), values
    /// 1..=5 (`RAI_NO_DATA` ... `RAI_WAIT_MORE`). Nothing else is simulated.
    fn xsocketopt(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let num = |i: usize| args.get(i).and_then(Arg::num);
        let (Some(h), Some(1), Some(61), Some(value @ 1..=5), 4) =
            (self.handle_arg(&args), num(1), num(2), num(3), args.len())
        else {
            return self.error(t);
        };
        self.rai.push((h, value as u8));
        self.ok(t)
    }

    fn xclose_all(&mut self, t: Nanos) {
        let lines = self
            .handles()
            .into_iter()
            .map(|h| format!("#XCLOSE: {h},0"))
            .collect::<Vec<_>>();
        for s in self.sockets.iter_mut() {
            *s = None;
        }
        let mut out = framed(&lines);
        out.extend_from_slice(b"\r\nOK\r\n");
        let at = self.reply_at(t).max(t + ms(self.cfg.latency.close_ms));
        self.answer(at, out);
    }

    fn xrecvcfg(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let flags = args.get(1).and_then(Arg::num);
        let hex = match args.get(2) {
            None => Some(0),
            Some(h) => h.num(),
        };
        let (Some(flags @ 0..=3), Some(0), 2..=3) = (flags, hex, args.len()) else {
            // Hex reception is not simulated.
            return self.error(t);
        };
        let on = flags & 1 != 0;
        match args.first() {
            Some(h) if h.is_empty() => {
                self.auto_recv_all = on;
                for s in self.sockets.iter_mut().flatten() {
                    s.auto_recv = on;
                }
            }
            _ => match self.handle_arg(&args) {
                Some(h) => {
                    if let Some(Some(s)) = self.sockets.get_mut(h as usize) {
                        s.auto_recv = on;
                    }
                }
                None => return self.error(t),
            },
        }
        self.ok(t)
    }

    fn xapoll(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let op = args.get(1).and_then(Arg::num);
        let events = match args.get(2) {
            None => Some(0),
            Some(e) => e.num().filter(|&e| e <= 255),
        };
        let (Some(op @ 0..=1), Some(events)) = (op, events) else {
            return self.error(t);
        };
        let poll = (op == 1).then_some(events as u8);
        match args.first() {
            Some(h) if h.is_empty() => {
                self.poll_all = poll;
                for s in self.sockets.iter_mut().flatten() {
                    s.poll_events = poll;
                    s.pollin_armed = true;
                }
            }
            _ => match self.handle_arg(&args) {
                Some(h) => {
                    if let Some(Some(s)) = self.sockets.get_mut(h as usize) {
                        s.poll_events = poll;
                        s.pollin_armed = true;
                    }
                }
                None => return self.error(t),
            },
        }
        self.ok(t)
    }

    fn xsend(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let mode = args.get(1).and_then(Arg::num);
        let flags = args.get(2).and_then(Arg::num);
        let (Some(h), Some(mode), Some(_flags)) = (self.handle_arg(&args), mode, flags) else {
            return self.error(t);
        };
        let connected = matches!(self.sockets.get(h as usize), Some(Some(s)) if s.remote.is_some());
        if !connected || args.len() > 4 {
            return self.error(t);
        }
        match (mode, args.get(3)) {
            // String mode: the datagram is in the command.
            (0, Some(text)) if text.quoted => {
                let data = text.text.clone().into_bytes();
                let sent = if self.send_datagram(h, None, &data, false) {
                    data.len()
                } else {
                    0
                };
                self.info_ok(t, &[format!("#XSEND: {h},0,{sent}")])
            }
            (2, len) => {
                let len = match len {
                    None => None,
                    Some(l) => match l.num().map(|n| n as usize) {
                        Some(0) => None,
                        Some(n) if n <= DATA_MODE_BUF => Some(n),
                        _ => return self.error(t),
                    },
                };
                self.enter_data_mode(t, h, None, len)
            }
            _ => self.error(t),
        }
    }

    fn xsendto(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let mode = args.get(1).and_then(Arg::num);
        let flags = args.get(2).and_then(Arg::num);
        let host = args.get(3).filter(|h| h.quoted && !h.text.is_empty());
        let port = args
            .get(4)
            .and_then(Arg::num)
            .filter(|p| (1..=65535).contains(p));
        let (Some(h), Some(mode), Some(_flags), Some(host), Some(port)) =
            (self.handle_arg(&args), mode, flags, host, port)
        else {
            return self.error(t);
        };
        let (family, connected) = match self.sockets.get(h as usize) {
            Some(Some(s)) => (s.family, s.remote.is_some()),
            _ => return self.error(t),
        };
        if connected || args.len() > 6 {
            return self.error(t);
        }
        let Some(to) = resolve(&host.text.clone(), port as u16, family) else {
            return self.error(t);
        };
        // Bound on the first send if AT#XBIND did not bind it.
        if let Some(Some(s)) = self.sockets.get_mut(h as usize) {
            if s.udp.is_none() {
                match udp::open_unconnected(0, family == 2) {
                    Ok(u) => {
                        s.lport = u.local_addr().map(|a| a.port()).unwrap_or(0);
                        s.udp = Some(u);
                    }
                    Err(_) => return self.error(t),
                }
            }
        }
        match (mode, args.get(5)) {
            (0, Some(text)) if text.quoted => {
                let data = text.text.clone().into_bytes();
                let sent = if self.send_datagram(h, Some(to), &data, false) {
                    data.len()
                } else {
                    0
                };
                self.info_ok(t, &[format!("#XSENDTO: {h},0,{sent}")])
            }
            (2, len) => {
                let len = match len {
                    None => None,
                    Some(l) => match l.num().map(|n| n as usize) {
                        Some(0) => None,
                        Some(n) if n <= DATA_MODE_BUF => Some(n),
                        _ => return self.error(t),
                    },
                };
                self.enter_data_mode(t, h, Some(to), len)
            }
            _ => self.error(t),
        }
    }

    fn xgetaddrinfo(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let host = args
            .first()
            .filter(|h| h.quoted && !h.text.is_empty() && h.text.len() <= MAX_HOST);
        let family = match args.get(1) {
            None => Some(0),
            Some(f) => f.num().filter(|&f| f <= 2),
        };
        let (Some(host), Some(family), true) = (host, family, args.len() <= 2) else {
            return self.error(t);
        };
        let at = self.reply_at(t).max(t + ms(self.cfg.latency.connect_ms));
        let fail = self.armed.dns_fail > 0;
        if fail {
            self.armed.dns_fail -= 1;
        }
        let addrs: Vec<IpAddr> = if fail || !self.registered() {
            Vec::new()
        } else {
            udp::resolve_all(&host.text)
                .into_iter()
                .filter(|a| match family {
                    1 => a.is_ipv4(),
                    2 => a.is_ipv6(),
                    _ => true,
                })
                .collect()
        };
        let out = if addrs.is_empty() {
            let mut out = framed(&["#XGETADDRINFO: \"DNS failure\"".to_string()]);
            out.extend_from_slice(b"\r\nERROR\r\n");
            out
        } else {
            let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            let mut out = framed(&[format!("#XGETADDRINFO: \"{}\"", list.join(" "))]);
            out.extend_from_slice(b"\r\nOK\r\n");
            out
        };
        self.answer(at, out);
    }

    fn enter_data_mode(
        &mut self,
        t: Nanos,
        handle: u8,
        to: Option<SocketAddr>,
        len: Option<usize>,
    ) {
        let fail = self.armed.send_fail > 0;
        if fail {
            self.armed.send_fail -= 1;
        }
        let at = self.reply_at(t);
        // The OK that says "data mode entered": the prompt.
        self.answer(at, b"\r\nOK\r\n".to_vec());
        let mut after_prompt = Vec::new();
        let mut before_result = Vec::new();
        for (bytes, point) in std::mem::take(&mut self.armed.during_send) {
            match point {
                SendPoint::AfterPrompt => after_prompt.push(bytes),
                SendPoint::BeforeResult => before_result.push(bytes),
            }
        }
        self.input = Input::Data(Payload {
            handle,
            to,
            len,
            buf: Vec::with_capacity(len.unwrap_or(MAX_SEND)),
            fail,
            before_result,
        });
        for bytes in after_prompt {
            self.timeline.at(at, Action::Emit(bytes));
        }
        let now = self.at_ms(at);
        for f in self.faults.on_send(now, SendPoint::AfterPrompt) {
            self.apply(at, f);
        }
    }

    /// Send one datagram on `h` (to `to` on an unconnected socket); true when it
    /// went out.
    fn send_datagram(&mut self, h: u8, to: Option<SocketAddr>, data: &[u8], fail: bool) -> bool {
        let registered = self.registered();
        let ok = match self.sockets.get(h as usize) {
            Some(Some(s)) => {
                !fail
                    && registered
                    && !s.hung
                    && !s.dead
                    && data.len() <= MAX_SEND
                    && s.udp.as_ref().is_some_and(|u| match to {
                        Some(to) => udp::send_to(u, data, to),
                        None => udp::send(u, data),
                    })
            }
            _ => false,
        };
        if ok {
            self.stats.datagrams_out += 1;
            self.stats.bytes_out += data.len() as u64;
        } else {
            self.stats.sends_refused += 1;
        }
        ok
    }

    fn finish_send(&mut self, t: Nanos) {
        if let Input::Data(p) = &mut self.input {
            for bytes in std::mem::take(&mut p.before_result) {
                self.timeline.at(t, Action::Emit(bytes));
            }
        }
        for f in self.faults.on_send(self.at_ms(t), SendPoint::BeforeResult) {
            self.apply(t, f);
        }
        if !matches!(self.input, Input::Data(_)) {
            return; // rebooted: no result
        }
        let Input::Data(p) = std::mem::replace(&mut self.input, Input::Line(Vec::new())) else {
            return;
        };
        self.trace(t, "H (payload)", &p.buf);
        let at = t + ms(self.cfg.latency.send_ms);
        let result: &[u8] = if self.send_datagram(p.handle, p.to, &p.buf, p.fail) {
            b"\r\n#XDATAMODE: 0\r\n"
        } else {
            b"+++\r\n#XDATAMODE: -1\r\n"
        };
        self.timeline.at(at, Action::Emit(result.to_vec()));
        // Leaving data mode: held URCs follow, polls are re-armed, pushes resume.
        self.busy_until = self.busy_until.max(at);
        self.push_after = at;
        for bytes in std::mem::take(&mut self.held) {
            self.timeline.at(at, Action::Emit(bytes));
        }
        for s in self.sockets.iter_mut().flatten() {
            s.pollin_armed = true;
        }
    }

    fn xrecv(&mut self, t: Nanos, a: &str, from: bool) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let mode = args.get(1).and_then(Arg::num);
        let flags = match args.get(2) {
            None => Some(0),
            Some(f) => f.num(),
        };
        let timeout = match args.get(3) {
            None => Some(0),
            Some(s) => s.num(),
        };
        let (Some(h), Some(0), Some(flags), Some(timeout)) =
            (self.handle_arg(&args), mode, flags, timeout)
        else {
            // Hex reception is not simulated.
            return self.error(t);
        };
        let Some(Some(s)) = self.sockets.get_mut(h as usize) else {
            return self.error(t);
        };
        let Some((data, sender)) = s.rxq.pop_front() else {
            let at = if flags & MSG_DONTWAIT != 0 {
                self.reply_at(t)
            } else {
                t + ms(timeout.saturating_mul(1000))
            };
            return self.answer(at, b"\r\nERROR\r\n".to_vec());
        };
        let out = if data.is_empty() {
            // The firmware prints nothing for a zero-length receive, and re-arms
            // nothing either.
            b"\r\nOK\r\n".to_vec()
        } else {
            s.push_armed = true;
            s.pollin_armed = true;
            let mut out = match (from, sender) {
                (true, r) => format!(
                    "\r\n#XRECVFROM: {h},0,{},\"{}\",{}\r\n",
                    data.len(),
                    r.ip(),
                    r.port()
                ),
                (false, _) => format!("\r\n#XRECV: {h},0,{}\r\n", data.len()),
            }
            .into_bytes();
            out.extend_from_slice(&data);
            out.extend_from_slice(b"\r\nOK\r\n");
            out
        };
        self.stats.datagrams_delivered += 1;
        self.stats.bytes_delivered += data.len() as u64;
        let at = self.reply_at(t);
        self.answer(at, out);
    }

    // ----- network -------------------------------------------------------------

    fn poll_network(&mut self) {
        let t = self.now;
        let registered = self.registered();
        // Take what arrived into the modem's buffers.
        for s in self.sockets.iter_mut().flatten() {
            if s.hung || s.dead {
                continue;
            }
            let Some(u) = s.udp.as_ref() else {
                continue;
            };
            loop {
                let cap = self.rx_buf.len();
                // A connected socket hears its remote; an unconnected (bound) one
                // anyone, and keeps the sender.
                let (got, from) = match s.remote {
                    Some(r) => (udp::try_recv(u, &mut self.rx_buf, cap), Some(r)),
                    None => udp::try_recv_from(u, &mut self.rx_buf, cap),
                };
                let n = match got {
                    Recv::Empty => break,
                    Recv::TooLong => MAX_RECV,
                    Recv::Datagram(n) => n.min(MAX_RECV),
                };
                let from = from.unwrap_or(SocketAddr::new(loopback(s.family), 0));
                if !registered {
                    self.stats.datagrams_lost += 1;
                    continue;
                }
                self.stats.datagrams_in += 1;
                self.stats.bytes_in += n as u64;
                s.rxq
                    .push_back((self.rx_buf.get(..n).unwrap_or_default().to_vec(), from));
            }
        }
        if matches!(self.input, Input::Data(_) | Input::Deaf) || t < self.push_after {
            return;
        }
        // Hand it over: pushed, or announced.
        for h in 0..SOCKETS {
            let mut out = Vec::new();
            let mut announce = false;
            let Some(Some(s)) = self.sockets.get_mut(h) else {
                continue;
            };
            let unconnected = s.remote.is_none();
            while s.auto_recv && s.push_armed {
                let Some((data, from)) = s.rxq.pop_front() else {
                    break;
                };
                self.stats.datagrams_delivered += 1;
                self.stats.bytes_delivered += data.len() as u64;
                if data.is_empty() {
                    // No header for nothing, only the line end; reception stalls.
                    out.extend_from_slice(b"\r\n");
                    s.push_armed = false;
                } else {
                    // #XRECV for connected sockets, #XRECVFROM for unconnected ones.
                    let header = if unconnected {
                        format!(
                            "\r\n#XRECVFROM: {h},0,{},\"{}\",{}\r\n",
                            data.len(),
                            from.ip(),
                            from.port()
                        )
                    } else {
                        format!("\r\n#XRECV: {h},0,{}\r\n", data.len())
                    };
                    out.extend_from_slice(header.as_bytes());
                    out.extend_from_slice(&data);
                    out.extend_from_slice(b"\r\n");
                }
            }
            let wants_pollin = s.poll_events.is_some_and(|e| e & POLLIN != 0);
            if wants_pollin && s.pollin_armed && !s.rxq.is_empty() {
                s.pollin_armed = false;
                announce = true;
            }
            if !out.is_empty() {
                self.trace(t, "M", &out);
                self.port.send(t, &out);
            }
            if announce {
                self.urc(t, format!("\r\n#XAPOLL: {h},{POLLIN}\r\n").into_bytes());
            }
        }
    }

    // ----- faults --------------------------------------------------------------

    fn apply(&mut self, t: Nanos, fault: Fault) {
        if self.cfg.trace {
            eprintln!(
                "[{:>9.3} ms] nrf91 fault: {fault:?}",
                t as f64 / NS_PER_MS as f64
            );
        }
        match fault {
            Fault::Reboot => {
                self.stats.reboots += 1;
                self.timeline.clear();
                for s in self.sockets.iter_mut() {
                    *s = None;
                }
                self.reset_contexts();
                self.input = Input::Deaf;
                self.echo = false;
                self.cmee = 0;
                self.cereg = 0;
                self.cgerep = 0;
                self.cfun = 0;
                self.reg = 0;
                self.sim_ready_at = None;
                self.auto_recv_all = false;
                self.poll_all = None;
                self.armed = Armed::default();
                self.held.clear();
                self.busy_until = t;
                self.timeline.at(t + ms(self.cfg.boot_ms), Action::Boot);
            }
            Fault::PdpDeactivated => {
                let mut cids: Vec<u8> = self
                    .sockets
                    .iter()
                    .flatten()
                    .map(|s| s.cid)
                    .filter(|&c| self.context_active(c))
                    .collect();
                if cids.is_empty() {
                    cids = (0..CONTEXTS as u8)
                        .filter(|&c| self.context_active(c))
                        .collect();
                }
                cids.sort_unstable();
                cids.dedup();
                for cid in cids {
                    self.deactivate(cid);
                    self.cgev(t, &format!("NW PDN DEACT {cid}"));
                    if cid == 0 {
                        self.timeline
                            .at(t + ms(self.cfg.reactivate_ms), Action::DefaultBearer);
                    }
                }
            }
            Fault::SocketClosed(h) => {
                if let Some(Some(s)) = self.sockets.get_mut(h as usize) {
                    if !s.hung {
                        s.hung = true;
                        s.udp = None;
                        let report = s.poll_events.is_some();
                        if report {
                            self.urc(t, format!("\r\n#XAPOLL: {h},{POLLHUP}\r\n").into_bytes());
                        }
                    }
                }
            }
            Fault::RegistrationLost => {
                if self.reg != 2 {
                    self.reg = 2;
                    self.cereg_urc(t);
                }
            }
            Fault::RegistrationRegained => {
                if self.reg != 1 && self.cfun == 1 {
                    self.reg = 1;
                    self.cereg_urc(t);
                    if !self.context_active(0) {
                        self.timeline
                            .at(t + ms(self.cfg.pdn_ms), Action::DefaultBearer);
                    }
                }
            }
            Fault::IgnoreCommand => self.armed.ignore += 1,
            Fault::SwallowAnswer => self.armed.swallow += 1,
            // Inside a send: this one fails; otherwise the next one.
            Fault::SendFail => match &mut self.input {
                Input::Data(p) => p.fail = true,
                _ => self.armed.send_fail += 1,
            },
            Fault::Garbage(bytes) => self.timeline.at(t, Action::Emit(bytes)),
            // Inside a send: now; otherwise in the next one.
            Fault::DuringSend(bytes, point) => match self.input {
                Input::Data(_) => self.timeline.at(t, Action::Emit(bytes)),
                _ => self.armed.during_send.push((bytes, point)),
            },
            Fault::DropToHost(n) => self.port.drop_to_host(n),
            Fault::DropToModem(n) => self.port.drop_to_modem(n),
            Fault::DnsFail => self.armed.dns_fail += 1,
        }
    }
}

impl SimModem for Nrf91Sim {
    fn name(&self) -> &'static str {
        "nrf91"
    }

    fn step(&mut self, now: Instant) {
        let now_ns = to_nanos(now);
        if now_ns > self.now {
            self.now = now_ns;
        }
        self.port.set_now(self.now);
        loop {
            self.run_events();
            let due = self.faults.due(now);
            if due.is_empty() {
                break;
            }
            for f in due {
                self.apply(self.now, f);
            }
        }
        self.poll_network();
        self.run_events();
    }

    fn next_event(&self) -> Option<Instant> {
        let mut next = self.timeline.next_time();
        for t in [self.port.next_from_host(), self.port.next_to_host()]
            .into_iter()
            .flatten()
        {
            next = Some(next.map_or(t, |n: Nanos| n.min(t)));
        }
        // Data waiting for the end of a data mode to be pushed.
        if self.push_after > self.now {
            next = Some(next.map_or(self.push_after, |n| n.min(self.push_after)));
        }
        let next = next.map(to_instant_ceil);
        match (next, self.faults.next_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn inject(&mut self, fault: Fault) {
        let t = self.now;
        self.apply(t, fault);
    }

    fn faults(&mut self) -> &mut FaultSchedule {
        &mut self.faults
    }

    fn stats(&self) -> SimStats {
        SimStats {
            line: self.port.stats(),
            ..self.stats
        }
    }
}
