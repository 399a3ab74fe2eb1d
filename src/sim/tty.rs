//! A real serial port as a non-blocking `embedded_io` transport (Unix hosts), so the
//! same host program can drive a modem on a USB-serial adapter instead of a
//! simulator.
//!
//! The port is set up with the system's `stty` (raw, 8N1, no flow control, the
//! given baud rate), so no C library binding or system package is needed. Two
//! threads move the bytes: one blocks in the system's read and hands what it got
//! over a channel, one writes what the driver queued. The driver side never waits:
//! `read_ready` looks at the channel, `write` queues (up to a 4 KiB backlog).

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::{self, Read as _, Write as _};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;

/// Bytes the driver may queue before `write_ready` says no.
pub const TX_BACKLOG: usize = 4096;

/// A serial port driven by two threads.
#[derive(Debug)]
pub struct TtyUart {
    rx: Receiver<Vec<u8>>,
    rx_buf: VecDeque<u8>,
    rx_closed: bool,
    tx: Sender<Vec<u8>>,
    tx_queued: Arc<AtomicUsize>,
}

/// Configure `path` with `stty` (raw mode, 8N1, no flow control, `baud`).
pub fn configure(path: &str, baud: u32) -> io::Result<()> {
    let flag = if cfg!(target_os = "linux") {
        "-F"
    } else {
        "-f"
    };
    let status = Command::new("stty")
        .args([flag, path, &baud.to_string()])
        .args([
            "raw", "-echo", "cs8", "-cstopb", "-parenb", "-crtscts", "clocal",
        ])
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("stty could not set up {path}")))
    }
}

impl TtyUart {
    /// Open and configure the port at `path` (for example `/dev/ttyUSB0`).
    pub fn open(path: &str, baud: u32) -> io::Result<Self> {
        configure(path, baud)?;
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let mut reader = file.try_clone()?;
        let mut writer = file;
        let (rx_send, rx) = mpsc::channel::<Vec<u8>>();
        let (tx, tx_recv) = mpsc::channel::<Vec<u8>>();
        let tx_queued = Arc::new(AtomicUsize::new(0));
        let queued = tx_queued.clone();
        std::thread::Builder::new()
            .name("tty-read".into())
            .spawn(move || {
                let mut buf = [0u8; 512];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let chunk = buf.get(..n).unwrap_or_default().to_vec();
                            if rx_send.send(chunk).is_err() {
                                break;
                            }
                        }
                    }
                }
            })?;
        std::thread::Builder::new()
            .name("tty-write".into())
            .spawn(move || {
                for chunk in tx_recv {
                    if writer
                        .write_all(&chunk)
                        .and_then(|_| writer.flush())
                        .is_err()
                    {
                        break;
                    }
                    queued.fetch_sub(chunk.len(), Ordering::Relaxed);
                }
            })?;
        Ok(TtyUart {
            rx,
            rx_buf: VecDeque::new(),
            rx_closed: false,
            tx,
            tx_queued,
        })
    }

    fn fill(&mut self) {
        loop {
            match self.rx.try_recv() {
                Ok(chunk) => self.rx_buf.extend(chunk),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.rx_closed = true;
                    break;
                }
            }
        }
    }
}

impl embedded_io::ErrorType for TtyUart {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Read for TtyUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.fill();
        if self.rx_buf.is_empty() && self.rx_closed {
            return Err(embedded_io::ErrorKind::BrokenPipe);
        }
        let n = buf.len().min(self.rx_buf.len());
        for (slot, b) in buf.iter_mut().zip(self.rx_buf.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for TtyUart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        self.fill();
        if self.rx_buf.is_empty() && self.rx_closed {
            return Err(embedded_io::ErrorKind::BrokenPipe);
        }
        Ok(!self.rx_buf.is_empty())
    }
}

impl embedded_io::Write for TtyUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let room = TX_BACKLOG.saturating_sub(self.tx_queued.load(Ordering::Relaxed));
        let n = buf.len().min(room);
        if n == 0 {
            return Ok(0);
        }
        self.tx_queued.fetch_add(n, Ordering::Relaxed);
        self.tx
            .send(buf.get(..n).unwrap_or_default().to_vec())
            .map_err(|_| embedded_io::ErrorKind::BrokenPipe)?;
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl embedded_io::WriteReady for TtyUart {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.tx_queued.load(Ordering::Relaxed) < TX_BACKLOG)
    }
}
