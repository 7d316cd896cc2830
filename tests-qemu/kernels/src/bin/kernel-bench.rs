//! Kernel benchmark: one 2048 x 2048 matrix-vector product per weight type.
//!
//! `kernel-bench [TYPE...] [--reps N] [--shape ROWSxCOLS]`: for each type, prints
//! `TYPE ns_per_weight` (host wall time, best of N) for a ROWS x COLS product (default
//! 2048 x 2048). On ARM the product runs between the arm11cost region markers
//! (`orr r0,r0,r0` / `orr r1,r1,r1`), so under
//! `qemu-arm -cpu arm1176 -plugin arm11cost.so,mem=off,out=X.json kernel-bench Q4_K` the
//! JSON `region` figures are the kernel's cycles (divide by reps x ROWS x COLS).
//! scripts/bench-kernels drives it. `--batch N`: the product of N tokens (`matmul`, as a
//! prompt batch runs it); the figure is then per weight and token.

use std::time::Instant;

use armlet_core::kernels::{matmul, matvec};
use armlet_core::quant::{activation_bytes, quantize_activations, GgmlType, Matrix};
use armlet_kernel_tests::{random_activations, random_matrix, Rng};


#[inline(always)]
fn region_begin() {
    #[cfg(target_arch = "arm")]
    // SAFETY: `orr r0, r0, r0` is a no-op (the cost model's BEGIN marker).
    unsafe {
        core::arch::asm!("orr r0, r0, r0", options(nostack, preserves_flags))
    }
}

#[inline(always)]
fn region_end() {
    #[cfg(target_arch = "arm")]
    // SAFETY: `orr r1, r1, r1` is a no-op (the cost model's END marker).
    unsafe {
        core::arch::asm!("orr r1, r1, r1", options(nostack, preserves_flags))
    }
}

fn parse_type(s: &str) -> Option<GgmlType> {
    armlet_core::quant::types::ALL_TYPES.iter().copied().find(|t| t.name().eq_ignore_ascii_case(s))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut reps = 3usize;
    let mut batch = 1usize;
    let (mut rows, mut cols) = (2048usize, 2048usize);
    let mut types = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--reps" {
            reps = it.next().and_then(|v| v.parse().ok()).unwrap_or(reps);
        } else if a == "--batch" {
            batch = it.next().and_then(|v| v.parse().ok()).unwrap_or(batch).max(1);
        } else if a == "--shape" {
            let shape = it.next().and_then(|v| v.split_once('x')).and_then(|(r, c)| Some((r.parse().ok()?, c.parse().ok()?)));
            let Some((r, c)) = shape else {
                eprintln!("--shape wants ROWSxCOLS");
                std::process::exit(2);
            };
            (rows, cols) = (r, c);
        } else if let Some(t) = parse_type(a) {
            types.push(t);
        } else {
            eprintln!("unknown argument {a}");
            std::process::exit(2);
        }
    }
    if types.is_empty() {
        use GgmlType::*;
        types = vec![Q4_K, Q5_K, Q6_K, Q2_K, Q3_K, Q8_0, Q4_1, Q4_0, Q5_0, Q5_1, F16, F32];
    }
    let mut rng = Rng(0x00be_ac4e_2048);
    for ty in types {
        let data = if ty == GgmlType::F32 || ty == GgmlType::F16 {
            let w = random_activations(rows * cols, &mut rng, 0.05);
            let mut d = Vec::with_capacity(rows * cols * 4);
            for v in w {
                if ty == GgmlType::F32 {
                    d.extend_from_slice(&v.to_le_bytes());
                } else {
                    d.extend_from_slice(&armlet_core::quant::f32_to_f16(v).to_le_bytes());
                }
            }
            d
        } else {
            random_matrix(ty, rows, cols, &mut rng, false)
        };
        let w = Matrix::new(ty, rows, cols, &data).expect("matrix");
        let xs: Vec<Vec<f32>> = (0..batch).map(|_| random_activations(cols, &mut rng, 1.0)).collect();
        let mut bufs = vec![vec![0u8; activation_bytes(ty, cols).expect("size")]; batch];
        let acts: Vec<_> = xs.iter().zip(bufs.iter_mut()).map(|(x, b)| quantize_activations(ty, x, b).expect("quantize")).collect();
        let mut out = vec![0f32; rows * batch];
        let mut best = f64::INFINITY;
        for _ in 0..reps {
            let t = Instant::now();
            region_begin();
            if let [a] = acts.as_slice() {
                matvec(&w, a, &mut out).expect("matvec");
            } else {
                matmul(&w, &acts, &mut out).expect("matmul");
            }
            region_end();
            best = best.min(t.elapsed().as_secs_f64());
        }
        let check: f32 = out.iter().sum();
        println!("{} {:.3} reps={} check={:e}", ty.name(), best * 1e9 / (rows * cols * batch) as f64, reps, check);
    }
}
