//! `embedded_nal::UdpClientStack` over the same sockets, for Rust CoAP/LwM2M stacks.
//!
//! `connect` in embedded-nal cannot say "in progress", so it only starts the
//! connection: `send` answers `WouldBlock` until the modem has opened the socket and
//! reports a failed connect as its error. `receive` reports the connected remote as
//! the sender (a connected modem socket only delivers from it).

use core::fmt::Write as _;
use core::net::SocketAddr;

use embedded_io::{Read, ReadReady, Write, WriteReady};

use crate::error::{Error, Reason};
use crate::profile::Profile;
use crate::socket::{Phase, SocketHandle};
use crate::time::Clock;
use crate::{AddressFamily, NetStack};

/// A socket of the embedded-nal stack: the handle and the address it connects to.
#[derive(Debug)]
pub struct NalSocket {
    handle: SocketHandle,
    remote: Option<SocketAddr>,
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
        })
    }

    fn connect(&mut self, socket: &mut NalSocket, remote: SocketAddr) -> Result<(), Error> {
        let (host, port) = remote_text(remote)?;
        socket.remote = Some(remote);
        match NetStack::connect(self, socket.handle, &host, &port) {
            Ok(()) | Err(Error::InProgress) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn send(&mut self, socket: &mut NalSocket, buffer: &[u8]) -> nb::Result<(), Error> {
        let h = socket.handle;
        self.poll();
        if let Some(slot) = self.driver.state.sockets.get(h.index()) {
            match slot.phase {
                Phase::Connecting(..) => return Err(nb::Error::WouldBlock),
                Phase::ConnectFailed(_) => {
                    // Report the failure through connect's own path (it resets it).
                    let remote = socket
                        .remote
                        .ok_or(nb::Error::Other(Error::Failed(Reason::InvalidState)))?;
                    let (host, port) = remote_text(remote).map_err(nb::Error::Other)?;
                    return match NetStack::connect(self, h, &host, &port) {
                        Err(e) => Err(nb::Error::Other(e)),
                        Ok(()) => Err(nb::Error::WouldBlock),
                    };
                }
                _ => {}
            }
        }
        match NetStack::send(self, h, buffer) {
            Ok(_) => Ok(()),
            Err(Error::InProgress) | Err(Error::WouldBlock) => Err(nb::Error::WouldBlock),
            Err(e) => Err(nb::Error::Other(e)),
        }
    }

    fn receive(
        &mut self,
        socket: &mut NalSocket,
        buffer: &mut [u8],
    ) -> nb::Result<(usize, SocketAddr), Error> {
        let remote = socket
            .remote
            .ok_or(nb::Error::Other(Error::Failed(Reason::InvalidState)))?;
        match self.recv(socket.handle, buffer) {
            Ok(n) => Ok((n, remote)),
            Err(Error::WouldBlock) | Err(Error::InProgress) => Err(nb::Error::WouldBlock),
            Err(e) => Err(nb::Error::Other(e)),
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
