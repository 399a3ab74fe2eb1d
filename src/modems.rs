//! Modem profiles: one folder per modem under `modems/` at the top of the
//! repository, each joined here behind its own additive feature.

/// Quectel BG96 (and its BG95/BG77 relatives).
#[cfg(feature = "bg96")]
#[path = "../modems/bg96/mod.rs"]
pub mod bg96;
