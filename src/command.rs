//! The command engine: one AT command in flight, as an explicit state machine.
//!
//! It owns the bytes being written (the command line, then the payload) and the
//! deadline of the exchange. It never decides what to send next (the driver does)
//! and never reads the UART (the framer does); it turns the events that belong to the
//! command in flight into one [`Completion`].
//!
//! A final result that arrives when nothing is in flight, or during the quiet period
//! after a timeout, is dropped and counted: it is the late answer of a command that
//! was already given up, and feeding it to the next command is the bug that cost
//! ublox-cellular-rs an unrecoverable loop.

use crate::profile::{Context, Final, Op, SendAbort};
use crate::time::Instant;

/// Longest command line (the open command with a [`crate::socket::MAX_HOST`] name).
pub const MAX_COMMAND: usize = 224;

/// How long after a timeout late final results are still expected and dropped.
pub const QUARANTINE_MS: u32 = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Writing the command line.
    Command,
    /// Waiting for the prompt.
    Prompt,
    /// Writing the payload.
    Payload,
    /// Waiting for the final result.
    Final,
}

/// The exchange in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InFlight {
    pub op: Op,
    pub stage: Stage,
    pub deadline: Instant,
    /// Payload bytes already written.
    pub payload_written: usize,
    /// While this send waited for its prompt, a frame was lost (left unfinished,
    /// or not understood): it may have been the prompt, and the modem may be
    /// counting payload bytes although the driver never saw it ask for them.
    pub prompt_in_doubt: bool,
}

/// How an exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A final result arrived.
    Final(Final),
    /// No (complete) answer in time.
    Timeout,
    /// The modem restarted while the command was in flight.
    Aborted,
}

/// An ended exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    pub op: Op,
    pub outcome: Outcome,
}

/// Engine counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Commands written.
    pub commands: u32,
    /// Commands that timed out.
    pub timeouts: u32,
    /// Final results that belonged to no command (late or spurious).
    pub stray_finals: u32,
    /// Prompts that came when no send waited for one.
    pub stray_prompts: u32,
}

#[derive(Debug)]
pub(crate) struct Engine {
    pub line: heapless::Vec<u8, MAX_COMMAND>,
    pub line_written: usize,
    pub inflight: Option<InFlight>,
    pub quiet_until: Option<Instant>,
    /// Bytes to write before the next command (abort of a lost payload prompt).
    pub abort: &'static [u8],
    pub abort_written: usize,
    /// Filler bytes still owed to a modem counting payload bytes, and the filler.
    pub fill_left: usize,
    pub fill_byte: u8,
    pub consecutive_timeouts: u8,
    pub stats: EngineStats,
}

impl Engine {
    pub const fn new() -> Self {
        Engine {
            line: heapless::Vec::new(),
            line_written: 0,
            inflight: None,
            quiet_until: None,
            abort: b"",
            abort_written: 0,
            fill_left: 0,
            fill_byte: 0,
            consecutive_timeouts: 0,
            stats: EngineStats {
                commands: 0,
                timeouts: 0,
                stray_finals: 0,
                stray_prompts: 0,
            },
        }
    }

    /// True when a new command may start now.
    pub fn is_idle(&self, now: Instant) -> bool {
        self.inflight.is_none()
            && self.abort_written >= self.abort.len()
            && self.fill_left == 0
            && self.quiet_until.is_none_or(|t| now >= t)
    }

    /// What the framer and profile need to know.
    pub fn context(&self) -> Context {
        match self.inflight {
            Some(f) => Context {
                op: Some(f.op),
                awaiting_prompt: f.stage == Stage::Prompt,
            },
            None => Context::default(),
        }
    }

    /// Start `op` whose line is already in `self.line`.
    pub fn start(&mut self, op: Op, now: Instant, timeout_ms: u32) {
        self.line_written = 0;
        self.inflight = Some(InFlight {
            op,
            stage: Stage::Command,
            deadline: now.after(timeout_ms),
            payload_written: 0,
            prompt_in_doubt: false,
        });
        self.stats.commands += 1;
    }

    /// The command line is fully written.
    pub fn line_done(&mut self, has_payload: bool) {
        if let Some(f) = self.inflight.as_mut() {
            if f.stage == Stage::Command {
                f.stage = if has_payload {
                    Stage::Prompt
                } else {
                    Stage::Final
                };
            }
        }
    }

    /// The prompt arrived: the payload may be written. False if nobody waited.
    pub fn on_prompt(&mut self) -> bool {
        match self.inflight.as_mut() {
            Some(f) if f.stage == Stage::Prompt => {
                f.stage = Stage::Payload;
                true
            }
            _ => {
                self.stats.stray_prompts += 1;
                false
            }
        }
    }

    /// A frame was lost (flushed unfinished, or not understood): if a send waits
    /// for its prompt, that frame may have been the prompt.
    pub fn frame_lost(&mut self) {
        if let Some(f) = self.inflight.as_mut() {
            if f.stage == Stage::Prompt {
                f.prompt_in_doubt = true;
            }
        }
    }

    /// A final result arrived at `now`. `abort` is how the modem gives up a
    /// payload, should this be a refusal of a send whose prompt may have been lost.
    pub fn on_final(
        &mut self,
        result: Final,
        now: Instant,
        abort: SendAbort,
    ) -> Option<Completion> {
        match self.inflight {
            // Still writing the command line: the modem cannot be answering it yet.
            Some(f) if f.stage == Stage::Command => {
                self.stats.stray_finals += 1;
                None
            }
            // A success before the payload is all written cannot be this command's:
            // only a refusal can end it then.
            Some(f) if matches!(f.stage, Stage::Prompt | Stage::Payload) && result.is_success() => {
                self.stats.stray_finals += 1;
                None
            }
            Some(f) => {
                self.inflight = None;
                self.consecutive_timeouts = 0;
                if f.stage == Stage::Prompt && f.prompt_in_doubt {
                    // A refusal (or a stray final) while the prompt may have been
                    // lost: the modem may be counting payload bytes, and would take
                    // the next command line as payload. Make it give up, as after a
                    // timeout (harmless to a modem that did refuse), with the same
                    // quiet period for what the modem answers to the abort.
                    self.owe_abort(f, abort);
                    self.quiet_until = Some(now.after(QUARANTINE_MS));
                }
                Some(Completion {
                    op: f.op,
                    outcome: Outcome::Final(result),
                })
            }
            None => {
                // A late answer: if it comes during the quiet period after a timeout,
                // more of it may follow, so the quiet period starts again.
                self.stats.stray_finals += 1;
                if self.quiet_until.is_some_and(|t| now < t) {
                    self.quiet_until = Some(now.after(QUARANTINE_MS));
                }
                None
            }
        }
    }

    /// The quiet period is over once its time has come.
    pub fn expire_quiet(&mut self, now: Instant) {
        if self.quiet_until.is_some_and(|t| now >= t) {
            self.quiet_until = None;
        }
    }

    /// Check the deadline.
    pub fn check_timeout(&mut self, now: Instant, abort: SendAbort) -> Option<Completion> {
        let f = self.inflight?;
        if now < f.deadline {
            return None;
        }
        self.inflight = None;
        self.stats.timeouts += 1;
        self.consecutive_timeouts = self.consecutive_timeouts.saturating_add(1);
        self.quiet_until = Some(now.after(QUARANTINE_MS));
        self.owe_abort(f, abort);
        Some(Completion {
            op: f.op,
            outcome: Outcome::Timeout,
        })
    }

    /// A send ended while the modem may still be counting payload bytes: make it
    /// give up before the next command.
    fn owe_abort(&mut self, f: InFlight, abort: SendAbort) {
        if let (Stage::Prompt | Stage::Payload | Stage::Final, Op::Send { len, .. }) =
            (f.stage, f.op)
        {
            // Even with the payload all written, bytes may have been lost on the
            // line and the modem still waits for that many: with no count known,
            // the whole length is owed (the filler is harmless to a modem not
            // waiting).
            let owed = match f.stage {
                Stage::Final => usize::from(len),
                _ => usize::from(len).saturating_sub(f.payload_written),
            };
            match abort {
                SendAbort::Bytes(bytes) => {
                    self.abort = bytes;
                    self.abort_written = 0;
                }
                SendAbort::Fill(byte) => {
                    self.fill_byte = byte;
                    self.fill_left = owed;
                }
            }
        }
    }

    /// The modem restarted: whatever was in flight will never be answered.
    pub fn abort_all(&mut self) -> Option<Completion> {
        let f = self.inflight.take()?;
        self.line.clear();
        self.line_written = 0;
        Some(Completion {
            op: f.op,
            outcome: Outcome::Aborted,
        })
    }

    /// Deadline of the exchange, for `poll_at`.
    pub fn deadline(&self) -> Option<Instant> {
        match self.inflight {
            Some(f) => Some(f.deadline),
            None => self.quiet_until,
        }
    }
}
