//! The one driver instance behind the C ABI, the guard around it, the context
//! pointers handed to Anjay, the UART and clock adapters, and the interrupt feed.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use crate::error::{Error, Reason};
use crate::modems::bg96::Bg96;
use crate::socket::SocketHandle;
use crate::time::{Clock, Instant};
use crate::Driver;

use super::release::Failure;

/// Sockets the C library has (`CELLSOCK_MAX_SOCKETS`).
pub const MAX_SOCKETS: usize = 4;
/// Receive buffer per socket: datagrams waiting for `anj_udp_recv`, each costing
/// its length plus 2 bytes.
pub const RX_PER_SOCKET: usize = 2048;
/// Bytes the interrupt feed ([`super::cellsock_uart_rx`]) holds between polls.
pub const FEED_CAPACITY: usize = 2048;

/// The driver type of the C library.
pub type CDriver = Driver<Bg96, MAX_SOCKETS, RX_PER_SOCKET>;

/// `int32_t (*)(void *user, uint8_t *buf, size_t len)`: non-blocking UART read.
pub type ReadFn = unsafe extern "C" fn(user: *mut c_void, buf: *mut u8, len: usize) -> i32;
/// `int32_t (*)(void *user, const uint8_t *buf, size_t len)`: non-blocking write.
pub type WriteFn = unsafe extern "C" fn(user: *mut c_void, buf: *const u8, len: usize) -> i32;
/// `uint64_t (*)(void *user)`: monotonic milliseconds.
pub type NowFn = unsafe extern "C" fn(user: *mut c_void) -> u64;

// ---------------------------------------------------------------------------
// UART and clock through the integrator's callbacks
// ---------------------------------------------------------------------------

/// The UART as the integrator's callbacks (or the interrupt feed) provide it.
#[derive(Clone, Copy, Debug)]
pub struct CUart {
    pub(crate) user: *mut c_void,
    /// `None`: bytes come through the interrupt feed.
    pub(crate) read: Option<ReadFn>,
    pub(crate) write: WriteFn,
}

impl embedded_io::ErrorType for CUart {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Read for CUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let Some(read) = self.read else {
            return Ok(FEED.pop(buf));
        };
        let len = buf.len().min(i32::MAX as usize);
        // SAFETY: `read` is the integrator's callback from the config, called with
        // its own `user` pointer and a buffer valid for `len` bytes of writes. The
        // header documents that it must not write more than `len` bytes.
        let n = unsafe { read(self.user, buf.as_mut_ptr(), len) };
        match usize::try_from(n) {
            Ok(n) if n <= len => Ok(n),
            // Negative: the UART reported an error. Above `len`: the callback broke
            // its contract; take nothing rather than garbage.
            _ => Err(embedded_io::ErrorKind::Other),
        }
    }
}

impl embedded_io::ReadReady for CUart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        // A callback UART is asked by reading; a read of 0 bytes ends the round.
        Ok(self.read.is_some() || !FEED.is_empty())
    }
}

impl embedded_io::Write for CUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let len = buf.len().min(i32::MAX as usize);
        // SAFETY: `write` is the integrator's callback from the config, called with
        // its own `user` pointer and a buffer valid for `len` bytes of reads.
        let n = unsafe { (self.write)(self.user, buf.as_ptr(), len) };
        match usize::try_from(n) {
            Ok(n) if n <= len => Ok(n),
            _ => Err(embedded_io::ErrorKind::Other),
        }
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl embedded_io::WriteReady for CUart {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        // Asked by writing; a write of 0 bytes means "not now".
        Ok(true)
    }
}

/// The integrator's millisecond clock.
#[derive(Clone, Copy, Debug)]
pub struct CClock {
    pub(crate) user: *mut c_void,
    pub(crate) now: NowFn,
}

impl Clock for CClock {
    fn now(&self) -> Instant {
        // SAFETY: `now` is the integrator's clock callback from the config, called
        // with its own `user` pointer; it takes no other argument.
        Instant::from_millis(unsafe { (self.now)(self.user) })
    }
}

// ---------------------------------------------------------------------------
// The instance
// ---------------------------------------------------------------------------

/// Everything `cellsock_init` sets up.
pub struct Instance {
    pub(crate) driver: CDriver,
    pub(crate) uart: CUart,
    pub(crate) clock: CClock,
    /// Sockets the integrator allows (1..=MAX_SOCKETS).
    pub(crate) max_sockets: usize,
    /// The live socket behind each slot (slot = handle index).
    pub(crate) handles: [Option<SocketHandle>; MAX_SOCKETS],
    /// beta.1's BOUND: `reuse_last_port` succeeded and no connect finished since.
    pub(crate) bound: [bool; MAX_SOCKETS],
}

impl Instance {
    /// Let the driver read, act and write now.
    pub fn poll(&mut self) {
        let now = self.clock.now();
        self.driver.poll(now, &mut self.uart);
    }

    /// Sockets in use.
    pub fn live(&self) -> usize {
        self.handles.iter().filter(|h| h.is_some()).count()
    }
}

/// What lives behind the guard: the instance and the generation of each slot's
/// context pointer, which outlives re-initialisation.
///
/// The instance is built at compile time and reset in place by `cellsock_init`,
/// so initialising never needs a driver-sized temporary on the caller's stack.
pub struct Shared {
    pub(crate) generations: [u8; MAX_SOCKETS],
    pub(crate) initialised: bool,
    pub(crate) instance: Instance,
}

impl Shared {
    /// The instance, once `cellsock_init` has set it up.
    pub fn instance(&mut self) -> Result<&mut Instance, Failure> {
        if self.initialised {
            Ok(&mut self.instance)
        } else {
            Err(Failure::NotInitialised)
        }
    }
}

/// Placeholder callbacks of the instance before `cellsock_init`; never called,
/// because no call reaches an uninitialised instance.
unsafe extern "C" fn no_write(_: *mut c_void, _: *const u8, _: usize) -> i32 {
    -1
}

unsafe extern "C" fn no_clock(_: *mut c_void) -> u64 {
    0
}

impl Instance {
    /// The instance before `cellsock_init`.
    const fn empty() -> Self {
        Instance {
            driver: Driver::new(Bg96::new(), crate::Config::const_default()),
            uart: CUart {
                user: core::ptr::null_mut(),
                read: None,
                write: no_write,
            },
            clock: CClock {
                user: core::ptr::null_mut(),
                now: no_clock,
            },
            max_sockets: 0,
            handles: [None; MAX_SOCKETS],
            bound: [false; MAX_SOCKETS],
        }
    }
}

/// The single global instance with its "in use" flag.
pub struct Global {
    busy: AtomicBool,
    shared: UnsafeCell<Shared>,
}

// SAFETY: `shared` is only reached through `Global::with`, which hands out the
// `&mut` only while it holds `busy` and refuses every other caller meanwhile, so at
// most one reference exists at any time, whichever thread or interrupt asks. The raw
// pointers inside (callback `user` pointers) are the integrator's, passed back to
// the integrator's callbacks only; the header documents that they are called from
// whatever context calls cellsock.
unsafe impl Sync for Global {}

impl Global {
    const fn new() -> Self {
        Global {
            busy: AtomicBool::new(false),
            shared: UnsafeCell::new(Shared {
                generations: [0; MAX_SOCKETS],
                initialised: false,
                instance: Instance::empty(),
            }),
        }
    }

    /// Run `f` with exclusive access, or refuse with [`Failure::Busy`] when another
    /// call holds it (a callback calling back into cellsock, an interrupt or a
    /// thread meanwhile). Never waits.
    pub fn with<R>(&self, f: impl FnOnce(&mut Shared) -> R) -> Result<R, Failure> {
        if !try_take(&self.busy) {
            return Err(Failure::Busy);
        }
        // SAFETY: `busy` was false and is now ours, so no other reference to
        // `shared` exists until we store false below (see `unsafe impl Sync`).
        let shared = unsafe { &mut *self.shared.get() };
        let r = f(shared);
        self.busy.store(false, Ordering::Release);
        Ok(r)
    }
}

#[cfg(target_has_atomic = "8")]
fn try_take(flag: &AtomicBool) -> bool {
    !flag.swap(true, Ordering::Acquire)
}

/// Targets without atomic read-modify-write (Cortex-M0): a load then a store.
/// Exclusive for single-threaded use; an interrupt calling cellsock between the two
/// is not caught (docs/anjay-lite.md).
#[cfg(not(target_has_atomic = "8"))]
fn try_take(flag: &AtomicBool) -> bool {
    if flag.load(Ordering::Acquire) {
        return false;
    }
    flag.store(true, Ordering::Relaxed);
    true
}

/// The instance.
pub static GLOBAL: Global = Global::new();

/// Run `f` on the initialised instance.
pub fn with_instance<R>(f: impl FnOnce(&mut Instance) -> Result<R, Failure>) -> Result<R, Failure> {
    GLOBAL
        .with(|shared| shared.instance().and_then(f))
        .and_then(|r| r)
}

/// A socket call: the instance, and the slot and handle the context names.
pub struct SocketCall<'a> {
    pub(crate) inst: &'a mut Instance,
    pub(crate) generation: &'a mut u8,
    pub(crate) slot: usize,
    pub(crate) handle: SocketHandle,
}

/// Check `ctx` (NULL, range, generation, live socket), poll the driver, run `f`.
pub fn with_socket<R>(
    ctx: *const AnjNetCtx,
    f: impl FnOnce(&mut SocketCall<'_>) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let (slot, generation) = decode(ctx).ok_or(Failure::BadArgument)?;
    GLOBAL
        .with(|shared| {
            if !shared.initialised {
                return Err(Failure::NotInitialised);
            }
            let inst = &mut shared.instance;
            inst.poll();
            let current = shared
                .generations
                .get_mut(slot)
                .ok_or(Failure::BadArgument)?;
            let handle = match inst.handles.get(slot) {
                Some(Some(h)) if *current % GENERATIONS == generation => *h,
                // A pointer to a socket that was cleaned up (or belongs to an
                // instance before the last cellsock_init).
                _ => return Err(Failure::Api(Error::Failed(Reason::BadHandle))),
            };
            f(&mut SocketCall {
                inst,
                generation: current,
                slot,
                handle,
            })
        })
        .and_then(|r| r)
}

// ---------------------------------------------------------------------------
// Context pointers
// ---------------------------------------------------------------------------

/// `anj_net_ctx_t`: opaque to everyone. The pointers cellsock hands out point into
/// a private static array and are never dereferenced; only their address is
/// decoded ([`decode`]).
#[repr(C)]
pub struct AnjNetCtx {
    _opaque: [u8; 0],
}

/// Context pointers a slot cycles through before one repeats: a pointer kept after
/// `anj_udp_cleanup_ctx` is refused until the slot has been reused this many times.
pub const GENERATIONS: u8 = 16;

/// The addresses context pointers are made of: slot `s`, generation `g` is
/// `&CTX_ANCHOR[s * GENERATIONS + g]`. Nothing reads or writes these bytes.
static CTX_ANCHOR: [u8; MAX_SOCKETS * GENERATIONS as usize] =
    [0; MAX_SOCKETS * GENERATIONS as usize];

/// The context pointer of `slot` at `generation`.
pub fn encode(slot: usize, generation: u8) -> *mut AnjNetCtx {
    let index = slot * GENERATIONS as usize + (generation % GENERATIONS) as usize;
    CTX_ANCHOR
        .as_ptr()
        .wrapping_add(index)
        .cast_mut()
        .cast::<AnjNetCtx>()
}

/// Slot and generation of a context pointer; `None` for NULL and for any address
/// cellsock never handed out.
pub fn decode(ctx: *const AnjNetCtx) -> Option<(usize, u8)> {
    if ctx.is_null() {
        return None;
    }
    let offset = ctx.addr().wrapping_sub(CTX_ANCHOR.as_ptr().addr());
    if offset >= CTX_ANCHOR.len() {
        return None;
    }
    let g = GENERATIONS as usize;
    Some((offset / g, (offset % g) as u8))
}

// ---------------------------------------------------------------------------
// Interrupt feed
// ---------------------------------------------------------------------------

/// A single-producer single-consumer byte ring: the UART interrupt pushes
/// (`cellsock_uart_rx`), the driver's poll pops (as its UART read, under the
/// guard). Independent of the guard, so the interrupt is never refused because the
/// main loop is inside cellsock.
pub struct Feed {
    buf: UnsafeCell<[u8; FEED_CAPACITY]>,
    /// Bytes ever pushed (wrapping); written by the producer only.
    head: AtomicUsize,
    /// Bytes ever popped (wrapping); written by the consumer only.
    tail: AtomicUsize,
    /// A producer is inside `push`.
    producing: AtomicBool,
    /// Bytes refused because the ring was full.
    dropped: AtomicU32,
}

// SAFETY: the producer only writes the free part of `buf` (from `head` up to
// `tail + FEED_CAPACITY`) and publishes it with a Release store of `head`; the
// consumer only reads the filled part (from `tail` up to the `head` it loaded with
// Acquire) and frees it with a Release store of `tail`. The two parts never overlap.
// One producer at a time is enforced by `producing`; one consumer at a time by the
// global guard, under which alone `pop` is called.
unsafe impl Sync for Feed {}

impl Feed {
    const fn new() -> Self {
        Feed {
            buf: UnsafeCell::new([0; FEED_CAPACITY]),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            producing: AtomicBool::new(false),
            dropped: AtomicU32::new(0),
        }
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire) == self.tail.load(Ordering::Acquire)
    }

    /// Store as many of `bytes` as fit; returns how many. 0 when another producer is
    /// inside (two interrupts feeding at once).
    pub fn push(&self, bytes: &[u8]) -> usize {
        if !try_take(&self.producing) {
            return 0;
        }
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        let free = FEED_CAPACITY - head.wrapping_sub(tail).min(FEED_CAPACITY);
        let n = bytes.len().min(free);
        let base = self.buf.get().cast::<u8>();
        for (i, &b) in bytes.iter().take(n).enumerate() {
            let at = head.wrapping_add(i) % FEED_CAPACITY;
            // SAFETY: `at < FEED_CAPACITY`, inside the array; the slot is in the free
            // part, which the consumer does not touch until `head` is published.
            unsafe { base.add(at).write(b) };
        }
        self.head.store(head.wrapping_add(n), Ordering::Release);
        let refused = bytes.len() - n;
        if refused > 0 {
            let refused = u32::try_from(refused).unwrap_or(u32::MAX);
            self.dropped.fetch_add(refused, Ordering::Relaxed);
        }
        self.producing.store(false, Ordering::Release);
        n
    }

    /// Move waiting bytes into `out`; returns how many. Only under the global guard.
    fn pop(&self, out: &mut [u8]) -> usize {
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        let filled = head.wrapping_sub(tail).min(FEED_CAPACITY);
        let n = out.len().min(filled);
        let base = self.buf.get().cast::<u8>().cast_const();
        for (i, slot) in out.iter_mut().take(n).enumerate() {
            let at = tail.wrapping_add(i) % FEED_CAPACITY;
            // SAFETY: `at < FEED_CAPACITY`; the slot is in the filled part, published
            // by the producer's Release store of `head` that we loaded with Acquire.
            *slot = unsafe { base.add(at).read() };
        }
        self.tail.store(tail.wrapping_add(n), Ordering::Release);
        n
    }

    /// Bytes refused because the ring was full, since start.
    pub fn dropped(&self) -> u32 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The interrupt feed.
pub static FEED: Feed = Feed::new();

// ---------------------------------------------------------------------------
// Last failure
// ---------------------------------------------------------------------------

/// The last failure as `reason | modem_code << 16`; outside the guard so that even
/// a refused (busy) call can record why.
static LAST: AtomicU32 = AtomicU32::new(0);

/// Remember a failure for `cellsock_last_reason`. "Not yet" answers are not failures.
pub fn record(f: Failure) {
    if let Failure::Api(e) = f {
        if e.is_pending() {
            return;
        }
    }
    let (reason, code) = super::reason_code(f);
    LAST.store(reason as u32 | (code as u32) << 16, Ordering::Relaxed);
}

/// The last recorded failure: reason and modem code.
pub fn last() -> (i32, u16) {
    let v = LAST.load(Ordering::Relaxed);
    ((v & 0xffff) as i32, (v >> 16) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_pointers_round_trip_and_foreign_ones_are_refused() {
        for slot in 0..MAX_SOCKETS {
            for g in [0u8, 1, 15, 16, 255] {
                let p = encode(slot, g);
                assert!(!p.is_null());
                assert_eq!(decode(p), Some((slot, g % GENERATIONS)));
            }
        }
        assert_eq!(decode(core::ptr::null()), None);
        let local = 0u8;
        assert_eq!(decode((&local as *const u8).cast()), None);
        let past_end = CTX_ANCHOR.as_ptr().wrapping_add(CTX_ANCHOR.len());
        assert_eq!(decode(past_end.cast()), None);
        let before = CTX_ANCHOR.as_ptr().wrapping_sub(1);
        assert_eq!(decode(before.cast()), None);
    }

    #[test]
    fn feed_keeps_order_across_wrap_and_refuses_overflow() {
        let feed = Feed::new();
        let mut out = [0u8; 300];
        let mut next = 0u8;
        let mut expect = 0u8;
        for _ in 0..40 {
            let chunk: [u8; 200] = core::array::from_fn(|i| next.wrapping_add(i as u8));
            assert_eq!(feed.push(&chunk), 200);
            next = next.wrapping_add(200);
            let n = feed.pop(&mut out);
            assert_eq!(n, 200);
            for &b in &out[..n] {
                assert_eq!(b, expect);
                expect = expect.wrapping_add(1);
            }
        }
        assert!(feed.is_empty());
        let big = [7u8; FEED_CAPACITY + 10];
        assert_eq!(feed.push(&big), FEED_CAPACITY);
        assert_eq!(feed.dropped(), 10);
        assert_eq!(feed.push(&[1]), 0, "full");
        let mut all = [0u8; FEED_CAPACITY];
        assert_eq!(feed.pop(&mut all), FEED_CAPACITY);
        assert!(feed.is_empty());
    }

    #[test]
    fn a_held_guard_refuses_instead_of_aliasing() {
        let g = Global::new();
        let inner = g.with(|_| g.with(|_| ()));
        assert_eq!(inner, Ok(Err(Failure::Busy)));
        assert_eq!(g.with(|_| 5), Ok(5), "released after the outer call");
    }
}
