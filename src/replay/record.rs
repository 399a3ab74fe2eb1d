//! Writing recordings: capture a live run (against a simulator or a real modem) in
//! the recording format, so that it replays as a test.
//!
//! A [`Recorder`] is shared by three pieces:
//!
//! * [`RecordingUart`] wraps the transport and notes every byte read (`M:`) and
//!   written (`H:`);
//! * [`RecordingClock`] wraps the clock and notes each moment the driver is polled
//!   (the [`crate::NetStack`] reads its clock once per poll), which becomes the
//!   `T: =<ms>` lines;
//! * the application reports each [`crate::NetStack`] call right after it returns
//!   ([`Recorder::connect`], [`Recorder::send`], ...), which becomes an `A:` line.
//!
//! A `NetStack` call polls before it acts and, for connect, send, close and cleanup,
//! polls again after; the `A:` line is placed between the bytes of those two polls,
//! where the replay makes the call. `recv` calls that find nothing (`EAGAIN`) are
//! left out: they change nothing, and an application loop makes thousands of them.
//! The bytes they polled in are kept.

use std::string::{String, ToString};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use super::format::{escape, escape_word, ParseError, Recording};
use super::result_text;
use crate::error::Error;
use crate::socket::{SocketHandle, SocketState};
use crate::time::{Clock, Instant};
use crate::Config;

#[derive(Debug)]
enum Entry {
    Host(Vec<u8>),
    Modem(Vec<u8>),
    Call { words: Vec<Vec<u8>>, result: String },
    Comment(String),
}

#[derive(Debug, Default)]
struct Log {
    enabled: bool,
    headers: Vec<(String, String)>,
    notes: Vec<String>,
    /// Entries with the time (ms) of the poll they belong to.
    entries: Vec<(u64, Entry)>,
    /// Index of the first entry of the latest poll, and its time.
    last_poll: (usize, u64),
    /// The same for the poll before it.
    prev_poll: (usize, u64),
    /// Socket handles in creation order (the replay's `s0`, `s1`, ...).
    names: Vec<SocketHandle>,
}

impl Log {
    fn bytes(&mut self, host: bool, data: &[u8]) {
        if !self.enabled || data.is_empty() {
            return;
        }
        let t = self.last_poll.1;
        let in_this_poll = self.entries.len() > self.last_poll.0;
        if let Some((et, e)) = self.entries.last_mut() {
            if in_this_poll && *et == t {
                match e {
                    Entry::Host(b) if host => return b.extend_from_slice(data),
                    Entry::Modem(b) if !host => return b.extend_from_slice(data),
                    _ => {}
                }
            }
        }
        let e = if host {
            Entry::Host(data.to_vec())
        } else {
            Entry::Modem(data.to_vec())
        };
        self.entries.push((t, e));
    }

    fn poll(&mut self, t: u64) {
        if !self.enabled {
            return;
        }
        let t = t.max(self.last_poll.1);
        self.prev_poll = self.last_poll;
        self.last_poll = (self.entries.len(), t);
    }

    fn name(&self, h: SocketHandle) -> Vec<u8> {
        match self.names.iter().rposition(|&n| n == h) {
            Some(i) => format!("s{i}").into_bytes(),
            None => b"s?".to_vec(),
        }
    }

    fn call(&mut self, words: Vec<Vec<u8>>, result: String, polled_after: bool) {
        if !self.enabled {
            return;
        }
        let entry = Entry::Call { words, result };
        if polled_after {
            let (at, _) = self.last_poll;
            let t = self.prev_poll.1;
            let at = at.min(self.entries.len());
            self.entries.insert(at, (t, entry));
            self.last_poll.0 = at + 1;
        } else {
            self.entries.push((self.last_poll.1, entry));
        }
    }
}

/// Collects a run for a recording. Clones share the log.
#[derive(Clone, Debug)]
pub struct Recorder {
    log: Arc<Mutex<Log>>,
}

/// An argument of an `A:` line: escaped so that the line parses back to exactly
/// these bytes (no `=>` inside, an empty value as `""`).
fn word(bytes: &[u8]) -> String {
    let w = escape_word(bytes).replace("=>", "=\\x3e");
    if w == "\"\"" && !bytes.is_empty() {
        // The two bytes `""` themselves, not the empty value.
        return "\\x22\"".to_string();
    }
    w
}

fn state_text(s: &SocketState) -> String {
    match s {
        SocketState::Closed => "CLOSED",
        SocketState::Shutdown => "SHUTDOWN",
        SocketState::Connected => "CONNECTED",
    }
    .to_string()
}

impl Recorder {
    /// A recorder for a driver with `profile` (the recording's `@profile`, e.g.
    /// `bg96` or `bg96-buffer`) and `config` (`@apn`, `@connect-timeout`,
    /// `@context`).
    pub fn new(profile: &str, config: &Config) -> Self {
        let defaults = Config::default();
        let mut headers = vec![
            ("profile".to_string(), profile.to_string()),
            ("apn".to_string(), config.apn.as_str().to_string()),
        ];
        if config.connect_timeout_ms != defaults.connect_timeout_ms {
            headers.push((
                "connect-timeout".into(),
                config.connect_timeout_ms.to_string(),
            ));
        }
        if config.context_id != defaults.context_id {
            headers.push(("context".into(), config.context_id.to_string()));
        }
        let mut notes = Vec::new();
        if config.rx_gap_ms != defaults.rx_gap_ms || config.pdp_type != defaults.pdp_type {
            notes.push(
                "note: recorded with a configuration the headers cannot express (rx_gap_ms or pdp_type)"
                    .to_string(),
            );
        }
        Recorder {
            log: Arc::new(Mutex::new(Log {
                enabled: true,
                headers,
                notes,
                ..Log::default()
            })),
        }
    }

    /// A recorder that records nothing (the wrappers pass everything through).
    pub fn off() -> Self {
        Recorder {
            log: Arc::new(Mutex::new(Log::default())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True when recording.
    pub fn is_on(&self) -> bool {
        self.lock().enabled
    }

    /// Wrap the driver's transport.
    pub fn uart<U>(&self, uart: U) -> RecordingUart<U> {
        RecordingUart {
            inner: uart,
            rec: self.clone(),
        }
    }

    /// Wrap the driver's clock (the one the `NetStack` reads).
    pub fn clock<C: Clock>(&self, clock: C) -> RecordingClock<C> {
        RecordingClock {
            inner: clock,
            rec: self.clone(),
        }
    }

    /// A `#` comment line at this point.
    pub fn comment(&self, text: &str) {
        let mut l = self.lock();
        if l.enabled {
            let t = l.last_poll.1;
            let text = text.replace(['\r', '\n'], " ");
            l.entries.push((t, Entry::Comment(text)));
        }
    }

    /// Number of steps recorded so far.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Report a `create` call.
    pub fn create(&self, r: &Result<SocketHandle, Error>) {
        let mut l = self.lock();
        if !l.enabled {
            return;
        }
        if let Ok(h) = r {
            l.names.push(*h);
        }
        let n = l.names.len().saturating_sub(1);
        let result = result_text(r, |_| format!("s{n}"));
        l.call(vec![b"create".to_vec()], result, false);
    }

    /// Report a `connect` call.
    pub fn connect(&self, h: SocketHandle, host: &str, port: &str, r: &Result<(), Error>) {
        let mut l = self.lock();
        let words = vec![
            b"connect".to_vec(),
            l.name(h),
            host.as_bytes().to_vec(),
            port.as_bytes().to_vec(),
        ];
        l.call(words, result_text(r, |_| String::new()), true);
    }

    /// Report a `send` call.
    pub fn send(&self, h: SocketHandle, data: &[u8], r: &Result<usize, Error>) {
        let mut l = self.lock();
        let words = vec![b"send".to_vec(), l.name(h), data.to_vec()];
        l.call(words, result_text(r, |n| n.to_string()), true);
    }

    /// Report a `recv` call into `buf` (its length is the call's argument). Calls
    /// that found nothing are not recorded.
    pub fn recv(&self, h: SocketHandle, buf: &[u8], r: &Result<usize, Error>) {
        if matches!(r, Err(Error::WouldBlock)) {
            return;
        }
        let mut l = self.lock();
        let words = vec![
            b"recv".to_vec(),
            l.name(h),
            buf.len().to_string().into_bytes(),
        ];
        let result = result_text(r, |n| escape_word(buf.get(..*n).unwrap_or(&[])));
        l.call(words, result, false);
    }

    /// Report a `close` call.
    pub fn close(&self, h: SocketHandle, r: &Result<(), Error>) {
        let mut l = self.lock();
        let words = vec![b"close".to_vec(), l.name(h)];
        l.call(words, result_text(r, |_| String::new()), true);
    }

    /// Report a `cleanup` call.
    pub fn cleanup(&self, h: SocketHandle, r: &Result<(), Error>) {
        let mut l = self.lock();
        let words = vec![b"cleanup".to_vec(), l.name(h)];
        l.call(words, result_text(r, |_| String::new()), true);
    }

    /// Report a `shutdown` call.
    pub fn shutdown(&self, h: SocketHandle, r: &Result<(), Error>) {
        let mut l = self.lock();
        let words = vec![b"shutdown".to_vec(), l.name(h)];
        l.call(words, result_text(r, |_| String::new()), false);
    }

    /// Report a `state` call.
    pub fn state(&self, h: SocketHandle, r: &Result<SocketState, Error>) {
        let mut l = self.lock();
        let words = vec![b"state".to_vec(), l.name(h)];
        l.call(words, result_text(r, state_text), false);
    }

    /// Report a `queue_mode_rx_off` call.
    pub fn rx_off(&self, h: SocketHandle, r: &Result<(), Error>) {
        let mut l = self.lock();
        let words = vec![b"rx_off".to_vec(), l.name(h)];
        l.call(words, result_text(r, |_| String::new()), true);
    }

    /// Report an `inner_mtu` call.
    pub fn mtu(&self, h: SocketHandle, r: &Result<usize, Error>) {
        let mut l = self.lock();
        let words = vec![b"mtu".to_vec(), l.name(h)];
        l.call(words, result_text(r, |n| n.to_string()), false);
    }

    /// The recording as text.
    pub fn to_text(&self) -> String {
        let l = self.lock();
        let mut s = String::from("# Recorded by cellsock::replay::Recorder.\n");
        for n in &l.notes {
            s.push_str(&format!("# {n}\n"));
        }
        for (name, value) in &l.headers {
            s.push_str(&format!("@{name} {value}\n"));
        }
        let mut shown = 0u64;
        for (t, e) in &l.entries {
            if *t > shown {
                s.push_str(&format!("T: ={t}\n"));
                shown = *t;
            }
            match e {
                Entry::Host(b) => lines(&mut s, "H", b, b'\r'),
                Entry::Modem(b) => lines(&mut s, "M", b, b'\n'),
                Entry::Call { words, result } => {
                    let words: Vec<String> = words.iter().map(|w| word(w)).collect();
                    s.push_str(&format!("A: {} => {}\n", words.join(" "), result));
                }
                Entry::Comment(c) => s.push_str(&format!("# {c}\n")),
            }
        }
        s
    }

    /// The recording, parsed back.
    pub fn recording(&self) -> Result<Recording, ParseError> {
        Recording::parse(&self.to_text())
    }
}

/// Byte lines, cut after each `end` byte so the text reads line by line.
fn lines(s: &mut String, tag: &str, bytes: &[u8], end: u8) {
    for piece in bytes.split_inclusive(|&b| b == end) {
        s.push_str(tag);
        s.push_str(": ");
        s.push_str(&escape(piece));
        s.push('\n');
    }
}

/// A transport whose bytes are recorded.
#[derive(Debug)]
pub struct RecordingUart<U> {
    inner: U,
    rec: Recorder,
}

impl<U> RecordingUart<U> {
    /// The wrapped transport.
    pub fn inner(&self) -> &U {
        &self.inner
    }

    /// The wrapped transport, mutably.
    pub fn inner_mut(&mut self) -> &mut U {
        &mut self.inner
    }
}

impl<U: embedded_io::ErrorType> embedded_io::ErrorType for RecordingUart<U> {
    type Error = U::Error;
}

impl<U: embedded_io::Read> embedded_io::Read for RecordingUart<U> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = self.inner.read(buf)?;
        self.rec.lock().bytes(false, buf.get(..n).unwrap_or(&[]));
        Ok(n)
    }
}

impl<U: embedded_io::ReadReady> embedded_io::ReadReady for RecordingUart<U> {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        self.inner.read_ready()
    }
}

impl<U: embedded_io::Write> embedded_io::Write for RecordingUart<U> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let n = self.inner.write(buf)?;
        self.rec.lock().bytes(true, buf.get(..n).unwrap_or(&[]));
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush()
    }
}

impl<U: embedded_io::WriteReady> embedded_io::WriteReady for RecordingUart<U> {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        self.inner.write_ready()
    }
}

/// A clock whose readings mark the polls of a recording.
#[derive(Debug, Clone)]
pub struct RecordingClock<C> {
    inner: C,
    rec: Recorder,
}

impl<C: Clock> Clock for RecordingClock<C> {
    fn now(&self) -> Instant {
        let t = self.inner.now();
        self.rec.lock().poll(t.as_millis());
        t
    }
}
