//! A line-only profile for replaying captures of modems cellsock has no profile for.
//!
//! It knows the V.250 / 27.007 final result codes and nothing else: no payload
//! header, no URC, no information line, no command. With it an imported capture
//! still exercises the framer (line ends, blanks, overlong lines, stray prompts)
//! and shows which lines a real profile would have to understand. It is a host
//! tool for `replay::ingress`; it cannot drive a modem.

// Host tooling, but it reads untrusted files: it reports, it never panics.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::error::Reason;
use crate::framer::Frame;
use crate::profile::{Command, Context, Event, Final, FormatError, Limits, ModemHandle, Op};
use crate::Profile;

/// The line-only profile (`@profile generic` in an imported recording).
#[derive(Clone, Copy, Debug, Default)]
pub struct LineOnly;

impl Profile for LineOnly {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn limits(&self) -> Limits {
        Limits {
            max_send: 1460,
            max_recv: 1500,
            max_sockets: 0,
            max_host_len: 0,
        }
    }

    fn timeout_ms(&self, _op: Op) -> u32 {
        1000
    }

    fn init_steps(&self) -> u8 {
        0
    }

    fn handle_for_slot(&self, _slot: usize) -> Option<ModemHandle> {
        None
    }

    fn open_error(&self, code: u16) -> Reason {
        Reason::OpenFailed(code)
    }

    fn format(&self, _cmd: &Command<'_>, _out: &mut [u8]) -> Result<usize, FormatError> {
        Err(FormatError::Unsupported)
    }

    fn payload_length(&self, _line: &[u8], _ctx: &Context) -> Option<usize> {
        None
    }

    fn classify<'a>(&self, frame: Frame<'a>, _ctx: &Context) -> Event<'a> {
        let line = match frame {
            Frame::Prompt => return Event::Prompt,
            Frame::Payload { .. } => return Event::Unknown,
            Frame::Line(line) => line,
        };
        match line {
            b"OK" => return Event::Final(Final::Ok),
            b"ERROR" => return Event::Final(Final::Error),
            _ => {}
        }
        if let Some(result) = crate::standard::error_result(line) {
            return Event::Final(result);
        }
        if crate::standard::is_command_echo(line) {
            return Event::Echo;
        }
        Event::Unknown
    }
}
