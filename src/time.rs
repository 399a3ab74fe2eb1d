//! Time as the driver sees it: milliseconds from a clock the integrator owns.
//!
//! The driver never reads a clock itself. Every [`crate::Driver::poll`] call is told
//! "now", deadlines are plain [`Instant`]s compared against it, and
//! [`crate::Driver::poll_at`] says when the next one falls due, so a firmware can sleep
//! until then and a test can jump a virtual clock straight to it.

/// A point in time, in milliseconds since an origin the integrator chooses.
///
/// Only differences matter; the counter must be monotonic. 64 bits of milliseconds
/// do not wrap in the lifetime of any device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant(0);

    /// An instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + ms`, saturating instead of wrapping.
    pub const fn after(self, ms: u32) -> Instant {
        Instant(self.0.saturating_add(ms as u64))
    }

    /// Milliseconds from `earlier` to `self`, 0 if `earlier` is later.
    pub const fn since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A monotonic millisecond source supplied by the integrator (SysTick counter, RTC,
/// `std::time::Instant` on a host, a virtual clock in tests).
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;
}

impl<F: Fn() -> Instant> Clock for F {
    fn now(&self) -> Instant {
        self()
    }
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
