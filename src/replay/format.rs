//! The recording format: a UART transcript with the application's calls in it.
//!
//! One line, one step (full description in `docs/recordings.md`):
//!
//! ```text
//! # comment                    @profile bg96       (headers, before the steps)
//! H: AT+CSQ\r                  bytes the driver must write, byte for byte
//! M: \r\n> \x20                bytes the modem sends
//! T: +100                      advance the virtual clock (T: =5000 sets it)
//! A: send s0 hello => OK 5     an application call and its expected result
//! ```
//!
//! Bytes are escaped as in `shared/captures/*.case`: `\r`, `\n`, `\t`, `\\`, `\xHH`,
//! everything else literal; `\s` is a space, for trailing spaces editors eat.

use std::fmt;
use std::string::String;
use std::vec::Vec;

/// One step of a recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Bytes the driver writes (host → modem).
    Host(Vec<u8>),
    /// Bytes the modem sends (modem → host).
    Modem(Vec<u8>),
    /// Advance the clock by this many ms.
    Advance(u64),
    /// Set the clock to this many ms.
    At(u64),
    /// An application call: its words and the expected result (text after `=>`).
    Call {
        /// The call and its arguments, unescaped.
        args: Vec<Vec<u8>>,
        /// The expected result, as written.
        expect: String,
    },
}

/// A parsed recording.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// Header values (`@name value`), in order.
    pub headers: Vec<(String, String)>,
    /// Steps with the 1-based line number they came from.
    pub steps: Vec<(usize, Step)>,
}

/// A line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Decode escaped text into bytes.
pub fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b's') => out.push(b' '),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex = s
                    .get(i + 2..i + 4)
                    .ok_or_else(|| format!("\\x needs two hex digits at column {}", i + 1))?;
                let v = u8::from_str_radix(hex, 16)
                    .map_err(|_| format!("bad hex escape \\x{hex} at column {}", i + 1))?;
                out.push(v);
                i += 4;
                continue;
            }
            other => {
                return Err(format!(
                    "unknown escape \\{} at column {}",
                    other.map(|&c| c as char).unwrap_or(' '),
                    i + 1
                ))
            }
        }
        i += 2;
    }
    Ok(out)
}

/// Encode bytes so that [`unescape`] gives them back and the text stays readable.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            // Spaces at the end, or as a whole token, would be lost to editors and
            // to the word splitting of calls.
            b' ' if i + 1 == bytes.len() => s.push_str("\\s"),
            0x21..=0x7e | b' ' => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// Escape for a call argument: spaces are escaped too, and an empty value is `""`.
/// An argument that reads as the result separator (`=>`) or as the empty value
/// (`""`) is escaped so that the line parses back to the same call.
pub fn escape_word(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "\"\"".into();
    }
    if bytes == b"\"\"" {
        return "\\x22\\x22".into();
    }
    escape(bytes).replace(' ', "\\s").replace("=>", "=\\x3e")
}

impl Recording {
    /// Parse the text of a recording.
    pub fn parse(text: &str) -> Result<Recording, ParseError> {
        let mut rec = Recording::default();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let err = |message: String| ParseError {
                line: line_no,
                message,
            };
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            if let Some(h) = line.strip_prefix('@') {
                let (name, value) = h.split_once(' ').unwrap_or((h, ""));
                rec.headers
                    .push((name.to_string(), value.trim().to_string()));
                continue;
            }
            let (tag, rest) = line
                .split_once(':')
                .ok_or_else(|| err(format!("expected `H:`, `M:`, `T:` or `A:`, found {line:?}")))?;
            // One optional space after the colon; everything after it is content.
            let body = rest.strip_prefix(' ').unwrap_or(rest);
            let step = match tag {
                "H" => Step::Host(unescape(body).map_err(err)?),
                "M" => Step::Modem(unescape(body).map_err(err)?),
                "T" => {
                    let t = body.trim();
                    let (abs, num) = match t.strip_prefix('=') {
                        Some(n) => (true, n),
                        None => (false, t.strip_prefix('+').unwrap_or(t)),
                    };
                    let ms: u64 = num
                        .trim()
                        .parse()
                        .map_err(|_| err(format!("`T:` takes +MS or =MS, found {t:?}")))?;
                    if abs {
                        Step::At(ms)
                    } else {
                        Step::Advance(ms)
                    }
                }
                "A" => {
                    let (call, expect) = match body.split_once("=>") {
                        Some((c, e)) => (c, e.trim().to_string()),
                        None => (body, String::new()),
                    };
                    let mut args = Vec::new();
                    for word in call.split_whitespace() {
                        let bytes = if word == "\"\"" {
                            Vec::new()
                        } else {
                            unescape(word).map_err(err)?
                        };
                        args.push(bytes);
                    }
                    if args.is_empty() {
                        return Err(err("`A:` needs a call".into()));
                    }
                    Step::Call { args, expect }
                }
                other => return Err(err(format!("unknown step `{other}:`"))),
            };
            rec.steps.push((line_no, step));
        }
        Ok(rec)
    }

    /// The value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Write the recording back as text ([`Recording::parse`] gives it back).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (name, value) in &self.headers {
            s.push_str(&format!("@{name} {value}\n"));
        }
        for (_, step) in &self.steps {
            match step {
                Step::Host(b) => s.push_str(&format!("H: {}\n", escape(b))),
                Step::Modem(b) => s.push_str(&format!("M: {}\n", escape(b))),
                Step::Advance(ms) => s.push_str(&format!("T: +{ms}\n")),
                Step::At(ms) => s.push_str(&format!("T: ={ms}\n")),
                Step::Call { args, expect } => {
                    let words: Vec<String> = args.iter().map(|a| escape_word(a)).collect();
                    s.push_str(&format!("A: {}", words.join(" ")));
                    if !expect.is_empty() {
                        s.push_str(&format!(" => {expect}"));
                    }
                    s.push('\n');
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip_every_byte() {
        let all: Vec<u8> = (0..=255u8).chain(*b" trailing ").collect();
        assert_eq!(unescape(&escape(&all)).unwrap(), all);
        assert_eq!(unescape(&escape_word(b"a b")).unwrap(), b"a b");
    }

    #[test]
    fn bad_escape_names_the_line() {
        let e = Recording::parse("@profile bg96\nM: ok\nH: \\xZZ\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("hex"), "{e}");
    }
}
