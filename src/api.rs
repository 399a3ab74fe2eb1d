//! The UDP net API, one-for-one with Anjay Lite's `anj_udp_*` functions.
//!
//! These calls only touch socket state and rings: no I/O, no waiting. Work that
//! needs the modem is queued and done by [`Driver::poll`]; until it is finished the
//! call answers [`Error::InProgress`] and is to be repeated with the same arguments
//! (Anjay's own rule). [`crate::NetStack`] wraps a driver with its UART and clock
//! and polls around every call, which is what an application normally uses.

use core::net::{IpAddr, SocketAddr};

use crate::error::{Error, Reason};
use crate::profile::Profile;
use crate::resolve::Phase as ResolvePhase;
use crate::socket::{
    AfterClose, Connecting, IdleHint, Phase, Socket, SocketHandle, SocketState, SocketStats,
    TxState, MAX_HOST,
};
use crate::state::MAX_PAYLOAD;
use crate::{AddressFamily, Driver, PdpType};

/// Check a host name before it goes into a command line: letters, digits and
/// `.-_:` only (DNS names, IPv4 and IPv6 literals), no quote, comma, space or control
/// byte that could end the argument or the line. IPv6 brackets are removed.
pub fn validate_host(host: &str, max_len: usize) -> Result<&str, Error> {
    let inner = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ok = !inner.is_empty()
        && inner.len() <= max_len.min(MAX_HOST)
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if ok {
        Ok(inner)
    } else {
        Err(Error::Failed(Reason::InvalidHost))
    }
}

/// Parse a port given as decimal text (1..=65535, digits only).
pub fn parse_port(port: &str) -> Result<u16, Error> {
    let bad = Error::Failed(Reason::InvalidPort);
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    match port.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(bad),
    }
}

impl<P: Profile, const N: usize, const RX: usize> Driver<P, N, RX> {
    fn slot(&self, h: SocketHandle) -> Result<usize, Error> {
        self.socket(h).map(|_| h.index())
    }

    fn socket(&self, h: SocketHandle) -> Result<&Socket<RX>, Error> {
        match self.state.sockets.get(h.index()) {
            Some(s) if s.in_use() => Ok(s),
            _ => Err(Error::Failed(Reason::BadHandle)),
        }
    }

    fn socket_mut(&mut self, h: SocketHandle) -> Result<&mut Socket<RX>, Error> {
        match self.state.sockets.get_mut(h.index()) {
            Some(s) if s.in_use() => Ok(s),
            _ => Err(Error::Failed(Reason::BadHandle)),
        }
    }

    /// `anj_udp_create_ctx`: take a free socket slot. `family` is what the
    /// application's config asks for; one the context cannot carry is
    /// [`Error::NotSupported`].
    pub fn create(&mut self, family: AddressFamily) -> Result<SocketHandle, Error> {
        let pdp = self.state.config.pdp_type;
        let supported = match family {
            AddressFamily::Unspecified => true,
            AddressFamily::Ipv4 => pdp != PdpType::Ipv6,
            AddressFamily::Ipv6 => pdp != PdpType::Ipv4,
        };
        if !supported {
            return Err(Error::NotSupported);
        }
        let max = self.state.profile.limits().max_sockets.min(N);
        let (slot, s) = self
            .state
            .sockets
            .iter_mut()
            .take(max)
            .enumerate()
            .find(|(_, s)| !s.in_use())
            .ok_or(Error::Failed(Reason::NoFreeSocket))?;
        s.reset();
        s.phase = Phase::Idle;
        s.family = family;
        Ok(SocketHandle(slot as u8))
    }

    /// `anj_udp_connect`: connect to `host`:`port` (both text). Brings the modem up
    /// as far as needed, then opens the socket. [`Error::InProgress`] until done.
    /// A bad host or port is refused before anything is queued.
    pub fn connect(&mut self, h: SocketHandle, host: &str, port: &str) -> Result<(), Error> {
        self.socket(h)?;
        let max = self.state.profile.limits().max_host_len;
        let host = validate_host(host, max)?;
        let port = parse_port(port)?;
        self.start_open(h, Some((host, port)), None)
    }

    /// [`Driver::connect`] from local port `local_port` (0: any, as `connect`).
    /// [`Error::NotSupported`] when the modem cannot bind a chosen local port for a
    /// connected socket ([`Profile::can_choose_local_port`]).
    pub fn connect_from(
        &mut self,
        h: SocketHandle,
        host: &str,
        port: &str,
        local_port: u16,
    ) -> Result<(), Error> {
        self.socket(h)?;
        let max = self.state.profile.limits().max_host_len;
        let host = validate_host(host, max)?;
        let port = parse_port(port)?;
        if local_port != 0 && !self.state.profile.can_choose_local_port() {
            return Err(Error::NotSupported);
        }
        self.start_open(h, Some((host, port)), Some(local_port).filter(|&p| p != 0))
    }

    /// Open an unconnected socket on local port `local_port` (0: the modem
    /// chooses): [`Driver::send_to`] names each datagram's destination and
    /// [`Driver::recv_from`] tells each datagram's sender. [`Error::InProgress`]
    /// until the modem opened it (it brings the modem up as far as needed, like a
    /// connect); [`Error::NotSupported`] when the modem has no unconnected sockets
    /// ([`Profile::can_open_unconnected`]).
    pub fn bind(&mut self, h: SocketHandle, local_port: u16) -> Result<(), Error> {
        self.socket(h)?;
        if !self.state.profile.can_open_unconnected() {
            return Err(Error::NotSupported);
        }
        self.start_open(h, None, Some(local_port))
    }

    /// Start (or report) the open of `h`: connected to `remote`, or unconnected.
    /// `local_port`: `Some(p)` binds port `p` (unconnected: 0 = any), `None` keeps
    /// what `reuse_last_port` said.
    fn start_open(
        &mut self,
        h: SocketHandle,
        remote: Option<(&str, u16)>,
        local_port: Option<u16>,
    ) -> Result<(), Error> {
        let s = self.socket_mut(h)?;
        s.rx_on();
        let same = match remote {
            Some((host, port)) => !s.unconnected && s.host == host && s.port == port,
            None => s.unconnected,
        };
        match s.phase {
            Phase::Connecting(..) if same => Err(Error::InProgress),
            Phase::Connected => {
                if same {
                    Ok(())
                } else {
                    Err(Error::Failed(Reason::InvalidState))
                }
            }
            Phase::ConnectFailed(r) => {
                s.phase = Phase::Idle;
                Err(Error::Failed(r))
            }
            Phase::Idle | Phase::Lost(_) => {
                s.host.clear();
                match remote {
                    Some((host, port)) => {
                        // Cannot fail: validate_host bounds the length by MAX_HOST.
                        let _ = s.host.push_str(host);
                        s.port = port;
                        s.unconnected = false;
                    }
                    None => {
                        s.port = 0;
                        s.unconnected = true;
                    }
                }
                match local_port {
                    Some(0) => {
                        s.local_port = None;
                        s.reuse_port = false;
                    }
                    Some(p) => {
                        s.local_port = Some(p);
                        s.reuse_port = true;
                    }
                    None => {}
                }
                s.rx.clear();
                s.tx = TxState::Idle;
                s.discard_tx = false;
                let stage = if s.modem_open {
                    Connecting::CloseLeftover
                } else {
                    Connecting::Network
                };
                s.phase = Phase::Connecting(stage, None);
                Err(Error::InProgress)
            }
            _ => Err(Error::Failed(Reason::InvalidState)),
        }
    }

    /// `anj_udp_send`: send one whole datagram. [`Error::InProgress`] until the modem
    /// accepted it (then `Ok(len)`) or refused it (then the error); a datagram over
    /// the MTU is [`Error::MessageSize`]. Never reports a datagram the modem did not
    /// accept as sent.
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        self.send_inner(h, data, None)
    }

    /// [`Driver::send`] on an unconnected socket ([`Driver::bind`]), to `to`.
    /// Repeat the call with the same arguments while it answers
    /// [`Error::InProgress`]. On a connected socket: [`Reason::InvalidState`].
    pub fn send_to(
        &mut self,
        h: SocketHandle,
        to: SocketAddr,
        data: &[u8],
    ) -> Result<usize, Error> {
        if to.port() == 0 {
            return Err(Error::Failed(Reason::InvalidPort));
        }
        self.send_inner(h, data, Some(to))
    }

    fn send_inner(
        &mut self,
        h: SocketHandle,
        data: &[u8],
        to: Option<SocketAddr>,
    ) -> Result<usize, Error> {
        let slot = self.slot(h)?;
        let mtu = self.inner_mtu(h)?;
        let st = &mut self.state;
        let s = st
            .sockets
            .get_mut(slot)
            .ok_or(Error::Failed(Reason::BadHandle))?;
        s.rx_on();
        if let TxState::Done(result) = s.tx {
            s.tx = TxState::Idle;
            return result.map(usize::from).map_err(Error::Failed);
        }
        match s.phase {
            Phase::Connected => {}
            Phase::Lost(r) => return Err(Error::Failed(r)),
            _ => return Err(Error::Failed(Reason::InvalidState)),
        }
        if s.unconnected != to.is_some() {
            // A connected socket has its remote; an unconnected one needs one.
            return Err(Error::Failed(Reason::InvalidState));
        }
        if data.len() > mtu {
            return Err(Error::MessageSize);
        }
        if data.is_empty() && !st.profile.can_send_empty() {
            return Err(Error::NotSupported);
        }
        if s.tx != TxState::Idle {
            return Err(Error::InProgress);
        }
        if st.tx_owner.is_some() {
            // Another socket's datagram holds the send buffer; try again later.
            return Err(Error::InProgress);
        }
        st.tx_payload.clear();
        // Cannot fail: data.len() <= mtu <= MAX_PAYLOAD.
        let _ = st.tx_payload.extend_from_slice(data);
        st.tx_to = to;
        s.tx = TxState::Queued(data.len() as u16);
        s.discard_tx = false;
        st.tx_owner = Some(slot);
        Err(Error::InProgress)
    }

    /// Give up waiting for the result of the send in progress on `h` (its caller
    /// went away, e.g. a dropped future). A datagram not yet handed to the modem is
    /// withdrawn; one in flight completes, and its result is thrown away instead of
    /// being reported to the next `send`.
    pub fn abandon_send(&mut self, h: SocketHandle) -> Result<(), Error> {
        let slot = self.slot(h)?;
        let st = &mut self.state;
        let s = st
            .sockets
            .get_mut(slot)
            .ok_or(Error::Failed(Reason::BadHandle))?;
        match s.tx {
            TxState::Queued(_) => {
                s.tx = TxState::Idle;
                if st.tx_owner == Some(slot) {
                    st.tx_owner = None;
                    st.tx_payload.clear();
                    st.tx_to = None;
                }
            }
            TxState::InFlight(_) => s.discard_tx = true,
            TxState::Done(_) => s.tx = TxState::Idle,
            TxState::Idle => {}
        }
        Ok(())
    }

    /// `anj_udp_recv`: take the oldest datagram. [`Error::WouldBlock`] when none
    /// waits; [`Error::MessageSize`] when it is longer than `buf` (it is dropped,
    /// the next one is intact). Datagrams that arrived before a socket loss are
    /// delivered before the loss is reported.
    pub fn recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, Error> {
        self.recv_from(h, buf).map(|(n, _)| n)
    }

    /// [`Driver::recv`], with the sender of the datagram where the modem said who
    /// it was (unconnected sockets; a connected socket only receives from its
    /// remote and reports `None`).
    pub fn recv_from(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
    ) -> Result<(usize, Option<SocketAddr>), Error> {
        let s = self.socket_mut(h)?;
        s.rx_on();
        if let Some((len, copied, from)) = s.rx.pop_from(buf) {
            if copied {
                s.stats.bytes_received += len as u64;
                return Ok((len, from));
            }
            s.stats.dropped_too_large += 1;
            return Err(Error::MessageSize);
        }
        match s.phase {
            Phase::Connected | Phase::Shutdown | Phase::Connecting(..) => Err(Error::WouldBlock),
            Phase::Lost(r) => Err(Error::Failed(r)),
            _ => Err(Error::Failed(Reason::InvalidState)),
        }
    }

    /// `anj_udp_shutdown`: no more sends; buffered datagrams can still be read. The
    /// modem socket stays open until [`Driver::close`].
    ///
    /// A datagram queued but not yet handed to the modem is withdrawn (its `send`
    /// then reports `InvalidState`); one already being written completes.
    pub fn shutdown(&mut self, h: SocketHandle) -> Result<(), Error> {
        let slot = self.slot(h)?;
        let st = &mut self.state;
        let s = st
            .sockets
            .get_mut(slot)
            .ok_or(Error::Failed(Reason::BadHandle))?;
        match s.phase {
            Phase::Connected | Phase::Shutdown | Phase::Lost(_) => {
                if s.phase == Phase::Connected {
                    s.phase = Phase::Shutdown;
                }
                if let TxState::Queued(_) = s.tx {
                    s.tx = TxState::Done(Err(Reason::InvalidState));
                    if st.tx_owner == Some(slot) {
                        st.tx_owner = None;
                        st.tx_payload.clear();
                        st.tx_to = None;
                    }
                }
                Ok(())
            }
            _ => Err(Error::Failed(Reason::InvalidState)),
        }
    }

    /// `anj_udp_close`: drop buffered data and close the modem socket.
    /// [`Error::InProgress`] while the modem closes it; the socket can connect again.
    pub fn close(&mut self, h: SocketHandle) -> Result<(), Error> {
        self.close_slot(h, AfterClose::Idle)
    }

    /// `anj_udp_cleanup_ctx`: close and free the slot. [`Error::InProgress`] while
    /// the modem closes the socket; after `Ok` the handle is invalid.
    pub fn cleanup(&mut self, h: SocketHandle) -> Result<(), Error> {
        self.close_slot(h, AfterClose::Cleaned)
    }

    /// Close and free the slot without a confirming call: the slot is freed by the
    /// driver once the modem closed the socket. For APIs whose close cannot be
    /// repeated (embedded-nal); `Ok` when nothing was left to close.
    pub fn release(&mut self, h: SocketHandle) -> Result<(), Error> {
        self.close_slot(h, AfterClose::Free)
    }

    fn close_slot(&mut self, h: SocketHandle, then: AfterClose) -> Result<(), Error> {
        let slot = self.slot(h)?;
        let st = &mut self.state;
        let in_flight = st.engine.inflight.is_some() && st.op_slot == Some(slot);
        let sending = st.sending_from(slot);
        let s = st
            .sockets
            .get_mut(slot)
            .ok_or(Error::Failed(Reason::BadHandle))?;
        s.rx.clear();
        s.pending_read = false;
        s.rx_on();
        if st.tx_owner == Some(slot) && !sending {
            st.tx_owner = None;
            st.tx_payload.clear();
        }
        if !matches!(s.tx, TxState::InFlight(_)) {
            s.tx = TxState::Idle;
        }
        match (s.phase, then) {
            // The modem already closed it for an earlier cleanup: done now.
            (Phase::Cleaned, AfterClose::Idle) => return Ok(()),
            (Phase::Cleaned, _) => {
                s.phase = Phase::Free;
                return Ok(());
            }
            (Phase::Closing(_), _) => {
                s.phase = Phase::Closing(then);
                return Err(Error::InProgress);
            }
            _ => {}
        }
        if s.modem_open || in_flight {
            s.phase = Phase::Closing(then);
            return Err(Error::InProgress);
        }
        // Nothing left in the modem: the close is complete now.
        s.phase = match then {
            AfterClose::Idle => Phase::Idle,
            AfterClose::Cleaned | AfterClose::Free => Phase::Free,
        };
        Ok(())
    }

    /// `anj_udp_get_inner_mtu`: the largest datagram `send` takes.
    pub fn inner_mtu(&self, h: SocketHandle) -> Result<usize, Error> {
        self.socket(h)?;
        Ok(self.state.profile.limits().max_send.min(MAX_PAYLOAD))
    }

    /// `anj_udp_get_state`, answered from cached state.
    pub fn state(&self, h: SocketHandle) -> Result<SocketState, Error> {
        Ok(self.socket(h)?.state())
    }

    /// `anj_udp_reuse_last_port`: the next connect binds the local port the socket
    /// had last time, so a server's NAT binding survives a reconnect.
    pub fn reuse_last_port(&mut self, h: SocketHandle) -> Result<(), Error> {
        self.socket(h)?;
        if !self.state.profile.can_bind_local_port() {
            return Err(Error::NotSupported);
        }
        let s = self.socket_mut(h)?;
        if !s.ever_connected || s.local_port.is_none() {
            return Err(Error::Failed(Reason::InvalidState));
        }
        s.reuse_port = true;
        Ok(())
    }

    /// The local port the modem gave the socket, if known.
    pub fn local_port(&self, h: SocketHandle) -> Result<Option<u16>, Error> {
        Ok(self.socket(h)?.local_port)
    }

    /// `anj_udp_get_bytes_sent`: payload bytes the modem accepted.
    pub fn bytes_sent(&self, h: SocketHandle) -> Result<u64, Error> {
        Ok(self.socket_stats(h)?.bytes_sent)
    }

    /// `anj_udp_get_bytes_received`: payload bytes handed to the application.
    pub fn bytes_received(&self, h: SocketHandle) -> Result<u64, Error> {
        Ok(self.socket_stats(h)?.bytes_received)
    }

    /// Per-socket counters.
    pub fn socket_stats(&self, h: SocketHandle) -> Result<SocketStats, Error> {
        Ok(self.socket(h)?.stats)
    }

    /// `anj_udp_get_system_socket`: there is no OS socket behind a modem socket;
    /// always `None` (the C layer returns NULL).
    pub fn system_socket(&self, h: SocketHandle) -> Result<Option<()>, Error> {
        self.socket(h)?;
        Ok(None)
    }

    /// Resolve `host` with the modem's resolver: the first address of `family`.
    /// [`Error::InProgress`] while the query runs (repeat the call with the same
    /// arguments; it brings the modem up as far as needed, bounded by
    /// [`crate::Config::connect_timeout_ms`], and the answer by the profile's
    /// timeout). One query runs at a time: a call for another name meanwhile
    /// answers [`Error::WouldBlock`]. A bad name is refused before anything is
    /// written ([`Reason::InvalidHost`]); an address literal is answered at once;
    /// a name the modem cannot resolve is [`Reason::DnsFailed`];
    /// [`Error::NotSupported`] when the modem has no resolver.
    pub fn resolve(&mut self, host: &str, family: AddressFamily) -> Result<IpAddr, Error> {
        let max = self.state.profile.limits().max_host_len;
        let name = validate_host(host, max)?;
        if let Ok(ip) = name.parse::<IpAddr>() {
            let fits = match family {
                AddressFamily::Unspecified => true,
                AddressFamily::Ipv4 => ip.is_ipv4(),
                AddressFamily::Ipv6 => ip.is_ipv6(),
            };
            return if fits {
                Ok(ip)
            } else {
                Err(Error::Failed(Reason::DnsFailed))
            };
        }
        if !self.state.profile.can_resolve() {
            return Err(Error::NotSupported);
        }
        let r = &mut self.state.resolver;
        let same = r.host == name && r.family == family;
        match r.phase {
            ResolvePhase::Done(result) if same => {
                r.phase = ResolvePhase::Idle;
                result.map_err(Error::Failed)
            }
            ResolvePhase::Idle | ResolvePhase::Done(_) => {
                r.start(name, family);
                Err(Error::InProgress)
            }
            _ if same => Err(Error::InProgress),
            _ => Err(Error::WouldBlock),
        }
    }

    /// Forget the query for `host` (its caller went away): one still waiting for
    /// the network is dropped, a finished one's answer is thrown away. A query the
    /// modem is working on runs to its end; its answer waits for the next caller.
    pub fn cancel_resolve(&mut self, host: &str) {
        let r = &mut self.state.resolver;
        let name = validate_host(host, MAX_HOST).unwrap_or(host);
        if r.host == name && matches!(r.phase, ResolvePhase::Network(_) | ResolvePhase::Done(_)) {
            r.phase = ResolvePhase::Idle;
        }
    }

    /// `anj_udp_queue_mode_rx_off`: the application will not receive until its next
    /// exchange. Idempotent; the next connect, send, recv or close on the socket
    /// turns reception back on. Background polling stops meanwhile.
    ///
    /// Where the modem can be told ([`Profile::can_hint_idle`], the nRF91's
    /// release assistance), a connected socket also gets an idle hint, so that the
    /// modem can leave connected mode early. The call answers `Ok` at once either
    /// way: the hint follows in the background (after the socket's pending send
    /// and reads), at most once until the socket's next traffic, and a modem that
    /// refuses it changes nothing for the application (it is counted in
    /// [`crate::DriverStats::idle_hints_refused`]).
    pub fn queue_mode_rx_off(&mut self, h: SocketHandle) -> Result<(), Error> {
        let can_hint = self.state.profile.can_hint_idle();
        let s = self.socket_mut(h)?;
        s.rx_off = true;
        let connected = s.phase == Phase::Connected && s.modem_open && s.handle.is_some();
        if can_hint && connected && s.idle_hint == IdleHint::None {
            s.idle_hint = IdleHint::Wanted;
        }
        Ok(())
    }
}
