//! Model checkpoints: named f32 tensors plus string metadata, in the safetensors format.
//!
//! Files are written atomically, so an interrupted save never leaves a half checkpoint behind.
//! Loading returns the tensors sorted by name (safetensors itself keeps no order).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::io::write_bytes_atomic;
use crate::{Error, Result};

/// One named tensor: name, shape, row-major data.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Saves `tensors` and `metadata` to `path` as safetensors, atomically. Each tensor's data must
/// hold exactly the product of its shape; names must be distinct.
pub fn save(path: &Path, tensors: &[NamedTensor], metadata: &[(String, String)]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (name, shape, data) in tensors {
        if !seen.insert(name.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "checkpoint {}: tensor name '{name}' appears twice",
                path.display()
            )));
        }
        let numel = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if numel != Some(data.len()) {
            return Err(Error::shape(
                "checkpoint::save",
                format!(
                    "tensor '{name}' has shape {shape:?} but {} values",
                    data.len()
                ),
            ));
        }
    }

    // safetensors stores f32 little-endian.
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, data)| data.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, shape, _), data) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, shape.clone(), data)
            .map_err(|e| Error::shape("checkpoint::save", format!("tensor '{name}': {e}")))?;
        views.push((name.as_str(), view));
    }
    let info: Option<HashMap<String, String>> =
        (!metadata.is_empty()).then(|| metadata.iter().cloned().collect());
    let mut file = safetensors::serialize(views, info)
        .map_err(|e| Error::InvalidArgument(format!("checkpoint {}: {e}", path.display())))?;
    sort_header(&mut file)?;
    write_bytes_atomic(path, &file)
}

/// Rewrites a serialized safetensors header with its JSON keys sorted, so that the same tensors
/// and metadata give the same bytes every run (safetensors writes the metadata from a `HashMap`,
/// in an order that changes from process to process). The sorted header is as long as the
/// original (the same compact JSON, reordered), so the data offsets stay valid.
fn sort_header(file: &mut [u8]) -> Result<()> {
    let bad = |why: &str| Error::InvalidArgument(format!("checkpoint header: {why}"));
    let len = u64::from_le_bytes(file[..8].try_into().expect("8 bytes")) as usize;
    let header = file
        .get(8..8 + len)
        .ok_or_else(|| bad("shorter than stated"))?;
    let text = std::str::from_utf8(header).map_err(|_| bad("not UTF-8"))?;
    // Tensor entries by name, and the metadata by key (each tensor's own fields come in a fixed
    // order already).
    let mut entries: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(text.trim_end()).map_err(|e| bad(&e.to_string()))?;
    if let Some(meta) = entries.get_mut("__metadata__") {
        let sorted: BTreeMap<String, String> =
            serde_json::from_value(meta.take()).map_err(|e| bad(&e.to_string()))?;
        *meta = serde_json::to_value(sorted).map_err(|e| bad(&e.to_string()))?;
    }
    let sorted = serde_json::to_string(&entries).map_err(|e| bad(&e.to_string()))?;
    if sorted.len() > len {
        return Err(bad("sorted header longer than the original"));
    }
    file[8..8 + sorted.len()].copy_from_slice(sorted.as_bytes());
    file[8 + sorted.len()..8 + len].fill(b' ');
    Ok(())
}

/// Loads every tensor of a safetensors file written by [`save`], sorted by name.
pub fn load(path: &Path) -> Result<Vec<NamedTensor>> {
    load_with_metadata(path).map(|c| c.tensors)
}

/// The metadata of a checkpoint, sorted by key.
pub fn metadata(path: &Path) -> Result<Vec<(String, String)>> {
    load_with_metadata(path).map(|c| c.metadata)
}

/// A whole checkpoint file.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Sorted by name.
    pub tensors: Vec<NamedTensor>,
    /// Sorted by key.
    pub metadata: Vec<(String, String)>,
}

/// Tensors and metadata of a checkpoint, from one read.
pub fn load_with_metadata(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| {
        Error::bad_data(
            path,
            format!(
                "not a valid safetensors checkpoint (truncated or corrupt, {} bytes): {e}",
                bytes.len()
            ),
        )
    })?;

    let mut tensors = Vec::with_capacity(file.len());
    for (name, view) in file.iter() {
        if view.dtype() != Dtype::F32 {
            return Err(Error::bad_data(
                path,
                format!(
                    "tensor '{name}' has dtype {:?}; checkpoints hold F32 only",
                    view.dtype()
                ),
            ));
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.push((name.to_string(), view.shape().to_vec(), data));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));

    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::bad_data(path, format!("bad safetensors header: {e}")))?;
    let mut metadata: Vec<(String, String)> = header
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    metadata.sort();
    Ok(Checkpoint { tensors, metadata })
}
