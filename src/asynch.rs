//! `embedded-nal-async` 0.9 over the poll-driven driver (feature `async`).
//!
//! The core stays as it is: nothing here reads the UART or waits by itself. An
//! [`AsyncStack`] shares one [`Driver`] between the socket futures and one runner
//! future, [`AsyncStack::run`], which owns the UART and calls [`Driver::poll`]
//! whenever the UART may have bytes, a deadline ([`Driver::poll_at`]) falls due, or
//! a socket call queued work; after each poll it wakes every waiting future, which
//! looks at the driver again. How to wait for "UART readable or deadline" is the
//! integrator's: a [`WaitHook`] (with embassy: `select(uart.wait_readable(),
//! Timer::at(deadline))`; in a test: advance a virtual clock). No executor, timer
//! or allocator is assumed, and nothing needs `'static`.
//!
//! One executor (one thread) drives the stack: it lives in a `RefCell`, and the
//! futures borrow it only between awaits.
//!
//! What the traits can do on these modems:
//!
//! | call | BG96 | nRF91 Serial Modem |
//! |---|---|---|
//! | `UdpStack::connect` | yes | yes |
//! | `connect_from` | yes; the local port is bound (`0`: any); a local IP other than unspecified or the modem's own: `NotSupported` | same |
//! | `bind_single` | yes (unconnected socket); port 0: the modem chooses | yes; port 0 gets a port only on the first send |
//! | `bind_multiple` | as `bind_single`: the modem has one address, so one socket on it receives everything for the port | same |
//! | `ConnectedUdp::send`/`receive_into` | yes | yes |
//! | `UnconnectedUdp::send` | yes; `local` must be unspecified or the socket's own address | same |
//! | `UnconnectedUdp::receive_into` | yes, with the sender | yes, with the sender |
//! | `Dns::get_host_by_name` | yes (IPv4, IPv6) | yes (IPv4, IPv6) |
//! | `Dns::get_host_by_address` | `NotSupported`: the modem has no reverse lookup | same |
//!
//! Cancellation (every future may be dropped at any await):
//!
//! * `connect`/`connect_from`/`bind_*`: the socket slot is released (the modem
//!   socket is closed if it was opened).
//! * `send` (both kinds): a datagram not yet handed to the modem is withdrawn; one
//!   already being written completes, and its result is thrown away (the next send
//!   does not see it). The datagram may therefore still reach the peer.
//! * `receive_into`: nothing is taken from the socket until the future completes:
//!   dropping it loses no datagram (the next receive gets it).
//! * `get_host_by_name`: a query still waiting for the network is dropped; one the
//!   modem is working on runs to its end and its answer is thrown away unless the
//!   same name is asked again.
//! * [`AsyncStack::run`]: dropping the runner stops all I/O; the sockets' futures
//!   then wait until a runner runs again.
//! * Dropping a socket closes it (in the background, by the runner).

use core::cell::{Cell, RefCell};
use core::convert::Infallible;
use core::fmt::Write as _;
use core::future::{poll_fn, Future};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::pin::{pin, Pin};
use core::task::{Context, Poll, Waker};

use embedded_io::{Read, ReadReady, Write, WriteReady};
use embedded_nal_async::{AddrType, ConnectedUdp, Dns, UdpStack, UnconnectedUdp};

use crate::error::{Error, Reason};
use crate::profile::Profile;
use crate::socket::SocketHandle;
use crate::time::{Clock, Instant};
use crate::{AddressFamily, Driver};

/// How the runner waits: the integrator's "UART readable or timer" primitive.
pub trait WaitHook<U> {
    /// Complete when `uart` may have bytes to read, or once `deadline` has come
    /// (never, for `None`), whichever is first. Returning early is harmless (the
    /// runner polls and asks again); returning late delays the driver. If writes
    /// to the UART can be refused, also complete when it can take bytes again.
    ///
    /// The future must be cancel-safe: the runner drops it when a socket call
    /// queued work that must go out now.
    fn wait<'a>(
        &'a mut self,
        uart: &'a mut U,
        deadline: Option<Instant>,
    ) -> impl Future<Output = ()> + 'a;
}

/// Most futures that can wait at once (every socket's and the resolver's; more are
/// woken at once and look again).
const WAKERS: usize = 16;

/// The wakers of the futures waiting for the driver.
struct WakerSet {
    slots: [Option<Waker>; WAKERS],
}

impl WakerSet {
    const fn new() -> Self {
        WakerSet {
            slots: [const { None }; WAKERS],
        }
    }

    fn register(&mut self, w: &Waker) {
        if self.slots.iter().flatten().any(|s| s.will_wake(w)) {
            return;
        }
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(w.clone()),
            // Full: that future looks again at once instead of waiting.
            None => w.wake_by_ref(),
        }
    }

    fn wake_all(&mut self) {
        for slot in self.slots.iter_mut() {
            if let Some(w) = slot.take() {
                w.wake();
            }
        }
    }
}

/// A [`Driver`] shared by async sockets and driven by [`AsyncStack::run`].
pub struct AsyncStack<'d, P: Profile, C: Clock, const N: usize, const RX: usize> {
    driver: RefCell<&'d mut Driver<P, N, RX>>,
    clock: C,
    waiting: RefCell<WakerSet>,
    runner: RefCell<Option<Waker>>,
    kicked: Cell<bool>,
}

impl<'d, P: Profile, C: Clock, const N: usize, const RX: usize> AsyncStack<'d, P, C, N, RX> {
    /// Share `driver`; `clock` gives the driver its time.
    pub fn new(driver: &'d mut Driver<P, N, RX>, clock: C) -> Self {
        AsyncStack {
            driver: RefCell::new(driver),
            clock,
            waiting: RefCell::new(WakerSet::new()),
            runner: RefCell::new(None),
            kicked: Cell::new(false),
        }
    }

    /// The runner: polls the driver with `uart` whenever the UART may have bytes,
    /// a deadline falls due or a socket call queued work, and wakes the waiting
    /// futures. Never returns; run it next to the application (`join`, or its own
    /// task).
    pub async fn run<U, W>(&self, mut uart: U, mut hook: W) -> Infallible
    where
        U: Read + ReadReady + Write + WriteReady,
        W: WaitHook<U>,
    {
        loop {
            self.kicked.set(false);
            let deadline = match self.driver.try_borrow_mut() {
                Ok(mut d) => {
                    d.poll(self.clock.now(), &mut uart);
                    d.poll_at()
                }
                // Cannot happen (no borrow lives across an await); look again soon.
                Err(_) => Some(self.clock.now()),
            };
            if let Ok(mut w) = self.waiting.try_borrow_mut() {
                w.wake_all();
            }
            let wait = pin!(hook.wait(&mut uart, deadline));
            Kickable { wait, stack: self }.await;
        }
    }

    /// Run `f` on the driver; wake the runner if work is now due.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Driver<P, N, RX>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let Ok(mut d) = self.driver.try_borrow_mut() else {
            return Err(Error::WouldBlock);
        };
        let r = f(&mut d);
        let now = self.clock.now();
        let due = d.poll_at().is_some_and(|t| t <= now);
        drop(d);
        if due {
            self.kick();
        }
        r
    }

    fn kick(&self) {
        self.kicked.set(true);
        if let Ok(mut r) = self.runner.try_borrow_mut() {
            if let Some(w) = r.take() {
                w.wake();
            }
        }
    }

    fn register(&self, cx: &Context<'_>) {
        match self.waiting.try_borrow_mut() {
            Ok(mut w) => w.register(cx.waker()),
            Err(_) => cx.waker().wake_by_ref(),
        }
    }

    /// Call `f` until it answers something other than "not yet".
    async fn until_done<T>(
        &self,
        mut f: impl FnMut(&mut Driver<P, N, RX>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        poll_fn(|cx| match self.with(&mut f) {
            Err(Error::InProgress | Error::WouldBlock) => {
                self.register(cx);
                Poll::Pending
            }
            r => Poll::Ready(r),
        })
        .await
    }

    /// The modem's address (unspecified until known) and the socket's local port.
    fn local_addr(&self, h: SocketHandle, v6: bool) -> SocketAddr {
        let (ip, port) = match self.driver.try_borrow() {
            Ok(d) => (
                d.network()
                    .local_ip
                    .as_ref()
                    .and_then(|(ip, _)| ip.parse::<IpAddr>().ok()),
                d.local_port(h).ok().flatten().unwrap_or(0),
            ),
            Err(_) => (None, 0),
        };
        let unspecified = if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        SocketAddr::new(ip.unwrap_or(unspecified), port)
    }

    /// `Ok` for a local address a socket can have: unspecified, or the modem's.
    fn check_local(&self, local: SocketAddr) -> Result<(), Error> {
        if local.ip().is_unspecified() {
            return Ok(());
        }
        let own = self.driver.try_borrow().ok().and_then(|d| {
            d.network()
                .local_ip
                .as_ref()
                .and_then(|(ip, _)| ip.parse::<IpAddr>().ok())
        });
        if own == Some(local.ip()) {
            Ok(())
        } else {
            Err(Error::NotSupported)
        }
    }

    fn create(&self, ip: IpAddr) -> Result<SlotGuard<'_, 'd, P, C, N, RX>, Error> {
        let family = match ip {
            IpAddr::V4(a) if a.is_unspecified() => AddressFamily::Unspecified,
            IpAddr::V4(_) => AddressFamily::Ipv4,
            IpAddr::V6(_) => AddressFamily::Ipv6,
        };
        let h = self.with(|d| d.create(family))?;
        Ok(SlotGuard {
            stack: self,
            h: Some(h),
        })
    }

    fn release(&self, h: SocketHandle) {
        let _ = self.with(|d| d.release(h));
    }
}

/// The runner's wait: the hook's future, or a socket call that queued work.
struct Kickable<'s, 'd, F, P: Profile, C: Clock, const N: usize, const RX: usize> {
    wait: Pin<&'s mut F>,
    stack: &'s AsyncStack<'d, P, C, N, RX>,
}

impl<F, P, C, const N: usize, const RX: usize> Future for Kickable<'_, '_, F, P, C, N, RX>
where
    F: Future<Output = ()>,
    P: Profile,
    C: Clock,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.wait.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if let Ok(mut r) = self.stack.runner.try_borrow_mut() {
            *r = Some(cx.waker().clone());
        }
        if self.stack.kicked.get() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Frees a socket slot unless the open completed (cancel safety of the opens).
struct SlotGuard<'s, 'd, P: Profile, C: Clock, const N: usize, const RX: usize> {
    stack: &'s AsyncStack<'d, P, C, N, RX>,
    h: Option<SocketHandle>,
}

impl<P: Profile, C: Clock, const N: usize, const RX: usize> SlotGuard<'_, '_, P, C, N, RX> {
    fn keep(mut self) -> Option<SocketHandle> {
        self.h.take()
    }
}

impl<P: Profile, C: Clock, const N: usize, const RX: usize> Drop
    for SlotGuard<'_, '_, P, C, N, RX>
{
    fn drop(&mut self) {
        if let Some(h) = self.h.take() {
            self.stack.release(h);
        }
    }
}

/// Gives up a send's result if its future is dropped before the end.
struct SendGuard<'s, 'd, P: Profile, C: Clock, const N: usize, const RX: usize> {
    stack: &'s AsyncStack<'d, P, C, N, RX>,
    h: SocketHandle,
    done: bool,
}

impl<P: Profile, C: Clock, const N: usize, const RX: usize> Drop
    for SendGuard<'_, '_, P, C, N, RX>
{
    fn drop(&mut self) {
        if !self.done {
            let h = self.h;
            let _ = self.stack.with(|d| d.abandon_send(h));
        }
    }
}

/// A connected UDP socket ([`ConnectedUdp`]). Dropping it closes the modem socket.
pub struct AsyncConnected<'s, 'd, P: Profile, C: Clock, const N: usize, const RX: usize> {
    stack: &'s AsyncStack<'d, P, C, N, RX>,
    h: SocketHandle,
}

/// An unconnected UDP socket ([`UnconnectedUdp`]): bound to a local port, sends to
/// anyone, receives from anyone with the sender. Dropping it closes the modem
/// socket.
pub struct AsyncUnconnected<'s, 'd, P: Profile, C: Clock, const N: usize, const RX: usize> {
    stack: &'s AsyncStack<'d, P, C, N, RX>,
    h: SocketHandle,
    v6: bool,
}

impl<P: Profile, C: Clock, const N: usize, const RX: usize> AsyncConnected<'_, '_, P, C, N, RX> {
    /// The driver's handle (counters, state, local port).
    pub fn handle(&self) -> SocketHandle {
        self.h
    }
}

impl<P: Profile, C: Clock, const N: usize, const RX: usize> AsyncUnconnected<'_, '_, P, C, N, RX> {
    /// The driver's handle (counters, state, local port).
    pub fn handle(&self) -> SocketHandle {
        self.h
    }
}

impl<P: Profile, C: Clock, const N: usize, const RX: usize> Drop
    for AsyncConnected<'_, '_, P, C, N, RX>
{
    fn drop(&mut self) {
        self.stack.release(self.h);
    }
}

impl<P: Profile, C: Clock, const N: usize, const RX: usize> Drop
    for AsyncUnconnected<'_, '_, P, C, N, RX>
{
    fn drop(&mut self) {
        self.stack.release(self.h);
    }
}

/// `send` through `f` (the datagram is copied into the driver on the first call;
/// later calls only ask for its result), cancel-safe through [`SendGuard`].
async fn send_with<P: Profile, C: Clock, const N: usize, const RX: usize>(
    stack: &AsyncStack<'_, P, C, N, RX>,
    h: SocketHandle,
    mut f: impl FnMut(&mut Driver<P, N, RX>) -> Result<usize, Error>,
) -> Result<(), Error> {
    let mut guard = SendGuard {
        stack,
        h,
        done: false,
    };
    let r = stack.until_done(&mut f).await;
    guard.done = true;
    r.map(|_| ())
}

/// Receive through the driver: nothing is taken until a datagram is there.
async fn receive_with<P: Profile, C: Clock, const N: usize, const RX: usize>(
    stack: &AsyncStack<'_, P, C, N, RX>,
    h: SocketHandle,
    buffer: &mut [u8],
) -> Result<(usize, Option<SocketAddr>), Error> {
    poll_fn(|cx| match stack.with(|d| d.recv_from(h, buffer)) {
        Err(Error::WouldBlock | Error::InProgress) => {
            stack.register(cx);
            Poll::Pending
        }
        r => Poll::Ready(r),
    })
    .await
}

impl<P: Profile, C: Clock, const N: usize, const RX: usize> ConnectedUdp
    for AsyncConnected<'_, '_, P, C, N, RX>
{
    type Error = Error;

    /// Completes once the modem accepted the datagram. Cancel: see the module.
    async fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        let h = self.h;
        send_with(self.stack, h, |d| d.send(h, data)).await
    }

    /// Completes with the next datagram. Cancel-safe: no datagram is lost.
    async fn receive_into(&mut self, buffer: &mut [u8]) -> Result<usize, Error> {
        receive_with(self.stack, self.h, buffer)
            .await
            .map(|(n, _)| n)
    }
}

impl<P: Profile, C: Clock, const N: usize, const RX: usize> UnconnectedUdp
    for AsyncUnconnected<'_, '_, P, C, N, RX>
{
    type Error = Error;

    /// Sends to `remote`; `local` must be unspecified or the socket's own address
    /// (else `NotSupported`). Cancel: see the module.
    async fn send(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) -> Result<(), Error> {
        self.stack.check_local(local)?;
        let mine = self.stack.local_addr(self.h, self.v6).port();
        if local.port() != 0 && mine != 0 && local.port() != mine {
            return Err(Error::NotSupported);
        }
        let h = self.h;
        send_with(self.stack, h, |d| d.send_to(h, remote, data)).await
    }

    /// Completes with the next datagram, the socket's local address and the
    /// sender (unspecified if the modem did not say). Cancel-safe.
    async fn receive_into(
        &mut self,
        buffer: &mut [u8],
    ) -> Result<(usize, SocketAddr, SocketAddr), Error> {
        let (n, from) = receive_with(self.stack, self.h, buffer).await?;
        let local = self.stack.local_addr(self.h, self.v6);
        let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        Ok((n, local, from.unwrap_or(unspecified)))
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

impl<'s, 'd, P: Profile, C: Clock, const N: usize, const RX: usize> UdpStack
    for &'s AsyncStack<'d, P, C, N, RX>
{
    type Error = Error;
    type Connected = AsyncConnected<'s, 'd, P, C, N, RX>;
    type UniquelyBound = AsyncUnconnected<'s, 'd, P, C, N, RX>;
    type MultiplyBound = AsyncUnconnected<'s, 'd, P, C, N, RX>;

    /// Opens a connected socket from `local` (its port is bound when not 0).
    async fn connect_from(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(SocketAddr, Self::Connected), Error> {
        let stack: &'s AsyncStack<'d, P, C, N, RX> = self;
        stack.check_local(local)?;
        let (host, port) = remote_text(remote)?;
        let guard = stack.create(remote.ip())?;
        let h = guard.h.ok_or(Error::Failed(Reason::BadHandle))?;
        let lport = local.port();
        stack
            .until_done(|d| d.connect_from(h, &host, &port, lport))
            .await?;
        let h = guard.keep().ok_or(Error::Failed(Reason::BadHandle))?;
        let local = stack.local_addr(h, remote.is_ipv6());
        Ok((local, AsyncConnected { stack, h }))
    }

    /// Opens an unconnected socket on `local`'s port (0: the modem chooses).
    async fn bind_single(
        &self,
        local: SocketAddr,
    ) -> Result<(SocketAddr, Self::UniquelyBound), Error> {
        let stack: &'s AsyncStack<'d, P, C, N, RX> = self;
        let sock = bind(stack, local).await?;
        Ok((stack.local_addr(sock.h, sock.v6), sock))
    }

    /// As [`UdpStack::bind_single`]: the modem has one address.
    async fn bind_multiple(&self, local: SocketAddr) -> Result<Self::MultiplyBound, Error> {
        bind(self, local).await
    }
}

async fn bind<'s, 'd, P: Profile, C: Clock, const N: usize, const RX: usize>(
    stack: &'s AsyncStack<'d, P, C, N, RX>,
    local: SocketAddr,
) -> Result<AsyncUnconnected<'s, 'd, P, C, N, RX>, Error> {
    stack.check_local(local)?;
    let guard = stack.create(local.ip())?;
    let h = guard.h.ok_or(Error::Failed(Reason::BadHandle))?;
    let port = local.port();
    stack.until_done(|d| d.bind(h, port)).await?;
    let h = guard.keep().ok_or(Error::Failed(Reason::BadHandle))?;
    Ok(AsyncUnconnected {
        stack,
        h,
        v6: local.is_ipv6(),
    })
}

/// Forgets the query if the future is dropped before the answer.
struct DnsGuard<'s, 'h, 'd, P: Profile, C: Clock, const N: usize, const RX: usize> {
    stack: &'s AsyncStack<'d, P, C, N, RX>,
    host: &'h str,
    done: bool,
}

impl<P: Profile, C: Clock, const N: usize, const RX: usize> Drop
    for DnsGuard<'_, '_, '_, P, C, N, RX>
{
    fn drop(&mut self) {
        if !self.done {
            let host = self.host;
            let _ = self.stack.with(|d| {
                d.cancel_resolve(host);
                Ok(())
            });
        }
    }
}

impl<P: Profile, C: Clock, const N: usize, const RX: usize> Dns for AsyncStack<'_, P, C, N, RX> {
    type Error = Error;

    /// The modem's resolver; a bad name fails before anything is written
    /// ([`Reason::InvalidHost`]), a name that does not resolve with
    /// [`Reason::DnsFailed`]. Cancel: see the module.
    async fn get_host_by_name(&self, host: &str, addr_type: AddrType) -> Result<IpAddr, Error> {
        let family = match addr_type {
            AddrType::IPv4 => AddressFamily::Ipv4,
            AddrType::IPv6 => AddressFamily::Ipv6,
            AddrType::Either => AddressFamily::Unspecified,
        };
        let mut guard = DnsGuard {
            stack: self,
            host,
            done: false,
        };
        let r = self.until_done(|d| d.resolve(host, family)).await;
        guard.done = true;
        r
    }

    /// Neither modem has a reverse lookup: always [`Error::NotSupported`].
    async fn get_host_by_address(&self, _addr: IpAddr, _result: &mut [u8]) -> Result<usize, Error> {
        Err(Error::NotSupported)
    }
}
