//! Importers: real captures and field logs become recordings of ours.
//!
//! Every importer keeps each modem byte exact or refuses the input: where a log's
//! rendering cannot say which bytes were sent (a `.` that may be CR, LF or a dot;
//! line breaks without knowing the line end) the importer stops with the line and
//! what it needs, instead of guessing. The result is a [`Transcript`] with the
//! header `@imported <source>`: its `H:` lines are the other host's bytes (context
//! for [`super::ingress`], never matched against cellsock's own commands), its `M:`
//! lines the modem's bytes.
//!
//! Formats ([`Format`]):
//! * `case`: the two-direction `.case` form of `shared/captures/` (`H:`/`M:` with
//!   `\r \n \\ \xHH`, `#` comments kept);
//! * `log`: debug logs with direction markers ([`LOG_PRESETS`] or any pair), bytes
//!   rendered with C escapes, `<CR>`/`<LF>`, or line breaks (`--render lines`
//!   with an explicit line end); `[N][...]` and `N "..."` forms have their byte
//!   count checked;
//! * `saleae`: the Saleae Logic 2 data-table export of two Async Serial analyzers
//!   (CSV `name,type,start_time,duration,data`, one row per byte, hex or binary
//!   display radix);
//! * `digital`: the Logic 2 raw digital CSV export (`Time [s],<ch>,<ch>`, one row
//!   per transition) decoded as 8N1 UART at a given baud rate.

// Host tooling, but it reads untrusted files: it reports, it never panics.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use super::ingress::{Item, Transcript};

/// Why an input could not be imported: the line (1-based, 0 for the whole input)
/// and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    /// 1-based line of the input; 0 when no single line is at fault.
    pub line: usize,
    /// What was wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}", self.message),
            n => write!(f, "line {n}: {}", self.message),
        }
    }
}

impl std::error::Error for ImportError {}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ImportError> {
    Err(ImportError {
        line,
        message: message.into(),
    })
}

/// The input formats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// `shared/captures/*.case`.
    Case,
    /// A debug log with direction markers.
    Log(LogOptions),
    /// Saleae Logic 2 Async Serial data-table export (CSV).
    SaleaeTable(TableOptions),
    /// Saleae Logic 2 raw digital export (CSV of transitions), decoded as 8N1.
    Digital(DigitalOptions),
}

impl Format {
    /// The name used in `@format` and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Case => "case",
            Format::Log(_) => "log",
            Format::SaleaeTable(_) => "saleae",
            Format::Digital(_) => "digital",
        }
    }
}

/// Marker presets for [`Format::Log`]: (name, host marker, modem marker). All
/// assume the log was written by the host (its "send"/"TX" is host → modem).
pub const LOG_PRESETS: &[(&str, &str, &str)] = &[
    ("send-recv", "[SEND]", "[RECV]"),
    ("tx-rx", "TX:", "RX:"),
    ("arrows", ">>", "<<"),
    ("at", "AT>", "AT<"),
    ("particle", "AT send", "AT read"),
];

/// How a log shows the bytes of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Render {
    /// C escapes: `\r \n \t \0 \a \e \\ \" \xHH`.
    Escapes,
    /// `<CR>` and `<LF>` (any case); everything else literal.
    Angle,
    /// Each log line (an entry and the marker-less lines after it) stands for one
    /// line of bytes ended by an explicit line end.
    Lines,
}

/// Options of [`Format::Log`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Host and modem markers; `None`: the one preset that matches.
    pub markers: Option<(String, String)>,
    /// The rendering; `None`: detected (escapes or `<CR>`/`<LF>`), refused when
    /// the log shows none or both.
    pub render: Option<Render>,
    /// With [`Render::Lines`]: the bytes a log line end stands for on the modem
    /// side (`\r\n` for most modems).
    pub eol: Option<Vec<u8>>,
    /// With [`Render::Lines`]: the same for the host side (default: `eol`).
    pub host_eol: Option<Vec<u8>>,
    /// Keep entries whose declared byte count differs from their bytes (a log
    /// edited by hand, addresses masked), with a `# note:` each, instead of
    /// refusing the log.
    pub ignore_counts: bool,
}

/// Options of [`Format::SaleaeTable`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableOptions {
    /// Analyzer name of the host → modem line; `None` only if named `host`.
    pub host: Option<String>,
    /// Analyzer name of the modem → host line; `None` only if named `modem`.
    pub modem: Option<String>,
    /// A pause longer than this (µs) between two bytes of one direction starts a
    /// new `M:`/`H:` line.
    pub gap_us: u64,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            host: None,
            modem: None,
            gap_us: 5000,
        }
    }
}

/// Options of [`Format::Digital`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigitalOptions {
    /// Column (channel name) of the host → modem line; `None` only if `host`.
    pub host: Option<String>,
    /// Column of the modem → host line; `None` only if `modem`.
    pub modem: Option<String>,
    /// Bits per second.
    pub baud: u32,
    /// As in [`TableOptions::gap_us`].
    pub gap_us: u64,
}

/// Import `input` (the text or bytes of a capture) as `format`. `source` names it
/// in the `@imported` header; `profile` becomes `@profile` (default `generic`).
pub fn import(
    format: &Format,
    input: &[u8],
    source: &str,
    profile: Option<&str>,
) -> Result<Transcript, ImportError> {
    let (describe, body) = match format {
        Format::Case => ("case".to_string(), case(input)?),
        Format::Log(o) => log(input, o)?,
        Format::SaleaeTable(o) => table(input, o)?,
        Format::Digital(o) => digital(input, o)?,
    };
    if !body.iter().any(|i| matches!(i, Item::Modem(_))) {
        return err(0, "no modem bytes found: nothing to replay");
    }
    let mut items = vec![
        Item::Header("imported".into(), one_line(source)),
        Item::Header("format".into(), describe),
        Item::Header("profile".into(), profile.unwrap_or("generic").to_string()),
    ];
    items.extend(body);
    Ok(Transcript {
        items: items.into_iter().map(|i| (0, i)).collect(),
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Write `text` to `path` through a temporary file in the same directory and a
/// rename, so that a failure never leaves a half-written file at `path`.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Lines of `input` (split at `\n`, one trailing `\r` dropped), 1-based.
fn lines(input: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let input = input.strip_suffix(b"\n").unwrap_or(input);
    input.split(|&b| b == b'\n').enumerate().map(|(i, l)| {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        (i + 1, l)
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

// ----------------------------------------------------------------------------
// .case

fn case(input: &[u8]) -> Result<Vec<Item>, ImportError> {
    let mut out = Vec::new();
    for (n, raw) in lines(input) {
        let Ok(line) = core::str::from_utf8(raw) else {
            return err(
                n,
                "not UTF-8 text: a .case file writes bytes with \\xHH escapes",
            );
        };
        if line.trim().is_empty() {
            out.push(Item::Blank);
            continue;
        }
        if line.starts_with('#') {
            out.push(Item::Comment(line.to_string()));
            continue;
        }
        let (dir, body) = match line.split_at_checked(2) {
            Some(("H:", rest)) => ('H', rest),
            Some(("M:", rest)) => ('M', rest),
            _ => {
                return err(
                    n,
                    format!(
                        "expected `H: <bytes>`, `M: <bytes>`, a `#` comment or a blank line, found {:?}",
                        short(line)
                    ),
                )
            }
        };
        let body = body.strip_prefix(' ').unwrap_or(body);
        let bytes = case_unescape(body).map_err(|(col, m)| ImportError {
            line: n,
            message: format!("column {}: {m}", col + 4),
        })?;
        out.push(match dir {
            'H' => Item::Host(bytes),
            _ => Item::Modem(bytes),
        });
    }
    Ok(out)
}

/// The `.case` escapes: `\r`, `\n`, `\\`, `\xHH`; everything else literal.
fn case_unescape(s: &str) -> Result<Vec<u8>, (usize, String)> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                match (
                    b.get(i + 2).copied().and_then(hex_digit),
                    b.get(i + 3).copied().and_then(hex_digit),
                ) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => return Err((i, "`\\x` needs two hex digits".into())),
                }
                i += 4;
                continue;
            }
            Some(&o) => {
                return Err((
                    i,
                    format!(
                        "unknown escape `\\{}`: a .case file knows \\r, \\n, \\\\ and \\xHH",
                        o as char
                    ),
                ))
            }
            None => return Err((i, "a lone `\\` at the end of the line".into())),
        }
        i += 2;
    }
    Ok(out)
}

fn short(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", s.get(..i).unwrap_or(s)),
        None => s.to_string(),
    }
}

// ----------------------------------------------------------------------------
// Debug logs

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Host,
    Modem,
}

/// One direction-marked log line.
struct Entry<'a> {
    line: usize,
    dir: Dir,
    /// What follows the marker.
    rest: &'a [u8],
    /// Marker-less lines after it (continuations with `Render::Lines`).
    more: Vec<&'a [u8]>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The earliest marker in `line`: the direction and the text after it.
fn split_marker<'a>(line: &'a [u8], host: &[u8], modem: &[u8]) -> Option<(Dir, &'a [u8])> {
    let h = find(line, host).map(|i| (i, host.len(), Dir::Host));
    let m = find(line, modem).map(|i| (i, modem.len(), Dir::Modem));
    let (at, len, dir) = match (h, m) {
        (Some(h), Some(m)) => {
            // Earliest wins; at the same place the longer marker does.
            if h.0 < m.0 || (h.0 == m.0 && h.1 >= m.1) {
                h
            } else {
                m
            }
        }
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => return None,
    };
    Some((dir, line.get(at + len..).unwrap_or(&[])))
}

fn choose_markers(input: &[u8], o: &LogOptions) -> Result<(String, String, String), ImportError> {
    if let Some((h, m)) = &o.markers {
        if h.is_empty() || m.is_empty() || h == m {
            return err(
                0,
                "the host and modem markers must be two different non-empty strings",
            );
        }
        return Ok((h.clone(), m.clone(), format!("{h:?}/{m:?}")));
    }
    let mut found = Vec::new();
    for &(name, h, m) in LOG_PRESETS {
        let (mut hn, mut mn) = (None, None);
        for (n, line) in lines(input) {
            match split_marker(line, h.as_bytes(), m.as_bytes()) {
                Some((Dir::Host, _)) => hn = hn.or(Some(n)),
                Some((Dir::Modem, _)) => mn = mn.or(Some(n)),
                None => {}
            }
        }
        if let (Some(hn), Some(mn)) = (hn, mn) {
            found.push((name, h, m, hn.min(mn)));
        }
    }
    match found.as_slice() {
        [(name, h, m, _)] => Ok((h.to_string(), m.to_string(), name.to_string())),
        [] => {
            let list: Vec<String> = LOG_PRESETS
                .iter()
                .map(|(n, h, m)| format!("{n} ({h} host, {m} modem)"))
                .collect();
            err(
                0,
                format!(
                    "no direction markers found: no preset has both its host and modem marker in the log ({}); name them with --host-marker and --modem-marker",
                    list.join(", ")
                ),
            )
        }
        several => {
            let list: Vec<String> = several
                .iter()
                .map(|(n, h, m, l)| format!("{n} ({h}/{m}, first at line {l})"))
                .collect();
            err(
                0,
                format!(
                    "ambiguous direction markers: {} match; choose with --markers or --host-marker/--modem-marker",
                    list.join(" and ")
                ),
            )
        }
    }
}

/// The `[N][bytes]` or `N "bytes"` forms: the declared count and the content.
fn counted(rest: &[u8]) -> Option<(usize, &[u8], bool)> {
    let t = rest.trim_ascii();
    // [   3][AT\r]
    if let Some(inner) = t.strip_prefix(b"[") {
        let close = inner.iter().position(|&b| b == b']')?;
        let n = core::str::from_utf8(inner.get(..close)?).ok()?.trim();
        let n: usize = n.parse().ok()?;
        let content = inner
            .get(close + 1..)?
            .strip_prefix(b"[")?
            .strip_suffix(b"]")?;
        return Some((n, content, false));
    }
    // ... 36 "AT\r\n"
    if t.last() == Some(&b'"') {
        let open = t.iter().position(|&b| b == b'"')?;
        let before = t.get(..open)?;
        if before.last().is_some_and(|b| !b.is_ascii_whitespace()) {
            return None;
        }
        let before = before.trim_ascii_end();
        let digits = before
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        let start = before.len() - digits;
        if start > 0
            && before
                .get(start - 1)
                .is_some_and(|b| !b.is_ascii_whitespace())
        {
            return None;
        }
        let n: usize = core::str::from_utf8(before.get(start..)?)
            .ok()?
            .parse()
            .ok()?;
        let content = t.get(open + 1..t.len() - 1)?;
        return Some((n, content, true));
    }
    None
}

fn has_escape(s: &[u8]) -> bool {
    s.windows(2)
        .any(|w| matches!(w, [b'\\', b'r' | b'n' | b'x' | b'0']))
}

fn has_angle(s: &[u8]) -> bool {
    s.windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"<CR>") || w.eq_ignore_ascii_case(b"<LF>"))
}

fn has_dots(s: &[u8]) -> bool {
    find(s, b"..").is_some()
}

/// Decode C escapes.
fn c_unescape(s: &[u8], quoted: bool) -> Result<Vec<u8>, (usize, String)> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c != b'\\' {
            if quoted && c == b'"' {
                return Err((i, "unescaped `\"` inside a quoted entry".into()));
            }
            out.push(c);
            i += 1;
            continue;
        }
        let v = match s.get(i + 1) {
            Some(b'r') => b'\r',
            Some(b'n') => b'\n',
            Some(b't') => b'\t',
            Some(b'0') => 0,
            Some(b'a') => 0x07,
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'v') => 0x0b,
            Some(b'e') => 0x1b,
            Some(b'\\') => b'\\',
            Some(b'"') => b'"',
            Some(b'\'') => b'\'',
            Some(b'x') => {
                match (
                    s.get(i + 2).copied().and_then(hex_digit),
                    s.get(i + 3).copied().and_then(hex_digit),
                ) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => return Err((i, "`\\x` needs two hex digits".into())),
                }
                i += 4;
                continue;
            }
            Some(&o) => {
                return Err((
                    i,
                    format!(
                        "unknown escape `\\{}` (known: \\r \\n \\t \\0 \\a \\b \\f \\v \\e \\\\ \\\" \\' \\xHH)",
                        o as char
                    ),
                ))
            }
            None => return Err((i, "a lone `\\` at the end of the entry".into())),
        };
        out.push(v);
        i += 2;
    }
    Ok(out)
}

fn angle_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        let tag = s.get(i..i + 4).unwrap_or(&[]);
        if tag.eq_ignore_ascii_case(b"<CR>") {
            out.push(b'\r');
            i += 4;
        } else if tag.eq_ignore_ascii_case(b"<LF>") {
            out.push(b'\n');
            i += 4;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn log(input: &[u8], o: &LogOptions) -> Result<(String, Vec<Item>), ImportError> {
    let (host, modem, marker_name) = choose_markers(input, o)?;
    let mut entries: Vec<Entry<'_>> = Vec::new();
    let mut noise: Vec<(usize, usize, &[u8])> = Vec::new(); // (entries before, line, text)
    for (n, line) in lines(input) {
        match split_marker(line, host.as_bytes(), modem.as_bytes()) {
            Some((dir, rest)) => entries.push(Entry {
                line: n,
                dir,
                rest,
                more: Vec::new(),
            }),
            None => {
                if o.render == Some(Render::Lines) {
                    if let Some(e) = entries.last_mut() {
                        e.more.push(line);
                        continue;
                    }
                }
                noise.push((entries.len(), n, line));
            }
        }
    }
    if entries.is_empty() {
        return err(0, format!("no line carries the markers {marker_name}"));
    }
    let render = match o.render {
        Some(r) => r,
        None => detect_render(&entries)?,
    };
    let (eol, host_eol) = match render {
        Render::Lines => {
            let Some(eol) = o.eol.clone() else {
                return err(
                    0,
                    "--render lines needs --eol (crlf, lf or cr): a line break in the log does not say which bytes ended the line",
                );
            };
            let host_eol = o.host_eol.clone().unwrap_or_else(|| eol.clone());
            (eol, host_eol)
        }
        _ => (Vec::new(), Vec::new()),
    };
    let mut items = Vec::new();
    let mut noise = noise.into_iter().peekable();
    for (k, e) in entries.iter().enumerate() {
        while let Some((_, n, l)) = noise.next_if(|(before, _, _)| *before <= k) {
            items.push(Item::Comment(format!("# log {n}: {}", text(l).trim_end())));
        }
        let bytes = match render {
            Render::Lines => {
                let eol = if e.dir == Dir::Host { &host_eol } else { &eol };
                let first = e.rest.strip_prefix(b" ").unwrap_or(e.rest);
                let mut b = Vec::new();
                for l in core::iter::once(first).chain(e.more.iter().copied()) {
                    b.extend_from_slice(l);
                    b.extend_from_slice(eol);
                }
                b
            }
            _ => {
                let (bytes, note) = decode_entry(e, render, o.ignore_counts)?;
                if let Some(note) = note {
                    items.push(Item::Comment(note));
                }
                bytes
            }
        };
        items.push(match e.dir {
            Dir::Host => Item::Host(bytes),
            Dir::Modem => Item::Modem(bytes),
        });
    }
    for (_, n, l) in noise {
        items.push(Item::Comment(format!("# log {n}: {}", text(l).trim_end())));
    }
    let render_name = match render {
        Render::Escapes => "escapes".to_string(),
        Render::Angle => "<CR>/<LF>".to_string(),
        Render::Lines => format!(
            "line breaks as {} (host {})",
            super::escape(&eol),
            super::escape(&host_eol)
        ),
    };
    Ok((
        format!("log (markers {marker_name}, rendering {render_name})"),
        items,
    ))
}

fn detect_render(entries: &[Entry<'_>]) -> Result<Render, ImportError> {
    let esc = entries.iter().find(|e| has_escape(e.rest));
    let ang = entries.iter().find(|e| has_angle(e.rest));
    let dots = entries.iter().find(|e| has_dots(e.rest));
    match (esc, ang, dots) {
        (Some(a), Some(b), _) => err(
            b.line,
            format!(
                "ambiguous rendering: line {} shows C escapes and line {} shows <CR>/<LF>; choose one with --render",
                a.line, b.line
            ),
        ),
        (Some(_), None, _) => Ok(Render::Escapes),
        (None, Some(_), _) => Ok(Render::Angle),
        (None, None, Some(d)) => err(
            d.line,
            "CR/LF look rendered as '.': a '.' may stand for CR, LF or a real '.', so the bytes cannot be recovered. Recognised renderings: C escapes (\\r \\n \\xHH), <CR>/<LF>, and line breaks (--render lines --eol crlf|lf|cr); reconstruct such a log by hand as a .case file",
        ),
        (None, None, None) => err(
            0,
            "no entry shows a CR or LF (no \\r/\\n escape, no <CR>/<LF>): the log does not say how lines ended. If each log line stood for one line of bytes, pass --render lines --eol crlf (and --host-eol cr)",
        ),
    }
}

fn decode_entry(
    e: &Entry<'_>,
    render: Render,
    ignore_counts: bool,
) -> Result<(Vec<u8>, Option<String>), ImportError> {
    let (count, content, quoted) = match counted(e.rest) {
        Some((n, c, q)) => (Some(n), c, q),
        None => (None, e.rest.strip_prefix(b" ").unwrap_or(e.rest), false),
    };
    let bytes = match render {
        Render::Escapes => c_unescape(content, quoted).map_err(|(col, m)| ImportError {
            line: e.line,
            message: format!(
                "in the entry {:?} at byte {col}: {m}",
                short(&text(content))
            ),
        })?,
        _ => angle_decode(content),
    };
    if let Some(n) = count {
        if n != bytes.len() {
            if ignore_counts {
                let note = format!(
                    "# note: log line {}: the log says {n} bytes, the entry shows {}; kept as shown (--ignore-counts)",
                    e.line,
                    bytes.len()
                );
                return Ok((bytes, Some(note)));
            }
            return err(
                e.line,
                format!(
                    "the log says {n} bytes but the entry decodes to {} ({:?}): not the rendering expected, the entry was cut, or the log was edited (--ignore-counts keeps it as shown)",
                    bytes.len(),
                    short(&text(content))
                ),
            );
        }
    }
    Ok((bytes, None))
}

// ----------------------------------------------------------------------------
// CSV (Saleae exports)

/// CSV records: (1-based line where the record starts, fields). Quoted fields may
/// hold commas, `""` and line breaks.
fn csv(input: &[u8]) -> Result<Vec<(usize, Vec<String>)>, ImportError> {
    let Ok(s) = core::str::from_utf8(input) else {
        return err(0, "not UTF-8 text: expected a CSV export");
    };
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    return err(
                        start,
                        "a quoted field is not closed before the end of the file",
                    );
                }
                fields.push(core::mem::take(&mut field));
                break;
            };
            if c == '\n' {
                line += 1;
            }
            if quoted {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        quoted = false;
                    }
                } else {
                    field.push(c);
                }
                continue;
            }
            match c {
                '"' if field.is_empty() && !was_quoted => {
                    quoted = true;
                    was_quoted = true;
                }
                ',' => {
                    fields.push(core::mem::take(&mut field));
                    was_quoted = false;
                }
                '\n' => {
                    fields.push(core::mem::take(&mut field));
                    break;
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                c if was_quoted => {
                    return err(
                        line,
                        format!("unexpected {c:?} after a closing quote (a quoted field ends at a comma or line end)"),
                    )
                }
                c => field.push(c),
            }
        }
        if fields.len() == 1 && fields.first().is_some_and(|f| f.trim().is_empty()) {
            continue;
        }
        out.push((start, fields));
    }
    Ok(out)
}

fn column(header: &[String], name: &str) -> Option<usize> {
    header
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name))
}

fn seconds(s: &str, line: usize, what: &str) -> Result<f64, ImportError> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => err(line, format!("{what} {s:?} is not a number of seconds")),
    }
}

/// A byte on one direction of the line, with its time.
struct TimedByte {
    dir: Dir,
    start: f64,
    end: f64,
    byte: u8,
}

/// Resolve which of `names` is the host and which the modem.
fn directions(
    names: &[String],
    host: &Option<String>,
    modem: &Option<String>,
    what: &str,
    flags: &str,
) -> Result<(String, String), ImportError> {
    let list = names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let pick = |want: &Option<String>, default: &str| -> Option<String> {
        match want {
            Some(w) => names.iter().find(|n| *n == w).cloned(),
            None => names
                .iter()
                .find(|n| n.eq_ignore_ascii_case(default))
                .cloned(),
        }
    };
    match (pick(host, "host"), pick(modem, "modem")) {
        (Some(h), Some(m)) if h != m => Ok((h, m)),
        (Some(_), Some(_)) => err(0, format!("the host and the modem must be different {what}s")),
        _ if host.is_none() || modem.is_none() => err(
            0,
            format!(
                "which {what} is the host and which the modem? Found {list}; say it with {flags} (a name like TX or RX does not say whose TX it is)"
            ),
        ),
        _ => err(
            0,
            format!(
                "{what} {:?} / {:?} not found; the input has {list}",
                host.as_deref().unwrap_or(""),
                modem.as_deref().unwrap_or("")
            ),
        ),
    }
}

/// Group timed bytes into `H:`/`M:` items: a new item at a change of direction
/// or after a pause longer than `gap_us`; a comment with the time before each
/// change of direction.
fn group(bytes: &[TimedByte], gap_us: u64) -> Vec<Item> {
    let gap = gap_us as f64 / 1e6;
    let mut items = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut last: Option<(Dir, f64)> = None;
    let flush = |items: &mut Vec<Item>, cur: &mut Vec<u8>, dir: Dir| {
        if !cur.is_empty() {
            let b = core::mem::take(cur);
            items.push(match dir {
                Dir::Host => Item::Host(b),
                Dir::Modem => Item::Modem(b),
            });
        }
    };
    for b in bytes {
        match last {
            Some((d, end)) if d == b.dir && b.start - end <= gap => {}
            Some((d, _)) => {
                flush(&mut items, &mut cur, d);
                if d != b.dir {
                    items.push(Item::Comment(format!("# t = {:.6} s", b.start)));
                }
            }
            None => items.push(Item::Comment(format!("# t = {:.6} s", b.start))),
        }
        cur.push(b.byte);
        last = Some((b.dir, b.end));
    }
    if let Some((d, _)) = last {
        flush(&mut items, &mut cur, d);
    }
    items
}

fn table(input: &[u8], o: &TableOptions) -> Result<(String, Vec<Item>), ImportError> {
    let records = csv(input)?;
    let Some((hline, header)) = records.first() else {
        return err(0, "empty file: expected a Logic 2 data-table export");
    };
    let cols = (
        column(header, "name"),
        column(header, "type"),
        column(header, "start_time"),
        column(header, "data"),
    );
    let (Some(c_name), Some(c_type), Some(c_start), Some(c_data)) = cols else {
        return err(
            *hline,
            format!(
                "expected the Logic 2 data-table header `name,type,start_time,duration,data`, found {:?}",
                header.join(",")
            ),
        );
    };
    let c_dur = column(header, "duration");
    let c_err = column(header, "error");
    let mut names: Vec<String> = Vec::new();
    for (_, r) in records.iter().skip(1) {
        if let Some(n) = r.get(c_name) {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    let (host, modem) = directions(
        &names,
        &o.host,
        &o.modem,
        "analyzer",
        "--host NAME --modem NAME",
    )?;
    let mut bytes = Vec::new();
    let mut prev = f64::NEG_INFINITY;
    for (n, r) in records.iter().skip(1) {
        let n = *n;
        if r.len() != header.len() {
            return err(
                n,
                format!(
                    "expected {} columns like the header, found {}",
                    header.len(),
                    r.len()
                ),
            );
        }
        let field = |c: usize| r.get(c).map(String::as_str).unwrap_or("");
        let name = field(c_name);
        let dir = if name == host {
            Dir::Host
        } else if name == modem {
            Dir::Modem
        } else {
            return err(
                n,
                format!(
                    "analyzer {name:?} is neither the host ({host:?}) nor the modem ({modem:?})"
                ),
            );
        };
        if field(c_type) != "data" {
            return err(
                n,
                format!(
                    "row type {:?}: only `data` rows of an Async Serial analyzer can be imported",
                    field(c_type)
                ),
            );
        }
        if let Some(c) = c_err {
            if !field(c).trim().is_empty() {
                return err(
                    n,
                    format!(
                        "the analyzer reports {:?} for this byte: the capture is not reliable here (wrong baud rate or a glitch?)",
                        field(c)
                    ),
                );
            }
        }
        let start = seconds(field(c_start), n, "start_time")?;
        if start < prev {
            return err(
                n,
                "start_time goes back: expected rows in time order, as Logic 2 exports them",
            );
        }
        prev = start;
        let dur = match c_dur {
            Some(c) => seconds(field(c), n, "duration")?,
            None => 0.0,
        };
        let byte = table_byte(field(c_data)).ok_or_else(|| ImportError {
            line: n,
            message: format!(
                "data {:?} is not one byte in hex (0x41) or binary (0b01000001): export with the hexadecimal display radix (ASCII and decimal renderings are ambiguous)",
                field(c_data)
            ),
        })?;
        bytes.push(TimedByte {
            dir,
            start,
            end: start + dur,
            byte,
        });
    }
    Ok((
        format!("saleae data table (host {host:?}, modem {modem:?})"),
        group(&bytes, o.gap_us),
    ))
}

fn table_byte(s: &str) -> Option<u8> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() || h.len() > 2 {
            return None;
        }
        return u8::from_str_radix(h, 16).ok();
    }
    if let Some(b) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        if b.len() != 8 {
            return None;
        }
        return u8::from_str_radix(b, 2).ok();
    }
    None
}

// ----------------------------------------------------------------------------
// Raw digital transitions, decoded as 8N1

/// One channel's levels: (time, level, line of the input).
struct Levels {
    at: Vec<(f64, bool, usize)>,
}

impl Levels {
    fn level(&self, t: f64) -> bool {
        let i = self.at.partition_point(|&(time, _, _)| time <= t);
        match i.checked_sub(1).and_then(|i| self.at.get(i)) {
            Some(&(_, level, _)) => level,
            None => true,
        }
    }

    /// Decode 8N1 bytes.
    fn decode(&self, dir: Dir, baud: u32, name: &str) -> Result<Vec<TimedByte>, ImportError> {
        let bit = 1.0 / f64::from(baud);
        let mut out = Vec::new();
        let mut from = f64::NEG_INFINITY;
        // The line must idle high before a start bit counts.
        let mut idle = self.at.first().is_some_and(|&(_, l, _)| l);
        for (k, &(t, level, line)) in self.at.iter().enumerate() {
            if level {
                idle = true;
                continue;
            }
            let was_high = k
                .checked_sub(1)
                .and_then(|p| self.at.get(p))
                .is_some_and(|&(_, l, _)| l);
            if !idle || !was_high || t < from {
                continue;
            }
            let mut byte = 0u8;
            for i in 0..8 {
                if self.level(t + (f64::from(i) + 1.5) * bit) {
                    byte |= 1 << i;
                }
            }
            // At the right rate every edge inside the frame falls on a bit
            // boundary; edges between them mean another baud rate (or noise).
            let window = self
                .at
                .iter()
                .skip(k + 1)
                .take_while(|e| e.0 <= t + 9.5 * bit);
            for &(te, _, eline) in window {
                let pos = (te - t) / bit;
                if (pos - pos.round()).abs() > 0.3 {
                    return err(
                        eline,
                        format!(
                            "an edge on {name:?} at {te:.9} s falls between bit boundaries of the byte that started at {t:.9} s: not {baud} baud?"
                        ),
                    );
                }
            }
            if !self.level(t + 9.5 * bit) {
                return err(
                    line,
                    format!(
                        "framing error on {name:?} at {t:.6} s: the stop bit is low (not 8N1 at {baud} baud?)"
                    ),
                );
            }
            out.push(TimedByte {
                dir,
                start: t,
                end: t + 10.0 * bit,
                byte,
            });
            from = t + 9.5 * bit;
        }
        Ok(out)
    }
}

fn digital(input: &[u8], o: &DigitalOptions) -> Result<(String, Vec<Item>), ImportError> {
    if o.baud == 0 {
        return err(0, "--baud must be a positive number of bits per second");
    }
    let records = csv(input)?;
    let Some((hline, header)) = records.first() else {
        return err(0, "empty file: expected a Logic 2 digital export");
    };
    if !header
        .first()
        .is_some_and(|h| h.trim().to_ascii_lowercase().starts_with("time"))
        || header.len() < 3
    {
        return err(
            *hline,
            format!(
                "expected the Logic 2 digital export header `Time [s],<channel>,<channel>`, found {:?}",
                header.join(",")
            ),
        );
    }
    let names: Vec<String> = header
        .iter()
        .skip(1)
        .map(|h| h.trim().to_string())
        .collect();
    let (host, modem) = directions(
        &names,
        &o.host,
        &o.modem,
        "channel",
        "--host-channel NAME --modem-channel NAME",
    )?;
    let hc = column(header, &host).unwrap_or(0);
    let mc = column(header, &modem).unwrap_or(0);
    let mut chans = [Levels { at: Vec::new() }, Levels { at: Vec::new() }];
    let mut prev = f64::NEG_INFINITY;
    for (n, r) in records.iter().skip(1) {
        let n = *n;
        if r.len() != header.len() {
            return err(
                n,
                format!(
                    "expected {} columns like the header, found {}",
                    header.len(),
                    r.len()
                ),
            );
        }
        let t = seconds(r.first().map(String::as_str).unwrap_or(""), n, "time")?;
        if t < prev {
            return err(n, "time goes back: expected rows in time order");
        }
        prev = t;
        for (slot, c, name) in [(0, hc, &host), (1, mc, &modem)] {
            let v = r.get(c).map(|s| s.trim()).unwrap_or("");
            let level = match v {
                "0" => false,
                "1" => true,
                _ => {
                    return err(
                        n,
                        format!("channel {name:?} has {v:?}: expected 0 or 1 (X means no data was captured)"),
                    )
                }
            };
            if let Some(ch) = chans.get_mut(slot) {
                if ch.at.last().map(|&(_, l, _)| l) != Some(level) {
                    ch.at.push((t, level, n));
                }
            }
        }
    }
    let [h, m] = &chans;
    let mut bytes = h.decode(Dir::Host, o.baud, &host)?;
    bytes.extend(m.decode(Dir::Modem, o.baud, &modem)?);
    bytes.sort_by(|a, b| a.start.total_cmp(&b.start));
    Ok((
        format!(
            "saleae digital, 8N1 at {} baud (host {host:?}, modem {modem:?})",
            o.baud
        ),
        group(&bytes, o.gap_us),
    ))
}

/// Parse a line-end name (`crlf`, `lf`, `cr`, or escaped bytes such as `\r\n`).
pub fn parse_eol(s: &str) -> Result<Vec<u8>, String> {
    match s.to_ascii_lowercase().as_str() {
        "crlf" => Ok(b"\r\n".to_vec()),
        "lf" => Ok(b"\n".to_vec()),
        "cr" => Ok(b"\r".to_vec()),
        "none" => Ok(Vec::new()),
        _ => super::unescape(s).map_err(|e| format!("line end {s:?}: {e} (crlf, lf, cr, none)")),
    }
}
