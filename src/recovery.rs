//! Keeping the link up: registration watch, background polls, socket loss.
//!
//! URCs are hints: the driver acts on them at once, and a cheap, bounded poll
//! (registration, signal, and in buffer-access mode a read per socket) catches what
//! a missed URC would hide. Polls run only while a socket is connected, never
//! while a command is in flight, never before user traffic, and not at all while
//! a socket is in queue mode.

use crate::error::Reason;
use crate::events::NetEvent;
use crate::network::NetState;
use crate::profile::{Op, Profile, RegStatus};
use crate::socket::Phase;
use crate::state::State;
use crate::time::Instant;

impl<P: Profile, const N: usize, const RX: usize> State<P, N, RX> {
    /// A registration status arrived (URC or query answer).
    pub(crate) fn on_registration(&mut self, stat: RegStatus) {
        let was = self.net.registration.map(|(s, _)| s.is_registered());
        self.net.registration = Some((stat, self.now));
        if stat.is_registered() {
            if was == Some(false) {
                self.events.push(NetEvent::Registered);
            }
            self.reg_lost_at = None;
        } else if was != Some(false) {
            self.events.push(NetEvent::RegistrationLost);
            if self.net.is_ready() && self.reg_lost_at.is_none() {
                self.reg_lost_at = Some(self.now);
            }
        }
    }

    /// The packet data context is up: sockets can open; polling starts.
    pub(crate) fn link_ready(&mut self) {
        self.net.state = NetState::Ready;
        self.net.last_failure = None;
        self.events.push(NetEvent::DataReady);
        if self.config.poll_interval_ms > 0 {
            self.next_poll = Some(self.now.after(self.config.poll_interval_ms));
        }
        if self
            .net
            .registration
            .is_some_and(|(s, _)| !s.is_registered())
        {
            self.reg_lost_at.get_or_insert(self.now);
        }
    }

    /// Report every socket the modem holds as lost.
    pub(crate) fn lose_open_sockets(&mut self, reason: Reason) {
        for slot in 0..N {
            match self.sockets.get_mut(slot) {
                Some(s) if s.modem_open => s.lose(reason),
                _ => continue,
            }
            self.release_tx(slot);
        }
    }

    /// Bring-up starts again from scratch: handles the modem assigned are
    /// forgotten, because the profile's bring-up closes whatever the modem still
    /// holds and may hand the same numbers to new sockets. (Host-chosen handles
    /// stay: their close is still owed and is sent on the next connect.)
    pub(crate) fn forget_assigned_handles(&mut self) {
        for (slot, s) in self.sockets.iter_mut().enumerate() {
            if self.profile.handle_for_slot(slot).is_none() {
                s.handle = None;
                s.modem_open = false;
            }
        }
        // Bring-up closes them all anyway.
        self.sweep_handles = false;
    }

    /// Registration lost for longer than the grace period: the sockets go, and the
    /// next connect waits for registration again.
    pub(crate) fn check_registration(&mut self) {
        let Some(since) = self.reg_lost_at else {
            return;
        };
        if self.now.since(since) < u64::from(self.config.registration_grace_ms) {
            return;
        }
        self.reg_lost_at = None;
        self.lose_open_sockets(Reason::RegistrationLost);
        self.events.push(NetEvent::RegistrationGaveUp);
        if self.net.is_ready() {
            self.net.wait_for_registration(self.now);
            self.next_poll = None;
        }
    }

    /// The background poll due now, if any. Queues buffered reads as a side effect.
    pub(crate) fn background_poll(&mut self) -> Option<Op> {
        let due = self.next_poll.is_some_and(|t| self.now >= t);
        if !due || !self.net.is_ready() {
            return None;
        }
        let connected = self.sockets.iter().any(|s| s.phase == Phase::Connected);
        let quiet = self.sockets.iter().any(|s| s.rx_off);
        if !connected || quiet {
            // Nothing to watch, or the application asked for silence: look again
            // one interval later.
            self.next_poll = Some(self.now.after(self.config.poll_interval_ms));
            return None;
        }
        if self.profile.reads_buffered_data() {
            for s in self.sockets.iter_mut() {
                if s.phase == Phase::Connected {
                    s.pending_read = true;
                }
            }
        }
        self.next_poll = Some(self.now.after(self.config.poll_interval_ms));
        self.signal_due = true;
        Some(Op::Registration)
    }

    /// When the registration grace runs out, if registration is lost.
    pub(crate) fn registration_deadline(&self) -> Option<Instant> {
        self.reg_lost_at
            .map(|t| t.after(self.config.registration_grace_ms))
    }

    /// When the next background poll may start, if the link is up.
    pub(crate) fn background_poll_at(&self) -> Option<Instant> {
        self.next_poll.filter(|_| self.net.is_ready())
    }
}
