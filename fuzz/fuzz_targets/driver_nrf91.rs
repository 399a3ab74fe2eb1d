#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cellsock_fuzz::driver_nrf91(data));
