//! nRF91 Serial Modem commands and responses, declared with atat's derive macros.
//!
//! The syntax is the one of the Serial Modem add-on pinned in `README.md`
//! (handle-first `#X` socket commands). The same two rules as for the BG96 keep the
//! derives panic-free: every command has a bounded length that `Nrf91Slm::format`
//! checks before writing (the derived `write` panics on a short buffer), and no
//! string reaching a command contains `"` (the core validates host names and APNs).
//!
//! Every command ends in `\r` alone: the Serial Modem's default terminator
//! (`CONFIG_SM_CR_TERMINATION`). A `\r\n` would be fatal for the data-mode send:
//! the modem acts on the `\r`, enters data mode, and takes the `\n` as the first
//! payload byte.

use atat::atat_derive::{AtatCmd, AtatResp};

/// Any command answered by a bare `OK`.
#[derive(Clone, Debug, AtatResp)]
pub struct NoResponse;

/// `AT`: probe (also the "nothing to configure" init step).
#[derive(Clone, AtatCmd)]
#[at_cmd("", NoResponse, timeout_ms = 1000)]
pub struct Probe;

/// `ATE0`: echo off (the Serial Modem boots with echo off; this makes sure).
#[derive(Clone, AtatCmd)]
#[at_cmd("E0", NoResponse, value_sep = false, timeout_ms = 2000)]
pub struct EchoOff;

/// `AT+CMEE=1`: numeric `+CME ERROR: <n>` from the modem firmware's commands (the
/// Serial Modem's own `#X` commands answer a plain `ERROR` whatever this says).
#[derive(Clone, AtatCmd)]
#[at_cmd("+CMEE", NoResponse, timeout_ms = 2000)]
pub struct ErrorFormat {
    /// 1 = numeric.
    pub n: u8,
}

/// `AT+CEREG=<n>`: registration URCs. n = 1 gives `+CEREG: <stat>` with one field,
/// which cannot be mistaken for the two-field answer of `AT+CEREG?`.
#[derive(Clone, AtatCmd)]
#[at_cmd("+CEREG", NoResponse, timeout_ms = 2000)]
pub struct RegistrationUrc {
    /// URC mode.
    pub n: u8,
}

/// `AT+CGEREP=1`: packet domain events (`+CGEV: ...`), for `PDN DEACT`.
#[derive(Clone, AtatCmd)]
#[at_cmd("+CGEREP", NoResponse, timeout_ms = 2000)]
pub struct PacketEvents {
    /// 1 = forward events.
    pub mode: u8,
}

/// `AT+CGDCONT=<cid>,"<type>","<apn>"`: context definition. For cid 0 (the
/// default bearer) it must come before `AT+CFUN=1` to apply to the attach.
#[derive(Clone, AtatCmd)]
#[at_cmd("+CGDCONT", NoResponse, timeout_ms = 2000)]
pub struct DefineContext<'a> {
    /// Context id 0..=10.
    pub cid: u8,
    /// `"IP"`, `"IPV6"` or `"IPV4V6"`.
    pub pdp_type: &'a str,
    /// APN.
    pub apn: &'a str,
}

/// `AT+CFUN=1`: radio on; the modem attaches and activates the default bearer.
#[derive(Clone, AtatCmd)]
#[at_cmd("+CFUN", NoResponse, timeout_ms = 10_000)]
pub struct Functionality {
    /// 1 = full functionality.
    pub fun: u8,
}

/// `AT#XCLOSE` without a handle: close every socket the Serial Modem holds (the
/// leftovers of an MCU-only reset). One `#XCLOSE: <handle>,<result>` per socket.
#[derive(Clone, AtatCmd)]
#[at_cmd("#XCLOSE", NoResponse, value_sep = false, timeout_ms = 10_000)]
pub struct CloseAll;

/// `AT#XRECVCFG=,<flags>[,<hex>]`: automatic reception for all sockets, present
/// and future (the handle is left empty; the `=` is part of the command name
/// because serde_at drops the `=` before an empty first value). flags 1 = in AT-command mode only (never
/// in data mode, where datagrams would arrive without a header); 0 = off.
#[derive(Clone, AtatCmd)]
#[at_cmd("#XRECVCFG=", NoResponse, value_sep = false, timeout_ms = 2000)]
pub struct ReceiveConfig {
    /// Left empty: all sockets.
    pub handle: Option<u8>,
    /// 0 off, 1 automatic reception in AT-command mode.
    pub flags: u8,
    /// 0 binary (omitted when reception is off).
    pub hex: Option<u8>,
}

/// `AT#XAPOLL=,1,<events>`: asynchronous poll URCs `#XAPOLL: <handle>,<revents>`
/// for all sockets, present and future. events 0 = errors and hang-ups only,
/// 1 = also incoming data (`POLLIN`).
#[derive(Clone, AtatCmd)]
#[at_cmd("#XAPOLL=", NoResponse, value_sep = false, timeout_ms = 2000)]
pub struct AsyncPoll {
    /// Left empty: all sockets.
    pub handle: Option<u8>,
    /// 1 = start.
    pub op: u8,
    /// Event mask.
    pub events: u8,
}

/// `AT+CPIN?`
#[derive(Clone, AtatCmd)]
#[at_cmd("+CPIN?", SimState, value_sep = false, timeout_ms = 2000)]
pub struct QuerySim;

/// `+CPIN: <code>`
#[derive(Clone, Debug, AtatResp)]
pub struct SimState {
    /// `READY` or what the SIM wants.
    pub code: heapless::String<16>,
}

/// `AT+CEREG?`
#[derive(Clone, AtatCmd)]
#[at_cmd("+CEREG?", NoResponse, value_sep = false, timeout_ms = 2000)]
pub struct QueryRegistration;

/// `AT+CGPADDR=<cid>` -> `+CGPADDR: <cid>,"<ip>"[,"<ipv6>"]` when the context is
/// active, `+CGPADDR: <cid>` (or nothing) when not.
#[derive(Clone, AtatCmd)]
#[at_cmd("+CGPADDR", NoResponse, timeout_ms = 2000)]
pub struct QueryAddress {
    /// Context id.
    pub cid: u8,
}

/// `AT+CGACT=<state>,<cid>`: (de)activate a context. The default bearer (cid 0)
/// cannot be (de)activated: the modem refuses and the core carries on.
#[derive(Clone, AtatCmd)]
#[at_cmd("+CGACT", NoResponse, timeout_ms = 60_000)]
pub struct ActivateContext {
    /// 1 activate, 0 deactivate.
    pub state: u8,
    /// Context id.
    pub cid: u8,
}

/// `AT+CESQ`: extended signal quality (the nRF91 has no `+CSQ`).
#[derive(Clone, AtatCmd)]
#[at_cmd("+CESQ", NoResponse, value_sep = false, timeout_ms = 2000)]
pub struct QuerySignal;

/// `AT#XSOCKET=<family>,2,0[,<cid>]`: a UDP client socket; the modem answers
/// `#XSOCKET: <handle>,2,17` and chooses the handle.
#[derive(Clone, AtatCmd)]
#[at_cmd("#XSOCKET", NoResponse, timeout_ms = 5000)]
pub struct OpenSocket {
    /// 1 IPv4, 2 IPv6.
    pub family: u8,
    /// 2 = `SOCK_DGRAM`.
    pub socket_type: u8,
    /// 0 = client.
    pub role: u8,
    /// PDN context; omitted for the default bearer (cid 0).
    pub cid: Option<u8>,
}

/// `#XSOCKET: <handle>,<type>,<protocol>`
#[derive(Clone, Debug, AtatResp)]
pub struct SocketOpened {
    /// The handle the modem assigned.
    pub handle: u8,
    /// 2 = datagram.
    pub socket_type: u8,
    /// 17 = UDP.
    pub protocol: u16,
}

/// `AT#XBIND=<handle>,<port>`: bind a local port (to reuse it after a reconnect).
#[derive(Clone, AtatCmd)]
#[at_cmd("#XBIND", NoResponse, timeout_ms = 5000)]
pub struct Bind {
    /// Socket handle.
    pub handle: u8,
    /// Local port.
    pub port: u16,
}

/// `AT#XCONNECT=<handle>,"<host>",<port>`: connected UDP (resolves the name, so it
/// may take as long as the modem's DNS timeout). `#XCONNECT: <handle>,1`, `OK`.
#[derive(Clone, AtatCmd)]
#[at_cmd("#XCONNECT", NoResponse, timeout_ms = 65_000)]
pub struct Connect<'a> {
    /// Socket handle.
    pub handle: u8,
    /// Remote host name or address (at most 127 bytes).
    pub host: &'a str,
    /// Remote port.
    pub port: u16,
}

/// `AT#XSEND=<handle>,2,0,<len>`: data mode with an explicit length. `OK`, then
/// exactly `len` raw bytes, then `#XDATAMODE: 0` (sent) or `#XDATAMODE: -1`. No
/// `+++` is involved. The send itself may block up to the socket's 30 s send
/// timeout before `#XDATAMODE` comes.
#[derive(Clone, AtatCmd)]
#[at_cmd("#XSEND", NoResponse, timeout_ms = 35_000)]
pub struct SendData {
    /// Socket handle.
    pub handle: u8,
    /// 2 = data mode.
    pub mode: u8,
    /// 0 = no flags.
    pub flags: u16,
    /// Payload length, 1..=1460 (0 would mean "until `+++`").
    pub len: u16,
}

/// `AT#XSENDTO=<handle>,2,0,"<ip>",<port>,<len>`: a datagram to `<ip>:<port>` on
/// an unconnected socket, in data mode with an explicit length: `OK`, exactly `len`
/// raw bytes, `#XDATAMODE: 0` (sent) or `#XDATAMODE: -1`, as for [`SendData`].
#[derive(Clone, AtatCmd)]
#[at_cmd("#XSENDTO", NoResponse, timeout_ms = 35_000)]
pub struct SendDataTo<'a> {
    /// Socket handle.
    pub handle: u8,
    /// 2 = data mode.
    pub mode: u8,
    /// 0 = no flags.
    pub flags: u16,
    /// Destination address (an address literal, never a name).
    pub url: &'a str,
    /// Destination port.
    pub port: u16,
    /// Payload length, 1..=1460.
    pub len: u16,
}

/// `AT#XGETADDRINFO="<host>"[,<family>]` -> `#XGETADDRINFO: "<ip>[ <ip>...]"`,
/// `OK`; a failure is `#XGETADDRINFO: "<reason>"`, `ERROR`. It blocks the Serial
/// Modem for as long as the query takes.
#[derive(Clone, AtatCmd)]
#[at_cmd("#XGETADDRINFO", NoResponse, timeout_ms = 65_000)]
pub struct GetAddrInfo<'a> {
    /// Host name.
    pub host: &'a str,
    /// Hint: 1 IPv4, 2 IPv6; left out for any.
    pub family: Option<u8>,
}

/// `AT#XRECVFROM=<handle>,0,64,1`: one datagram, binary, `MSG_DONTWAIT` (and a
/// one-second timeout in case the flag were ignored). `#XRECVFROM:
/// <handle>,0,<size>,"<ip>",<port>` + size bytes + `OK`; a zero-length datagram
/// gives a bare `OK`, nothing waiting gives `ERROR`.
#[derive(Clone, AtatCmd)]
#[at_cmd("#XRECVFROM", NoResponse, timeout_ms = 5000)]
pub struct ReceiveFrom {
    /// Socket handle.
    pub handle: u8,
    /// 0 = binary.
    pub mode: u8,
    /// 64 = `MSG_DONTWAIT`.
    pub flags: u16,
    /// Seconds.
    pub timeout: u8,
}

/// `AT#XCLOSE=<handle>` -> `#XCLOSE: <handle>,<result>`, `OK`.
#[derive(Clone, AtatCmd)]
#[at_cmd("#XCLOSE", NoResponse, timeout_ms = 10_000)]
pub struct CloseSocket {
    /// Socket handle.
    pub handle: u8,
}

/// `AT#XSOCKETOPT=<handle>,1,61,<value>` -> `OK` (`ERROR` for an unknown handle):
/// release assistance indication (`AT_SO_RAI`). The profile sends it with value 1
/// (`RAI_NO_DATA`: no more data is expected, so the modem can leave connected
/// mode at once) as the core's `Op::IdleHint`, which `queue_mode_rx_off` asks for.
#[derive(Clone, AtatCmd)]
#[at_cmd("#XSOCKETOPT", NoResponse, timeout_ms = 2000)]
pub struct ReleaseAssistance {
    /// Socket handle.
    pub handle: u8,
    /// 1 = set.
    pub op: u8,
    /// 61 = `AT_SO_RAI`.
    pub name: u8,
    /// 1 `RAI_NO_DATA`, 2 `RAI_LAST`, 3 `RAI_ONE_RESP`, 4 `RAI_ONGOING`, 5 `RAI_WAIT_MORE`.
    pub value: u8,
}
