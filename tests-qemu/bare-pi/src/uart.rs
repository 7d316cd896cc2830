//! The PL011 UART0 of the BCM2835 (GPIO 14/15, the Pi's serial console) as an
//! `embedded_io::Write` and a `core::fmt::Write`. Output only; "\n" goes out as "\r\n", as
//! a serial terminal expects.

use crate::mmio::{read, write};
use core::convert::Infallible;

const BASE: usize = 0x2020_1000;
const DR: usize = BASE;
const FR: usize = BASE + 0x18;
const IBRD: usize = BASE + 0x24;
const FBRD: usize = BASE + 0x28;
const LCRH: usize = BASE + 0x2C;
const CR: usize = BASE + 0x30;
const ICR: usize = BASE + 0x44;
/// FR: the transmit FIFO is full.
const FR_TXFF: u32 = 1 << 5;
/// FR: still sending.
const FR_BUSY: u32 = 1 << 3;

const GPFSEL1: usize = 0x2020_0004;
const GPPUD: usize = 0x2020_0094;
const GPPUDCLK0: usize = 0x2020_0098;

/// The UART: all state is in the device, so any number of these can exist.
pub struct Uart;

/// Sets up the UART as the firmware leaves it on a Pi configured with `init_uart_clock`
/// 48 MHz: 115200 baud, 8N1, FIFOs on, GPIO 14/15 in ALT0. qemu needs none of it (its
/// PL011 sends at once) but accepts it; on hardware it is the only way the console works.
pub fn init() {
    write(CR, 0);
    let sel = read(GPFSEL1) & !(0o77 << 12);
    write(GPFSEL1, sel | (0o44 << 12)); // pins 14 and 15: ALT0 (TXD0, RXD0)
    write(GPPUD, 0); // no pull-up/down on the UART pins: the sequence needs ~150 cycles of set-up
    spin(150);
    write(GPPUDCLK0, (1 << 14) | (1 << 15));
    spin(150);
    write(GPPUDCLK0, 0);
    write(ICR, 0x7FF);
    write(IBRD, 26); // 48 MHz / (16 * 115200) = 26.04: integer 26, fraction 0.04 * 64 = 3
    write(FBRD, 3);
    write(LCRH, 0x70); // 8 bits, FIFOs enabled
    write(CR, 0x301); // UART, TX and RX enabled
}

fn spin(n: u32) {
    for _ in 0..n {
        // SAFETY: a no-op that the compiler may not remove.
        unsafe { core::arch::asm!("nop", options(nomem, nostack)) };
    }
}

impl Uart {
    fn put(&mut self, b: u8) {
        while read(FR) & FR_TXFF != 0 {}
        write(DR, b as u32);
    }

    fn put_translated(&mut self, b: u8) {
        if b == b'\n' {
            self.put(b'\r');
        }
        self.put(b);
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = Infallible;
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        for &b in buf {
            self.put_translated(b);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        while read(FR) & FR_BUSY != 0 {}
        Ok(())
    }
}

impl core::fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            self.put_translated(b);
        }
        Ok(())
    }
}
