//! `armlet quantize`: rewrites a GGUF model with another weight type, byte-identical to
//! llama.cpp's `llama-quantize IN OUT TYPE` (no importance matrix, no overrides).
//!
//! The pipeline: read the input whole, order its tensors as llama.cpp does, choose each
//! tensor's type ([`policy`]), write the header ([`writer`]), then stream the tensors one at
//! a time: decode each row to f32 (the core's `dequantize_row`), encode it ([`legacy`],
//! [`kquants`]), check it ([`validate`]), write it. Only one output tensor is in memory.
//! The output goes to a temporary file next to OUT, renamed over OUT at the very end, so a
//! failed or interrupted run never leaves a partial file under OUT's name.

mod kquants;
mod legacy;
pub mod policy;
mod validate;
mod writer;

pub use policy::FileType;

use crate::model_file::ModelBytes;
use armlet_core::gguf::{self, Tensor, Value};
use armlet_core::quant::{dequantize_row, GgmlType};
use policy::{ggml_n_dims, is_quantized, ModelInfo, TensorDesc};
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use writer::{MetaValue, TensorInfo};

/// ggml's `GGML_QNT_VERSION`, stored as `general.quantization_version`.
const QUANTIZATION_VERSION: u32 = 2;

/// Tensors smaller than this are encoded on one thread (thread start-up would dominate).
const MIN_ELEMENTS_PER_THREAD: usize = 1 << 16;

pub struct Options {
    /// Allow re-encoding tensors that are already block-quantized (lossy twice).
    pub allow_requantize: bool,
    /// Print one line per tensor on stderr.
    pub progress: bool,
}

/// What was written, for the closing message.
pub struct Summary {
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Quantizes `input` into `output` as `ftype`. Errors are one-line messages; on error no
/// file exists under `output`'s name that was not there before.
pub fn quantize_file(input: &Path, output: &Path, ftype: FileType, opts: &Options) -> Result<Summary, String> {
    let shown_in = input.display();
    let in_meta = fs::metadata(input).map_err(|e| format!("cannot open {shown_in}: {e}"))?;
    check_output(&in_meta, output)?;
    let mut temp = TempFile::create_beside(output)?;

    let model = ModelBytes::read(input)?;
    let file = gguf::File::parse(model.bytes()).map_err(|e| format!("{shown_in}: {e}"))?;
    let info = model_info(&file).map_err(|e| format!("{shown_in}: {e}"))?;

    let mut tensors: Vec<Tensor> = file.tensors().collect();
    tensors.sort_by(|a, b| policy::llama_tensor_order(a.name, b.name));
    let descs: Vec<TensorDesc> = tensors.iter().map(|t| TensorDesc { name: t.name, ty: t.ty, ne: t.ne }).collect();
    let types = policy::plan_types(ftype, &info, &descs).map_err(|e| format!("{shown_in}: {}", e.0))?;
    for (t, &ty) in tensors.iter().zip(&types) {
        check_conversion(t, ty, opts.allow_requantize).map_err(|e| format!("{shown_in}: {e}"))?;
    }

    // llama.cpp pads to 32 even when the input sets another `general.alignment` (which it
    // copies into the output, so that file contradicts itself); armlet keeps the input's
    // alignment, which is the same bytes whenever the key is absent or 32.
    let alignment = file.alignment();
    let mut infos = Vec::with_capacity(tensors.len());
    let mut offset = 0u64;
    for (t, &ty) in tensors.iter().zip(&types) {
        infos.push(TensorInfo { name: t.name, ne: t.ne, n_dims: ggml_n_dims(&t.ne), ty, offset });
        let size = tensor_bytes(ty, &t.ne).ok_or_else(|| format!("{shown_in}: tensor {} is too large", t.name))?;
        offset += size + writer::padding(size, alignment);
    }
    let header = writer::encode_header(&output_metadata(&file, ftype), &infos, alignment);

    let shown_out = output.display();
    let write_err = |e: std::io::Error| format!("cannot write {shown_out}: {e}");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, temp.file()?);
    out.write_all(&header).map_err(write_err)?;
    let mut bytes_out = header.len() as u64;
    for (i, (t, &ty)) in tensors.iter().zip(&types).enumerate() {
        if let Some(at) = validate::first_non_finite(t.ty, t.data) {
            return Err(format!("{shown_in}: tensor {} has invalid data (NaN or infinity at {at})", t.name));
        }
        let converted;
        let data: &[u8] = if ty == t.ty {
            t.data
        } else {
            converted = convert(t, ty)?;
            if let Some(at) = validate::first_non_finite(ty, &converted) {
                return Err(format!("tensor {}: {} data out of range at block {at} (quantized data validation failed)", t.name, ty.name()));
            }
            &converted
        };
        out.write_all(data).map_err(write_err)?;
        let pad = writer::padding(data.len() as u64, alignment);
        out.write_all(&vec![0u8; pad as usize]).map_err(write_err)?;
        bytes_out += data.len() as u64 + pad;
        if opts.progress {
            eprintln!(
                "[{:>4}/{:>4}] {:<36} {:>5} -> {:<5} {:>9.3} MiB -> {:>9.3} MiB",
                i + 1,
                tensors.len(),
                t.name,
                t.ty.name(),
                ty.name(),
                t.data.len() as f64 / 1048576.0,
                data.len() as f64 / 1048576.0
            );
        }
    }
    let file_out = out.into_inner().map_err(|e| write_err(e.into_error()))?;
    file_out.sync_all().map_err(write_err)?;
    drop(file_out);
    temp.rename_to(output)?;
    Ok(Summary { bytes_in: in_meta.len(), bytes_out })
}

/// Refuses an OUT that is the input (under any path), a directory, or an existing file
/// that cannot be written.
fn check_output(in_meta: &fs::Metadata, output: &Path) -> Result<(), String> {
    let shown = output.display();
    let Ok(meta) = fs::metadata(output) else {
        return Ok(());
    };
    if meta.dev() == in_meta.dev() && meta.ino() == in_meta.ino() {
        return Err(format!("{shown} is the input file: refusing to overwrite the input"));
    }
    if meta.is_dir() {
        return Err(format!("{shown} is a directory"));
    }
    fs::OpenOptions::new().write(true).open(output).map_err(|e| format!("cannot write {shown}: {e}"))?;
    Ok(())
}

/// The output under construction: removed on drop unless renamed into place.
struct TempFile {
    path: PathBuf,
    file: Option<fs::File>,
    renamed: bool,
}

impl TempFile {
    /// A new file in OUT's directory (so the final rename stays on one filesystem).
    fn create_beside(output: &Path) -> Result<TempFile, String> {
        let shown = output.display();
        let name = output.file_name().ok_or_else(|| format!("{shown} is not a file name"))?;
        let dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".armlet-quantize-{}.tmp", std::process::id()));
        let path = dir.join(temp_name);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("cannot create {shown}: {e}"))?;
        Ok(TempFile { path, file: Some(file), renamed: false })
    }

    fn file(&mut self) -> Result<fs::File, String> {
        self.file.take().ok_or_else(|| "internal error: temporary file taken twice".to_string())
    }

    fn rename_to(&mut self, output: &Path) -> Result<(), String> {
        fs::rename(&self.path, output).map_err(|e| format!("cannot create {}: {e}", output.display()))?;
        self.renamed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.renamed {
            self.file = None;
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The facts the type rules need, read as llama.cpp's hparams loader reads them.
fn model_info(file: &gguf::File) -> Result<ModelInfo, String> {
    let arch = file.get_str("general.architecture").ok_or("no general.architecture string")?.to_string();
    let key = |k: &str| format!("{arch}.{k}");
    // A per-layer array counts by its first layer, as llama.cpp's n_head() / n_head_kv().
    let first_u32 = |v: Value| match v {
        Value::Array(a) => a.get_fixed(0).and_then(|e| e.as_u32()),
        other => other.as_u32(),
    };
    let n_layer = file
        .get(&key("block_count"))
        .and_then(first_u32)
        .ok_or_else(|| format!("no {} (layer count)", key("block_count")))?;
    let n_head = file.get(&key("attention.head_count")).and_then(first_u32).unwrap_or(0);
    let n_head_kv = file.get(&key("attention.head_count_kv")).and_then(first_u32).unwrap_or(n_head);
    let n_expert = file.get(&key("expert_count")).and_then(first_u32).unwrap_or(0);
    Ok(ModelInfo { arch, n_layer, n_head, n_head_kv, n_expert })
}

/// The input's metadata with `general.quantization_version` and `general.file_type` moved
/// to the end (llama.cpp removes and re-appends them) and the split keys dropped.
fn output_metadata<'a>(file: &gguf::File<'a>, ftype: FileType) -> Vec<(&'a str, MetaValue<'a>)> {
    const SET_AT_END: [&str; 2] = ["general.quantization_version", "general.file_type"];
    const SPLIT_KEYS: [&str; 3] = ["split.no", "split.count", "split.tensors.count"];
    let mut kv: Vec<(&str, MetaValue)> = file
        .metadata()
        .filter(|(k, _)| !SET_AT_END.contains(k) && !SPLIT_KEYS.contains(k))
        .map(|(k, v)| (k, MetaValue::Copied(v)))
        .collect();
    kv.push((SET_AT_END[0], MetaValue::U32(QUANTIZATION_VERSION)));
    kv.push((SET_AT_END[1], MetaValue::U32(ftype.id())));
    kv
}

/// Whether tensor `t` may become `target`: re-encoding a block-quantized tensor needs
/// `--allow-requantize`, and the source must be a type armlet can decode.
fn check_conversion(t: &Tensor, target: GgmlType, allow_requantize: bool) -> Result<(), String> {
    if t.ty == target {
        return Ok(());
    }
    if is_quantized(t.ty) && !allow_requantize {
        return Err(format!(
            "tensor {} is already quantized ({}); requantizing to {} needs --allow-requantize",
            t.name,
            t.ty.name(),
            target.name()
        ));
    }
    if !t.ty.is_supported() {
        return Err(format!("tensor {}: cannot convert type {} to {}", t.name, t.ty.name(), target.name()));
    }
    Ok(())
}

fn tensor_bytes(ty: GgmlType, ne: &[u64; 4]) -> Option<u64> {
    ty.row_bytes(ne[0])?.checked_mul(ne[1])?.checked_mul(ne[2])?.checked_mul(ne[3])
}

/// Encodes whole rows of f32 as `ty` (the caller guarantees row lengths fit its blocks).
fn encode_rows(ty: GgmlType, x: &[f32], out: &mut [u8]) {
    use GgmlType::*;
    match ty {
        F32 => {
            for (o, v) in out.chunks_exact_mut(4).zip(x) {
                o.copy_from_slice(&v.to_le_bytes());
            }
        }
        F16 => legacy::quantize_f16(x, out),
        BF16 => legacy::quantize_bf16(x, out),
        Q4_0 => legacy::quantize_q4_0(x, out),
        Q4_1 => legacy::quantize_q4_1(x, out),
        Q5_0 => legacy::quantize_q5_0(x, out),
        Q5_1 => legacy::quantize_q5_1(x, out),
        Q8_0 => legacy::quantize_q8_0(x, out),
        Q2_K => kquants::quantize_q2_k(x, out),
        Q3_K => kquants::quantize_q3_k(x, out),
        Q4_K => kquants::quantize_q4_k(x, out),
        Q5_K => kquants::quantize_q5_k(x, out),
        Q6_K => kquants::quantize_q6_k(x, out),
        // The policy only ever picks the types above.
        other => unreachable!("no encoder for {}", other.name()),
    }
}

/// Tensor `t` re-encoded as `ty`, row by row (rows are independent in every format, so the
/// rows are shared out between threads without changing a byte).
fn convert(t: &Tensor, ty: GgmlType) -> Result<Vec<u8>, String> {
    let too_large = || format!("tensor {} is too large", t.name);
    let n_per_row = usize::try_from(t.ne[0]).map_err(|_| too_large())?;
    let src_row = t.ty.row_bytes(t.ne[0]).and_then(|b| usize::try_from(b).ok()).ok_or_else(too_large)?;
    let dst_row = ty.row_bytes(t.ne[0]).and_then(|b| usize::try_from(b).ok()).ok_or_else(too_large)?;
    let n_rows = t.data.len() / src_row.max(1);
    let mut out = Vec::new();
    out.try_reserve_exact(n_rows * dst_row).map_err(|_| format!("not enough memory for tensor {}", t.name))?;
    out.resize(n_rows * dst_row, 0u8);

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = threads.min((n_rows * n_per_row / MIN_ELEMENTS_PER_THREAD).max(1));
    let rows_per_thread = n_rows.div_ceil(threads).max(1);
    let work = |src: &[u8], dst: &mut [u8]| -> Result<(), String> {
        let mut row = vec![0f32; n_per_row];
        for (s, d) in src.chunks_exact(src_row).zip(dst.chunks_exact_mut(dst_row)) {
            dequantize_row(t.ty, s, &mut row).map_err(|e| format!("tensor {}: {e}", t.name))?;
            encode_rows(ty, &row, d);
        }
        Ok(())
    };
    std::thread::scope(|scope| {
        let jobs: Vec<_> = t
            .data
            .chunks(rows_per_thread * src_row)
            .zip(out.chunks_mut(rows_per_thread * dst_row))
            .map(|(src, dst)| scope.spawn(move || work(src, dst)))
            .collect();
        jobs.into_iter().try_for_each(|j| j.join().map_err(|_| format!("tensor {}: encoder thread failed", t.name))?)
    })?;
    Ok(out)
}
