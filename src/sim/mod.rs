//! Simulated modems bridged to real UDP (feature `sim`, host only).
//!
//! A simulated modem reads the bytes the driver writes and answers as the modem
//! does, with its sockets backed by real UDP sockets on the loopback interface.
//! The pieces here are modem-neutral; each modem's simulator lives next to its
//! profile (`modems/<name>/sim.rs`, for example
//! [`crate::modems::bg96::sim::Bg96Sim`]) and reuses them:
//!
//! * [`pipe`]: the in-process UART, paced at a baud rate: [`HostUart`] is the
//!   driver's non-blocking `embedded_io` transport, [`ModemPort`] the modem's end.
//! * [`Timeline`]: what the modem will do later (answers after their latency, URCs).
//! * [`fault`]: scripted misbehaviour ([`Fault`], [`FaultSchedule`]).
//! * [`udp`]: resolving, opening connected non-blocking sockets, and an
//!   [`udp::EchoServer`] for the far end.
//! * [`tty`]: a real serial port with the same transport interface (Unix).
//! * [`at`]: reading command lines on the modem side (names, forms, arguments).
//!
//! Everything is step-driven: `step(now)` takes the bytes that have arrived by
//! `now`, acts on them, checks the UDP sockets without blocking and puts due output
//! on the line. Time comes only from the caller (a virtual clock in tests, the wall
//! clock in the example); [`SimModem::next_event`] says when the next step has
//! something to do. A loop that polls the driver at the same moments should call
//! `step(now)` first, then poll the driver with the same `now`.

pub mod at;
pub mod fault;
pub mod pipe;
#[cfg(unix)]
pub mod tty;
pub mod udp;

pub use fault::{Fault, FaultSchedule, SendPoint, Trigger};
pub use pipe::{pipe, HostUart, Line, LineStats, ModemPort, Nanos, NS_PER_MS};

use crate::time::Instant;

/// What a simulated modem has done, for summaries and test assertions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Command lines acted on (answered or not).
    pub commands: u64,
    /// Datagrams sent to the network.
    pub datagrams_out: u64,
    /// Payload bytes sent to the network.
    pub bytes_out: u64,
    /// Datagrams that arrived from the network and were kept.
    pub datagrams_in: u64,
    /// Payload bytes of those.
    pub bytes_in: u64,
    /// Datagrams handed to the host (pushed, or read by the host).
    pub datagrams_delivered: u64,
    /// Payload bytes handed to the host.
    pub bytes_delivered: u64,
    /// Datagrams from the network lost (too long, no registration).
    pub datagrams_lost: u64,
    /// Sends refused (`SEND FAIL` or an error after the payload).
    pub sends_refused: u64,
    /// Restarts.
    pub reboots: u64,
    /// The line's counters.
    pub line: LineStats,
}

/// A simulated modem, as host programs drive it.
pub trait SimModem {
    /// Short name (`"bg96"`).
    fn name(&self) -> &'static str;

    /// Do everything due by `now`: take the host's bytes, act, read the UDP sockets
    /// without blocking, put due output on the line.
    fn step(&mut self, now: Instant);

    /// When `step` next has something to do without outside input (an answer or
    /// URC due, a byte arriving on the line, a scheduled fault). Datagrams from the
    /// network are outside input: a loop waiting for them steps anyway.
    fn next_event(&self) -> Option<Instant>;

    /// Make `fault` happen now (or, for faults about the next command or send, arm
    /// it).
    fn inject(&mut self, fault: Fault);

    /// The scripted faults.
    fn faults(&mut self) -> &mut FaultSchedule;

    /// Counters.
    fn stats(&self) -> SimStats;
}

/// Things to do at given moments, kept in time order (insertion order for equal
/// times).
#[derive(Debug)]
pub struct Timeline<A> {
    items: Vec<(Nanos, u64, A)>,
    seq: u64,
}

impl<A> Default for Timeline<A> {
    fn default() -> Self {
        Timeline {
            items: Vec::new(),
            seq: 0,
        }
    }
}

impl<A> Timeline<A> {
    /// An empty time line.
    pub fn new() -> Self {
        Self::default()
    }

    /// Do `action` at `at`.
    pub fn at(&mut self, at: Nanos, action: A) {
        self.items.push((at, self.seq, action));
        self.seq += 1;
    }

    /// When the earliest action is due.
    pub fn next_time(&self) -> Option<Nanos> {
        self.items.iter().map(|&(t, _, _)| t).min()
    }

    /// Take the earliest action due by `now`.
    pub fn pop_due(&mut self, now: Nanos) -> Option<(Nanos, A)> {
        let i = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, (t, _, _))| *t <= now)
            .min_by_key(|(_, (t, s, _))| (*t, *s))
            .map(|(i, _)| i)?;
        let (t, _, a) = self.items.remove(i);
        Some((t, a))
    }

    /// Keep only the actions `keep` approves.
    pub fn retain(&mut self, mut keep: impl FnMut(&A) -> bool) {
        self.items.retain(|(_, _, a)| keep(a));
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Number of waiting actions.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Milliseconds to the simulation's nanoseconds.
pub fn to_nanos(t: Instant) -> Nanos {
    t.as_millis().saturating_mul(NS_PER_MS)
}

/// Nanoseconds to the first millisecond at or after them.
pub fn to_instant_ceil(ns: Nanos) -> Instant {
    Instant::from_millis(ns.div_ceil(NS_PER_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_orders_by_time_then_insertion() {
        let mut t = Timeline::new();
        t.at(5, 'a');
        t.at(3, 'b');
        t.at(5, 'c');
        assert_eq!(t.next_time(), Some(3));
        assert_eq!(t.pop_due(4), Some((3, 'b')));
        assert_eq!(t.pop_due(4), None);
        assert_eq!(t.pop_due(9), Some((5, 'a')));
        assert_eq!(t.pop_due(9), Some((5, 'c')));
        assert!(t.is_empty());
        assert_eq!(to_instant_ceil(1), Instant::from_millis(1));
        assert_eq!(to_instant_ceil(2 * NS_PER_MS), Instant::from_millis(2));
    }
}
