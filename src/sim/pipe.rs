//! An in-process UART: two ends joined by a paced byte line.
//!
//! The driver gets a [`HostUart`] (non-blocking `embedded_io` Read, ReadReady, Write
//! and WriteReady), the simulated modem a [`ModemPort`]. Each byte occupies the line
//! for 10 bit times (start, 8 data, stop bit) at the configured baud rate, in each
//! direction independently, so a 1460-byte payload at 115200 baud takes 127 ms to
//! cross, exactly as on a board.
//!
//! Time is what the modem side was last told ([`ModemPort::set_now`], called by the
//! simulator's `step(now)`): bytes the driver writes are stamped with it, and the
//! driver can read a byte only once the clock has passed the moment its stop bit
//! arrived. Nothing here reads a clock or waits.
//!
//! Optional limits model the hardware: a transmit FIFO on the host side (writes take
//! only what fits, so the driver's partial-write path runs) and a receive FIFO (bytes
//! arriving while it is full are lost and counted as overruns, as without flow
//! control).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Nanoseconds on the simulation's time line.
pub type Nanos = u64;

/// Nanoseconds per millisecond.
pub const NS_PER_MS: u64 = 1_000_000;

/// The electrical side of the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    /// Baud rate; `None`: bytes cross instantly.
    pub baud: Option<u32>,
    /// Bytes the host's transmit FIFO holds before `write_ready` says no.
    pub host_tx_fifo: usize,
    /// Bytes the host's receive FIFO holds before arriving bytes are lost; `None`:
    /// unlimited (as with perfect flow control).
    pub host_rx_fifo: Option<usize>,
}

impl Line {
    /// No pacing: every byte crosses at once. Large FIFOs.
    pub const fn instant() -> Self {
        Line {
            baud: None,
            host_tx_fifo: 4096,
            host_rx_fifo: None,
        }
    }

    /// Paced at `baud` (10 bit times per byte), with a 4 KiB transmit FIFO and an
    /// unlimited receive FIFO.
    pub const fn baud(baud: u32) -> Self {
        Line {
            baud: Some(baud),
            host_tx_fifo: 4096,
            host_rx_fifo: None,
        }
    }

    /// Time one byte occupies the line.
    pub fn byte_time(&self) -> Nanos {
        match self.baud {
            Some(b) if b > 0 => 10_000_000_000 / b as u64,
            _ => 0,
        }
    }
}

impl Default for Line {
    fn default() -> Self {
        Line::instant()
    }
}

/// Counters of one direction of the line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirStats {
    /// Bytes put on the line.
    pub bytes: u64,
    /// Bytes lost on purpose ([`ModemPort::drop_to_host`], [`ModemPort::drop_to_modem`]).
    pub dropped: u64,
    /// Bytes lost because the receiving FIFO was full.
    pub overruns: u64,
}

/// Counters of the whole line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineStats {
    /// Host to modem.
    pub to_modem: DirStats,
    /// Modem to host.
    pub to_host: DirStats,
}

#[derive(Debug, Default)]
struct Dir {
    /// Bytes on the line, each with the moment its stop bit arrives.
    wire: VecDeque<(Nanos, u8)>,
    /// When the line is free for the next byte.
    free_at: Nanos,
    /// Bytes still to be lost.
    drop_next: usize,
    stats: DirStats,
}

impl Dir {
    fn push(&mut self, at: Nanos, byte_time: Nanos, data: &[u8]) {
        for &b in data {
            let start = at.max(self.free_at);
            let done = start + byte_time;
            self.free_at = done;
            self.stats.bytes += 1;
            if self.drop_next > 0 {
                self.drop_next -= 1;
                self.stats.dropped += 1;
                continue;
            }
            self.wire.push_back((done, b));
        }
    }

    fn next_arrival(&self) -> Option<Nanos> {
        self.wire.front().map(|&(t, _)| t)
    }
}

#[derive(Debug)]
struct Wire {
    line: Line,
    now: Nanos,
    to_modem: Dir,
    to_host: Dir,
    /// Bytes that reached the host and wait to be read.
    host_rx: VecDeque<u8>,
}

impl Wire {
    /// Move the bytes that have arrived by now into the host's receive FIFO.
    fn settle(&mut self) {
        while let Some(&(t, b)) = self.to_host.wire.front() {
            if t > self.now {
                break;
            }
            self.to_host.wire.pop_front();
            match self.line.host_rx_fifo {
                Some(cap) if self.host_rx.len() >= cap => self.to_host.stats.overruns += 1,
                _ => self.host_rx.push_back(b),
            }
        }
    }
}

type Shared = Arc<Mutex<Wire>>;

fn lock(w: &Shared) -> MutexGuard<'_, Wire> {
    w.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Make a line: the driver's end and the modem's end.
pub fn pipe(line: Line) -> (HostUart, ModemPort) {
    let wire = Arc::new(Mutex::new(Wire {
        line,
        now: 0,
        to_modem: Dir::default(),
        to_host: Dir::default(),
        host_rx: VecDeque::new(),
    }));
    (HostUart { wire: wire.clone() }, ModemPort { wire })
}

/// The driver's end of the line: a non-blocking `embedded_io` transport.
#[derive(Debug, Clone)]
pub struct HostUart {
    wire: Shared,
}

impl HostUart {
    /// Bytes that arrived and are not read yet.
    pub fn pending(&self) -> usize {
        let mut w = lock(&self.wire);
        w.settle();
        w.host_rx.len()
    }
}

impl embedded_io::ErrorType for HostUart {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for HostUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let mut w = lock(&self.wire);
        w.settle();
        let n = buf.len().min(w.host_rx.len());
        for (slot, b) in buf.iter_mut().zip(w.host_rx.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for HostUart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        let mut w = lock(&self.wire);
        w.settle();
        Ok(!w.host_rx.is_empty())
    }
}

impl embedded_io::Write for HostUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let mut w = lock(&self.wire);
        let room = w.line.host_tx_fifo.saturating_sub(w.to_modem.wire.len());
        let n = buf.len().min(room);
        let (now, bt) = (w.now, w.line.byte_time());
        w.to_modem.push(now, bt, buf.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl embedded_io::WriteReady for HostUart {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        let w = lock(&self.wire);
        Ok(w.to_modem.wire.len() < w.line.host_tx_fifo)
    }
}

/// The simulated modem's end of the line.
#[derive(Debug)]
pub struct ModemPort {
    wire: Shared,
}

impl ModemPort {
    /// Move the line's clock to `now`: bytes whose stop bit has arrived become
    /// readable on the other end, and the driver's writes are stamped with `now`.
    pub fn set_now(&mut self, now: Nanos) {
        let mut w = lock(&self.wire);
        if now > w.now {
            w.now = now;
        }
        w.settle();
    }

    /// The line's clock.
    pub fn now(&self) -> Nanos {
        lock(&self.wire).now
    }

    /// The next byte from the host that has fully arrived by `until`, with its
    /// arrival time.
    pub fn recv(&mut self, until: Nanos) -> Option<(Nanos, u8)> {
        let mut w = lock(&self.wire);
        match w.to_modem.wire.front() {
            Some(&(t, _)) if t <= until => w.to_modem.wire.pop_front(),
            _ => None,
        }
    }

    /// When the next byte from the host arrives (it may already have).
    pub fn next_from_host(&self) -> Option<Nanos> {
        lock(&self.wire).to_modem.next_arrival()
    }

    /// When the next byte to the host arrives, if one is still on the line.
    pub fn next_to_host(&self) -> Option<Nanos> {
        lock(&self.wire).to_host.next_arrival()
    }

    /// Put `bytes` on the line to the host, starting at `at` (or when the line is
    /// free, if later).
    pub fn send(&mut self, at: Nanos, bytes: &[u8]) {
        let mut w = lock(&self.wire);
        let bt = w.line.byte_time();
        w.to_host.push(at, bt, bytes);
    }

    /// Lose the next `n` bytes sent to the host.
    pub fn drop_to_host(&mut self, n: usize) {
        lock(&self.wire).to_host.drop_next += n;
    }

    /// Lose the next `n` bytes the host writes.
    pub fn drop_to_modem(&mut self, n: usize) {
        lock(&self.wire).to_modem.drop_next += n;
    }

    /// Throw away what the host wrote and the modem has not taken yet (a modem that
    /// is powering up hears nothing).
    pub fn discard_from_host(&mut self, until: Nanos) -> usize {
        let mut n = 0;
        while self.recv(until).is_some() {
            n += 1;
        }
        n
    }

    /// The line's settings.
    pub fn line(&self) -> Line {
        lock(&self.wire).line
    }

    /// Counters.
    pub fn stats(&self) -> LineStats {
        let w = lock(&self.wire);
        LineStats {
            to_modem: w.to_modem.stats,
            to_host: w.to_host.stats,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_io::{Read, ReadReady, Write};

    #[test]
    fn bytes_take_ten_bit_times() {
        let (mut host, mut modem) = pipe(Line::baud(10_000)); // 1 ms per byte
        modem.send(0, b"OK");
        modem.set_now(NS_PER_MS / 2);
        assert!(!host.read_ready().unwrap());
        modem.set_now(NS_PER_MS);
        let mut buf = [0u8; 4];
        assert_eq!(host.read(&mut buf).unwrap(), 1);
        modem.set_now(2 * NS_PER_MS);
        assert_eq!(host.read(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], b'K');

        assert_eq!(host.write(b"AT\r").unwrap(), 3);
        assert_eq!(modem.recv(3 * NS_PER_MS), Some((3 * NS_PER_MS, b'A')));
        assert_eq!(modem.recv(3 * NS_PER_MS), None);
        assert_eq!(modem.next_from_host(), Some(4 * NS_PER_MS));
    }

    #[test]
    fn fifo_limits_and_drops() {
        let mut line = Line::instant();
        line.host_tx_fifo = 2;
        line.host_rx_fifo = Some(3);
        let (mut host, mut modem) = pipe(line);
        assert_eq!(host.write(b"abc").unwrap(), 2);
        modem.drop_to_host(1);
        modem.send(0, b"012345");
        modem.set_now(1);
        let mut buf = [0u8; 8];
        assert_eq!(host.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"123");
        let s = modem.stats();
        assert_eq!((s.to_host.dropped, s.to_host.overruns), (1, 2));
    }
}
