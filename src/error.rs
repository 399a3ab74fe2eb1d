//! The one error type of the net API.
//!
//! Its variants map 1:1 onto Anjay Lite's `ANJ_NET_*` codes (see `capi` and
//! `docs/`): [`Error::WouldBlock`] is EAGAIN, [`Error::InProgress`] EINPROGRESS,
//! [`Error::MessageSize`] EMSGSIZE, [`Error::NotSupported`] ENOTSUP, and
//! [`Error::Failed`] every "other error", with a [`Reason`] the application can log
//! or act on. The mapping to numbers lives in one place per contract release
//! ([`Error::code`]).

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Nothing to do now: no datagram is waiting (`recv`). EAGAIN.
    WouldBlock,
    /// The call started work that is not finished; call it again with the same
    /// arguments. EINPROGRESS.
    InProgress,
    /// The datagram does not fit: longer than the MTU (`send`) or than the caller's
    /// buffer (`recv`, the datagram is dropped). EMSGSIZE.
    MessageSize,
    /// The driver or the modem cannot do this. ENOTSUP.
    NotSupported,
    /// Any other failure.
    Failed(Reason),
}

/// The condition behind [`Error::Failed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The call is not valid in the socket's current state (send before connect,
    /// connect while connected, any call after cleanup, ...).
    InvalidState,
    /// The socket handle does not name a live socket.
    BadHandle,
    /// No free socket slot in the driver's table.
    NoFreeSocket,
    /// The host name is empty, too long for the modem, or contains a byte that could
    /// break out of the AT command line. Nothing was written to the modem.
    InvalidHost,
    /// The port is not a decimal number in 1..=65535. Nothing was written.
    InvalidPort,
    /// The modem did not answer within the profile's time for the command.
    Timeout,
    /// The modem did not come up (no answer to probes, SIM not ready).
    ModemNotReady,
    /// The SIM card reports it is not ready (PIN, missing).
    SimNotReady,
    /// The network refused or did not grant registration in time.
    NotRegistered,
    /// The packet data context could not be activated.
    PdpActivationFailed,
    /// The modem could not resolve the host name.
    DnsFailed,
    /// The modem refused to open the socket (its error code).
    OpenFailed(u16),
    /// The modem still holds a socket with this handle (left over from before an
    /// MCU reset); the driver closes it and retries once before reporting this.
    SocketInUse,
    /// The modem answered ERROR (or `+CME ERROR: n`) to a command.
    ModemError(u16),
    /// The modem did not accept the datagram (`SEND FAIL`, `ERROR`, no prompt).
    SendFailed,
    /// The modem reported the socket closed.
    SocketClosed,
    /// The network deactivated the packet data context; every socket on it is gone.
    PdpDeactivated,
    /// The modem restarted (boot banner or echo back on); its sockets are gone.
    ModemRebooted,
    /// Registration was lost while the socket was open.
    RegistrationLost,
}

/// The numeric codes of one Anjay Lite contract release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codes {
    /// Success.
    pub ok: i32,
    /// EAGAIN.
    pub again: i32,
    /// EMSGSIZE.
    pub msgsize: i32,
    /// ENOTSUP.
    pub notsup: i32,
    /// EINPROGRESS; on releases without it, "call again" is EAGAIN.
    pub inprogress: i32,
    /// The generic error; must not collide with the codes above.
    pub generic: i32,
}

impl Codes {
    /// Anjay Lite 1.0.0 up to the current 3.x header.
    pub const CURRENT: Codes = Codes {
        ok: 0,
        again: 1,
        msgsize: 2,
        notsup: 3,
        inprogress: 4,
        generic: -1,
    };
    /// Anjay Lite 1.0.0-beta.1, the seed's contract: -1 and -2 are EMSGSIZE and
    /// ENOTSUP there, so the generic error is -3 like Anjay's own POSIX layer.
    pub const BETA1: Codes = Codes {
        ok: 0,
        again: 1,
        msgsize: -1,
        notsup: -2,
        inprogress: 1,
        generic: -3,
    };
}

impl Error {
    /// The numeric code of this error under a contract release.
    pub const fn code(self, codes: &Codes) -> i32 {
        match self {
            Error::WouldBlock => codes.again,
            Error::InProgress => codes.inprogress,
            Error::MessageSize => codes.msgsize,
            Error::NotSupported => codes.notsup,
            Error::Failed(_) => codes.generic,
        }
    }

    /// True for the two "not yet" answers, which are not failures.
    pub const fn is_pending(self) -> bool {
        matches!(self, Error::WouldBlock | Error::InProgress)
    }
}

impl From<Reason> for Error {
    fn from(r: Reason) -> Self {
        Error::Failed(r)
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::WouldBlock => f.write_str("no datagram available (EAGAIN)"),
            Error::InProgress => f.write_str("in progress (EINPROGRESS)"),
            Error::MessageSize => f.write_str("datagram too large (EMSGSIZE)"),
            Error::NotSupported => f.write_str("not supported (ENOTSUP)"),
            Error::Failed(r) => write!(f, "failed: {r:?}"),
        }
    }
}

impl core::error::Error for Error {}

/// The `embedded-io` error kinds (embedded-nal-async's sockets report errors as
/// `embedded_io_async::Error`, which is this trait).
impl embedded_io::Error for Error {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind as K;
        match self {
            Error::WouldBlock | Error::InProgress => K::Other,
            Error::MessageSize => K::InvalidInput,
            Error::NotSupported => K::Unsupported,
            Error::Failed(r) => match r {
                Reason::InvalidHost | Reason::InvalidPort => K::InvalidInput,
                Reason::Timeout => K::TimedOut,
                Reason::DnsFailed => K::NotFound,
                Reason::SocketInUse => K::AddrInUse,
                Reason::NoFreeSocket => K::OutOfMemory,
                Reason::InvalidState | Reason::BadHandle => K::NotConnected,
                Reason::SocketClosed
                | Reason::PdpDeactivated
                | Reason::ModemRebooted
                | Reason::RegistrationLost => K::ConnectionReset,
                Reason::OpenFailed(_) => K::ConnectionRefused,
                _ => K::Other,
            },
        }
    }
}
