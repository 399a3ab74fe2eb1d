//! Faults a test can script: what goes wrong, and when.
//!
//! A [`Fault`] names a misbehaviour in modem-neutral terms; each simulated modem
//! carries it out in its own dialect (the BG96 sends its "closed" URC, another
//! modem something else). A [`FaultSchedule`] holds faults with their [`Trigger`]:
//! a moment on the simulation's clock, the arrival of a command line starting with
//! some text (its n-th occurrence), or a point inside the next send exchange.
//! Faults can also be injected directly with the simulator's `inject`.

use crate::time::Instant;

/// Where inside a send exchange extra modem output is placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendPoint {
    /// Right after the payload prompt, while the host writes the payload.
    AfterPrompt,
    /// After the payload was taken, before the send result.
    BeforeResult,
}

/// One misbehaviour of the modem or the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The modem restarts: its boot banner comes again, echo is back on, every socket
    /// and the packet data context are gone, and it hears nothing until booted.
    Reboot,
    /// The network deactivates the packet data context: the URC for it, every socket
    /// on the context is dead (it must be closed and the context deactivated).
    PdpDeactivated,
    /// The remote end or the network closes socket `id`: the URC for it; the id stays
    /// taken until the host closes it.
    SocketClosed(u8),
    /// Registration is lost (a registration URC with "searching"): sends fail and
    /// datagrams from the network are lost until it is regained.
    RegistrationLost,
    /// Registration comes back (a registration URC with "registered, home").
    RegistrationRegained,
    /// The next command line is lost: no effect, no answer (its echo still comes if
    /// echo is on).
    IgnoreCommand,
    /// The next command is carried out but everything the modem answers to it right
    /// away (information lines, final result, or the payload prompt) is lost.
    SwallowAnswer,
    /// The next send (or the one in progress) is refused after its payload (`SEND
    /// FAIL`); nothing goes out.
    SendFail,
    /// These bytes are sent to the host now, as they are.
    Garbage(Vec<u8>),
    /// These bytes are sent to the host inside the next send exchange (now, if one
    /// is in progress).
    DuringSend(Vec<u8>, SendPoint),
    /// The next `n` bytes to the host are lost on the line.
    DropToHost(usize),
    /// The next `n` bytes from the host are lost on the line.
    DropToModem(usize),
    /// The next host name query the modem's resolver gets fails with the modem's
    /// DNS error, whatever the name.
    DnsFail,
}

/// When a scheduled fault happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// At this moment of the simulation's clock (on the first step at or after it).
    At(Instant),
    /// When a command line starting with `prefix` arrives for the `nth` time
    /// (0: the next one), before the modem acts on it.
    Command {
        /// Start of the command line, compared without regard to case.
        prefix: String,
        /// How many matching lines to let pass first.
        nth: u32,
    },
    /// When the next send exchange reaches this point (inside the exchange, where
    /// the host is writing the payload or waiting for the result).
    Send(SendPoint),
}

/// Faults waiting for their trigger.
#[derive(Clone, Debug, Default)]
pub struct FaultSchedule {
    pending: Vec<(Trigger, Fault)>,
    fired: Vec<(Instant, Fault)>,
}

impl FaultSchedule {
    /// An empty schedule.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedule `fault` at `at`.
    pub fn at(&mut self, at: Instant, fault: Fault) {
        self.pending.push((Trigger::At(at), fault));
    }

    /// Schedule `fault` for the next command line starting with `prefix`.
    pub fn on_command(&mut self, prefix: &str, fault: Fault) {
        self.on_nth_command(prefix, 0, fault);
    }

    /// Schedule `fault` for the command line starting with `prefix` after `nth`
    /// matching lines have passed.
    pub fn on_nth_command(&mut self, prefix: &str, nth: u32, fault: Fault) {
        self.pending.push((
            Trigger::Command {
                prefix: prefix.to_string(),
                nth,
            },
            fault,
        ));
    }

    /// Schedule `fault` inside the next send exchange, at `point`.
    pub fn in_next_send(&mut self, point: SendPoint, fault: Fault) {
        self.pending.push((Trigger::Send(point), fault));
    }

    /// Schedule with an explicit trigger.
    pub fn add(&mut self, trigger: Trigger, fault: Fault) {
        self.pending.push((trigger, fault));
    }

    /// Faults not fired yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Faults fired so far, with when.
    pub fn fired(&self) -> &[(Instant, Fault)] {
        &self.fired
    }

    /// The earliest time-triggered fault.
    pub fn next_at(&self) -> Option<Instant> {
        self.pending
            .iter()
            .filter_map(|(t, _)| match t {
                Trigger::At(at) => Some(*at),
                Trigger::Command { .. } | Trigger::Send(_) => None,
            })
            .min()
    }

    /// Take the faults due at `now`, in the order they were scheduled.
    pub fn due(&mut self, now: Instant) -> Vec<Fault> {
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(t, _)| matches!(t, Trigger::At(at) if *at <= now));
        self.pending = keep;
        let out: Vec<Fault> = due.into_iter().map(|(_, f)| f).collect();
        self.fired.extend(out.iter().map(|f| (now, f.clone())));
        out
    }

    /// A command line arrived: take the faults it triggers.
    pub fn on_line(&mut self, now: Instant, line: &[u8]) -> Vec<Fault> {
        let mut out = Vec::new();
        let mut keep = Vec::new();
        for (trigger, fault) in std::mem::take(&mut self.pending) {
            let fire = match &trigger {
                Trigger::Command { prefix, nth } => {
                    let p = prefix.as_bytes();
                    let matches = line
                        .get(..p.len())
                        .is_some_and(|l| l.eq_ignore_ascii_case(p));
                    match (matches, *nth) {
                        (true, 0) => true,
                        (true, n) => {
                            keep.push((
                                Trigger::Command {
                                    prefix: prefix.clone(),
                                    nth: n - 1,
                                },
                                fault,
                            ));
                            continue;
                        }
                        (false, _) => false,
                    }
                }
                Trigger::At(_) | Trigger::Send(_) => false,
            };
            if fire {
                self.fired.push((now, fault.clone()));
                out.push(fault);
            } else {
                keep.push((trigger, fault));
            }
        }
        self.pending = keep;
        out
    }
}

impl FaultSchedule {
    /// A send exchange reached `point`: take the faults waiting for it.
    pub fn on_send(&mut self, now: Instant, point: SendPoint) -> Vec<Fault> {
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(t, _)| *t == Trigger::Send(point));
        self.pending = keep;
        let out: Vec<Fault> = due.into_iter().map(|(_, f)| f).collect();
        self.fired.extend(out.iter().map(|f| (now, f.clone())));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_triggers_count_matches() {
        let mut s = FaultSchedule::new();
        s.on_nth_command("AT+X", 1, Fault::SendFail);
        s.at(Instant::from_millis(5), Fault::Reboot);
        let t = Instant::ZERO;
        assert!(s.on_line(t, b"at+x=1").is_empty());
        assert!(s.on_line(t, b"AT+Y").is_empty());
        assert_eq!(s.on_line(t, b"AT+X=2"), vec![Fault::SendFail]);
        assert_eq!(s.next_at(), Some(Instant::from_millis(5)));
        assert!(s.due(Instant::from_millis(4)).is_empty());
        assert_eq!(s.due(Instant::from_millis(9)), vec![Fault::Reboot]);
        assert_eq!(s.pending(), 0);
        assert_eq!(s.fired().len(), 2);
        s.in_next_send(SendPoint::BeforeResult, Fault::Reboot);
        assert!(s.on_send(t, SendPoint::AfterPrompt).is_empty());
        assert_eq!(s.on_send(t, SendPoint::BeforeResult), vec![Fault::Reboot]);
    }
}
