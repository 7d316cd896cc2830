//! The 256-element super-block formats (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), encoded as ggml's
//! `quantize_row_qN_K_ref` (what llama-quantize uses without an importance matrix),
//! including the scale searches (`make_qx_quants`, `make_q3_quants`, `make_qkx2_quants`).
//! Every float operation keeps the C expression order and f32 precision: a different order
//! would flip the odd rounding and the output would no longer be byte-identical.

use armlet_core::quant::{f16_to_f32, f32_to_f16};

pub const QK_K: usize = 256;
const GROUP_MAX_EPS: f32 = 1e-15;

/// Round to nearest (ties to even) through the float mantissa, exactly as ggml's
/// `nearest_int` (valid for |x| < 2^22, which every caller guarantees for finite input).
#[inline]
fn nearest_int(fval: f32) -> i32 {
    let val = fval + 12582912.0;
    (val.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

fn f16_round_trip(v: f32) -> (u16, f32) {
    let h = f32_to_f16(v);
    (h, f16_to_f32(h))
}

/// Symmetric codes in [-nmax, nmax) with a weighted least-squares scale search; `L` gets
/// the codes offset by nmax. Only the weighting `rmse_type == 1` (w = x^2) is used here.
fn make_qx_quants(x: &[f32], nmax: i32, codes: &mut [i8]) -> f32 {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        codes.iter_mut().for_each(|c| *c = 0);
        return 0.0;
    }
    let nmaxf = nmax as f32;
    let clamp = |l: i32| l.clamp(-nmax, nmax - 1);
    let mut iscale = -nmaxf / max;
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for (c, &v) in codes.iter_mut().zip(x) {
        let l = clamp(nearest_int(iscale * v));
        *c = (l + nmax) as i8;
        let w = v * v;
        let lf = l as f32;
        sumlx += w * v * lf;
        suml2 += w * lf * lf;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmaxf + 0.1 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for &v in x {
            let lf = clamp(nearest_int(iscale * v)) as f32;
            let w = v * v;
            sumlx += w * v * lf;
            suml2 += w * lf * lf;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (c, &v) in codes.iter_mut().zip(x) {
                *c = (nmax + clamp(nearest_int(iscale * v))) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Q3_K's per-16 scale: symmetric codes in [-nmax, nmax), refined coordinate by coordinate
/// (up to 5 passes) with weights x^2; `codes` get the codes offset by nmax.
fn make_q3_quants(x: &[f32], nmax: i32, codes: &mut [i8]) -> f32 {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        codes.iter_mut().for_each(|c| *c = 0);
        return 0.0;
    }
    let clamp = |l: i32| l.clamp(-nmax, nmax - 1);
    let iscale = -(nmax as f32) / max;
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for (c, &v) in codes.iter_mut().zip(x) {
        let l = clamp(nearest_int(iscale * v));
        *c = l as i8;
        let w = v * v;
        sumlx += w * v * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for (c, &v) in codes.iter_mut().zip(x) {
            let w = v * v;
            let cur = *c as f32;
            let mut slx = sumlx - w * v * cur;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * cur * cur;
                let new_l = clamp(nearest_int(v * sl2 / slx));
                if new_l != *c as i32 {
                    let nl = new_l as f32;
                    slx += w * v * nl;
                    sl2 += w * nl * nl;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        *c = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    for c in codes.iter_mut() {
        *c += nmax as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// Parameters of the asymmetric (scale + min) search for one format.
struct MinSearch {
    nmax: i32,
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    /// Absolute instead of squared error (Q2_K).
    use_mad: bool,
}

/// Asymmetric codes in [0, nmax] minimising the weighted error over nstep+1 trial scales;
/// returns (scale, -min) as ggml's `make_qkx2_quants` (`the_min` is the negated minimum).
fn make_qkx2_quants(x: &[f32], weights: &[f32], p: &MinSearch, codes: &mut [u8], aux: &mut [u8]) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        codes.iter_mut().for_each(|c| *c = 0);
        return (0.0, -min);
    }
    let nmax = p.nmax;
    let err = |diff: f32| if p.use_mad { diff.abs() } else { diff * diff };
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        codes[i] = l as u8;
        let diff = scale * l as f32 + min - x[i];
        best_error += weights[i] * err(diff);
    }
    if p.nstep < 1 {
        return (scale, -min);
    }
    for is in 0..=p.nstep {
        iscale = (p.rmin + p.rdelta * is as f32 + nmax as f32) / (max - min);
        let mut sum_l = 0.0f32;
        let mut sum_l2 = 0.0f32;
        let mut sum_xl = 0.0f32;
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            aux[i] = l as u8;
            let w = weights[i];
            let lf = l as f32;
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let d = sum_w * sum_l2 - sum_l * sum_l;
        if d > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                let diff = this_scale * aux[i] as f32 + this_min - x[i];
                cur_error += weights[i] * err(diff);
            }
            if cur_error < best_error {
                codes[..n].copy_from_slice(&aux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// Q4_K/Q5_K's packing of eight 6-bit scales and eight 6-bit mins into 12 bytes.
fn pack_scales_mins_k4(ls: &[u8; 8], lm: &[u8; 8]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for j in 0..8 {
        if j < 4 {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (ls[j] & 0xf) | ((lm[j] & 0xf) << 4);
            s[j - 4] |= (ls[j] >> 4) << 6;
            s[j] |= (lm[j] >> 4) << 6;
        }
    }
    s
}

/// ggml's `get_scale_min_k4`.
fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// 2-bit: 16 groups of 16 with 4-bit scales and mins. Block: scales[16] qs[64] d dmin.
pub fn quantize_q2_k(x: &[f32], out: &mut [u8]) {
    const SEARCH: MinSearch = MinSearch { nmax: 3, rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: true };
    let q4scale = 15.0f32;
    for (xb, o) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(84)) {
        let mut codes = [0u8; QK_K];
        let mut aux = [0u8; 16];
        let mut weights = [0f32; 16];
        let mut scales = [0f32; 16];
        let mut mins = [0f32; 16];
        let mut max_scale = 0.0f32;
        let mut max_min = 0.0f32;
        for j in 0..16 {
            let xs = &xb[16 * j..16 * j + 16];
            for (w, v) in weights.iter_mut().zip(xs) {
                *w = v.abs();
            }
            let (scale, min) = make_qkx2_quants(xs, &weights, &SEARCH, &mut codes[16 * j..16 * j + 16], &mut aux);
            scales[j] = scale;
            mins[j] = min;
            if scale > max_scale {
                max_scale = scale;
            }
            if min > max_min {
                max_min = min;
            }
        }
        let mut sc = [0u8; 16];
        let d16 = if max_scale > 0.0 {
            let iscale = q4scale / max_scale;
            for j in 0..16 {
                sc[j] = nearest_int(iscale * scales[j]) as u8;
            }
            f32_to_f16(max_scale / q4scale)
        } else {
            f32_to_f16(0.0)
        };
        let dmin16 = if max_min > 0.0 {
            let iscale = q4scale / max_min;
            for j in 0..16 {
                sc[j] |= (nearest_int(iscale * mins[j]) << 4) as u8;
            }
            f32_to_f16(max_min / q4scale)
        } else {
            f32_to_f16(0.0)
        };
        let (d_all, dmin_all) = (f16_to_f32(d16), f16_to_f32(dmin16));
        for j in 0..16 {
            let d = d_all * (sc[j] & 0xf) as f32;
            if d == 0.0 {
                continue;
            }
            let dm = dmin_all * (sc[j] >> 4) as f32;
            for ii in 0..16 {
                codes[16 * j + ii] = nearest_int((xb[16 * j + ii] + dm) / d).clamp(0, 3) as u8;
            }
        }
        o[..16].copy_from_slice(&sc);
        for (half, q) in o[16..80].chunks_exact_mut(32).enumerate() {
            let l = &codes[128 * half..128 * half + 128];
            for i in 0..32 {
                q[i] = l[i] | (l[i + 32] << 2) | (l[i + 64] << 4) | (l[i + 96] << 6);
            }
        }
        o[80..82].copy_from_slice(&d16.to_le_bytes());
        o[82..84].copy_from_slice(&dmin16.to_le_bytes());
    }
}

/// 3-bit: 16 groups of 16 with signed 6-bit scales. Block: hmask[32] qs[64] scales[12] d.
pub fn quantize_q3_k(x: &[f32], out: &mut [u8]) {
    for (xb, o) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(110)) {
        let mut codes = [0i8; QK_K];
        let mut scales = [0f32; 16];
        let mut max_scale = 0.0f32;
        let mut amax = 0.0f32;
        for j in 0..16 {
            scales[j] = make_q3_quants(&xb[16 * j..16 * j + 16], 4, &mut codes[16 * j..16 * j + 16]);
            let scale = scales[j].abs();
            if scale > amax {
                amax = scale;
                max_scale = scales[j];
            }
        }
        let mut packed = [0u8; 12];
        let d16 = if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for j in 0..16 {
                // C stores nearest_int's result in an int8_t before clamping.
                let l = ((nearest_int(iscale * scales[j]) as i8) as i32).clamp(-32, 31) + 32;
                if j < 8 {
                    packed[j] = (l & 0xf) as u8;
                } else {
                    packed[j - 8] |= ((l & 0xf) << 4) as u8;
                }
                packed[j % 4 + 8] |= ((l >> 4) << (2 * (j / 4))) as u8;
            }
            f32_to_f16(1.0 / iscale)
        } else {
            f32_to_f16(0.0)
        };
        let d_all = f16_to_f32(d16);
        for j in 0..16 {
            let low = if j < 8 { packed[j] & 0xf } else { packed[j - 8] >> 4 };
            let sc = (low | (((packed[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) as i32 - 32;
            let d = d_all * sc as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                codes[16 * j + ii] = (nearest_int(xb[16 * j + ii] / d).clamp(-4, 3) + 4) as i8;
            }
        }
        // High bits: the first 32 codes go to bit 0 of hmask[0..32], the next 32 to bit 1, ...
        let (hmask, rest) = o.split_at_mut(32);
        hmask.fill(0);
        let mut low = [0u8; QK_K];
        for (j, &c) in codes.iter().enumerate() {
            let mut c = c as u8;
            if c > 3 {
                hmask[j % 32] |= 1 << (j / 32);
                c -= 4;
            }
            low[j] = c;
        }
        for (half, q) in rest[..64].chunks_exact_mut(32).enumerate() {
            let l = &low[128 * half..128 * half + 128];
            for i in 0..32 {
                q[i] = l[i] | (l[i + 32] << 2) | (l[i + 64] << 4) | (l[i + 96] << 6);
            }
        }
        o[96..108].copy_from_slice(&packed);
        o[108..110].copy_from_slice(&d16.to_le_bytes());
    }
}

/// The shared first half of Q4_K and Q5_K: per-32 scales and mins, their 6-bit packing, and
/// the final codes in [0, nmax]. Returns (packed scales, d, dmin).
fn scales_mins_and_codes(xb: &[f32], search: &MinSearch, codes: &mut [u8; QK_K]) -> ([u8; 12], u16, u16) {
    let mut aux = [0u8; 32];
    let mut weights = [0f32; 32];
    let mut scales = [0f32; 8];
    let mut mins = [0f32; 8];
    let mut max_scale = 0.0f32;
    let mut max_min = 0.0f32;
    for j in 0..8 {
        let xs = &xb[32 * j..32 * j + 32];
        let mut sum_x2 = 0.0f32;
        for &v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        for (w, v) in weights.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        let (scale, min) = make_qkx2_quants(xs, &weights, search, &mut codes[32 * j..32 * j + 32], &mut aux);
        scales[j] = scale;
        mins[j] = min;
        if scale > max_scale {
            max_scale = scale;
        }
        if min > max_min {
            max_min = min;
        }
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut ls = [0u8; 8];
    let mut lm = [0u8; 8];
    for j in 0..8 {
        // C assigns nearest_int's int to a uint8_t (wrapping) before capping at 63.
        ls[j] = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        lm[j] = (nearest_int(inv_min * mins[j]) as u8).min(63);
    }
    let packed = pack_scales_mins_k4(&ls, &lm);
    let d16 = f32_to_f16(max_scale / 63.0);
    let dmin16 = f32_to_f16(max_min / 63.0);
    let (d_all, dmin_all) = (f16_to_f32(d16), f16_to_f32(dmin16));
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, &packed);
        let d = d_all * sc as f32;
        if d == 0.0 {
            continue;
        }
        let dm = dmin_all * m as f32;
        for ii in 0..32 {
            codes[32 * j + ii] = nearest_int((xb[32 * j + ii] + dm) / d).clamp(0, search.nmax) as u8;
        }
    }
    (packed, d16, dmin16)
}

/// 4-bit: 8 groups of 32 with 6-bit scales and mins. Block: d dmin scales[12] qs[128].
pub fn quantize_q4_k(x: &[f32], out: &mut [u8]) {
    const SEARCH: MinSearch = MinSearch { nmax: 15, rmin: -1.0, rdelta: 0.1, nstep: 20, use_mad: false };
    for (xb, o) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(144)) {
        let mut codes = [0u8; QK_K];
        let (packed, d16, dmin16) = scales_mins_and_codes(xb, &SEARCH, &mut codes);
        o[0..2].copy_from_slice(&d16.to_le_bytes());
        o[2..4].copy_from_slice(&dmin16.to_le_bytes());
        o[4..16].copy_from_slice(&packed);
        for (chunk, q) in o[16..144].chunks_exact_mut(32).enumerate() {
            let l = &codes[64 * chunk..64 * chunk + 64];
            for i in 0..32 {
                q[i] = l[i] | (l[i + 32] << 4);
            }
        }
    }
}

/// 5-bit: as Q4_K with a fifth bit plane. Block: d dmin scales[12] qh[32] qs[128].
pub fn quantize_q5_k(x: &[f32], out: &mut [u8]) {
    const SEARCH: MinSearch = MinSearch { nmax: 31, rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: false };
    for (xb, o) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(176)) {
        let mut codes = [0u8; QK_K];
        let (packed, d16, dmin16) = scales_mins_and_codes(xb, &SEARCH, &mut codes);
        o[0..2].copy_from_slice(&d16.to_le_bytes());
        o[2..4].copy_from_slice(&dmin16.to_le_bytes());
        o[4..16].copy_from_slice(&packed);
        let (qh, ql) = o[16..176].split_at_mut(32);
        qh.fill(0);
        for (chunk, q) in ql.chunks_exact_mut(32).enumerate() {
            let (m1, m2) = (1u8 << (2 * chunk), 2u8 << (2 * chunk));
            for j in 0..32 {
                let mut l1 = codes[64 * chunk + j];
                if l1 > 15 {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                let mut l2 = codes[64 * chunk + j + 32];
                if l2 > 15 {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                q[j] = l1 | (l2 << 4);
            }
        }
    }
}

/// 6-bit: 16 groups of 16 with signed 8-bit scales. Block: ql[128] qh[64] scales[16] d.
pub fn quantize_q6_k(x: &[f32], out: &mut [u8]) {
    for (xb, o) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(210)) {
        let mut codes = [0i8; QK_K];
        let mut scales = [0f32; 16];
        let mut max_scale = 0.0f32;
        let mut max_abs_scale = 0.0f32;
        for ib in 0..16 {
            let scale = make_qx_quants(&xb[16 * ib..16 * ib + 16], 32, &mut codes[16 * ib..16 * ib + 16]);
            scales[ib] = scale;
            if scale.abs() > max_abs_scale {
                max_abs_scale = scale.abs();
                max_scale = scale;
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            o.fill(0);
            o[208..210].copy_from_slice(&f32_to_f16(0.0).to_le_bytes());
            continue;
        }
        let iscale = -128.0 / max_scale;
        let (d16, d_all) = f16_round_trip(1.0 / iscale);
        let mut sc = [0i8; 16];
        for ib in 0..16 {
            sc[ib] = nearest_int(iscale * scales[ib]).min(127) as i8;
        }
        for j in 0..16 {
            let d = d_all * sc[j] as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                codes[16 * j + ii] = (nearest_int(xb[16 * j + ii] / d).clamp(-32, 31) + 32) as i8;
            }
        }
        let (ql, rest) = o.split_at_mut(128);
        let (qh, rest) = rest.split_at_mut(64);
        for half in 0..2 {
            let l = |i: usize| codes[128 * half + i] as u8;
            let ql = &mut ql[64 * half..64 * half + 64];
            let qh = &mut qh[32 * half..32 * half + 32];
            for i in 0..32 {
                ql[i] = (l(i) & 0xf) | ((l(i + 64) & 0xf) << 4);
                ql[i + 32] = (l(i + 32) & 0xf) | ((l(i + 96) & 0xf) << 4);
                qh[i] = (l(i) >> 4) | ((l(i + 32) >> 4) << 2) | ((l(i + 64) >> 4) << 4) | ((l(i + 96) >> 4) << 6);
            }
        }
        for (b, &s) in rest[..16].iter_mut().zip(&sc) {
            *b = s as u8;
        }
        rest[16..18].copy_from_slice(&d16.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use armlet_core::quant::{dequantize_row, GgmlType};

    type Encoder = fn(&[f32], &mut [u8]);
    const ENCODERS: [(GgmlType, Encoder); 5] = [
        (GgmlType::Q2_K, quantize_q2_k),
        (GgmlType::Q3_K, quantize_q3_k),
        (GgmlType::Q4_K, quantize_q4_k),
        (GgmlType::Q5_K, quantize_q5_k),
        (GgmlType::Q6_K, quantize_q6_k),
    ];

    fn round_trip(ty: GgmlType, enc: Encoder, x: &[f32]) -> Vec<f32> {
        let mut bytes = vec![0xa5u8; ty.row_bytes(x.len() as u64).unwrap() as usize];
        enc(x, &mut bytes);
        let mut y = vec![0f32; x.len()];
        dequantize_row(ty, &bytes, &mut y).unwrap();
        y
    }

    #[test]
    fn nearest_int_rounds_ties_to_even_like_ggml() {
        let cases = [(2.5, 2), (3.5, 4), (-2.5, -2), (-3.5, -4), (0.49999997, 0), (-0.0, 0), (7.0, 7), (-31.6, -32)];
        for (x, want) in cases {
            assert_eq!(nearest_int(x), want, "{x}");
        }
    }

    /// The degenerate branches (all-equal groups, zero scales) that random weights never
    /// reach: zeros stay zeros, a constant row comes back close, and an outlier does not
    /// wipe out the other groups of its block.
    #[test]
    fn degenerate_blocks_decode_sensibly() {
        for (ty, enc) in ENCODERS {
            assert!(round_trip(ty, enc, &[0.0; QK_K]).iter().all(|&v| v == 0.0), "{ty:?} zeros");
            let constant = round_trip(ty, enc, &[0.75; QK_K]);
            assert!(constant.iter().all(|&v| (v - 0.75).abs() < 0.06), "{ty:?} constant: {:?}", &constant[..4]);
            let mut x: Vec<f32> = (0..QK_K).map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0).collect();
            x[100] = 40.0;
            let y = round_trip(ty, enc, &x);
            assert!((y[100] - 40.0).abs() < 4.0, "{ty:?} outlier -> {}", y[100]);
            let err: f32 = x.iter().zip(&y).map(|(a, b)| (a - b).powi(2)).sum::<f32>() / QK_K as f32;
            // Q2_K's 4-bit group scales round to 0 beside a 40x outlier, and those groups
            // decode to their minimum: ggml does the same (the `if (!d) continue;` branch).
            if ty != GgmlType::Q2_K {
                assert!(err.sqrt() < 0.5, "{ty:?} outlier block rms error {}", err.sqrt());
            }
        }
    }
}
