//! Nordic nRF91 Series running the Serial Modem application (the nRF Connect SDK
//! add-on that succeeded the Serial LTE Modem, SLM).
//!
//! The `#X` socket syntax changed across releases; this profile speaks the one of
//! the Serial Modem version pinned in `modems/nrf91_slm/README.md`, which also lists
//! every command, the quirks handled and what is not done.
//!
//! In short: the modem assigns socket handles (`#XSOCKET: <handle>,2,17`), a socket
//! is opened in two steps (`AT#XSOCKET`, `AT#XCONNECT`; three with `AT#XBIND`), a
//! datagram is sent in data mode with an explicit length (`AT#XSEND=<h>,2,0,<len>`,
//! whose `OK` is the "prompt" and whose end is `#XDATAMODE: 0`), and datagrams are
//! received either pushed by the modem (`AT#XRECVCFG`, the default) or read on a
//! `#XAPOLL` notification (`AT#XRECVFROM`).

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

use crate::framer::Frame;
use crate::profile::emit;
use crate::profile::{
    Command, Context, Event, Final, FormatError, Info, Limits, ModemHandle, Op, Profile, SendAbort,
    Urc,
};
use crate::standard;
use crate::text::small;
use crate::text::{after, fields, number};
use crate::{AddressFamily, PdpType};
use commands::*;

/// How the modem hands over received datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RecvMode {
    /// Automatic reception (`AT#XRECVCFG=,1,0`): the modem pushes
    /// `#XRECV: <h>,0,<len>` + the datagram unasked; no command per datagram.
    #[default]
    Push,
    /// `#XAPOLL: <h>,1` announces data, `AT#XRECVFROM` reads one datagram.
    Poll,
}

/// The nRF91 Serial Modem profile.
#[derive(Clone, Copy, Debug, Default)]
pub struct Nrf91Slm {
    /// How datagrams are received. Pushed and read datagrams are both understood
    /// whatever this says.
    pub recv_mode: RecvMode,
}

impl Nrf91Slm {
    /// A profile with automatic (pushed) reception.
    pub const fn new() -> Self {
        Nrf91Slm {
            recv_mode: RecvMode::Push,
        }
    }

    /// A profile that reads each datagram on a `#XAPOLL` notification.
    pub const fn polled() -> Self {
        Nrf91Slm {
            recv_mode: RecvMode::Poll,
        }
    }
}

/// The configuration commands run after the modem answers a probe, in order.
const INIT_STEPS: u8 = 9;

/// Worst-case length of a command without free text.
const SHORT: usize = 64;

/// Longest host name `AT#XCONNECT` takes (its buffer is 128 bytes with the NUL).
const MAX_HOST: usize = 127;

/// Most sockets the Serial Modem holds at once.
const MAX_SOCKETS: usize = 8;

/// Largest datagram one data-mode send takes here (the core's send buffer; the
/// Serial Modem's data-mode buffer is 4 KiB, and the network MTU is usually lower:
/// an oversized datagram ends in `#XDATAMODE: -1`, reported as a failed send).
const MAX_SEND: usize = 1460;

/// Largest datagram one receive hands over (`sm_data_buf`, 2048 bytes).
const MAX_RECV: usize = 2048;

/// `AT#XSOCKETOPT` operation: set.
const SOCKETOPT_SET: u8 = 1;
/// `AT#XSOCKETOPT` option: release assistance indication.
const AT_SO_RAI: u8 = 61;
/// `AT_SO_RAI` value: no more data is expected (the modem may leave connected
/// mode at once).
const RAI_NO_DATA: u8 = 1;

/// `POLLIN` in `#XAPOLL` revents.
const POLLIN: u32 = 1;
/// `POLLERR | POLLHUP | POLLNVAL` in `#XAPOLL` revents.
const POLL_GONE: u32 = 8 | 16 | 32;

/// Written after a send timed out before its payload was complete. A modem still in
/// data mode counts bytes, not terminators: `+++` (which ends the "drop until
/// terminator" state the Serial Modem enters after a failed partial send) and then
/// enough `\r` to complete any announced length. In AT-command mode the Serial
/// Modem ignores all of it (nothing it buffers until it sees `AT`).
const SEND_ABORT_LEN: usize = 3 + MAX_SEND;
static SEND_ABORT: [u8; SEND_ABORT_LEN] = {
    let mut bytes = [b'\r'; SEND_ABORT_LEN];
    bytes[0] = b'+';
    bytes[1] = b'+';
    bytes[2] = b'+';
    bytes
};

/// `#XRECV: <h>,<mode>,<size>` or `#XRECVFROM: <h>,<mode>,<size>,"<ip>",<port>`:
/// the handle, the mode and the number of bytes that follow the header.
fn recv_header(line: &[u8]) -> Option<(ModemHandle, u32, usize)> {
    let params = after(line, b"#XRECVFROM:").or_else(|| after(line, b"#XRECV:"))?;
    let mut f = fields(params);
    let handle = small(f.next()?)?;
    let mode = number(f.next()?)?;
    let size = number(f.next()?)? as usize;
    let on_wire = match mode {
        0 => size,
        // Hex text: two characters per byte. Never asked for, but taken by count
        // so that the characters are not read as lines.
        1 => size.checked_mul(2)?,
        _ => return None,
    };
    Some((handle, mode, on_wire))
}

/// The sender in a `#XRECVFROM: <h>,<mode>,<size>,"<ip>",<port>` header.
fn recv_sender(line: &[u8]) -> Option<SocketAddr> {
    let mut f = fields(after(line, b"#XRECVFROM:")?).skip(3);
    let ip: IpAddr = core::str::from_utf8(f.next()?).ok()?.parse().ok()?;
    let port = u16::try_from(number(f.next()?)?).ok()?;
    Some(SocketAddr::new(ip, port))
}

impl Profile for Nrf91Slm {
    fn name(&self) -> &'static str {
        match self.recv_mode {
            RecvMode::Push => "nrf91",
            RecvMode::Poll => "nrf91-poll",
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_send: MAX_SEND,
            max_recv: MAX_RECV,
            max_sockets: MAX_SOCKETS,
            max_host_len: MAX_HOST,
        }
    }

    fn timeout_ms(&self, op: Op) -> u32 {
        match op {
            Op::Probe => Probe::MAX_TIMEOUT_MS,
            Op::Init(step) => match step {
                5 => Functionality::MAX_TIMEOUT_MS,
                6 => CloseAll::MAX_TIMEOUT_MS,
                _ => ErrorFormat::MAX_TIMEOUT_MS,
            },
            Op::SimStatus => QuerySim::MAX_TIMEOUT_MS,
            Op::Registration => QueryRegistration::MAX_TIMEOUT_MS,
            Op::PdpStatus => QueryAddress::MAX_TIMEOUT_MS,
            Op::PdpActivate | Op::PdpDeactivate => ActivateContext::MAX_TIMEOUT_MS,
            Op::Open { step: 0, .. } => OpenSocket::MAX_TIMEOUT_MS,
            Op::Open { .. } => Connect::MAX_TIMEOUT_MS,
            Op::Send { .. } => SendData::MAX_TIMEOUT_MS,
            Op::Read { .. } => ReceiveFrom::MAX_TIMEOUT_MS,
            Op::Close { .. } => CloseSocket::MAX_TIMEOUT_MS,
            Op::CloseAll => CloseAll::MAX_TIMEOUT_MS,
            Op::IdleHint { .. } => ReleaseAssistance::MAX_TIMEOUT_MS,
            Op::LocalPort { .. } => Probe::MAX_TIMEOUT_MS,
            Op::SignalQuality => QuerySignal::MAX_TIMEOUT_MS,
            Op::Resolve => GetAddrInfo::MAX_TIMEOUT_MS,
        }
    }

    fn init_steps(&self) -> u8 {
        INIT_STEPS
    }

    fn open_steps(&self, bind: bool) -> u8 {
        // AT#XSOCKET, [AT#XBIND,] AT#XCONNECT.
        if bind {
            3
        } else {
            2
        }
    }

    fn unconnected_open_steps(&self, bind: bool) -> u8 {
        // AT#XSOCKET[, AT#XBIND].
        if bind {
            2
        } else {
            1
        }
    }

    fn can_open_unconnected(&self) -> bool {
        // AT#XSENDTO and #XRECVFROM with the sender.
        true
    }

    fn can_choose_local_port(&self) -> bool {
        // AT#XBIND before AT#XCONNECT (the port of `reuse_last_port` cannot be
        // learnt, see `can_bind_local_port`, but a port the application names can
        // be bound).
        true
    }

    fn can_resolve(&self) -> bool {
        true
    }

    fn handle_for_slot(&self, _slot: usize) -> Option<ModemHandle> {
        // The modem assigns handles (`#XSOCKET: <handle>,...`).
        None
    }

    fn can_close_all(&self) -> bool {
        // `AT#XCLOSE` without a handle (also the last configuration step).
        true
    }

    fn can_hint_idle(&self) -> bool {
        // Release assistance: `AT#XSOCKETOPT=<h>,1,61,1` (`AT_SO_RAI`, `RAI_NO_DATA`).
        true
    }

    fn reads_buffered_data(&self) -> bool {
        // Poll mode reads on `#XAPOLL`. Push mode answers true as well, so that the
        // core's background poll reads each connected socket once per poll
        // interval: after a zero-length datagram the Serial Modem stops pushing
        // (it re-arms reception only after a non-empty receive), and that read is
        // what starts it again.
        true
    }

    fn format(&self, cmd: &Command<'_>, out: &mut [u8]) -> Result<usize, FormatError> {
        match *cmd {
            Command::Init { step, config } => match step {
                0 => emit(&EchoOff, SHORT, out),
                1 => emit(&ErrorFormat { n: 1 }, SHORT, out),
                2 => emit(&RegistrationUrc { n: 1 }, SHORT, out),
                3 => emit(&PacketEvents { mode: 1 }, SHORT, out),
                4 if config.context_id == 0 && config.apn.is_empty() => {
                    // The default bearer with the network's APN: nothing to define.
                    // A probe keeps the step count fixed.
                    emit(&Probe, SHORT, out)
                }
                4 => {
                    let pdp_type = match config.pdp_type {
                        PdpType::Ipv4 => "IP",
                        PdpType::Ipv6 => "IPV6",
                        PdpType::Ipv4v6 => "IPV4V6",
                    };
                    let cmd = DefineContext {
                        cid: config.context_id,
                        pdp_type,
                        apn: &config.apn,
                    };
                    emit(&cmd, SHORT + config.apn.len(), out)
                }
                5 => emit(&Functionality { fun: 1 }, SHORT, out),
                6 => emit(&CloseAll, SHORT, out),
                7 => {
                    let cmd = match self.recv_mode {
                        RecvMode::Push => ReceiveConfig {
                            handle: None,
                            flags: 1,
                            hex: Some(0),
                        },
                        RecvMode::Poll => ReceiveConfig {
                            handle: None,
                            flags: 0,
                            hex: None,
                        },
                    };
                    emit(&cmd, SHORT, out)
                }
                8 => {
                    let events = match self.recv_mode {
                        RecvMode::Push => 0,
                        RecvMode::Poll => POLLIN as u8,
                    };
                    let cmd = AsyncPoll {
                        handle: None,
                        op: 1,
                        events,
                    };
                    emit(&cmd, SHORT, out)
                }
                _ => Err(FormatError::Unsupported),
            },
            Command::Pdp { op, config } => {
                let cid = config.context_id;
                match op {
                    Op::PdpStatus => emit(&QueryAddress { cid }, SHORT, out),
                    Op::PdpActivate => emit(&ActivateContext { state: 1, cid }, SHORT, out),
                    Op::PdpDeactivate => emit(&ActivateContext { state: 0, cid }, SHORT, out),
                    _ => Err(FormatError::Unsupported),
                }
            }
            Command::Open {
                handle,
                step,
                host,
                port,
                local_port,
                config,
            } => {
                let connect = Connect { handle, host, port };
                match (step, local_port) {
                    (0, _) => {
                        let ipv6 = host.contains(':') || config.pdp_type == PdpType::Ipv6;
                        let cid = config.context_id;
                        let cmd = OpenSocket {
                            family: if ipv6 { 2 } else { 1 },
                            socket_type: 2,
                            role: 0,
                            cid: (cid != 0).then_some(cid),
                        };
                        emit(&cmd, SHORT, out)
                    }
                    _ if handle == Op::NEW_HANDLE => Err(FormatError::Unsupported),
                    (1, Some(port)) => emit(&Bind { handle, port }, SHORT, out),
                    (1, None) | (2, Some(_)) if host.len() <= MAX_HOST => {
                        emit(&connect, SHORT + host.len(), out)
                    }
                    (1, None) | (2, Some(_)) => Err(FormatError::TooLong),
                    _ => Err(FormatError::Unsupported),
                }
            }
            Command::OpenUnconnected {
                handle,
                step,
                local_port,
                family,
                config,
            } => match (step, local_port) {
                (0, _) => {
                    let ipv6 = match family {
                        AddressFamily::Ipv4 => false,
                        AddressFamily::Ipv6 => true,
                        AddressFamily::Unspecified => config.pdp_type == PdpType::Ipv6,
                    };
                    let cid = config.context_id;
                    let cmd = OpenSocket {
                        family: if ipv6 { 2 } else { 1 },
                        socket_type: 2,
                        role: 0,
                        cid: (cid != 0).then_some(cid),
                    };
                    emit(&cmd, SHORT, out)
                }
                _ if handle == Op::NEW_HANDLE => Err(FormatError::Unsupported),
                (1, Some(port)) => emit(&Bind { handle, port }, SHORT, out),
                _ => Err(FormatError::Unsupported),
            },
            // Length 0 would put the modem in terminator mode, as for AT#XSEND.
            Command::SendTo { len: 0, .. } => Err(FormatError::Unsupported),
            Command::SendTo { handle, len, to } => {
                let ip = crate::text::ip_text(to.ip());
                let cmd = SendDataTo {
                    handle,
                    mode: 2,
                    flags: 0,
                    url: &ip,
                    port: to.port(),
                    len,
                };
                emit(&cmd, SHORT + ip.len(), out)
            }
            Command::Resolve { host, family, .. } if host.len() <= MAX_HOST => {
                let family = match family {
                    AddressFamily::Unspecified => None,
                    AddressFamily::Ipv4 => Some(1),
                    AddressFamily::Ipv6 => Some(2),
                };
                emit(&GetAddrInfo { host, family }, SHORT + host.len(), out)
            }
            Command::Resolve { .. } => Err(FormatError::TooLong),
            Command::Plain(op) => match op {
                Op::Probe => emit(&Probe, SHORT, out),
                Op::SimStatus => emit(&QuerySim, SHORT, out),
                Op::Registration => emit(&QueryRegistration, SHORT, out),
                Op::SignalQuality => emit(&QuerySignal, SHORT, out),
                // Length 0 would put the modem in terminator mode (`+++`), which a
                // binary payload cannot use: an empty datagram cannot be sent.
                Op::Send { len: 0, .. } => Err(FormatError::Unsupported),
                Op::Send { handle, len } => emit(
                    &SendData {
                        handle,
                        mode: 2,
                        flags: 0,
                        len,
                    },
                    SHORT,
                    out,
                ),
                Op::Read { handle } => emit(
                    &ReceiveFrom {
                        handle,
                        mode: 0,
                        flags: 64,
                        timeout: 1,
                    },
                    SHORT,
                    out,
                ),
                Op::Close { handle } => emit(&CloseSocket { handle }, SHORT, out),
                Op::CloseAll => emit(&CloseAll, SHORT, out),
                Op::IdleHint { handle } => emit(
                    &ReleaseAssistance {
                        handle,
                        op: SOCKETOPT_SET,
                        name: AT_SO_RAI,
                        value: RAI_NO_DATA,
                    },
                    SHORT,
                    out,
                ),
                _ => Err(FormatError::Unsupported),
            },
        }
    }

    fn payload_length(&self, line: &[u8], _ctx: &Context) -> Option<usize> {
        recv_header(line).map(|(_, _, len)| len)
    }

    fn prompt_byte(&self) -> u8 {
        // The Serial Modem has no prompt byte: the `OK` that follows the send
        // command is its prompt (see `classify`). A line end can never start a
        // frame (the framer skips line ends first), so this disables the byte form.
        b'\n'
    }

    fn can_send_empty(&self) -> bool {
        // A data-mode send of zero bytes would never end.
        false
    }

    fn bare_read_is_empty_datagram(&self) -> bool {
        true
    }

    fn send_abort(&self) -> SendAbort {
        SendAbort::Bytes(&SEND_ABORT)
    }

    fn op_for_host_line(&self, line: &[u8]) -> Option<Op> {
        host_line_op(line)
    }

    fn classify<'a>(&self, frame: Frame<'a>, ctx: &Context) -> Event<'a> {
        match frame {
            Frame::Prompt => Event::Prompt,
            Frame::Payload { header, data } => match recv_header(header) {
                Some((handle, 0, _)) => Event::Datagram {
                    handle,
                    data,
                    from: recv_sender(header),
                },
                // Hex or unknown form: taken off the wire, not delivered.
                _ => Event::Unknown,
            },
            Frame::Line(line) => classify_line(line, ctx),
        }
    }
}

/// `line` without a case-insensitive `prefix`.
fn strip_ci<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = line.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        line.get(prefix.len()..)
    } else {
        None
    }
}

/// The op a command line written by another host stands for (ingress replay of
/// captures). Only data-mode sends with a length await the `OK` prompt; the text
/// and hex forms (`AT#XSEND=<h>,0,...,"data"`) answer like any command.
fn host_line_op(line: &[u8]) -> Option<Op> {
    let line = line.trim_ascii();
    let handle = |params: &[u8]| fields(params).next().and_then(small);
    let exact = [
        (&b"AT"[..], Op::Probe),
        (b"ATE0", Op::Init(0)),
        (b"AT+CFUN=1", Op::Init(5)),
        (b"AT#XCLOSE", Op::Init(6)),
        (b"AT+CPIN?", Op::SimStatus),
        (b"AT+CEREG?", Op::Registration),
        (b"AT+CESQ", Op::SignalQuality),
    ];
    if let Some((_, op)) = exact.iter().find(|(l, _)| line.eq_ignore_ascii_case(l)) {
        return Some(*op);
    }
    let prefixed = [
        (&b"AT+CMEE="[..], Op::Init(1)),
        (b"AT+CEREG=", Op::Init(2)),
        (b"AT+CGEREP=", Op::Init(3)),
        (b"AT+CGDCONT=", Op::Init(4)),
        (b"AT#XRECVCFG=", Op::Init(7)),
        (b"AT#XAPOLL=", Op::Init(8)),
        (b"AT+CGPADDR", Op::PdpStatus),
        (b"AT+CGACT=1", Op::PdpActivate),
        (b"AT+CGACT=0", Op::PdpDeactivate),
    ];
    if let Some((_, op)) = prefixed.iter().find(|(p, _)| strip_ci(line, p).is_some()) {
        return Some(*op);
    }
    if strip_ci(line, b"AT#XSOCKET=").is_some() {
        return Some(Op::Open {
            handle: Op::NEW_HANDLE,
            step: 0,
        });
    }
    if let Some(p) = strip_ci(line, b"AT#XBIND=").or_else(|| strip_ci(line, b"AT#XCONNECT=")) {
        return Some(Op::Open {
            handle: handle(p)?,
            step: 1,
        });
    }
    if let Some(p) = strip_ci(line, b"AT#XSENDTO=") {
        // <handle>,2,<flags>,"<url>",<port>,<len>: data mode with a length.
        let mut f = fields(p);
        let h = f.next().and_then(small)?;
        let mode = f.next().and_then(number)?;
        let len = f.nth(3).and_then(number)?;
        let len = u16::try_from(len).ok().filter(|&l| l > 0)?;
        return (mode == 2).then_some(Op::Send { handle: h, len });
    }
    if strip_ci(line, b"AT#XGETADDRINFO=").is_some() {
        return Some(Op::Resolve);
    }
    if let Some(p) = strip_ci(line, b"AT#XSEND=") {
        // <handle>,2,<flags>,<len>: data mode with a length.
        let mut f = fields(p);
        let h = f.next().and_then(small)?;
        let mode = f.next().and_then(number)?;
        let len = f.nth(1).and_then(number)?;
        let len = u16::try_from(len).ok().filter(|&l| l > 0)?;
        return (mode == 2).then_some(Op::Send { handle: h, len });
    }
    if let Some(p) = strip_ci(line, b"AT#XRECVFROM=").or_else(|| strip_ci(line, b"AT#XRECV=")) {
        return Some(Op::Read { handle: handle(p)? });
    }
    if let Some(p) = strip_ci(line, b"AT#XCLOSE=") {
        return Some(Op::Close { handle: handle(p)? });
    }
    if let Some(p) = strip_ci(line, b"AT#XSOCKETOPT=") {
        // <handle>,1,61,<value>: release assistance set. Other options (and gets,
        // which answer `#XSOCKETOPT: <value>`) are no op of ours.
        let mut f = fields(p);
        let h = f.next().and_then(small)?;
        let set = f.next().and_then(number)? == u32::from(SOCKETOPT_SET);
        let rai = f.next().and_then(number)? == u32::from(AT_SO_RAI);
        return (set && rai).then_some(Op::IdleHint { handle: h });
    }
    None
}

fn parse<'a, T: atat::serde_at::serde::Deserialize<'a>>(line: &'a [u8]) -> Option<T> {
    atat::serde_at::from_slice(line).ok()
}

/// True while the command in flight is a send whose payload was accepted (after the
/// `OK` "prompt").
fn sending(ctx: &Context) -> bool {
    matches!(ctx.op, Some(Op::Send { .. })) && !ctx.awaiting_prompt
}

fn classify_line<'a>(line: &'a [u8], ctx: &Context) -> Event<'a> {
    match line {
        // The send command's `OK` means "data mode entered": that is the prompt.
        b"OK" if ctx.awaiting_prompt => return Event::Prompt,
        // After the payload only `#XDATAMODE` ends a send; an `OK` then is not its.
        b"OK" if sending(ctx) => return Event::Unknown,
        b"OK" => return Event::Final(Final::Ok),
        b"ERROR" => return Event::Final(Final::Error),
        b"Ready" | b"INIT ERROR" => return Event::Urc(Urc::Boot),
        // Sent by the modem when a data-mode send failed part-way; `#XDATAMODE`
        // follows once data mode is left.
        b"+++" => return Event::Info(Info::Other),
        _ => {}
    }
    if let Some(result) = standard::error_result(line) {
        return Event::Final(result);
    }
    if standard::is_command_echo(line) {
        return Event::Echo;
    }
    if let Some(status) = after(line, b"#XDATAMODE:") {
        return data_mode_end(status, ctx);
    }
    if let Some(params) = after(line, b"#XGETADDRINFO:") {
        // "<ip>[ <ip>...]" answers the query; anything else ("DNS failure", "not
        // found") is followed by ERROR.
        let first = fields(params)
            .next()
            .and_then(|text| text.split(|&b| b == b' ').next())
            .and_then(|ip| core::str::from_utf8(ip).ok())
            .and_then(|ip| ip.parse::<IpAddr>().ok());
        return match first {
            Some(ip) if ctx.op == Some(Op::Resolve) => Event::Info(Info::ResolvedAddress(ip)),
            _ => Event::Info(Info::Other),
        };
    }
    if line.starts_with(b"#XSOCKET:") {
        return match parse::<SocketOpened>(line) {
            Some(s) if matches!(ctx.op, Some(Op::Open { step: 0, .. })) => {
                Event::Info(Info::SocketOpened(s.handle))
            }
            _ => Event::Info(Info::Other),
        };
    }
    if let Some(params) = after(line, b"#XAPOLL:") {
        let mut f = fields(params);
        let handle = f.next().and_then(small);
        let revents = f.next().and_then(number);
        return match (handle, revents) {
            (Some(h), Some(r)) if r & POLL_GONE != 0 => Event::Urc(Urc::Closed(h)),
            (Some(h), Some(r)) if r & POLLIN != 0 => Event::Urc(Urc::DataPending(h)),
            (Some(_), Some(_)) => Event::Info(Info::Other),
            _ => Event::Unknown,
        };
    }
    if let Some(params) = after(line, b"+CEREG:") {
        return standard::registration(params);
    }
    if let Some(event) = standard::sim_status(line, ctx) {
        return event;
    }
    if let Some(params) = after(line, b"+CGPADDR:") {
        // +CGPADDR: <cid>[,"<addr1>"[,"<addr2>"]]: active when an address is given.
        let mut f = fields(params);
        let cid = f.next().and_then(small);
        let ip = f
            .next()
            .filter(|ip| !ip.is_empty())
            .and_then(|ip| core::str::from_utf8(ip).ok());
        return match (cid, ip) {
            (Some(cid), Some(ip)) => Event::Info(Info::PdpActive { cid, ip }),
            (Some(_), None) => Event::Info(Info::Other),
            _ => Event::Unknown,
        };
    }
    if let Some(event) = after(line, b"+CGEV:") {
        // ME PDN DEACT <cid> / NW PDN DEACT <cid>: the PDN connection is gone.
        let cid = after(event, b"ME PDN DEACT")
            .or_else(|| after(event, b"NW PDN DEACT"))
            .map(|cid| fields(cid).next().and_then(small));
        return match cid {
            Some(Some(cid)) => Event::Urc(Urc::PdpDeactivated(cid)),
            Some(None) => Event::Unknown,
            // Attach, detach, PDN activation, IPv6 link up...: registration URCs
            // and the context query say what the driver needs.
            None => Event::Info(Info::Other),
        };
    }
    // Answers the driver needs nothing from.
    const OTHER: [&[u8]; 7] = [
        b"#XCLOSE:",
        b"#XCONNECT:",
        b"#XSEND:",
        b"#XSENDTO:",
        b"#XSENDNTF:",
        b"#XSOCKETOPT:",
        b"+CESQ:",
    ];
    if OTHER.iter().any(|p| line.starts_with(p)) {
        return Event::Info(Info::Other);
    }
    Event::Unknown
}

/// `#XDATAMODE: <status>`: 0 the datagram went out, negative it did not. It ends a
/// send only once the payload was accepted; anywhere else it is a late or stray
/// line, and taking it as a final result could end an unrelated command.
fn data_mode_end<'a>(status: &[u8], ctx: &Context) -> Event<'a> {
    if !sending(ctx) {
        return Event::Unknown;
    }
    match status {
        [b'-', rest @ ..] if number(rest).is_some() => Event::Final(Final::SendFail),
        _ => match number(status) {
            Some(0) => Event::Final(Final::SendOk),
            // A positive size is a progress report (`CONFIG_SM_DATAMODE_URC`).
            Some(_) => Event::Info(Info::Other),
            None => Event::Unknown,
        },
    }
}

/// `+CEREG: ...`. With URC mode 1 the URC has one field (`+CEREG: 5`) and the
/// query answer two (`+CEREG: 1,5`). A URC in mode 2 or higher has a quoted
/// tracking area code second (`+CEREG: 5,"0140",...`): still a URC.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::framer::Framer;
    use crate::profile::RegStatus;
    use crate::Config;

    fn line(profile: &Nrf91Slm, cmd: &Command<'_>) -> Result<std::string::String, FormatError> {
        let mut buf = [0u8; crate::MAX_COMMAND];
        let n = profile.format(cmd, &mut buf)?;
        Ok(std::string::String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    fn config(cid: u8, apn: &str) -> Config {
        let mut c = Config::new(apn).expect("valid APN");
        c.context_id = cid;
        c
    }

    #[test]
    fn init_lines_for_both_receive_modes() {
        let c = config(0, "");
        let push: std::vec::Vec<_> = (0..INIT_STEPS)
            .map(|step| line(&Nrf91Slm::new(), &Command::Init { step, config: &c }))
            .collect();
        let expected = [
            "ATE0\r",
            "AT+CMEE=1\r",
            "AT+CEREG=1\r",
            "AT+CGEREP=1\r",
            "AT\r",
            "AT+CFUN=1\r",
            "AT#XCLOSE\r",
            "AT#XRECVCFG=,1,0\r",
            "AT#XAPOLL=,1,0\r",
        ];
        for (got, want) in push.iter().zip(expected) {
            assert_eq!(got.as_deref(), Ok(want));
        }
        let poll = Nrf91Slm::polled();
        assert_eq!(
            line(
                &poll,
                &Command::Init {
                    step: 7,
                    config: &c
                }
            )
            .as_deref(),
            Ok("AT#XRECVCFG=,0\r")
        );
        assert_eq!(
            line(
                &poll,
                &Command::Init {
                    step: 8,
                    config: &c
                }
            )
            .as_deref(),
            Ok("AT#XAPOLL=,1,1\r")
        );
        let c = config(1, "internet");
        assert_eq!(
            line(
                &poll,
                &Command::Init {
                    step: 4,
                    config: &c
                }
            )
            .as_deref(),
            Ok("AT+CGDCONT=1,\"IP\",\"internet\"\r")
        );
    }

    #[test]
    fn open_steps_with_and_without_bind() {
        let p = Nrf91Slm::new();
        let c = config(0, "");
        let open = |handle, step, local_port| Command::Open {
            handle,
            step,
            host: "192.0.2.10",
            port: 5683,
            local_port,
            config: &c,
        };
        assert_eq!(
            line(&p, &open(Op::NEW_HANDLE, 0, None)).as_deref(),
            Ok("AT#XSOCKET=1,2,0\r")
        );
        assert_eq!(
            line(&p, &open(3, 1, None)).as_deref(),
            Ok("AT#XCONNECT=3,\"192.0.2.10\",5683\r")
        );
        assert_eq!(
            line(&p, &open(3, 1, Some(40000))).as_deref(),
            Ok("AT#XBIND=3,40000\r")
        );
        assert_eq!(
            line(&p, &open(3, 2, Some(40000))).as_deref(),
            Ok("AT#XCONNECT=3,\"192.0.2.10\",5683\r")
        );
        assert_eq!(
            line(&p, &open(Op::NEW_HANDLE, 1, None)),
            Err(FormatError::Unsupported)
        );
        assert_eq!(p.open_steps(false), 2);
        assert_eq!(p.open_steps(true), 3);
        let c1 = config(1, "");
        let v6 = Command::Open {
            handle: Op::NEW_HANDLE,
            step: 0,
            host: "2001:db8::1",
            port: 5683,
            local_port: None,
            config: &c1,
        };
        assert_eq!(line(&p, &v6).as_deref(), Ok("AT#XSOCKET=2,2,0,1\r"));
    }

    #[test]
    fn send_read_close_and_socket_option_lines() {
        let p = Nrf91Slm::new();
        let plain = |op| line(&p, &Command::Plain(op));
        assert_eq!(
            plain(Op::Send { handle: 2, len: 11 }).as_deref(),
            Ok("AT#XSEND=2,2,0,11\r")
        );
        assert_eq!(
            plain(Op::Send { handle: 2, len: 0 }),
            Err(FormatError::Unsupported)
        );
        assert_eq!(
            plain(Op::Read { handle: 2 }).as_deref(),
            Ok("AT#XRECVFROM=2,0,64,1\r")
        );
        assert_eq!(
            plain(Op::Close { handle: 2 }).as_deref(),
            Ok("AT#XCLOSE=2\r")
        );
        assert_eq!(plain(Op::CloseAll).as_deref(), Ok("AT#XCLOSE\r"));
        assert_eq!(plain(Op::SignalQuality).as_deref(), Ok("AT+CESQ\r"));
        assert!(p.can_hint_idle());
        assert_eq!(
            plain(Op::IdleHint { handle: 2 }).as_deref(),
            Ok("AT#XSOCKETOPT=2,1,61,1\r")
        );
        assert_eq!(
            plain(Op::IdleHint { handle: 7 }).as_deref(),
            Ok("AT#XSOCKETOPT=7,1,61,1\r")
        );
        assert_eq!(p.timeout_ms(Op::IdleHint { handle: 2 }), 2000);
        // Its answers: a bare OK or ERROR, finals outside a send.
        let ctx = Context {
            op: Some(Op::IdleHint { handle: 2 }),
            awaiting_prompt: false,
        };
        assert_eq!(
            p.classify(Frame::Line(b"OK"), &ctx),
            Event::Final(Final::Ok)
        );
        assert_eq!(
            p.classify(Frame::Line(b"ERROR"), &ctx),
            Event::Final(Final::Error)
        );
    }

    #[test]
    fn a_short_buffer_is_refused_not_a_panic() {
        let p = Nrf91Slm::new();
        let mut buf = [0u8; 8];
        assert_eq!(
            p.format(&Command::Plain(Op::Send { handle: 0, len: 5 }), &mut buf),
            Err(FormatError::TooLong)
        );
    }

    #[test]
    fn ok_is_the_prompt_only_while_a_send_waits_for_one() {
        let p = Nrf91Slm::new();
        let send = Some(Op::Send { handle: 0, len: 4 });
        let waiting = Context {
            op: send,
            awaiting_prompt: true,
        };
        let after_payload = Context {
            op: send,
            awaiting_prompt: false,
        };
        let idle = Context::default();
        assert_eq!(p.classify(Frame::Line(b"OK"), &waiting), Event::Prompt);
        assert_eq!(
            p.classify(Frame::Line(b"OK"), &after_payload),
            Event::Unknown
        );
        assert_eq!(
            p.classify(Frame::Line(b"OK"), &idle),
            Event::Final(Final::Ok)
        );
        let end = |s: &'static [u8], ctx| p.classify(Frame::Line(s), ctx);
        assert_eq!(
            end(b"#XDATAMODE: 0", &after_payload),
            Event::Final(Final::SendOk)
        );
        assert_eq!(
            end(b"#XDATAMODE: -1", &after_payload),
            Event::Final(Final::SendFail)
        );
        assert_eq!(
            end(b"#XDATAMODE: 12", &after_payload),
            Event::Info(Info::Other)
        );
        assert_eq!(end(b"#XDATAMODE: 0", &idle), Event::Unknown);
        assert_eq!(end(b"#XDATAMODE: 0", &waiting), Event::Unknown);
    }

    #[test]
    fn the_framer_never_sees_a_prompt_byte() {
        // The prompt is the OK line: no byte at a frame start may become a prompt.
        let p = Nrf91Slm::new();
        let ctx = Context {
            op: Some(Op::Send { handle: 0, len: 4 }),
            awaiting_prompt: true,
        };
        for bytes in [&b"\n\r\nOK\r\n"[..], b"\r\n> ", b">\r\n", b"\nOK\r\n"] {
            let mut framer = Framer::new();
            let mut rest = bytes;
            while !rest.is_empty() {
                let (frame, used) = framer.next(rest, 1800, &p, &ctx);
                assert_ne!(frame, Some(Frame::Prompt), "{bytes:?}");
                if used == 0 {
                    break;
                }
                rest = &rest[used..];
            }
        }
    }

    #[test]
    fn host_lines_of_captures_map_to_ops() {
        let p = Nrf91Slm::new();
        let op = |l: &[u8]| p.op_for_host_line(l);
        assert_eq!(
            op(b"AT#XSEND=0,2,0,11"),
            Some(Op::Send { handle: 0, len: 11 })
        );
        assert_eq!(op(b"AT#XSEND=0,0,0,\"Test\""), None, "text mode: no prompt");
        assert_eq!(op(b"AT#XSEND=0,2,0"), None, "terminator mode");
        assert_eq!(op(b"AT#XRECVFROM=3,0,64,1"), Some(Op::Read { handle: 3 }));
        assert_eq!(op(b"AT#XRECV=1,0,0,10"), Some(Op::Read { handle: 1 }));
        assert_eq!(op(b"AT#XCLOSE=2"), Some(Op::Close { handle: 2 }));
        assert_eq!(op(b"AT#XCLOSE"), Some(Op::Init(6)));
        assert_eq!(
            op(b"AT#XSOCKETOPT=3,1,61,1"),
            Some(Op::IdleHint { handle: 3 })
        );
        assert_eq!(
            op(b"AT#XSOCKETOPT=3,1,61,4"),
            Some(Op::IdleHint { handle: 3 })
        );
        assert_eq!(op(b"AT#XSOCKETOPT=3,0,61"), None, "a get");
        assert_eq!(op(b"AT#XSOCKETOPT=3,1,2,1"), None, "SO_REUSEADDR");
        assert_eq!(
            op(b"AT#XSOCKET=1,2,0"),
            Some(Op::Open {
                handle: Op::NEW_HANDLE,
                step: 0
            })
        );
        assert_eq!(op(b"at+cereg?"), Some(Op::Registration));
        assert_eq!(op(b"AT%XSYSTEMMODE=1,0,0,0"), None);
    }

    #[test]
    fn receive_headers_in_both_forms() {
        let p = Nrf91Slm::new();
        let ctx = Context::default();
        assert_eq!(p.payload_length(b"#XRECV: 0,0,4", &ctx), Some(4));
        assert_eq!(
            p.payload_length(b"#XRECVFROM: 1,0,16,\"111.112.113.114\",1235", &ctx),
            Some(16)
        );
        assert_eq!(p.payload_length(b"#XRECV: 0,1,8", &ctx), Some(16));
        assert_eq!(p.payload_length(b"#XRECV: 14", &ctx), None, "old SLM form");
        assert_eq!(p.payload_length(b"#XRECVCFG: 0,1,0", &ctx), None);
        assert_eq!(p.payload_length(b"#XRECV: 300,0,4", &ctx), None);
        let hex = Frame::Payload {
            header: b"#XRECV: 0,1,2",
            data: b"4142",
        };
        assert_eq!(p.classify(hex, &ctx), Event::Unknown);
    }

    #[test]
    fn notifications() {
        let p = Nrf91Slm::new();
        let ctx = Context::default();
        let c = |s: &'static [u8]| p.classify(Frame::Line(s), &ctx);
        assert_eq!(c(b"Ready"), Event::Urc(Urc::Boot));
        assert_eq!(c(b"#XAPOLL: 3,16"), Event::Urc(Urc::Closed(3)));
        assert_eq!(c(b"#XAPOLL: 3,17"), Event::Urc(Urc::Closed(3)));
        assert_eq!(c(b"#XAPOLL: 3,1"), Event::Urc(Urc::DataPending(3)));
        assert_eq!(c(b"#XAPOLL: 3,4"), Event::Info(Info::Other));
        assert_eq!(
            c(b"+CGEV: NW PDN DEACT 0"),
            Event::Urc(Urc::PdpDeactivated(0))
        );
        assert_eq!(
            c(b"+CGEV: ME PDN DEACT 1"),
            Event::Urc(Urc::PdpDeactivated(1))
        );
        assert_eq!(c(b"+CGEV: ME PDN ACT 0"), Event::Info(Info::Other));
        let home = RegStatus::Home;
        assert_eq!(c(b"+CEREG: 1"), Event::Urc(Urc::Registration(home)));
        assert_eq!(c(b"+CEREG: 1,1"), Event::Info(Info::Registration(home)));
        assert_eq!(
            c(b"+CEREG: 5,\"0140\",\"000AEB3A\",7"),
            Event::Urc(Urc::Registration(RegStatus::Roaming))
        );
        assert_eq!(
            c(b"+CGPADDR: 0,\"10.0.0.2\",\"2001:db8::2\""),
            Event::Info(Info::PdpActive {
                cid: 0,
                ip: "10.0.0.2"
            })
        );
        assert_eq!(c(b"+CGPADDR: 0"), Event::Info(Info::Other));
        assert_eq!(c(b"+CME ERROR: 514"), Event::Final(Final::CmeError(514)));
    }
}
