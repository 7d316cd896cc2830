//! The no-allocator ARM program: armlet-core running with no std, no allocator and no libc,
//! as a Linux EABI process under `qemu-arm -cpu arm1176`. Output goes through raw `write`
//! syscalls; the last line is `N passed, M failed` and the exit status is 0 only if M = 0.
#![no_std]
#![no_main]

use armlet_core::gguf;
use core::arch::{asm, naked_asm};

/// The micro Falcon-H1 fixture, linked into the binary: there is no file system here.
static MICRO_Q4_K_S: &[u8] = include_bytes!("../../../../shared/fixtures/falcon-h1-micro-Q4_K_S.gguf");

fn write(fd: u32, b: &[u8]) {
    let _r: i32;
    // SAFETY: Linux EABI write(2); the kernel only reads `b` within its length.
    unsafe {
        asm!("svc 0", in("r7") 4u32, inlateout("r0") fd as i32 => _r,
             in("r1") b.as_ptr(), in("r2") b.len(), options(nostack))
    };
}

fn exit(code: i32) -> ! {
    // SAFETY: exit(2) does not return.
    unsafe { asm!("svc 0", in("r7") 1u32, in("r0") code, options(noreturn, nostack)) }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    write(2, b"panic\n");
    exit(101)
}

/// Decimal digits of `n` into `buf`, returning the used tail.
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            return &buf[i..];
        }
    }
}

struct Tally {
    passed: u32,
    failed: u32,
}

impl Tally {
    fn check(&mut self, name: &[u8], ok: bool) {
        write(1, if ok { b"ok   " } else { b"FAIL " });
        write(1, name);
        write(1, b"\n");
        if ok { self.passed += 1 } else { self.failed += 1 }
    }
}

fn run() -> Tally {
    let mut t = Tally { passed: 0, failed: 0 };
    let parsed = gguf::File::parse(MICRO_Q4_K_S);
    t.check(b"gguf parses the micro Q4_K_S fixture", parsed.is_ok());
    if let Ok(f) = parsed {
        t.check(b"gguf: 36 tensors", f.tensor_count() == 36);
        t.check(b"gguf: architecture falcon-h1", f.get_str("general.architecture") == Some("falcon-h1"));
        let embd = f.tensor("token_embd.weight");
        t.check(b"gguf: token_embd is Q8_0 64x3072",
            embd.is_some_and(|e| e.ty == armlet_core::quant::GgmlType::Q8_0 && e.shape() == [64, 3072]));
    }
    t.check(b"gguf rejects a truncated file", gguf::File::parse(&MICRO_Q4_K_S[..1000]).is_err());
    t
}

#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn _start() -> ! {
    naked_asm!("mov r0, sp", "bic sp, sp, #7", "bl {e}", "udf #0", e = sym entry)
}

extern "C" fn entry(_sp: *const usize) -> ! {
    let t = run();
    let mut buf = [0u8; 10];
    write(1, decimal(t.passed, &mut buf));
    write(1, b" passed, ");
    write(1, decimal(t.failed, &mut buf));
    write(1, b" failed\n");
    exit(if t.failed == 0 { 0 } else { 1 })
}
