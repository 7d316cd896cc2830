//! Leaving the kernel with an exit status, through ARM semihosting: qemu (with
//! `-semihosting-config enable=on,target=native`) or a debugger ends the run and hands
//! the status to the shell. On a Pi with nobody listening the `svc` lands in the
//! kernel's own SVC vector (`boot`), which prints the status and halts.

/// SYS_EXIT_EXTENDED: exit with a reason and a status (AArch32 SYS_EXIT cannot carry one).
pub const SYS_EXIT_EXTENDED: u32 = 0x20;
/// ADP_Stopped_ApplicationExit.
const APPLICATION_EXIT: u32 = 0x2_0026;

pub fn exit(code: u32) -> ! {
    let block = [APPLICATION_EXIT, code];
    // SAFETY: the semihosting call only reads the two-word block, which outlives it.
    unsafe {
        core::arch::asm!("svc 0x123456", inlateout("r0") SYS_EXIT_EXTENDED => _,
                         in("r1") block.as_ptr(), options(nostack))
    };
    halt()
}

/// Stops the core for good: the end of every exit path (a semihosting host ends the run
/// before this is reached).
pub fn halt() -> ! {
    loop {
        // SAFETY: waits for an interrupt; all are masked, so this sleeps for good.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
    }
}
