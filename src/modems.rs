//! Modem profiles: one folder per modem under `modems/` at the top of the
//! repository, each joined here behind its own additive feature.

/// Quectel BG96 (and its BG95/BG77 relatives).
#[cfg(feature = "bg96")]
#[path = "../modems/bg96/mod.rs"]
pub mod bg96;

/// Nordic nRF91 Series with the Serial Modem application (successor of the Serial
/// LTE Modem).
#[cfg(feature = "nrf91")]
#[path = "../modems/nrf91_slm/mod.rs"]
pub mod nrf91_slm;

/// Replay a recording against the profile its `@profile` header names
/// (`bg96`, `bg96-buffer`, `nrf91`, `nrf91-poll`). Adding a modem adds its names here.
#[cfg(feature = "std")]
pub fn replay(
    rec: &crate::replay::Recording,
    chunking: crate::replay::Chunking,
) -> Result<crate::Stats, crate::replay::Mismatch> {
    use crate::replay::{run, Mismatch};
    match rec.header("profile") {
        #[cfg(feature = "bg96")]
        Some("bg96") => run(bg96::Bg96::new(), rec, chunking),
        #[cfg(feature = "bg96")]
        Some("bg96-buffer") => run(bg96::Bg96::buffered(), rec, chunking),
        #[cfg(feature = "nrf91")]
        Some("nrf91") => run(nrf91_slm::Nrf91Slm::new(), rec, chunking),
        #[cfg(feature = "nrf91")]
        Some("nrf91-poll") => run(nrf91_slm::Nrf91Slm::polled(), rec, chunking),
        other => Err(Mismatch {
            line: 0,
            message: format!("unknown or disabled @profile {other:?}"),
        }),
    }
}
