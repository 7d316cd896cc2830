//! The no-allocator ARM program: armlet-core running with no std, no allocator and no libc,
//! as a Linux EABI process under `qemu-arm -cpu arm1176`. Output goes through raw `write`
//! syscalls; the last line is `N passed, M failed` and the exit status is 0 only if M = 0.
//!
//! Besides the GGUF checks it runs the micro Falcon-H1 model from `include_bytes!` in a
//! static arena (no allocator anywhere) on the golden prompt p1 and checks every row of its
//! logits against llama.cpp's golden file with the strict tolerances.
#![no_std]
#![no_main]

use armlet_core::gguf;
use armlet_core::model::golden::{compare_row, Alog, Tolerance, Verdict};
use armlet_core::model::{KvCacheType, Model};
use armlet_core::plan::Plan;
use armlet_core::session::{Session, SessionError};
use core::arch::{asm, naked_asm};
use core::fmt::{self, Write as _};

/// The micro Falcon-H1 fixture, linked into the binary: there is no file system here.
static MICRO_Q4_K_S: &[u8] = include_bytes!("../../../../shared/fixtures/falcon-h1-micro-Q4_K_S.gguf");

/// llama.cpp's logits for the micro Q4_K_S model on prompt p1 (10 prompt + 16 generated ids).
static MICRO_Q4_K_S_P1: &[u8] = include_bytes!("../../../../shared/fixtures/golden/falcon-h1-micro-Q4_K_S.p1.alog");

/// The session arena: a static block, since there is no allocator (the micro model's plan
/// for 26 positions with an F32 cache needs about 70 KiB; `run` checks it fits).
const ARENA_WORDS: usize = 32 * 1024;
static mut ARENA: [u64; ARENA_WORDS] = [0; ARENA_WORDS];

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

/// `core::fmt` to stdout (for the verdict line).
struct Stdout;

impl fmt::Write for Stdout {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write(1, s.as_bytes());
        Ok(())
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
    // SAFETY: `run` is called once, on the only thread, so this is the one reference to ARENA.
    let arena: &'static mut [u64; ARENA_WORDS] = unsafe { &mut *core::ptr::addr_of_mut!(ARENA) };
    check_model(&mut t, armlet_core::session::arena_from_words(arena));
    t
}

/// Runs the micro model on every golden token id of p1 and compares every row.
fn check_model(t: &mut Tally, arena: &mut [u8]) {
    let (Ok(file), Ok(golden)) = (gguf::File::parse(MICRO_Q4_K_S), Alog::parse(MICRO_Q4_K_S_P1)) else {
        t.check(b"model: fixture and golden parse", false);
        return;
    };
    let model = match Model::from_gguf(&file) {
        Ok(m) => m,
        Err(_) => return t.check(b"model: Model::from_gguf accepts the micro fixture", false),
    };
    let Ok(plan) = Plan::new(&model.hparams, golden.rows(), KvCacheType::F32) else {
        return t.check(b"model: plan for 26 positions", false);
    };
    let need = plan.arena_bytes();
    t.check(b"model: the plan fits the static arena", need <= arena.len());
    let Some(arena) = arena.get_mut(..need) else { return };
    t.check(
        b"session: an arena one byte short is refused",
        matches!(Session::new(&model, &plan, &mut arena[..need - 1]), Err(SessionError::ArenaTooSmall { .. })),
    );
    let mut session = match Session::new(&model, &plan, arena) {
        Ok(s) => s,
        Err(_) => return t.check(b"session: exactly arena_bytes() is accepted", false),
    };
    let mut verdict = Verdict::new(Tolerance::QUANTIZED);
    let mut fed_all = true;
    for (i, token) in golden.tokens().enumerate() {
        match session.feed(token) {
            Ok(logits) => {
                verdict.add(&compare_row(logits, golden.row(i)));
            }
            Err(_) => fed_all = false,
        }
    }
    t.check(b"session: every golden token fed", fed_all && verdict.rows == 26);
    let _ = writeln!(Stdout, "micro Q4_K_S p1 vs llama.cpp: {verdict}");
    t.check(b"model: logits match llama.cpp's golden p1 within the strict tolerance", verdict.passed());
    t.check(
        b"session: a full context is an error",
        session.feed(1) == Err(SessionError::ContextFull { n_ctx: 26 }),
    );
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
