//! A simulated Quectel BG96 (feature `sim`, host only): it reads the driver's bytes
//! from an in-process UART and answers as the modem does, with each socket backed by
//! a real UDP socket on 127.0.0.1.
//!
//! What it does, and what it assumes where the manual is silent:
//!
//! * **Boot**: at power-on (and after [`Fault::Reboot`]) it hears nothing until it
//!   prints `RDY` ([`Bg96SimConfig::boot_ms`]), then `+CFUN: 1`, `+CPIN: READY`,
//!   `+QUSIM: 1`, `+QIND: SMS DONE` and `APP RDY`. Echo is on and settings are back
//!   to defaults (`AT+CMEE=0`, `AT+CEREG=0`); registration comes
//!   [`Bg96SimConfig::register_ms`] after `RDY`.
//! * **Command lines** end at `\r`; anything before `AT` on a line is ignored
//!   (V.250). Echo repeats every byte as it arrives while echo is on, never the
//!   payload of a send. Unknown commands answer `ERROR`; with `AT+CMEE=1`, errors
//!   that have a code answer `+CME ERROR: <n>`.
//! * **Registration**: `AT+CEREG=<n>` (0..=2), `AT+CEREG?` → `+CEREG: <n>,<stat>`,
//!   URC `+CEREG: <stat>` on changes when n ≥ 1 (n = 2 adds tac, ci, AcT when
//!   registered). `AT+CSQ` → `+CSQ: <rssi>,99`.
//! * **Context 1**: `AT+QICSGP`, `AT+QIACT?` (`+QIACT: 1,1,<type>,"<ip>"` or a bare
//!   `OK`), `AT+QIACT=1` (`ERROR` when already active, while not registered, or after
//!   `pdpdeact` until `AT+QIDEACT`), `AT+QIDEACT=1` (frees every socket).
//! * **Open**: `AT+QIOPEN=1,<id>,"UDP","<host>",<port>[,<local_port>[,<mode>]]`
//!   answers `OK`, then after [`Latency::open_ms`] `+QIOPEN: <id>,<err>`: 0, 563 id in
//!   use, 565 the host does not resolve (host resolver; `*.invalid` never does), 556
//!   the local port cannot be bound, 566 connect failed, 561 the context is not
//!   active (an assumption: the manual does not say). Modes 0 (buffer) and 1 (direct
//!   push); anything but `"UDP"`, `"UDP SERVICE"` or mode 2 is `ERROR`.
//! * **`"UDP SERVICE"`** (unconnected): `AT+QIOPEN=1,<id>,"UDP SERVICE","<any>",
//!   <any>,<local_port>,<mode>` binds `<local_port>` (0: chosen by the system) on
//!   127.0.0.1; `AT+QISEND=<id>,<len>,"<ip>",<port>` sends to that address (a
//!   name is `ERROR`; the two-argument form is `ERROR` on such a socket);
//!   received datagrams name their sender: `+QIURC: "recv",<id>,<len>,"<ip>",
//!   <port>` (direct push) or `+QIRD: <len>,"<ip>",<port>` (buffer mode).
//! * **DNS**: `AT+QIDNSGIP=1,"<host>"` answers `OK` (`ERROR` while the context is
//!   not active), then after [`Latency::open_ms`] `+QIURC: "dnsgip",0,<n>,600`
//!   and one `+QIURC: "dnsgip","<ip>"` per address the host's resolver gives
//!   (IPv4 first), or `+QIURC: "dnsgip",565` when the name does not resolve
//!   (`*.invalid` never does) or [`Fault::DnsFail`] asked for a failure.
//! * **Send**: `AT+QISEND=<id>,<len>`: `ERROR` when the socket is not open or len >
//!   1460; len 0 is the manual's counter query (`+QISEND: <sent>,<sent>,0`), not an
//!   empty datagram. Otherwise the prompt `\r\n> `, then exactly len bytes, all of
//!   them data (ESC included: fixed-length mode counts bytes, the manual gives ESC
//!   a meaning only in the variable-length form), then `SEND OK` when the system
//!   took the datagram, `SEND FAIL` when not registered or refused. The
//!   variable-length form `AT+QISEND=<id>` (Ctrl-Z sends, ESC cancels) works too.
//! * **Receive**: direct push `+QIURC: "recv",<id>,<len>\r\n<bytes>`; buffer mode
//!   `+QIURC: "recv",<id>` when data arrives in an empty buffer, `AT+QIRD=<id>[,<len>]`
//!   → `+QIRD: <n>\r\n<bytes>\r\n\r\nOK` or `+QIRD: 0`, `AT+QIRD=<id>,0` the counter
//!   query. Datagrams over 1500 bytes are dropped.
//! * **Close and state**: `AT+QICLOSE=<id>` (`OK` also for an unused id),
//!   `AT+QISTATE?`, `AT+QISTATE=0,1`, `AT+QISTATE=1,<id>` in the manual's format.
//!
//! Faults ([`Fault`]) are carried out in the BG96's words: `+QIURC: "pdpdeact",1`,
//! `+QIURC: "closed",<id>`, `+CEREG: 2` / `+CEREG: 1`, `SEND FAIL`, and so on.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};

use crate::sim::at::{self, framed, split_args, Arg, Form};
use crate::sim::udp::{self, OpenError, Recv};
use crate::sim::{
    pipe, to_instant_ceil, to_nanos, Fault, FaultSchedule, HostUart, Line, ModemPort, Nanos,
    SendPoint, SimModem, SimStats, Timeline, NS_PER_MS,
};
use crate::time::Instant;

/// connectIDs 0..=11.
pub const SOCKETS: usize = 12;
/// Largest datagram `AT+QISEND` takes.
pub const MAX_SEND: usize = 1460;
/// Largest datagram handed to the host.
pub const MAX_RECV: usize = 1500;
/// Longest command line kept; longer lines are thrown away.
pub const MAX_LINE: usize = 1024;

/// How long the simulated modem takes, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    /// From the end of a command line to its answer.
    pub response_ms: u32,
    /// From the open command to `+QIOPEN`.
    pub open_ms: u32,
    /// `AT+QIACT=1` to its `OK`.
    pub activate_ms: u32,
    /// `AT+QIDEACT=1` to its `OK`.
    pub deactivate_ms: u32,
    /// From the last payload byte to `SEND OK`.
    pub send_ms: u32,
    /// `AT+QICLOSE` to its `OK`.
    pub close_ms: u32,
}

impl Latency {
    /// Everything answered at once.
    pub const ZERO: Latency = Latency {
        response_ms: 0,
        open_ms: 0,
        activate_ms: 0,
        deactivate_ms: 0,
        send_ms: 0,
        close_ms: 0,
    };
}

impl Default for Latency {
    /// A quick modem on a good network: 2 ms answers, 150 ms opens, 300 ms
    /// activation.
    fn default() -> Self {
        Latency {
            response_ms: 2,
            open_ms: 150,
            activate_ms: 300,
            deactivate_ms: 100,
            send_ms: 5,
            close_ms: 10,
        }
    }
}

/// The modem's state when the simulation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Start {
    /// Just powered on: silent until `RDY`, then boot chatter, registration later.
    #[default]
    PowerOn,
    /// Up for a while: booted (no banner), registered, echo on, nothing active.
    Running,
}

/// How the simulated BG96 behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bg96SimConfig {
    /// Answer times.
    pub latency: Latency,
    /// State at the start.
    pub start: Start,
    /// From power-on or reboot to `RDY`.
    pub boot_ms: u32,
    /// From `RDY` to `APP RDY`.
    pub app_ready_ms: u32,
    /// From `RDY` to registration.
    pub register_ms: u32,
    /// The address `AT+QIACT?` reports. The sockets are bound on 127.0.0.1.
    pub ip: String,
    /// `AT+CPIN?` answers `READY` (otherwise `+CME ERROR: 10`).
    pub sim_ready: bool,
    /// Signal strength `AT+CSQ` reports.
    pub rssi: u8,
    /// Print every command line, payload and output chunk to stderr (debugging).
    pub trace: bool,
}

impl Default for Bg96SimConfig {
    fn default() -> Self {
        Bg96SimConfig {
            latency: Latency::default(),
            start: Start::PowerOn,
            boot_ms: 200,
            app_ready_ms: 20,
            register_ms: 300,
            ip: "127.0.0.1".into(),
            sim_ready: true,
            rssi: 20,
            trace: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pdp {
    Inactive,
    Activating,
    Active,
    /// Deactivated by the network: `AT+QIDEACT` is owed before activation.
    Broken,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SockState {
    Opening,
    Open,
    /// Closed by the network; the id stays taken until `AT+QICLOSE`.
    Closed,
}

#[derive(Debug)]
struct Sock {
    gen: u64,
    state: SockState,
    udp: Option<UdpSocket>,
    remote: SocketAddr,
    lport: u16,
    mode: u8,
    /// `"UDP SERVICE"`: unconnected, sends name their destination.
    service: bool,
    /// Datagrams waiting for `AT+QIRD`, with their sender.
    rxq: VecDeque<(Vec<u8>, SocketAddr)>,
    notified: bool,
    sent: u64,
    received: u64,
    read: u64,
}

#[derive(Debug)]
enum Input {
    /// Booting: bytes are lost.
    Deaf,
    /// Collecting a command line.
    Line(Vec<u8>),
    /// Collecting a payload.
    Data(Payload),
}

#[derive(Debug)]
struct Payload {
    id: usize,
    /// `"UDP SERVICE"`: the destination.
    to: Option<SocketAddr>,
    /// `Some(len)`: fixed length; `None`: until Ctrl-Z.
    len: Option<usize>,
    buf: Vec<u8>,
    fail: bool,
    before_result: Vec<Vec<u8>>,
}

#[derive(Debug)]
enum Action {
    Emit(Vec<u8>),
    Boot,
    OpenDone { id: usize, gen: u64, answer: bool },
    Activated { answer: bool },
    Register(u8),
}

#[derive(Debug, Default)]
struct Armed {
    ignore: u32,
    swallow: u32,
    send_fail: u32,
    dns_fail: u32,
    during_send: Vec<(Vec<u8>, SendPoint)>,
}

/// The simulated BG96.
#[derive(Debug)]
pub struct Bg96Sim {
    port: ModemPort,
    cfg: Bg96SimConfig,
    faults: FaultSchedule,
    timeline: Timeline<Action>,
    now: Nanos,
    input: Input,
    echo: bool,
    cmee: u8,
    cereg: u8,
    reg: u8,
    apn: String,
    ctx_type: u8,
    pdp: Pdp,
    sockets: Vec<Option<Sock>>,
    armed: Armed,
    mute: bool,
    next_gen: u64,
    stats: SimStats,
    rx_buf: Vec<u8>,
}

fn ms(ms: u32) -> Nanos {
    ms as u64 * NS_PER_MS
}

impl Bg96Sim {
    /// A simulated BG96 on the modem end of a line.
    pub fn new(port: ModemPort, cfg: Bg96SimConfig) -> Self {
        let mut sim = Bg96Sim {
            port,
            faults: FaultSchedule::new(),
            timeline: Timeline::new(),
            now: 0,
            input: Input::Deaf,
            echo: true,
            cmee: 0,
            cereg: 0,
            reg: 2,
            apn: String::new(),
            ctx_type: 1,
            pdp: Pdp::Inactive,
            sockets: (0..SOCKETS).map(|_| None).collect(),
            armed: Armed::default(),
            mute: false,
            next_gen: 0,
            stats: SimStats::default(),
            rx_buf: vec![0u8; MAX_RECV + 1],
            cfg,
        };
        match sim.cfg.start {
            Start::PowerOn => sim.timeline.at(ms(sim.cfg.boot_ms), Action::Boot),
            Start::Running => {
                sim.input = Input::Line(Vec::new());
                sim.reg = 1;
            }
        }
        sim
    }

    /// A line and a simulated BG96 on it: the simulator and the driver's transport.
    pub fn with_line(line: Line, cfg: Bg96SimConfig) -> (Self, HostUart) {
        let (host, port) = pipe(line);
        (Bg96Sim::new(port, cfg), host)
    }

    /// The configuration.
    pub fn config(&self) -> &Bg96SimConfig {
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

    /// True once booted (`RDY` printed).
    pub fn booted(&self) -> bool {
        !matches!(self.input, Input::Deaf)
    }

    /// True while context 1 is active.
    pub fn pdp_active(&self) -> bool {
        self.pdp == Pdp::Active
    }

    /// The registration status (`<stat>` of `+CEREG`).
    pub fn registration(&self) -> u8 {
        self.reg
    }

    /// True when connectID `id` is taken (opening, open or closed by the network).
    pub fn socket_in_use(&self, id: usize) -> bool {
        self.sockets.get(id).is_some_and(|s| s.is_some())
    }

    /// True when connectID `id` is open and can send.
    pub fn socket_open(&self, id: usize) -> bool {
        matches!(self.sockets.get(id), Some(Some(s)) if s.state == SockState::Open)
    }

    /// The local UDP port of connectID `id`.
    pub fn local_port(&self, id: usize) -> Option<u16> {
        self.sockets.get(id)?.as_ref().map(|s| s.lport)
    }

    /// The line's modem end (for dropping bytes or looking at counters).
    pub fn port(&mut self) -> &mut ModemPort {
        &mut self.port
    }

    fn trace(&self, t: Nanos, tag: &str, bytes: &[u8]) {
        if self.cfg.trace {
            eprintln!(
                "[{:>9.3} ms] {tag}: {}",
                t as f64 / NS_PER_MS as f64,
                crate::replay::escape(bytes)
            );
        }
    }

    fn at_ms(&self, t: Nanos) -> Instant {
        Instant::from_millis(t / NS_PER_MS)
    }

    // ----- output ------------------------------------------------------------

    /// Part of the answer to the command being acted on (lost under
    /// [`Fault::SwallowAnswer`]).
    fn answer(&mut self, at: Nanos, bytes: Vec<u8>) {
        if !self.mute {
            self.timeline.at(at, Action::Emit(bytes));
        }
    }

    fn urc(&mut self, at: Nanos, bytes: Vec<u8>) {
        self.timeline.at(at, Action::Emit(bytes));
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
                format!("\r\n+CEREG: {},\"1A2B\",\"0C3D4E5F\",8\r\n", self.reg).into_bytes(),
            ),
            _ => self.urc(t, format!("\r\n+CEREG: {}\r\n", self.reg).into_bytes()),
        }
    }

    fn registered(&self) -> bool {
        self.reg == 1 || self.reg == 5
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
                self.port.send(t, b"\r\nRDY\r\n");
                let chatter =
                    b"\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\n+QIND: SMS DONE\r\n";
                self.urc(t + ms(self.cfg.app_ready_ms) / 2, chatter.to_vec());
                self.urc(t + ms(self.cfg.app_ready_ms), b"\r\nAPP RDY\r\n".to_vec());
                self.timeline
                    .at(t + ms(self.cfg.register_ms), Action::Register(1));
            }
            Action::OpenDone { id, gen, answer } => {
                let Some(Some(s)) = self.sockets.get_mut(id) else {
                    return;
                };
                if s.gen != gen || s.state != SockState::Opening {
                    return;
                }
                s.state = SockState::Open;
                if answer {
                    self.port
                        .send(t, format!("\r\n+QIOPEN: {id},0\r\n").as_bytes());
                }
            }
            Action::Activated { answer } => {
                if self.pdp == Pdp::Activating {
                    self.pdp = Pdp::Active;
                    if answer {
                        self.port.send(t, b"\r\nOK\r\n");
                    }
                }
            }
            Action::Register(stat) => {
                if self.reg != stat {
                    self.reg = stat;
                    self.cereg_urc(t);
                }
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
            Input::Data(p) => match p.len {
                Some(len) => {
                    p.buf.push(b);
                    if p.buf.len() >= len {
                        self.finish_send(t);
                    }
                }
                None => match b {
                    0x1a => self.finish_send(t),
                    0x1b => self.input = Input::Line(Vec::new()),
                    _ if p.buf.len() < MAX_SEND => p.buf.push(b),
                    _ => {}
                },
            },
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
        let Some((name, form)) = at::command(line) else {
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
            ("ATI", Form::Exec) => self.info_ok(
                t,
                &[
                    "Quectel".into(),
                    "BG96".into(),
                    "Revision: BG96MAR02A07M1G".into(),
                ],
            ),
            ("AT+CGMM", Form::Exec) => self.info_ok(t, &["BG96".into()]),
            ("AT+CGMR", Form::Exec) => self.info_ok(t, &["BG96MAR02A07M1G".into()]),
            ("AT+CFUN", Form::Read) => self.info_ok(t, &["+CFUN: 1".into()]),
            ("AT+CFUN", Form::Set(_)) => self.ok(t),
            ("AT+CMEE", Form::Set(a)) => match a.parse::<u8>() {
                Ok(n @ 0..=2) => {
                    self.cmee = n;
                    self.ok(t)
                }
                _ => self.error(t),
            },
            ("AT+CMEE", Form::Read) => self.info_ok(t, &[format!("+CMEE: {}", self.cmee)]),
            ("AT+CPIN", Form::Read) => {
                if self.cfg.sim_ready {
                    self.info_ok(t, &["+CPIN: READY".into()])
                } else {
                    self.cme(t, 10)
                }
            }
            ("AT+CEREG", Form::Set(a)) => match a.parse::<u8>() {
                Ok(n @ 0..=2) => {
                    self.cereg = n;
                    self.ok(t)
                }
                _ => self.error(t),
            },
            ("AT+CEREG", Form::Read) => {
                let line = if self.cereg == 2 && self.registered() {
                    format!("+CEREG: 2,{},\"1A2B\",\"0C3D4E5F\",8", self.reg)
                } else {
                    format!("+CEREG: {},{}", self.cereg, self.reg)
                };
                self.info_ok(t, &[line])
            }
            ("AT+CSQ", Form::Exec) => {
                let rssi = if self.registered() { self.cfg.rssi } else { 99 };
                self.info_ok(t, &[format!("+CSQ: {rssi},99")])
            }
            ("AT+QICSGP", Form::Set(a)) => self.qicsgp(t, a),
            ("AT+QIACT", Form::Read) => {
                let lines = if self.pdp == Pdp::Active {
                    vec![format!("+QIACT: 1,1,{},\"{}\"", self.ctx_type, self.cfg.ip)]
                } else {
                    vec![]
                };
                self.info_ok(t, &lines)
            }
            ("AT+QIACT", Form::Set(a)) => self.qiact(t, a),
            ("AT+QIDEACT", Form::Set(a)) => self.qideact(t, a),
            ("AT+QIOPEN", Form::Set(a)) => self.qiopen(t, a),
            ("AT+QIDNSGIP", Form::Set(a)) => self.qidnsgip(t, a),
            ("AT+QICLOSE", Form::Set(a)) => self.qiclose(t, a),
            ("AT+QISEND", Form::Set(a)) => self.qisend(t, a),
            ("AT+QIRD", Form::Set(a)) => self.qird(t, a),
            ("AT+QISTATE", Form::Read) => {
                let lines = (0..SOCKETS)
                    .filter_map(|i| self.qistate_line(i))
                    .collect::<Vec<_>>();
                self.info_ok(t, &lines)
            }
            ("AT+QISTATE", Form::Set(a)) => self.qistate(t, a),
            _ => self.error(t),
        }
    }

    // ----- commands ------------------------------------------------------------

    fn qicsgp(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        match args.as_slice() {
            [cid] if cid.num() == Some(1) => {
                let line = format!("+QICSGP: {},\"{}\",\"\",\"\",0", self.ctx_type, self.apn);
                self.info_ok(t, &[line])
            }
            [cid, ty, apn, ..] if cid.num() == Some(1) => match ty.num() {
                Some(ty @ 1..=3) => {
                    self.ctx_type = ty as u8;
                    self.apn = apn.text.clone();
                    self.ok(t)
                }
                _ => self.error(t),
            },
            [cid, ..] if cid.num().is_some_and(|c| (2..=16).contains(&c)) => self.ok(t),
            _ => self.error(t),
        }
    }

    fn qiact(&mut self, t: Nanos, a: &str) {
        if a.trim() != "1" {
            return self.error(t);
        }
        if self.pdp != Pdp::Inactive || !self.registered() {
            return self.error(t);
        }
        self.pdp = Pdp::Activating;
        let at = t + ms(self.cfg.latency.activate_ms);
        self.timeline
            .at(at, Action::Activated { answer: !self.mute });
    }

    fn qideact(&mut self, t: Nanos, a: &str) {
        if a.trim() != "1" {
            return self.error(t);
        }
        self.pdp = Pdp::Inactive;
        self.timeline
            .retain(|a| !matches!(a, Action::Activated { .. }));
        for s in self.sockets.iter_mut() {
            *s = None;
        }
        let at = t + ms(self.cfg.latency.deactivate_ms);
        self.answer(at, b"\r\nOK\r\n".to_vec());
    }

    fn qiopen(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        if args.len() < 5 || args.len() > 7 {
            return self.error(t);
        }
        let [cid, id, service, host, rport, ..] = args.as_slice() else {
            return self.error(t);
        };
        let cid = cid.num();
        let id = id.num().map(|n| n as usize).filter(|&n| n < SOCKETS);
        // Port 0 only for "UDP SERVICE", whose remote is unused.
        let rport = rport.num().filter(|&p| p <= 65535);
        let lport = match args.get(5) {
            Some(a) => a.num().filter(|&p| p <= 65535),
            None => Some(0),
        };
        let mode = match args.get(6) {
            Some(a) => a.num().filter(|&m| m <= 1),
            None => Some(0),
        };
        let (Some(cid), Some(id), Some(rport), Some(lport), Some(mode)) =
            (cid, id, rport, lport, mode)
        else {
            return self.error(t);
        };
        let unconnected = service.text.eq_ignore_ascii_case("UDP SERVICE");
        if !service.quoted
            || !(service.text.eq_ignore_ascii_case("UDP") || unconnected)
            || (rport == 0 && !unconnected)
            || !host.quoted
            || host.text.is_empty()
            || !(1..=16).contains(&cid)
        {
            return self.error(t);
        }
        self.ok(t);
        let done = self.reply_at(t).max(t + ms(self.cfg.latency.open_ms));
        let fail = |sim: &mut Self, err: u16| {
            sim.urc(done, format!("\r\n+QIOPEN: {id},{err}\r\n").into_bytes());
        };
        if self.socket_in_use(id) {
            return fail(self, 563);
        }
        if self.pdp != Pdp::Active || cid != 1 {
            return fail(self, 561);
        }
        let (sock, remote) = if unconnected {
            // The remote of "UDP SERVICE" is not used (the manual's example gives
            // 127.0.0.1 and 0); the socket only binds its local port.
            let remote = SocketAddr::from(([127, 0, 0, 1], 0));
            match udp::open_unconnected(lport as u16, false) {
                Ok(s) => (s, remote),
                Err(_) => return fail(self, 556),
            }
        } else {
            let Some(remote) = udp::resolve(&host.text, rport as u16) else {
                return fail(self, 565);
            };
            match udp::open_connected(lport as u16, remote) {
                Ok(s) => (s, remote),
                Err(OpenError::Bind(_)) => return fail(self, 556),
                Err(OpenError::Connect(_)) => return fail(self, 566),
            }
        };
        let lport = sock.local_addr().map(|a| a.port()).unwrap_or(0);
        self.next_gen += 1;
        let gen = self.next_gen;
        let Some(slot) = self.sockets.get_mut(id) else {
            return fail(self, 566);
        };
        *slot = Some(Sock {
            gen,
            state: SockState::Opening,
            udp: Some(sock),
            remote,
            lport,
            mode: mode as u8,
            service: unconnected,
            rxq: VecDeque::new(),
            notified: false,
            sent: 0,
            received: 0,
            read: 0,
        });
        self.timeline.at(
            done,
            Action::OpenDone {
                id,
                gen,
                answer: true,
            },
        );
    }

    fn qidnsgip(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let (Some(cid), Some(host), 2) = (args.first().and_then(Arg::num), args.get(1), args.len())
        else {
            return self.error(t);
        };
        if cid != 1 || !host.quoted || host.text.is_empty() || self.pdp != Pdp::Active {
            return self.error(t);
        }
        self.ok(t);
        let done = self.reply_at(t).max(t + ms(self.cfg.latency.open_ms));
        let fail = self.armed.dns_fail > 0;
        if fail {
            self.armed.dns_fail -= 1;
        }
        let addrs = if fail {
            Vec::new()
        } else {
            udp::resolve_all(&host.text)
        };
        let out = if addrs.is_empty() {
            // 565: DNS parse failed (the manual's code for a name that does not
            // resolve).
            b"\r\n+QIURC: \"dnsgip\",565\r\n".to_vec()
        } else {
            let mut lines = vec![format!("+QIURC: \"dnsgip\",0,{},600", addrs.len())];
            lines.extend(addrs.iter().map(|a| format!("+QIURC: \"dnsgip\",\"{a}\"")));
            framed(&lines)
        };
        self.urc(done, out);
    }

    fn qiclose(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let id = args.first().and_then(Arg::num).map(|n| n as usize);
        match id {
            Some(id) if id < SOCKETS && args.len() <= 2 => {
                if let Some(s) = self.sockets.get_mut(id) {
                    *s = None;
                }
                let at = t + ms(self.cfg.latency.close_ms);
                self.answer(at, b"\r\nOK\r\n".to_vec());
            }
            _ => self.error(t),
        }
    }

    fn qisend(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let id = args.first().and_then(Arg::num).map(|n| n as usize);
        let Some(id) = id.filter(|&i| i < SOCKETS) else {
            return self.error(t);
        };
        let len = match args.get(1) {
            None => None,
            Some(l) => match l.num() {
                Some(n) => Some(n as usize),
                None => return self.error(t),
            },
        };
        // "UDP SERVICE": AT+QISEND=<id>,<len>,"<ip>",<port> (an address, no name).
        let to = match (args.get(2), args.get(3), args.len()) {
            (None, None, _) => None,
            (Some(ip), Some(port), 4) if ip.quoted => {
                let ip = ip.text.parse::<std::net::IpAddr>().ok();
                let port = port.num().filter(|p| (1..=65535).contains(p));
                match (ip, port) {
                    (Some(ip), Some(port)) => Some(SocketAddr::new(ip, port as u16)),
                    _ => return self.error(t),
                }
            }
            _ => return self.error(t),
        };
        let sent = match self.sockets.get(id) {
            Some(Some(s)) if s.state == SockState::Open && s.service == to.is_some() => s.sent,
            _ => return self.error(t),
        };
        match len {
            Some(0) => return self.info_ok(t, &[format!("+QISEND: {sent},{sent},0")]),
            Some(n) if n > MAX_SEND => return self.error(t),
            _ => {}
        }
        let fail = self.armed.send_fail > 0;
        if fail {
            self.armed.send_fail -= 1;
        }
        let mut before_result = Vec::new();
        let at = self.reply_at(t);
        self.answer(at, b"\r\n> ".to_vec());
        let mut after_prompt = Vec::new();
        for (bytes, point) in std::mem::take(&mut self.armed.during_send) {
            match point {
                SendPoint::AfterPrompt => after_prompt.push(bytes),
                SendPoint::BeforeResult => before_result.push(bytes),
            }
        }
        self.input = Input::Data(Payload {
            id,
            to,
            len,
            buf: Vec::with_capacity(len.unwrap_or(MAX_SEND)),
            fail,
            before_result,
        });
        for bytes in after_prompt {
            self.urc(at, bytes);
        }
        let now = self.at_ms(at);
        for f in self.faults.on_send(now, SendPoint::AfterPrompt) {
            self.apply(at, f);
        }
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
        let registered = self.registered();
        let result: &[u8] = match self.sockets.get_mut(p.id) {
            Some(Some(s)) if s.state == SockState::Open => {
                let ok = !p.fail
                    && registered
                    && s.udp.as_ref().is_some_and(|u| match p.to {
                        Some(to) => udp::send_to(u, &p.buf, to),
                        None => udp::send(u, &p.buf),
                    });
                if ok {
                    s.sent += p.buf.len() as u64;
                    self.stats.datagrams_out += 1;
                    self.stats.bytes_out += p.buf.len() as u64;
                    b"\r\nSEND OK\r\n"
                } else {
                    self.stats.sends_refused += 1;
                    b"\r\nSEND FAIL\r\n"
                }
            }
            _ => {
                self.stats.sends_refused += 1;
                b"\r\nERROR\r\n"
            }
        };
        self.urc(at, result.to_vec());
    }

    fn qird(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        let id = args.first().and_then(Arg::num).map(|n| n as usize);
        let len = match args.get(1) {
            None => Some(MAX_RECV),
            Some(l) => l.num().map(|n| n as usize).filter(|&n| n <= MAX_RECV),
        };
        let (Some(id), Some(len)) = (id.filter(|&i| i < SOCKETS), len) else {
            return self.error(t);
        };
        if args.len() > 2 {
            return self.error(t);
        }
        let Some(Some(s)) = self.sockets.get_mut(id) else {
            return self.error(t);
        };
        if s.mode != 0 {
            return self.error(t);
        }
        if len == 0 {
            let (total, read) = (s.received, s.read);
            return self.info_ok(t, &[format!("+QIRD: {total},{read},{}", total - read)]);
        }
        let service = s.service;
        let out = match s.rxq.pop_front() {
            Some((d, from)) => {
                let n = d.len().min(len);
                s.read += d.len() as u64;
                self.stats.datagrams_delivered += 1;
                self.stats.bytes_delivered += n as u64;
                let mut out = if service {
                    format!("\r\n+QIRD: {n},\"{}\",{}\r\n", from.ip(), from.port())
                } else {
                    format!("\r\n+QIRD: {n}\r\n")
                }
                .into_bytes();
                out.extend_from_slice(d.get(..n).unwrap_or_default());
                out.extend_from_slice(b"\r\n\r\nOK\r\n");
                out
            }
            None => b"\r\n+QIRD: 0\r\n\r\nOK\r\n".to_vec(),
        };
        if s.rxq.is_empty() {
            s.notified = false;
        }
        let at = self.reply_at(t);
        self.answer(at, out);
    }

    fn qistate_line(&self, id: usize) -> Option<String> {
        let s = self.sockets.get(id)?.as_ref()?;
        let state = match s.state {
            SockState::Opening => 1,
            SockState::Open => 2,
            SockState::Closed => 4,
        };
        let service = if s.service { "UDP SERVICE" } else { "UDP" };
        Some(format!(
            "+QISTATE: {id},\"{service}\",\"{}\",{},{},{state},1,0,{},\"uart1\"",
            s.remote.ip(),
            s.remote.port(),
            s.lport,
            s.mode
        ))
    }

    fn qistate(&mut self, t: Nanos, a: &str) {
        let Some(args) = split_args(a) else {
            return self.error(t);
        };
        match (
            args.first().and_then(Arg::num),
            args.get(1).and_then(Arg::num),
        ) {
            (Some(0), Some(1)) => {
                let lines = (0..SOCKETS)
                    .filter_map(|i| self.qistate_line(i))
                    .collect::<Vec<_>>();
                self.info_ok(t, &lines)
            }
            (Some(0), Some(_)) => self.ok(t),
            (Some(1), Some(id)) if (id as usize) < SOCKETS => {
                let lines: Vec<String> = self.qistate_line(id as usize).into_iter().collect();
                self.info_ok(t, &lines)
            }
            _ => self.error(t),
        }
    }

    // ----- network -------------------------------------------------------------

    fn poll_network(&mut self) {
        let t = self.now;
        let registered = self.registered();
        for id in 0..SOCKETS {
            while let Some(Some(s)) = self.sockets.get_mut(id) {
                if s.state != SockState::Open {
                    break;
                }
                let Some(u) = s.udp.as_ref() else {
                    break;
                };
                let (got, from) = if s.service {
                    udp::try_recv_from(u, &mut self.rx_buf, MAX_RECV)
                } else {
                    (udp::try_recv(u, &mut self.rx_buf, MAX_RECV), None)
                };
                let n = match got {
                    Recv::Empty => break,
                    Recv::TooLong => {
                        self.stats.datagrams_lost += 1;
                        continue;
                    }
                    Recv::Datagram(n) => n,
                };
                let from = from.unwrap_or(s.remote);
                if !registered {
                    self.stats.datagrams_lost += 1;
                    continue;
                }
                s.received += n as u64;
                self.stats.datagrams_in += 1;
                self.stats.bytes_in += n as u64;
                let data = self.rx_buf.get(..n).unwrap_or_default();
                if s.mode == 1 {
                    s.read += n as u64;
                    self.stats.datagrams_delivered += 1;
                    self.stats.bytes_delivered += n as u64;
                    let mut out = if s.service {
                        format!(
                            "\r\n+QIURC: \"recv\",{id},{n},\"{}\",{}\r\n",
                            from.ip(),
                            from.port()
                        )
                    } else {
                        format!("\r\n+QIURC: \"recv\",{id},{n}\r\n")
                    }
                    .into_bytes();
                    out.extend_from_slice(data);
                    self.trace(t, "M", &out);
                    self.port.send(t, &out);
                } else {
                    s.rxq.push_back((data.to_vec(), from));
                    if !s.notified {
                        s.notified = true;
                        let out = format!("\r\n+QIURC: \"recv\",{id}\r\n").into_bytes();
                        self.trace(t, "M", &out);
                        self.port.send(t, &out);
                    }
                }
            }
        }
    }

    // ----- faults --------------------------------------------------------------

    fn apply(&mut self, t: Nanos, fault: Fault) {
        if self.cfg.trace {
            eprintln!("[{:>9.3} ms] fault: {fault:?}", t as f64 / NS_PER_MS as f64);
        }
        match fault {
            Fault::Reboot => {
                self.stats.reboots += 1;
                self.timeline.clear();
                for s in self.sockets.iter_mut() {
                    *s = None;
                }
                self.input = Input::Deaf;
                self.echo = true;
                self.cmee = 0;
                self.cereg = 0;
                self.reg = 2;
                self.pdp = Pdp::Inactive;
                self.armed = Armed::default();
                self.timeline.at(t + ms(self.cfg.boot_ms), Action::Boot);
            }
            Fault::PdpDeactivated => {
                self.pdp = Pdp::Broken;
                self.timeline
                    .retain(|a| !matches!(a, Action::Activated { .. }));
                for s in self.sockets.iter_mut().flatten() {
                    s.state = SockState::Closed;
                    s.udp = None;
                    s.rxq.clear();
                }
                self.urc(t, b"\r\n+QIURC: \"pdpdeact\",1\r\n".to_vec());
            }
            Fault::SocketClosed(id) => {
                if let Some(Some(s)) = self.sockets.get_mut(id as usize) {
                    if s.state != SockState::Closed {
                        s.state = SockState::Closed;
                        s.udp = None;
                        self.urc(t, format!("\r\n+QIURC: \"closed\",{id}\r\n").into_bytes());
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
                if self.reg != 1 {
                    self.reg = 1;
                    self.cereg_urc(t);
                }
            }
            Fault::IgnoreCommand => self.armed.ignore += 1,
            Fault::SwallowAnswer => self.armed.swallow += 1,
            // Inside a send: this one fails; otherwise the next one.
            Fault::SendFail => match &mut self.input {
                Input::Data(p) => p.fail = true,
                _ => self.armed.send_fail += 1,
            },
            Fault::Garbage(bytes) => self.urc(t, bytes),
            // Inside a send: now; otherwise in the next one.
            Fault::DuringSend(bytes, point) => match self.input {
                Input::Data(_) => self.urc(t, bytes),
                _ => self.armed.during_send.push((bytes, point)),
            },
            Fault::DropToHost(n) => self.port.drop_to_host(n),
            Fault::DropToModem(n) => self.port.drop_to_modem(n),
            Fault::DnsFail => self.armed.dns_fail += 1,
        }
    }
}

impl SimModem for Bg96Sim {
    fn name(&self) -> &'static str {
        "bg96"
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
