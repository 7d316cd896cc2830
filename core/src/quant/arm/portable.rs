//! Portable twins of the ARM kernels: the row-by-row specification from `legacy`/`kquant`.
#![forbid(unsafe_code)]

use crate::quant::{kquant, legacy, GgmlType};

pub fn matvec_kquant(ty: GgmlType, w: &[u8], rb: usize, std_act: &[u8], _pairs: &[u8], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(w.chunks_exact(rb)) {
        *o = kquant::vec_dot_row(ty, row, std_act);
    }
}

pub fn matvec_q8_0(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(w.chunks_exact(rb)) {
        *o = legacy::vec_dot_row(GgmlType::Q8_0, row, act);
    }
}

pub fn matvec_q4_1(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(w.chunks_exact(rb)) {
        *o = legacy::vec_dot_row(GgmlType::Q4_1, row, act);
    }
}

/// Any legacy type, row by row (the fallback of the ARM legacy kernels).
pub fn matvec_legacy(ty: GgmlType, w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(w.chunks_exact(rb)) {
        *o = legacy::vec_dot_row(ty, row, act);
    }
}
