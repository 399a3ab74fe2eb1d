//! The same board as the footprint firmware without cellsock: reset, vector table,
//! SysTick and the UART, echoing bytes. The driver's flash and RAM are the
//! footprint binary's minus this one's.
#![no_std]
#![no_main]

#[path = "../board.rs"]
mod board;

use board::{cortex_m_wfi, Uart};
use embedded_io::{Read, ReadReady, Write, WriteReady};

fn main() -> ! {
    let mut uart = Uart;
    let mut buf = [0u8; 64];
    loop {
        if uart.read_ready() == Ok(true) {
            let n = uart.read(&mut buf).unwrap_or(0);
            let mut sent = 0;
            while sent < n && uart.write_ready() == Ok(true) {
                sent += uart.write(buf.get(sent..n).unwrap_or(&[])).unwrap_or(0);
            }
        }
        core::hint::black_box(board::millis());
        cortex_m_wfi();
    }
}
