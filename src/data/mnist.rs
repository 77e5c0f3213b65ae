//! MNIST in the IDX format, read from gzipped (`NAME.gz`) or raw (`NAME`) files.
//!
//! We read IDX ourselves rather than through the `mnist` crate: that crate reads only raw
//! (uncompressed) files, panics on every error and hard-codes the 60,000/10,000 counts and the
//! 28×28 size. Here every failure (missing file, bad magic, wrong data type, truncated data,
//! corrupt gzip, image/label count mismatch) is an [`Error`] naming the file and what is wrong,
//! and any count and image size the headers declare is accepted.
//!
//! IDX layout: two zero bytes, a data-type byte (0x08 = unsigned byte), a byte giving the number
//! of dimensions, one big-endian `u32` per dimension, then the data in row-major order.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The training images (60,000 × 28 × 28 in the original).
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// The training labels.
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// The test images (10,000 × 28 × 28 in the original).
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// The test labels.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// IDX data-type byte for unsigned bytes, the only type MNIST uses.
const IDX_U8: u8 = 0x08;

/// Images and labels of (part of) MNIST.
#[derive(Clone, Debug, PartialEq)]
pub struct Mnist {
    /// `len() * rows * cols` pixels, image after image, row-major, scaled to [0, 1].
    pub images: Vec<f32>,
    /// One digit 0..=9 per image.
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

/// Which part of MNIST to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
    /// Training images followed by test images.
    All,
}

impl Mnist {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image (`rows * cols`).
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i`. Panics if `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[f32] {
        let p = self.pixels();
        &self.images[i * p..(i + 1) * p]
    }

    /// The first `min(n, len())` images and labels.
    pub fn subset(&self, n: usize) -> Mnist {
        let n = n.min(self.len());
        Mnist {
            images: self.images[..n * self.pixels()].to_vec(),
            labels: self.labels[..n].to_vec(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// `a`'s images followed by `b`'s. Both must have the same image size.
    pub fn concat(a: &Mnist, b: &Mnist) -> Result<Mnist> {
        if (a.rows, a.cols) != (b.rows, b.cols) {
            return Err(Error::shape(
                "Mnist::concat",
                format!(
                    "images of {}x{} and {}x{} pixels cannot be joined",
                    a.rows, a.cols, b.rows, b.cols
                ),
            ));
        }
        let mut images = Vec::with_capacity(a.images.len() + b.images.len());
        images.extend_from_slice(&a.images);
        images.extend_from_slice(&b.images);
        let mut labels = Vec::with_capacity(a.len() + b.len());
        labels.extend_from_slice(&a.labels);
        labels.extend_from_slice(&b.labels);
        Ok(Mnist {
            images,
            labels,
            rows: a.rows,
            cols: a.cols,
        })
    }

    /// Reads one images file and its labels file (each raw or gzipped) and checks they agree.
    pub fn from_files(images_path: &Path, labels_path: &Path) -> Result<Mnist> {
        let (idims, pixels) = read_idx(images_path)?;
        let [n, rows, cols] = idims[..] else {
            return Err(Error::bad_data(
                images_path,
                format!("expected 3 dimensions (count, rows, cols) for images, got {idims:?}"),
            ));
        };
        let (ldims, labels) = read_idx(labels_path)?;
        let [nl] = ldims[..] else {
            return Err(Error::bad_data(
                labels_path,
                format!("expected 1 dimension (count) for labels, got {ldims:?}"),
            ));
        };
        if n != nl {
            return Err(Error::bad_data(
                images_path,
                format!(
                    "holds {n} images but {} holds {nl} labels",
                    labels_path.display()
                ),
            ));
        }
        if let Some(i) = labels.iter().position(|&l| l > 9) {
            return Err(Error::bad_data(
                labels_path,
                format!("label {} at index {i} is not a digit 0..=9", labels[i]),
            ));
        }
        Ok(Mnist {
            images: pixels.iter().map(|&p| f32::from(p) / 255.0).collect(),
            labels,
            rows,
            cols,
        })
    }
}

/// Loads a split from `dir`, which holds the four files as `NAME.gz` or raw `NAME`.
pub fn load(dir: &Path, split: Split) -> Result<Mnist> {
    if !dir.is_dir() {
        let what = if dir.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return Err(Error::io(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the MNIST directory {what}; `latentviz data mnist` downloads MNIST"),
            ),
        ));
    }
    let pair = |images: &str, labels: &str| -> Result<Mnist> {
        Mnist::from_files(&find_file(dir, images)?, &find_file(dir, labels)?)
    };
    match split {
        Split::Train => pair(TRAIN_IMAGES, TRAIN_LABELS),
        Split::Test => pair(TEST_IMAGES, TEST_LABELS),
        Split::All => Mnist::concat(
            &pair(TRAIN_IMAGES, TRAIN_LABELS)?,
            &pair(TEST_IMAGES, TEST_LABELS)?,
        ),
    }
}

/// `dir/NAME.gz` if it exists, else `dir/NAME`; an error listing both names otherwise.
fn find_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let gz = dir.join(format!("{name}.gz"));
    let raw = dir.join(name);
    for candidate in [&gz, &raw] {
        if candidate.is_file() {
            return Ok(candidate.clone());
        }
    }
    Err(Error::io(
        dir,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "MNIST file missing: tried {name}.gz and {name}; \
                 `latentviz data mnist` downloads them"
            ),
        ),
    ))
}

/// Reads an unsigned-byte IDX file, gzipped or raw (told apart by the gzip magic bytes), and
/// returns its dimensions and data. The data length must match the dimensions exactly.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = if is_gzip(&raw) {
        gunzip_idx(&raw, u64::MAX).map_err(|e| {
            Error::bad_data(
                path,
                format!("corrupt gzip data ({e}); delete the file and download it again"),
            )
        })?
    } else {
        raw
    };
    parse_idx(path, bytes)
}

/// True when `bytes` start with the gzip magic number.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Decompresses a gzipped IDX file, reading no further than its header declares (one byte more,
/// so trailing data is still noticed) and never past `max_len` bytes: a gzip bomb stops there
/// instead of filling memory. Fails on a damaged or cut-off stream (checksums included) and on
/// data that go on past the bound. A header too damaged to bound anything comes back as read,
/// for [`parse_idx`] to name the problem.
pub(crate) fn gunzip_idx(gz: &[u8], max_len: u64) -> std::io::Result<Vec<u8>> {
    let mut dec = flate2::read::MultiGzDecoder::new(gz);
    let mut out = Vec::new();
    (&mut dec).take(4).read_to_end(&mut out)?;
    if out.len() < 4 || out[..2] != [0, 0] {
        return Ok(out);
    }
    let header_len = 4 + 4 * u64::from(out[3]);
    (&mut dec).take(header_len - 4).read_to_end(&mut out)?;
    if (out.len() as u64) < header_len {
        return Ok(out);
    }
    let need = out[4..]
        .chunks_exact(4)
        .try_fold(1u64, |acc, c| {
            acc.checked_mul(u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        })
        .unwrap_or(u64::MAX);
    let bound = header_len.saturating_add(need).min(max_len);
    let left = bound.saturating_add(1).saturating_sub(out.len() as u64);
    (&mut dec).take(left).read_to_end(&mut out)?;
    if out.len() as u64 > bound {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the decompressed data go on past the {bound} bytes the IDX header allows"),
        ));
    }
    Ok(out)
}

/// Parses IDX bytes; `path` is only used in error messages.
fn parse_idx(path: &Path, mut bytes: Vec<u8>) -> Result<(Vec<usize>, Vec<u8>)> {
    let bad = |reason: String| Error::bad_data(path, reason);
    if bytes.len() < 4 {
        return Err(bad(format!(
            "too short for an IDX header ({} bytes, need at least 4)",
            bytes.len()
        )));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad(format!(
            "bad magic number {:02x} {:02x} {:02x} {:02x}: not an IDX file \
             (IDX files start with 00 00, then the data type, then the number of dimensions)",
            bytes[0], bytes[1], bytes[2], bytes[3]
        )));
    }
    let (dtype, ndims) = (bytes[2], usize::from(bytes[3]));
    if dtype != IDX_U8 {
        let name = match dtype {
            0x09 => "signed byte",
            0x0B => "16-bit integer",
            0x0C => "32-bit integer",
            0x0D => "32-bit float",
            0x0E => "64-bit float",
            _ => "unknown",
        };
        return Err(bad(format!(
            "IDX data type 0x{dtype:02x} ({name}) is not supported; MNIST uses unsigned bytes (0x08)"
        )));
    }
    if ndims == 0 {
        return Err(bad("IDX header declares 0 dimensions".into()));
    }
    let header_len = 4 + 4 * ndims;
    if bytes.len() < header_len {
        return Err(bad(format!(
            "truncated IDX header: {ndims} dimensions need {header_len} header bytes, \
             the file holds {}",
            bytes.len()
        )));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let need = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
    let have = bytes.len() - header_len;
    if have < need {
        return Err(bad(format!(
            "truncated data: dimensions {dims:?} need {need} data bytes, the file holds {have}"
        )));
    }
    if have > need {
        return Err(bad(format!(
            "{} unexpected bytes after the data: dimensions {dims:?} need {need} data bytes, \
             the file holds {have}",
            have - need
        )));
    }
    bytes.drain(..header_len);
    Ok((dims, bytes))
}
