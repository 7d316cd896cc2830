//! ARMv6 kernels: the integer block dot products with the DSP instructions (`SMLAD`,
//! `SXTB16`, `UXTB16`) and word loads through `asm!`; the scale decoding and the float
//! finishing are the portable code of `legacy`/`kquant`, so results equal the portable twins
//! bit for bit. Weight words are read with `LDR` at any alignment (ARMv6 with SCTLR.U set,
//! as Linux runs it); activations come aligned from `quantize_activations`.
#![allow(unsafe_code)]

use core::arch::asm;

use crate::quant::kquant::{self, block_scales, finish_block};
use crate::quant::legacy;
use crate::quant::q8::{Q8KBlock, Q8K_BLOCK_BYTES, Q8K_PAIRS_BYTES, Q8_BLOCK_BYTES};
use crate::quant::{GgmlType, RowSum};

macro_rules! unroll {
    ($k:ident in [$($v:literal),*] $body:block) => { $( { #[allow(non_upper_case_globals)] const $k: usize = $v; $body } )* };
}

#[inline(always)]
fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: pure register arithmetic; ARMv6 has SMLAD in ARM state.
    unsafe { asm!("smlad {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, c = in(reg) acc, options(pure, nomem, nostack, preserves_flags)) };
    r
}

#[inline(always)]
fn sxtb16(x: u32) -> u32 {
    let r: u32;
    // SAFETY: pure register arithmetic.
    unsafe { asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags)) };
    r
}

#[inline(always)]
fn sxtb16_ror8(x: u32) -> u32 {
    let r: u32;
    // SAFETY: pure register arithmetic.
    unsafe { asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags)) };
    r
}

#[inline(always)]
fn uxtb16(x: u32) -> u32 {
    let r: u32;
    // SAFETY: pure register arithmetic.
    unsafe { asm!("uxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags)) };
    r
}

#[inline(always)]
fn uxtb16_ror8(x: u32) -> u32 {
    let r: u32;
    // SAFETY: pure register arithmetic.
    unsafe { asm!("uxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags)) };
    r
}

/// Little-endian word at `b[O..O + 4]`, any alignment.
#[inline(always)]
fn ldr<const O: usize, const N: usize>(b: &[u8; N]) -> u32 {
    const { assert!(O + 4 <= N) };
    let r: u32;
    // SAFETY: the word lies inside `b` (checked at compile time); ARMv6 LDR handles unaligned addresses
    // (SCTLR.U = 1 under Linux), little-endian.
    unsafe { asm!("ldr {r}, [{p}, #{o}]", r = lateout(reg) r, p = in(reg) b.as_ptr(), o = const O, options(pure, readonly, nostack, preserves_flags)) };
    r
}

/// The permuted pairs as words (they start 4-aligned: see `q8`), or None.
#[inline(always)]
fn pair_words(pairs: &[u8]) -> Option<&[u32]> {
    // SAFETY: u32 has no invalid bit patterns; align_to only reinterprets the aligned middle.
    let (pre, mid, _) = unsafe { pairs.align_to::<u32>() };
    if pre.is_empty() { Some(mid) } else { None }
}

const M4: u32 = 0x000f_000f;
const M3: u32 = 0x0003_0003;
const M1: u32 = 0x0001_0001;

/// One 8-word step of the Q4_K chunk kernel: `w` holds the current weight word; loads the 4
/// activation pairs, issues the 4 SMLADs and (unless last) loads the next weight word.
macro_rules! q4k_step {
    (last) => {
        "ldm {p}!, {{r0, r1, r2, r3}}\n\
         and {t}, {m}, {w}\n\
         and {u}, {m}, {w}, lsr #4\n\
         smlad {lo}, {t}, r0, {lo}\n\
         smlad {hi}, {u}, r2, {hi}\n\
         and {t}, {m}, {w}, lsr #8\n\
         and {u}, {m}, {w}, lsr #12\n\
         smlad {lo}, {t}, r1, {lo}\n\
         smlad {hi}, {u}, r3, {hi}\n"
    };
    () => {
        "ldm {p}!, {{r0, r1, r2, r3}}\n\
         and {t}, {m}, {w}\n\
         and {u}, {m}, {w}, lsr #4\n\
         smlad {lo}, {t}, r0, {lo}\n\
         smlad {hi}, {u}, r2, {hi}\n\
         and {t}, {m}, {w}, lsr #8\n\
         and {u}, {m}, {w}, lsr #12\n\
         ldr {w}, [{q}], #4\n\
         smlad {lo}, {t}, r1, {lo}\n\
         smlad {hi}, {u}, r3, {hi}\n"
    };
}

/// Integer part of one Q4_K superblock: `Σ_j sc[j] · Σ q·x` over its 8 sub-blocks. One asm
/// block per 64-weight chunk: 8 weight words, each giving 4 nibble pairs by one AND each
/// (mask 0x000F000F, shifts 0/4/8/12), matched by the permuted activation pairs (LDM).
#[inline(always)]
fn isum_q4_k(b: &[u8; kquant::Q4_K_BYTES], p: &[u32; 128], sc: &[i32; 16]) -> i32 {
    let mut isum = 0i32;
    let mut q = b[kquant::Q4_K_QS..].as_ptr();
    let mut pp = p.as_ptr();
    unroll!(C in [0, 1, 2, 3] {
        let (lo, hi): (i32, i32);
        // SAFETY: reads the 32 weight bytes of chunk C (inside `b`: 16 + 32 * 4 = 144) and the
        // 32 pair words of chunk C (inside `p`: 4 * 32 = 128); pointers advance by exactly
        // those amounts. Unaligned weight words are fine for ARMv6 LDR; `p` is 4-aligned.
        unsafe {
            asm!(
                "ldr {w}, [{q}], #4",
                q4k_step!(), q4k_step!(), q4k_step!(), q4k_step!(),
                q4k_step!(), q4k_step!(), q4k_step!(), q4k_step!(last),
                q = inout(reg) q,
                p = inout(reg) pp,
                m = in(reg) M4,
                lo = inout(reg) 0i32 => lo,
                hi = inout(reg) 0i32 => hi,
                w = out(reg) _,
                t = out(reg) _,
                u = out(reg) _,
                out("r0") _, out("r1") _, out("r2") _, out("r3") _,
                options(readonly, nostack, preserves_flags),
            );
        }
        isum += sc[2 * C] * lo + sc[2 * C + 1] * hi;
    });
    isum
}

#[inline(always)]
fn isum_q5_k(b: &[u8; kquant::Q5_K_BYTES], p: &[u32; 128], sc: &[i32; 16]) -> i32 {
    let mut isum = 0i32;
    unroll!(C in [0, 1, 2, 3] {
        let (mut lo, mut hi) = (0i32, 0i32);
        unroll!(K in [0, 1, 2, 3, 4, 5, 6, 7] {
            let w = ldr::<{ kquant::Q5_K_QS + 32 * C + 4 * K }, _>(b);
            let h = ldr::<{ kquant::Q5_K_QH + 4 * K }, _>(b) >> (2 * C);
            let i = 32 * C + 4 * K;
            lo = smlad((w & M4) | ((h & M1) << 4), p[i], lo);
            hi = smlad(((w >> 4) & M4) | (((h >> 1) & M1) << 4), p[i + 2], hi);
            lo = smlad(((w >> 8) & M4) | (((h >> 8) & M1) << 4), p[i + 1], lo);
            hi = smlad(((w >> 12) & M4) | (((h >> 9) & M1) << 4), p[i + 3], hi);
        });
        isum += sc[2 * C] * lo + sc[2 * C + 1] * hi;
    });
    isum
}

#[inline(always)]
fn isum_q6_k(b: &[u8; kquant::Q6_K_BYTES], p: &[u32; 128], sc: &[i32; 16], bsums: &[i16; 16]) -> i32 {
    let mut isum = 0i32;
    unroll!(A in [0, 1] {
        unroll!(G in [0, 1, 2, 3] {
            let (mut lo, mut hi) = (0i32, 0i32);
            unroll!(KK in [0, 1, 2, 3] {
                const K: usize = 4 * G + KK;
                const SB: usize = 2 * (K / 8);
                let w = ldr::<{ kquant::Q6_K_QL + 64 * A + 4 * K }, _>(b);
                let h = ldr::<{ kquant::Q6_K_QH + 32 * A + 4 * (K % 8) }, _>(b);
                let i = 64 * A + 4 * K;
                lo = smlad((w & M4) | (((h >> SB) & M3) << 4), p[i], lo);
                hi = smlad(((w >> 4) & M4) | (((h >> (SB + 4)) & M3) << 4), p[i + 2], hi);
                lo = smlad(((w >> 8) & M4) | (((h >> (SB + 8)) & M3) << 4), p[i + 1], lo);
                hi = smlad(((w >> 12) & M4) | (((h >> (SB + 12)) & M3) << 4), p[i + 3], hi);
            });
            let (sl, sh) = (8 * A + G, 8 * A + 4 + G);
            isum += sc[sl] * (lo - 32 * bsums[sl] as i32) + sc[sh] * (hi - 32 * bsums[sh] as i32);
        });
    });
    isum
}

#[inline(always)]
fn isum_q2_k(b: &[u8; kquant::Q2_K_BYTES], p: &[u32; 128], sc: &[i32; 16]) -> i32 {
    let mut isum = 0i32;
    unroll!(H in [0, 1] {
        unroll!(G in [0, 1] {
            let mut acc = [0i32; 4];
            unroll!(KK in [0, 1, 2, 3] {
                const K: usize = 4 * G + KK;
                let w = ldr::<{ kquant::Q2_K_QS + 32 * H + 4 * K }, _>(b);
                let i = 64 * H + 8 * K;
                unroll!(F in [0, 1, 2, 3] {
                    acc[F] = smlad((w >> (2 * F)) & M3, p[i + 2 * F], acc[F]);
                    acc[F] = smlad((w >> (2 * F + 8)) & M3, p[i + 2 * F + 1], acc[F]);
                });
            });
            unroll!(F in [0, 1, 2, 3] {
                isum += sc[8 * H + 2 * F + G] * acc[F];
            });
        });
    });
    isum
}

#[inline(always)]
fn isum_q3_k(b: &[u8; kquant::Q3_K_BYTES], p: &[u32; 128], sc: &[i32; 16], bsums: &[i16; 16]) -> i32 {
    let mut isum = 0i32;
    unroll!(H in [0, 1] {
        unroll!(G in [0, 1] {
            let mut acc = [0i32; 4];
            unroll!(KK in [0, 1, 2, 3] {
                const K: usize = 4 * G + KK;
                let w = ldr::<{ kquant::Q3_K_QS + 32 * H + 4 * K }, _>(b);
                let hm = ldr::<{ kquant::Q3_K_HMASK + 4 * K }, _>(b) >> (4 * H);
                let i = 64 * H + 8 * K;
                unroll!(F in [0, 1, 2, 3] {
                    let v0 = ((w >> (2 * F)) & M3) | (((hm >> F) & M1) << 2);
                    let v1 = ((w >> (2 * F + 8)) & M3) | (((hm >> (F + 8)) & M1) << 2);
                    acc[F] = smlad(v0, p[i + 2 * F], acc[F]);
                    acc[F] = smlad(v1, p[i + 2 * F + 1], acc[F]);
                });
            });
            unroll!(F in [0, 1, 2, 3] {
                let s = 8 * H + 2 * F + G;
                isum += sc[s] * (acc[F] - 4 * bsums[s] as i32);
            });
        });
    });
    isum
}

/// Q4_K with the block prologue in word operations (llama.cpp's `utmp` unpacking of the
/// 6-bit scales and mins, the min correction by SMLAD against the 32-element block sums).
#[inline(always)]
fn isum_q4_k_raw(b: &[u8; kquant::Q4_K_BYTES], p: &[u32; 136]) -> (i32, i32) {
    let u0 = ldr::<4, _>(b);
    let u1 = ldr::<8, _>(b);
    let u2 = ldr::<12, _>(b);
    let sc_lo = u0 & 0x3f3f_3f3f;
    let sc_hi = (u2 & 0x0f0f_0f0f) | (((u0 >> 6) & 0x0303_0303) << 4);
    let mn_lo = u1 & 0x3f3f_3f3f;
    let mn_hi = ((u2 >> 4) & 0x0f0f_0f0f) | (((u1 >> 6) & 0x0303_0303) << 4);
    let msum = smlad(uxtb16(mn_lo), p[128], smlad(uxtb16_ror8(mn_lo), p[129], 0));
    let msum = smlad(uxtb16(mn_hi), p[130], smlad(uxtb16_ror8(mn_hi), p[131], msum));
    let mut sc = [0i32; 16];
    for j in 0..4 {
        sc[j] = ((sc_lo >> (8 * j)) & 0xff) as i32;
        sc[j + 4] = ((sc_hi >> (8 * j)) & 0xff) as i32;
    }
    let p128: &[u32; 128] = match p.first_chunk::<128>() {
        Some(x) => x,
        None => return (0, 0),
    };
    (isum_q4_k(b, p128, &sc), msum)
}

#[inline(always)]
fn rows_k4(w: &[u8], rb: usize, std_act: &[u8], pw: &[u32], out: &mut [f32], isum: fn(&[u8; kquant::Q4_K_BYTES], &[u32; 136]) -> (i32, i32)) {
    for (o, row) in out.iter_mut().zip(w.chunks_exact(rb)) {
        let mut sum = RowSum::default();
        for (i, ((b, a), p)) in row
            .chunks_exact(kquant::Q4_K_BYTES)
            .zip(std_act.chunks_exact(Q8K_BLOCK_BYTES))
            .zip(pw.chunks_exact(Q8K_PAIRS_BYTES / 4))
            .enumerate()
        {
            let (Ok(b), Ok(a), Ok(p)) = (<&[u8; kquant::Q4_K_BYTES]>::try_from(b), <&[u8; Q8K_BLOCK_BYTES]>::try_from(a), <&[u32; 136]>::try_from(p)) else {
                continue;
            };
            let (is, msum) = isum(b, p);
            let s = kquant::BlockScales { sc: [0; 16], msum, d: kquant::f16_at(b, 0), dmin: kquant::f16_at(b, 2) };
            let dx = f32::from_bits(ldr::<0, _>(a));
            sum.add(i, finish_block(GgmlType::Q4_K, is, &s, dx));
        }
        *o = sum.finish();
    }
}

/// K-quant matvec, one row at a time (see `portable::matvec_kquant` for the contract).
pub fn matvec_kquant(ty: GgmlType, w: &[u8], rb: usize, std_act: &[u8], pairs: &[u8], out: &mut [f32]) {
    let Some(pw) = pair_words(pairs) else {
        return super::portable::matvec_kquant(ty, w, rb, std_act, pairs, out);
    };
    match ty {
        GgmlType::Q4_K => rows_k4(w, rb, std_act, pw, out, isum_q4_k_raw),
        GgmlType::Q5_K => rows::<{ kquant::Q5_K_BYTES }>(ty, w, rb, std_act, pw, out, |b, p, s, _| isum_q5_k(b, p, &s.sc)),
        GgmlType::Q6_K => rows::<{ kquant::Q6_K_BYTES }>(ty, w, rb, std_act, pw, out, |b, p, s, bs| isum_q6_k(b, p, &s.sc, bs)),
        GgmlType::Q2_K => rows::<{ kquant::Q2_K_BYTES }>(ty, w, rb, std_act, pw, out, |b, p, s, _| isum_q2_k(b, p, &s.sc)),
        GgmlType::Q3_K => rows::<{ kquant::Q3_K_BYTES }>(ty, w, rb, std_act, pw, out, |b, p, s, bs| isum_q3_k(b, p, &s.sc, bs)),
        _ => super::portable::matvec_kquant(ty, w, rb, std_act, pairs, out),
    }
}

#[inline(always)]
fn rows<const BB: usize>(
    ty: GgmlType,
    w: &[u8],
    rb: usize,
    std_act: &[u8],
    pw: &[u32],
    out: &mut [f32],
    isum: impl Fn(&[u8; BB], &[u32; 128], &kquant::BlockScales, &[i16; 16]) -> i32,
) {
    for (o, row) in out.iter_mut().zip(w.chunks_exact(rb)) {
        let mut sum = RowSum::default();
        for (i, ((b, a), p)) in row
            .chunks_exact(BB)
            .zip(std_act.chunks_exact(Q8K_BLOCK_BYTES))
            .zip(pw.chunks_exact(Q8K_PAIRS_BYTES / 4))
            .enumerate()
        {
            let p = p.first_chunk::<128>();
            let (Ok(b), Ok(a), Some(p)) = (<&[u8; BB]>::try_from(b), <&[u8; Q8K_BLOCK_BYTES]>::try_from(a), p) else {
                continue;
            };
            let y = Q8KBlock::parse(a);
            let s = block_scales(ty, b, &y.bsums);
            sum.add(i, finish_block(ty, isum(b, p, &s, &y.bsums), &s, y.d));
        }
        *o = sum.finish();
    }
}

/// Q8_0 x Q8_0, one row at a time.
pub fn matvec_q8_0(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(w.chunks_exact(rb)) {
        let mut sum = RowSum::default();
        for (i, (b, a)) in row.chunks_exact(legacy::Q8_0_BYTES).zip(act.chunks_exact(Q8_BLOCK_BYTES)).enumerate() {
            let (Ok(b), Ok(a)) = (<&[u8; legacy::Q8_0_BYTES]>::try_from(b), <&[u8; Q8_BLOCK_BYTES]>::try_from(a)) else {
                continue;
            };
            let mut acc = [0i32; 2];
            unroll!(K in [0, 1, 2, 3, 4, 5, 6, 7] {
                let x = ldr::<{ 8 + 4 * K }, _>(a);
                let q = ldr::<{ 2 + 4 * K }, _>(b);
                acc[K & 1] = smlad(sxtb16(q), sxtb16(x), acc[K & 1]);
                acc[K & 1] = smlad(sxtb16_ror8(q), sxtb16_ror8(x), acc[K & 1]);
            });
            let (dx, _, _) = legacy::act_block(a);
            let dw = kquant::f16_at(b, 0);
            sum.add(i, legacy::finish_block(GgmlType::Q8_0, acc[0] + acc[1], dw, 0.0, dx, 0.0));
        }
        *o = sum.finish();
    }
}

/// Q4_1 x Q8_1, one row at a time.
pub fn matvec_q4_1(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(w.chunks_exact(rb)) {
        let mut sum = RowSum::default();
        for (i, (b, a)) in row.chunks_exact(legacy::Q4_1_BYTES).zip(act.chunks_exact(Q8_BLOCK_BYTES)).enumerate() {
            let (Ok(b), Ok(a)) = (<&[u8; legacy::Q4_1_BYTES]>::try_from(b), <&[u8; Q8_BLOCK_BYTES]>::try_from(a)) else {
                continue;
            };
            let mut acc = [0i32; 2];
            unroll!(K in [0, 1, 2, 3] {
                let q = ldr::<{ 4 + 4 * K }, _>(b);
                let xl = ldr::<{ 8 + 4 * K }, _>(a);
                let xh = ldr::<{ 24 + 4 * K }, _>(a);
                let l = q & 0x0f0f_0f0f;
                let h = (q >> 4) & 0x0f0f_0f0f;
                acc[0] = smlad(uxtb16(l), sxtb16(xl), acc[0]);
                acc[1] = smlad(uxtb16(h), sxtb16(xh), acc[1]);
                acc[0] = smlad(uxtb16_ror8(l), sxtb16_ror8(xl), acc[0]);
                acc[1] = smlad(uxtb16_ror8(h), sxtb16_ror8(xh), acc[1]);
            });
            let (dx, sx, _) = legacy::act_block(a);
            let (dw, mw) = (kquant::f16_at(b, 0), kquant::f16_at(b, 2));
            sum.add(i, legacy::finish_block(GgmlType::Q4_1, acc[0] + acc[1], dw, mw, dx, sx));
        }
        *o = sum.finish();
    }
}
