//! The board both footprint binaries share: a Cortex-M4F reset handler and vector
//! table, a SysTick millisecond clock, and a UART at a made-up peripheral address
//! behind the four `embedded-io` traits. Nothing here is measured on its own; the
//! `baseline` binary is this plus a byte echo, so that the driver's cost is the
//! difference between the two.

use core::ptr::{addr_of_mut, read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, Ordering};

/// A USART's registers, where an STM32 keeps USART2 (nothing is there: this binary
/// is measured, not run).
const UART_SR: *mut u32 = 0x4000_4400 as *mut u32;
const UART_DR: *mut u32 = 0x4000_4404 as *mut u32;
const SR_RXNE: u32 = 1 << 5;
const SR_TXE: u32 = 1 << 7;

/// The UART, polled.
pub struct Uart;

impl embedded_io::ErrorType for Uart {
    type Error = core::convert::Infallible;
}

pub fn status() -> u32 {
    // SAFETY: a device register read; the address is the UART's status register.
    unsafe { read_volatile(UART_SR) }
}

impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let mut n = 0;
        for slot in buf.iter_mut() {
            if status() & SR_RXNE == 0 {
                break;
            }
            // SAFETY: reading the data register takes the received byte.
            *slot = unsafe { read_volatile(UART_DR) } as u8;
            n += 1;
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(status() & SR_RXNE != 0)
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let mut n = 0;
        for &b in buf {
            if status() & SR_TXE == 0 {
                break;
            }
            // SAFETY: writing the data register sends the byte.
            unsafe { write_volatile(UART_DR, b as u32) };
            n += 1;
        }
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl embedded_io::WriteReady for Uart {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(status() & SR_TXE != 0)
    }
}

/// Milliseconds since reset, counted by SysTick.
static TICKS: AtomicU32 = AtomicU32::new(0);

/// Milliseconds since reset.
pub fn millis() -> u32 {
    TICKS.load(Ordering::Relaxed)
}

/// Sleep until an interrupt.
pub fn cortex_m_wfi() {
    // SAFETY: WFI only waits for an interrupt.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack, preserves_flags)) };
}

extern "C" {
    static mut _sbss: u32;
    static mut _ebss: u32;
    static mut _sdata: u32;
    static mut _edata: u32;
    static _sidata: u32;
}

/// Reset: initialise .data and .bss, then run `main`.
#[no_mangle]
pub unsafe extern "C" fn reset() -> ! {
    // SAFETY: the linker script defines these symbols around .bss and .data, word
    // aligned; nothing runs before this.
    unsafe {
        let mut p = addr_of_mut!(_sbss);
        while p < addr_of_mut!(_ebss) {
            write_volatile(p, 0);
            p = p.add(1);
        }
        let mut d = addr_of_mut!(_sdata);
        let mut s = &raw const _sidata;
        while d < addr_of_mut!(_edata) {
            write_volatile(d, read_volatile(s));
            d = d.add(1);
            s = s.add(1);
        }
    }
    crate::main()
}

#[link_section = ".vector_table.reset_vector"]
#[no_mangle]
#[used]
pub static RESET_VECTOR: unsafe extern "C" fn() -> ! = reset;

/// Faults and unused exceptions: stop here (a debugger shows where).
extern "C" fn default_handler() {
    loop {
        cortex_m_wfi();
    }
}

#[no_mangle]
extern "C" fn SysTick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// NMI, HardFault, MemManage, BusFault, UsageFault, 4 reserved, SVCall,
/// DebugMonitor, reserved, PendSV, SysTick.
#[link_section = ".vector_table.exceptions"]
#[no_mangle]
#[used]
pub static EXCEPTIONS: [Option<extern "C" fn()>; 14] = [
    Some(default_handler),
    Some(default_handler),
    Some(default_handler),
    Some(default_handler),
    Some(default_handler),
    None,
    None,
    None,
    None,
    Some(default_handler),
    Some(default_handler),
    None,
    Some(default_handler),
    Some(SysTick),
];

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m_wfi();
    }
}
