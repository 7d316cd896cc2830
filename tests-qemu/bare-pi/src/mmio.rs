//! Word access to the BCM2835's memory-mapped peripherals (0x2000_0000..0x2100_0000, mapped
//! as device memory).

pub fn read(addr: usize) -> u32 {
    // SAFETY: callers pass the address of a peripheral register, which is mapped, aligned
    // and readable at any time.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

pub fn write(addr: usize, value: u32) {
    // SAFETY: callers pass the address of a peripheral register that accepts this value.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}
