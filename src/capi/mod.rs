//! The C ABI (feature `capi`): Anjay Lite's `anj_udp_*` functions and the
//! integrator's `cellsock_*` functions of `include/cellsock.h`.
//!
//! With `ANJ_WITH_SOCKET_POSIX_COMPAT=OFF` Anjay Lite expects the platform to
//! define the `anj_udp_*` functions; `libcellsock.a` (built by the `capi/` workspace
//! member, see `docs/anjay-lite.md`) defines them on top of one [`crate::Driver`]
//! that lives in a `static` inside the library.
//!
//! * **One implementation, two mappings.** Every function does its work through the
//!   Rust net API ([`crate::Driver`]) and turns the result into numbers through
//!   [`release::BUILT`]: Anjay Lite 2.0.0 .. 3.x by default (9 functions, codes
//!   0..4, states CLOSED = 0, CONNECTED = 1), 1.0.0-beta.1 with the `capi-beta1`
//!   feature (13 functions, EMSGSIZE -1, ENOTSUP -2, generic -3, states CLOSED,
//!   SHUTDOWN, BOUND, CONNECTED). The release is exported as
//!   `cellsock_anj_net_api_release` and checked by `cellsock_init` against the
//!   header's `CELLSOCK_ANJ_NET_API`.
//! * **Polling.** Every `anj_udp_*` call polls the driver first (reads the UART
//!   through the integrator's callbacks or the interrupt feed), like
//!   [`crate::NetStack`]; calls that queue modem work poll again afterwards so the
//!   command goes out at once. `cellsock_poll` lets the driver work between calls.
//! * **Pointers.** The `anj_net_ctx_t *` handed to Anjay encodes a slot and a
//!   generation as an address inside a private static array; it is never
//!   dereferenced, only decoded after a NULL and range check, so a NULL, foreign or
//!   cleaned-up context is an error, not a crash. Every other pointer argument is
//!   checked for NULL before use.
//! * **Exclusion.** The instance is reached only through an "in use" flag: a call
//!   made while another one runs (a UART callback calling back into cellsock, an
//!   interrupt, a second thread) is refused with the generic error (or
//!   `CELLSOCK_ERR_BUSY`) instead of touching state that is being changed. The
//!   documented model is Anjay Lite's: one thread calls everything.
//!
//! This is the only module of the crate allowed `unsafe`; every block says why it
//! is sound.
#![allow(unsafe_code)]

mod anj;
pub mod global;
mod integrator;
pub mod release;

pub use anj::*;
pub use global::{AnjNetCtx, MAX_SOCKETS};
pub use integrator::*;
pub use release::{Failure, Release, BUILT};

use crate::error::{Error, Reason};

/// A carrier with the size and representation of a C enum whose values are 0..=4
/// on the target (`anj_net_socket_state_t`, `anj_net_address_family_setting_t`):
/// `int` on most ABIs, one byte where C enums are short (arm-none-eabi). Writing a
/// state through it writes exactly as many bytes as the C type has.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnjEnum {
    /// 0.
    V0 = 0,
    /// 1.
    V1 = 1,
    /// 2.
    V2 = 2,
    /// 3.
    V3 = 3,
    /// 4.
    V4 = 4,
}

impl AnjEnum {
    /// The carrier for `n` (values above 4 are clamped to 4; states never exceed 3).
    pub const fn from_number(n: u8) -> AnjEnum {
        match n {
            0 => AnjEnum::V0,
            1 => AnjEnum::V1,
            2 => AnjEnum::V2,
            3 => AnjEnum::V3,
            _ => AnjEnum::V4,
        }
    }
}

/// `cellsock_last_reason` codes (`CELLSOCK_REASON_*` in the header).
pub mod reason {
    /// No failure recorded.
    pub const NONE: i32 = 0;
    /// The call is not valid in the socket's state.
    pub const INVALID_STATE: i32 = 1;
    /// The context names no live socket (cleaned up, or from before `cellsock_init`).
    pub const BAD_HANDLE: i32 = 2;
    /// No free socket (the configured `max_sockets` are in use).
    pub const NO_FREE_SOCKET: i32 = 3;
    /// Host name empty, too long or with a byte that cannot go into a command.
    pub const INVALID_HOST: i32 = 4;
    /// Port not a decimal number in 1..=65535.
    pub const INVALID_PORT: i32 = 5;
    /// The modem did not answer in time, or the connect took too long.
    pub const TIMEOUT: i32 = 6;
    /// The modem did not come up.
    pub const MODEM_NOT_READY: i32 = 7;
    /// The SIM is not ready.
    pub const SIM_NOT_READY: i32 = 8;
    /// Not registered to the network.
    pub const NOT_REGISTERED: i32 = 9;
    /// The packet data context could not be activated.
    pub const PDP_ACTIVATION_FAILED: i32 = 10;
    /// The modem could not resolve the host name.
    pub const DNS_FAILED: i32 = 11;
    /// The modem refused to open the socket (modem code set).
    pub const OPEN_FAILED: i32 = 12;
    /// The modem answered an error (modem code set when numeric).
    pub const MODEM_ERROR: i32 = 13;
    /// The modem did not accept the datagram.
    pub const SEND_FAILED: i32 = 14;
    /// The modem reported the socket closed.
    pub const SOCKET_CLOSED: i32 = 15;
    /// The network deactivated the packet data context.
    pub const PDP_DEACTIVATED: i32 = 16;
    /// The modem restarted.
    pub const MODEM_REBOOTED: i32 = 17;
    /// Registration was lost.
    pub const REGISTRATION_LOST: i32 = 18;
    /// Datagram larger than the MTU or the receive buffer (EMSGSIZE).
    pub const MESSAGE_SIZE: i32 = 19;
    /// Not supported (ENOTSUP).
    pub const NOT_SUPPORTED: i32 = 20;
    /// The modem still held a socket with this handle (left over from before a reset).
    pub const SOCKET_IN_USE: i32 = 21;
    /// A NULL or invalid argument, or a context pointer cellsock never handed out.
    pub const BAD_ARGUMENT: i32 = 100;
    /// Refused: another cellsock call was running (re-entry, interrupt, thread).
    pub const BUSY: i32 = 101;
    /// `cellsock_init` has not succeeded.
    pub const NOT_INITIALISED: i32 = 102;
}

/// The `cellsock_last_reason` code and modem code of a failure.
pub(crate) const fn reason_code(f: Failure) -> (i32, u16) {
    use reason::*;
    match f {
        Failure::BadArgument => (BAD_ARGUMENT, 0),
        Failure::Busy => (BUSY, 0),
        Failure::NotInitialised => (NOT_INITIALISED, 0),
        Failure::Api(Error::WouldBlock | Error::InProgress) => (NONE, 0),
        Failure::Api(Error::MessageSize) => (MESSAGE_SIZE, 0),
        Failure::Api(Error::NotSupported) => (NOT_SUPPORTED, 0),
        Failure::Api(Error::Failed(r)) => match r {
            Reason::InvalidState => (INVALID_STATE, 0),
            Reason::BadHandle => (BAD_HANDLE, 0),
            Reason::NoFreeSocket => (NO_FREE_SOCKET, 0),
            Reason::InvalidHost => (INVALID_HOST, 0),
            Reason::InvalidPort => (INVALID_PORT, 0),
            Reason::Timeout => (TIMEOUT, 0),
            Reason::ModemNotReady => (MODEM_NOT_READY, 0),
            Reason::SimNotReady => (SIM_NOT_READY, 0),
            Reason::NotRegistered => (NOT_REGISTERED, 0),
            Reason::PdpActivationFailed => (PDP_ACTIVATION_FAILED, 0),
            Reason::DnsFailed => (DNS_FAILED, 0),
            Reason::OpenFailed(code) => (OPEN_FAILED, code),
            Reason::SocketInUse => (SOCKET_IN_USE, 0),
            Reason::ModemError(code) => (MODEM_ERROR, code),
            Reason::SendFailed => (SEND_FAILED, 0),
            Reason::SocketClosed => (SOCKET_CLOSED, 0),
            Reason::PdpDeactivated => (PDP_DEACTIVATED, 0),
            Reason::ModemRebooted => (MODEM_REBOOTED, 0),
            Reason::RegistrationLost => (REGISTRATION_LOST, 0),
        },
    }
}

/// The return code of a call under the built release; failures are recorded for
/// `cellsock_last_reason`.
pub(crate) fn finish(r: Result<(), Failure>) -> core::ffi::c_int {
    if let Err(f) = r {
        global::record(f);
    }
    BUILT.code(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_carrier_matches_a_c_enum() {
        // A C enum is int-sized unless the target uses short enums.
        let size = core::mem::size_of::<AnjEnum>();
        assert!(size == 1 || size == core::mem::size_of::<core::ffi::c_int>());
        for n in 0..=4u8 {
            assert_eq!(AnjEnum::from_number(n) as u8, n);
        }
    }
}
