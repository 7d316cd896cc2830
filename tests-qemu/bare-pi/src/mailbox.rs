//! The VideoCore mailbox property interface (channel 8), for the one thing the kernel asks
//! the firmware: where ARM memory ends (the rest of the 512 MB belongs to the GPU).

use crate::mmio::{read, write};
use crate::mmu;

const MAILBOX: usize = 0x2000_B880;
const READ: usize = MAILBOX;
const STATUS: usize = MAILBOX + 0x18;
const WRITE: usize = MAILBOX + 0x20;
const FULL: u32 = 1 << 31;
const EMPTY: u32 = 1 << 30;
const PROPERTY_CHANNEL: u32 = 8;
const TAG_ARM_MEMORY: u32 = 0x0001_0005;
const RESPONSE_OK: u32 = 0x8000_0000;
/// The GPU sees ARM physical memory at this bus alias (L2-cached, as the Pi 1 firmware
/// sets it up). qemu maps RAM at every alias.
const BUS_ALIAS: u32 = 0x4000_0000;
/// Polls before giving up on an answer.
const PATIENCE: u32 = 10_000_000;

/// One property message: header, the ARM-memory tag with room for base and size, end tag.
/// A whole cache line, so invalidating it cannot drop a neighbour's data.
#[repr(C, align(32))]
struct Message([u32; 8]);

/// The ARM memory as (base, size) bytes, or None if the firmware does not answer.
pub fn arm_memory() -> Option<(u32, u32)> {
    let mut m = Message([0; 8]);
    let ptr = core::ptr::addr_of_mut!(m);
    let addr = ptr as usize;
    // SAFETY: `ptr` points at `m`; volatile, so the message is in memory (not registers)
    // when its cache lines are cleaned for the GPU.
    unsafe { ptr.write_volatile(Message([32, 0, TAG_ARM_MEMORY, 8, 0, 0, 0, 0])) };
    mmu::clean(addr, 32);
    let mut patience = PATIENCE;
    while read(STATUS) & FULL != 0 {
        patience = patience.checked_sub(1)?;
    }
    write(WRITE, (addr as u32 | BUS_ALIAS) | PROPERTY_CHANNEL);
    loop {
        while read(STATUS) & EMPTY != 0 {
            patience = patience.checked_sub(1)?;
        }
        if read(READ) & 0xF == PROPERTY_CHANNEL {
            break;
        }
    }
    mmu::invalidate(addr, 32);
    // SAFETY: `ptr` points at `m`, alive and aligned; the GPU has finished writing it.
    let words = unsafe { core::ptr::read_volatile(ptr) }.0;
    (words[1] == RESPONSE_OK && words[4] & RESPONSE_OK != 0).then_some((words[5], words[6]))
}
