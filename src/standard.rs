//! Lines of 3GPP TS 27.007 that every modem speaks the same way: error results,
//! command echo, SIM status, network registration. Profiles call these instead of
//! parsing the standard lines each in their own way.

use crate::profile::{Context, Event, Final, Info, Op, RegStatus, Urc};
use crate::text::{after, fields, number};

/// `+CME ERROR: <n>` / `+CMS ERROR: <n>` as a final result; a code that is no
/// number, or does not fit a `u16`, is 0 (unknown), never truncated.
pub fn error_result(line: &[u8]) -> Option<Final> {
    let code = after(line, b"+CME ERROR:").or_else(|| after(line, b"+CMS ERROR:"))?;
    Some(Final::CmeError(
        number(code)
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(0),
    ))
}

/// True for a line that is a command echoed back (`AT...`, any case).
pub fn is_command_echo(line: &[u8]) -> bool {
    line.get(..2).is_some_and(|p| p.eq_ignore_ascii_case(b"AT"))
}

/// `+CPIN: <code>`: the answer to the SIM query, or the SIM announcing itself
/// after boot (no query in flight).
pub fn sim_status<'a>(line: &[u8], ctx: &Context) -> Option<Event<'a>> {
    let code = after(line, b"+CPIN:")?;
    Some(if ctx.op == Some(Op::SimStatus) {
        Event::Info(Info::SimReady(code == b"READY"))
    } else {
        Event::Info(Info::Other)
    })
}

/// `+CEREG: ...` (or `+CREG`/`+CGREG` parameters): the URC (`<stat>[,"<tac>",...]`)
/// and the query answer (`<n>,<stat>[,...]`) told apart by their shape: the URC's
/// second field, if any, is quoted; the answer's is a number.
pub fn registration<'a>(params: &[u8]) -> Event<'a> {
    let stat = |f: &[u8]| number(f).and_then(|n| u8::try_from(n).ok());
    let mut f = fields(params);
    let first = f.next().and_then(stat);
    let second_quoted = params
        .iter()
        .position(|&b| b == b',')
        .and_then(|i| params.get(i + 1..))
        .is_some_and(|rest| rest.trim_ascii_start().starts_with(b"\""));
    let second = f.next();
    match (first, second) {
        (Some(s), _) if second_quoted => Event::Urc(Urc::Registration(RegStatus::from_stat(s))),
        (Some(_), Some(second)) => match stat(second) {
            Some(s) => Event::Info(Info::Registration(RegStatus::from_stat(s))),
            None => Event::Unknown,
        },
        (Some(s), None) => Event::Urc(Urc::Registration(RegStatus::from_stat(s))),
        _ => Event::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_urc_and_answer_are_told_apart() {
        let urc = |s| Event::Urc(Urc::Registration(RegStatus::from_stat(s)));
        let info = |s| Event::Info(Info::Registration(RegStatus::from_stat(s)));
        assert_eq!(registration(b"5"), urc(5));
        assert_eq!(registration(b"1,\"1A2B\",\"01A2B3C4\",7"), urc(1));
        assert_eq!(registration(b"1,5"), info(5));
        assert_eq!(registration(b"2,1,\"1A2B\",\"01A2B3C4\",7"), info(1));
        assert_eq!(registration(b"x"), Event::Unknown);
        assert_eq!(registration(b"1,999"), Event::Unknown);
    }

    #[test]
    fn error_codes_never_truncate() {
        assert_eq!(error_result(b"+CME ERROR: 10"), Some(Final::CmeError(10)));
        assert_eq!(error_result(b"+CMS ERROR: 70000"), Some(Final::CmeError(0)));
        assert_eq!(error_result(b"OK"), None);
    }
}
