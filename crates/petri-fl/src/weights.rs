//! Model weights as safetensors files: one tensor `weights`, float64 (float32 accepted on read),
//! so a user's Python training command reads them with `safetensors.numpy.load_file`.

use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::FlError;

/// The tensor's name.
pub const TENSOR: &str = "weights";

fn err(path: &Path, e: impl std::fmt::Display) -> FlError {
    FlError::Data(format!("{}: {e}", path.display()))
}

/// Writes `weights` to `path`.
pub fn save(path: &Path, weights: &[f64]) -> Result<(), FlError> {
    let bytes: Vec<u8> = weights.iter().flat_map(|w| w.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F64, vec![weights.len()], &bytes).map_err(|e| err(path, e))?;
    let data = safetensors::serialize([(TENSOR, view)], None).map_err(|e| err(path, e))?;
    std::fs::write(path, data).map_err(|e| err(path, e))
}

/// Reads the weights at `path`.
pub fn load(path: &Path) -> Result<Vec<f64>, FlError> {
    let data = std::fs::read(path).map_err(|e| err(path, e))?;
    let tensors = SafeTensors::deserialize(&data).map_err(|e| err(path, e))?;
    let t = tensors
        .tensor(TENSOR)
        .map_err(|_| err(path, format!("no tensor named {TENSOR:?}")))?;
    let values: Vec<f64> = match t.dtype() {
        Dtype::F64 => t
            .data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        Dtype::F32 => t
            .data()
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        other => return Err(err(path, format!("weights of type {other:?}; use float64 or float32"))),
    };
    if values.iter().any(|v| !v.is_finite()) {
        return Err(err(path, "the weights hold NaN or infinite values"));
    }
    Ok(values)
}
