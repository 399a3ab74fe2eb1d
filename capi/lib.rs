//! `libcellsock.a`: the `cellsock` crate with its C ABI, as a static library.
//!
//! Everything the library exports (`anj_udp_*`, `cellsock_*`) lives in
//! `cellsock::capi`; this crate only links it in and, on bare-metal targets, brings
//! the panic handler a final artifact needs. It is a separate crate because a
//! `staticlib` crate-type on `cellsock` itself would need that handler on every
//! no_std build, where it would clash with the handler of a Rust firmware using the
//! `cellsock` rlib. See `docs/anjay-lite.md`.
#![cfg_attr(target_os = "none", no_std)]

// Linked for its exported symbols; nothing here calls it.
extern crate driver;

/// cellsock does not panic by design (no unwrap, no indexing that can fail); a panic
/// that gets here anyway is a bug. The library cannot know the firmware's policy,
/// so it ends the program the way C does: `abort()`, which the firmware's C library
/// provides and the integrator may override (reset, log, halt).
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    extern "C" {
        fn abort() -> !;
    }
    // SAFETY: `abort` is the C standard library function: no arguments, never
    // returns, callable from any context. A C firmware linking this library links a
    // C library that defines it.
    unsafe { abort() }
}
