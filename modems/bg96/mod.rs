//! Quectel BG96 profile (TCP/IP AT commands; BG95/BG77 answer the same way).
//!
//! What this profile assumes is written down in `modems/bg96/README.md`, with the
//! firmware and captures it was checked against.

pub mod commands;
// Host-only simulator: a panic there is a failed test, not a crashed device.
#[cfg(feature = "sim")]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
pub mod sim;

use core::net::{IpAddr, SocketAddr};

use atat::AtatCmd;

use crate::error::Reason;
use crate::framer::Frame;
use crate::profile::emit;
use crate::profile::{
    Command, Context, Event, FormatError, Info, Limits, ModemHandle, Op, Profile, SendAbort, Urc,
};
use crate::standard;
use crate::text::small;
use crate::text::{after, fields, number};
use crate::PdpType;
use commands::*;

/// How the modem hands over received datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AccessMode {
    /// `+QIURC: "recv",<id>,<len>` followed by the datagram: no command per
    /// datagram (the default).
    #[default]
    DirectPush,
    /// `+QIURC: "recv",<id>` then `AT+QIRD` per datagram.
    Buffer,
}

/// The BG96 profile.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bg96 {
    /// Receive mode requested when opening sockets. Datagrams announced in the other
    /// form are handled too, whatever the modem decides to do.
    pub access_mode: AccessMode,
}

/// The configuration commands run after the modem answers a probe, in order.
const INIT_STEPS: u8 = 4;

/// BG96 open error: socket identity already in use.
const ERR_IN_USE: u16 = 563;
/// BG96 open error: DNS failure.
const ERR_DNS: u16 = 565;

fn open_error(code: u16) -> Reason {
    match code {
        ERR_IN_USE => Reason::SocketInUse,
        ERR_DNS => Reason::DnsFailed,
        e => Reason::OpenFailed(e),
    }
}

impl Bg96 {
    /// A profile with direct-push receive.
    pub const fn new() -> Self {
        Bg96 {
            access_mode: AccessMode::DirectPush,
        }
    }

    /// A profile with buffer-mode receive (`AT+QIRD`).
    pub const fn buffered() -> Self {
        Bg96 {
            access_mode: AccessMode::Buffer,
        }
    }
}

/// Worst-case length of a command without free text.
const SHORT: usize = 48;

impl Profile for Bg96 {
    fn name(&self) -> &'static str {
        "bg96"
    }

    fn limits(&self) -> Limits {
        Limits {
            max_send: 1460,
            max_recv: 1500,
            max_sockets: 12,
            max_host_len: 128,
        }
    }

    fn timeout_ms(&self, op: Op) -> u32 {
        match op {
            Op::Probe => 500,
            Op::Init(_) => ErrorFormat::MAX_TIMEOUT_MS,
            Op::SimStatus => QuerySim::MAX_TIMEOUT_MS,
            Op::Registration => QueryRegistration::MAX_TIMEOUT_MS,
            Op::PdpStatus => QueryContexts::MAX_TIMEOUT_MS,
            Op::PdpActivate => ActivateContext::MAX_TIMEOUT_MS,
            Op::PdpDeactivate => DeactivateContext::MAX_TIMEOUT_MS,
            Op::Open { .. } => OpenSocket::MAX_TIMEOUT_MS,
            Op::Send { .. } => SendData::MAX_TIMEOUT_MS,
            Op::Read { .. } => ReadData::MAX_TIMEOUT_MS,
            // No close-all command (`can_close_all` is false): never asked.
            Op::Close { .. } | Op::CloseAll => CloseSocket::MAX_TIMEOUT_MS,
            Op::LocalPort { .. } => QuerySocket::MAX_TIMEOUT_MS,
            // No idle hint (`can_hint_idle` is false): never asked.
            Op::IdleHint { .. } => QuerySocket::MAX_TIMEOUT_MS,
            Op::SignalQuality => QuerySignal::MAX_TIMEOUT_MS,
            Op::Resolve => ResolveHost::MAX_TIMEOUT_MS,
        }
    }

    fn init_steps(&self) -> u8 {
        INIT_STEPS
    }

    fn open_result_is_urc(&self) -> bool {
        true
    }

    fn handle_for_slot(&self, slot: usize) -> Option<ModemHandle> {
        // connectIDs 0..=11 are chosen by the host: slot n uses connectID n.
        (slot < 12).then_some(slot as u8)
    }

    fn can_query_local_port(&self) -> bool {
        true
    }

    fn can_bind_local_port(&self) -> bool {
        true
    }

    fn open_error(&self, code: u16) -> Reason {
        open_error(code)
    }

    fn reads_buffered_data(&self) -> bool {
        self.access_mode == AccessMode::Buffer
    }

    fn can_open_unconnected(&self) -> bool {
        // "UDP SERVICE": AT+QISEND with the destination, "recv" URCs with the sender.
        true
    }

    fn can_resolve(&self) -> bool {
        true
    }

    fn resolve_result_is_urc(&self) -> bool {
        // AT+QIDNSGIP answers OK, the addresses come as +QIURC: "dnsgip" URCs.
        true
    }

    fn resolve_result_timeout_ms(&self) -> u32 {
        ResolveHost::MAX_TIMEOUT_MS
    }

    fn format(&self, cmd: &Command<'_>, out: &mut [u8]) -> Result<usize, FormatError> {
        match *cmd {
            Command::Init { step, config } => match step {
                0 => emit(&EchoOff, SHORT, out),
                1 => emit(&ErrorFormat { n: 1 }, SHORT, out),
                2 => emit(&RegistrationUrc { n: 1 }, SHORT, out),
                3 => {
                    let context_type = match config.pdp_type {
                        PdpType::Ipv4 => 1,
                        PdpType::Ipv6 => 2,
                        PdpType::Ipv4v6 => 3,
                    };
                    let cmd = ConfigureContext {
                        cid: config.context_id,
                        context_type,
                        apn: &config.apn,
                        user: "",
                        password: "",
                        auth: 0,
                    };
                    emit(&cmd, SHORT + config.apn.len(), out)
                }
                _ => Err(FormatError::Unsupported),
            },
            Command::Pdp { op, config } => {
                let cid = config.context_id;
                match op {
                    Op::PdpStatus => emit(&QueryContexts, SHORT, out),
                    Op::PdpActivate => emit(&ActivateContext { cid }, SHORT, out),
                    Op::PdpDeactivate => emit(&DeactivateContext { cid }, SHORT, out),
                    _ => Err(FormatError::Unsupported),
                }
            }
            Command::Open {
                handle,
                host,
                port,
                local_port,
                config,
                ..
            } => {
                let cmd = OpenSocket {
                    cid: config.context_id,
                    connect_id: handle,
                    service: "UDP",
                    host,
                    port,
                    local_port: local_port.unwrap_or(0),
                    access_mode: match self.access_mode {
                        AccessMode::DirectPush => 1,
                        AccessMode::Buffer => 0,
                    },
                };
                emit(&cmd, SHORT + host.len(), out)
            }
            Command::OpenUnconnected {
                handle,
                local_port,
                config,
                ..
            } => {
                // "UDP SERVICE" takes 127.0.0.1 and port 0 as its (unused) remote.
                let cmd = OpenSocket {
                    cid: config.context_id,
                    connect_id: handle,
                    service: "UDP SERVICE",
                    host: "127.0.0.1",
                    port: 0,
                    local_port: local_port.unwrap_or(0),
                    access_mode: match self.access_mode {
                        AccessMode::DirectPush => 1,
                        AccessMode::Buffer => 0,
                    },
                };
                emit(&cmd, SHORT + 16, out)
            }
            Command::SendTo { handle, len, to } => {
                let ip = crate::text::ip_text(to.ip());
                let cmd = SendDataTo {
                    connect_id: handle,
                    len,
                    ip: &ip,
                    port: to.port(),
                };
                emit(&cmd, SHORT + ip.len(), out)
            }
            Command::Resolve { host, config, .. } => {
                let cmd = ResolveHost {
                    cid: config.context_id,
                    host,
                };
                emit(&cmd, SHORT + host.len(), out)
            }
            Command::Plain(op) => match op {
                Op::Probe => emit(&Probe, SHORT, out),
                Op::SimStatus => emit(&QuerySim, SHORT, out),
                Op::Registration => emit(&QueryRegistration, SHORT, out),
                Op::SignalQuality => emit(&QuerySignal, SHORT, out),
                Op::Send { handle, len } => emit(
                    &SendData {
                        connect_id: handle,
                        len,
                    },
                    SHORT,
                    out,
                ),
                Op::Read { handle } => emit(
                    &ReadData {
                        connect_id: handle,
                        max_len: 1500,
                    },
                    SHORT,
                    out,
                ),
                Op::Close { handle } => emit(&CloseSocket { connect_id: handle }, SHORT, out),
                Op::LocalPort { handle } => emit(
                    &QuerySocket {
                        query_type: 1,
                        connect_id: handle,
                    },
                    SHORT,
                    out,
                ),
                _ => Err(FormatError::Unsupported),
            },
        }
    }

    fn payload_length(&self, line: &[u8], _ctx: &Context) -> Option<usize> {
        if let Some(params) = after(line, b"+QIURC:") {
            // Direct push: "recv",<id>,<len>[,"<ip>",<port>]
            let mut f = fields(params);
            if f.next()? != b"recv" {
                return None;
            }
            f.next()?;
            return number(f.next()?).map(|n| n as usize);
        }
        if let Some(params) = after(line, b"+QIRD:") {
            // +QIRD: <len>[,"<ip>",<port>]; "+QIRD: 0" has no payload, and the
            // three-number query form "+QIRD: a,b,c" is not a payload header.
            let mut f = fields(params);
            let len = number(f.next()?)? as usize;
            let second = f.next();
            let is_header = second.is_none() || params.windows(2).any(|w| w == b",\"");
            return (len > 0 && is_header).then_some(len);
        }
        None
    }

    fn classify<'a>(&self, frame: Frame<'a>, ctx: &Context) -> Event<'a> {
        match frame {
            Frame::Prompt => Event::Prompt,
            Frame::Payload { header, data } => {
                if let Some(params) = after(header, b"+QIURC:") {
                    // "recv",<id>,<len>[,"<ip>",<port>] ("UDP SERVICE": the sender).
                    let mut f = fields(params);
                    f.next();
                    // A connectID that is no byte names no socket: taken off the
                    // wire by count, never delivered (truncated, 256 would be 0).
                    let handle = f.next().and_then(small);
                    f.next();
                    let from = sender(f.next(), f.next());
                    return match handle {
                        Some(handle) => Event::Datagram { handle, data, from },
                        None => Event::Unknown,
                    };
                }
                match ctx.op {
                    Some(Op::Read { handle }) => {
                        // +QIRD: <len>[,"<ip>",<port>]
                        let mut f = after(header, b"+QIRD:").map(fields);
                        let mut next = || f.as_mut().and_then(|f| f.next());
                        next();
                        let from = sender(next(), next());
                        Event::Datagram { handle, data, from }
                    }
                    _ => Event::Unknown,
                }
            }
            Frame::Line(line) => classify_line(line, ctx),
        }
    }

    fn send_abort(&self) -> SendAbort {
        // AT+QISEND=<id>,<len> takes exactly len bytes; ESC cancels only the
        // variable-length form. NULs complete the count and mean nothing to the
        // command parser if the modem was not waiting after all.
        SendAbort::Fill(0)
    }

    fn can_send_empty(&self) -> bool {
        // AT+QISEND=<id>,0 is the query of the sent-data counters, not a send.
        false
    }

    fn op_for_host_line(&self, line: &[u8]) -> Option<Op> {
        host_line_op(line)
    }
}

/// The sender of a datagram from its `"<ip>",<port>` fields.
fn sender(ip: Option<&[u8]>, port: Option<&[u8]>) -> Option<SocketAddr> {
    let ip: IpAddr = core::str::from_utf8(ip?).ok()?.parse().ok()?;
    let port = u16::try_from(number(port?)?).ok()?;
    Some(SocketAddr::new(ip, port))
}

/// `line` without `prefix`, compared without regard to ASCII case.
fn strip_ci<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = line.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| line.get(prefix.len()..))
        .flatten()
}

/// The op a BG96 command line written by another host stands for (for replaying
/// field logs: the line tells the framer and `classify` what is in flight). Query
/// forms that only look like an op (`AT+QISEND=<id>,0`, `AT+QIRD=<id>,0`) and
/// commands cellsock does not send map to nothing.
fn host_line_op(line: &[u8]) -> Option<Op> {
    let line = line.trim_ascii();
    let id = |params: &[u8]| -> Option<u8> {
        let n = number(fields(params).next()?)?;
        u8::try_from(n).ok()
    };
    if line.eq_ignore_ascii_case(b"AT") {
        return Some(Op::Probe);
    }
    if line.eq_ignore_ascii_case(b"ATE0") {
        return Some(Op::Init(0));
    }
    if line.eq_ignore_ascii_case(b"AT+CPIN?") {
        return Some(Op::SimStatus);
    }
    if line.eq_ignore_ascii_case(b"AT+CEREG?") {
        return Some(Op::Registration);
    }
    if line.eq_ignore_ascii_case(b"AT+QIACT?") {
        return Some(Op::PdpStatus);
    }
    if line.eq_ignore_ascii_case(b"AT+CSQ") {
        return Some(Op::SignalQuality);
    }
    if strip_ci(line, b"AT+CMEE=").is_some() {
        return Some(Op::Init(1));
    }
    if strip_ci(line, b"AT+CEREG=").is_some() {
        return Some(Op::Init(2));
    }
    if let Some(p) = strip_ci(line, b"AT+QICSGP=") {
        // The set form has the APN; "AT+QICSGP=1" alone is a query.
        return (fields(p).count() > 1).then_some(Op::Init(3));
    }
    if strip_ci(line, b"AT+QIACT=").is_some() {
        return Some(Op::PdpActivate);
    }
    if strip_ci(line, b"AT+QIDEACT=").is_some() {
        return Some(Op::PdpDeactivate);
    }
    if strip_ci(line, b"AT+QIDNSGIP=").is_some() {
        return Some(Op::Resolve);
    }
    if let Some(p) = strip_ci(line, b"AT+QIOPEN=") {
        // <cid>,<connectID>,...
        let handle = fields(p).nth(1).and_then(number)?;
        return Some(Op::Open {
            handle: u8::try_from(handle).ok()?,
            step: 0,
        });
    }
    if let Some(p) = strip_ci(line, b"AT+QISEND=") {
        // <connectID>,<len>; a length of 0 is the counter query, no prompt.
        let len = fields(p).nth(1).and_then(number)?;
        return match u16::try_from(len).ok()? {
            0 => None,
            len => Some(Op::Send {
                handle: id(p)?,
                len,
            }),
        };
    }
    if let Some(p) = strip_ci(line, b"AT+QIRD=") {
        // <connectID>[,<len>]; a length of 0 is the counter query.
        return match fields(p).nth(1).map(number) {
            Some(Some(0)) => None,
            _ => Some(Op::Read { handle: id(p)? }),
        };
    }
    if let Some(p) = strip_ci(line, b"AT+QICLOSE=") {
        return Some(Op::Close { handle: id(p)? });
    }
    if let Some(p) = strip_ci(line, b"AT+QISTATE=1,") {
        return Some(Op::LocalPort { handle: id(p)? });
    }
    None
}

fn parse<'a, T: atat::serde_at::serde::Deserialize<'a>>(line: &'a [u8]) -> Option<T> {
    atat::serde_at::from_slice(line).ok()
}

fn classify_line<'a>(line: &'a [u8], ctx: &Context) -> Event<'a> {
    use crate::profile::Final;
    match line {
        b"OK" => return Event::Final(Final::Ok),
        b"ERROR" => return Event::Final(Final::Error),
        b"SEND OK" => return Event::Final(Final::SendOk),
        b"SEND FAIL" => return Event::Final(Final::SendFail),
        b"RDY" => return Event::Urc(Urc::Boot),
        b"APP RDY" => return Event::Urc(Urc::AppReady),
        b"POWERED DOWN" => return Event::Urc(Urc::PoweredDown),
        _ => {}
    }
    if let Some(result) = standard::error_result(line) {
        return Event::Final(result);
    }
    if standard::is_command_echo(line) {
        return Event::Echo;
    }
    if let Some(params) = after(line, b"+QIURC:") {
        return qiurc(params);
    }
    if line.starts_with(b"+QIOPEN:") {
        return match parse::<OpenResult>(line) {
            Some(r) => Event::Urc(Urc::OpenResult {
                handle: r.connect_id,
                result: match r.err {
                    0 => Ok(()),
                    e => Err(open_error(e)),
                },
            }),
            None => Event::Unknown,
        };
    }
    if let Some(params) = after(line, b"+CEREG:") {
        // With URC mode 1 the URC has one field and the query answer two.
        return standard::registration(params);
    }
    if let Some(event) = standard::sim_status(line, ctx) {
        return event;
    }
    if let Some(params) = after(line, b"+QIACT:") {
        // serde_at needs the exact shape; the address is taken from the line itself
        // so that the event can borrow it.
        let mut f = fields(params);
        let (cid, state) = (f.next().and_then(number), f.next().and_then(number));
        let _type = f.next();
        let ip = f.next().and_then(|ip| core::str::from_utf8(ip).ok());
        return match (cid, state, ip, parse::<ContextState>(line)) {
            (Some(cid), Some(1), Some(ip), Some(_)) => match u8::try_from(cid) {
                Ok(cid) => Event::Info(Info::PdpActive { cid, ip }),
                Err(_) => Event::Info(Info::Other),
            },
            (Some(_), Some(_), _, _) => Event::Info(Info::Other),
            _ => Event::Unknown,
        };
    }
    if let Some(params) = after(line, b"+QISTATE:") {
        // <id>,"UDP","<ip>",<remote_port>,<local_port>,<state>,...
        return match fields(params).nth(4).and_then(number) {
            Some(p) if p <= u16::MAX as u32 => Event::Info(Info::LocalPort(p as u16)),
            _ => Event::Info(Info::Other),
        };
    }
    if let Some(params) = after(line, b"+QIRD:") {
        return match number(params) {
            Some(0) => Event::Info(Info::NoData),
            _ => Event::Info(Info::Other),
        };
    }
    if line.starts_with(b"+CSQ:") {
        return match parse::<SignalQuality>(line) {
            Some(q) => Event::Info(Info::SignalQuality {
                rssi: q.rssi,
                ber: q.ber,
            }),
            None => Event::Unknown,
        };
    }
    // Boot chatter the driver needs nothing from.
    const NOISE: [&[u8]; 4] = [b"+QIND:", b"+QUSIM:", b"+CFUN:", b"+QICSGP:"];
    if NOISE.iter().any(|p| line.starts_with(p)) {
        return Event::Info(Info::Other);
    }
    Event::Unknown
}

/// `+QIURC: "<kind>",...` without a payload.
fn qiurc(params: &[u8]) -> Event<'_> {
    if let Some(rest) = after(params, b"\"dnsgip\",") {
        return dnsgip(rest);
    }
    let mut f = fields(params);
    let kind = f.next().unwrap_or(b"");
    // Ids that are no byte name no socket or context (truncated, 256 would be 0).
    let id = f.next().and_then(small);
    match (kind, id) {
        (b"closed", Some(id)) => Event::Urc(Urc::Closed(id)),
        (b"pdpdeact", Some(cid)) => Event::Urc(Urc::PdpDeactivated(cid)),
        // Buffer mode: the datagram waits in the modem. (The direct-push form has a
        // length and arrives as a payload frame instead.)
        (b"recv", Some(id)) if f.next().is_none() => Event::Urc(Urc::DataPending(id)),
        (b"incoming full", _) => Event::Info(Info::Other),
        _ => Event::Unknown,
    }
}

/// `+QIURC: "dnsgip",...` after `"dnsgip",`: `<err>,<IP_count>,<DNS_ttl>` (the
/// outcome; err 0 = resolved), `<err>` alone (failed), or `"<ip>"` (one address).
fn dnsgip<'a>(rest: &[u8]) -> Event<'a> {
    let mut f = fields(rest);
    let first = f.next();
    if rest.trim_ascii_start().starts_with(b"\"") {
        let ip = first
            .and_then(|ip| core::str::from_utf8(ip).ok())
            .and_then(|ip| ip.parse::<IpAddr>().ok());
        return match ip {
            Some(ip) => Event::Urc(Urc::ResolvedAddress(ip)),
            None => Event::Unknown,
        };
    }
    match first.and_then(number) {
        // More addresses than a byte counts cannot come from one query; taken as
        // many as a byte holds, the rest are ignored.
        Some(0) => {
            let count = f.next().and_then(number).unwrap_or(0);
            Event::Urc(Urc::ResolveResult(Ok(
                u8::try_from(count).unwrap_or(u8::MAX)
            )))
        }
        Some(_) => Event::Urc(Urc::ResolveResult(Err(Reason::DnsFailed))),
        None => Event::Unknown,
    }
}
