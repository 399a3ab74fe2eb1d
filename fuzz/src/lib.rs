//! Fuzz harnesses for cellsock (`docs/reliability.md`, "Fuzzing").
//!
//! The targets in `fuzz_targets/` are one line each; the harnesses live here so
//! that the seed generator (`src/bin/seeds.rs`) and the tests below share them.

pub mod action;
pub mod driver_target;
pub mod framer_target;
pub mod input;
pub mod modem;
pub mod reference;
pub mod seeds;

use cellsock::modems::bg96::Bg96;
use cellsock::modems::nrf91_slm::Nrf91Slm;

/// Target `framer`.
pub fn framer(data: &[u8]) {
    framer_target::framer(data);
}

/// Target `driver_bg96` (first byte, bit 0: buffer-access receive).
pub fn driver_bg96(data: &[u8]) {
    driver_target::run(data, reference::Dialect::Bg96, |buffered| {
        if buffered {
            Bg96::buffered()
        } else {
            Bg96::new()
        }
    });
}

/// Target `driver_nrf91` (first byte, bit 0: poll-mode receive).
pub fn driver_nrf91(data: &[u8]) {
    driver_target::run(data, reference::Dialect::Nrf91, |polled| {
        if polled {
            Nrf91Slm::polled()
        } else {
            Nrf91Slm::new()
        }
    });
}
