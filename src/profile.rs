//! What the core asks of a modem: the [`Profile`] trait and the vocabulary it speaks.
//!
//! The core decides *what* to do next ([`Op`]: probe the modem, open socket 3, send 42
//! bytes, ...) and interprets *what happened* ([`Event`]: a final result, a prompt, an
//! information line, a URC, a datagram). A profile translates in both directions:
//! it formats an [`Op`] into the bytes of one AT command line and classifies every
//! frame the modem sends into an [`Event`]. Nothing in `src/` knows a command name;
//! everything modem-specific lives in `modems/<name>/`.

use core::net::{IpAddr, SocketAddr};

use crate::error::Reason;
use crate::framer::Frame;
use crate::AddressFamily;

/// A socket number as the modem counts them (BG96 connectID, nRF91 handle).
pub type ModemHandle = u8;

/// The limits a modem's socket service imposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest datagram one send command takes (1460 on a BG96).
    pub max_send: usize,
    /// Largest datagram the modem hands over in one receive (BG96: 1500). A length
    /// header above this is a lie: the datagram is dropped and counted.
    pub max_recv: usize,
    /// Sockets the modem can hold at once.
    pub max_sockets: usize,
    /// Longest host name the open command accepts.
    pub max_host_len: usize,
}

/// One step of work the core wants from the modem. Cheap to copy: the data an op
/// needs (host name, payload) stays in the driver and reaches the profile through a
/// [`Command`] when the line is formatted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Is anybody there? (`AT`)
    Probe,
    /// The profile's `n`th configuration command (echo off, error format, URCs, APN).
    Init(u8),
    /// Is the SIM ready?
    SimStatus,
    /// Registration status query (the safety net under the URC).
    Registration,
    /// Is the packet data context active, and with which address?
    PdpStatus,
    /// Activate the packet data context.
    PdpActivate,
    /// Deactivate it (required before re-activation after the network dropped it).
    PdpDeactivate,
    /// Step `step` of opening a socket (most modems need one step).
    Open {
        /// The modem handle to open, or [`Op::NEW_HANDLE`] where the modem assigns it.
        handle: ModemHandle,
        /// Which step of the profile's open procedure.
        step: u8,
    },
    /// Send `len` bytes on a socket: the command, then (after the prompt) the payload.
    Send {
        /// Modem handle.
        handle: ModemHandle,
        /// Payload length.
        len: u16,
    },
    /// Read one buffered datagram (buffer-access mode).
    Read {
        /// Modem handle.
        handle: ModemHandle,
    },
    /// Close a socket in the modem.
    Close {
        /// Modem handle.
        handle: ModemHandle,
    },
    /// Close every socket the modem holds. Sent only while the driver holds none
    /// (and only where [`Profile::can_close_all`]): it frees handles the driver lost
    /// track of, so a modem that assigns handles cannot run out of them for good.
    CloseAll,
    /// Tell the modem that the application expects no more traffic on this socket
    /// until its own next exchange (queue mode: [`crate::Driver::queue_mode_rx_off`]).
    /// Why: after the last datagram a cellular modem stays in connected mode until
    /// the network's inactivity timer runs out (seconds to tens of seconds of
    /// radio-on current, set by the operator); a modem told that nothing more is
    /// expected can ask the network to release the connection at once. Only where
    /// [`Profile::can_hint_idle`]. A best-effort hint: written at most once per
    /// queue-mode period, after the socket's pending traffic, and whatever the
    /// modem answers, nothing fails.
    IdleHint {
        /// Modem handle.
        handle: ModemHandle,
    },
    /// Ask the modem which local port a socket got.
    LocalPort {
        /// Modem handle.
        handle: ModemHandle,
    },
    /// Signal quality query.
    SignalQuality,
    /// Resolve a host name with the modem's own resolver ([`Command::Resolve`]).
    Resolve,
}

impl Op {
    /// Placeholder handle for an open whose handle the modem assigns.
    pub const NEW_HANDLE: ModemHandle = u8::MAX;
}

/// The data an [`Op`] needs when its command line is formatted.
#[derive(Clone, Copy, Debug)]
pub enum Command<'a> {
    /// An op that needs no data beyond itself.
    Plain(Op),
    /// Configuration step `step`, with the driver's configuration (APN, context id).
    Init {
        /// Step number.
        step: u8,
        /// Driver configuration.
        config: &'a crate::Config,
    },
    /// Context activation/deactivation/status with the configured context id.
    Pdp {
        /// Which one.
        op: Op,
        /// Driver configuration.
        config: &'a crate::Config,
    },
    /// Opening a socket.
    Open {
        /// Modem handle ([`Op::NEW_HANDLE`] where the modem assigns it).
        handle: ModemHandle,
        /// Step of the open procedure.
        step: u8,
        /// Remote host, already validated by the core (no quote, no control byte).
        host: &'a str,
        /// Remote port.
        port: u16,
        /// Local port to bind, when the application asked to reuse the last one.
        local_port: Option<u16>,
        /// Driver configuration (context id).
        config: &'a crate::Config,
    },
    /// Step `step` of opening an unconnected socket (no remote: each send names
    /// its destination, datagrams come from anyone). [`Op::Open`] in flight.
    OpenUnconnected {
        /// Modem handle ([`Op::NEW_HANDLE`] where the modem assigns it).
        handle: ModemHandle,
        /// Step of the open procedure ([`Profile::unconnected_open_steps`]).
        step: u8,
        /// Local port to bind; `None`: the modem chooses.
        local_port: Option<u16>,
        /// The address family the application asked for.
        family: AddressFamily,
        /// Driver configuration (context id, PDP type).
        config: &'a crate::Config,
    },
    /// A send on an unconnected socket: [`Op::Send`] with its destination.
    SendTo {
        /// Modem handle.
        handle: ModemHandle,
        /// Payload length.
        len: u16,
        /// Where the datagram goes.
        to: SocketAddr,
    },
    /// A host name query ([`Op::Resolve`]).
    Resolve {
        /// Host name, already validated by the core (no quote, no control byte).
        host: &'a str,
        /// Which addresses are wanted.
        family: AddressFamily,
        /// Driver configuration (context id).
        config: &'a crate::Config,
    },
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Final {
    /// `OK`
    Ok,
    /// The data of a send was accepted (`SEND OK`).
    SendOk,
    /// The data of a send was refused (`SEND FAIL`).
    SendFail,
    /// `ERROR`
    Error,
    /// `+CME ERROR: <n>` (or `+CMS ERROR`).
    CmeError(u16),
}

impl Final {
    /// True for the results that mean the command succeeded.
    pub const fn is_success(self) -> bool {
        matches!(self, Final::Ok | Final::SendOk)
    }
}

/// Network registration status (3GPP 27.007 `<stat>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegStatus {
    /// 0: not registered, not searching.
    NotRegistered,
    /// 1: registered, home network.
    Home,
    /// 2: searching.
    Searching,
    /// 3: registration denied.
    Denied,
    /// 4: unknown.
    Unknown,
    /// 5: registered, roaming.
    Roaming,
}

impl RegStatus {
    /// From the numeric `<stat>`.
    pub const fn from_stat(stat: u8) -> RegStatus {
        match stat {
            0 => RegStatus::NotRegistered,
            1 => RegStatus::Home,
            2 => RegStatus::Searching,
            3 => RegStatus::Denied,
            5 => RegStatus::Roaming,
            _ => RegStatus::Unknown,
        }
    }

    /// Home or roaming.
    pub const fn is_registered(self) -> bool {
        matches!(self, RegStatus::Home | RegStatus::Roaming)
    }
}

/// An information line answering the command in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Info<'a> {
    /// SIM status: ready or not.
    SimReady(bool),
    /// Registration status.
    Registration(RegStatus),
    /// A packet data context is active with this local address (the core keeps
    /// the one whose id it configured).
    PdpActive {
        /// Context id.
        cid: u8,
        /// Local IP address as the modem printed it.
        ip: &'a str,
    },
    /// The modem assigned this handle to the socket being opened.
    SocketOpened(ModemHandle),
    /// The socket's local port.
    LocalPort(u16),
    /// A read found nothing buffered.
    NoData,
    /// Signal quality (`+CSQ: <rssi>,<ber>`).
    SignalQuality {
        /// 0..=31, 99 unknown.
        rssi: u8,
        /// 0..=7, 99 unknown.
        ber: u8,
    },
    /// An address the host name query in flight resolved to (a modem that answers
    /// the query with an information line; see [`Urc::ResolvedAddress`] for one
    /// that answers later).
    ResolvedAddress(IpAddr),
    /// A line that belongs to the command but that the core needs nothing from.
    Other,
}

/// What the modem says unasked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urc {
    /// The modem (re)started: its sockets and contexts are gone (`RDY`, `Ready`).
    Boot,
    /// The modem's application layer is ready (`APP RDY`); follows [`Urc::Boot`].
    AppReady,
    /// The modem is powering down.
    PoweredDown,
    /// Registration status changed.
    Registration(RegStatus),
    /// Result of an open that completes asynchronously (the BG96 answers `OK` at
    /// once and reports the outcome later).
    OpenResult {
        /// Modem handle.
        handle: ModemHandle,
        /// `Ok` or why it failed.
        result: Result<(), Reason>,
    },
    /// The socket is closed on the modem side.
    Closed(ModemHandle),
    /// The network deactivated this packet data context (the core acts on the one
    /// it configured).
    PdpDeactivated(u8),
    /// A datagram waits in the modem for a read (buffer-access mode).
    DataPending(ModemHandle),
    /// The outcome of a host name query whose command only said "accepted"
    /// ([`Profile::resolve_result_is_urc`]): `Ok(n)` announces `n` addresses, each
    /// in a [`Urc::ResolvedAddress`]; `Err` says why the name did not resolve.
    ResolveResult(Result<u8, Reason>),
    /// One address of an asynchronous host name query.
    ResolvedAddress(IpAddr),
}

/// What one frame from the modem means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The end of the command in flight.
    Final(Final),
    /// The modem waits for the payload of a send.
    Prompt,
    /// The modem echoed a command line back.
    Echo,
    /// An information line for the command in flight.
    Info(Info<'a>),
    /// An unsolicited result code.
    Urc(Urc),
    /// A whole datagram for a socket.
    Datagram {
        /// Modem handle it arrived on.
        handle: ModemHandle,
        /// Its bytes, exactly as counted by the length header.
        data: &'a [u8],
        /// The sender, where the modem says (unconnected sockets need it).
        from: Option<SocketAddr>,
    },
    /// Something the profile does not know; counted and otherwise ignored.
    Unknown,
}

/// What the core tells the profile about the exchange in progress, so that a line
/// can be read in context (the framer-knows-what-is-in-flight rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Context {
    /// The op in flight, if any.
    pub op: Option<Op>,
    /// The command was written and the payload prompt has not come yet.
    pub awaiting_prompt: bool,
}

/// Format an atat-derived command into `out` when its worst-case length `worst`
/// fits; the derived `write` panics on a short buffer instead of failing, so
/// profiles format through this.
pub fn emit<C: atat::AtatCmd>(cmd: &C, worst: usize, out: &mut [u8]) -> Result<usize, FormatError> {
    if out.len() < worst {
        return Err(FormatError::TooLong);
    }
    Ok(cmd.write(out))
}

/// How a profile cancels a payload the modem may still be waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendAbort {
    /// Write these bytes (a modem with a cancel character).
    Bytes(&'static [u8]),
    /// Write the rest of the announced payload as this filler byte: the modem
    /// leaves data input only after the full count, and a filler such as NUL is
    /// harmless to its command parser if it was not waiting after all. The peer may
    /// receive a datagram of filler; the send is reported failed either way.
    Fill(u8),
}

/// Why a command could not be formatted. The core validates inputs first, so this
/// means the profile does not implement the op or the tx buffer is too small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// The profile has no command for this op.
    Unsupported,
    /// The line does not fit in the buffer.
    TooLong,
}

/// A modem's AT socket dialect.
///
/// Implemented once per modem, in `modems/<name>/`. Formatting functions write into
/// a caller-provided buffer and never allocate. Every method with a default is a
/// behaviour most modems share; override where the modem differs.
pub trait Profile {
    /// Short name, used in logs and recordings (`"bg96"`).
    fn name(&self) -> &'static str;

    /// The modem's limits.
    fn limits(&self) -> Limits;

    /// How long the modem may take to answer `op`, in milliseconds.
    fn timeout_ms(&self, op: Op) -> u32;

    /// How long to wait for an asynchronous open result ([`Urc::OpenResult`]), in ms.
    fn open_result_timeout_ms(&self) -> u32 {
        150_000
    }

    /// Number of [`Op::Init`] steps, run in order after the modem answers a probe.
    fn init_steps(&self) -> u8;

    /// Number of [`Op::Open`] steps; `bind` when a local port must be reused.
    fn open_steps(&self, bind: bool) -> u8 {
        let _ = bind;
        1
    }

    /// True when the open command's `OK` only means "accepted" and the outcome comes
    /// later as [`Urc::OpenResult`].
    fn open_result_is_urc(&self) -> bool {
        false
    }

    /// The modem handle a driver slot uses, where the host chooses handles (BG96
    /// connectIDs); `None` where the modem assigns them ([`Info::SocketOpened`]).
    fn handle_for_slot(&self, slot: usize) -> Option<ModemHandle>;

    /// True when [`Op::LocalPort`] can tell the local port of an open socket.
    fn can_query_local_port(&self) -> bool {
        false
    }

    /// The reason for an open refused with the modem's error `code` (from a
    /// `+CME ERROR` answer or an asynchronous open result).
    fn open_error(&self, code: u16) -> Reason {
        Reason::OpenFailed(code)
    }

    /// True when the open can bind a chosen local port (`reuse_last_port`).
    fn can_bind_local_port(&self) -> bool {
        false
    }

    /// True when a connect can bind a local port the application chose
    /// ([`crate::Driver::connect_from`]). Defaults to [`Profile::can_bind_local_port`].
    fn can_choose_local_port(&self) -> bool {
        self.can_bind_local_port()
    }

    /// True when the modem can open unconnected sockets ([`Command::OpenUnconnected`],
    /// [`Command::SendTo`], and datagrams that say who sent them).
    fn can_open_unconnected(&self) -> bool {
        false
    }

    /// Number of [`Op::Open`] steps of an unconnected socket; `bind` when a local
    /// port is given.
    fn unconnected_open_steps(&self, bind: bool) -> u8 {
        let _ = bind;
        1
    }

    /// True when the modem can resolve host names by itself ([`Command::Resolve`]).
    fn can_resolve(&self) -> bool {
        false
    }

    /// True when the query's final result only means "accepted" and the addresses
    /// come later ([`Urc::ResolveResult`], [`Urc::ResolvedAddress`]).
    fn resolve_result_is_urc(&self) -> bool {
        false
    }

    /// How long to wait for the asynchronous outcome of a host name query, in ms.
    fn resolve_result_timeout_ms(&self) -> u32 {
        60_000
    }

    /// True when the modem can close all its sockets in one command
    /// ([`Op::CloseAll`]). Only useful where the modem assigns handles: a handle
    /// whose open answer was lost, or whose close the modem refused, is otherwise
    /// held until the modem restarts. (Where the host chooses handles, a leftover
    /// shows up as "in use" on the next open of that handle and is closed then.)
    fn can_close_all(&self) -> bool {
        false
    }

    /// True when the modem can be told that a socket's traffic is over for now
    /// ([`Op::IdleHint`]): `queue_mode_rx_off` on a connected socket then sends
    /// the hint once, in the background, so that the modem can leave connected
    /// mode early. A modem that refuses it fails nothing.
    fn can_hint_idle(&self) -> bool {
        false
    }

    /// True when datagrams stay in the modem until read ([`Op::Read`]).
    fn reads_buffered_data(&self) -> bool {
        false
    }

    /// Format the command line for `cmd` (terminator included) into `out`; returns
    /// the number of bytes written.
    fn format(&self, cmd: &Command<'_>, out: &mut [u8]) -> Result<usize, FormatError>;

    /// If `line` announces a length-counted payload that follows it, that length.
    /// The framer then takes exactly that many bytes by count, never as lines.
    fn payload_length(&self, line: &[u8], ctx: &Context) -> Option<usize>;

    /// The byte that starts the payload prompt.
    fn prompt_byte(&self) -> u8 {
        b'>'
    }

    /// How to make the modem stop waiting for the payload of a send that timed
    /// out (its prompt was lost, or the payload was cut off).
    fn send_abort(&self) -> SendAbort {
        SendAbort::Bytes(b"")
    }

    /// True when a read that ends in success with neither a datagram nor a "no
    /// data" line delivered a zero-length datagram (the nRF91 Serial Modem answers
    /// a read of an empty datagram with a bare `OK`).
    fn bare_read_is_empty_datagram(&self) -> bool {
        false
    }

    /// True when the modem can send a zero-length datagram; when false, `send`
    /// refuses one with [`crate::Error::NotSupported`] before anything is written.
    fn can_send_empty(&self) -> bool {
        true
    }

    /// What `frame` means, given what is in flight.
    fn classify<'a>(&self, frame: Frame<'a>, ctx: &Context) -> Event<'a>;

    /// The [`Op`] a command line written by some other host (a field log, a
    /// capture) stands for, so that its modem output can be framed and classified
    /// in context (`replay::ingress`). `line` is the command without its
    /// terminator. `None`: no op of ours, nothing in flight. Used by host tools
    /// only; the driver never calls it.
    fn op_for_host_line(&self, line: &[u8]) -> Option<Op> {
        let _ = line;
        None
    }
}
