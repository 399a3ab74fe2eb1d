//! A driver can be built in place at compile time (no large stack temporary at
//! start-up): `Driver::new` is `const` for every profile.

use cellsock::modems::bg96::Bg96;
use cellsock::modems::nrf91_slm::Nrf91Slm;
use cellsock::{Config, Driver};

static BG96: std::sync::Mutex<Driver<Bg96, 4, 2048>> =
    std::sync::Mutex::new(Driver::new(Bg96::new(), Config::const_default()));
static NRF91: std::sync::Mutex<Driver<Nrf91Slm, 4, 2048>> =
    std::sync::Mutex::new(Driver::new(Nrf91Slm::new(), Config::const_default()));

#[test]
fn drivers_live_in_statics() {
    let mut d = BG96.lock().unwrap();
    assert!(d.poll_at().is_none(), "a fresh driver has nothing to do");
    let h = d.create(cellsock::AddressFamily::Unspecified).unwrap();
    assert_eq!(d.inner_mtu(h), Ok(1460));
    let mut n = NRF91.lock().unwrap();
    let h = n.create(cellsock::AddressFamily::Unspecified).unwrap();
    assert!(n.inner_mtu(h).unwrap() > 0);
}
