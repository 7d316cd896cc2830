//! What the machine has and what this process uses: available memory (the default
//! `--mem-limit`), the peak resident size for the statistics, and the ARM1176 cost-model
//! markers that `scripts/bench` uses to measure the token loop under qemu.

/// `MemAvailable` from /proc/meminfo, in bytes.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&text, "MemAvailable:")
}

/// The peak resident set size (`VmHWM`) of this process, in bytes.
pub fn peak_resident() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&text, "VmHWM:")
}

fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Puts the VFP11 in RunFast mode (FPSCR flush-to-zero and default-NaN, traps off): without
/// it, every denormal operand or result traps to kernel support code on a real Pi, costing
/// hundreds of cycles. Denormals then become zero, which llama.cpp on x86 does not do; the
/// models' values never come near 1e-38, so the text does not change. No-op off ARM.
pub fn enable_runfast() {
    #[cfg(target_arch = "arm")]
    // SAFETY: reads and writes only FPSCR; FZ (bit 24) and DN (bit 25) set, the exception
    // trap enables (bits 8-12, 15) cleared, as ARM's RunFast mode requires.
    unsafe {
        core::arch::asm!(
            "vmrs {t}, fpscr",
            "bic {t}, {t}, #0x9f00",
            "orr {t}, {t}, #0x03000000",
            "vmsr fpscr, {t}",
            t = out(reg) _,
            options(nomem, nostack)
        )
    }
}

/// Marker instructions for the ARM1176 cost model (`../shared/tools/README.md`): no-ops
/// (`orr rN, rN, rN`) that the qemu plugin recognises. Elsewhere they compile to nothing.
pub mod cost_markers {
    /// Opens a measured region.
    #[inline(always)]
    pub fn region_begin() {
        #[cfg(target_arch = "arm")]
        // SAFETY: `orr r0, r0, r0` changes no register, flag or memory.
        unsafe {
            core::arch::asm!("orr r0, r0, r0", options(nostack, preserves_flags))
        }
    }

    /// Closes the region.
    #[inline(always)]
    pub fn region_end() {
        #[cfg(target_arch = "arm")]
        // SAFETY: as above, with r1.
        unsafe {
            core::arch::asm!("orr r1, r1, r1", options(nostack, preserves_flags))
        }
    }

    /// Records the cost since the previous tick (one per token).
    #[inline(always)]
    pub fn tick() {
        #[cfg(target_arch = "arm")]
        // SAFETY: as above, with r2.
        unsafe {
            core::arch::asm!("orr r2, r2, r2", options(nostack, preserves_flags))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_kib_fields() {
        let text = "MemTotal:  1000 kB\nMemAvailable:     512 kB\n";
        assert_eq!(super::kib_field(text, "MemAvailable:"), Some(512 * 1024));
        assert_eq!(super::kib_field(text, "VmHWM:"), None);
    }
}
