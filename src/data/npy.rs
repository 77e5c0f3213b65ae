//! 2-D `.npy` arrays for exchanging embeddings and labels with NumPy.
//!
//! Reading accepts float32 or float64 (either byte order), in C or Fortran order, and returns
//! row-major `f32`. Writing produces little-endian float32 matrices and 1-D label vectors
//! (uint8 or int64), each written atomically. Label vectors of any integer dtype are read back
//! with [`read_labels`].

use std::path::Path;

use npyz::{DType, Order, TypeChar, WriterBuilder};

use crate::io::write_atomic;
use crate::{Error, Result};

/// Reads a 2-D float32/float64 `.npy` file as `(rows, cols, row-major f32 data)`.
pub fn read_f32_2d(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |reason: String| Error::bad_data(path, reason);
    // Parse the header first, so the data length is known exactly.
    let mut cursor = std::io::Cursor::new(&bytes[..]);
    let header = npyz::NpyHeader::from_reader(&mut cursor)
        .map_err(|e| bad(format!("not a valid .npy file: {e}")))?;
    let body = &bytes[cursor.position() as usize..];
    let have = body.len();
    let npy = npyz::NpyFile::with_header(header, body);

    let shape = npy.shape().to_vec();
    let [rows, cols] = shape[..] else {
        return Err(bad(format!("expected a 2-D array, got shape {shape:?}")));
    };
    let (rows, cols) = (to_usize(path, rows)?, to_usize(path, cols)?);
    let order = npy.order();

    let dtype = npy.dtype();
    let float_bytes = match &dtype {
        DType::Plain(ts) if ts.type_char() == TypeChar::Float => ts.num_bytes(),
        _ => None,
    };
    let truncated = |e: std::io::Error| {
        bad(format!(
            "truncated or corrupt data for shape {shape:?} ({}): {e}",
            dtype_name(&dtype)
        ))
    };
    // Check the length before reading: a corrupt header could otherwise ask for a huge vector.
    if let Some(size) = float_bytes {
        let need = rows.checked_mul(cols).and_then(|n| n.checked_mul(size));
        if need.is_none_or(|need| need > have) {
            return Err(bad(format!(
                "truncated data: shape {shape:?} ({}) needs {} data bytes, the file holds {have}",
                dtype_name(&dtype),
                need.map_or("too many".to_string(), |n| n.to_string()),
            )));
        }
    }
    let stored = float_bytes
        .and_then(|width| floats_as_f32(npy, width))
        .ok_or_else(|| {
            bad(format!(
                "unsupported dtype {}: expected float32 or float64",
                dtype_name(&dtype)
            ))
        })?
        .map_err(truncated)?;

    let data = match order {
        Order::C => stored,
        // Fortran order stores column after column: element (r, c) sits at c * rows + r.
        Order::Fortran => {
            let mut data = vec![0.0; stored.len()];
            for c in 0..cols {
                for r in 0..rows {
                    data[r * cols + c] = stored[c * rows + r];
                }
            }
            data
        }
    };
    Ok((rows, cols, data))
}

/// Largest label [`read_labels`] accepts (exclusive): class ids index per-class tables.
pub const MAX_LABEL: u32 = 1 << 20;

/// Reads a 1-D integer `.npy` file (int8..int64 or uint8..uint64, either byte order) of class
/// labels in `0..MAX_LABEL`.
pub fn read_labels(path: &Path) -> Result<Vec<u32>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |reason: String| Error::bad_data(path, reason);
    let mut cursor = std::io::Cursor::new(&bytes[..]);
    let header = npyz::NpyHeader::from_reader(&mut cursor)
        .map_err(|e| bad(format!("not a valid .npy file: {e}")))?;
    let body = &bytes[cursor.position() as usize..];
    let have = body.len();
    let npy = npyz::NpyFile::with_header(header, body);

    let shape = npy.shape().to_vec();
    let [n] = shape[..] else {
        return Err(bad(format!("labels must be 1-D, got shape {shape:?}")));
    };
    let n = to_usize(path, n)?;
    let dtype = npy.dtype();
    let (char, size) = match &dtype {
        DType::Plain(ts) if matches!(ts.type_char(), TypeChar::Int | TypeChar::Uint) => {
            (ts.type_char(), ts.num_bytes().unwrap_or(0))
        }
        _ => (TypeChar::Float, 0),
    };
    if size == 0 {
        return Err(bad(format!(
            "unsupported label dtype {}: expected an integer type",
            dtype_name(&dtype)
        )));
    }
    let need = n.checked_mul(size);
    if need.is_none_or(|need| need > have) {
        return Err(bad(format!(
            "truncated label data: shape {shape:?} ({}) needs {} data bytes, the file holds {have}",
            dtype_name(&dtype),
            need.map_or("too many".to_string(), |n| n.to_string()),
        )));
    }
    let truncated = |e: std::io::Error| bad(format!("corrupt label data: {e}"));
    // Widened to i128 so every integer dtype, u64 included, is range-checked the same way.
    let wide: Vec<i128> = match (char, size) {
        (TypeChar::Int, 1) => widen(npy.into_vec::<i8>().map_err(truncated)?),
        (TypeChar::Int, 2) => widen(npy.into_vec::<i16>().map_err(truncated)?),
        (TypeChar::Int, 4) => widen(npy.into_vec::<i32>().map_err(truncated)?),
        (TypeChar::Int, 8) => widen(npy.into_vec::<i64>().map_err(truncated)?),
        (TypeChar::Uint, 1) => widen(npy.into_vec::<u8>().map_err(truncated)?),
        (TypeChar::Uint, 2) => widen(npy.into_vec::<u16>().map_err(truncated)?),
        (TypeChar::Uint, 4) => widen(npy.into_vec::<u32>().map_err(truncated)?),
        (TypeChar::Uint, 8) => widen(npy.into_vec::<u64>().map_err(truncated)?),
        _ => {
            return Err(bad(format!(
                "unsupported label dtype {}: expected an integer type",
                dtype_name(&dtype)
            )));
        }
    };
    if let Some(i) = wide
        .iter()
        .position(|&l| !(0..i128::from(MAX_LABEL)).contains(&l))
    {
        return Err(bad(format!(
            "label {} at index {i} is out of range (labels must be in 0..{MAX_LABEL})",
            wide[i]
        )));
    }
    Ok(wide.into_iter().map(|l| l as u32).collect())
}

fn widen<T: Into<i128>>(v: Vec<T>) -> Vec<i128> {
    v.into_iter().map(Into::into).collect()
}

/// Reads images from an N×H×W or N×C×H×W `.npy` of uint8 (0-255) or float32/float64 (in
/// [0, 1]) in C order: `(shape [n, c, h, w], values in [0, 1])`.
pub fn read_images(path: &Path) -> Result<([usize; 4], Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |reason: String| Error::bad_data(path, reason);
    let npy =
        npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(format!("not a valid .npy file: {e}")))?;
    let raw = npy.shape().to_vec();
    let dims: Vec<usize> = raw
        .iter()
        .map(|&v| to_usize(path, v))
        .collect::<Result<_>>()?;
    let shape = match dims[..] {
        [n, h, w] => [n, 1, h, w],
        [n, c, h, w] => [n, c, h, w],
        _ => {
            return Err(bad(format!(
                "images must be N×H×W or N×C×H×W, got shape {raw:?}"
            )));
        }
    };
    if npy.order() != Order::C {
        return Err(bad("images must be stored in C order".into()));
    }
    let dtype = npy.dtype();
    let (char, size) = match &dtype {
        DType::Plain(ts) => (Some(ts.type_char()), ts.num_bytes().unwrap_or(0)),
        _ => (None, 0),
    };
    let need = shape.iter().try_fold(size, |a, &b| a.checked_mul(b));
    if size == 0 || need.is_none_or(|need| need > bytes.len()) {
        return Err(bad(format!(
            "shape {raw:?} ({}) does not fit in the file's {} bytes",
            dtype_name(&dtype),
            bytes.len()
        )));
    }
    let truncated = |e: std::io::Error| bad(format!("corrupt image data: {e}"));
    let values = match (char, size) {
        (Some(TypeChar::Uint), 1) => Some(
            npy.into_vec::<u8>()
                .map(|v| v.into_iter().map(|b| f32::from(b) / 255.0).collect()),
        ),
        (Some(TypeChar::Float), width) => floats_as_f32(npy, width),
        _ => None,
    }
    .ok_or_else(|| {
        bad(format!(
            "unsupported image dtype {}: expected uint8, float32 or float64",
            dtype_name(&dtype)
        ))
    })?
    .map_err(truncated)?;
    if let Some(i) = values.iter().position(|v| !(0.0..=1.0).contains(v)) {
        return Err(bad(format!(
            "value {} at flat index {i} is outside [0, 1] (float images must be scaled to [0, 1])",
            values[i]
        )));
    }
    Ok((shape, values))
}

/// The values of a float32 (`width` 4) or float64 (8) array as f32; None for another width.
/// Narrowing float64 is the point: every consumer of these arrays computes in f32.
fn floats_as_f32(npy: npyz::NpyFile<&[u8]>, width: usize) -> Option<std::io::Result<Vec<f32>>> {
    match width {
        4 => Some(npy.into_vec::<f32>()),
        8 => Some(
            npy.into_vec::<f64>()
                .map(|v| v.into_iter().map(|x| x as f32).collect()),
        ),
        _ => None,
    }
}

/// Writes a `rows × cols` row-major f32 matrix as a float32 `.npy`, atomically.
pub fn write_f32_2d(path: &Path, rows: usize, cols: usize, data: &[f32]) -> Result<()> {
    if rows.checked_mul(cols) != Some(data.len()) {
        return Err(Error::shape(
            "npy::write_f32_2d",
            format!(
                "{rows}x{cols} needs {} values, got {}",
                rows * cols,
                data.len()
            ),
        ));
    }
    write_npy(path, &[rows as u64, cols as u64], data)
}

/// Writes labels as a 1-D uint8 `.npy`, atomically.
pub fn write_labels_u8(path: &Path, labels: &[u8]) -> Result<()> {
    write_npy(path, &[labels.len() as u64], labels)
}

/// Writes labels as a 1-D int64 `.npy` (NumPy's default integer), atomically.
pub fn write_labels_i64(path: &Path, labels: &[i64]) -> Result<()> {
    write_npy(path, &[labels.len() as u64], labels)
}

/// Writes `data` in C order with the given shape and `T`'s default (little-endian) dtype.
fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, shape: &[u64], data: &[T]) -> Result<()> {
    write_atomic(path, |w| {
        let io = |e| Error::io(path, e);
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(w)
            .begin_nd()
            .map_err(io)?;
        writer.extend(data.iter().copied()).map_err(io)?;
        writer.finish().map_err(io)
    })
}

fn to_usize(path: &Path, v: u64) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::bad_data(path, format!("dimension {v} is too large")))
}

/// `<f4`, `|u1`... for plain dtypes; NumPy's dtype description for structured ones.
fn dtype_name(dtype: &DType) -> String {
    match dtype {
        DType::Plain(ts) => ts.to_string(),
        other => format!("structured {}", other.descr()),
    }
}
