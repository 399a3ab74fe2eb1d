//! # cellsock
//!
//! UDP sockets for LwM2M clients (Anjay Lite's `anj_udp_*` net API, or Rust stacks
//! through `embedded-nal`) over the AT-command socket service of a cellular modem on
//! a UART.
//!
//! The crate is `no_std`, allocation-free and never waits:
//!
//! ```text
//! UART bytes -> framer (lines, prompts, length-counted payloads)
//!            -> profile.classify (responses, URCs, datagrams)
//!            -> socket and network state -> API results
//! API call   -> socket state only -> Ok | InProgress | typed error
//! poll(now)  -> next command from state -> profile formats it -> UART
//! ```
//!
//! * [`Driver`] holds every byte of state; [`Driver::poll`] is the only place that
//!   touches the UART, [`Driver::poll_at`] tells when the next poll is due.
//! * [`Profile`] is what a modem must provide; profiles live in `modems/<name>/`
//!   behind features (`bg96`), and the core names no modem command.
//! * [`NetStack`] bundles a driver with its UART and clock and polls around every
//!   net API call, like Anjay Lite expects; it also implements
//!   [`embedded_nal::UdpClientStack`].
//! * With the `std` feature: [`replay`] runs UART transcripts as tests.
#![cfg_attr(not(feature = "std"), no_std)]
// No `unsafe` anywhere, except in the C ABI (`capi`), which says why at every block.
// Without that feature the rule is `forbid` (no module can lift it); with it,
// `deny`, lifted by `capi` alone (a crate-wide `forbid` would forbid it there too).
#![cfg_attr(not(feature = "capi"), forbid(unsafe_code))]
#![cfg_attr(feature = "capi", deny(unsafe_code))]
#![warn(missing_docs)]
// The firmware-side code never panics: no unwrap, expect, panic or unchecked
// indexing. Host-only tooling (replay, sim) opts out where it is declared.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub(crate) mod fmt;

mod api;
#[cfg(feature = "async")]
pub mod asynch;
#[cfg(feature = "capi")]
pub mod capi;
mod command;
mod config;
mod driver;
pub mod error;
pub mod events;
pub mod framer;
mod nal;
pub mod network;
pub mod profile;
mod recovery;
mod resolve;
mod schedule;
pub mod socket;
mod stack;
pub mod standard;
mod state;
pub mod text;
pub mod time;

// Host-only test tooling: a panic there is a failed test, not a crashed device.
#[cfg(feature = "std")]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
pub mod replay;
#[cfg(feature = "sim")]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
pub mod sim;

pub mod modems;

pub use api::{parse_port, validate_host};
#[cfg(feature = "async")]
pub use asynch::{AsyncConnected, AsyncStack, AsyncUnconnected, WaitHook};
pub use command::{EngineStats, MAX_COMMAND};
pub use config::{AddressFamily, Config, PdpType, MAX_APN};
pub use driver::{Driver, INGRESS_CAPACITY};
pub use error::{Codes, Error, Reason};
pub use events::NetEvent;
pub use nal::NalSocket;
pub use profile::Profile;
pub use socket::{SocketHandle, SocketState, SocketStats};
pub use stack::NetStack;
pub use state::MAX_PAYLOAD;
pub use time::{Clock, Instant};

/// All counters of a driver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Driver-wide counters.
    pub driver: state::Stats,
    /// Command engine counters.
    pub engine: EngineStats,
    /// Framer counters.
    pub framer: framer::FramerStats,
}

pub use state::Stats as DriverStats;
