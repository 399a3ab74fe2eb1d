//! What the modems' documentation says, written independently of the profiles, so
//! the targets can check the profiles and the core against it.

use cellsock::text::{after, fields, number};

/// Which AT dialect a stream speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Quectel BG96 (`+QIURC: "recv",<id>,<len>`, `+QIRD: <len>`).
    Bg96,
    /// nRF91 Serial Modem (`#XRECV: <h>,0,<len>`, `#XRECVFROM: <h>,0,<len>,...`).
    Nrf91,
}

/// A payload header: the handle it names (none for `+QIRD`, whose handle is the
/// read in flight) and the number of bytes that follow it. Handles are full
/// numbers: a header for connectID 256 does not name socket 0.
pub fn header(dialect: Dialect, line: &[u8]) -> Option<(Option<u32>, usize)> {
    match dialect {
        Dialect::Bg96 => {
            if let Some(params) = after(line, b"+QIURC:") {
                let mut f = fields(params);
                if f.next()? != b"recv" {
                    return None;
                }
                let id = number(f.next()?)?;
                let len = number(f.next()?)? as usize;
                return Some((Some(id), len));
            }
            let params = after(line, b"+QIRD:")?;
            let mut f = fields(params);
            let len = number(f.next()?)? as usize;
            let is_header = f.next().is_none() || params.windows(2).any(|w| w == b",\"");
            (len > 0 && is_header).then_some((None, len))
        }
        Dialect::Nrf91 => {
            let params = after(line, b"#XRECVFROM:").or_else(|| after(line, b"#XRECV:"))?;
            let mut f = fields(params);
            let h = number(f.next()?)?;
            let mode = number(f.next()?)?;
            let len = number(f.next()?)? as usize;
            (mode == 0).then_some((Some(h), len))
        }
    }
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

/// True when `data` follows, somewhere in `stream`, a line ending in a payload
/// header that announces exactly `data.len()` bytes for a handle `allowed` accepts.
/// This is what "the input contained it as a framed payload" means when the stream
/// holds arbitrary bytes: any suffix of the line counts as the header (bytes before
/// it may have been dropped as a stale partial frame or eaten as a prompt).
pub fn framed_in(
    dialect: Dialect,
    stream: &[u8],
    data: &[u8],
    allowed: impl Fn(Option<u32>) -> bool,
) -> bool {
    if data.len() > stream.len() {
        return false;
    }
    for p in 0..=stream.len() - data.len() {
        if &stream[p..p + data.len()] != data {
            continue;
        }
        let before = &stream[..p];
        for term in [&b"\r\n"[..], b"\n", b"\r"] {
            let Some(head) = before.strip_suffix(term) else {
                continue;
            };
            let line_start = head
                .iter()
                .rposition(|&b| b == b'\r' || b == b'\n')
                .map_or(0, |i| i + 1);
            let line = &head[line_start..];
            for s in 0..line.len() {
                let cand = trim(&line[s..]);
                if let Some((h, n)) = header(dialect, cand) {
                    if n == data.len() && allowed(h) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

/// The host names the core must accept (letters, digits, `.-_:`, one pair of IPv6
/// brackets around the whole, 1..=max bytes inside) — `None` when it must refuse.
pub fn host(host: &str, max: usize) -> Option<&str> {
    let inner = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ok = !inner.is_empty()
        && inner.len() <= max.min(128)
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    ok.then_some(inner)
}

/// The ports the core must accept: 1..=65535 in decimal digits, at most 5 of them.
pub fn port(port: &str) -> Option<u16> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match port.parse::<u32>() {
        Ok(p @ 1..=65535) => Some(p as u16),
        _ => None,
    }
}
