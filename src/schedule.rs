//! Choosing the next command: the driver's scheduler.
//!
//! One command at a time, chosen by priority: closes (they free modem resources),
//! the queued send, reads of buffered datagrams, idle hints of sockets in queue
//! mode, opens, network bring-up, and last the background polls. User traffic
//! therefore never waits behind polling, and bring-up runs only while a socket waits
//! for it.

use crate::command::{Completion, Outcome};
use crate::error::Reason;
use crate::fmt::warning;
use crate::network::NetState;
use crate::profile::{Command, Final, Op, Profile};
use crate::socket::{Connecting, IdleHint, Phase, TxState};
use crate::state::{connected, Scratch, State};
use crate::time::Instant;

impl<P: Profile, const N: usize, const RX: usize> State<P, N, RX> {
    /// True when some socket (or the host name query) waits for the network.
    fn network_wanted(&self) -> bool {
        self.resolver.wants_network()
            || self
                .sockets
                .iter()
                .any(|s| matches!(s.phase, Phase::Connecting(Connecting::Network, _)))
    }

    /// Fail connects whose time is up; start the clock on new ones.
    pub fn check_deadlines(&mut self) {
        self.check_registration();
        let now = self.now;
        let timeout = self.config.connect_timeout_ms;
        let net_reason = match self.net.state {
            NetState::Unknown | NetState::Probing { .. } | NetState::Configuring(_) => {
                Reason::ModemNotReady
            }
            NetState::Sim { .. } => Reason::SimNotReady,
            NetState::Registering { .. } => Reason::NotRegistered,
            NetState::Deactivating | NetState::Attaching { .. } | NetState::Activating { .. } => {
                Reason::PdpActivationFailed
            }
            NetState::Ready => Reason::Timeout,
        };
        self.check_resolve_deadline(net_reason);
        let busy_slot = self.engine.inflight.and(self.op_slot);
        for (slot, s) in self.sockets.iter_mut().enumerate() {
            let Phase::Connecting(stage, deadline) = s.phase else {
                continue;
            };
            let Some(deadline) = deadline else {
                s.phase = Phase::Connecting(stage, Some(now.after(timeout)));
                continue;
            };
            if busy_slot == Some(slot) {
                continue; // its command is in flight; the completion decides
            }
            let open_expired = matches!(stage, Connecting::OpenResult(t) if now >= t);
            if now >= deadline || open_expired {
                let reason = match stage {
                    Connecting::Network => net_reason,
                    _ => Reason::Timeout,
                };
                s.phase = Phase::ConnectFailed(reason);
            }
        }
    }

    /// Choose the next command, write its line into the engine and start it.
    /// User traffic goes first: closes, then sends, then reads, then idle hints,
    /// then opens and bring-up.
    pub fn start_next(&mut self) {
        if !self.engine.is_idle(self.now) {
            return;
        }
        let Some((op, slot)) = self.choose() else {
            return;
        };
        let config = &self.config;
        let cmd = match op {
            Op::Init(step) => Command::Init { step, config },
            Op::PdpStatus | Op::PdpActivate | Op::PdpDeactivate => Command::Pdp { op, config },
            Op::Open { handle, step } => {
                let s = slot.and_then(|i| self.sockets.get(i));
                let local_port = s.filter(|s| s.reuse_port).and_then(|s| s.local_port);
                if s.is_some_and(|s| s.unconnected) {
                    Command::OpenUnconnected {
                        handle,
                        step,
                        local_port,
                        family: s.map(|s| s.family).unwrap_or_default(),
                        config,
                    }
                } else {
                    Command::Open {
                        handle,
                        step,
                        host: s.map(|s| s.host.as_str()).unwrap_or(""),
                        port: s.map(|s| s.port).unwrap_or(0),
                        local_port,
                        config,
                    }
                }
            }
            Op::Send { handle, len } => match self.tx_to {
                Some(to) => Command::SendTo { handle, len, to },
                None => Command::Plain(op),
            },
            Op::Resolve => Command::Resolve {
                host: self.resolver.host.as_str(),
                family: self.resolver.family,
                config,
            },
            other => Command::Plain(other),
        };
        let line = &mut self.engine.line;
        // The line buffer is filled to capacity and truncated to what was written.
        let _ = line.resize(line.capacity(), 0);
        let written = self.profile.format(&cmd, line.as_mut_slice());
        match written {
            Ok(n) if n <= line.len() => line.truncate(n),
            _ => {
                line.clear();
                self.refuse(op, slot);
                return;
            }
        }
        let timeout = self.profile.timeout_ms(op);
        self.engine.start(op, self.now, timeout);
        self.op_slot = slot;
        self.scratch = Scratch::default();
        if let Some(s) = slot.and_then(|i| self.sockets.get_mut(i)) {
            match op {
                Op::Open { .. } => s.modem_open = true,
                Op::Send { len, .. } => s.tx = TxState::InFlight(len),
                Op::IdleHint { .. } => s.idle_hint = IdleHint::InFlight,
                _ => {}
            }
        }
        if op == Op::Resolve {
            self.resolver.phase = crate::resolve::Phase::InFlight;
        }
    }

    /// The profile cannot format `op`: fail what waited for it.
    fn refuse(&mut self, op: Op, slot: Option<usize>) {
        warning!("profile cannot format {:?}", op);
        let socket = slot.and_then(|i| self.sockets.get_mut(i));
        match (op, socket) {
            (Op::Send { .. }, Some(s)) => {
                s.tx = TxState::Done(Err(Reason::SendFailed));
                self.tx_owner = None;
                self.tx_payload.clear();
            }
            (Op::Read { .. }, Some(s)) => s.pending_read = false,
            (Op::Close { .. }, Some(_)) => {
                // Nothing can be closed that cannot be named: forget it locally.
                self.op_slot = slot;
                self.complete(Completion {
                    op,
                    outcome: Outcome::Final(Final::Ok),
                });
            }
            (Op::LocalPort { .. }, Some(s)) => s.phase = connected(s),
            (Op::CloseAll, _) => self.sweep_handles = false,
            // A hint the profile cannot write is simply not given.
            (Op::IdleHint { .. }, Some(s)) => s.idle_hint = IdleHint::Sent,
            (Op::Open { .. }, Some(s)) => s.phase = Phase::ConnectFailed(Reason::InvalidHost),
            (Op::Resolve, _) => {
                self.resolver.phase = crate::resolve::Phase::Done(Err(Reason::InvalidHost))
            }
            _ => self.fail_bringup(Reason::ModemError(0)),
        }
    }

    fn choose(&mut self) -> Option<(Op, Option<usize>)> {
        // 1. Closes free modem resources. A close with nothing left in the modem
        // (its open failed to be written, the modem restarted), or with no handle
        // to name it by (an open that never told its handle), ends here.
        let busy = self.engine.inflight.and(self.op_slot);
        for (i, s) in self.sockets.iter_mut().enumerate() {
            let nothing_to_close = !s.modem_open || s.handle.is_none();
            if nothing_to_close && busy != Some(i) {
                match s.phase {
                    Phase::Closing(then) => s.phase = then.phase(),
                    Phase::Connecting(Connecting::CloseLeftover, d) => {
                        s.phase = Phase::Connecting(Connecting::Network, d)
                    }
                    _ => {}
                }
                if s.handle.is_none() {
                    s.modem_open = false;
                }
            }
        }
        for (i, s) in self.sockets.iter().enumerate() {
            let closing = matches!(
                s.phase,
                Phase::Closing(_) | Phase::Connecting(Connecting::CloseLeftover, _)
            );
            if closing && s.modem_open {
                if let Some(handle) = s.handle {
                    return Some((Op::Close { handle }, Some(i)));
                }
            }
        }
        // 1b. Closing all handles nobody knows, once nothing of ours would go too.
        if self.sweep_due() {
            return Some((Op::CloseAll, None));
        }
        // 2. The queued send.
        if let Some((op, i)) = self.queued_send() {
            return Some((op, Some(i)));
        }
        // 3. Buffered datagrams waiting in the modem.
        for (i, s) in self.sockets.iter().enumerate() {
            if s.pending_read && matches!(s.phase, Phase::Connected | Phase::Shutdown) {
                if let Some(handle) = s.handle {
                    return Some((Op::Read { handle }, Some(i)));
                }
            }
        }
        // 4. Idle hints of sockets in queue mode: after their own traffic (the send
        // and reads above), so that the hint is the last word of the exchange.
        for (i, s) in self.sockets.iter().enumerate() {
            if let Some(handle) = s.idle_hint_due() {
                return Some((Op::IdleHint { handle }, Some(i)));
            }
        }
        // 5. The host name query, opens and local-port queries, once the network is
        // ready.
        if self.net.is_ready() && self.resolver.wants_network() {
            return Some((Op::Resolve, None));
        }
        if self.net.is_ready() {
            for (i, s) in self.sockets.iter_mut().enumerate() {
                if let Phase::Connecting(Connecting::Network, d) = s.phase {
                    s.phase = Phase::Connecting(Connecting::Open(0), d);
                }
                match s.phase {
                    Phase::Connecting(Connecting::Open(step), _) => {
                        if step == 0 {
                            s.handle = self.profile.handle_for_slot(i);
                        }
                        let handle = s.handle.unwrap_or(Op::NEW_HANDLE);
                        return Some((Op::Open { handle, step }, Some(i)));
                    }
                    Phase::Connecting(Connecting::LocalPort, _) => {
                        if let Some(handle) = s.handle {
                            return Some((Op::LocalPort { handle }, Some(i)));
                        }
                    }
                    _ => {}
                }
            }
        }
        // 6. Bring-up, only while someone waits for it.
        if self.network_wanted() {
            if self.net.started.is_none() {
                self.net.started = Some(self.now);
            }
            if let Some(op) = self.net.next_op(self.now, self.profile.init_steps()) {
                return Some((op, None));
            }
        }
        // 7. Background polls, last of all.
        if self.signal_due && self.net.is_ready() {
            self.signal_due = false;
            return Some((Op::SignalQuality, None));
        }
        self.background_poll().map(|op| (op, None))
    }

    /// The send that can start now: the buffer's owner, connected, with a handle.
    fn queued_send(&self) -> Option<(Op, usize)> {
        let i = self.tx_owner?;
        let s = self.sockets.get(i)?;
        match (s.tx, s.phase, s.handle) {
            (TxState::Queued(len), Phase::Connected, Some(handle)) => {
                Some((Op::Send { handle, len }, i))
            }
            _ => None,
        }
    }

    /// True when the modem may hold handles no socket knows, and nothing of the
    /// driver's would go with them if the modem closed all its sockets.
    fn sweep_due(&self) -> bool {
        self.sweep_handles && self.net.is_ready() && self.sockets.iter().all(|s| !s.modem_open)
    }

    /// True when a command is waiting to be started.
    fn work_waiting(&self) -> bool {
        self.sweep_due()
            || self.queued_send().is_some()
            || (self.resolver.wants_network() && self.net.is_ready())
            || self.sockets.iter().any(|s| {
                // Exactly what `choose` would start now (anything else waits for an
                // event, and counting it would make `poll_at` say "now" forever).
                (s.pending_read && matches!(s.phase, Phase::Connected | Phase::Shutdown))
                    || s.idle_hint_due().is_some()
                    || matches!(s.phase, Phase::Closing(_))
                    || matches!(
                        s.phase,
                        Phase::Connecting(
                            Connecting::CloseLeftover | Connecting::Open(_) | Connecting::LocalPort,
                            _
                        )
                    )
            })
    }

    /// When the state next needs a poll without new bytes.
    ///
    /// Two kinds of time: deadlines, which fall due whatever the engine does (the
    /// exchange in flight, connects, the registration grace, a DNS query), and
    /// times at which a new command could start (queued work, bring-up retries,
    /// the background poll), which count only once the engine is free: not while
    /// a command is in flight, and not before the quiet period after a timeout
    /// ends. Counting the second kind early made `poll_at` say "now" in a loop.
    pub fn wake_at(&self) -> Option<Instant> {
        use crate::time::earliest;
        let mut at = earliest(self.engine.deadline(), self.registration_deadline());
        at = earliest(at, self.resolver.deadline());
        // The socket whose command is in flight waits for that command (its
        // deadline is the engine's); `check_deadlines` skips it too.
        let busy = self.engine.inflight.and(self.op_slot);
        for (i, s) in self.sockets.iter().enumerate() {
            if busy == Some(i) {
                continue;
            }
            if let Phase::Connecting(stage, d) = s.phase {
                at = earliest(at, d);
                if let Connecting::OpenResult(t) = stage {
                    at = earliest(at, Some(t));
                }
            }
        }
        if self.engine.inflight.is_none() {
            let free_at = self.engine.quiet_until.unwrap_or(self.now).max(self.now);
            let mut start = self.background_poll_at();
            if self.work_waiting() {
                start = Some(self.now);
            }
            if self.network_wanted() {
                start = earliest(start, self.net.wake_at());
            }
            at = earliest(at, start.map(|t| t.max(free_at)));
        }
        at
    }
}
