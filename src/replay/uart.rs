//! The transport and clock replays (and other host tests) run on.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::vec::Vec;

use super::Rng;
use crate::time::{Clock, Instant};

/// An in-memory UART: modem bytes are fed in, host bytes collect in a buffer.
#[derive(Debug, Default)]
pub struct ReplayUart {
    rx: VecDeque<u8>,
    written: Vec<u8>,
    /// When set, each write takes a random number of bytes (partial writes).
    split: Option<Rng>,
}

impl ReplayUart {
    /// A UART that takes whole writes, or random pieces with `split`.
    pub fn new(split: Option<Rng>) -> Self {
        ReplayUart {
            rx: VecDeque::new(),
            written: Vec::new(),
            split,
        }
    }

    /// Make bytes available to the driver's next read.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.rx.extend(bytes);
    }

    /// Take up to `n` of the bytes the driver wrote, oldest first.
    pub fn take_written(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.written.len());
        self.written.drain(..n).collect()
    }

    /// Bytes written and not yet taken.
    pub fn written(&self) -> &[u8] {
        &self.written
    }

    /// Bytes fed and not yet read by the driver.
    pub fn pending_rx(&self) -> usize {
        self.rx.len()
    }
}

impl embedded_io::ErrorType for ReplayUart {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for ReplayUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = buf.len().min(self.rx.len());
        for (slot, b) in buf.iter_mut().zip(self.rx.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for ReplayUart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(!self.rx.is_empty())
    }
}

impl embedded_io::Write for ReplayUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let n = match self.split.as_mut() {
            Some(rng) if !buf.is_empty() => rng.range(1, buf.len()),
            _ => buf.len(),
        };
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl embedded_io::WriteReady for ReplayUart {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// A clock that moves only when told to; clones share the time.
#[derive(Clone, Debug, Default)]
pub struct VirtualClock(Rc<Cell<u64>>);

impl VirtualClock {
    /// A clock at 0 ms.
    pub fn new() -> Self {
        Self::default()
    }

    /// Move forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
    }

    /// Set the time (never backwards in a replay).
    pub fn set(&self, ms: u64) {
        self.0.set(ms);
    }

    /// The time in ms.
    pub fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        Instant::from_millis(self.0.get())
    }
}
