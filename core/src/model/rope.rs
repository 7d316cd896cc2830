//! Rotary position embeddings, one implementation with two pairings ([`RopeMode`]):
//! NEOX (Falcon-H1: `j` with `j + n_rot/2`) and adjacent pairs (llama: `2j` with `2j+1`).
//! Angles follow llama.cpp bit for bit: `θ_0 = p`, `θ_{j+1} = f32(θ_j · base^(-2/n_rot))`
//! (an iterated f32 product, not a power per pair), then `cosf/sinf(freq_scale · θ_j)`.
//! The table is computed once per token and shared by every head of every layer.
#![forbid(unsafe_code)]

use super::{RopeMode, RopeParams};

impl RopeParams {
    /// f32 values of the per-position table [`RopeParams::angles`] fills.
    pub fn table_len(&self) -> usize {
        self.n_rot
    }

    /// Fills `table` (`n_rot` values) for position `pos`: `table[2j] = cos θ_j`,
    /// `table[2j+1] = sin θ_j`, both times `attn_factor`.
    pub fn angles(&self, pos: usize, table: &mut [f32]) {
        let theta_scale = libm::powf(self.freq_base, -2.0 / self.n_rot as f32);
        let mut theta = pos as f32;
        for cs in table.chunks_exact_mut(2).take(self.n_rot / 2) {
            let t = self.freq_scale * theta;
            cs[0] = libm::cosf(t) * self.attn_factor;
            cs[1] = libm::sinf(t) * self.attn_factor;
            theta *= theta_scale;
        }
    }

    /// Rotates the first `n_rot` dimensions of one head in place with an angle table from
    /// [`RopeParams::angles`]; the remaining dimensions pass through.
    pub fn rotate(&self, head: &mut [f32], table: &[f32]) {
        let half = self.n_rot / 2;
        let pairs = table.chunks_exact(2).take(half);
        match self.mode {
            RopeMode::Neox => {
                let (lo, rest) = head.split_at_mut(half.min(head.len()));
                let n = lo.len().min(rest.len()).min(table.len() / 2).min(half);
                let (lo, hi, table) = (&mut lo[..n], &mut rest[..n], &table[..2 * n]);
                // Four pairs side by side (the VFP11 waits 8 cycles for a product): each value
                // gets the same two products and one add as below.
                let mut los = lo.chunks_exact_mut(4);
                let mut his = hi.chunks_exact_mut(4);
                let mut tabs = table.chunks_exact(8);
                for ((a, b), cs) in (&mut los).zip(&mut his).zip(&mut tabs) {
                    let (x0, x1) = ([a[0], a[1], a[2], a[3]], [b[0], b[1], b[2], b[3]]);
                    let mut p = [[0f32; 4]; 4];
                    for i in 0..4 {
                        p[0][i] = x0[i] * cs[2 * i];
                        p[1][i] = x1[i] * cs[2 * i + 1];
                        p[2][i] = x0[i] * cs[2 * i + 1];
                        p[3][i] = x1[i] * cs[2 * i];
                    }
                    for i in 0..4 {
                        a[i] = p[0][i] - p[1][i];
                        b[i] = p[2][i] + p[3][i];
                    }
                }
                let pairs = tabs.remainder().chunks_exact(2);
                for ((a, b), cs) in los.into_remainder().iter_mut().zip(his.into_remainder().iter_mut()).zip(pairs) {
                    let (x0, x1) = (*a, *b);
                    *a = x0 * cs[0] - x1 * cs[1];
                    *b = x0 * cs[1] + x1 * cs[0];
                }
            }
            RopeMode::AdjacentPairs => {
                for (v, cs) in head.chunks_exact_mut(2).zip(pairs) {
                    let (x0, x1) = (v[0], v[1]);
                    v[0] = x0 * cs[0] - x1 * cs[1];
                    v[1] = x0 * cs[1] + x1 * cs[0];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(mode: RopeMode) -> RopeParams {
        RopeParams { mode, n_rot: 4, freq_base: 10000.0, freq_scale: 1.0, attn_factor: 1.0 }
    }

    #[test]
    fn position_zero_is_identity() {
        for mode in [RopeMode::Neox, RopeMode::AdjacentPairs] {
            let p = params(mode);
            let mut table = [0f32; 4];
            p.angles(0, &mut table);
            let mut head = [1.0f32, 2.0, 3.0, 4.0, 5.0];
            p.rotate(&mut head, &table);
            assert_eq!(head, [1.0, 2.0, 3.0, 4.0, 5.0]);
        }
    }

    #[test]
    fn pairing_differs_by_mode() {
        // Position 1: θ_0 = 1 rad, θ_1 = 1/100 rad.
        let mut table = [0f32; 4];
        params(RopeMode::Neox).angles(1, &mut table);
        assert_eq!(table[0], libm::cosf(1.0));
        assert_eq!(table[3], libm::sinf(1.0 * libm::powf(10000.0, -0.5)));
        let (c, s) = (table[0], table[1]);

        // NEOX rotates (x0, x2) by θ_0; adjacent rotates (x0, x1) by θ_0.
        let mut neox = [1.0f32, 0.0, 0.0, 0.0, 7.0];
        params(RopeMode::Neox).rotate(&mut neox, &table);
        assert_eq!([neox[0], neox[2], neox[4]], [c, s, 7.0]);
        let mut adj = [1.0f32, 0.0, 0.0, 0.0];
        params(RopeMode::AdjacentPairs).rotate(&mut adj, &table);
        assert_eq!([adj[0], adj[1]], [c, s]);
    }

    #[test]
    fn neox_rotation_equals_the_pairwise_formula() {
        for n_rot in [4usize, 8, 12, 64] {
            let p = RopeParams { mode: RopeMode::Neox, n_rot, freq_base: 1e4, freq_scale: 1.0, attn_factor: 1.0 };
            let mut table = [0f32; 64];
            p.angles(91, &mut table[..n_rot]);
            let mut head = [0f32; 66];
            for (i, v) in head.iter_mut().enumerate() {
                *v = [1.5f32, -0.0, f32::INFINITY, 3e-39, -7.25, f32::NAN, 0.1][i % 7] * (i as f32 + 1.0);
            }
            let mut want = head;
            let half = n_rot / 2;
            for j in 0..half {
                let (x0, x1, c, s) = (head[j], head[j + half], table[2 * j], table[2 * j + 1]);
                want[j] = x0 * c - x1 * s;
                want[j + half] = x0 * s + x1 * c;
            }
            p.rotate(&mut head, &table[..n_rot]);
            for (a, b) in head.iter().zip(&want) {
                // A NaN's sign and payload are not specified (Miri picks them at random).
                assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn angles_are_an_iterated_f32_product() {
        let p = RopeParams { mode: RopeMode::Neox, n_rot: 64, freq_base: 1e11, freq_scale: 1.0, attn_factor: 1.0 };
        let mut table = [0f32; 64];
        p.angles(37, &mut table);
        let scale = libm::powf(1e11, -2.0 / 64.0);
        let mut theta = 37f32;
        for j in 0..32 {
            assert_eq!(table[2 * j], libm::cosf(theta));
            theta *= scale;
        }
    }
}
