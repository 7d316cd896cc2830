//! `armlet info MODEL.gguf`: what a model file holds.

use crate::model_file::ModelBytes;
use armlet_core::gguf;

pub fn run(args: &[String]) -> Result<(), String> {
    let path = args.first().ok_or("info: missing MODEL.gguf")?;
    let model = ModelBytes::read(path.as_ref())?;
    let file = gguf::File::parse(model.bytes()).map_err(|e| format!("{path}: {e}"))?;
    println!("{path}: GGUF v{}, {} metadata entries, {} tensors", file.version(), file.metadata_count(), file.tensor_count());
    for t in file.tensors() {
        println!("{:<32} {:<6} {:?} {}", t.name, t.ty.name(), t.shape(), t.data.len());
    }
    Ok(())
}
