//! Ingress framing: UART bytes in, [`Frame`]s out.
//!
//! One byte-level framer for everything a modem sends: `\r`/`\n`-terminated lines,
//! the payload prompt (`> ` with no line end, sometimes a stray space after it), and
//! length-counted binary after a header line that the profile recognises
//! ([`Profile::payload_length`]). Payload bytes are taken by count and never looked
//! at as lines, so a datagram may hold `\r\nOK\r\n`, `> `, NUL or 0x1A.
//!
//! The framer is told what is in flight ([`Context`]): a `>` is a prompt only while a
//! send waits for one. Generic AT digesters guess at this and their guesses are the
//! most reported atat bugs (same-prefix URCs taken as responses, data taken as echo,
//! length-prefixed binary); here the command engine says what to expect instead.
//!
//! The framer works on a contiguous window of received bytes ([`Ingress`]) and has
//! the shape of atat's [`atat::digest::Digester`]: look at the buffer, return one
//! frame and the number of bytes it used. [`FramerDigester`] implements that trait
//! for interop and for benchmarking against atat's own `AtDigester`. The driver calls
//! [`Framer::next`] directly because atat's `DigestResult` has no variant for "header
//! plus payload" and would make the driver parse the header twice.

use crate::profile::{Context, Event, Final, Profile};

/// Longest line kept; longer lines are discarded up to their end and counted.
pub const MAX_LINE: usize = 256;

/// One unit of modem output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A non-empty line without its terminator and surrounding blanks.
    Line(&'a [u8]),
    /// The payload prompt.
    Prompt,
    /// A header line and exactly the payload bytes it announced.
    Payload {
        /// The header line, trimmed.
        header: &'a [u8],
        /// The payload.
        data: &'a [u8],
    },
}

/// What the framer threw away, for diagnostics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FramerStats {
    /// Lines longer than [`MAX_LINE`] (discarded).
    pub overlong_lines: u32,
    /// Payload headers announcing more than the modem's limit: a length the
    /// modem cannot mean; the header is dropped and framing goes on after it.
    pub bad_lengths: u32,
    /// Incomplete frames discarded after the modem went quiet mid-frame.
    pub stale_flushes: u32,
    /// Datagrams within the modem's limit but larger than the receive window:
    /// skipped by count (never parsed as lines) and dropped.
    pub oversized_payloads: u32,
}

/// The framing state machine. It owns no bytes: see [`Ingress`].
#[derive(Debug, Default)]
pub struct Framer {
    discarding_line: bool,
    /// Payload bytes still to skip (a real datagram too large for the window).
    skipping: usize,
    /// Statistics.
    pub stats: FramerStats,
}

fn is_eol(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

impl Framer {
    /// A framer at a line start.
    pub const fn new() -> Self {
        Framer {
            discarding_line: false,
            skipping: 0,
            stats: FramerStats {
                overlong_lines: 0,
                bad_lengths: 0,
                stale_flushes: 0,
                oversized_payloads: 0,
            },
        }
    }

    /// True while the framer is inside a frame whose bytes it consumes as they come
    /// (a skipped payload, a discarded overlong line).
    pub fn mid_frame(&self) -> bool {
        self.skipping > 0 || self.discarding_line
    }

    /// The modem went quiet mid-frame: forget any partial line or payload.
    pub fn forget_partial(&mut self) {
        self.discarding_line = false;
        self.skipping = 0;
    }

    /// Look at `buf` (received, not yet consumed bytes) and return the next frame, if
    /// one is complete, and how many bytes of `buf` to consume. `(None, 0)` means
    /// "need more bytes"; `(None, n)` means "drop `n` bytes" (separators, junk).
    /// `capacity` is the most `buf` can ever hold: a payload that could not fit is
    /// dropped at its header instead of waiting forever.
    pub fn next<'a, P: Profile + ?Sized>(
        &mut self,
        buf: &'a [u8],
        capacity: usize,
        profile: &P,
        ctx: &Context,
    ) -> (Option<Frame<'a>>, usize) {
        if buf.is_empty() {
            return (None, 0);
        }
        if self.skipping > 0 {
            let n = self.skipping.min(buf.len());
            self.skipping -= n;
            return (None, n);
        }
        if self.discarding_line {
            return match buf.iter().position(|&b| is_eol(b)) {
                Some(i) => {
                    self.discarding_line = false;
                    (None, i + 1)
                }
                None => (None, buf.len()),
            };
        }
        // Line ends, and spaces at a line start (a stray space after the prompt,
        // which may arrive in a later read than the prompt): lines are trimmed
        // anyway, so nothing is lost by dropping them as soon as they come.
        let blanks = buf.iter().take_while(|&&b| is_eol(b) || b == b' ').count();
        if blanks > 0 {
            return (None, blanks);
        }
        if ctx.awaiting_prompt && buf.first() == Some(&profile.prompt_byte()) {
            let used = if buf.get(1) == Some(&b' ') { 2 } else { 1 };
            return (Some(Frame::Prompt), used);
        }
        let Some(end) = buf.iter().position(|&b| is_eol(b)) else {
            if buf.len() >= MAX_LINE {
                self.stats.overlong_lines += 1;
                self.discarding_line = true;
                return (None, buf.len());
            }
            return (None, 0);
        };
        if end >= MAX_LINE {
            self.stats.overlong_lines += 1;
            return (None, end + 1);
        }
        let line = trim(buf.get(..end).unwrap_or(&[]));
        if line.is_empty() {
            return (None, end + 1);
        }
        let Some(len) = profile.payload_length(line, ctx) else {
            return (Some(Frame::Line(line)), end + 1);
        };
        // The payload starts after the whole line terminator: "\r\n", or a lone "\n".
        let start = if buf.get(end) == Some(&b'\r') {
            match buf.get(end + 1) {
                None => return (None, 0),
                Some(b'\n') => end + 2,
                Some(_) => end + 1,
            }
        } else {
            end + 1
        };
        if len > profile.limits().max_recv {
            // A length the modem cannot mean: do not swallow `len` bytes of what may
            // be ordinary lines; drop the header and frame on.
            self.stats.bad_lengths += 1;
            return (None, start);
        }
        if start + len > capacity {
            // A real datagram, too large for the window: its bytes are still
            // payload, so they are skipped by count, never read as lines.
            self.stats.oversized_payloads += 1;
            self.skipping = len;
            return (None, start);
        }
        match buf.get(start..start + len) {
            Some(data) => (Some(Frame::Payload { header: line, data }), start + len),
            None => (None, 0),
        }
    }
}

/// The receive window: bytes read from the UART and not yet framed.
///
/// It must hold the longest header plus the largest payload, since a payload frame
/// is handed over whole. Bytes are appended at the end and consumed from the front;
/// the window is compacted only when the tail runs out of room.
#[derive(Debug)]
pub struct Ingress<const N: usize> {
    buf: [u8; N],
    start: usize,
    end: usize,
}

impl<const N: usize> Default for Ingress<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Ingress<N> {
    /// An empty window.
    pub const fn new() -> Self {
        Ingress {
            buf: [0; N],
            start: 0,
            end: 0,
        }
    }

    /// The bytes waiting to be framed.
    pub fn data(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }

    /// Free space to read into (compacting first if needed). Commit with
    /// [`Ingress::commit`].
    pub fn spare(&mut self) -> &mut [u8] {
        if self.end == N && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.buf.get_mut(self.end..).unwrap_or(&mut [])
    }

    /// `n` bytes were written into [`Ingress::spare`].
    pub fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(N);
    }

    /// Append bytes (used by tests and byte-feed integrations); returns how many fit.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let spare = self.spare();
        let n = bytes.len().min(spare.len());
        for (slot, &b) in spare.iter_mut().zip(bytes) {
            *slot = b;
        }
        self.commit(n);
        n
    }

    /// Drop `n` bytes from the front.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drop everything.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Number of bytes waiting.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True when no byte waits.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The window's capacity.
    pub const fn capacity(&self) -> usize {
        N
    }
}

/// [`Framer`] behind atat's [`atat::digest::Digester`] trait, for code built on atat's
/// ingress and for comparing against atat's `AtDigester` on the same bytes.
///
/// Mapping: final results become `Response` (`OK`/`SEND OK` as `Ok`, errors as
/// `Err`), the prompt becomes `Prompt`, and every other line or payload frame (with
/// its header) becomes `Urc`, since atat's response model has no place for a
/// length-counted payload.
pub struct FramerDigester<P: Profile> {
    framer: Framer,
    profile: P,
    ctx: Context,
    capacity: usize,
}

impl<P: Profile> FramerDigester<P> {
    /// A digester for `profile`, for ingress buffers of `capacity` bytes.
    pub fn new(profile: P, capacity: usize) -> Self {
        FramerDigester {
            framer: Framer::new(),
            profile,
            ctx: Context::default(),
            capacity,
        }
    }

    /// Tell the digester what is in flight (the engine does this in the driver).
    pub fn set_context(&mut self, ctx: Context) {
        self.ctx = ctx;
    }
}

impl<P: Profile> atat::digest::Digester for FramerDigester<P> {
    fn digest<'a>(&mut self, buf: &'a [u8]) -> (atat::digest::DigestResult<'a>, usize) {
        use atat::digest::DigestResult;
        let mut used = 0;
        loop {
            let rest = buf.get(used..).unwrap_or(&[]);
            let (frame, n) = self
                .framer
                .next(rest, self.capacity, &self.profile, &self.ctx);
            match frame {
                None if n == 0 => return (DigestResult::None, used),
                None => used += n,
                Some(Frame::Prompt) => {
                    return (DigestResult::Prompt(self.profile.prompt_byte()), used + n)
                }
                Some(frame @ Frame::Line(line)) => {
                    let result = match self.profile.classify(frame, &self.ctx) {
                        Event::Final(f) if f.is_success() => DigestResult::Response(Ok(line)),
                        Event::Final(Final::CmeError(_)) | Event::Final(_) => {
                            DigestResult::Response(Err(atat::InternalError::Error))
                        }
                        _ => DigestResult::Urc(line),
                    };
                    return (result, used + n);
                }
                Some(Frame::Payload { .. }) => {
                    let start = used;
                    return (
                        DigestResult::Urc(buf.get(start..start + n).unwrap_or(&[])),
                        used + n,
                    );
                }
            }
        }
    }
}
