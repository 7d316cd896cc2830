//! The BCM2835 system timer's free-running 1 MHz counter (low word): wall time on a Pi,
//! host time under qemu.

const CLO: usize = 0x2000_3004;

pub fn micros() -> u32 {
    crate::mmio::read(CLO)
}
