//! Boot and exceptions: `_start` (where the firmware or qemu's `-kernel` enters, at 0x8000,
//! in SVC mode with the MMU, caches and VFP off), the exception vectors, and the VFP
//! enable. `_start` keeps the boot registers, takes a stack, installs the vectors at 0x0,
//! enables the VFP in RunFast mode and the MMU with caches, zeroes `.bss`, paints the
//! stack (for the high-water mark), and calls `kmain`.

use crate::{semihosting, uart};
use core::fmt::Write as _;

core::arch::global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    mov   r4, r0                        @ boot registers, handed to kmain unchanged
    mov   r5, r1
    mov   r6, r2
    cpsid aif, #0x13                    @ SVC mode, interrupts and aborts masked
    ldr   sp, =__stack_top
    ldr   r0, =__vectors                @ 8 x `ldr pc, [pc, #24]` + 8 handler addresses
    mov   r1, #0
    ldmia r0!, {{r2, r3, r7, r8, r9, r10, r11, r12}}
    stmia r1!, {{r2, r3, r7, r8, r9, r10, r11, r12}}
    ldmia r0!, {{r2, r3, r7, r8, r9, r10, r11, r12}}
    stmia r1!, {{r2, r3, r7, r8, r9, r10, r11, r12}}
    bl    vfp_init
    bl    mmu_enable                    @ before the .bss loop, so that loop runs cached
    ldr   r0, =__bss_start
    ldr   r1, =__bss_end
    mov   r2, #0
    mov   r3, #0
1:  cmp   r0, r1
    stmlo r0!, {{r2, r3}}
    blo   1b
    ldr   r0, =__stack_bottom           @ paint all but the top 256 bytes (in use now)
    sub   r1, sp, #256
    ldr   r2, ={paint}
2:  cmp   r0, r1
    strlo r2, [r0], #4
    blo   2b
    mov   r0, r4
    mov   r1, r5
    mov   r2, r6
    bl    kmain
3:  wfi
    b     3b
    .ltorg

vfp_init:
    mrc   p15, 0, r0, c1, c0, 2         @ CPACR: full access to cp10 and cp11 (the VFP)
    orr   r0, r0, #0x00f00000
    mcr   p15, 0, r0, c1, c0, 2
    mov   r0, #0
    mcr   p15, 0, r0, c7, c5, 4         @ flush the prefetch buffer (the ARMv6 ISB)
    mov   r0, #0x40000000               @ FPEXC.EN
    vmsr  fpexc, r0
    mov   r0, #0x03000000               @ FPSCR: FZ | DN (RunFast, no support-code traps)
    vmsr  fpscr, r0
    bx    lr

    .balign 32
__vectors:
    ldr   pc, [pc, #24]
    ldr   pc, [pc, #24]
    ldr   pc, [pc, #24]
    ldr   pc, [pc, #24]
    ldr   pc, [pc, #24]
    ldr   pc, [pc, #24]
    ldr   pc, [pc, #24]
    ldr   pc, [pc, #24]
    .word vector_reset, vector_undef, vector_svc, vector_prefetch_abort
    .word vector_data_abort, vector_unused, vector_irq, vector_fiq

@ Each stub records the kind, the return address and the saved status, returns to SVC mode
@ on a fresh stack (the old one may be what faulted) and reports; none returns.
vector_reset:          mov r0, #0
                       b   vector_common
vector_undef:          mov r0, #1
                       b   vector_common
vector_prefetch_abort: mov r0, #3
                       b   vector_common
vector_data_abort:     mov r0, #4
                       b   vector_common
vector_unused:         mov r0, #5
                       b   vector_common
vector_irq:            mov r0, #6
                       b   vector_common
vector_fiq:            mov r0, #7
vector_common:
    mov   r1, lr
    mrs   r2, spsr
    cps   #0x13
    ldr   sp, =__stack_top
    bl    exception
@ A semihosting call with no debugger or emulator to catch it (real hardware) lands here.
vector_svc:
    ldr   sp, =__stack_top
    bl    semihosting_trapped
    .ltorg
"#,
    paint = const STACK_PAINT,
);

/// What the unused part of the stack holds after boot.
pub const STACK_PAINT: u32 = 0x5AC5_AC5A;

unsafe extern "C" {
    static __stack_bottom: u8;
    static __stack_top: u8;
}

/// Stack bytes ever used since boot: the painted words still intact at the bottom are the
/// part never reached.
pub fn stack_used() -> (usize, usize) {
    let bottom = core::ptr::addr_of!(__stack_bottom) as usize;
    let top = core::ptr::addr_of!(__stack_top) as usize;
    let mut at = bottom;
    // SAFETY: [bottom, top) is the stack region of link.x, mapped and word-aligned; the
    // words read below the current frame are plain memory.
    while at < top && unsafe { core::ptr::read_volatile(at as *const u32) } == STACK_PAINT {
        at += 4;
    }
    (top - at, top - bottom)
}

const KINDS: [&str; 8] =
    ["reset", "undefined instruction", "svc", "prefetch abort", "data abort", "unused vector", "IRQ", "FIQ"];

/// Reports an exception taken by the vectors and exits with status 3.
#[unsafe(no_mangle)]
extern "C" fn exception(kind: u32, lr: u32, spsr: u32) -> ! {
    let mut u = uart::Uart;
    let name = KINDS.get(kind as usize).copied().unwrap_or("?");
    let _ = write!(u, "\n[armlet] EXCEPTION {name}: lr={lr:#010x} spsr={spsr:#010x}");
    match kind {
        3 => {
            let (ifsr, ifar) = prefetch_fault();
            let _ = write!(u, " IFSR={ifsr:#x} IFAR={ifar:#010x}");
        }
        4 => {
            let (dfsr, dfar) = data_fault();
            let _ = write!(u, " DFSR={dfsr:#x} DFAR={dfar:#010x}");
        }
        _ => {}
    }
    let _ = writeln!(u);
    semihosting::exit(3)
}

/// The exit path on hardware: `svc 0x123456` with nobody to catch it. Says so and halts.
#[unsafe(no_mangle)]
extern "C" fn semihosting_trapped(op: u32, block: *const u32) -> ! {
    let mut u = uart::Uart;
    if op == semihosting::SYS_EXIT_EXTENDED {
        // SAFETY: `semihosting::exit` passes a pointer to its two-word block.
        let code = unsafe { core::ptr::read_volatile(block.add(1)) };
        let _ = writeln!(u, "[armlet] exit status {code} (no semihosting host: halted)");
    } else {
        let _ = writeln!(u, "[armlet] SVC {op:#x} with no handler: halted");
    }
    semihosting::halt()
}

fn data_fault() -> (u32, u32) {
    let (fsr, far): (u32, u32);
    // SAFETY: reads CP15 DFSR and DFAR; no side effects.
    unsafe {
        core::arch::asm!("mrc p15, 0, {0}, c5, c0, 0", "mrc p15, 0, {1}, c6, c0, 0",
                         out(reg) fsr, out(reg) far, options(nomem, nostack))
    };
    (fsr, far)
}

fn prefetch_fault() -> (u32, u32) {
    let (fsr, far): (u32, u32);
    // SAFETY: reads CP15 IFSR and IFAR; no side effects.
    unsafe {
        core::arch::asm!("mrc p15, 0, {0}, c5, c0, 1", "mrc p15, 0, {1}, c6, c0, 2",
                         out(reg) fsr, out(reg) far, options(nomem, nostack))
    };
    (fsr, far)
}
