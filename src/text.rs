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
    fn number_rejects_junk() {
        assert_eq!(number(b"1460"), Some(1460));
        assert_eq!(number(b""), None);
        assert_eq!(number(b"-1"), None);
        assert_eq!(number(b"1234567890"), None);
    }
}
