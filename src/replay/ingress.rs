//! Ingress replay: the modem side of a capture through cellsock's framer and a
//! profile's `classify`, compared with the events written in the recording.
//!
//! An imported recording (header `@imported`) holds the bytes of some other host
//! (`H:`) and of the modem (`M:`). The host's bytes are not cellsock's, so they are
//! not matched: each complete command line is only mapped to the [`Op`] it stands
//! for ([`Profile::op_for_host_line`]) to tell the framer and the profile what is in
//! flight, as cellsock's command engine would. The modem's bytes are cut into
//! chunks ([`Chunking`]), framed by [`Framer`] in an [`Ingress`] window of the
//! driver's size, and classified; every resulting event is written as text and
//! compared with the recording's `E:` lines (syntax in `docs/recordings.md`).
//!
//! The in-flight rules follow the driver's: a line equal to the last host command
//! is an echo; a send waits for the prompt, then the host's next bytes are its
//! payload; a final result ends the op, except a success while the send still
//! waits for its prompt or payload (the engine counts that one as stray).

// Host tooling, but it reads untrusted files: it reports, it never panics.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::boxed::Box;
use std::string::{String, ToString};
use std::vec::Vec;

use super::format::{escape, escape_word, unescape};
use super::{Chunking, Mismatch, Rng};
use crate::framer::{Frame, Framer, FramerStats, Ingress};
use crate::profile::{Context, Event, Info, Op, Profile, Urc};
use crate::INGRESS_CAPACITY;

/// One line of a transcript, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// `@name value`
    Header(String, String),
    /// A `#` comment line, verbatim.
    Comment(String),
    /// An empty line.
    Blank,
    /// `H:` bytes written by the host.
    Host(Vec<u8>),
    /// `M:` bytes sent by the modem.
    Modem(Vec<u8>),
    /// `E:` an expected event (the text after `E: `).
    Expect(String),
    /// `T:` or `A:` of a normal recording: kept for display, ignored by ingress
    /// replay. The tag letter and the text after it.
    Other(char, String),
}

/// A recording read line by line, comments and blank lines kept, so that it can
/// be written back (blessing) and shown (the transcript viewer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The lines with their 1-based line numbers.
    pub items: Vec<(usize, Item)>,
}

impl Transcript {
    /// Read a recording (imported or not).
    pub fn parse(text: &str) -> Result<Transcript, Mismatch> {
        let mut t = Transcript::default();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let fail = |message: String| Mismatch {
                line: line_no,
                message,
            };
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                t.items.push((line_no, Item::Blank));
                continue;
            }
            if line.trim_start().starts_with('#') {
                t.items.push((line_no, Item::Comment(line.to_string())));
                continue;
            }
            if let Some(h) = line.strip_prefix('@') {
                let (name, value) = h.split_once(' ').unwrap_or((h, ""));
                t.items.push((
                    line_no,
                    Item::Header(name.to_string(), value.trim().to_string()),
                ));
                continue;
            }
            let (tag, rest) = line.split_once(':').ok_or_else(|| {
                fail(format!(
                    "expected `H:`, `M:`, `E:`, `T:`, `A:`, `@header` or `#`, found {line:?}"
                ))
            })?;
            let body = rest.strip_prefix(' ').unwrap_or(rest);
            let item = match tag {
                "H" => Item::Host(unescape(body).map_err(fail)?),
                "M" => Item::Modem(unescape(body).map_err(fail)?),
                "E" => {
                    let text = body.trim_end().to_string();
                    canonical(&text).map_err(fail)?;
                    Item::Expect(text)
                }
                "T" => Item::Other('T', body.to_string()),
                "A" => Item::Other('A', body.to_string()),
                other => return Err(fail(format!("unknown step `{other}:`"))),
            };
            t.items.push((line_no, item));
        }
        Ok(t)
    }

    /// The value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.items.iter().find_map(|(_, item)| match item {
            Item::Header(n, v) if n == name => Some(v.as_str()),
            _ => None,
        })
    }

    /// True for a recording made by an importer (header `@imported`).
    pub fn is_imported(&self) -> bool {
        self.header("imported").is_some()
    }

    /// The number of `E:` lines.
    pub fn expectations(&self) -> usize {
        self.items
            .iter()
            .filter(|(_, i)| matches!(i, Item::Expect(_)))
            .count()
    }

    /// Write the transcript back as text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (_, item) in &self.items {
            match item {
                Item::Header(n, v) if v.is_empty() => s.push_str(&format!("@{n}\n")),
                Item::Header(n, v) => s.push_str(&format!("@{n} {v}\n")),
                Item::Comment(c) => s.push_str(&format!("{c}\n")),
                Item::Blank => s.push('\n'),
                Item::Host(b) => s.push_str(&format!("H: {}\n", escape(b))),
                Item::Modem(b) => s.push_str(&format!("M: {}\n", escape(b))),
                Item::Expect(e) => s.push_str(&format!("E: {e}\n")),
                Item::Other(tag, text) => s.push_str(&format!("{tag}: {text}\n")),
            }
        }
        s
    }

    /// The run each item index belongs to: runs are maximal groups of `M:` items
    /// with nothing but comments, blanks and `E:` lines between them. Returns, per
    /// run, the index of its last `M:` item.
    fn runs(&self) -> Vec<(usize, usize)> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut open = false;
        for (i, (_, item)) in self.items.iter().enumerate() {
            match item {
                Item::Modem(_) => {
                    match runs.last_mut() {
                        Some(r) if open => r.1 = i,
                        _ => runs.push((i, i)),
                    }
                    open = true;
                }
                Item::Host(_) | Item::Other(..) => open = false,
                _ => {}
            }
        }
        runs
    }

    /// A copy with the `E:` lines replaced by the events of `trace`: each event
    /// right after the `M:` line holding the last byte of its frame, the framer
    /// counters at the end.
    pub fn blessed(&self, trace: &Trace) -> Transcript {
        let mut items = Vec::new();
        for (i, (line, item)) in self.items.iter().enumerate() {
            if matches!(item, Item::Expect(_)) {
                continue;
            }
            items.push((*line, item.clone()));
            for ev in trace.events.iter().filter(|e| e.item == i) {
                items.push((0, Item::Expect(ev.text.clone())));
            }
        }
        // The end lines go after the last step (and after trailing comments).
        for text in trace.end_lines() {
            items.push((0, Item::Expect(text)));
        }
        Transcript { items }
    }
}

/// One event observed during an ingress replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The index (in [`Transcript::items`]) of the `M:` line holding the last
    /// byte of the frame: the event's place in the recording, whatever the
    /// chunking.
    pub item: usize,
    /// The event as an `E:` line writes it.
    pub text: String,
    /// The modem bytes it was made of, including blank line ends skipped before it.
    pub raw: Vec<u8>,
    /// The op in flight when it was classified.
    pub op: Option<Op>,
    /// The payload bytes when the frame was a length-counted payload (empty for
    /// lines and prompts).
    pub data: Vec<u8>,
    /// What an application using cellsock would see, in words.
    pub meaning: String,
}

/// Everything an ingress replay observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The events, in order.
    pub events: Vec<Observed>,
    /// The framer's counters at the end.
    pub framer: FramerStats,
    /// Bytes left unframed at the end (an incomplete line or payload).
    pub leftover: Vec<u8>,
}

impl Trace {
    /// The `E:` lines that close a recording: framer counters, leftover bytes.
    pub fn end_lines(&self) -> Vec<String> {
        let mut v = vec![format!(
            "Framer overlong_lines={} bad_lengths={}",
            self.framer.overlong_lines, self.framer.bad_lengths
        )];
        if !self.leftover.is_empty() {
            v.push(format!("Leftover {}", escape(&self.leftover)));
        }
        v
    }
}

/// Where the exchange in flight stands (the command engine's stages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    AwaitPrompt,
    Payload { left: usize },
    Final,
}

struct Runner<'p, P: Profile + ?Sized> {
    profile: &'p P,
    framer: Framer,
    ingress: Ingress<INGRESS_CAPACITY>,
    op: Option<Op>,
    stage: Stage,
    /// The last command line the host wrote, without its terminator (echo check).
    last_command: Vec<u8>,
    /// Host bytes of a command line not yet terminated.
    pending: Vec<u8>,
    /// Bytes dropped by the framer since the last frame (blank line ends).
    skipped: Vec<u8>,
    /// Modem bytes consumed from the window so far.
    consumed: usize,
    /// (end offset in the modem byte stream, item index) of every `M:` line fed.
    bounds: Vec<(usize, usize)>,
    trace: Trace,
}

impl<P: Profile + ?Sized> Runner<'_, P> {
    fn context(&self) -> Context {
        Context {
            op: self.op,
            awaiting_prompt: self.op.is_some() && self.stage == Stage::AwaitPrompt,
        }
    }

    /// Host bytes: payload of a send after its prompt, else command text.
    fn host(&mut self, mut bytes: &[u8]) {
        if let Stage::Payload { left } = self.stage {
            let n = left.min(bytes.len());
            bytes = bytes.get(n..).unwrap_or(&[]);
            self.stage = if left > n {
                Stage::Payload { left: left - n }
            } else {
                Stage::Final
            };
        }
        for &b in bytes {
            if b == b'\r' || b == b'\n' {
                self.command_done();
            } else {
                self.pending.push(b);
            }
        }
    }

    /// The host's bytes so far form a command line (terminated, or followed by
    /// modem output).
    fn command_done(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let line = core::mem::take(&mut self.pending);
        self.op = self.profile.op_for_host_line(&line);
        self.stage = match self.op {
            Some(Op::Send { .. }) => Stage::AwaitPrompt,
            _ => Stage::Final,
        };
        self.last_command = line;
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        let mut taken = 0;
        while taken < chunk.len() {
            let n = self.ingress.push(chunk.get(taken..).unwrap_or(&[]));
            taken += n;
            self.process();
            if n == 0 && self.ingress.len() == self.ingress.capacity() {
                return Err(format!(
                    "the framer stopped with a full receive window ({} bytes) and no frame",
                    self.ingress.capacity()
                ));
            }
        }
        Ok(())
    }

    fn process(&mut self) {
        loop {
            let ctx = self.context();
            let data = self.ingress.data();
            let (frame, used) = self.framer.next(data, INGRESS_CAPACITY, self.profile, &ctx);
            let Some(frame) = frame else {
                if used == 0 {
                    break;
                }
                self.skipped
                    .extend_from_slice(data.get(..used).unwrap_or(&[]));
                self.ingress.consume(used);
                self.consumed += used;
                continue;
            };
            let is_echo = matches!(frame, Frame::Line(l) if !self.last_command.is_empty() && l == self.last_command.as_slice());
            let event = if is_echo {
                Event::Echo
            } else {
                self.profile.classify(frame, &ctx)
            };
            let mut raw = core::mem::take(&mut self.skipped);
            raw.extend_from_slice(data.get(..used).unwrap_or(&[]));
            let end = self.consumed + used;
            let item = self
                .bounds
                .iter()
                .find(|&&(bound, _)| bound >= end)
                .map_or(0, |&(_, item)| item);
            let observed = Observed {
                item,
                text: event_text(&event, &frame),
                raw,
                op: ctx.op,
                data: match frame {
                    Frame::Payload { data, .. } => data.to_vec(),
                    _ => Vec::new(),
                },
                meaning: meaning(&event, &ctx),
            };
            match event {
                Event::Prompt if self.stage == Stage::AwaitPrompt => {
                    if let Some(Op::Send { len, .. }) = self.op {
                        self.stage = Stage::Payload {
                            left: usize::from(len),
                        };
                    }
                }
                Event::Final(f) => {
                    let sending = matches!(self.stage, Stage::AwaitPrompt | Stage::Payload { .. });
                    if !(sending && f.is_success()) {
                        self.op = None;
                        self.stage = Stage::Final;
                    }
                }
                _ => {}
            }
            self.trace.events.push(observed);
            self.ingress.consume(used);
            self.consumed += used;
        }
    }
}

/// Replay the modem side of `rec` through `profile`'s framing and classification,
/// cut as `chunking` says, and return what was observed (not compared: see
/// [`check`]).
pub fn observe<P: Profile + ?Sized>(
    profile: &P,
    rec: &Transcript,
    chunking: Chunking,
) -> Result<Trace, Mismatch> {
    let mut r = Runner {
        profile,
        framer: Framer::new(),
        ingress: Ingress::new(),
        op: None,
        stage: Stage::Final,
        last_command: Vec::new(),
        pending: Vec::new(),
        skipped: Vec::new(),
        consumed: 0,
        bounds: Vec::new(),
        trace: Trace::default(),
    };
    let mut rng = Rng::new(match chunking {
        Chunking::Random(seed) => seed,
        _ => 0,
    });
    let runs = rec.runs();
    for (run, &(first, last)) in runs.iter().enumerate() {
        // Host bytes before this run.
        let from = match run {
            0 => 0,
            _ => runs.get(run - 1).map_or(0, |r| r.1 + 1),
        };
        for (_, item) in rec.items.get(from..first).unwrap_or(&[]) {
            if let Item::Host(b) = item {
                r.host(b);
            }
        }
        // Modem output after host bytes ends the host's line, terminated or not.
        r.command_done();
        let mut pieces: Vec<&[u8]> = Vec::new();
        let mut total = r.bounds.last().map_or(0, |b| b.0);
        for (i, (_, item)) in rec.items.iter().enumerate().take(last + 1).skip(first) {
            if let Item::Modem(b) = item {
                pieces.push(b);
                total += b.len();
                r.bounds.push((total, i));
            }
        }
        let line = rec.items.get(last).map_or(0, |(l, _)| *l);
        let chunks: Vec<Vec<u8>> = match chunking {
            Chunking::Whole => vec![pieces.concat()],
            Chunking::PerLine => pieces.iter().map(|p| p.to_vec()).collect(),
            Chunking::Random(_) => cut(&pieces.concat(), &mut rng),
        };
        for chunk in chunks {
            r.feed(&chunk)
                .map_err(|message| Mismatch { line, message })?;
        }
    }
    r.trace.framer = r.framer.stats;
    r.trace.leftover = r.ingress.data().to_vec();
    Ok(r.trace)
}

/// Random cut points, small pieces favoured (as the driver replay does).
fn cut(all: &[u8], rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < all.len() {
        let n = rng.range(1, all.len() - at);
        let n = if rng.range(0, 3) == 0 {
            n
        } else {
            n.min(rng.range(1, 8))
        };
        out.push(all.get(at..at + n).unwrap_or(&[]).to_vec());
        at += n;
    }
    out
}

/// Compare what `trace` observed with the `E:` lines of `rec`. An `E:` line
/// belongs to the nearest `M:` line above it and must be observed with the bytes
/// of that line (its frame's last byte is there), in order; the `Framer` and
/// `Leftover` lines describe the end state, wherever they are.
pub fn check(rec: &Transcript, trace: &Trace) -> Result<(), Mismatch> {
    if rec.expectations() == 0 {
        return Err(Mismatch {
            line: 0,
            message: "the recording has no `E:` lines: run `cargo run --example import -- --bless FILE` and review what it wrote".into(),
        });
    }
    let line_of = |item: usize| rec.items.get(item).map_or(0, |(l, _)| *l);
    // (line of the E:, item of its M:, canonical text)
    let mut expected: Vec<(usize, usize, String)> = Vec::new();
    let mut end: Vec<(usize, String)> = Vec::new();
    let mut modem: Option<usize> = None;
    for (i, (line, item)) in rec.items.iter().enumerate() {
        match item {
            Item::Modem(_) => modem = Some(i),
            Item::Expect(text) => {
                let canon = canonical(text).map_err(|message| Mismatch {
                    line: *line,
                    message,
                })?;
                if canon.starts_with("Framer ") || canon.starts_with("Leftover ") {
                    end.push((*line, canon));
                    continue;
                }
                let Some(m) = modem else {
                    return Err(Mismatch {
                        line: *line,
                        message:
                            "an `E:` line before any `M:` line expects an event no modem byte made"
                                .into(),
                    });
                };
                expected.push((*line, m, canon));
            }
            _ => {}
        }
    }
    for k in 0..expected.len().max(trace.events.len()) {
        match (expected.get(k), trace.events.get(k)) {
            (Some((line, _, w)), Some(g)) if *w != g.text => {
                return Err(Mismatch {
                    line: *line,
                    message: format!(
                        "event {} differs (its frame ends with the modem bytes of line {})\n  expected E: {}\n  actual   E: {}",
                        k + 1,
                        line_of(g.item),
                        shorten(w),
                        shorten(&g.text)
                    ),
                })
            }
            (Some((line, m, w)), Some(g)) if *m != g.item => {
                return Err(Mismatch {
                    line: *line,
                    message: format!(
                        "E: {} is written under the M: line {} but its frame ends with the modem bytes of line {}",
                        shorten(w),
                        line_of(*m),
                        line_of(g.item)
                    ),
                })
            }
            (Some(_), Some(_)) => {}
            (Some((line, _, w)), None) => {
                return Err(Mismatch {
                    line: *line,
                    message: format!(
                        "expected E: {} but the modem bytes gave no more events",
                        shorten(w)
                    ),
                })
            }
            (None, Some(g)) => {
                return Err(Mismatch {
                    line: line_of(g.item),
                    message: format!(
                        "the modem bytes of this line gave an event the recording does not expect\n  actual   E: {}",
                        shorten(&g.text)
                    ),
                })
            }
            (None, None) => {}
        }
    }
    let want_end: Vec<&str> = end.iter().map(|(_, t)| t.as_str()).collect();
    let got_end = trace.end_lines();
    let got_end: Vec<&str> = got_end.iter().map(String::as_str).collect();
    if want_end != got_end {
        return Err(Mismatch {
            line: end.first().map_or(0, |(l, _)| *l),
            message: format!(
                "end state differs\n  expected E: {}\n  actual   E: {}",
                want_end.join(" | "),
                got_end.join(" | ")
            ),
        });
    }
    Ok(())
}

/// The profile an imported recording names in `@profile`: `bg96`, `bg96-buffer`
/// (feature `bg96`), `nrf91`, `nrf91-poll` (feature `nrf91`) or `generic`
/// (line-only, see [`super::generic::LineOnly`]).
pub fn profile_named(name: &str) -> Option<Box<dyn Profile>> {
    match name {
        #[cfg(feature = "bg96")]
        "bg96" => Some(Box::new(crate::modems::bg96::Bg96::new())),
        #[cfg(feature = "bg96")]
        "bg96-buffer" => Some(Box::new(crate::modems::bg96::Bg96::buffered())),
        #[cfg(feature = "nrf91")]
        "nrf91" => Some(Box::new(crate::modems::nrf91_slm::Nrf91Slm::new())),
        #[cfg(feature = "nrf91")]
        "nrf91-poll" => Some(Box::new(crate::modems::nrf91_slm::Nrf91Slm::polled())),
        "generic" => Some(Box::new(super::generic::LineOnly)),
        _ => None,
    }
}

/// [`observe`] with the profile the recording's `@profile` header names.
pub fn observe_named(rec: &Transcript, chunking: Chunking) -> Result<Trace, Mismatch> {
    let name = rec.header("profile").unwrap_or("generic");
    let profile = profile_named(name).ok_or_else(|| Mismatch {
        line: 0,
        message: format!(
            "unknown or disabled @profile {name:?} (bg96, bg96-buffer, nrf91, nrf91-poll, generic)"
        ),
    })?;
    observe(profile.as_ref(), rec, chunking)
}

/// Ingress-replay an imported recording under `chunking` and compare with its
/// `E:` lines.
pub fn replay(rec: &Transcript, chunking: Chunking) -> Result<Trace, Mismatch> {
    let trace = observe_named(rec, chunking)?;
    check(rec, &trace)?;
    Ok(trace)
}

/// Replay a host-only recording (header `@host-only`): a log of a tty whose host
/// side was an application outside the harness, as the pty simulator writes it
/// (`examples/sim.rs --log`). Without `A:` lines there is no call to drive a
/// driver, so it replays like an imported capture: the host's bytes give the
/// context, the modem's bytes go through the framer and the `@profile`'s
/// `classify`, fed whole, one `M:` line at a time and under `random` seeded
/// random chunkings. It passes when every run observes the same events, the
/// framer lost nothing (no overlong line, no bad length), and the `E:` lines, if
/// the file has any (blessed like a capture), match. Bytes left unframed at the
/// end are allowed (a log ends wherever the simulator was stopped). Returns what
/// the whole-feed run observed.
pub fn replay_host_only(rec: &Transcript, random: u64) -> Result<Trace, Mismatch> {
    if rec.header("host-only").is_none() {
        return Err(Mismatch {
            line: 0,
            message: "not a host-only recording (no @host-only header)".into(),
        });
    }
    let whole = observe_named(rec, Chunking::Whole)?;
    if whole.framer.overlong_lines != 0 || whole.framer.bad_lengths != 0 {
        return Err(Mismatch {
            line: 0,
            message: format!(
                "the framer lost modem bytes: overlong_lines={} bad_lengths={}",
                whole.framer.overlong_lines, whole.framer.bad_lengths
            ),
        });
    }
    if rec.expectations() > 0 {
        check(rec, &whole)?;
    }
    let same = |t: &Trace| {
        t.framer == whole.framer
            && t.leftover == whole.leftover
            && t.events.len() == whole.events.len()
            && t.events
                .iter()
                .zip(&whole.events)
                .all(|(a, b)| a.item == b.item && a.text == b.text)
    };
    let runs = core::iter::once(Chunking::PerLine).chain((0..random).map(Chunking::Random));
    for chunking in runs {
        let t = observe_named(rec, chunking)?;
        if !same(&t) {
            let k = t
                .events
                .iter()
                .zip(&whole.events)
                .position(|(a, b)| a.item != b.item || a.text != b.text)
                .unwrap_or(t.events.len().min(whole.events.len()));
            let line = whole
                .events
                .get(k)
                .and_then(|e| rec.items.get(e.item))
                .map_or(0, |(l, _)| *l);
            return Err(Mismatch {
                line,
                message: format!(
                    "{chunking:?} observes something else than the whole feed (event {})",
                    k + 1
                ),
            });
        }
    }
    Ok(whole)
}

/// An event as an `E:` line writes it.
pub fn event_text(event: &Event<'_>, frame: &Frame<'_>) -> String {
    let text = match frame {
        Frame::Line(l) => escape(l),
        Frame::Prompt => String::new(),
        Frame::Payload { header, .. } => escape(header),
    };
    match (event, frame) {
        (Event::Final(f), _) => format!("Final({f:?})"),
        (Event::Prompt, _) => "Prompt".into(),
        (Event::Echo, _) => format!("Echo {text}"),
        (Event::Info(Info::Other), _) => format!("Info(Other) {text}"),
        (Event::Info(i), _) => format!("Info({i:?})"),
        (Event::Urc(u), _) => format!("Urc({u:?})"),
        (Event::Datagram { handle, data, from }, _) => match from {
            None => format!("Datagram {handle} {}", escape_word(data)),
            Some(from) => format!("Datagram {handle} {} from {from}", escape_word(data)),
        },
        (Event::Unknown, Frame::Payload { header, data }) => {
            format!(
                "UnknownPayload {} {}",
                escape_word(header),
                escape_word(data)
            )
        }
        (Event::Unknown, _) => format!("Unknown {text}"),
    }
}

/// An `E:` text in the form [`event_text`] writes, so that `\x41` and `A`
/// compare equal; an error names what is malformed.
pub fn canonical(text: &str) -> Result<String, String> {
    let text = text.trim();
    let (kind, rest) = text.split_once(' ').unwrap_or((text, ""));
    let bytes = |s: &str| unescape(s).map_err(|e| format!("in `E: {text}`: {e}"));
    let word = |s: &str| -> Result<Vec<u8>, String> {
        match s {
            "\"\"" => Ok(Vec::new()),
            s => bytes(s),
        }
    };
    Ok(match kind {
        "Echo" | "Unknown" | "Leftover" => format!("{kind} {}", escape(&bytes(rest)?)),
        "Info(Other)" => format!("{kind} {}", escape(&bytes(rest)?)),
        "Datagram" => {
            let (handle, data) = rest.split_once(' ').unwrap_or((rest, ""));
            let handle: u8 = handle
                .parse()
                .map_err(|_| format!("`E: Datagram` takes a handle and bytes, found {text:?}"))?;
            // `<bytes> from <addr>`: the sender, where the modem named one.
            let (data, from) = match data.trim().split_once(" from ") {
                Some((data, from)) => (data, Some(from.trim())),
                None => (data.trim(), None),
            };
            match from {
                None => format!("Datagram {handle} {}", escape_word(&word(data)?)),
                Some(from) => format!(
                    "Datagram {handle} {} from {from}",
                    escape_word(&word(data)?)
                ),
            }
        }
        "UnknownPayload" => {
            let mut w = rest.split_whitespace();
            let (Some(h), Some(d), None) = (w.next(), w.next(), w.next()) else {
                return Err(format!(
                    "`E: UnknownPayload` takes a header and bytes (two words), found {text:?}"
                ));
            };
            format!(
                "UnknownPayload {} {}",
                escape_word(&word(h)?),
                escape_word(&word(d)?)
            )
        }
        "" => return Err("`E:` needs an event".into()),
        _ => text.split_whitespace().collect::<Vec<_>>().join(" "),
    })
}

/// What an application using cellsock sees because of `event`, classified with
/// `ctx` in flight, in words.
pub fn meaning(event: &Event<'_>, ctx: &Context) -> String {
    match event {
        Event::Final(_) if ctx.op.is_none() => {
            "no command in flight: a stray final result, dropped and counted (stray_finals)".into()
        }
        Event::Final(f) if ctx.awaiting_prompt && f.is_success() => {
            "a success before the payload is written cannot end the send: dropped as stray".into()
        }
        Event::Prompt if !ctx.awaiting_prompt => {
            "no send waits for a prompt: dropped and counted (stray_prompts)".into()
        }
        Event::Final(f) if f.is_success() => "the command in flight succeeded".into(),
        Event::Final(f) => format!("the command in flight failed ({f:?})"),
        Event::Prompt => "the modem waits for the payload: the driver writes it now".into(),
        Event::Echo => "echo of the command: counted (echo_lines), otherwise ignored".into(),
        Event::Info(Info::SimReady(true)) => "SIM ready: bring-up goes on".into(),
        Event::Info(Info::SimReady(false)) => "SIM not ready: bring-up waits".into(),
        Event::Info(Info::Registration(s)) => format!("registration status {s:?}"),
        Event::Info(Info::PdpActive { cid, ip }) => {
            format!("context {cid} active, local address {ip} (`ip` call)")
        }
        Event::Info(Info::SocketOpened(h)) => format!("the modem chose handle {h}"),
        Event::Info(Info::LocalPort(p)) => format!("local port {p} (`local_port` call)"),
        Event::Info(Info::NoData) => "nothing buffered: recv gives EAGAIN".into(),
        Event::Info(Info::SignalQuality { rssi, ber }) => format!("signal rssi {rssi} ber {ber}"),
        Event::Info(Info::Other) => "information the driver needs nothing from".into(),
        Event::Urc(Urc::Boot) => {
            "modem (re)started: open sockets fail with ModemRebooted, bring-up restarts".into()
        }
        Event::Urc(Urc::AppReady) => "modem application ready".into(),
        Event::Urc(Urc::PoweredDown) => "modem powered down: like a restart".into(),
        Event::Urc(Urc::Registration(s)) => format!("registration changed to {s:?}"),
        Event::Urc(Urc::OpenResult {
            handle,
            result: Ok(()),
        }) => {
            format!("socket {handle} open: connect completes")
        }
        Event::Urc(Urc::OpenResult {
            handle,
            result: Err(r),
        }) => {
            format!("socket {handle} failed to open: connect gives ERR {r:?}")
        }
        Event::Urc(Urc::Closed(h)) => {
            format!("socket {h} closed by the modem: send/recv give ERR SocketClosed")
        }
        Event::Urc(Urc::PdpDeactivated(c)) => {
            format!("context {c} deactivated: open sockets fail with PdpDeactivated")
        }
        Event::Urc(Urc::DataPending(h)) => {
            format!("a datagram waits in the modem for socket {h}: the driver reads it")
        }
        Event::Datagram { handle, data, from } => match from {
            None => format!("recv on socket {handle} returns these {} bytes", data.len()),
            Some(from) => format!(
                "recv on socket {handle} returns these {} bytes (from {from}; kept on unconnected sockets)",
                data.len()
            ),
        },
        Event::Urc(Urc::ResolveResult(Ok(n))) => {
            format!("the host name query found {n} address(es); they follow")
        }
        Event::Urc(Urc::ResolveResult(Err(r))) => {
            format!("the host name query failed: resolve gives ERR {r:?}")
        }
        Event::Urc(Urc::ResolvedAddress(ip)) | Event::Info(Info::ResolvedAddress(ip)) => {
            format!("the host name resolves to {ip}")
        }
        Event::Unknown => "not understood: counted (unknown_lines), otherwise ignored".into(),
    }
}

/// Long values cut for failure messages.
fn shorten(s: &str) -> String {
    const MAX: usize = 300;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!(
            "{}... ({} chars in all)",
            s.get(..i).unwrap_or(s),
            s.chars().count()
        ),
        None => s.to_string(),
    }
}
