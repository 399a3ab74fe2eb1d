//! The integrator's side of the C ABI (`include/cellsock.h`): configuration, init,
//! polling, the interrupt feed and diagnostics.

use core::ffi::{c_char, c_int, c_void};

use crate::config::{Config, PdpType, MAX_APN};
use crate::modems::bg96::Bg96;

use super::global::{self, CClock, CUart, NowFn, ReadFn, WriteFn, FEED, GLOBAL, MAX_SOCKETS};
use super::release::{Failure, BUILT};
use super::{reason, AnjEnum};

/// `CELLSOCK_OK`.
pub const CELLSOCK_OK: c_int = 0;
/// `CELLSOCK_IDLE`: `cellsock_poll_at_ms` has no deadline to report.
pub const CELLSOCK_IDLE: c_int = 1;
/// `CELLSOCK_ERR_ARG`: a NULL or invalid argument.
pub const CELLSOCK_ERR_ARG: c_int = -1;
/// `CELLSOCK_ERR_BUSY`: another cellsock call is running.
pub const CELLSOCK_ERR_BUSY: c_int = -2;
/// `CELLSOCK_ERR_NOT_INITIALISED`: `cellsock_init` has not succeeded.
pub const CELLSOCK_ERR_NOT_INITIALISED: c_int = -3;
/// `CELLSOCK_ERR_RELEASE`: the application expects another Anjay Lite release.
pub const CELLSOCK_ERR_RELEASE: c_int = -4;
/// `CELLSOCK_ERR_CONFIG`: an unknown modem, a bad APN, too many sockets, ...
pub const CELLSOCK_ERR_CONFIG: c_int = -5;

/// `CELLSOCK_MODEM_BG96`: Quectel BG96, datagrams pushed with their URC.
pub const CELLSOCK_MODEM_BG96: u32 = 1;
/// `CELLSOCK_MODEM_BG96_BUFFER`: Quectel BG96, datagrams read from the modem's
/// buffer.
pub const CELLSOCK_MODEM_BG96_BUFFER: u32 = 2;

/// `CELLSOCK_PDP_IPV4` (0, the default).
pub const CELLSOCK_PDP_IPV4: u32 = 0;
/// `CELLSOCK_PDP_IPV6`.
pub const CELLSOCK_PDP_IPV6: u32 = 1;
/// `CELLSOCK_PDP_IPV4V6`.
pub const CELLSOCK_PDP_IPV4V6: u32 = 2;

/// `cellsock_config_t`. Zero means "default" for every number except
/// `anj_net_api` and `modem`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CellsockConfig {
    /// The Anjay Lite release the application is built for
    /// (`CELLSOCK_ANJ_NET_API`); must be the library's.
    pub anj_net_api: u32,
    /// `CELLSOCK_MODEM_*`.
    pub modem: u32,
    /// APN, NUL-terminated; NULL or "" for the network's default. Copied.
    pub apn: *const c_char,
    /// Sockets Anjay may create at once, 1..=`CELLSOCK_MAX_SOCKETS`; 0 for all.
    pub max_sockets: u32,
    /// `CELLSOCK_PDP_*`.
    pub pdp_type: u32,
    /// Packet data context id; 0 for 1.
    pub context_id: u32,
    /// Upper bound of a whole connect in ms; 0 for the default (240 s).
    pub connect_timeout_ms: u32,
    /// Passed to every callback.
    pub user: *mut c_void,
    /// Non-blocking UART read: up to `len` bytes into `buf`, returns the count (0:
    /// nothing now) or a negative value on a UART error. NULL: the UART interrupt
    /// hands bytes to `cellsock_uart_rx` instead.
    pub uart_read: Option<ReadFn>,
    /// Non-blocking UART write: takes up to `len` bytes, returns the count (0: not
    /// now) or a negative value on error. Required.
    pub uart_write: Option<WriteFn>,
    /// Monotonic milliseconds. Required.
    pub now_ms: Option<NowFn>,
}

/// The contract release the library is built for (`CELLSOCK_ANJ_NET_API_*`).
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static cellsock_anj_net_api_release: u32 = BUILT.id;

/// `sizeof` of a C enum on the target as the library was compiled: the application
/// checks `sizeof(anj_net_socket_state_t)` against it (short-enum settings must
/// agree, or `anj_udp_get_state` writes the wrong number of bytes).
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static cellsock_anj_enum_size: u8 = core::mem::size_of::<AnjEnum>() as u8;

/// Read a NUL-terminated string of at most `max` bytes (without the NUL).
/// `None` for NULL, no NUL within `max + 1` bytes, or invalid UTF-8.
///
/// # Safety
///
/// `p` is NULL or points to readable bytes up to its NUL or `max + 1` bytes,
/// whichever comes first, that stay unchanged while the result is used.
pub(crate) unsafe fn c_text<'a>(p: *const c_char, max: usize) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    let bytes = p.cast::<u8>();
    let mut len = 0;
    loop {
        if len > max {
            return None;
        }
        // SAFETY: the caller guarantees the bytes up to the NUL (or max + 1) are
        // readable; we stop at the first NUL and never go past max + 1.
        if unsafe { bytes.add(len).read() } == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL were just read and are readable and
    // unchanged for `'a` (caller's promise).
    let slice = unsafe { core::slice::from_raw_parts(bytes, len) };
    core::str::from_utf8(slice).ok()
}

fn build(cfg: &CellsockConfig) -> Result<(Config, Bg96, CUart, CClock, usize), c_int> {
    if cfg.anj_net_api != BUILT.id {
        return Err(CELLSOCK_ERR_RELEASE);
    }
    let (Some(write), Some(now)) = (cfg.uart_write, cfg.now_ms) else {
        return Err(CELLSOCK_ERR_ARG);
    };
    let profile = match cfg.modem {
        CELLSOCK_MODEM_BG96 => Bg96::new(),
        CELLSOCK_MODEM_BG96_BUFFER => Bg96::buffered(),
        _ => return Err(CELLSOCK_ERR_CONFIG),
    };
    let apn = if cfg.apn.is_null() {
        ""
    } else {
        // SAFETY: a non-NULL `apn` is a NUL-terminated string (header contract);
        // c_text reads at most MAX_APN + 1 bytes of it.
        unsafe { c_text(cfg.apn, MAX_APN) }.ok_or(CELLSOCK_ERR_CONFIG)?
    };
    let mut config = Config::new(apn).map_err(|_| CELLSOCK_ERR_CONFIG)?;
    config.pdp_type = match cfg.pdp_type {
        CELLSOCK_PDP_IPV4 => PdpType::Ipv4,
        CELLSOCK_PDP_IPV6 => PdpType::Ipv6,
        CELLSOCK_PDP_IPV4V6 => PdpType::Ipv4v6,
        _ => return Err(CELLSOCK_ERR_CONFIG),
    };
    if cfg.context_id != 0 {
        config.context_id = u8::try_from(cfg.context_id).map_err(|_| CELLSOCK_ERR_CONFIG)?;
    }
    if cfg.connect_timeout_ms != 0 {
        config.connect_timeout_ms = cfg.connect_timeout_ms;
    }
    let max_sockets = match cfg.max_sockets as usize {
        0 => MAX_SOCKETS,
        n if n <= MAX_SOCKETS => n,
        _ => return Err(CELLSOCK_ERR_CONFIG),
    };
    let uart = CUart {
        user: cfg.user,
        read: cfg.uart_read,
        write,
    };
    let clock = CClock {
        user: cfg.user,
        now,
    };
    Ok((config, profile, uart, clock, max_sockets))
}

fn failure_code(f: Failure) -> c_int {
    global::record(f);
    match f {
        Failure::Busy => CELLSOCK_ERR_BUSY,
        Failure::NotInitialised => CELLSOCK_ERR_NOT_INITIALISED,
        Failure::BadArgument | Failure::Api(_) => CELLSOCK_ERR_ARG,
    }
}

/// `int cellsock_init(const cellsock_config_t *config)`: set up (or reset) the
/// driver. Nothing is sent to the modem until Anjay connects a socket. Calling it
/// again drops every socket: context pointers from before are refused afterwards.
///
/// Returns `CELLSOCK_OK`, `CELLSOCK_ERR_ARG` (NULL config, missing callback),
/// `CELLSOCK_ERR_RELEASE` (`config->anj_net_api` is not the library's release),
/// `CELLSOCK_ERR_CONFIG` or `CELLSOCK_ERR_BUSY`.
///
/// # Safety
///
/// `config` is NULL or points to a valid `cellsock_config_t` whose `apn` is NULL or
/// NUL-terminated and whose callbacks are callable with `user` until the next
/// `cellsock_init`.
#[no_mangle]
pub unsafe extern "C" fn cellsock_init(config: *const CellsockConfig) -> c_int {
    if config.is_null() {
        global::record(Failure::BadArgument);
        return CELLSOCK_ERR_ARG;
    }
    // SAFETY: non-NULL and valid per the caller's contract; read unaligned so a
    // misaligned pointer costs nothing worse than a slower read.
    let cfg = unsafe { config.read_unaligned() };
    let (config, profile, uart, clock, max_sockets) = match build(&cfg) {
        Ok(parts) => parts,
        Err(code) => {
            global::record(Failure::BadArgument);
            return code;
        }
    };
    let r = GLOBAL.with(|shared| {
        // Every context pointer handed out so far becomes stale.
        for g in shared.generations.iter_mut() {
            *g = g.wrapping_add(1);
        }
        // Reset in place: no driver-sized temporary on the caller's stack.
        let inst = &mut shared.instance;
        inst.driver.reset(profile, config);
        inst.uart = uart;
        inst.clock = clock;
        inst.max_sockets = max_sockets;
        inst.handles = [None; MAX_SOCKETS];
        inst.bound = [false; MAX_SOCKETS];
        shared.initialised = true;
    });
    match r {
        Ok(()) => CELLSOCK_OK,
        Err(f) => failure_code(f),
    }
}

/// `int cellsock_poll(void)`: let the driver work now (read the UART, time out,
/// send the next command). Call it from the main loop, at least when
/// `cellsock_poll_at_ms` says so; the `anj_udp_*` calls poll too.
///
/// Returns `CELLSOCK_OK`, `CELLSOCK_ERR_NOT_INITIALISED` or `CELLSOCK_ERR_BUSY`.
#[no_mangle]
pub extern "C" fn cellsock_poll() -> c_int {
    match global::with_instance(|inst| {
        inst.poll();
        Ok(())
    }) {
        Ok(()) => CELLSOCK_OK,
        Err(f) => failure_code(f),
    }
}

/// `int cellsock_poll_at_ms(uint64_t *at_ms)`: when the driver next needs a poll if
/// no byte arrives, on the `now_ms` clock. `CELLSOCK_OK` with `*at_ms` set, or
/// `CELLSOCK_IDLE` when only a UART byte or an API call can make progress (the
/// firmware may sleep until its UART interrupt). Errors as `cellsock_poll`, and
/// `CELLSOCK_ERR_ARG` for NULL.
///
/// # Safety
///
/// `at_ms` is NULL or valid for writing a `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn cellsock_poll_at_ms(at_ms: *mut u64) -> c_int {
    if at_ms.is_null() {
        return failure_code(Failure::BadArgument);
    }
    let r = global::with_instance(|inst| {
        if !FEED.is_empty() {
            // Bytes from the interrupt wait: now.
            use crate::time::Clock;
            return Ok(Some(inst.clock.now()));
        }
        Ok(inst.driver.poll_at())
    });
    match r {
        Ok(Some(t)) => {
            // SAFETY: non-NULL and valid for writes per the caller's contract.
            unsafe { at_ms.write_unaligned(t.as_millis()) };
            CELLSOCK_OK
        }
        Ok(None) => CELLSOCK_IDLE,
        Err(f) => failure_code(f),
    }
}

/// `size_t cellsock_uart_rx(const uint8_t *bytes, size_t len)`: hand bytes the
/// UART received to the driver (from the UART interrupt, with `uart_read` NULL in
/// the config). Lock-free: never refused because the main loop is inside cellsock.
/// Returns how many were taken; the rest did not fit in the
/// `CELLSOCK_FEED_CAPACITY` buffer (poll more often) and are lost.
///
/// # Safety
///
/// `bytes` is NULL (then nothing is taken) or valid for reading `len` bytes. One
/// interrupt feeds at a time (a second concurrent feeder is refused, returns 0).
#[no_mangle]
pub unsafe extern "C" fn cellsock_uart_rx(bytes: *const u8, len: usize) -> usize {
    if bytes.is_null() || len == 0 || len > isize::MAX as usize {
        return 0;
    }
    // SAFETY: non-NULL, valid for `len` reads per the caller's contract, and
    // `len <= isize::MAX`.
    let bytes = unsafe { core::slice::from_raw_parts(bytes, len) };
    FEED.push(bytes)
}

/// `int32_t cellsock_last_reason(uint16_t *modem_code)`: why the last failed call
/// failed (`CELLSOCK_REASON_*`; Anjay only sees the generic error), and the
/// modem's own error number where there is one (`modem_code` may be NULL).
///
/// # Safety
///
/// `modem_code` is NULL or valid for writing a `uint16_t`.
#[no_mangle]
pub unsafe extern "C" fn cellsock_last_reason(modem_code: *mut u16) -> i32 {
    let (reason, code) = global::last();
    if !modem_code.is_null() {
        // SAFETY: non-NULL and valid for writes per the caller's contract.
        unsafe { modem_code.write_unaligned(code) };
    }
    reason
}

/// `const char *cellsock_reason_name(int32_t reason)`: a static name for a
/// `CELLSOCK_REASON_*` code ("unknown" for others). Never NULL.
#[no_mangle]
pub extern "C" fn cellsock_reason_name(code: i32) -> *const c_char {
    use reason::*;
    let name: &'static [u8] = match code {
        NONE => b"none\0",
        INVALID_STATE => b"invalid state\0",
        BAD_HANDLE => b"bad handle\0",
        NO_FREE_SOCKET => b"no free socket\0",
        INVALID_HOST => b"invalid host\0",
        INVALID_PORT => b"invalid port\0",
        TIMEOUT => b"timeout\0",
        MODEM_NOT_READY => b"modem not ready\0",
        SIM_NOT_READY => b"SIM not ready\0",
        NOT_REGISTERED => b"not registered\0",
        PDP_ACTIVATION_FAILED => b"PDP activation failed\0",
        DNS_FAILED => b"DNS failed\0",
        OPEN_FAILED => b"open failed\0",
        MODEM_ERROR => b"modem error\0",
        SEND_FAILED => b"send failed\0",
        SOCKET_CLOSED => b"socket closed\0",
        PDP_DEACTIVATED => b"PDP deactivated\0",
        MODEM_REBOOTED => b"modem rebooted\0",
        REGISTRATION_LOST => b"registration lost\0",
        MESSAGE_SIZE => b"message size\0",
        NOT_SUPPORTED => b"not supported\0",
        SOCKET_IN_USE => b"socket in use\0",
        BAD_ARGUMENT => b"bad argument\0",
        BUSY => b"busy\0",
        NOT_INITIALISED => b"not initialised\0",
        _ => b"unknown\0",
    };
    name.as_ptr().cast()
}
