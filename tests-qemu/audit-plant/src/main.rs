//! A bare ARM program that contains instructions the ARM1176 cannot run, planted on purpose.
//! `scripts/test` builds it and expects `scripts/armv6-audit.sh` to reject it, naming each
//! planted instruction; an audit that let it through would be an audit that cannot fail.
#![no_std]
#![no_main]

use core::arch::naked_asm;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// Never executed: the point is only that the bytes are in the binary's code.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn _start() -> ! {
    naked_asm!(
        ".inst 0xe3001000", // movw r1, #0        (ARMv6T2)
        ".inst 0xe730f011", // udiv r0, r1, r0    (hardware divide, ARMv7VE)
        ".inst 0xf2000d40", // vadd.f32 q0, q0, q0 (NEON)
        "udf #0"
    )
}
