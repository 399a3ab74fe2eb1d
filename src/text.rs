//! Small, allocation-free helpers for reading AT response lines, shared by profiles:
//! `+NAME: a,"b",3` style parameters.

/// `line` without `prefix` and the blanks after it, if it starts with `prefix`.
pub fn after<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(prefix)?;
    let blanks = rest.iter().take_while(|&&b| b == b' ').count();
    rest.get(blanks..)
}

/// Comma-separated parameters; quoted ones are returned without their quotes (a
/// comma inside quotes does not split).
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    rest: Option<&'a [u8]>,
}

/// Split `params` into [`Fields`].
pub fn fields(params: &[u8]) -> Fields<'_> {
    Fields { rest: Some(params) }
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        let start = rest.iter().take_while(|&&b| b == b' ').count();
        let rest = rest.get(start..).unwrap_or(&[]);
        if let Some(quoted) = rest.strip_prefix(b"\"") {
            let end = quoted
                .iter()
                .position(|&b| b == b'"')
                .unwrap_or(quoted.len());
            let after = quoted.get(end + 1..).unwrap_or(&[]);
            self.rest = after
                .iter()
                .position(|&b| b == b',')
                .and_then(|i| after.get(i + 1..));
            return quoted.get(..end);
        }
        match rest.iter().position(|&b| b == b',') {
            Some(i) => {
                self.rest = rest.get(i + 1..);
                rest.get(..i).map(trim_end)
            }
            None => {
                self.rest = None;
                Some(trim_end(rest))
            }
        }
    }
}

fn trim_end(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    s.get(..end).unwrap_or(&[])
}

/// A field as a `u8` (handles, ids, status codes); `None` if it does not fit.
pub fn small(field: &[u8]) -> Option<u8> {
    number(field).and_then(|n| u8::try_from(n).ok())
}

/// A decimal number with at most 9 digits (no sign, no blanks).
pub fn number(field: &[u8]) -> Option<u32> {
    if field.is_empty() || field.len() > 9 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        field
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0')),
    )
}

/// Longest text [`ip_text`] produces (an IPv6 address, eight full groups).
pub const MAX_IP_TEXT: usize = 39;

/// An IP address as modems take it in a command: dotted IPv4, or IPv6 in the
/// RFC 5952 form (lowercase hex, the longest run of two or more zero groups as
/// `::`), as the modems print addresses themselves. Written by hand so that a
/// firmware does not link `core::fmt` for it.
pub fn ip_text(ip: core::net::IpAddr) -> heapless::String<MAX_IP_TEXT> {
    let mut s = heapless::String::new();
    match ip {
        core::net::IpAddr::V4(v4) => {
            let mut digits = [0u8; 10];
            for (i, octet) in v4.octets().iter().enumerate() {
                if i > 0 {
                    let _ = s.push('.');
                }
                for &d in decimal(u32::from(*octet), &mut digits) {
                    let _ = s.push(char::from(d));
                }
            }
        }
        core::net::IpAddr::V6(v6) => {
            let groups = v6.segments();
            // The longest run of zero groups (at least two), the first if tied.
            let (mut best, mut run) = ((0usize, 0usize), (0usize, 0usize));
            for (i, &g) in groups.iter().enumerate() {
                if g == 0 {
                    run = if run.1 == 0 {
                        (i, 1)
                    } else {
                        (run.0, run.1 + 1)
                    };
                    if run.1 > best.1 {
                        best = run;
                    }
                } else {
                    run = (0, 0);
                }
            }
            let skip = if best.1 >= 2 { Some(best) } else { None };
            let mut i = 0;
            while i < groups.len() {
                if let Some((start, len)) = skip.filter(|&(start, _)| start == i) {
                    let _ = s.push_str("::");
                    i = start + len;
                    continue;
                }
                if i > 0 && !s.ends_with(':') {
                    let _ = s.push(':');
                }
                push_hex(&mut s, groups.get(i).copied().unwrap_or(0));
                i += 1;
            }
        }
    }
    s
}

/// A 16-bit group in lowercase hex without leading zeros.
fn push_hex<const N: usize>(s: &mut heapless::String<N>, group: u16) {
    let mut started = false;
    for shift in [12u16, 8, 4, 0] {
        let nibble = (group >> shift) & 0xf;
        if nibble != 0 || started || shift == 0 {
            started = true;
            let c = b"0123456789abcdef"
                .get(usize::from(nibble))
                .copied()
                .unwrap_or(b'0');
            let _ = s.push(char::from(c));
        }
    }
}

/// Write `parts` into `out` one after another; the total length, or `None` if
/// `out` is too small.
pub fn join(out: &mut [u8], parts: &[&[u8]]) -> Option<usize> {
    let mut n = 0;
    for p in parts {
        out.get_mut(n..n + p.len())?.copy_from_slice(p);
        n += p.len();
    }
    Some(n)
}

/// Decimal text of `v` in a small stack buffer.
pub fn decimal(v: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    let mut v = v;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        i -= 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.get(i..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_unquote_and_keep_commas_inside_quotes() {
        let f: Vec<&[u8]> = fields(br#""recv",0,"a,b",12"#).collect();
        assert_eq!(f, vec![&b"recv"[..], b"0", b"a,b", b"12"]);
        let f: Vec<&[u8]> = fields(b"1, 2 ,3").collect();
        assert_eq!(f, vec![&b"1"[..], b"2", b"3"]);
    }

    #[test]
    fn ip_text_matches_what_modems_take() {
        let v4: core::net::IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(ip_text(v4).as_str(), "192.0.2.7");
        for text in [
            "2001:db8::1",
            "::",
            "::1",
            "fe80::",
            "2001:db8:0:1:0:0:0:1",
            "2001:0:0:1::1",
            "1:2:3:4:5:6:7:8",
            "2001:db8::1:0:0:1",
        ] {
            let ip: core::net::IpAddr = text.parse().unwrap();
            // The same text core::fmt gives (RFC 5952).
            assert_eq!(ip_text(ip).as_str(), ip.to_string(), "{text}");
        }
        let max: core::net::IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        assert_eq!(ip_text(max).len(), MAX_IP_TEXT);
        assert_eq!(
            ip_text(max).as_str().parse::<core::net::IpAddr>().unwrap(),
            max
        );
    }

    #[test]
    fn number_rejects_junk() {
        assert_eq!(number(b"1460"), Some(1460));
        assert_eq!(number(b""), None);
        assert_eq!(number(b"-1"), None);
        assert_eq!(number(b"1234567890"), None);
    }
}
