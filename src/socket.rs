//! Sockets as the application sees them: state, buffered datagrams, counters.
//!
//! A socket never talks to the modem. API calls change its state and read its ring;
//! the driver's poll moves it along (network up, open sent, open confirmed, ...) and
//! fills its ring from the modem's datagrams.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::Reason;
use crate::profile::ModemHandle;
use crate::time::Instant;
use crate::AddressFamily;

/// Longest host name a socket stores (DNS allows 253; LwM2M server names are far
/// shorter). Longer names are refused with [`Reason::InvalidHost`].
pub const MAX_HOST: usize = 128;

/// A socket as the application addresses it: an index into the driver's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocketHandle(pub(crate) u8);

impl SocketHandle {
    /// The table index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The socket states of the net API (`anj_net_socket_state_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketState {
    /// Not connected (also while a connect is in progress, and after a loss).
    Closed,
    /// Shut down: no more sends, buffered datagrams can still be read.
    Shutdown,
    /// Connected: send and recv work.
    Connected,
}

/// Where a connect stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Connecting {
    /// A leftover modem socket must be closed first.
    CloseLeftover,
    /// Waiting for the network (modem up, registered, context active).
    Network,
    /// Open step `n` is next.
    Open(u8),
    /// Open accepted; waiting for the asynchronous result until the deadline.
    OpenResult(Instant),
    /// Asking the modem for the local port.
    LocalPort,
}

/// Internal life cycle of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Unused slot.
    Free,
    /// Created, not connected.
    Idle,
    /// Connect in progress, with its overall deadline (set on the first poll).
    Connecting(Connecting, Option<Instant>),
    /// Connect failed; the next `connect` call reports it.
    ConnectFailed(Reason),
    /// Connected.
    Connected,
    /// Shut down by the application; the modem socket is still open.
    Shutdown,
    /// The modem lost the socket; calls report the reason until close/connect.
    Lost(Reason),
    /// Close requested; what the slot becomes once the modem closed the socket.
    Closing(AfterClose),
    /// Closed by a cleanup that answered "in progress": the slot is freed by the
    /// repeated cleanup call, which then answers `Ok`.
    Cleaned,
}

/// What a slot becomes when its close completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterClose {
    /// `close`: the socket can connect again.
    Idle,
    /// `cleanup`: waits for the repeated cleanup call.
    Cleaned,
    /// Freed at once (embedded-nal's close, which cannot be repeated).
    Free,
}

impl AfterClose {
    /// The phase this leads to.
    pub(crate) fn phase(self) -> Phase {
        match self {
            AfterClose::Idle => Phase::Idle,
            AfterClose::Cleaned => Phase::Cleaned,
            AfterClose::Free => Phase::Free,
        }
    }
}

/// The send in progress on a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxState {
    /// Nothing pending.
    Idle,
    /// The payload sits in the driver's tx buffer, the command is not yet written.
    Queued(u16),
    /// The command is in flight.
    InFlight(u16),
    /// Finished; the next `send` call reports this.
    Done(Result<u16, Reason>),
}

/// Where the idle hint of a socket in queue mode stands ([`crate::profile::Op::IdleHint`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdleHint {
    /// Not asked for since the socket's last traffic (or the profile has none).
    None,
    /// `queue_mode_rx_off` asked for it; the scheduler writes it when the socket's
    /// own work is done.
    Wanted,
    /// Written, its answer not yet in.
    InFlight,
    /// Written and answered (whatever the answer): not again until the socket's
    /// next traffic.
    Sent,
}

/// A byte ring holding whole datagrams, each behind a two-byte header.
///
/// A datagram is stored whole or not at all, so a full ring drops the new datagram
/// (counted) and never corrupts the ones it holds. The header holds the length (up
/// to [`RxRing::MAX_DATAGRAM`]) and, in its two top bits, whether the sender's
/// address follows it (IPv4: 4 + 2 bytes, IPv6: 16 + 2 bytes); a datagram without
/// one costs its length plus 2, as before addresses were kept.
#[derive(Debug)]
pub struct RxRing<const N: usize> {
    buf: [u8; N],
    head: usize,
    used: usize,
    count: usize,
}

impl<const N: usize> Default for RxRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Header tag: no address follows.
const TAG_NONE: u16 = 0;
/// Header tag: an IPv4 address and a port follow.
const TAG_V4: u16 = 1;
/// Header tag: an IPv6 address and a port follow.
const TAG_V6: u16 = 2;
/// The length bits of a header.
const LEN_MASK: u16 = 0x3fff;

impl<const N: usize> RxRing<N> {
    /// Longest datagram a ring stores (no modem hands over more than 2048 bytes).
    pub const MAX_DATAGRAM: usize = LEN_MASK as usize;

    /// An empty ring.
    pub const fn new() -> Self {
        RxRing {
            buf: [0; N],
            head: 0,
            used: 0,
            count: 0,
        }
    }

    /// Number of datagrams held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no datagram is held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Drop everything.
    pub fn clear(&mut self) {
        self.head = 0;
        self.used = 0;
        self.count = 0;
    }

    fn write_at(&mut self, pos: usize, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            if let Some(slot) = self.buf.get_mut((pos + i) % N) {
                *slot = b;
            }
        }
    }

    fn byte_at(&self, pos: usize) -> u8 {
        self.buf.get(pos % N).copied().unwrap_or(0)
    }

    fn read_at<const K: usize>(&self, pos: usize) -> [u8; K] {
        let mut out = [0u8; K];
        for (i, b) in out.iter_mut().enumerate() {
            *b = self.byte_at(pos + i);
        }
        out
    }

    /// Store a datagram; false (and nothing stored) when it does not fit.
    pub fn push(&mut self, data: &[u8]) -> bool {
        self.push_from(data, None)
    }

    /// Store a datagram with its sender's address; false (and nothing stored) when
    /// it does not fit.
    pub fn push_from(&mut self, data: &[u8], from: Option<SocketAddr>) -> bool {
        let (tag, addr_len) = match from {
            None => (TAG_NONE, 0),
            Some(SocketAddr::V4(_)) => (TAG_V4, 6),
            Some(SocketAddr::V6(_)) => (TAG_V6, 18),
        };
        let need = data.len() + 2 + addr_len;
        if N == 0 || data.len() > Self::MAX_DATAGRAM || need > N - self.used {
            return false;
        }
        let tail = (self.head + self.used) % N;
        let header = ((tag << 14) | data.len() as u16).to_be_bytes();
        self.write_at(tail, &header);
        match from {
            Some(SocketAddr::V4(a)) => {
                self.write_at(tail + 2, &a.ip().octets());
                self.write_at(tail + 6, &a.port().to_be_bytes());
            }
            Some(SocketAddr::V6(a)) => {
                self.write_at(tail + 2, &a.ip().octets());
                self.write_at(tail + 18, &a.port().to_be_bytes());
            }
            None => {}
        }
        self.write_at(tail + 2 + addr_len, data);
        self.used += need;
        self.count += 1;
        true
    }

    /// The oldest datagram's length, its sender and the bytes before its data.
    fn peek(&self) -> Option<(usize, Option<SocketAddr>, usize)> {
        if self.count == 0 {
            return None;
        }
        let header = u16::from_be_bytes([self.byte_at(self.head), self.byte_at(self.head + 1)]);
        let len = usize::from(header & LEN_MASK);
        let at = self.head + 2;
        Some(match header >> 14 {
            TAG_V4 => {
                let ip: [u8; 4] = self.read_at(at);
                let port = u16::from_be_bytes(self.read_at(at + 4));
                let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port);
                (len, Some(addr), 8)
            }
            TAG_V6 => {
                let ip: [u8; 16] = self.read_at(at);
                let port = u16::from_be_bytes(self.read_at(at + 16));
                let addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port);
                (len, Some(addr), 20)
            }
            _ => (len, None, 2),
        })
    }

    /// Length of the oldest datagram.
    pub fn peek_len(&self) -> Option<usize> {
        self.peek().map(|(len, _, _)| len)
    }

    /// Remove the oldest datagram, copying it into `out` if it fits. Returns its
    /// length and whether it was copied.
    pub fn pop(&mut self, out: &mut [u8]) -> Option<(usize, bool)> {
        self.pop_from(out).map(|(len, fits, _)| (len, fits))
    }

    /// [`RxRing::pop`], with the sender's address where one was stored.
    pub fn pop_from(&mut self, out: &mut [u8]) -> Option<(usize, bool, Option<SocketAddr>)> {
        let (len, from, skip) = self.peek()?;
        let fits = len <= out.len();
        if fits {
            for (i, slot) in out.iter_mut().take(len).enumerate() {
                *slot = self.byte_at(self.head + skip + i);
            }
        }
        self.head = (self.head + skip + len) % N;
        self.used -= skip + len;
        self.count -= 1;
        if self.count == 0 {
            self.head = 0;
            self.used = 0;
        }
        Some((len, fits, from))
    }
}

/// Per-socket counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Payload bytes the modem accepted for sending.
    pub bytes_sent: u64,
    /// Payload bytes handed to the application.
    pub bytes_received: u64,
    /// Datagrams dropped because the ring was full.
    pub dropped_ring_full: u32,
    /// Datagrams dropped because the caller's buffer was too small (EMSGSIZE).
    pub dropped_too_large: u32,
}

/// One slot of the driver's socket table.
#[derive(Debug)]
pub(crate) struct Socket<const RX: usize> {
    pub phase: Phase,
    pub handle: Option<ModemHandle>,
    /// The modem may hold resources for this socket (an open was written and no
    /// close has completed since): a close command is owed before reuse.
    pub modem_open: bool,
    pub host: heapless::String<MAX_HOST>,
    pub port: u16,
    pub local_port: Option<u16>,
    pub reuse_port: bool,
    /// Unconnected: opened without a remote (`bind`), sends name their destination
    /// and datagrams keep their sender.
    pub unconnected: bool,
    /// The address family the socket was created for.
    pub family: AddressFamily,
    /// The result of the send in flight is not wanted (its caller went away).
    pub discard_tx: bool,
    pub pending_read: bool,
    pub rx_off: bool,
    /// The idle hint of the current queue-mode period.
    pub idle_hint: IdleHint,
    pub tx: TxState,
    pub rx: RxRing<RX>,
    pub stats: SocketStats,
    pub ever_connected: bool,
    /// An open refused because the modem still held the handle was retried.
    pub in_use_retried: bool,
    /// A close the modem refused or did not answer was sent once more.
    pub close_retried: bool,
}

impl<const RX: usize> Socket<RX> {
    pub const fn new() -> Self {
        Socket {
            phase: Phase::Free,
            handle: None,
            modem_open: false,
            host: heapless::String::new(),
            port: 0,
            local_port: None,
            reuse_port: false,
            unconnected: false,
            family: AddressFamily::Unspecified,
            discard_tx: false,
            pending_read: false,
            rx_off: false,
            idle_hint: IdleHint::None,
            tx: TxState::Idle,
            rx: RxRing::new(),
            stats: SocketStats {
                bytes_sent: 0,
                bytes_received: 0,
                dropped_ring_full: 0,
                dropped_too_large: 0,
            },
            ever_connected: false,
            in_use_retried: false,
            close_retried: false,
        }
    }

    /// Back to a free slot, in place (the ring's storage is not rebuilt).
    pub fn reset(&mut self) {
        self.phase = Phase::Free;
        self.handle = None;
        self.modem_open = false;
        self.host.clear();
        self.port = 0;
        self.local_port = None;
        self.reuse_port = false;
        self.unconnected = false;
        self.family = AddressFamily::Unspecified;
        self.discard_tx = false;
        self.pending_read = false;
        self.rx_off = false;
        self.idle_hint = IdleHint::None;
        self.tx = TxState::Idle;
        self.rx.clear();
        self.stats = SocketStats::default();
        self.ever_connected = false;
        self.in_use_retried = false;
        self.close_retried = false;
    }

    /// The state the API reports.
    pub fn state(&self) -> SocketState {
        match self.phase {
            Phase::Connected => SocketState::Connected,
            Phase::Shutdown => SocketState::Shutdown,
            _ => SocketState::Closed,
        }
    }

    /// Reception is wanted again (any call that sends, receives, connects or
    /// closes): queue mode ends, and an idle hint not yet written is withdrawn; the
    /// next `queue_mode_rx_off` asks for a new one.
    pub fn rx_on(&mut self) {
        self.rx_off = false;
        self.idle_hint = IdleHint::None;
    }

    /// The idle hint to write now, if one is wanted: only for a connected socket
    /// the modem holds, by its handle.
    pub fn idle_hint_due(&self) -> Option<ModemHandle> {
        let due =
            self.idle_hint == IdleHint::Wanted && self.phase == Phase::Connected && self.modem_open;
        self.handle.filter(|_| due)
    }

    /// The modem says this socket is gone.
    pub fn lose(&mut self, reason: Reason) {
        self.pending_read = false;
        // A lost socket is never hinted (a reconnect starts a new period).
        self.idle_hint = IdleHint::None;
        if let TxState::Queued(_) | TxState::InFlight(_) = self.tx {
            self.tx = TxState::Done(Err(reason));
        }
        self.phase = match self.phase {
            Phase::Connecting(..) => Phase::ConnectFailed(reason),
            Phase::Connected | Phase::Shutdown => Phase::Lost(reason),
            other => other,
        };
    }

    /// True while the slot is in the table.
    pub fn in_use(&self) -> bool {
        self.phase != Phase::Free
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_datagrams_whole_across_wrap() {
        let mut r: RxRing<16> = RxRing::new();
        assert!(r.push(b"abcdef"));
        assert!(r.push(b""));
        assert!(!r.push(b"0123456"), "8+2+9 > 16 must be refused");
        let mut out = [0u8; 8];
        assert_eq!(r.pop(&mut out), Some((6, true)));
        assert_eq!(&out[..6], b"abcdef");
        assert!(r.push(b"0123456789"));
        assert_eq!(r.pop(&mut out), Some((0, true)));
        assert_eq!(
            r.pop(&mut out),
            Some((10, false)),
            "too large for out: dropped"
        );
        assert_eq!(r.pop(&mut out), None);
    }

    #[test]
    fn ring_keeps_senders_with_their_datagrams() {
        let v4: SocketAddr = "192.0.2.7:5683".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::9]:61000".parse().unwrap();
        let mut r: RxRing<48> = RxRing::new();
        assert!(r.push_from(b"ab", Some(v4)));
        assert!(r.push_from(b"cde", Some(v6)));
        assert!(r.push(b"f"));
        assert!(!r.push_from(b"0123456789", Some(v6)), "10+20+... > 48");
        let mut out = [0u8; 8];
        assert_eq!(r.pop_from(&mut out), Some((2, true, Some(v4))));
        assert_eq!(&out[..2], b"ab");
        // Wraps around the end of the buffer.
        assert!(r.push_from(b"ghij", Some(v4)));
        assert_eq!(r.pop_from(&mut out), Some((3, true, Some(v6))));
        assert_eq!(&out[..3], b"cde");
        assert_eq!(r.pop_from(&mut out), Some((1, true, None)));
        assert_eq!(r.pop_from(&mut out), Some((4, true, Some(v4))));
        assert_eq!(&out[..4], b"ghij");
        assert!(r.is_empty());
    }
}
