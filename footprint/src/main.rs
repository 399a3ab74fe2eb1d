//! A firmware-shaped use of cellsock, to be measured, not run: the board of
//! `board.rs` (reset handler, SysTick clock, a UART behind the four `embedded-io`
//! traits), one `Driver<Bg96, 2, 1024>` (`Driver<Nrf91Slm, 2, 1024>` with the `nrf91`
//! feature) in a static
//! (built at compile time; with the `runtime-init` feature, at start-up instead),
//! and an application loop that calls the net API the way Anjay Lite does (connect,
//! receive, echo back, close and reconnect on failure), so that nothing the
//! integrator would use is optimised away.
//!
//! `footprint_poll` is the poll path on its own (kept out of line so its stack depth
//! can be read); `footprint_app_step` is one turn of the application loop.
#![no_std]
#![no_main]

mod board;

use core::mem::size_of;
use core::ptr::addr_of_mut;

use cellsock::framer::{Framer, Ingress};
#[cfg(not(feature = "nrf91"))]
use cellsock::modems::bg96::Bg96 as Modem;
#[cfg(feature = "nrf91")]
use cellsock::modems::nrf91_slm::Nrf91Slm as Modem;
use cellsock::{
    AddressFamily, Clock, Config, Driver, Error, Instant, NetStack, SocketHandle, SocketState,
    INGRESS_CAPACITY,
};

/// Sockets and receive ring per socket of the measured driver.
const SOCKETS: usize = 2;
const RX: usize = 1024;

type Drv = Driver<Modem, SOCKETS, RX>;

use board::{cortex_m_wfi, Uart};

/// The clock the driver is given: SysTick's milliseconds.
pub struct SysTickClock;

impl Clock for SysTickClock {
    fn now(&self) -> Instant {
        Instant::from_millis(board::millis() as u64)
    }
}

// ----- the application -----------------------------------------------------------

/// The driver, built at compile time (`Driver::new` is `const`). Its few non-zero
/// bytes put all of it in `.data`, so its image is stored in flash too.
#[cfg(not(feature = "runtime-init"))]
static mut DRIVER: Drv = Driver::new(Modem::new(), Config::const_default());

/// With `runtime-init`: the driver in `.bss`, built by `Driver::new` at start-up
/// (no flash image, but a driver-sized temporary on the stack).
#[cfg(feature = "runtime-init")]
static mut DRIVER: core::mem::MaybeUninit<Drv> = core::mem::MaybeUninit::uninit();
static mut BUF: [u8; 1460] = [0; 1460];

/// The server, as the application's configuration would hold it.
static SERVER: (&str, &str) = ("lwm2m.example.com", "5683");

type Net = NetStack<'static, Modem, Uart, SysTickClock, SOCKETS, RX>;

/// The poll path alone: what a firmware runs on every UART interrupt or timer.
#[no_mangle]
#[inline(never)]
pub fn footprint_poll(net: &mut Net) -> Option<Instant> {
    net.poll();
    net.driver.poll_at()
}

/// The net API calls an application makes, each kept out of line so that its own
/// stack depth can be read.
#[no_mangle]
#[inline(never)]
pub fn footprint_connect(net: &mut Net, h: SocketHandle) -> Result<(), Error> {
    net.connect(h, SERVER.0, SERVER.1)
}

#[no_mangle]
#[inline(never)]
pub fn footprint_send(net: &mut Net, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
    net.send(h, data)
}

#[no_mangle]
#[inline(never)]
pub fn footprint_recv(net: &mut Net, h: SocketHandle, buf: &mut [u8]) -> Result<usize, Error> {
    net.recv(h, buf)
}

#[no_mangle]
#[inline(never)]
pub fn footprint_close(net: &mut Net, h: SocketHandle) -> Result<(), Error> {
    let _ = net.shutdown(h);
    let _ = net.close(h);
    net.cleanup(h)
}

/// One turn of an Anjay-like loop: connect, then echo every datagram back; on a
/// failure close, clean up and start again.
#[no_mangle]
#[inline(never)]
pub fn footprint_app_step(net: &mut Net, s: &mut Option<SocketHandle>, buf: &mut [u8]) {
    let h = match *s {
        Some(h) => h,
        None => match net.create(AddressFamily::Unspecified) {
            Ok(h) => {
                *s = Some(h);
                h
            }
            Err(_) => return,
        },
    };
    let result = match net.state(h) {
        Ok(SocketState::Connected) => match footprint_recv(net, h, buf) {
            Ok(n) => {
                let mtu = net.inner_mtu(h).unwrap_or(0);
                let n = n.min(mtu).min(buf.len());
                loop {
                    match footprint_send(net, h, buf.get(..n).unwrap_or(&[])) {
                        Err(Error::InProgress) => footprint_poll(net).map(|_| ()).unwrap_or(()),
                        r => break r.map(|_| ()),
                    }
                }
            }
            Err(e) => Err(e),
        },
        Ok(_) => footprint_connect(net, h),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) | Err(Error::WouldBlock) | Err(Error::InProgress) => {}
        Err(_) => {
            if footprint_close(net, h).is_ok() {
                *s = None;
            }
        }
    }
    while let Some(e) = net.driver.next_event() {
        core::hint::black_box(e);
    }
    core::hint::black_box(net.driver.bytes_sent(h).ok());
}

fn main() -> ! {
    let config = loop {
        if let Ok(c) = Config::new("internet") {
            break c;
        }
    };
    // SAFETY: runs once, before anything else touches DRIVER or BUF.
    let (driver, buf) = unsafe { (init_driver(config), &mut *addr_of_mut!(BUF)) };
    let mut net: Net = NetStack::new(driver, Uart, SysTickClock);
    let mut socket = None;
    loop {
        footprint_app_step(&mut net, &mut socket, buf);
        let _wake = footprint_poll(&mut net);
        // A firmware would sleep (WFI) until `_wake` or the next UART interrupt.
        cortex_m_wfi();
    }
}

/// The driver with the application's configuration, in place.
///
/// # Safety
/// Call once, before anything else uses `DRIVER`.
#[cfg(not(feature = "runtime-init"))]
unsafe fn init_driver(config: Config) -> &'static mut Drv {
    // SAFETY: the caller guarantees this is the only reference.
    let d = unsafe { &mut *addr_of_mut!(DRIVER) };
    d.reset(Modem::new(), config);
    d
}

/// The driver with the application's configuration, built on the stack and moved.
///
/// # Safety
/// Call once, before anything else uses `DRIVER`.
#[cfg(feature = "runtime-init")]
unsafe fn init_driver(config: Config) -> &'static mut Drv {
    // SAFETY: the caller guarantees this is the only reference.
    unsafe { (*addr_of_mut!(DRIVER)).write(Driver::new(Modem::new(), config)) }
}

// ----- sizes, read from the ELF by footprint/size.py -----------------------------

/// `size_of` on the target: (N, RX, size of `Driver<Modem, N, RX>`) for a few N/RX,
/// then the parts the core exposes. Kept in a section that is not loaded.
#[used]
#[link_section = ".footprint_sizes"]
static SIZES: [u32; 24] = [
    1,
    512,
    size_of::<Driver<Modem, 1, 512>>() as u32,
    1,
    2048,
    size_of::<Driver<Modem, 1, 2048>>() as u32,
    2,
    1024,
    size_of::<Driver<Modem, 2, 1024>>() as u32,
    4,
    512,
    size_of::<Driver<Modem, 4, 512>>() as u32,
    4,
    2048,
    size_of::<Driver<Modem, 4, 2048>>() as u32,
    8,
    1024,
    size_of::<Driver<Modem, 8, 1024>>() as u32,
    // marker, then: receive window, framer, configuration
    0xffff_ffff,
    size_of::<Ingress<INGRESS_CAPACITY>>() as u32,
    size_of::<Framer>() as u32,
    size_of::<Config>() as u32,
    size_of::<Modem>() as u32,
    cellsock::MAX_COMMAND as u32,
];
