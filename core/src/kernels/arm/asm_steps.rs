//! Macros shared by the hand-scheduled K-quant kernels (`asm_q6k`, `asm_q5k`, ...).

/// One 8-weight step of the byte-field kernels (Q5_K, Q6_K, Q3_K): r4 = low-bits word, r5 =
/// high-bits word, r8/r9 their masks. Field A bytes = `((r4 $sha) & r8) | (r5 $shlo & r9)`, field B
/// bytes = `((r4 $shb) & r8) | (r5 $shhi & r9)`; each is split into two i16 pairs by `UXTB16`
/// and multiplied with r0/r1 (field A, into r10) and r2/r3 (field B, into r11). `$mac` =
/// `smuad` starts fresh accumulators. Then the next words, the next `LDM`, an optional touch
/// and the sub-block dot store. 17 cycles with no interlock under the ARM1176 timing.
macro_rules! field_step {
    (smuad, $sha:expr, $shb:expr, $shlo:expr, $shhi:expr, $nql:expr, $nqh:expr, $ldm:expr, $touch:expr, $end:expr) => {
        field_step!(@body "smuad r10, r5, r0\n", "smuad r11, r5, r2\n", $sha, $shb, $shlo, $shhi, $nql, $nqh, $ldm, $touch, $end)
    };
    (smlad, $sha:expr, $shb:expr, $shlo:expr, $shhi:expr, $nql:expr, $nqh:expr, $ldm:expr, $touch:expr, $end:expr) => {
        field_step!(@body "smlad r10, r5, r0, r10\n", "smlad r11, r5, r2, r11\n", $sha, $shb, $shlo, $shhi, $nql, $nqh, $ldm, $touch, $end)
    };
    (@body $mac0:expr, $mac2:expr, $sha:expr, $shb:expr, $shlo:expr, $shhi:expr, $nql:expr, $nqh:expr, $ldm:expr, $touch:expr, $end:expr) => {
        concat!(
            "and r6, r8, r4, ", $sha, "\n",
            "and r7, r9, r5, ", $shlo, "\n",
            "and r4, r8, r4, ", $shb, "\n",
            "orr r6, r6, r7\n",
            "and r7, r9, r5, ", $shhi, "\n",
            "uxtb16 r5, r6\n",
            "orr r7, r4, r7\n",
            "uxtb16 r6, r6, ror #8\n",
            $touch,
            $nql,
            $mac0,
            "uxtb16 r5, r7\n",
            "smlad r10, r6, r1, r10\n",
            "uxtb16 r7, r7, ror #8\n",
            $mac2,
            $nqh,
            "smlad r11, r7, r3, r11\n",
            $ldm,
            $end,
        )
    };
}


/// One 8-weight step of the nibble kernels (Q4_K, Q4_1): r4 = weight word, r9 = 0x000F000F;
/// one `LDM` of 4 activation pairs (r0-r3), 4 `AND` (shifts 0, 4, 8, 12) into r5-r8, the next
/// weight word (`$next`), 4 `SMLAD`: shifts 0 and 8 into r10, 4 and 12 into r11. `$mac` is
/// `smuad` for the first step of a sub-block (fresh accumulators); `$touch` is an optional
/// touch load into r8 (dead until the next step). 10 cycles with no interlock under the
/// ARM1176 timing: the `LDM` result is first used 6 cycles later, each accumulator chain
/// link is 2 cycles apart.
macro_rules! nibble_step {
    (smuad, $next:expr, $touch:expr) => {
        concat!(
            "ldm lr!, {{r0-r3}}\n",
            "and r5, r9, r4\n",
            "and r6, r9, r4, lsr #4\n",
            "and r7, r9, r4, lsr #8\n",
            "and r8, r9, r4, lsr #12\n",
            $next,
            "smuad r10, r5, r0\n",
            "smuad r11, r6, r2\n",
            "smlad r10, r7, r1, r10\n",
            "smlad r11, r8, r3, r11\n",
            $touch,
        )
    };
    (smlad, $next:expr, $touch:expr) => {
        concat!(
            "ldm lr!, {{r0-r3}}\n",
            "and r5, r9, r4\n",
            "and r6, r9, r4, lsr #4\n",
            "and r7, r9, r4, lsr #8\n",
            "and r8, r9, r4, lsr #12\n",
            $next,
            "smlad r10, r5, r0, r10\n",
            "smlad r11, r6, r2, r11\n",
            "smlad r10, r7, r1, r10\n",
            "smlad r11, r8, r3, r11\n",
            $touch,
        )
    };
}


/// One 8-weight step of the Q2_K kernel: [`nibble_step`] with the mask in r9 (0x00030003)
/// and the four shifts as parameters (`$s0`/`$s2`: bytes 0/2 and 1/3 of field A into r10,
/// `$s1`/`$s3`: field B into r11), then `$end` (the sub-block dot store).
macro_rules! mask_step {
    (smuad, $s0:expr, $s1:expr, $s2:expr, $s3:expr, $next:expr, $touch:expr, $end:expr) => {
        mask_step!(@body "smuad r10, r5, r0\n", "smuad r11, r6, r2\n", $s0, $s1, $s2, $s3, $next, $touch, $end)
    };
    (smlad, $s0:expr, $s1:expr, $s2:expr, $s3:expr, $next:expr, $touch:expr, $end:expr) => {
        mask_step!(@body "smlad r10, r5, r0, r10\n", "smlad r11, r6, r2, r11\n", $s0, $s1, $s2, $s3, $next, $touch, $end)
    };
    (@body $mac0:expr, $mac1:expr, $s0:expr, $s1:expr, $s2:expr, $s3:expr, $next:expr, $touch:expr, $end:expr) => {
        concat!(
            "ldm lr!, {{r0-r3}}\n",
            "and r5, r9, r4, ", $s0, "\n",
            "and r6, r9, r4, ", $s1, "\n",
            "and r7, r9, r4, ", $s2, "\n",
            "and r8, r9, r4, ", $s3, "\n",
            $next,
            $mac0,
            $mac1,
            "smlad r10, r7, r1, r10\n",
            "smlad r11, r8, r3, r11\n",
            $touch,
            $end,
        )
    };
}

/// f16 to f32 bits, exactly as `float::f16_to_f32` (without the sign): `$in` holds the f16
/// shifted left by 17 (exponent in bits 27-31, mantissa in 17-26; clobbered), `$out` gets the
/// f32 bits, `$tmp` is scratch. Normal numbers take 6 cycles (the final `B` is folded once
/// the branch predictor knows it); zero, subnormals, infinities and NaN go through the exact
/// slow path. The caller ORs in the sign.
macro_rules! f16_bits {
    ($out:literal, $in:literal, $tmp:literal) => {
        concat!(
            "sub ", $out, ", ", $in, ", #0x08000000\n",
            "cmp ", $out, ", #0xF0000000\n",
            "bhs 8f\n",
            "mov ", $out, ", ", $in, ", lsr #4\n",
            "add ", $out, ", ", $out, ", #0x38000000\n",
            "b 9f\n",
            "8:\n",
            "mov ", $tmp, ", ", $in, ", lsr #27\n",
            "cmp ", $tmp, ", #31\n",
            "moveq ", $out, ", ", $in, ", lsr #4\n",
            "orreq ", $out, ", ", $out, ", #0x7f000000\n",
            "beq 9f\n",
            "movs ", $tmp, ", ", $in, ", lsr #17\n",
            "moveq ", $out, ", #0\n",
            "beq 9f\n",
            "clz ", $out, ", ", $tmp, "\n",
            "sub ", $in, ", ", $out, ", #8\n",
            "mov ", $tmp, ", ", $tmp, ", lsl ", $in, "\n",
            "bic ", $tmp, ", ", $tmp, ", #0x800000\n",
            "rsb ", $out, ", ", $out, ", #134\n",
            "orr ", $out, ", ", $tmp, ", ", $out, ", lsl #23\n",
            "9:\n",
        )
    };
}

/// Gathers a Q3_K block's 16 six-bit scales (ggml's `kmask` shuffle, all at once) as unsigned
/// bytes: r4/r5/r6 = the 12 scale bytes' words (r4 clobbered), r8 = 0x0F0F0F0F, r9 =
/// 0x30303030. Scales 0..3 go to r0, 4..7 to r1, 8..11 to r2 and 12..15 to r3, one byte each
/// (0..63); the caller subtracts the bias of 32 with `USUB8`.
macro_rules! q3k_scale_bytes {
    () => {
        concat!(
            "and r0, r4, r8\n",
            "and r1, r9, r6, lsl #4\n",
            "orr r0, r0, r1\n",
            "and r1, r5, r8\n",
            "and r2, r9, r6, lsl #2\n",
            "orr r1, r1, r2\n",
            "and r2, r8, r4, lsr #4\n",
            "and r3, r9, r6\n",
            "orr r2, r2, r3\n",
            "and r3, r8, r5, lsr #4\n",
            "and r4, r9, r6, lsr #2\n",
            "orr r3, r3, r4\n",
        )
    };
}

/// The masks of the 12-byte 6-bit scale/min header of Q4_K and Q5_K blocks: r4 =
/// 0x3F3F3F3F, r5 = 0x0F0F0F0F, r6 = 0x03030303 (the caller adds its own fourth mask in r7
/// and stores the four to the frame).
macro_rules! kq_header_masks {
    () => {
        concat!(
            "mov r4, #0x3f\n",
            "orr r4, r4, r4, lsl #8\n",
            "orr r4, r4, r4, lsl #16\n",
            "mov r5, #0x0f\n",
            "orr r5, r5, r5, lsl #8\n",
            "orr r5, r5, r5, lsl #16\n",
            "mov r6, #3\n",
            "orr r6, r6, r6, lsl #8\n",
            "orr r6, r6, r6, lsl #16\n",
        )
    };
}

/// Unpacks a Q4_K/Q5_K block's 6-bit scales and mins (ggml's `get_scale_min_k4` for all eight
/// at once): r4/r5/r6 = header words 1..3 (clobbered), r7/r8/r9 = the masks of
/// [`kq_header_masks`]. The eight scale bytes go to the frame at sp + 16, the eight min bytes
/// to r10 (m[0..4]) and r11 (m[4..8]).
macro_rules! kq_unpack_scales_mins {
    () => {
        concat!(
            "and r10, r4, r7\n",               // sc[0..4]
            "and r11, r6, r8\n",
            "and r4, r9, r4, lsr #6\n",
            "orr r11, r11, r4, lsl #4\n",      // sc[4..8]
            "strd r10, r11, [sp, #16]\n",
            "and r10, r5, r7\n",               // m[0..4]
            "and r11, r8, r6, lsr #4\n",
            "and r5, r9, r5, lsr #6\n",
            "orr r11, r11, r5, lsl #4\n",      // m[4..8]
        )
    };
}

/// The single-token Q4_K/Q5_K block epilogue: `isum = Σ sc[j] · dot[j]` from the scale bytes
/// at sp + 16 and the eight sub-block dots at sp + 32, as two partial sums in r2 (even `j`)
/// and r3 (odd `j`); also loads the frame's out pointer (sp + 28) into r0 and blocks left
/// (sp + 24) into r1.
macro_rules! kq_scaled_dots {
    () => {
        concat!(
            "add r11, sp, #32\n",
            "ldrd r0, r1, [sp, #16]\n",
            "ldm r11, {{r2-r8, r10}}\n",
            "uxtb r11, r0\n",
            "uxtb r9, r0, ror #8\n",
            "mul r2, r11, r2\n",
            "uxtb r11, r0, ror #16\n",
            "mul r3, r9, r3\n",
            "uxtb r9, r0, ror #24\n",
            "mla r2, r11, r4, r2\n",
            "uxtb r11, r1\n",
            "mla r3, r9, r5, r3\n",
            "uxtb r9, r1, ror #8\n",
            "mla r2, r11, r6, r2\n",
            "uxtb r11, r1, ror #16\n",
            "mla r3, r9, r7, r3\n",
            "uxtb r9, r1, ror #24\n",
            "mla r2, r11, r8, r2\n",
            "ldr r0, [sp, #28]\n",
            "mla r3, r9, r10, r3\n",
            "ldr r1, [sp, #24]\n",
        )
    };
}
