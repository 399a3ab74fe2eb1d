//! The modem's network state: from "is anybody there" to "data ready".
//!
//! Shared by all profiles; the profile only supplies the commands. The state moves
//! forward on command results and backward on URCs (reboot, context lost,
//! registration lost). Bring-up runs only while some socket waits for the network.

use crate::error::Reason;
use crate::profile::{Op, RegStatus};
use crate::time::Instant;

/// Longest local address string kept (an IPv6 address in text).
pub const MAX_IP: usize = 46;

/// Where bring-up stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetState {
    /// Nothing known about the modem (start, after a reboot or after failures).
    Unknown,
    /// Probing; `next` is when to send the next probe.
    Probing {
        /// When the next probe goes out.
        next: Instant,
    },
    /// Running configuration step `n`.
    Configuring(u8),
    /// Waiting for the SIM; `next` is when to ask again.
    Sim {
        /// When to ask again.
        next: Instant,
    },
    /// Waiting for registration; `next` is when to query again.
    Registering {
        /// When to query again.
        next: Instant,
    },
    /// The context must be deactivated before it can be activated again.
    Deactivating,
    /// Checking the packet data context.
    Attaching {
        /// Activations tried in this round.
        attempts: u8,
    },
    /// Activating the packet data context (attempt `attempt`) once `next` comes.
    Activating {
        /// Which attempt this is (1-based).
        attempt: u8,
        /// When to send it.
        next: Instant,
    },
    /// Data ready: sockets can be opened.
    Ready,
}

/// Network facts, each with the time it was last refreshed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetInfo {
    /// Bring-up state.
    pub state: NetState,
    /// Last known registration status, and when it was learnt.
    pub registration: Option<(RegStatus, Instant)>,
    /// Last signal quality (rssi, ber), and when.
    pub signal: Option<((u8, u8), Instant)>,
    /// Local IP address while the context is active, and when it was learnt.
    pub local_ip: Option<(heapless::String<MAX_IP>, Instant)>,
    /// When the current bring-up started (for the boot timeout).
    pub(crate) started: Option<Instant>,
    /// Why the last bring-up failed.
    pub last_failure: Option<Reason>,
    /// Modem restarts seen.
    pub reboots: u32,
    /// Interval until the next registration query while waiting.
    pub(crate) reg_retry_ms: u32,
}

/// Intervals of bring-up retries, in milliseconds.
pub(crate) const PROBE_INTERVAL_MS: u32 = 1_000;
pub(crate) const SIM_RETRY_MS: u32 = 1_000;
/// First interval between registration queries; it doubles up to
/// [`REGISTRATION_RETRY_MAX_MS`] while the network keeps the modem waiting (the
/// URC is the real signal, the query only a safety net).
pub(crate) const REGISTRATION_RETRY_MS: u32 = 2_000;
pub(crate) const REGISTRATION_RETRY_MAX_MS: u32 = 32_000;
/// Activation attempts before a connect fails with `PdpActivationFailed`, and the
/// pause before each retry: the network may refuse for a while, or bring a default
/// bearer back by itself (nRF91 context 0).
pub(crate) const ACTIVATION_ATTEMPTS: u8 = 3;
pub(crate) const ACTIVATION_RETRY_MS: u32 = 5_000;

impl NetInfo {
    /// Nothing known yet.
    pub const fn new() -> Self {
        NetInfo {
            state: NetState::Unknown,
            registration: None,
            signal: None,
            local_ip: None,
            started: None,
            last_failure: None,
            reboots: 0,
            reg_retry_ms: REGISTRATION_RETRY_MS,
        }
    }

    /// True when sockets can be opened.
    pub fn is_ready(&self) -> bool {
        self.state == NetState::Ready
    }

    /// True once configuration (echo off first of all) is done: an echoed command
    /// after that means the modem restarted.
    pub(crate) fn echo_off_done(&self) -> bool {
        !matches!(
            self.state,
            NetState::Unknown | NetState::Probing { .. } | NetState::Configuring(0)
        )
    }

    /// The op bring-up wants next, if it is due.
    pub(crate) fn next_op(&self, now: Instant, init_steps: u8) -> Option<Op> {
        match self.state {
            NetState::Unknown => Some(Op::Probe),
            NetState::Probing { next } if now >= next => Some(Op::Probe),
            NetState::Configuring(n) if n < init_steps => Some(Op::Init(n)),
            NetState::Configuring(_) => Some(Op::SimStatus),
            NetState::Sim { next } if now >= next => Some(Op::SimStatus),
            NetState::Registering { next } if now >= next => Some(Op::Registration),
            NetState::Deactivating => Some(Op::PdpDeactivate),
            NetState::Attaching { .. } => Some(Op::PdpStatus),
            NetState::Activating { next, .. } if now >= next => Some(Op::PdpActivate),
            _ => None,
        }
    }

    /// When bring-up next wants to act, for `poll_at`.
    pub(crate) fn wake_at(&self) -> Option<Instant> {
        match self.state {
            NetState::Probing { next }
            | NetState::Sim { next }
            | NetState::Registering { next }
            | NetState::Activating { next, .. } => Some(next),
            _ => None,
        }
    }

    /// Start waiting for registration: query now, then back off.
    pub(crate) fn wait_for_registration(&mut self, now: Instant) {
        self.state = NetState::Registering { next: now };
        self.reg_retry_ms = REGISTRATION_RETRY_MS;
    }

    /// Forget everything the modem held: after a reboot, power-down or repeated
    /// silence.
    pub(crate) fn reset(&mut self) {
        self.state = NetState::Unknown;
        self.local_ip = None;
        self.started = None;
    }
}

impl Default for NetInfo {
    fn default() -> Self {
        Self::new()
    }
}
