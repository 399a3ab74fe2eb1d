//! A driver together with its UART and clock: the net API as applications call it.
//!
//! Every call polls the driver first (taking in what the modem sent), then acts, and
//! calls that queue modem work poll again so the command goes out at once instead of
//! on the next call. `recv` stays cheap: one poll, no AT exchange.

use core::net::{IpAddr, SocketAddr};

use embedded_io::{Read, ReadReady, Write, WriteReady};

use crate::error::Error;
use crate::profile::Profile;
use crate::socket::{SocketHandle, SocketState};
use crate::time::Clock;
use crate::{AddressFamily, Driver};

/// A [`Driver`] with the UART it drives and the clock it reads.
pub struct NetStack<'d, P: Profile, U, C, const N: usize, const RX: usize> {
    /// The driver (borrowed, so it can live in a `static`).
    pub driver: &'d mut Driver<P, N, RX>,
    /// The UART.
    pub uart: U,
    /// The clock.
    pub clock: C,
}

impl<'d, P, U, C, const N: usize, const RX: usize> NetStack<'d, P, U, C, N, RX>
where
    P: Profile,
    U: Read + ReadReady + Write + WriteReady,
    C: Clock,
{
    /// Bundle a driver with its UART and clock.
    pub fn new(driver: &'d mut Driver<P, N, RX>, uart: U, clock: C) -> Self {
        NetStack {
            driver,
            uart,
            clock,
        }
    }

    /// Let the driver work (read, act, write). Call it from the main loop when the
    /// application has nothing else to do, or when [`Driver::poll_at`] is due.
    pub fn poll(&mut self) {
        let now = self.clock.now();
        self.driver.poll(now, &mut self.uart);
    }

    fn around<T>(&mut self, f: impl FnOnce(&mut Driver<P, N, RX>) -> T) -> T {
        self.poll();
        let r = f(self.driver);
        self.poll();
        r
    }

    /// See [`Driver::create`].
    pub fn create(&mut self, family: AddressFamily) -> Result<SocketHandle, Error> {
        self.driver.create(family)
    }

    /// See [`Driver::connect`].
    pub fn connect(&mut self, h: SocketHandle, host: &str, port: &str) -> Result<(), Error> {
        self.around(|d| d.connect(h, host, port))
    }

    /// See [`Driver::connect_from`].
    pub fn connect_from(
        &mut self,
        h: SocketHandle,
        host: &str,
        port: &str,
        local_port: u16,
    ) -> Result<(), Error> {
        self.around(|d| d.connect_from(h, host, port, local_port))
    }

    /// See [`Driver::bind`].
    pub fn bind(&mut self, h: SocketHandle, local_port: u16) -> Result<(), Error> {
        self.around(|d| d.bind(h, local_port))
    }

    /// See [`Driver::send_to`].
    pub fn send_to(
        &mut self,
        h: SocketHandle,
        to: SocketAddr,
        data: &[u8],
    ) -> Result<usize, Error> {
        self.around(|d| d.send_to(h, to, data))
    }

    /// See [`Driver::recv_from`].
    pub fn recv_from(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
    ) -> Result<(usize, Option<SocketAddr>), Error> {
        self.poll();
        self.driver.recv_from(h, buf)
    }

    /// See [`Driver::resolve`].
    pub fn resolve(&mut self, host: &str, family: AddressFamily) -> Result<IpAddr, Error> {
        self.around(|d| d.resolve(host, family))
    }

    /// See [`Driver::send`].
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        self.around(|d| d.send(h, data))
    }

    /// See [`Driver::recv`].
    pub fn recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, Error> {
        self.poll();
        self.driver.recv(h, buf)
    }

    /// See [`Driver::shutdown`].
    pub fn shutdown(&mut self, h: SocketHandle) -> Result<(), Error> {
        self.driver.shutdown(h)
    }

    /// See [`Driver::close`].
    pub fn close(&mut self, h: SocketHandle) -> Result<(), Error> {
        self.around(|d| d.close(h))
    }

    /// See [`Driver::cleanup`].
    pub fn cleanup(&mut self, h: SocketHandle) -> Result<(), Error> {
        self.around(|d| d.cleanup(h))
    }

    /// See [`Driver::inner_mtu`].
    pub fn inner_mtu(&self, h: SocketHandle) -> Result<usize, Error> {
        self.driver.inner_mtu(h)
    }

    /// See [`Driver::state`].
    pub fn state(&self, h: SocketHandle) -> Result<SocketState, Error> {
        self.driver.state(h)
    }

    /// See [`Driver::reuse_last_port`].
    pub fn reuse_last_port(&mut self, h: SocketHandle) -> Result<(), Error> {
        self.driver.reuse_last_port(h)
    }

    /// See [`Driver::queue_mode_rx_off`]. Polls after the call, so that an idle
    /// hint the modem can take goes out at once.
    pub fn queue_mode_rx_off(&mut self, h: SocketHandle) -> Result<(), Error> {
        self.around(|d| d.queue_mode_rx_off(h))
    }
}
