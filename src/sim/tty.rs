//! Real serial ports and pseudo-terminals (Unix hosts).
//!
//! * [`TtyUart`]: a serial port (a USB-serial adapter, or the slave side of a
//!   pseudo-terminal) as the driver's non-blocking `embedded_io` transport. The
//!   port is put in raw mode (8N1, no flow control, no echo, no line editing, no
//!   CR/LF translation) at the given baud rate and opened with `O_NONBLOCK`;
//!   `read_ready` and `write_ready` ask poll(2) with a zero timeout, `read` and
//!   `write` take what the kernel has or accepts now. No thread, nothing waits
//!   (except [`TtyUart::wait_readable`], which a host program's loop may call
//!   to sleep until bytes arrive).
//! * [`Pty`]: a pseudo-terminal. The simulator holds the master side; the slave
//!   side's path (`/dev/pts/N`) is a serial port for any program, cellsock's
//!   examples or a firmware built for the host.
//! * [`PtyModem`]: a simulated modem ([`super::SimModem`]) on a pty: bytes the
//!   program on the tty writes go onto the simulator's paced line, what the
//!   simulated modem sends goes back to the tty. Steps with the caller's clock,
//!   like every simulator here.
//! * [`TtyLog`]: everything that crosses the tty, as a recording (`H:`/`M:` lines
//!   with `T:` timestamps, header `@host-only`: see `docs/recordings.md`).
//! * [`FaultSpec`]: the `--fault` syntax of `examples/sim.rs`.
//!
//! Everything here is safe Rust over the `nix` crate (an optional dependency that
//! only the `sim` feature enables on Unix).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write as _};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant as WallInstant};

use embedded_io::{Read as _, Write as _};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, ControlFlags, SetArg, SpecialCharacterIndices, Termios};

use super::{Fault, HostUart, SendPoint, SimModem, Trigger};
use crate::replay::{escape, unescape};
use crate::time::Instant;

// ---------------------------------------------------------------------------
// Terminal settings and poll(2)
// ---------------------------------------------------------------------------

/// Set `termios` to `baud` (platforms whose speeds are plain numbers).
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd"
))]
fn set_speed(t: &mut Termios, baud: u32) -> io::Result<()> {
    termios::cfsetspeed(t, baud).map_err(io::Error::from)
}

/// Set `termios` to `baud` (platforms with a fixed list of speeds).
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
fn set_speed(t: &mut Termios, baud: u32) -> io::Result<()> {
    use termios::BaudRate as B;
    let rate = match baud {
        1200 => B::B1200,
        2400 => B::B2400,
        4800 => B::B4800,
        9600 => B::B9600,
        19_200 => B::B19200,
        38_400 => B::B38400,
        57_600 => B::B57600,
        115_200 => B::B115200,
        230_400 => B::B230400,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        460_800 => B::B460800,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        500_000 => B::B500000,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        576_000 => B::B576000,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        921_600 => B::B921600,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        1_000_000 => B::B1000000,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        1_152_000 => B::B1152000,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        1_500_000 => B::B1500000,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        2_000_000 => B::B2000000,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        3_000_000 => B::B3000000,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        4_000_000 => B::B4000000,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{other} baud is not a speed this system's serial ports take"),
            ))
        }
    };
    termios::cfsetspeed(t, rate).map_err(io::Error::from)
}

/// Raw mode on an open terminal: 8N1, receiver on, modem control lines ignored,
/// no flow control, no echo, no line editing or signals, no CR/LF translation;
/// a read returns what is there (`VMIN` = `VTIME` = 0). `baud` 0 keeps the speed.
fn make_raw(fd: BorrowedFd<'_>, baud: u32) -> io::Result<()> {
    let mut t = termios::tcgetattr(fd)?;
    termios::cfmakeraw(&mut t);
    t.control_flags
        .insert(ControlFlags::CS8 | ControlFlags::CREAD | ControlFlags::CLOCAL);
    t.control_flags
        .remove(ControlFlags::CSTOPB | ControlFlags::PARENB | ControlFlags::HUPCL);
    #[cfg(not(any(target_os = "redox", target_os = "aix")))]
    t.control_flags.remove(ControlFlags::CRTSCTS);
    t.control_chars[SpecialCharacterIndices::VMIN as usize] = 0;
    t.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
    if baud != 0 {
        set_speed(&mut t, baud)?;
    }
    termios::tcsetattr(fd, SetArg::TCSANOW, &t)?;
    Ok(())
}

/// What poll(2) says about one descriptor.
#[derive(Clone, Copy, Debug, Default)]
struct Ready {
    readable: bool,
    writable: bool,
    /// Hung up or in error (the other side of a pty is gone, a USB adapter was
    /// unplugged).
    gone: bool,
}

/// poll(2) on one descriptor, `timeout` rounded up to whole milliseconds (zero:
/// just look). An interrupted wait counts as nothing ready.
fn poll_fd(fd: BorrowedFd<'_>, events: PollFlags, timeout: Duration) -> io::Result<Ready> {
    let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
    let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
    let mut fds = [PollFd::new(fd, events)];
    match poll(&mut fds, timeout) {
        Ok(_) => {}
        Err(Errno::EINTR) => return Ok(Ready::default()),
        Err(e) => return Err(e.into()),
    }
    let got = fds[0].revents().unwrap_or(PollFlags::empty());
    Ok(Ready {
        readable: got.contains(PollFlags::POLLIN),
        writable: got.contains(PollFlags::POLLOUT),
        gone: got.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL),
    })
}

/// One non-blocking read: `Ok(0)` when nothing is there.
fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Ok(0),
            r => return r,
        }
    }
}

/// One non-blocking write: `Ok(0)` when the kernel takes nothing now.
fn write_some(fd: BorrowedFd<'_>, buf: &[u8]) -> nix::Result<usize> {
    loop {
        match nix::unistd::write(fd, buf) {
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Ok(0),
            r => return r,
        }
    }
}

fn open_tty(path: &Path) -> io::Result<OwnedFd> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).bits())
        .open(path)?;
    Ok(file.into())
}

// ---------------------------------------------------------------------------
// TtyUart: the driver's end of a real serial port
// ---------------------------------------------------------------------------

/// A serial port as a non-blocking `embedded_io` transport.
///
/// Errors are `embedded_io` kinds: `BrokenPipe` once the line is gone (the
/// simulator on the other side of a pty ended, an adapter was unplugged), `Other`
/// for anything else. The driver counts them (`uart_errors`) and goes on.
#[derive(Debug)]
pub struct TtyUart {
    fd: OwnedFd,
    path: String,
}

/// Open `path` once and put it in raw mode at `baud` (0: keep the speed), as
/// [`TtyUart::open`] does, for a program that opens the port itself later.
pub fn configure(path: &str, baud: u32) -> io::Result<()> {
    let fd = open_tty(Path::new(path))?;
    make_raw(fd.as_fd(), baud)
}

impl TtyUart {
    /// Open the port at `path` (for example `/dev/ttyUSB0`, or the `/dev/pts/N` a
    /// [`Pty`] printed) in raw mode at `baud` (0: keep the port's speed; a pty has
    /// no speed of its own, its pacing is the simulator's). Bytes that arrived
    /// before the port was opened are kept.
    pub fn open(path: &str, baud: u32) -> io::Result<Self> {
        let fd = open_tty(Path::new(path))
            .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
        make_raw(fd.as_fd(), baud)
            .map_err(|e| io::Error::new(e.kind(), format!("{path}: not a serial port? {e}")))?;
        Ok(TtyUart {
            fd,
            path: path.to_string(),
        })
    }

    /// The path it was opened with.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Sleep until bytes can be read or `timeout` passes (true: bytes wait, or
    /// the line is gone and the next read says so). Not used by the driver: for
    /// the loop of a host program that has nothing else to do.
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let r = poll_fd(self.fd.as_fd(), PollFlags::POLLIN, timeout)?;
        Ok(r.readable || r.gone)
    }

    /// Drop whatever was received and not read yet, and whatever was written and
    /// not sent yet (tcflush).
    pub fn discard_pending(&mut self) -> io::Result<()> {
        termios::tcflush(self.fd.as_fd(), termios::FlushArg::TCIOFLUSH).map_err(io::Error::from)
    }
}

fn kind(e: Errno) -> embedded_io::ErrorKind {
    match e {
        // EIO: the other side of a pty was closed, or the device went away.
        Errno::EIO | Errno::ENXIO | Errno::ENODEV | Errno::EPIPE | Errno::EBADF => {
            embedded_io::ErrorKind::BrokenPipe
        }
        _ => embedded_io::ErrorKind::Other,
    }
}

impl embedded_io::ErrorType for TtyUart {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Read for TtyUart {
    /// What the kernel has now, without waiting (0 bytes when nothing is there).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        match read_some(self.fd.as_fd(), buf).map_err(kind)? {
            // Nothing: either nothing yet (some systems say so with 0 instead of
            // EAGAIN) or end of file because the line hung up (Linux, when the
            // other side of a pty closed). poll(2) tells which.
            0 => match poll_fd(self.fd.as_fd(), PollFlags::POLLIN, Duration::ZERO) {
                Ok(r) if r.gone => Err(embedded_io::ErrorKind::BrokenPipe),
                _ => Ok(0),
            },
            n => Ok(n),
        }
    }
}

impl embedded_io::ReadReady for TtyUart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        let r = poll_fd(self.fd.as_fd(), PollFlags::POLLIN, Duration::ZERO)
            .map_err(|_| embedded_io::ErrorKind::Other)?;
        if r.readable {
            Ok(true)
        } else if r.gone {
            Err(embedded_io::ErrorKind::BrokenPipe)
        } else {
            Ok(false)
        }
    }
}

impl embedded_io::Write for TtyUart {
    /// What the kernel's output buffer takes now, without waiting (may be 0).
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        write_some(self.fd.as_fd(), buf).map_err(kind)
    }

    /// Does not wait for the bytes to leave (that would block): the kernel sends
    /// them on its own.
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl embedded_io::WriteReady for TtyUart {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        let r = poll_fd(self.fd.as_fd(), PollFlags::POLLOUT, Duration::ZERO)
            .map_err(|_| embedded_io::ErrorKind::Other)?;
        if r.writable {
            Ok(true)
        } else if r.gone {
            Err(embedded_io::ErrorKind::BrokenPipe)
        } else {
            Ok(false)
        }
    }
}

// ---------------------------------------------------------------------------
// Pty: a pseudo-terminal
// ---------------------------------------------------------------------------

/// A pseudo-terminal: the master side (non-blocking) and the path of the slave
/// side, which programs open as a serial port.
///
/// The pty also keeps the slave side open itself (in raw mode), so that programs
/// can open, close and reopen the path while the pty lives, and so that a program
/// that does not set the terminal up still gets raw bytes.
#[derive(Debug)]
pub struct Pty {
    master: OwnedFd,
    /// Held open so the pty survives its users; never read.
    _slave: OwnedFd,
    path: String,
}

impl Pty {
    /// A new pseudo-terminal (posix_openpt, grantpt, unlockpt, ptsname).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn open() -> io::Result<Pty> {
        use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
        let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let path = ptsname_r(&master)?;
        let slave = open_tty(Path::new(&path))?;
        make_raw(slave.as_fd(), 0)?;
        Ok(Pty {
            master: master.into(),
            _slave: slave,
            path,
        })
    }

    /// A new pseudo-terminal (openpty, then the slave's name).
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub fn open() -> io::Result<Pty> {
        let p = nix::pty::openpty(None, None)?;
        let path = nix::unistd::ttyname(p.slave.as_fd())?
            .to_string_lossy()
            .into_owned();
        let flags = nix::fcntl::fcntl(p.master.as_fd(), nix::fcntl::FcntlArg::F_GETFL)?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(p.master.as_fd(), nix::fcntl::FcntlArg::F_SETFL(flags))?;
        make_raw(p.slave.as_fd(), 0)?;
        Ok(Pty {
            master: p.master,
            _slave: p.slave,
            path,
        })
    }

    /// The slave side's path (`/dev/pts/N`): the serial port to hand to programs.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Bytes the program on the tty wrote, without waiting (0: none now).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match read_some(self.master.as_fd(), buf) {
            // EIO: no program has the slave open (cannot happen while we hold it).
            Err(Errno::EIO) => Ok(0),
            r => r.map_err(io::Error::from),
        }
    }

    /// Send bytes to the program on the tty, without waiting: returns how many the
    /// pty took (0 when its buffer is full because nobody reads).
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match write_some(self.master.as_fd(), buf) {
            Err(Errno::EIO) => Ok(0),
            r => r.map_err(io::Error::from),
        }
    }

    /// Sleep until the program on the tty writes (or `want_write` and the pty can
    /// take bytes), or `timeout` passes.
    pub fn wait(&self, want_read: bool, want_write: bool, timeout: Duration) -> io::Result<()> {
        let mut events = PollFlags::empty();
        if want_read {
            events |= PollFlags::POLLIN;
        }
        if want_write {
            events |= PollFlags::POLLOUT;
        }
        if events.is_empty() {
            std::thread::sleep(timeout);
            return Ok(());
        }
        poll_fd(self.master.as_fd(), events, timeout).map(|_| ())
    }
}

// ---------------------------------------------------------------------------
// TtyLog: what crossed the tty, as a recording
// ---------------------------------------------------------------------------

#[derive(Debug)]
enum Sink {
    Memory(String),
    File(BufWriter<File>),
}

/// Everything that crossed a tty, written as a recording: `H:` the bytes the
/// program on the tty wrote, `M:` the bytes the modem sent, `#` comments (faults as
/// they fire), and `T: =<ms>` when the time changes.
///
/// Bytes are written one recording line per line of the conversation (`H:` lines
/// end after `\r`, `M:` lines after `\n`): a line that crosses in pieces (a paced
/// line delivers a few bytes per step) is kept until it ends, the other direction
/// says something, or [`TtyLog::STALE_MS`] pass, and is stamped with the moment
/// its first byte crossed. The order of the two directions is always kept.
///
/// The header says `@host-only`: the application is outside, so there are no `A:`
/// lines, and the file replays as a host-only recording
/// ([`crate::replay::ingress::replay_host_only`]: the modem's bytes through the
/// framer and the profile, with the host's bytes as context).
#[derive(Debug)]
pub struct TtyLog {
    sink: Sink,
    last_t: Option<u64>,
    /// A line not ended yet: its tag, when its first byte crossed, its bytes.
    open: Option<(&'static str, Instant, Vec<u8>)>,
    /// Bytes logged per direction: (host, modem).
    bytes: (u64, u64),
    error: Option<io::Error>,
}

impl TtyLog {
    /// A line not ended after this long is written as it is.
    pub const STALE_MS: u64 = 100;

    fn header(profile: &str, source: &str) -> String {
        format!(
            "@profile {profile}\n@host-only\n\
# {source}\n\
# H: the bytes the program on the tty wrote; M: the bytes the simulated modem sent;\n\
# T: the simulator's clock (ms since it started) when the next line's first byte\n\
# crossed. No A: lines: the application was outside, so this replays as a\n\
# host-only recording (docs/recordings.md).\n"
        )
    }

    fn with_sink(sink: Sink) -> TtyLog {
        TtyLog {
            sink,
            last_t: None,
            open: None,
            bytes: (0, 0),
            error: None,
        }
    }

    /// A log kept in memory ([`TtyLog::text`]); `profile` is the `@profile` the
    /// modem's bytes are read with (`bg96`, `nrf91`), `source` a comment on where
    /// it comes from.
    pub fn memory(profile: &str, source: &str) -> TtyLog {
        Self::with_sink(Sink::Memory(Self::header(profile, source)))
    }

    /// A log written to the file at `path` as it goes ([`TtyLog::sync`] pushes it
    /// out, so that it survives a crash of the program and can be followed).
    pub fn create(path: &Path, profile: &str, source: &str) -> io::Result<TtyLog> {
        let mut w = BufWriter::new(File::create(path)?);
        w.write_all(Self::header(profile, source).as_bytes())?;
        w.flush()?;
        Ok(Self::with_sink(Sink::File(w)))
    }

    fn put(&mut self, text: &str) {
        match &mut self.sink {
            Sink::Memory(s) => s.push_str(text),
            Sink::File(w) => {
                if self.error.is_none() {
                    if let Err(e) = w.write_all(text.as_bytes()) {
                        self.error = Some(e);
                    }
                }
            }
        }
    }

    fn time(&mut self, t: Instant) {
        let ms = t.as_millis();
        if self.last_t.is_none_or(|last| ms > last) {
            self.last_t = Some(ms);
            self.put(&format!("T: ={ms}\n"));
        }
    }

    /// Write the line not ended yet, as it is.
    fn close_line(&mut self) {
        if let Some((tag, t, bytes)) = self.open.take() {
            self.time(t);
            let line = format!("{tag}: {}\n", escape(&bytes));
            self.put(&line);
        }
    }

    fn data(&mut self, t: Instant, tag: &'static str, bytes: &[u8], line_end: u8) {
        if bytes.is_empty() {
            return;
        }
        if self.open.as_ref().is_some_and(|(open, _, _)| *open != tag) {
            self.close_line();
        }
        for piece in bytes.split_inclusive(|&b| b == line_end) {
            match &mut self.open {
                Some((_, _, line)) => line.extend_from_slice(piece),
                None => self.open = Some((tag, t, piece.to_vec())),
            }
            if piece.last() == Some(&line_end) {
                self.close_line();
            }
        }
    }

    /// Bytes the program on the tty wrote, at `t`.
    pub fn host(&mut self, t: Instant, bytes: &[u8]) {
        self.bytes.0 += bytes.len() as u64;
        self.data(t, "H", bytes, b'\r');
    }

    /// Bytes the modem sent, at `t`.
    pub fn modem(&mut self, t: Instant, bytes: &[u8]) {
        self.bytes.1 += bytes.len() as u64;
        self.data(t, "M", bytes, b'\n');
    }

    /// A `#` comment line at `t` (after the bytes logged before it).
    pub fn comment(&mut self, t: Instant, text: &str) {
        self.close_line();
        self.time(t);
        let text = text.replace(['\r', '\n'], " ");
        self.put(&format!("# {text}\n"));
    }

    /// Bytes logged so far: (host to modem, modem to host).
    pub fn bytes(&self) -> (u64, u64) {
        self.bytes
    }

    /// At `now`: write a line left open for [`TtyLog::STALE_MS`], and push what
    /// is written to the file. The first write error, if any, is reported here.
    pub fn sync(&mut self, now: Instant) -> io::Result<()> {
        if self
            .open
            .as_ref()
            .is_some_and(|(_, t, _)| now.since(*t) >= Self::STALE_MS)
        {
            self.close_line();
        }
        self.push()
    }

    /// Write everything, the line not ended yet included, and push it to the file.
    /// The first write error, if any, is reported here.
    pub fn flush(&mut self) -> io::Result<()> {
        self.close_line();
        self.push()
    }

    fn push(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        match &mut self.sink {
            Sink::Memory(_) => Ok(()),
            Sink::File(w) => w.flush(),
        }
    }

    /// The text of an in-memory log (`None` for a file): the lines written so far
    /// ([`TtyLog::flush`] writes the last one).
    pub fn text(&self) -> Option<&str> {
        match &self.sink {
            Sink::Memory(s) => Some(s),
            Sink::File(_) => None,
        }
    }
}

// ---------------------------------------------------------------------------
// PtyModem: a simulated modem on a pseudo-terminal
// ---------------------------------------------------------------------------

/// Counters of a [`PtyModem`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PtyStats {
    /// Bytes read from the tty (the program's writes).
    pub from_tty: u64,
    /// Bytes written to the tty (the modem's output).
    pub to_tty: u64,
    /// Modem output thrown away because nobody read the tty for too long
    /// ([`PtyModem::BACKLOG`]).
    pub dropped: u64,
}

/// A simulated modem on a pseudo-terminal.
///
/// The simulator keeps its own line ([`super::Line`]: baud-rate pacing, FIFOs);
/// the pty only carries bytes between that line's host end and the program on the
/// tty. Each [`PtyModem::step`] moves what the program wrote onto the line, steps
/// the simulator, and writes what the line delivered by then to the tty. The
/// pty's kernel buffer gives the program back-pressure as a UART would: its writes
/// are taken only as fast as the paced line takes them.
pub struct PtyModem {
    sim: Box<dyn SimModem + Send>,
    line: HostUart,
    pty: Pty,
    /// Read from the tty, not yet taken by the line (its transmit FIFO is full).
    to_modem: Vec<u8>,
    /// From the line, not yet taken by the tty.
    to_tty: VecDeque<u8>,
    log: Option<TtyLog>,
    faults_logged: usize,
    stats: PtyStats,
    buf: Vec<u8>,
}

impl core::fmt::Debug for PtyModem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PtyModem")
            .field("sim", &self.sim.name())
            .field("path", &self.pty.path())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl PtyModem {
    /// Modem output kept for a tty nobody reads before the oldest bytes are lost
    /// (a real UART without a reader loses them at once).
    pub const BACKLOG: usize = 1 << 20;

    /// Put `sim`, whose line's host end is `line`, on `pty`.
    pub fn new(sim: Box<dyn SimModem + Send>, line: HostUart, pty: Pty) -> PtyModem {
        PtyModem {
            sim,
            line,
            pty,
            to_modem: Vec::new(),
            to_tty: VecDeque::new(),
            log: None,
            faults_logged: 0,
            stats: PtyStats::default(),
            buf: vec![0u8; 4096],
        }
    }

    /// Write everything that crosses the tty to `log` from now on.
    pub fn set_log(&mut self, log: TtyLog) {
        self.log = Some(log);
    }

    /// Take the log back (flushed).
    pub fn take_log(&mut self) -> Option<TtyLog> {
        let mut log = self.log.take()?;
        let _ = log.flush();
        Some(log)
    }

    /// The log, if any.
    pub fn log(&mut self) -> Option<&mut TtyLog> {
        self.log.as_mut()
    }

    /// The tty's path (`/dev/pts/N`).
    pub fn path(&self) -> &str {
        self.pty.path()
    }

    /// The simulated modem (to inject faults or read its counters).
    pub fn sim(&mut self) -> &mut (dyn SimModem + Send) {
        self.sim.as_mut()
    }

    /// Counters of the tty side.
    pub fn stats(&self) -> PtyStats {
        self.stats
    }

    /// Do everything due by `now` (ms on the simulator's clock).
    pub fn step(&mut self, now: Instant) -> io::Result<()> {
        // The program's bytes onto the line, as far as its FIFO takes them.
        loop {
            if !self.to_modem.is_empty() {
                let n = self.line.write(&self.to_modem).unwrap_or(0);
                self.to_modem.drain(..n);
                if !self.to_modem.is_empty() {
                    break;
                }
            }
            let n = self.pty.read(&mut self.buf)?;
            if n == 0 {
                break;
            }
            let got = self.buf.get(..n).unwrap_or_default();
            self.stats.from_tty += n as u64;
            if let Some(log) = self.log.as_mut() {
                log.host(now, got);
            }
            self.to_modem.extend_from_slice(got);
        }

        self.sim.step(now);
        let fired = self.sim.faults().fired().len();
        if fired > self.faults_logged {
            if let Some(log) = self.log.as_mut() {
                for (at, fault) in self
                    .sim
                    .faults()
                    .fired()
                    .get(self.faults_logged..)
                    .unwrap_or_default()
                {
                    log.comment(now, &format!("fault at {} ms: {fault:?}", at.as_millis()));
                }
            }
            self.faults_logged = fired;
        }

        // What the line delivered by now, to the tty.
        loop {
            let n = self.line.read(&mut self.buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            self.to_tty.extend(self.buf.get(..n).unwrap_or_default());
        }
        if self.to_tty.len() > Self::BACKLOG {
            let excess = self.to_tty.len() - Self::BACKLOG;
            self.to_tty.drain(..excess);
            self.stats.dropped += excess as u64;
        }
        while !self.to_tty.is_empty() {
            let (front, _) = self.to_tty.as_slices();
            let n = self.pty.write(front)?;
            if n == 0 {
                break;
            }
            if let Some(log) = self.log.as_mut() {
                log.modem(now, front.get(..n).unwrap_or_default());
            }
            self.stats.to_tty += n as u64;
            self.to_tty.drain(..n);
        }
        if let Some(log) = self.log.as_mut() {
            log.sync(now)?;
        }
        Ok(())
    }

    /// When the next step has something to do without the program writing: the
    /// simulator's next event, or `now` while bytes wait for the tty or the line.
    pub fn next_event(&self, now: Instant) -> Option<Instant> {
        if !self.to_modem.is_empty() || !self.to_tty.is_empty() {
            // The line's FIFO or the pty's buffer is full: retry soon.
            return Some(now.after(1));
        }
        self.sim.next_event()
    }

    /// Sleep until the program writes to the tty, the simulator has something due
    /// (`now` is the simulator's clock), or `max` passes.
    pub fn wait(&self, now: Instant, max: Duration) -> io::Result<()> {
        let mut timeout = max;
        if let Some(t) = self.sim.next_event() {
            timeout = timeout.min(Duration::from_millis(t.since(now)));
        }
        if timeout.is_zero() {
            return Ok(());
        }
        self.pty
            .wait(self.to_modem.is_empty(), !self.to_tty.is_empty(), timeout)
    }

    /// Step with the wall clock (ms since `start`) until `stop` is set, waking at
    /// least every `tick` to look at the UDP sockets (datagrams from the network
    /// arrive without the tty saying so). A final step after `stop` takes what the
    /// program wrote last.
    pub fn run(&mut self, start: WallInstant, tick: Duration, stop: &AtomicBool) -> io::Result<()> {
        let now = || Instant::from_millis(start.elapsed().as_millis() as u64);
        while !stop.load(Ordering::Relaxed) {
            let t = now();
            self.step(t)?;
            self.wait(t, tick)?;
        }
        self.step(now())
    }
}

// ---------------------------------------------------------------------------
// FaultSpec: the --fault syntax
// ---------------------------------------------------------------------------

/// A fault and its trigger, as written on the command line of `examples/sim.rs`:
/// `WHAT@WHEN`.
///
/// ```text
/// WHAT  reboot                 the modem restarts (banner, echo on, sockets and context gone)
///       pdpdeact               the network deactivates the packet data context
///       closed[:ID]            the network closes socket ID (default 0)
///       reglost | regained     registration lost / back
///       ignore                 the next command line is lost (no effect, no answer)
///       swallow                the next command is done but its answer is lost
///       sendfail               the next send is refused after its payload
///       garbage:BYTES          these bytes are sent to the host (escapes as in
///                              recordings: \r \n \s \xHH; write @ as \x40)
///       drop-to-host:N         the next N bytes to the host are lost on the line
///       drop-to-modem:N        the next N bytes from the host are lost on the line
/// WHEN  TIME                   this long after the simulator started: 500ms, 30s, 2m
///       cmd:PREFIX[#N]         when a command line starting with PREFIX (any case)
///                              arrives, after N such lines passed (default 0)
///       send                   inside the next send, right after the payload prompt
///       send-result            inside the next send, after the payload, before the result
/// ```
///
/// An argument may also follow a time: `closed@10s:0` is `closed:0@10s`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpec {
    /// When.
    pub trigger: Trigger,
    /// What.
    pub fault: Fault,
}

/// Milliseconds in `500ms`, `30s`, `1.5s`, `2m` (a bare number is milliseconds).
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        (t, 1.0)
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    Some((v * scale).round() as u64)
}

impl FaultSpec {
    /// Read `WHAT@WHEN` (see the type's documentation).
    pub fn parse(spec: &str) -> Result<FaultSpec, String> {
        let bad = |why: &str| {
            format!("fault {spec:?}: {why} (WHAT@WHEN, e.g. reboot@30s, closed:0@10s, sendfail@cmd:AT+CEREG, garbage:\\r\\nJUNK\\r\\n@send)")
        };
        let (what, when) = spec.rsplit_once('@').ok_or_else(|| bad("no @"))?;
        let (mut what, mut when) = (what.to_string(), when.to_string());
        // `closed@10s:0`: an argument after a time.
        if !what.contains(':') && when.starts_with(|c: char| c.is_ascii_digit()) {
            if let Some((t, arg)) = when.clone().split_once(':') {
                what = format!("{what}:{arg}");
                when = t.to_string();
            }
        }
        let trigger = if let Some(rest) = when.strip_prefix("cmd:") {
            let (prefix, nth) = match rest.rsplit_once('#') {
                Some((p, n)) => (
                    p,
                    n.parse::<u32>()
                        .map_err(|_| bad("cmd:PREFIX#N takes a number after #"))?,
                ),
                None => (rest, 0),
            };
            if prefix.is_empty() {
                return Err(bad("cmd: needs the start of a command line"));
            }
            Trigger::Command {
                prefix: prefix.to_string(),
                nth,
            }
        } else if when == "send" {
            Trigger::Send(SendPoint::AfterPrompt)
        } else if when == "send-result" {
            Trigger::Send(SendPoint::BeforeResult)
        } else {
            let ms = parse_duration_ms(&when).ok_or_else(|| {
                bad("WHEN is a time (500ms, 30s, 2m), cmd:PREFIX[#N], send or send-result")
            })?;
            Trigger::At(Instant::from_millis(ms))
        };
        let (name, arg) = match what.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (what.as_str(), None),
        };
        let number = |a: Option<&str>, what: &str| -> Result<usize, String> {
            a.ok_or_else(|| bad(&format!("{name} needs :{what}")))?
                .parse::<usize>()
                .map_err(|_| bad(&format!("{name}:{what} takes a number")))
        };
        let no_arg = |f: Fault| match arg {
            None => Ok(f),
            Some(_) => Err(bad(&format!("{name} takes no argument"))),
        };
        let fault = match name {
            "reboot" => no_arg(Fault::Reboot)?,
            "pdpdeact" => no_arg(Fault::PdpDeactivated)?,
            "closed" => {
                let id = match arg {
                    None => 0,
                    a => u8::try_from(number(a, "ID")?).map_err(|_| bad("socket ID too large"))?,
                };
                Fault::SocketClosed(id)
            }
            "reglost" => no_arg(Fault::RegistrationLost)?,
            "regained" => no_arg(Fault::RegistrationRegained)?,
            "ignore" => no_arg(Fault::IgnoreCommand)?,
            "swallow" => no_arg(Fault::SwallowAnswer)?,
            "sendfail" => no_arg(Fault::SendFail)?,
            "dnsfail" => no_arg(Fault::DnsFail)?,
            "garbage" => {
                let text = arg.ok_or_else(|| bad("garbage needs :BYTES"))?;
                let bytes = unescape(text).map_err(|e| bad(&e))?;
                if bytes.is_empty() {
                    return Err(bad("garbage needs at least one byte"));
                }
                Fault::Garbage(bytes)
            }
            "drop-to-host" => Fault::DropToHost(number(arg, "N")?),
            "drop-to-modem" => Fault::DropToModem(number(arg, "N")?),
            other => {
                return Err(bad(&format!(
                    "unknown fault {other:?} (reboot, pdpdeact, closed, reglost, regained, ignore, swallow, sendfail, dnsfail, garbage, drop-to-host, drop-to-modem)"
                )))
            }
        };
        Ok(FaultSpec { trigger, fault })
    }

    /// Schedule it on `sim`.
    pub fn schedule(&self, sim: &mut dyn SimModem) {
        sim.faults().add(self.trigger.clone(), self.fault.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs() {
        let p = |s: &str| FaultSpec::parse(s).unwrap();
        assert_eq!(
            p("reboot@30s"),
            FaultSpec {
                trigger: Trigger::At(Instant::from_millis(30_000)),
                fault: Fault::Reboot
            }
        );
        assert_eq!(p("closed@10s:2"), p("closed:2@10s"));
        assert_eq!(p("closed@1500ms").fault, Fault::SocketClosed(0));
        assert_eq!(
            p("sendfail@cmd:AT+X=1#2").trigger,
            Trigger::Command {
                prefix: "AT+X=1".into(),
                nth: 2
            }
        );
        assert_eq!(
            p("garbage:\\r\\nA\\x40B\\r\\n@send"),
            FaultSpec {
                trigger: Trigger::Send(SendPoint::AfterPrompt),
                fault: Fault::Garbage(b"\r\nA@B\r\n".to_vec())
            }
        );
        assert_eq!(p("drop-to-host:7@2m").fault, Fault::DropToHost(7));
        assert_eq!(
            p("swallow@send-result").trigger,
            Trigger::Send(SendPoint::BeforeResult)
        );
        for bad in [
            "reboot",
            "reboot@soon",
            "melt@1s",
            "reboot:1@1s",
            "closed:x@1s",
            "garbage@1s",
            "drop-to-host@1s",
            "ignore@cmd:",
            "ignore@cmd:AT#x",
        ] {
            assert!(FaultSpec::parse(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(parse_duration_ms("1.5s"), Some(1500));
        assert_eq!(parse_duration_ms("250"), Some(250));
        assert_eq!(parse_duration_ms("-1s"), None);
    }
}
