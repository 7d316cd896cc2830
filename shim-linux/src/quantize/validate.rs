//! llama-quantize's data checks (`ggml_validate_row_data`): it refuses an input tensor
//! holding NaN or infinity, and an output whose half-float scales overflowed to infinity
//! (a weight beyond f16 range). Same checks here, so armlet fails where llama.cpp fails.

use armlet_core::quant::GgmlType;

/// Byte offsets of the f16 scale fields inside one block of `ty`, and the block size.
fn f16_fields(ty: GgmlType) -> Option<(usize, &'static [usize])> {
    use GgmlType::*;
    Some(match ty {
        Q4_0 => (18, &[0]),
        Q4_1 => (20, &[0, 2]),
        Q5_0 => (22, &[0]),
        Q5_1 => (24, &[0, 2]),
        Q8_0 => (34, &[0]),
        Q2_K => (84, &[80, 82]),
        Q3_K => (110, &[108]),
        Q4_K => (144, &[0, 2]),
        Q5_K => (176, &[0, 2]),
        Q6_K => (210, &[208]),
        _ => return None,
    })
}

fn half_is_finite(h: u16) -> bool {
    h & 0x7c00 != 0x7c00
}

/// The first element or block index whose value or scale is NaN or infinite, if any.
/// Types ggml does not check (integers, formats armlet does not know) always pass.
pub fn first_non_finite(ty: GgmlType, data: &[u8]) -> Option<usize> {
    let le16 = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    match ty {
        GgmlType::F32 => data.chunks_exact(4).position(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite()),
        GgmlType::F16 => data.chunks_exact(2).position(|b| !half_is_finite(le16(b, 0))),
        GgmlType::BF16 => data.chunks_exact(2).position(|b| le16(b, 0) & 0x7f80 == 0x7f80),
        _ => {
            let (block_bytes, fields) = f16_fields(ty)?;
            data.chunks_exact(block_bytes).position(|b| fields.iter().any(|&at| !half_is_finite(le16(b, at))))
        }
    }
}
