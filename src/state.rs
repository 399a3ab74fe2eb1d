//! Everything the driver knows, and the two things that change it: events from the
//! modem ([`State::on_event`]) and the choice of the next command
//! ([`State::next_command`]). No I/O here: [`crate::Driver::poll`] moves the bytes.

use core::net::SocketAddr;

use crate::command::{Completion, Engine, Outcome};
use crate::error::Reason;
use crate::events::NetEvent;
use crate::fmt::{debug, warning};
use crate::network::{
    NetInfo, NetState, ACTIVATION_ATTEMPTS, ACTIVATION_RETRY_MS, PROBE_INTERVAL_MS,
    REGISTRATION_RETRY_MAX_MS, SIM_RETRY_MS,
};
use crate::profile::{Event, Final, Info, ModemHandle, Op, Profile, Urc};
use crate::resolve::Resolver;
use crate::socket::{Connecting, IdleHint, Phase, Socket, TxState};
use crate::time::Instant;
use crate::Config;

/// Largest datagram the driver's send buffer holds; the MTU is the smaller of this
/// and the profile's limit.
pub const MAX_PAYLOAD: usize = 1460;

/// Driver-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines the profile did not recognise.
    pub unknown_lines: u32,
    /// Echoed command lines.
    pub echo_lines: u32,
    /// Datagrams for a handle no open socket owns.
    pub stray_datagrams: u32,
    /// Datagrams dropped because a socket's ring was full.
    pub dropped_ring_full: u32,
    /// Datagrams dropped because they were larger than the receive window.
    pub dropped_too_large: u32,
    /// Errors reported by the UART.
    pub uart_errors: u32,
    /// Modem bytes received.
    pub rx_bytes: u64,
    /// Bytes written to the modem.
    pub tx_bytes: u64,
    /// Idle hints ([`Op::IdleHint`], queue mode) the modem refused or did not
    /// answer. Nothing failed for the application: the hint is best effort.
    pub idle_hints_refused: u32,
}

impl Stats {
    /// All counters at zero.
    pub const ZERO: Stats = Stats {
        unknown_lines: 0,
        echo_lines: 0,
        stray_datagrams: 0,
        dropped_ring_full: 0,
        dropped_too_large: 0,
        uart_errors: 0,
        rx_bytes: 0,
        tx_bytes: 0,
        idle_hints_refused: 0,
    };
}

/// Facts gathered from the information lines of the command in flight.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Scratch {
    sim_ready: Option<bool>,
    pdp_active: bool,
    opened: Option<ModemHandle>,
    local_port: Option<u16>,
    no_data: bool,
    datagram: bool,
}

impl Scratch {
    pub(crate) const EMPTY: Scratch = Scratch {
        sim_ready: None,
        pdp_active: false,
        opened: None,
        local_port: None,
        no_data: false,
        datagram: false,
    };
}

pub(crate) struct State<P: Profile, const N: usize, const RX: usize> {
    pub profile: P,
    pub config: Config,
    pub now: Instant,
    pub engine: Engine,
    pub net: NetInfo,
    pub sockets: [Socket<RX>; N],
    pub tx_payload: heapless::Vec<u8, MAX_PAYLOAD>,
    /// The socket whose payload sits in `tx_payload`.
    pub tx_owner: Option<usize>,
    /// The destination of the payload in `tx_payload` (a send on an unconnected
    /// socket); `None` for a connected socket's send.
    pub tx_to: Option<SocketAddr>,
    /// The host name query.
    pub resolver: Resolver,
    /// The socket the command in flight works on.
    pub op_slot: Option<usize>,
    pub scratch: Scratch,
    pub stats: Stats,
    /// When the next background poll is due (set when the link becomes ready).
    pub next_poll: Option<Instant>,
    /// Since when registration has been lost while the link was ready.
    pub reg_lost_at: Option<Instant>,
    /// Network events for the application.
    pub events: crate::events::EventQueue,
    /// A signal quality query follows the registration poll.
    pub signal_due: bool,
    /// The modem may hold a handle no socket knows (an open that failed before
    /// the modem told its handle, a close refused twice): close everything once the
    /// driver holds nothing (only where the profile can, `can_close_all`).
    pub sweep_handles: bool,
}

impl<P: Profile, const N: usize, const RX: usize> State<P, N, RX> {
    pub const fn new(profile: P, config: Config) -> Self {
        State {
            profile,
            config,
            now: Instant::ZERO,
            engine: Engine::new(),
            net: NetInfo::new(),
            sockets: [const { Socket::new() }; N],
            tx_payload: heapless::Vec::new(),
            tx_owner: None,
            tx_to: None,
            resolver: Resolver::new(),
            op_slot: None,
            scratch: Scratch::EMPTY,
            stats: Stats::ZERO,
            next_poll: None,
            reg_lost_at: None,
            events: crate::events::EventQueue::new(),
            signal_due: false,
            sweep_handles: false,
        }
    }

    /// Back to the state of [`State::new`], field by field (no big temporary).
    pub fn reset(&mut self, profile: P, config: Config) {
        self.profile = profile;
        self.config = config;
        self.now = Instant::ZERO;
        self.engine = Engine::new();
        self.net = NetInfo::new();
        for s in self.sockets.iter_mut() {
            s.reset();
        }
        self.tx_payload.clear();
        self.tx_owner = None;
        self.tx_to = None;
        self.resolver = Resolver::new();
        self.op_slot = None;
        self.scratch = Scratch::EMPTY;
        self.stats = Stats::ZERO;
        self.next_poll = None;
        self.reg_lost_at = None;
        self.events = crate::events::EventQueue::new();
        self.signal_due = false;
        self.sweep_handles = false;
    }

    /// The framer skipped a datagram too large for the receive window.
    pub fn datagram_dropped(&mut self) {
        self.scratch.datagram = true;
        self.stats.dropped_too_large += 1;
    }

    fn slot_of(&self, handle: ModemHandle) -> Option<usize> {
        self.sockets.iter().position(|s| owns(s, handle))
    }

    fn socket_of(&mut self, handle: ModemHandle) -> Option<&mut Socket<RX>> {
        self.sockets.iter_mut().find(|s| owns(s, handle))
    }

    /// Act on one event from the modem.
    pub fn on_event(&mut self, event: Event<'_>) {
        match event {
            Event::Final(result) => {
                let abort = self.profile.send_abort();
                if let Some(c) = self.engine.on_final(result, self.now, abort) {
                    self.complete(c);
                }
            }
            Event::Prompt => {
                self.engine.on_prompt();
            }
            Event::Echo => self.stats.echo_lines += 1,
            Event::Info(info) => self.on_info(info),
            Event::Urc(urc) => self.on_urc(urc),
            Event::Datagram { handle, data, from } => self.on_datagram(handle, data, from),
            Event::Unknown => {
                self.stats.unknown_lines += 1;
                self.engine.frame_lost();
            }
        }
    }

    fn on_info(&mut self, info: Info<'_>) {
        match info {
            Info::SimReady(ready) => self.scratch.sim_ready = Some(ready),
            Info::Registration(stat) => self.on_registration(stat),
            Info::PdpActive { cid, ip } if cid == self.config.context_id => {
                self.scratch.pdp_active = true;
                let mut s = heapless::String::new();
                // Longer than any address text: keep no address rather than half of one.
                if s.push_str(ip).is_ok() {
                    self.net.local_ip = Some((s, self.now));
                }
            }
            Info::PdpActive { .. } => {}
            Info::SocketOpened(h) => self.scratch.opened = Some(h),
            Info::LocalPort(p) => self.scratch.local_port = Some(p),
            Info::NoData => self.scratch.no_data = true,
            Info::SignalQuality { rssi, ber } => self.net.signal = Some(((rssi, ber), self.now)),
            Info::ResolvedAddress(ip) => self.on_resolved_address(ip),
            Info::Other => {}
        }
    }

    fn on_urc(&mut self, urc: Urc) {
        match urc {
            Urc::Boot | Urc::PoweredDown => self.modem_restarted(),
            Urc::AppReady => {
                if let NetState::Probing { .. } = self.net.state {
                    self.net.state = NetState::Probing { next: self.now };
                }
            }
            Urc::Registration(stat) => {
                self.on_registration(stat);
                if stat.is_registered() {
                    if let NetState::Registering { .. } = self.net.state {
                        self.net.state = NetState::Attaching { attempts: 0 };
                    }
                }
            }
            Urc::OpenResult { handle, result } => {
                let Some(slot) = self.slot_of(handle) else {
                    self.stats.unknown_lines += 1;
                    return;
                };
                let can_query = self.profile.can_query_local_port();
                let Some(s) = self.sockets.get_mut(slot) else {
                    return;
                };
                if let Phase::Connecting(Connecting::OpenResult(_), deadline) = s.phase {
                    s.phase = match result {
                        Ok(()) if can_query => Phase::Connecting(Connecting::LocalPort, deadline),
                        Ok(()) => connected(s),
                        Err(r) => open_failed(s, r, deadline),
                    };
                }
            }
            Urc::Closed(handle) => {
                if let Some(slot) = self.slot_of(handle) {
                    if let Some(s) = self.sockets.get_mut(slot) {
                        s.lose(Reason::SocketClosed);
                    }
                    self.release_tx(slot);
                }
            }
            Urc::PdpDeactivated(cid) if cid != self.config.context_id => {}
            Urc::PdpDeactivated(_) => {
                self.events.push(NetEvent::PdpDeactivated);
                self.lose_open_sockets(Reason::PdpDeactivated);
                self.net.local_ip = None;
                if !matches!(self.net.state, NetState::Unknown | NetState::Probing { .. }) {
                    self.net.state = NetState::Deactivating;
                }
            }
            Urc::DataPending(handle) => {
                if let Some(s) = self.socket_of(handle) {
                    s.pending_read = true;
                }
            }
            Urc::ResolveResult(result) => self.on_resolve_result(result),
            Urc::ResolvedAddress(ip) => self.on_resolved_address(ip),
        }
    }

    fn on_datagram(&mut self, handle: ModemHandle, data: &[u8], from: Option<SocketAddr>) {
        self.scratch.datagram = true;
        let Some(s) = self.socket_of(handle) else {
            self.stats.stray_datagrams += 1;
            return;
        };
        // Not before the open result: a modem reports the open before any data, so
        // data earlier belongs to a previous socket on the same handle (one whose
        // close the modem refused), not to this one.
        let accepting = matches!(
            s.phase,
            Phase::Connected | Phase::Shutdown | Phase::Connecting(Connecting::LocalPort, _)
        );
        // A connected socket only hears from its remote: its ring keeps no sender
        // (so that it holds exactly as many datagrams as before senders were kept).
        let from = from.filter(|_| s.unconnected);
        if !accepting {
            self.stats.stray_datagrams += 1;
        } else if !s.rx.push_from(data, from) {
            s.stats.dropped_ring_full += 1;
            self.stats.dropped_ring_full += 1;
        }
    }

    /// The modem restarted or went away: everything it held is gone.
    pub fn modem_restarted(&mut self) {
        if let Some(c) = self.engine.abort_all() {
            self.complete(c);
        }
        let was_up = !matches!(self.net.state, NetState::Unknown | NetState::Probing { .. });
        let mut lost_any = false;
        for (slot, s) in self.sockets.iter_mut().enumerate() {
            if s.modem_open {
                lost_any = true;
                s.lose(Reason::ModemRebooted);
                s.modem_open = false;
                if self.profile.handle_for_slot(slot).is_none() {
                    s.handle = None;
                }
            }
            if let Phase::Closing(then) = s.phase {
                s.phase = then.phase();
            }
            if let Phase::Connecting(Connecting::CloseLeftover, d) = s.phase {
                s.phase = Phase::Connecting(Connecting::Network, d);
            }
        }
        self.tx_owner = None;
        self.tx_payload.clear();
        self.tx_to = None;
        self.fail_resolve(Reason::ModemRebooted, false);
        if was_up || lost_any {
            self.net.reboots += 1;
            self.events.push(NetEvent::ModemRebooted);
            warning!("modem restarted");
        }
        self.next_poll = None;
        self.reg_lost_at = None;
        self.net.reset();
        self.net.state = NetState::Probing { next: self.now };
    }

    /// The send buffer of a socket that is lost or closed is freed, unless its send
    /// is the exchange in flight.
    pub(crate) fn release_tx(&mut self, slot: usize) {
        if self.tx_owner == Some(slot) && !self.sending_from(slot) {
            self.tx_owner = None;
            self.tx_payload.clear();
        }
    }

    /// True while the exchange in flight is a send from `slot`. Its payload stays
    /// owed to the modem (which may ask for it whatever became of the socket
    /// meanwhile) until the exchange ends, even once the socket's own send state
    /// says the send failed.
    pub(crate) fn sending_from(&self, slot: usize) -> bool {
        self.op_slot == Some(slot)
            && self
                .engine
                .inflight
                .is_some_and(|f| matches!(f.op, Op::Send { .. }))
    }

    /// Bring-up failed: every socket waiting for the network fails with `reason`.
    pub(crate) fn fail_bringup(&mut self, reason: Reason) {
        debug!("bring-up failed: {:?}", reason);
        self.net.last_failure = Some(reason);
        self.net.reset();
        self.fail_resolve(reason, true);
        for s in self.sockets.iter_mut() {
            if let Phase::Connecting(Connecting::Network, _) = s.phase {
                s.phase = Phase::ConnectFailed(reason);
            }
        }
    }

    /// Apply the end of an exchange.
    pub fn complete(&mut self, c: Completion) {
        let ok = matches!(c.outcome, Outcome::Final(f) if f.is_success());
        let failure = match c.outcome {
            Outcome::Final(Final::CmeError(n)) => Reason::ModemError(n),
            Outcome::Final(Final::SendFail) => Reason::SendFailed,
            Outcome::Final(_) => Reason::ModemError(0),
            Outcome::Timeout => Reason::Timeout,
            Outcome::Aborted => Reason::ModemRebooted,
        };
        let scratch = core::mem::take(&mut self.scratch);
        let slot = self.op_slot.take();
        let now = self.now;
        if c.outcome == Outcome::Aborted && slot.is_none() {
            // A bring-up step cut short by a modem restart: nothing failed, the
            // restart itself sends bring-up back to the probe.
            return;
        }
        match c.op {
            Op::Probe => {
                self.net.state = if ok {
                    NetState::Configuring(0)
                } else {
                    NetState::Probing {
                        next: now.after(PROBE_INTERVAL_MS),
                    }
                };
            }
            Op::Init(n) => {
                if ok {
                    self.net.state = NetState::Configuring(n + 1);
                } else {
                    self.fail_bringup(failure);
                }
            }
            Op::SimStatus => {
                if ok && scratch.sim_ready == Some(true) {
                    self.net.wait_for_registration(now);
                } else {
                    self.net.last_failure = Some(Reason::SimNotReady);
                    self.net.state = NetState::Sim {
                        next: now.after(SIM_RETRY_MS),
                    };
                }
            }
            Op::Registration => {
                let registered = self
                    .net
                    .registration
                    .is_some_and(|(s, _)| s.is_registered());
                let registering = matches!(self.net.state, NetState::Registering { .. });
                if registering && ok && registered {
                    self.net.state = NetState::Attaching { attempts: 0 };
                } else if registering {
                    self.net.last_failure = Some(Reason::NotRegistered);
                    self.net.state = NetState::Registering {
                        next: now.after(self.net.reg_retry_ms),
                    };
                    self.net.reg_retry_ms = self
                        .net
                        .reg_retry_ms
                        .saturating_mul(2)
                        .min(REGISTRATION_RETRY_MAX_MS);
                }
            }
            Op::PdpDeactivate => self.net.state = NetState::Attaching { attempts: 0 },
            Op::PdpStatus => {
                let attempts = match self.net.state {
                    NetState::Attaching { attempts } => attempts,
                    _ => 0,
                };
                if ok && scratch.pdp_active {
                    self.link_ready();
                } else if !ok {
                    // No answer or an error: ask again (bounded by the connect
                    // deadline and the consecutive-timeout rule).
                    self.net.state = NetState::Attaching { attempts };
                } else if attempts < ACTIVATION_ATTEMPTS {
                    self.net.local_ip = None;
                    let pause = if attempts == 0 {
                        0
                    } else {
                        ACTIVATION_RETRY_MS
                    };
                    self.net.state = NetState::Activating {
                        attempt: attempts + 1,
                        next: now.after(pause),
                    };
                } else {
                    self.fail_bringup(Reason::PdpActivationFailed);
                }
            }
            Op::PdpActivate => {
                let attempts = match self.net.state {
                    NetState::Activating { attempt, .. } => attempt,
                    _ => 1,
                };
                self.net.state = NetState::Attaching { attempts };
            }
            Op::Open { step, .. } => self.open_done(slot, step, ok, failure, scratch),
            Op::LocalPort { .. } => {
                if let Some(s) = slot.and_then(|i| self.sockets.get_mut(i)) {
                    if ok && scratch.local_port.is_some() {
                        s.local_port = scratch.local_port;
                    }
                    if let Phase::Connecting(Connecting::LocalPort, _) = s.phase {
                        s.phase = connected(s);
                    }
                }
            }
            Op::Send { len, .. } => {
                if let Some(s) = slot.and_then(|i| self.sockets.get_mut(i)) {
                    if let TxState::InFlight(_) = s.tx {
                        s.tx = TxState::Done(if ok { Ok(len) } else { Err(failure) });
                        if ok {
                            s.stats.bytes_sent += len as u64;
                        }
                        if s.discard_tx {
                            // Its caller went away: nobody takes the result.
                            s.tx = TxState::Idle;
                            s.discard_tx = false;
                        }
                    }
                }
                if slot.is_some() && self.tx_owner == slot {
                    self.tx_owner = None;
                    self.tx_payload.clear();
                }
            }
            Op::Read { .. } => {
                let empty = ok
                    && !scratch.datagram
                    && !scratch.no_data
                    && self.profile.bare_read_is_empty_datagram();
                if let Some(s) = slot.and_then(|i| self.sockets.get_mut(i)) {
                    if empty && !s.rx.push(&[]) {
                        s.stats.dropped_ring_full += 1;
                        self.stats.dropped_ring_full += 1;
                    }
                    // One read returns one datagram: read again until the modem says
                    // nothing is left, or stop on failure.
                    s.pending_read = ok && (scratch.datagram || empty) && !scratch.no_data;
                }
            }
            Op::Close { .. } => {
                let assigned = slot.is_some_and(|i| self.profile.handle_for_slot(i).is_none());
                let can_sweep = assigned && self.profile.can_close_all();
                if let Some(s) = slot.and_then(|i| self.sockets.get_mut(i)) {
                    if !ok && !s.close_retried && c.outcome != Outcome::Aborted {
                        // A garbled line gets ERROR too: ask once more (the socket
                        // stays closing, so the close is chosen again).
                        s.close_retried = true;
                    } else {
                        if !ok && can_sweep {
                            // Refused twice: most likely the modem does not know the
                            // handle, but if it does, only a sweep frees it.
                            self.sweep_handles = true;
                        }
                        s.close_retried = false;
                        s.modem_open = false;
                        s.pending_read = false;
                        if assigned {
                            s.handle = None;
                        }
                        s.phase = match s.phase {
                            Phase::Closing(then) => then.phase(),
                            Phase::Connecting(Connecting::CloseLeftover, d) => {
                                Phase::Connecting(Connecting::Network, d)
                            }
                            other => other,
                        };
                    }
                }
            }
            Op::CloseAll => {
                // Done or not, the sweep is not repeated until another open fails.
                self.sweep_handles = false;
            }
            Op::IdleHint { .. } => {
                // A hint: refused or unanswered, nothing fails; it is not repeated
                // until the socket's next traffic and next `queue_mode_rx_off`.
                if !ok && c.outcome != Outcome::Aborted {
                    debug!("idle hint not taken: {:?}", c.outcome);
                    self.stats.idle_hints_refused += 1;
                }
                if let Some(s) = slot.and_then(|i| self.sockets.get_mut(i)) {
                    // Still in flight: no call on the socket withdrew it meanwhile
                    // (one that did re-armed it for the next queue-mode period).
                    if s.idle_hint == IdleHint::InFlight {
                        s.idle_hint = IdleHint::Sent;
                    }
                }
            }
            Op::SignalQuality => {}
            Op::Resolve => self.resolve_done(ok, failure),
        }
        if let Outcome::Timeout = c.outcome {
            if self.engine.consecutive_timeouts >= self.config.max_timeouts.max(1) {
                // The modem is not answering at all: assume it is gone.
                warning!("modem silent, restarting bring-up");
                self.engine.consecutive_timeouts = 0;
                self.lose_open_sockets(Reason::Timeout);
                self.fail_resolve(Reason::Timeout, false);
                self.forget_assigned_handles();
                self.events.push(NetEvent::ModemUnresponsive);
                self.net.reset();
                self.next_poll = None;
            }
        }
    }
}

/// True when `s` is the live socket the modem calls `handle`.
fn owns<const RX: usize>(s: &Socket<RX>, handle: ModemHandle) -> bool {
    s.in_use() && s.handle == Some(handle) && s.modem_open
}

/// The phase a socket enters when its open is confirmed.
pub(crate) fn connected<const RX: usize>(s: &mut Socket<RX>) -> Phase {
    s.ever_connected = true;
    s.in_use_retried = false;
    Phase::Connected
}

/// The phase after a refused open: a handle the modem still holds from before an
/// MCU reset is closed and the open tried again, once.
fn open_failed<const RX: usize>(
    s: &mut Socket<RX>,
    reason: Reason,
    deadline: Option<Instant>,
) -> Phase {
    if reason == Reason::SocketInUse && !s.in_use_retried {
        s.in_use_retried = true;
        s.modem_open = true;
        Phase::Connecting(Connecting::CloseLeftover, deadline)
    } else {
        s.in_use_retried = false;
        Phase::ConnectFailed(reason)
    }
}

impl<P: Profile, const N: usize, const RX: usize> State<P, N, RX> {
    fn open_done(
        &mut self,
        slot: Option<usize>,
        step: u8,
        ok: bool,
        failure: Reason,
        scratch: Scratch,
    ) {
        let Some(slot) = slot else { return };
        let steps = self.open_steps(slot);
        let by_urc = self.profile.open_result_is_urc();
        let can_query = self.profile.can_query_local_port();
        let wait = self.profile.open_result_timeout_ms();
        let sweep = self.profile.can_close_all() && self.profile.handle_for_slot(slot).is_none();
        let now = self.now;
        let reason = match failure {
            Reason::ModemError(code) => self.profile.open_error(code),
            other => other,
        };
        if let Some(h) = scratch.opened {
            self.handle_reassigned(slot, h);
        }
        let Some(s) = self.sockets.get_mut(slot) else {
            return;
        };
        if let Some(h) = scratch.opened {
            s.handle = Some(h);
        }
        let Phase::Connecting(Connecting::Open(_), deadline) = s.phase else {
            return;
        };
        s.phase = if !ok {
            if s.handle.is_none() {
                // No handle was told, so none can be closed. Where the modem
                // assigns handles it may still have taken one (the answer was lost
                // or garbled): sweep them once the driver holds none.
                s.modem_open = false;
                if step == 0 && sweep {
                    self.sweep_handles = true;
                }
            }
            open_failed(s, reason, deadline)
        } else if s.handle.is_none() {
            Phase::ConnectFailed(Reason::OpenFailed(0))
        } else if step + 1 < steps {
            Phase::Connecting(Connecting::Open(step + 1), deadline)
        } else if by_urc {
            Phase::Connecting(Connecting::OpenResult(now.after(wait)), deadline)
        } else if can_query {
            Phase::Connecting(Connecting::LocalPort, deadline)
        } else {
            connected(s)
        };
    }

    /// The modem gave handle `h` to the socket in `slot`. Any other socket that
    /// still holds `h` lost it without the driver hearing (a restart without a
    /// banner, a closure that was not reported): it is gone, and must neither send
    /// from nor receive for the new socket's handle.
    fn handle_reassigned(&mut self, slot: usize, h: ModemHandle) {
        for other in 0..N {
            if other == slot {
                continue;
            }
            match self.sockets.get_mut(other) {
                Some(s) if s.handle == Some(h) && s.modem_open => {
                    warning!("handle {} reassigned by the modem", h);
                    s.lose(Reason::SocketClosed);
                    s.modem_open = false;
                    s.handle = None;
                }
                _ => continue,
            }
            self.release_tx(other);
        }
    }

    pub(crate) fn open_steps(&self, slot: usize) -> u8 {
        let s = self.sockets.get(slot);
        let bind = s.is_some_and(|s| s.reuse_port && s.local_port.is_some());
        if s.is_some_and(|s| s.unconnected) {
            self.profile.unconnected_open_steps(bind)
        } else {
            self.profile.open_steps(bind)
        }
    }
}
