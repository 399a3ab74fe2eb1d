//! BG96 commands and responses, declared with atat's derive macros.
//!
//! The derives give us formatting (`AtatCmd::write`) and typed parsing of the
//! information lines (`serde_at::from_slice`). Two rules keep them panic-free: the
//! derived `write` panics when the buffer is too small, so every command here has a
//! bounded length (host names are validated and capped by the core, the command
//! buffer is [`crate::MAX_COMMAND`] bytes, `Bg96::format` checks the worst case);
//! and strings reaching a command never contain `"` (serde_at would escape it as
//! `\22`, which the BG96 does not understand), which the core guarantees.

use atat::atat_derive::{AtatCmd, AtatResp};

/// Any command answered by a bare `OK`.
#[derive(Clone, Debug, AtatResp)]
pub struct NoResponse;

/// `AT`: probe.
#[derive(Clone, AtatCmd)]
#[at_cmd("", NoResponse, timeout_ms = 1000)]
pub struct Probe;

/// `ATE0`: echo off.
#[derive(Clone, AtatCmd)]
#[at_cmd("E0", NoResponse, value_sep = false, timeout_ms = 1000)]
pub struct EchoOff;

/// `AT+CMEE=1`: numeric `+CME ERROR: <n>`.
#[derive(Clone, AtatCmd)]
#[at_cmd("+CMEE", NoResponse, timeout_ms = 1000)]
pub struct ErrorFormat {
    /// 1 = numeric.
    pub n: u8,
}

/// `AT+CEREG=<n>`: registration URCs. n = 1 gives `+CEREG: <stat>` with one field,
/// which cannot be mistaken for the two-field answer of `AT+CEREG?`.
#[derive(Clone, AtatCmd)]
#[at_cmd("+CEREG", NoResponse, timeout_ms = 1000)]
pub struct RegistrationUrc {
    /// URC mode.
    pub n: u8,
}

/// `AT+QICSGP=<cid>,<type>,"<apn>","<user>","<pass>",<auth>`: context parameters.
#[derive(Clone, AtatCmd)]
#[at_cmd("+QICSGP", NoResponse, timeout_ms = 1000)]
pub struct ConfigureContext<'a> {
    /// Context id.
    pub cid: u8,
    /// 1 IPv4, 2 IPv6, 3 IPv4v6.
    pub context_type: u8,
    /// APN.
    pub apn: &'a str,
    /// User name.
    pub user: &'a str,
    /// Password.
    pub password: &'a str,
    /// 0 none.
    pub auth: u8,
}

/// `AT+CPIN?`
#[derive(Clone, AtatCmd)]
#[at_cmd("+CPIN?", SimState, value_sep = false, timeout_ms = 5000)]
pub struct QuerySim;

/// `+CPIN: <code>`
#[derive(Clone, Debug, AtatResp)]
pub struct SimState {
    /// `READY` or what the SIM wants.
    pub code: heapless::String<16>,
}

/// `AT+CEREG?`
#[derive(Clone, AtatCmd)]
#[at_cmd("+CEREG?", RegistrationState, value_sep = false, timeout_ms = 1000)]
pub struct QueryRegistration;

/// `+CEREG: <n>,<stat>` (answer to the query, with URC mode 1).
#[derive(Clone, Debug, AtatResp)]
pub struct RegistrationState {
    /// URC mode.
    pub n: u8,
    /// Status.
    pub stat: u8,
}

/// `AT+QIACT?`
#[derive(Clone, AtatCmd)]
#[at_cmd("+QIACT?", ContextState, value_sep = false, timeout_ms = 5000)]
pub struct QueryContexts;

/// `+QIACT: <cid>,<state>,<type>,"<ip>"`, one line per active context.
#[derive(Clone, Debug, AtatResp)]
pub struct ContextState {
    /// Context id.
    pub cid: u8,
    /// 1 = activated.
    pub state: u8,
    /// Context type.
    pub context_type: u8,
    /// Local address.
    pub ip: heapless::String<46>,
}

/// `AT+QIACT=<cid>` (up to 150 s).
#[derive(Clone, AtatCmd)]
#[at_cmd("+QIACT", NoResponse, timeout_ms = 150_000)]
pub struct ActivateContext {
    /// Context id.
    pub cid: u8,
}

/// `AT+QIDEACT=<cid>` (up to 40 s).
#[derive(Clone, AtatCmd)]
#[at_cmd("+QIDEACT", NoResponse, timeout_ms = 40_000)]
pub struct DeactivateContext {
    /// Context id.
    pub cid: u8,
}

/// `AT+QIOPEN=<cid>,<id>,"UDP","<host>",<port>,<local_port>,<access_mode>`;
/// `OK` at once, the outcome in `+QIOPEN: <id>,<err>` later.
#[derive(Clone, AtatCmd)]
#[at_cmd("+QIOPEN", NoResponse, timeout_ms = 5000)]
pub struct OpenSocket<'a> {
    /// Context id.
    pub cid: u8,
    /// connectID 0..=11.
    pub connect_id: u8,
    /// `"UDP"`.
    pub service: &'a str,
    /// Remote host.
    pub host: &'a str,
    /// Remote port.
    pub port: u16,
    /// Local port, 0 = any.
    pub local_port: u16,
    /// 0 buffer, 1 direct push.
    pub access_mode: u8,
}

/// `+QIOPEN: <id>,<err>`
#[derive(Clone, Debug, AtatResp)]
pub struct OpenResult {
    /// connectID.
    pub connect_id: u8,
    /// 0 = success, else a 5xx error.
    pub err: u16,
}

/// `AT+QISTATE=1,<id>`: state of one socket.
#[derive(Clone, AtatCmd)]
#[at_cmd("+QISTATE", NoResponse, timeout_ms = 1000)]
pub struct QuerySocket {
    /// 1 = by connectID.
    pub query_type: u8,
    /// connectID.
    pub connect_id: u8,
}

/// `AT+QISEND=<id>,<len>`: then the `> ` prompt, exactly len bytes, `SEND OK`.
#[derive(Clone, AtatCmd)]
#[at_cmd("+QISEND", NoResponse, timeout_ms = 10_000)]
pub struct SendData {
    /// connectID.
    pub connect_id: u8,
    /// Payload length, at most 1460.
    pub len: u16,
}

/// `AT+QISEND=<id>,<len>,"<ip>",<port>`: a datagram to `<ip>:<port>` on a
/// `"UDP SERVICE"` socket; then the prompt, exactly len bytes, `SEND OK`.
#[derive(Clone, AtatCmd)]
#[at_cmd("+QISEND", NoResponse, timeout_ms = 10_000)]
pub struct SendDataTo<'a> {
    /// connectID.
    pub connect_id: u8,
    /// Payload length, at most 1460.
    pub len: u16,
    /// Destination address (an address literal, never a name).
    pub ip: &'a str,
    /// Destination port.
    pub port: u16,
}

/// `AT+QIDNSGIP=<cid>,"<host>"`: `OK` at once, then `+QIURC: "dnsgip",<err>[,
/// <IP_count>,<DNS_ttl>]` and one `+QIURC: "dnsgip","<ip>"` per address (the
/// manual's maximum response time is 60 s).
#[derive(Clone, AtatCmd)]
#[at_cmd("+QIDNSGIP", NoResponse, timeout_ms = 60_000)]
pub struct ResolveHost<'a> {
    /// Context id.
    pub cid: u8,
    /// Host name.
    pub host: &'a str,
}

/// `AT+QIRD=<id>,<len>`: one buffered datagram.
#[derive(Clone, AtatCmd)]
#[at_cmd("+QIRD", NoResponse, timeout_ms = 5000)]
pub struct ReadData {
    /// connectID.
    pub connect_id: u8,
    /// Most bytes to read (1500 covers any UDP datagram).
    pub max_len: u16,
}

/// `AT+QICLOSE=<id>` (the modem waits up to 10 s).
#[derive(Clone, AtatCmd)]
#[at_cmd("+QICLOSE", NoResponse, timeout_ms = 11_000)]
pub struct CloseSocket {
    /// connectID.
    pub connect_id: u8,
}

/// `AT+CSQ`
#[derive(Clone, AtatCmd)]
#[at_cmd("+CSQ", SignalQuality, value_sep = false, timeout_ms = 1000)]
pub struct QuerySignal;

/// `+CSQ: <rssi>,<ber>`
#[derive(Clone, Debug, AtatResp)]
pub struct SignalQuality {
    /// 0..=31, 99 unknown.
    pub rssi: u8,
    /// 0..=7, 99 unknown.
    pub ber: u8,
}
