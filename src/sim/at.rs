//! Reading AT command lines on the modem side, for simulated modems.
//!
//! Modem-neutral pieces a simulator needs to act on what the host wrote: split a
//! command line into its name and form ([`command`]), split an argument list into
//! arguments with quoted strings kept whole ([`split_args`]), and frame information
//! lines the V.250 way ([`framed`]).

/// One argument of a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    /// The text, without the quotes, trimmed.
    pub text: String,
    /// True when the argument was written in quotes.
    pub quoted: bool,
}

impl Arg {
    /// The argument as an unsigned number (unquoted decimal digits only).
    pub fn num(&self) -> Option<u32> {
        if self.quoted || self.text.is_empty() || !self.text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.text.parse().ok()
    }

    /// True for an argument left empty (`AT+X=,1`: the first one).
    pub fn is_empty(&self) -> bool {
        !self.quoted && self.text.is_empty()
    }
}

/// Split `a,"b,c",d` into arguments; `None` for an unterminated quote. An empty
/// string gives no argument; `,1` gives an empty first argument and `1`.
pub fn split_args(s: &str) -> Option<Vec<Arg>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_quote = false;
    for c in s.chars() {
        match c {
            '"' => {
                in_quote = !in_quote;
                quoted = true;
            }
            ',' if !in_quote => {
                out.push(Arg {
                    text: std::mem::take(&mut cur).trim().to_string(),
                    quoted,
                });
                quoted = false;
            }
            c => cur.push(c),
        }
    }
    if in_quote {
        return None;
    }
    if !s.is_empty() {
        out.push(Arg {
            text: cur.trim().to_string(),
            quoted,
        });
    }
    Some(out)
}

/// What follows a command name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form<'a> {
    /// `AT+X`
    Exec,
    /// `AT+X?`
    Read,
    /// `AT+X=?`
    Test,
    /// `AT+X=<args>`: the text after the `=`.
    Set(&'a str),
}

/// Split a command line (starting at `AT`) into its name, upper-cased, and its form;
/// `None` when what follows the name is none of the V.250 forms.
pub fn command(line: &str) -> Option<(String, Form<'_>)> {
    let cut = line.find(['=', '?']).unwrap_or(line.len());
    let name = line.get(..cut)?.to_ascii_uppercase();
    let rest = line.get(cut..)?;
    let form = if rest.is_empty() {
        Form::Exec
    } else if rest == "?" {
        Form::Read
    } else if rest == "=?" {
        Form::Test
    } else if let Some(args) = rest.strip_prefix('=') {
        Form::Set(args)
    } else {
        return None;
    };
    Some((name, form))
}

/// Information lines as a modem sends them: each one between CR LF and CR LF.
pub fn framed(lines: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_and_forms() {
        let a = split_args(",1,\"a,b\", 7 ").unwrap();
        assert_eq!(a.len(), 4);
        assert!(a[0].is_empty());
        assert_eq!(a[1].num(), Some(1));
        assert_eq!((a[2].text.as_str(), a[2].quoted), ("a,b", true));
        assert_eq!(a[2].num(), None);
        assert_eq!(a[3].num(), Some(7));
        assert_eq!(split_args("\"open"), None);
        assert!(split_args("").unwrap().is_empty());
        assert_eq!(
            command("at+cfun=1"),
            Some(("AT+CFUN".into(), Form::Set("1")))
        );
        assert_eq!(command("AT+CPIN?"), Some(("AT+CPIN".into(), Form::Read)));
        assert_eq!(command("AT+CPIN=?"), Some(("AT+CPIN".into(), Form::Test)));
        assert_eq!(command("ATE0"), Some(("ATE0".into(), Form::Exec)));
        assert_eq!(command("AT+X?1"), None);
        assert_eq!(framed(&["A".into(), "B".into()]), b"\r\nA\r\n\r\nB\r\n");
    }
}
