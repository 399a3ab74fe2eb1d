//! The driver: owns all state and is the only place that touches the UART.
//!
//! One [`Driver::poll`] call reads what the UART has, frames and classifies it,
//! applies the events, checks deadlines, starts the next command if the engine is
//! free, and writes as much as the UART takes. It never waits: a UART that is not
//! ready is simply left for the next poll. [`Driver::poll_at`] says when the next
//! poll is due if no byte arrives.
//!
//! What this replaces from atat, and why: atat's `Ingress`, `ResponseSlot` and
//! `UrcChannel` are built for two tasks (a reader and a client) meeting through a
//! critical-section mutex and a pub/sub queue that refuses URCs when it is full;
//! its clients block on a global clock (embassy-time) with a cooldown between
//! commands. A single-owner, poll-driven driver needs none of that: here the
//! receive window is [`Ingress`], the response slot is the command engine's one
//! in-flight exchange, and URCs are applied to socket and network state the moment
//! they are framed, so a full queue can never drop one. The framer keeps atat's
//! `Digester` shape (and implements the trait, see [`crate::framer`]), and commands
//! and responses are declared with atat's derive macros in each profile.

use embedded_io::{Read, ReadReady, Write, WriteReady};

use crate::command::Stage;
use crate::framer::{Frame, Framer, Ingress};
use crate::profile::{Event, Profile};
use crate::state::State;
use crate::time::{earliest, Instant};
use crate::Config;

/// Size of the receive window: the longest header line plus the largest payload
/// (1500) plus its trailer.
pub const INGRESS_CAPACITY: usize = 1800;

/// A modem driver with `N` sockets, each buffering up to `RX` bytes of datagrams
/// (every datagram costs its length plus 2).
///
/// All storage is inside the value: place it in a `static` (via a `static_cell` or
/// similar) or on the stack; nothing is allocated.
pub struct Driver<P: Profile, const N: usize = 4, const RX: usize = 2048> {
    pub(crate) ingress: Ingress<INGRESS_CAPACITY>,
    pub(crate) framer: Framer,
    pub(crate) last_rx: Instant,
    /// Bytes at the front of the receive window that arrived before the command
    /// in flight was written: they cannot be its prompt.
    pub(crate) before_command: usize,
    pub(crate) state: State<P, N, RX>,
}

impl<P: Profile, const N: usize, const RX: usize> Driver<P, N, RX> {
    /// A driver for `profile` with `config`. Nothing is sent until a socket connects.
    ///
    /// `const`, so a driver can be built in place as a `static` (with
    /// [`Config::const_default`] or a const configuration) instead of on the stack.
    pub const fn new(profile: P, config: Config) -> Self {
        Driver {
            ingress: Ingress::new(),
            framer: Framer::new(),
            last_rx: Instant::ZERO,
            before_command: 0,
            state: State::new(profile, config),
        }
    }

    /// Start over with `profile` and `config`, in place: every socket is forgotten
    /// (the modem is not told; its leftovers are closed as after an MCU reset).
    /// Unlike assigning a new [`Driver::new`], no driver-sized temporary is built,
    /// so a driver in a `static` can be (re)configured on a small stack.
    pub fn reset(&mut self, profile: P, config: Config) {
        self.ingress.clear();
        self.framer = Framer::new();
        self.last_rx = Instant::ZERO;
        self.before_command = 0;
        self.state.reset(profile, config);
    }

    /// The profile.
    pub fn profile(&self) -> &P {
        &self.state.profile
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// Network state, registration, signal and local address.
    pub fn network(&self) -> &crate::network::NetInfo {
        &self.state.net
    }

    /// The oldest network event not yet taken (registration, context, reboots).
    pub fn next_event(&mut self) -> Option<crate::NetEvent> {
        self.state.events.pop()
    }

    /// Driver-wide counters.
    pub fn stats(&self) -> crate::Stats {
        crate::Stats {
            driver: self.state.stats,
            engine: self.state.engine.stats,
            framer: self.framer.stats,
        }
    }

    /// Do all the work that can be done now without waiting.
    pub fn poll<U>(&mut self, now: Instant, uart: &mut U)
    where
        U: Read + ReadReady + Write + WriteReady,
    {
        self.advance(now);
        self.read(uart);
        self.state.check_deadlines();
        self.state.engine.expire_quiet(now);
        if let Some(c) = self
            .state
            .engine
            .check_timeout(now, self.state.profile.send_abort())
        {
            self.state.complete(c);
        }
        self.state.start_next();
        self.write(uart);
    }

    /// Feed bytes received outside [`Driver::poll`]: for a UART whose interrupt or
    /// DMA handler fills a ring buffer, drain that ring into this call from the
    /// main loop (not from the interrupt itself: the bytes are framed and applied
    /// at once, and the driver is not shared with interrupt context). Returns how
    /// many were taken; the rest must be offered again.
    pub fn receive(&mut self, now: Instant, bytes: &[u8]) -> usize {
        self.advance(now);
        let mut taken = 0;
        while taken < bytes.len() {
            let n = self.ingress.push(bytes.get(taken..).unwrap_or(&[]));
            if n > 0 {
                self.on_bytes(n);
            }
            taken += n;
            self.process();
            if n == 0 && self.ingress.len() == self.ingress.capacity() {
                break;
            }
        }
        taken
    }

    /// When the driver next needs a poll if no byte arrives: a deadline, a retry, or
    /// `now` when work is ready to start. `None`: only new bytes or an API call can
    /// make progress.
    pub fn poll_at(&self) -> Option<Instant> {
        let mut at = self.state.wake_at();
        if !self.ingress.is_empty() || self.framer.mid_frame() {
            at = earliest(at, Some(self.last_rx.after(self.state.config.rx_gap_ms)));
        }
        at.map(|t| t.max(self.state.now))
    }

    fn advance(&mut self, now: Instant) {
        if now > self.state.now {
            self.state.now = now;
        }
    }

    fn on_bytes(&mut self, n: usize) {
        self.last_rx = self.state.now;
        self.state.stats.rx_bytes += n as u64;
    }

    fn read<U: Read + ReadReady>(&mut self, uart: &mut U) {
        loop {
            match uart.read_ready() {
                Ok(true) => {}
                Ok(false) => break,
                Err(_) => {
                    self.state.stats.uart_errors += 1;
                    break;
                }
            }
            let spare = self.ingress.spare();
            if spare.is_empty() {
                // Cannot happen: process() always leaves room for a whole frame.
                break;
            }
            match uart.read(spare) {
                Ok(0) => break,
                Ok(n) => {
                    self.ingress.commit(n);
                    self.on_bytes(n);
                }
                Err(_) => {
                    self.state.stats.uart_errors += 1;
                    break;
                }
            }
            self.process();
        }
        self.process();
        let partial = !self.ingress.is_empty() || self.framer.mid_frame();
        if partial && self.state.now.since(self.last_rx) >= self.state.config.rx_gap_ms as u64 {
            // The modem went quiet in the middle of a frame: it will not be finished.
            self.framer.stats.stale_flushes += 1;
            self.state.engine.frame_lost();
            self.framer.forget_partial();
            self.ingress.clear();
            self.before_command = 0;
        }
    }

    /// Frame and apply everything complete in the receive window.
    fn process(&mut self) {
        loop {
            let mut ctx = self.state.engine.context();
            ctx.awaiting_prompt &= self.before_command == 0;
            let data = self.ingress.data();
            let oversized = self.framer.stats.oversized_payloads;
            let (frame, used) = self
                .framer
                .next(data, INGRESS_CAPACITY, &self.state.profile, &ctx);
            if self.framer.stats.oversized_payloads != oversized {
                // A datagram was there, too large to keep: the read that brought
                // it found one (it must not look empty), and it is counted.
                self.state.datagram_dropped();
            }
            match frame {
                None if used == 0 => break,
                None => {}
                Some(frame) => {
                    let event = if self.is_echo(&frame) {
                        if self.state.net.echo_off_done() {
                            // Echo came back after it was turned off: the modem
                            // restarted without a boot banner we could see.
                            self.state.modem_restarted();
                        }
                        Event::Echo
                    } else {
                        self.state.profile.classify(frame, &ctx)
                    };
                    self.state.on_event(event);
                }
            }
            self.ingress.consume(used);
            self.before_command = self.before_command.saturating_sub(used);
        }
    }

    /// The modem repeated the command line just written.
    fn is_echo(&self, frame: &Frame<'_>) -> bool {
        let Frame::Line(line) = frame else {
            return false;
        };
        let sent = self.state.engine.line.as_slice();
        let sent = sent
            .iter()
            .rposition(|&b| b != b'\r' && b != b'\n')
            .and_then(|end| sent.get(..=end))
            .unwrap_or(&[]);
        // Ending with it, after a word boundary, is enough: bytes left unfinished
        // before the echo (line noise, a stray prompt) join the same line. No
        // answer or URC ends in a whole command line of ours.
        let Some(before) = line.len().checked_sub(sent.len()) else {
            return false;
        };
        let boundary = line
            .get(..before)
            .and_then(|p| p.last())
            .is_none_or(|b| !b.is_ascii_alphanumeric());
        !sent.is_empty() && line.ends_with(sent) && boundary
    }

    /// Write what is pending, as far as the UART takes it now.
    fn write<U: Write + WriteReady>(&mut self, uart: &mut U) {
        let st = &mut self.state;
        let engine = &mut st.engine;
        let tx_bytes = &mut st.stats.tx_bytes;
        // Bytes that cancel a payload the modem still waits for.
        if !write_from(uart, engine.abort, &mut engine.abort_written, tx_bytes) {
            return;
        }
        while engine.fill_left > 0 {
            let filler = [engine.fill_byte; 64];
            let chunk = filler.get(..engine.fill_left.min(64)).unwrap_or(&[]);
            match write_some(uart, chunk) {
                Some(n) => {
                    let n = n.min(chunk.len());
                    engine.fill_left -= n;
                    *tx_bytes += n as u64;
                }
                None => return,
            }
        }
        let Some(mut f) = engine.inflight else {
            return;
        };
        match f.stage {
            Stage::Command => {
                if write_from(uart, &engine.line, &mut engine.line_written, tx_bytes) {
                    engine.line_done(matches!(f.op, crate::profile::Op::Send { .. }));
                    // What is already in the window came before the command.
                    self.before_command = self.ingress.len();
                }
            }
            Stage::Payload => {
                if write_from(uart, &st.tx_payload, &mut f.payload_written, tx_bytes) {
                    f.stage = Stage::Final;
                }
                engine.inflight = Some(f);
            }
            Stage::Prompt | Stage::Final => {}
        }
    }
}

/// Write `bytes[*written..]` as far as the UART takes it; true when all is written.
fn write_from<U: Write + WriteReady>(
    uart: &mut U,
    bytes: &[u8],
    written: &mut usize,
    tx_bytes: &mut u64,
) -> bool {
    loop {
        let Some(rest) = bytes.get(*written..).filter(|r| !r.is_empty()) else {
            return true;
        };
        match write_some(uart, rest) {
            Some(n) => {
                let n = n.min(rest.len());
                *written += n;
                *tx_bytes += n as u64;
            }
            None => return false,
        }
    }
}

/// One non-blocking write: `None` when the UART takes nothing now.
fn write_some<U: Write + WriteReady>(uart: &mut U, bytes: &[u8]) -> Option<usize> {
    match uart.write_ready() {
        Ok(true) => match uart.write(bytes) {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        _ => None,
    }
}
