//! The Mamba2 selective scan of one SSM head (falcon-h1.md, the SSM step): every state value
//! of every head is updated once per token, megabytes of state per token on Falcon-H1, so
//! this loop is bound by memory as much as by the VFP. [`scan_head_portable`] is the
//! specification of the ARM kernel `arm::asm_scan`.
#![forbid(unsafe_code)]

/// How far past the start of an 8-value step the scan reads a channel's state early:
/// index 15 is the last value of the next step, so its line (and, when the state is not
/// line-aligned, the line before it, touched one step earlier) is filling while this step
/// computes.
const STATE_LOOKAHEAD: usize = 15;

/// The selective scan of one SSM head: for each channel `i`, `S_i ← S_i·decay + B·xd_i`
/// with `xd_i = x_i·δ`, then `x_i ← Σ S_i·C + x_i·D`. `state` starts with the head's
/// `[Ps][N]` (values past it are only read, as early touches). This is the portable twin of
/// the ARM kernel `arm::asm_scan` ([`super::scan_head`] picks one), and what the host runs.
///
/// Channels go in pairs, so each load of `B` and `C` serves two state rows and the VFP has
/// two independent chains to interleave. The state (megabytes per token) comes from memory
/// every token, and the core would stall on each line fill; so each 8-value step first
/// loads a value of each row's next step (an ordinary load: the fill proceeds under the
/// arithmetic) and consumes it, as an integer that feeds only `black_box`, at the start of
/// the following step, by which time the line has arrived. Each channel's arithmetic and
/// its order are `scan_steps`'s exactly.
pub fn scan_head_portable(state: &mut [f32], x: &mut [f32], b: &[f32], c: &[f32], decay: f32, delta: f32, d: f32) {
    let n = b.len();
    let wide = n - n % 8;
    let mut touched = 0u32;
    let mut pending = [0u32; 2];
    let mut pairs = x.chunks_exact_mut(2);
    let mut start = 0;
    for xp in pairs.by_ref() {
        let xd = [xp[0] * delta, xp[1] * delta];
        let mut acc = [[0f32; 4]; 2];
        let mut at = start;
        for (b8, c8) in b.chunks_exact(8).zip(c.chunks_exact(8)) {
            touched ^= pending[0] ^ pending[1];
            pending = [at + STATE_LOOKAHEAD, at + n + STATE_LOOKAHEAD]
                .map(|i| state.get(i).map_or(0, |v| v.to_bits()));
            let Some(rows) = state.get_mut(at..at + n + 8) else { return };
            let (first, rest) = rows.split_at_mut(8);
            let (Ok(s0), Some(Ok(s1)), Ok(b8), Ok(c8)) =
                (first.try_into(), rest.get_mut(n - 8..).map(<&mut [f32; 8]>::try_from), b8.try_into(), c8.try_into())
            else {
                return;
            };
            scan_pair_step(s0, s1, b8, c8, decay, xd, &mut acc);
            at += 8;
        }
        for (k, xi) in xp.iter_mut().enumerate() {
            let row = start + k * n;
            let (Some(s), Some(bt), Some(ct)) = (state.get_mut(at + k * n..row + n), b.get(wide..), c.get(wide..))
            else {
                return;
            };
            scan_steps(s, bt, ct, decay, xd[k], &mut acc[k]);
            let y = (acc[k][0] + acc[k][1]) + (acc[k][2] + acc[k][3]);
            *xi = y + *xi * d;
        }
        start += 2 * n;
    }
    if let (Some(xi), Some(s)) = (pairs.into_remainder().first_mut(), state.get_mut(start..start + n)) {
        let xd = *xi * delta;
        let mut acc = [0f32; 4];
        scan_steps(s, b, c, decay, xd, &mut acc);
        let y = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        *xi = y + *xi * d;
    }
    core::hint::black_box(touched ^ pending[0] ^ pending[1]);
}

/// One token's part in the scan of a head over two tokens ([`scan_head2_portable`]): its
/// channels `x` (replaced by the outputs), the group's `b` and `c`, its `decay` and `delta`;
/// `ahead` and `ahead_x` only name memory the next call will read (the next tokens' `B`, `C`
/// and `x`), which a kernel may read early; empty slices are fine.
pub struct ScanToken<'a> {
    pub x: &'a mut [f32],
    pub b: &'a [f32],
    pub c: &'a [f32],
    pub decay: f32,
    pub delta: f32,
    pub ahead: &'a [f32],
    pub ahead_x: &'a [f32],
}

/// The scan of one head over two consecutive tokens: [`scan_head_portable`] for `t[0]`, then
/// for `t[1]` from the state `t[0]` left. The portable twin of the ARM kernel
/// `arm::asm_scan::scan2_pairs` ([`super::scan_head2`] picks one).
pub fn scan_head2_portable(state: &mut [f32], t: [ScanToken<'_>; 2], d: f32) {
    for tok in t {
        scan_head_portable(state, tok.x, tok.b, tok.c, tok.decay, tok.delta, d);
    }
}

/// Eight values of two channels sharing `B` and `C`: each row's updates and accumulations
/// as [`scan_steps`] does them (value `j` into `acc[j % 4]`), staged so that every VFP
/// result has other work between it and its use.
#[inline(always)]
fn scan_pair_step(
    s0: &mut [f32; 8],
    s1: &mut [f32; 8],
    b: &[f32; 8],
    c: &[f32; 8],
    decay: f32,
    xd: [f32; 2],
    acc: &mut [[f32; 4]; 2],
) {
    for half in 0..2 {
        let o = 4 * half;
        let new0: [f32; 4] = core::array::from_fn(|j| s0[o + j] * decay + b[o + j] * xd[0]);
        let new1: [f32; 4] = core::array::from_fn(|j| s1[o + j] * decay + b[o + j] * xd[1]);
        for (j, (n0, n1)) in new0.into_iter().zip(new1).enumerate() {
            s0[o + j] = n0;
            s1[o + j] = n1;
            acc[0][j] += n0 * c[o + j];
            acc[1][j] += n1 * c[o + j];
        }
    }
}

/// Consecutive values of one channel's scan: `S ← S·decay + B·xd`, `acc += S·C` with four
/// independent accumulators (the VFP11's add latency would otherwise serialise it), value
/// `j` of each group of four into `acc[j]`, a tail shorter than four into `acc[0]`.
#[inline(always)]
fn scan_steps(s: &mut [f32], b: &[f32], c: &[f32], decay: f32, xd: f32, acc: &mut [f32; 4]) {
    let (sc, bc, cc) = (s.chunks_exact_mut(4), b.chunks_exact(4), c.chunks_exact(4));
    let (bt, ct) = (bc.remainder(), cc.remainder());
    let mut s_tail_start = 0;
    for ((s4, b4), c4) in sc.zip(bc).zip(cc) {
        for j in 0..4 {
            s4[j] = s4[j] * decay + b4[j] * xd;
            acc[j] += s4[j] * c4[j];
        }
        s_tail_start += 4;
    }
    if let Some(st) = s.get_mut(s_tail_start..) {
        for ((sv, bv), cv) in st.iter_mut().zip(bt).zip(ct) {
            *sv = *sv * decay + bv * xd;
            acc[0] += *sv * cv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_head_updates_state_and_sums() {
        // Three channels of N = 13 (a pair and a lone channel): an 8-value step, a group of
        // four and a scalar tail each.
        let mut state: [f32; 39] = core::array::from_fn(|i| (i % 13) as f32 + 1.0);
        let b = [1.0f32; 13];
        let c: [f32; 13] = core::array::from_fn(|i| if i % 2 == 0 { 1.0 } else { 0.0 });
        let mut x = [2.0f32, 4.0, 6.0];
        scan_head_portable(&mut state, &mut x, &b, &c, 0.5, 0.5, 3.0);
        // Channel k: xd = k + 1, so S_j = (j + 1)/2 + k + 1.
        for (k, row) in state.chunks_exact(13).enumerate() {
            let xd = k as f32 + 1.0;
            let expect: [f32; 13] = core::array::from_fn(|j| (j as f32 + 1.0) * 0.5 + xd);
            assert_eq!(row, expect, "channel {k}");
        }
        let y = |xd: f32| (0..13).step_by(2).map(|j| (j as f32 + 1.0) * 0.5 + xd).sum::<f32>();
        assert_eq!(x, [y(1.0) + 2.0 * 3.0, y(2.0) + 4.0 * 3.0, y(3.0) + 6.0 * 3.0]);
    }
}
