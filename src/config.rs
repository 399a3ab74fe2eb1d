//! Driver configuration: what only the integrator knows.

use crate::error::{Error, Reason};

/// Longest APN (3GPP allows 100; operators use far less).
pub const MAX_APN: usize = 63;

/// Which IP versions the packet data context carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PdpType {
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
    /// Dual stack.
    Ipv4v6,
}

/// The address family a socket asks for (Anjay's `anj_net_config_t` family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AddressFamily {
    /// Whatever the host name resolves to.
    #[default]
    Unspecified,
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
}

/// Driver configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Access point name. Validated by [`Config::new`]: printable ASCII without `"`.
    pub apn: heapless::String<MAX_APN>,
    /// The packet data context id the sockets use.
    pub context_id: u8,
    /// IP versions of the context.
    pub pdp_type: PdpType,
    /// Upper bound of a whole connect (modem start-up, registration, context
    /// activation, open). Anjay has no connect timeout of its own, so the driver
    /// must give up by itself. Default 240 s: NB-IoT registration and the BG96's
    /// 150 s open time both fit.
    pub connect_timeout_ms: u32,
    /// An incomplete frame (line or payload) is thrown away after the modem has been
    /// silent this long in the middle of it. Default 1 s (a byte takes 87 µs at
    /// 115200 baud and 1 ms at 9600).
    pub rx_gap_ms: u32,
    /// While a socket is connected and the link idle, registration and signal
    /// quality are queried this often (and, in buffer-access receive, the sockets
    /// are read in case a data URC was missed). 0 turns polling off. Default 60 s.
    /// Polling pauses while a socket is in queue mode (`queue_mode_rx_off`).
    pub poll_interval_ms: u32,
    /// How long registration may stay lost before open sockets are reported lost
    /// ([`crate::Reason::RegistrationLost`]). Short outages pass unnoticed: the
    /// modem keeps its sockets and CoAP retransmits. Default 60 s.
    pub registration_grace_ms: u32,
    /// After this many commands in a row get no answer, the modem is taken as gone:
    /// open sockets are reported lost and bring-up starts again. Default 3.
    pub max_timeouts: u8,
}

impl Config {
    /// A configuration with defaults and the given APN (empty: the network's default).
    pub fn new(apn: &str) -> Result<Self, Error> {
        let ok = apn.len() <= MAX_APN && apn.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
        let mut s = heapless::String::new();
        if !ok || s.push_str(apn).is_err() {
            return Err(Error::Failed(Reason::InvalidHost));
        }
        Ok(Config {
            apn: s,
            ..Config::default()
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::const_default()
    }
}

impl Config {
    /// The defaults (empty APN, context 1, IPv4), usable in a `static`.
    pub const fn const_default() -> Self {
        Config {
            apn: heapless::String::new(),
            context_id: 1,
            pdp_type: PdpType::Ipv4,
            connect_timeout_ms: 240_000,
            rx_gap_ms: 1_000,
            poll_interval_ms: 60_000,
            registration_grace_ms: 60_000,
            max_timeouts: 3,
        }
    }
}
