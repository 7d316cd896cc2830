//! Reading a model file into memory with a clear error for each way it can fail.

use std::path::Path;

/// The whole file, read into memory (the Pi's 32-bit default, like llama.cpp's `--no-mmap`).
/// The buffer is 8-byte aligned so tensor data (aligned within the file) stays aligned.
pub struct ModelBytes {
    words: Vec<u64>,
    len: usize,
}

impl ModelBytes {
    pub fn read(path: &Path) -> Result<ModelBytes, String> {
        use std::io::Read;
        let shown = path.display();
        let mut file = std::fs::File::open(path).map_err(|e| format!("cannot open model file {shown}: {e}"))?;
        let meta = file.metadata().map_err(|e| format!("cannot read model file {shown}: {e}"))?;
        if meta.is_dir() {
            return Err(format!("{shown} is a directory, not a model file"));
        }
        let len = usize::try_from(meta.len()).map_err(|_| format!("{shown} is too large for this machine"))?;
        let mut words = Vec::new();
        words.try_reserve_exact(len.div_ceil(8)).map_err(|_| {
            format!("not enough memory to read {shown} ({} MiB)", len >> 20)
        })?;
        words.resize(len.div_ceil(8), 0u64);
        let bytes = words_as_bytes_mut(&mut words);
        file.read_exact(&mut bytes[..len]).map_err(|e| format!("cannot read model file {shown}: {e}"))?;
        Ok(ModelBytes { words, len })
    }

    pub fn bytes(&self) -> &[u8] {
        &words_as_bytes(&self.words)[..self.len]
    }
}

fn words_as_bytes(w: &[u64]) -> &[u8] {
    // SAFETY: u64 has no padding and every byte pattern is a valid u8; the length is exact.
    unsafe { std::slice::from_raw_parts(w.as_ptr().cast::<u8>(), w.len() * 8) }
}

fn words_as_bytes_mut(w: &mut [u64]) -> &mut [u8] {
    // SAFETY: as above; the borrow of `w` is exclusive for the returned lifetime.
    unsafe { std::slice::from_raw_parts_mut(w.as_mut_ptr().cast::<u8>(), w.len() * 8) }
}
