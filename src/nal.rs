//! `embedded_nal::UdpClientStack`, `UdpFullStack` and `Dns` over the same sockets,
//! for Rust CoAP/LwM2M stacks.
//!
//! `connect` and `bind` in embedded-nal cannot say "in progress", so they only
//! start the open: `send`/`send_to` answer `WouldBlock` until the modem has opened
//! the socket and report a failed open as their error. `receive` reports the
//! connected remote as the sender of a connected socket's datagrams (a connected
//! modem socket only delivers from it), and the sender the modem named for an
//! unconnected (bound) socket's.
//!
//! `Dns::get_host_by_name` asks the modem's resolver and answers `WouldBlock`
//! while the query runs; `get_host_by_address` (reverse lookup) is not offered by
//! either modem and always fails with [`Error::NotSupported`].

use core::fmt::Write as _;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use embedded_io::{Read, ReadReady, Write, WriteReady};

use crate::error::{Error, Reason};
use crate::profile::Profile;
use crate::socket::{Phase, SocketHandle};
use crate::time::Clock;
use crate::{AddressFamily, NetStack};

/// A socket of the embedded-nal stack: the handle and the address it connects to
/// (or the local port it is bound to).
#[derive(Debug)]
pub struct NalSocket {
    handle: SocketHandle,
    remote: Option<SocketAddr>,
    bound: Option<u16>,
}

impl NalSocket {
    /// The driver's handle, for the calls embedded-nal does not have (counters,
    /// state, local port).
    pub fn handle(&self) -> SocketHandle {
        self.handle
    }
}

impl<P, U, C, const N: usize, const RX: usize> embedded_nal::UdpClientStack
    for NetStack<'_, P, U, C, N, RX>
where
    P: Profile,
    U: Read + ReadReady + Write + WriteReady,
    C: Clock,
{
    type UdpSocket = NalSocket;
    type Error = Error;

    fn socket(&mut self) -> Result<NalSocket, Error> {
        let handle = self.create(AddressFamily::Unspecified)?;
        Ok(NalSocket {
            handle,
            remote: None,
            bound: None,
        })
    }

    fn connect(&mut self, socket: &mut NalSocket, remote: SocketAddr) -> Result<(), Error> {
        let (host, port) = remote_text(remote)?;
        socket.remote = Some(remote);
        socket.bound = None;
        match NetStack::connect(self, socket.handle, &host, &port) {
            Ok(()) | Err(Error::InProgress) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn send(&mut self, socket: &mut NalSocket, buffer: &[u8]) -> nb::Result<(), Error> {
        self.opened(socket)?;
        match NetStack::send(self, socket.handle, buffer) {
            Ok(_) => Ok(()),
            Err(e) => Err(nb_error(e)),
        }
    }

    fn receive(
        &mut self,
        socket: &mut NalSocket,
        buffer: &mut [u8],
    ) -> nb::Result<(usize, SocketAddr), Error> {
        if socket.remote.is_none() && socket.bound.is_none() {
            return Err(nb::Error::Other(Error::Failed(Reason::InvalidState)));
        }
        match self.recv_from(socket.handle, buffer) {
            // A connected socket hears only from its remote; an unconnected one
            // from whoever the modem named (unknown only if the modem did not say,
            // reported as 0.0.0.0:0).
            Ok((n, from)) => Ok((
                n,
                socket
                    .remote
                    .or(from)
                    .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)),
            )),
            Err(e) => Err(nb_error(e)),
        }
    }

    fn close(&mut self, socket: NalSocket) -> Result<(), Error> {
        // embedded-nal's close cannot be repeated: it starts the close and frees the
        // slot once the modem confirmed it (in later polls).
        self.poll();
        let released = self.driver.release(socket.handle);
        self.poll();
        match released {
            Ok(()) | Err(Error::InProgress) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The remote as the host and port text a connect takes.
fn remote_text(remote: SocketAddr) -> Result<(heapless::String<48>, heapless::String<6>), Error> {
    let mut host = heapless::String::new();
    let mut port = heapless::String::new();
    write!(host, "{}", remote.ip()).map_err(|_| Error::Failed(Reason::InvalidHost))?;
    write!(port, "{}", remote.port()).map_err(|_| Error::Failed(Reason::InvalidPort))?;
    Ok((host, port))
}

/// `WouldBlock` for the "not yet" answers.
fn nb_error(e: Error) -> nb::Error<Error> {
    if e.is_pending() {
        nb::Error::WouldBlock
    } else {
        nb::Error::Other(e)
    }
}

impl<P, U, C, const N: usize, const RX: usize> NetStack<'_, P, U, C, N, RX>
where
    P: Profile,
    U: Read + ReadReady + Write + WriteReady,
    C: Clock,
{
    /// `Ok` once `socket` is open; `WouldBlock` while it opens; a failed open
    /// reported through connect's or bind's own path (which resets it).
    fn opened(&mut self, socket: &NalSocket) -> nb::Result<(), Error> {
        let h = socket.handle;
        self.poll();
        let phase = self.driver.state.sockets.get(h.index()).map(|s| s.phase);
        match phase {
            Some(Phase::Connecting(..)) => Err(nb::Error::WouldBlock),
            Some(Phase::ConnectFailed(_)) => {
                let r = match (socket.remote, socket.bound) {
                    (Some(remote), _) => {
                        let (host, port) = remote_text(remote).map_err(nb::Error::Other)?;
                        NetStack::connect(self, h, &host, &port)
                    }
                    (None, Some(port)) => NetStack::bind(self, h, port),
                    (None, None) => Err(Error::Failed(Reason::InvalidState)),
                };
                match r {
                    Err(e) => Err(nb::Error::Other(e)),
                    Ok(()) => Err(nb::Error::WouldBlock),
                }
            }
            _ => Ok(()),
        }
    }
}

/// Unconnected sockets: `bind` opens a modem socket without a remote (see each
/// profile's README for its commands), `send_to` names each datagram's
/// destination, `receive` reports each datagram's sender.
impl<P, U, C, const N: usize, const RX: usize> embedded_nal::UdpFullStack
    for NetStack<'_, P, U, C, N, RX>
where
    P: Profile,
    U: Read + ReadReady + Write + WriteReady,
    C: Clock,
{
    fn bind(&mut self, socket: &mut NalSocket, local_port: u16) -> Result<(), Error> {
        socket.bound = Some(local_port);
        socket.remote = None;
        match NetStack::bind(self, socket.handle, local_port) {
            Ok(()) | Err(Error::InProgress) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn send_to(
        &mut self,
        socket: &mut NalSocket,
        remote: SocketAddr,
        buffer: &[u8],
    ) -> nb::Result<(), Error> {
        self.opened(socket)?;
        match NetStack::send_to(self, socket.handle, remote, buffer) {
            Ok(_) => Ok(()),
            Err(e) => Err(nb_error(e)),
        }
    }
}

/// Host names through the modem's own resolver (each profile's README names the
/// command).
impl<P, U, C, const N: usize, const RX: usize> embedded_nal::Dns for NetStack<'_, P, U, C, N, RX>
where
    P: Profile,
    U: Read + ReadReady + Write + WriteReady,
    C: Clock,
{
    type Error = Error;

    /// `WouldBlock` while the modem resolves (or another name's query runs); a bad
    /// name is refused before anything is written ([`Reason::InvalidHost`]); a
    /// name that does not resolve is [`Reason::DnsFailed`].
    fn get_host_by_name(
        &mut self,
        hostname: &str,
        addr_type: embedded_nal::AddrType,
    ) -> nb::Result<IpAddr, Error> {
        let family = match addr_type {
            embedded_nal::AddrType::IPv4 => AddressFamily::Ipv4,
            embedded_nal::AddrType::IPv6 => AddressFamily::Ipv6,
            embedded_nal::AddrType::Either => AddressFamily::Unspecified,
        };
        self.resolve(hostname, family).map_err(nb_error)
    }

    /// Reverse lookups: neither modem has one. Always [`Error::NotSupported`].
    fn get_host_by_address(
        &mut self,
        _addr: IpAddr,
        _result: &mut [u8],
    ) -> nb::Result<usize, Error> {
        Err(nb::Error::Other(Error::NotSupported))
    }
}
