//! The Anjay Lite contract releases the C ABI can be built for, and the two thin
//! mappings from the one Rust implementation onto their numbers.
//!
//! Everything here is plain, safe Rust and does not depend on which release the
//! library is built for, so both mappings are unit-tested in every build; the
//! exported functions use [`BUILT`].

use crate::error::{Codes, Error};
use crate::socket::SocketState;

/// Release id of Anjay Lite 1.0.0-beta.1 (`CELLSOCK_ANJ_NET_API_1_0_0_BETA1`).
pub const RELEASE_1_0_0_BETA1: u32 = 1;
/// Release id of Anjay Lite 2.0.0 up to the current 3.x (`CELLSOCK_ANJ_NET_API_3X`).
pub const RELEASE_3X: u32 = 3;

/// The numbers of `anj_net_socket_state_t` in one release (its enum order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateNumbers {
    /// `ANJ_NET_SOCKET_STATE_CLOSED`.
    pub closed: u8,
    /// `ANJ_NET_SOCKET_STATE_SHUTDOWN`, where the release has it.
    pub shutdown: Option<u8>,
    /// `ANJ_NET_SOCKET_STATE_BOUND`, where the release has it.
    pub bound: Option<u8>,
    /// `ANJ_NET_SOCKET_STATE_CONNECTED`.
    pub connected: u8,
}

/// One contract release: its id, codes and socket states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    /// The id exported as `cellsock_anj_net_api_release`.
    pub id: u32,
    /// Human-readable name.
    pub name: &'static str,
    /// The `ANJ_NET_*` codes.
    pub codes: Codes,
    /// The socket state numbers.
    pub states: StateNumbers,
}

impl Release {
    /// Anjay Lite 2.0.0 up to the current 3.x: codes 0..4 with EINPROGRESS, states
    /// CLOSED = 0 and CONNECTED = 1, no shutdown.
    pub const CURRENT: Release = Release {
        id: RELEASE_3X,
        name: "Anjay Lite 2.0.0 .. 3.x",
        codes: Codes::CURRENT,
        states: StateNumbers {
            closed: 0,
            shutdown: None,
            bound: None,
            connected: 1,
        },
    };

    /// Anjay Lite 1.0.0-beta.1 (the seed): EMSGSIZE -1, ENOTSUP -2, EAGAIN also
    /// means "call again", generic error -3; states CLOSED, SHUTDOWN, BOUND,
    /// CONNECTED = 0..3.
    pub const BETA1: Release = Release {
        id: RELEASE_1_0_0_BETA1,
        name: "Anjay Lite 1.0.0-beta.1",
        codes: Codes::BETA1,
        states: StateNumbers {
            closed: 0,
            shutdown: Some(1),
            bound: Some(2),
            connected: 3,
        },
    };

    /// The release with `id`, if the library knows it.
    pub const fn from_id(id: u32) -> Option<Release> {
        match id {
            RELEASE_3X => Some(Release::CURRENT),
            RELEASE_1_0_0_BETA1 => Some(Release::BETA1),
            _ => None,
        }
    }

    /// The return code of a call: `ANJ_NET_OK` or the error's code. Failures the
    /// net API has no name for (a NULL argument, a re-entered call) are the
    /// generic error.
    pub const fn code(&self, result: Result<(), Failure>) -> i32 {
        match result {
            Ok(()) => self.codes.ok,
            Err(Failure::Api(e)) => e.code(&self.codes),
            Err(_) => self.codes.generic,
        }
    }

    /// The `anj_net_socket_state_t` number of a socket. `bound`: the application
    /// asked to reuse the last port and has not connected since (beta.1's BOUND).
    /// A state the release does not have is reported as the nearest one it has:
    /// SHUTDOWN as CLOSED (nothing can be sent), BOUND as CLOSED.
    pub const fn state(&self, state: SocketState, bound: bool) -> u8 {
        let s = &self.states;
        match state {
            SocketState::Connected => s.connected,
            SocketState::Shutdown => match s.shutdown {
                Some(n) => n,
                None => s.closed,
            },
            SocketState::Closed => match (bound, s.bound) {
                (true, Some(n)) => n,
                _ => s.closed,
            },
        }
    }
}

/// Why a C call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The net API's own answer.
    Api(Error),
    /// A NULL or out-of-range argument, or a context pointer the library never
    /// handed out (or that was cleaned up).
    BadArgument,
    /// Another cellsock call is running (re-entered from a callback, or called from
    /// an interrupt or another thread meanwhile): refused, nothing was done.
    Busy,
    /// `cellsock_init` has not succeeded yet.
    NotInitialised,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Api(e)
    }
}

/// The release this library is built for: [`Release::CURRENT`] by default,
/// [`Release::BETA1`] with the `capi-beta1` feature.
#[cfg(not(feature = "capi-beta1"))]
pub const BUILT: Release = Release::CURRENT;
/// The release this library is built for: [`Release::CURRENT`] by default,
/// [`Release::BETA1`] with the `capi-beta1` feature.
#[cfg(feature = "capi-beta1")]
pub const BUILT: Release = Release::BETA1;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Reason;

    const ALL: [Error; 5] = [
        Error::WouldBlock,
        Error::InProgress,
        Error::MessageSize,
        Error::NotSupported,
        Error::Failed(Reason::Timeout),
    ];

    fn code(r: &Release, e: Error) -> i32 {
        r.code(Err(Failure::Api(e)))
    }

    #[test]
    fn current_codes_are_0_to_4_and_generic_is_negative() {
        let r = Release::CURRENT;
        assert_eq!(r.code(Ok(())), 0);
        assert_eq!(code(&r, Error::WouldBlock), 1);
        assert_eq!(code(&r, Error::MessageSize), 2);
        assert_eq!(code(&r, Error::NotSupported), 3);
        assert_eq!(code(&r, Error::InProgress), 4);
        assert!(code(&r, Error::Failed(Reason::SocketClosed)) < 0);
        for f in [Failure::BadArgument, Failure::Busy, Failure::NotInitialised] {
            assert!(r.code(Err(f)) < 0);
        }
    }

    #[test]
    fn beta1_codes_and_generic_error_below_minus_2() {
        let r = Release::BETA1;
        assert_eq!(r.code(Ok(())), 0);
        assert_eq!(code(&r, Error::WouldBlock), 1);
        assert_eq!(code(&r, Error::InProgress), 1, "beta.1 has no EINPROGRESS");
        assert_eq!(code(&r, Error::MessageSize), -1);
        assert_eq!(code(&r, Error::NotSupported), -2);
        for f in [
            Failure::Api(Error::Failed(Reason::BadHandle)),
            Failure::BadArgument,
            Failure::Busy,
            Failure::NotInitialised,
        ] {
            assert!(
                r.code(Err(f)) <= -3,
                "{f:?}: -1/-2 would read as EMSGSIZE/ENOTSUP"
            );
        }
    }

    #[test]
    fn failures_never_look_like_success_or_pending() {
        for r in [Release::CURRENT, Release::BETA1] {
            let c = r.codes;
            for f in [
                Failure::BadArgument,
                Failure::Busy,
                Failure::NotInitialised,
                Failure::Api(Error::Failed(Reason::InvalidState)),
            ] {
                let n = r.code(Err(f));
                assert!(
                    ![c.ok, c.again, c.inprogress, c.msgsize, c.notsup].contains(&n),
                    "{}: {f:?} -> {n}",
                    r.name
                );
            }
            for e in ALL {
                assert_ne!(code(&r, e), c.ok, "{}: {e:?} must not be OK", r.name);
            }
        }
    }

    #[test]
    fn states_in_enum_order_per_release() {
        let c = Release::CURRENT;
        assert_eq!(c.state(SocketState::Closed, false), 0);
        assert_eq!(c.state(SocketState::Closed, true), 0, "3.x has no BOUND");
        assert_eq!(c.state(SocketState::Connected, false), 1);
        assert_eq!(
            c.state(SocketState::Shutdown, false),
            0,
            "3.x has no SHUTDOWN"
        );

        let b = Release::BETA1;
        assert_eq!(b.state(SocketState::Closed, false), 0);
        assert_eq!(b.state(SocketState::Shutdown, false), 1);
        assert_eq!(b.state(SocketState::Closed, true), 2);
        assert_eq!(b.state(SocketState::Connected, false), 3);
        assert_eq!(b.state(SocketState::Connected, true), 3);
    }

    #[test]
    fn ids_round_trip_and_built_release_is_the_feature() {
        for r in [Release::CURRENT, Release::BETA1] {
            assert_eq!(Release::from_id(r.id), Some(r));
        }
        assert_eq!(Release::from_id(0), None);
        assert_eq!(Release::from_id(2), None);
        let want = if cfg!(feature = "capi-beta1") {
            Release::BETA1
        } else {
            Release::CURRENT
        };
        assert_eq!(BUILT, want);
    }
}
