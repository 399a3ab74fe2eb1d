//! The `anj_udp_*` functions with the C signatures of Anjay Lite's `anj_net_api.h`.
//!
//! Each one checks its pointers, polls the driver, makes the [`crate::Driver`] call
//! and maps the result through [`BUILT`]. The 3.x build exports create, cleanup,
//! connect, send, recv, close, get_state, get_inner_mtu and queue_mode_rx_off; the
//! beta.1 build exports its 13 functions (shutdown, reuse_last_port, the byte
//! counters and get_system_socket instead of queue_mode_rx_off).

use core::ffi::{c_char, c_int};

use crate::config::AddressFamily;
use crate::error::{Error, Reason};
use crate::socket::MAX_HOST;

use super::finish;
use super::global::{self, encode, with_socket, AnjNetCtx, SocketCall};
use super::integrator::c_text;
use super::release::{Failure, BUILT};
use super::AnjEnum;

/// `anj_net_config_t`: only its first member is read, `raw_socket_config.af_setting`
/// (an `anj_net_address_family_setting_t`), which every release puts first.
#[repr(C)]
pub struct AnjNetConfig {
    _opaque: [u8; 0],
}

/// Longest port text accepted ("65535" and then some leading zeros).
const MAX_PORT_TEXT: usize = 8;

/// `anj_net_address_family_setting_t` → the driver's family. UNSPEC and the two
/// PREFERRED settings leave the choice to the modem's resolver; the FORCE settings
/// must be honoured or refused (ENOTSUP from create when the context cannot).
fn family(setting: u32) -> Result<AddressFamily, Error> {
    match setting {
        0 | 3 | 4 => Ok(AddressFamily::Unspecified),
        1 => Ok(AddressFamily::Ipv4),
        2 => Ok(AddressFamily::Ipv6),
        _ => Err(Error::NotSupported),
    }
}

/// Read `af_setting`, the first member of `anj_net_config_t`, as the C enum it is.
///
/// # Safety
///
/// `config` points to a valid `anj_net_config_t`.
unsafe fn af_setting(config: *const AnjNetConfig) -> u32 {
    let p = config.cast::<u8>();
    // SAFETY (all arms): the struct starts with the enum, which has the size of
    // `AnjEnum` on this target, so exactly that many bytes are readable at `p`.
    // Read unaligned and as an integer, so no value is invalid.
    unsafe {
        match core::mem::size_of::<AnjEnum>() {
            1 => u32::from(p.read()),
            2 => u32::from(p.cast::<u16>().read_unaligned()),
            _ => p.cast::<u32>().read_unaligned(),
        }
    }
}

/// A buffer argument as a slice: NULL is only fine for length 0.
///
/// # Safety
///
/// A non-NULL `buf` is valid for reading `len` bytes for `'a`.
unsafe fn in_slice<'a>(buf: *const u8, len: usize) -> Result<&'a [u8], Failure> {
    if buf.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Failure::BadArgument)
        };
    }
    if len > isize::MAX as usize {
        return Err(Failure::BadArgument);
    }
    // SAFETY: non-NULL, valid for `len` reads (caller), `len <= isize::MAX`, u8 has
    // no alignment requirement.
    Ok(unsafe { core::slice::from_raw_parts(buf, len) })
}

/// A buffer argument as a mutable slice: NULL is only fine for length 0.
///
/// # Safety
///
/// A non-NULL `buf` is valid for writing `len` bytes for `'a` and not otherwise
/// accessed meanwhile.
unsafe fn out_slice<'a>(buf: *mut u8, len: usize) -> Result<&'a mut [u8], Failure> {
    if buf.is_null() {
        return if len == 0 {
            Ok(&mut [])
        } else {
            Err(Failure::BadArgument)
        };
    }
    if len > isize::MAX as usize {
        return Err(Failure::BadArgument);
    }
    // SAFETY: non-NULL, valid for `len` writes and exclusive (caller), `len <=
    // isize::MAX`, u8 has no alignment requirement.
    Ok(unsafe { core::slice::from_raw_parts_mut(buf, len) })
}

/// `int anj_udp_create_ctx(anj_net_ctx_t **ctx, const anj_net_config_t *config)`.
///
/// Takes a free socket slot and stores its context in `*ctx` (NULL on failure).
/// `config` may be NULL (defaults). A FORCE_INET4/6 setting the configured packet
/// data context cannot carry, or an unknown setting, is ENOTSUP; no free socket
/// (`max_sockets` in use) is the generic error.
///
/// # Safety
///
/// `ctx` is NULL or valid for writing a pointer; `config` is NULL or points to a
/// valid `anj_net_config_t`.
#[no_mangle]
pub unsafe extern "C" fn anj_udp_create_ctx(
    ctx: *mut *mut AnjNetCtx,
    config: *const AnjNetConfig,
) -> c_int {
    if ctx.is_null() {
        return finish(Err(Failure::BadArgument));
    }
    let setting = if config.is_null() {
        0
    } else {
        // SAFETY: non-NULL and valid per the caller's contract.
        unsafe { af_setting(config) }
    };
    let r = global::GLOBAL
        .with(|shared| {
            if !shared.initialised {
                return Err(Failure::NotInitialised);
            }
            let inst = &mut shared.instance;
            inst.poll();
            let family = family(setting)?;
            if inst.live() >= inst.max_sockets {
                return Err(Failure::Api(Error::Failed(Reason::NoFreeSocket)));
            }
            let h = inst.driver.create(family)?;
            let slot = h.index();
            let generation = shared
                .generations
                .get_mut(slot)
                .ok_or(Failure::BadArgument)?;
            if let Some(entry) = inst.handles.get_mut(slot) {
                if entry.is_some() {
                    // The driver freed a slot this layer still maps (it cannot,
                    // but if it did): the old context must not reach the new socket.
                    *generation = generation.wrapping_add(1);
                }
                *entry = Some(h);
            }
            set(&mut inst.bound, slot, false);
            Ok(encode(slot, *generation))
        })
        .and_then(|r| r);
    let out = *r.as_ref().unwrap_or(&core::ptr::null_mut());
    // SAFETY: non-NULL and valid for writes per the caller's contract.
    unsafe { ctx.write_unaligned(out) };
    finish(r.map(|_| ()))
}

/// `int anj_udp_cleanup_ctx(anj_net_ctx_t **ctx)`.
///
/// Closes the modem socket and frees the slot. "In progress" (EINPROGRESS; EAGAIN
/// on beta.1) while the modem closes it; on OK `*ctx` is set to NULL and the old
/// pointer is refused from then on.
///
/// # Safety
///
/// `ctx` is NULL or valid for reading and writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn anj_udp_cleanup_ctx(ctx: *mut *mut AnjNetCtx) -> c_int {
    if ctx.is_null() {
        return finish(Err(Failure::BadArgument));
    }
    // SAFETY: non-NULL and valid for reads per the caller's contract.
    let c = unsafe { ctx.read_unaligned() };
    let r = with_socket(c, |call| {
        let r = call.inst.driver.cleanup(call.handle);
        call.inst.poll();
        r?;
        if let Some(entry) = call.inst.handles.get_mut(call.slot) {
            *entry = None;
        }
        set(&mut call.inst.bound, call.slot, false);
        *call.generation = call.generation.wrapping_add(1);
        Ok(())
    });
    if r.is_ok() {
        // SAFETY: non-NULL and valid for writes per the caller's contract.
        unsafe { ctx.write_unaligned(core::ptr::null_mut()) };
    }
    finish(r)
}

/// `int anj_udp_connect(anj_net_ctx_t *ctx, const char *hostname, const char *port)`.
///
/// Brings the modem up as far as needed and opens the socket: "in progress" until
/// done, to be repeated with the same arguments. The driver bounds the whole
/// connect (`connect_timeout_ms`) since Anjay has no timeout of its own.
///
/// # Safety
///
/// `ctx` may be anything (it is only decoded); `hostname` and `port` are NULL or
/// NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn anj_udp_connect(
    ctx: *mut AnjNetCtx,
    hostname: *const c_char,
    port: *const c_char,
) -> c_int {
    // SAFETY: NULL or NUL-terminated per the caller's contract; c_text reads at
    // most max + 1 bytes.
    let host = unsafe { c_text(hostname, MAX_HOST + 2) };
    // SAFETY: as above.
    let port_text = unsafe { c_text(port, MAX_PORT_TEXT) };
    let r = with_socket(ctx, |call| {
        let host = match (hostname.is_null(), host) {
            (true, _) => return Err(Failure::BadArgument),
            (false, None) => return Err(Error::Failed(Reason::InvalidHost).into()),
            (false, Some(h)) => h,
        };
        let port_text = match (port.is_null(), port_text) {
            (true, _) => return Err(Failure::BadArgument),
            (false, None) => return Err(Error::Failed(Reason::InvalidPort).into()),
            (false, Some(p)) => p,
        };
        let r = call.inst.driver.connect(call.handle, host, port_text);
        call.inst.poll();
        if r != Err(Error::InProgress) {
            // Connected or failed: a beta.1 BOUND socket is bound no more.
            set_bound(call, false);
        }
        Ok(r?)
    });
    finish(r)
}

fn set_bound(call: &mut SocketCall<'_>, value: bool) {
    set(&mut call.inst.bound, call.slot, value);
}

fn set(flags: &mut [bool], slot: usize, value: bool) {
    if let Some(f) = flags.get_mut(slot) {
        *f = value;
    }
}

/// `int anj_udp_send(anj_net_ctx_t *ctx, size_t *bytes_sent, const uint8_t *buf,
/// size_t length)`.
///
/// Sends the whole datagram or nothing: "in progress" until the modem accepted it
/// (then OK and `*bytes_sent == length`) or refused it (generic error). Longer than
/// the inner MTU: EMSGSIZE. `*bytes_sent` is 0 on every other answer.
///
/// # Safety
///
/// `bytes_sent` is NULL or valid for writing a `size_t`; `buf` is NULL (only with
/// `length` 0) or valid for reading `length` bytes.
#[no_mangle]
pub unsafe extern "C" fn anj_udp_send(
    ctx: *mut AnjNetCtx,
    bytes_sent: *mut usize,
    buf: *const u8,
    length: usize,
) -> c_int {
    if bytes_sent.is_null() {
        return finish(Err(Failure::BadArgument));
    }
    let r = with_socket(ctx, |call| {
        // SAFETY: per the caller's contract, checked for NULL inside.
        let data = unsafe { in_slice(buf, length) }?;
        let r = call.inst.driver.send(call.handle, data);
        call.inst.poll();
        Ok(r?)
    });
    // SAFETY: non-NULL and valid for writes per the caller's contract.
    unsafe { bytes_sent.write_unaligned(*r.as_ref().unwrap_or(&0)) };
    finish(r.map(|_| ()))
}

/// `int anj_udp_recv(anj_net_ctx_t *ctx, size_t *bytes_received, uint8_t *buf,
/// size_t length)`.
///
/// Takes the oldest buffered datagram: OK with `*bytes_received`; EAGAIN when none
/// waits; EMSGSIZE when it is longer than `length` (it is dropped, the next one is
/// intact). Cheap: one poll, never a modem command of its own. A socket the modem
/// lost is the generic error (after the datagrams that came before the loss).
///
/// # Safety
///
/// `bytes_received` is NULL or valid for writing a `size_t`; `buf` is NULL (only
/// with `length` 0) or valid for writing `length` bytes.
#[no_mangle]
pub unsafe extern "C" fn anj_udp_recv(
    ctx: *mut AnjNetCtx,
    bytes_received: *mut usize,
    buf: *mut u8,
    length: usize,
) -> c_int {
    if bytes_received.is_null() {
        return finish(Err(Failure::BadArgument));
    }
    let r = with_socket(ctx, |call| {
        // SAFETY: per the caller's contract, checked for NULL inside.
        let out = unsafe { out_slice(buf, length) }?;
        Ok(call.inst.driver.recv(call.handle, out)?)
    });
    // SAFETY: non-NULL and valid for writes per the caller's contract.
    unsafe { bytes_received.write_unaligned(*r.as_ref().unwrap_or(&0)) };
    finish(r.map(|_| ()))
}

/// `int anj_udp_close(anj_net_ctx_t *ctx)`.
///
/// Drops buffered datagrams and closes the modem socket: "in progress" while the
/// modem closes it; afterwards the context can connect again.
///
/// # Safety
///
/// None beyond the C signature: `ctx` is only decoded, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn anj_udp_close(ctx: *mut AnjNetCtx) -> c_int {
    let r = with_socket(ctx, |call| {
        let r = call.inst.driver.close(call.handle);
        call.inst.poll();
        set_bound(call, false);
        Ok(r?)
    });
    finish(r)
}

/// `int anj_udp_get_state(anj_net_ctx_t *ctx, anj_net_socket_state_t *out_value)`.
///
/// Answers from cached state at once. Always writes `*out_value` when it is not
/// NULL: CLOSED when the context is invalid (Anjay's close path ignores the return
/// code).
///
/// # Safety
///
/// `out_value` is NULL or valid for writing an `anj_net_socket_state_t`.
#[no_mangle]
pub unsafe extern "C" fn anj_udp_get_state(ctx: *mut AnjNetCtx, out_value: *mut AnjEnum) -> c_int {
    if out_value.is_null() {
        return finish(Err(Failure::BadArgument));
    }
    let r = with_socket(ctx, |call| {
        let state = call.inst.driver.state(call.handle)?;
        let bound = call.inst.bound.get(call.slot).copied().unwrap_or(false);
        Ok(BUILT.state(state, bound))
    });
    let n = *r.as_ref().unwrap_or(&BUILT.states.closed);
    // SAFETY: non-NULL and valid for writes per the caller's contract; AnjEnum has
    // the size of the C enum, so exactly its bytes are written.
    unsafe { out_value.write_unaligned(AnjEnum::from_number(n)) };
    finish(r.map(|_| ()))
}

/// `int anj_udp_get_inner_mtu(anj_net_ctx_t *ctx, int32_t *out_value)`.
///
/// The largest datagram `send` takes (1460 on the BG96), at once, on any live
/// context (connected or not).
///
/// # Safety
///
/// `out_value` is NULL or valid for writing an `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn anj_udp_get_inner_mtu(ctx: *mut AnjNetCtx, out_value: *mut i32) -> c_int {
    if out_value.is_null() {
        return finish(Err(Failure::BadArgument));
    }
    let r = with_socket(ctx, |call| {
        let mtu = call.inst.driver.inner_mtu(call.handle)?;
        Ok(i32::try_from(mtu).unwrap_or(i32::MAX))
    });
    if let Ok(mtu) = r {
        // SAFETY: non-NULL and valid for writes per the caller's contract.
        unsafe { out_value.write_unaligned(mtu) };
    }
    finish(r.map(|_| ()))
}

/// `int anj_udp_queue_mode_rx_off(anj_net_ctx_t *ctx)` (1.0.0 and later).
///
/// Anjay will not receive until its next exchange: the driver stops background work
/// for this socket, and where the modem can take one (nRF91 release assistance)
/// sends it an idle hint, once, in the background; the next connect, send, recv or
/// close turns reception back on. Idempotent; always OK at once for a live socket.
///
/// # Safety
///
/// None beyond the C signature: `ctx` is only decoded, never dereferenced.
#[cfg(not(feature = "capi-beta1"))]
#[no_mangle]
pub unsafe extern "C" fn anj_udp_queue_mode_rx_off(ctx: *mut AnjNetCtx) -> c_int {
    let r = with_socket(ctx, |call| {
        let r = call.inst.driver.queue_mode_rx_off(call.handle);
        // The idle hint, if any, goes out now.
        call.inst.poll();
        Ok(r?)
    });
    finish(r)
}

/// `int anj_udp_shutdown(anj_net_ctx_t *ctx)` (beta.1 only; removed in 2.0.0).
///
/// No more sends; buffered datagrams can still be read; `close` must follow.
///
/// # Safety
///
/// None beyond the C signature: `ctx` is only decoded, never dereferenced.
#[cfg(feature = "capi-beta1")]
#[no_mangle]
pub unsafe extern "C" fn anj_udp_shutdown(ctx: *mut AnjNetCtx) -> c_int {
    let r = with_socket(ctx, |call| {
        let r = call.inst.driver.shutdown(call.handle);
        call.inst.poll();
        Ok(r?)
    });
    finish(r)
}

/// `int anj_udp_reuse_last_port(anj_net_ctx_t *ctx)` (beta.1 only).
///
/// The next connect binds the local port the socket had last time (the state reads
/// BOUND until then). Generic error if the context never connected; ENOTSUP where
/// the modem cannot bind.
///
/// # Safety
///
/// None beyond the C signature: `ctx` is only decoded, never dereferenced.
#[cfg(feature = "capi-beta1")]
#[no_mangle]
pub unsafe extern "C" fn anj_udp_reuse_last_port(ctx: *mut AnjNetCtx) -> c_int {
    let r = with_socket(ctx, |call| {
        call.inst.driver.reuse_last_port(call.handle)?;
        set_bound(call, true);
        Ok(())
    });
    finish(r)
}

/// `int anj_udp_get_bytes_sent(anj_net_ctx_t *ctx, uint64_t *out_value)` (beta.1).
///
/// Payload bytes the modem accepted.
///
/// # Safety
///
/// `out_value` is NULL or valid for writing a `uint64_t`.
#[cfg(feature = "capi-beta1")]
#[no_mangle]
pub unsafe extern "C" fn anj_udp_get_bytes_sent(ctx: *mut AnjNetCtx, out_value: *mut u64) -> c_int {
    if out_value.is_null() {
        return finish(Err(Failure::BadArgument));
    }
    let r = with_socket(ctx, |call| Ok(call.inst.driver.bytes_sent(call.handle)?));
    if let Ok(n) = r {
        // SAFETY: non-NULL and valid for writes per the caller's contract.
        unsafe { out_value.write_unaligned(n) };
    }
    finish(r.map(|_| ()))
}

/// `int anj_udp_get_bytes_received(anj_net_ctx_t *ctx, uint64_t *out_value)`
/// (beta.1). Payload bytes handed to Anjay.
///
/// # Safety
///
/// `out_value` is NULL or valid for writing a `uint64_t`.
#[cfg(feature = "capi-beta1")]
#[no_mangle]
pub unsafe extern "C" fn anj_udp_get_bytes_received(
    ctx: *mut AnjNetCtx,
    out_value: *mut u64,
) -> c_int {
    if out_value.is_null() {
        return finish(Err(Failure::BadArgument));
    }
    let r = with_socket(ctx, |call| {
        Ok(call.inst.driver.bytes_received(call.handle)?)
    });
    if let Ok(n) = r {
        // SAFETY: non-NULL and valid for writes per the caller's contract.
        unsafe { out_value.write_unaligned(n) };
    }
    finish(r.map(|_| ()))
}

/// `const void *anj_udp_get_system_socket(anj_net_ctx_t *ctx)` (beta.1).
///
/// There is no operating-system socket behind a modem socket: always NULL.
///
/// # Safety
///
/// None beyond the C signature: `ctx` is only decoded, never dereferenced.
#[cfg(feature = "capi-beta1")]
#[no_mangle]
pub unsafe extern "C" fn anj_udp_get_system_socket(
    ctx: *mut AnjNetCtx,
) -> *const core::ffi::c_void {
    let r = with_socket(ctx, |call| {
        call.inst.driver.system_socket(call.handle)?;
        Ok(())
    });
    if let Err(f) = r {
        global::record(f);
    }
    core::ptr::null()
}
