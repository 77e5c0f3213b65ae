//! `latentviz tsne`: load the input (.npy or MNIST), validate it, run `fit` with a progress bar,
//! and write Y.npy (atomically), metrics JSON lines and snapshots.
//!
//! The loaders here are minimal private ones (2-D float32/float64 .npy in C order; gzipped or plain
//! IDX for MNIST); the shared `data` module replaces them when merged.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Embedding, Init, Method, Progress, TsneConfig, fit_with, metrics};
use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// Which MNIST images to embed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Split {
    Train,
    #[default]
    Test,
    /// Train then test (70,000 images).
    All,
}

/// Everything `latentviz tsne` takes.
#[derive(Clone, Debug)]
pub struct TsneJob {
    /// A 2-D float32/float64 .npy file (N × D).
    pub input: Option<PathBuf>,
    /// A folder holding the four MNIST IDX files (optionally .gz).
    pub mnist: Option<PathBuf>,
    pub split: Split,
    /// Use only the first `subset` rows.
    pub subset: Option<usize>,
    /// Labels for `input` (1-D integer .npy), for knn_accuracy.
    pub labels: Option<PathBuf>,
    pub out: PathBuf,
    pub perplexity: f32,
    pub iterations: usize,
    pub seed: u64,
    pub dims: usize,
    pub method: Method,
    /// Folder for Y at every 50 iterations (y_00050.npy, ...).
    pub snapshots: Option<PathBuf>,
    /// JSON-lines file: {iteration, kl, seconds} every 50 iterations, then a summary line.
    pub metrics: Option<PathBuf>,
    /// PCA first: None = 50 components when D > 100, Some(0) = off, Some(k) = k components.
    pub pca: Option<usize>,
    pub progress: bool,
}

impl TsneJob {
    /// Defaults as the CLI's: perplexity 30, 1000 iterations, seed 0, 2-D, auto method.
    pub fn new(out: impl Into<PathBuf>) -> TsneJob {
        TsneJob {
            input: None,
            mnist: None,
            split: Split::Test,
            subset: None,
            labels: None,
            out: out.into(),
            perplexity: 30.0,
            iterations: 1000,
            seed: 0,
            dims: 2,
            method: Method::Auto,
            snapshots: None,
            metrics: None,
            pca: None,
            progress: false,
        }
    }
}

/// What a job did.
#[derive(Clone, Debug)]
pub struct TsneReport {
    pub n: usize,
    pub d: usize,
    pub kl: f32,
    pub knn_accuracy: Option<f32>,
    pub pca_dims: Option<usize>,
    pub learning_rate: f32,
    pub method: Method,
    pub load_s: f64,
    pub pca_s: f64,
    pub knn_s: f64,
    /// Distances, perplexity calibration, symmetrization.
    pub affinity_s: f64,
    /// Initial positions (PCA of the t-SNE input for the default init).
    pub init_s: f64,
    pub optimize_s: f64,
    /// The 10-NN accuracy evaluation.
    pub metric_s: f64,
    pub total_s: f64,
    pub out: PathBuf,
}

/// PCA components used for D features under the job's rule.
pub fn pca_dims(pca: Option<usize>, d: usize) -> Option<usize> {
    match pca {
        None if d > 100 => Some(50),
        None | Some(0) => None,
        Some(k) => Some(k),
    }
}

/// Load, validate, fit, write.
pub fn run(gpu: &Gpu, job: &TsneJob) -> Result<TsneReport> {
    let start = Instant::now();
    let (x, n, d, labels) = load(job)?;
    let load_s = start.elapsed().as_secs_f64();
    let config = TsneConfig {
        perplexity: job.perplexity,
        iterations: job.iterations,
        seed: job.seed,
        dims: job.dims,
        method: job.method,
        pca: pca_dims(job.pca, d),
        init: Init::Pca,
        learning_rate: None,
        snapshot_positions: job.snapshots.is_some(),
        ..TsneConfig::default()
    };
    // Everything is checked before any file is created.
    super::validate(&x, n, d, &config)?;
    check_output_dir(&job.out)?;
    if let Some(dir) = &job.snapshots {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut metrics_file = match &job.metrics {
        Some(path) => Some(fs::File::create(path).map_err(|e| Error::io(path, e))?),
        None => None,
    };
    let bar = if job.progress {
        let bar = indicatif::ProgressBar::new(job.iterations as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "t-SNE {bar:40} {pos}/{len} iterations  {msg}  [{elapsed_precise} < {eta}]",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut done = 0usize;
    let mut observer = |p: &Progress| -> Result<()> {
        bar.inc((p.iteration - done) as u64);
        done = p.iteration;
        bar.set_message(format!("KL {:.4}", p.kl));
        if let (Some(file), Some(path)) = (metrics_file.as_mut(), job.metrics.as_ref()) {
            let line =
                serde_json::json!({"iteration": p.iteration, "kl": p.kl, "seconds": p.seconds});
            writeln!(file, "{line}").map_err(|e| Error::io(path, e))?;
        }
        if let (Some(dir), Some(y)) = (&job.snapshots, p.positions) {
            let path = dir.join(format!("y_{:05}.npy", p.iteration));
            write_npy_atomic(&path, y, n, job.dims)?;
        }
        Ok(())
    };
    let embedding: Embedding = fit_with(gpu, &x, n, d, &config, &mut observer)?;
    bar.finish_and_clear();

    write_npy_atomic(&job.out, &embedding.y, n, job.dims)?;
    let t = Instant::now();
    let knn_accuracy = match &labels {
        Some(l) => Some(metrics::knn_accuracy(&embedding.y, n, job.dims, l, 10)?),
        None => None,
    };
    let metric_s = t.elapsed().as_secs_f64();
    let times = embedding.times;
    let report = TsneReport {
        n,
        d,
        kl: embedding.kl,
        knn_accuracy,
        pca_dims: config.pca,
        learning_rate: embedding.learning_rate,
        method: embedding.method,
        load_s,
        pca_s: times.pca_s,
        knn_s: times.knn_s,
        affinity_s: times.affinity_s,
        init_s: times.init_s,
        optimize_s: times.optimize_s,
        metric_s,
        total_s: start.elapsed().as_secs_f64(),
        out: job.out.clone(),
    };
    if let (Some(file), Some(path)) = (metrics_file.as_mut(), job.metrics.as_ref()) {
        let line = serde_json::json!({
            "final": true,
            "n": n,
            "d": d,
            "iteration": job.iterations,
            "kl": report.kl,
            "method": format!("{:?}", report.method).to_lowercase(),
            "learning_rate": report.learning_rate,
            "pca_dims": report.pca_dims,
            "load_s": report.load_s,
            "pca_s": report.pca_s,
            "knn_s": report.knn_s,
            "affinity_s": report.affinity_s,
            "init_s": report.init_s,
            "optimize_s": report.optimize_s,
            "metric_s": report.metric_s,
            "seconds": report.total_s,
            "knn_accuracy": report.knn_accuracy,
        });
        writeln!(file, "{line}").map_err(|e| Error::io(path, e))?;
    }
    Ok(report)
}

fn check_output_dir(out: &Path) -> Result<()> {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent
        && !dir.is_dir()
    {
        return Err(Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "output folder does not exist"),
        ));
    }
    Ok(())
}

/// Points (n × d, row-major), n, d, and labels when known.
type Loaded = (Vec<f32>, usize, usize, Option<Vec<u32>>);

/// (x n × d, n, d, labels) from the job's source, cut to `subset`.
fn load(job: &TsneJob) -> Result<Loaded> {
    let (mut x, mut n, d, mut labels) = match (&job.input, &job.mnist) {
        (Some(path), None) => {
            let (n, d, x) = read_npy_2d(path)?;
            let labels = match &job.labels {
                Some(lp) => {
                    let l = read_npy_labels(lp)?;
                    if l.len() != n {
                        return Err(Error::bad_data(
                            lp,
                            format!("{} labels for {n} rows of {}", l.len(), path.display()),
                        ));
                    }
                    Some(l)
                }
                None => None,
            };
            (x, n, d, labels)
        }
        (None, Some(dir)) => {
            let (x, labels, d) = load_mnist(dir, job.split)?;
            let n = labels.len();
            (x, n, d, Some(labels))
        }
        _ => {
            return Err(Error::InvalidArgument(
                "give exactly one of --input X.npy and --mnist DIR".into(),
            ));
        }
    };
    if let Some(s) = job.subset {
        if s == 0 {
            return Err(Error::InvalidArgument("--subset must be at least 1".into()));
        }
        if s < n {
            n = s;
            x.truncate(n * d);
            if let Some(l) = labels.as_mut() {
                l.truncate(n);
            }
        }
    }
    Ok((x, n, d, labels))
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::io(path, e))
}

/// Parse a .npy header: (dtype descr, fortran_order, shape, data offset).
fn npy_header(path: &Path, bytes: &[u8]) -> Result<(String, bool, Vec<usize>, usize)> {
    let bad = |r: &str| Error::bad_data(path, format!("not a valid .npy file: {r}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic"));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(bad("unknown format version")),
    };
    let header = bytes
        .get(start..start + len)
        .ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    let field = |key: &str| -> Result<&str> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or_else(|| bad(&format!("header lacks '{key}'")))?;
        let rest = &header[at + key.len() + 2..];
        let colon = rest.find(':').ok_or_else(|| bad("malformed header"))?;
        Ok(rest[colon + 1..].trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|s| s.split('\'').next())
        .ok_or_else(|| bad("malformed descr"))?
        .to_string();
    let fortran = field("fortran_order")?.starts_with("True");
    let shape = field("shape")?;
    let shape = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("malformed shape"))?;
    let shape: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad("malformed shape")))
        .collect::<Result<_>>()?;
    Ok((descr, fortran, shape, start + len))
}

/// A 2-D float32 / float64 .npy file (C order) as (rows, cols, row-major f32).
pub(crate) fn read_npy_2d(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let bytes = read_file(path)?;
    let (descr, fortran, shape, offset) = npy_header(path, &bytes)?;
    let [rows, cols] = shape[..] else {
        return Err(Error::bad_data(
            path,
            format!("expected a 2-D array (N × D), got shape {shape:?}"),
        ));
    };
    if fortran {
        return Err(Error::bad_data(
            path,
            "Fortran-order arrays are not supported; save with np.ascontiguousarray",
        ));
    }
    let size = match descr.as_str() {
        "<f4" | "=f4" => 4,
        "<f8" | "=f8" => 8,
        other => {
            return Err(Error::bad_data(
                path,
                format!("unsupported dtype '{other}': expected little-endian float32 or float64"),
            ));
        }
    };
    let body = &bytes[offset..];
    let need = rows.checked_mul(cols).and_then(|v| v.checked_mul(size));
    if need.is_none_or(|need| need > body.len()) {
        return Err(Error::bad_data(
            path,
            format!(
                "truncated data: shape {shape:?} needs {} bytes, the file holds {}",
                need.map_or("too many".into(), |v| v.to_string()),
                body.len()
            ),
        ));
    }
    let count = rows * cols;
    let data = if size == 4 {
        body[..count * 4]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        body[..count * 8]
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect()
    };
    Ok((rows, cols, data))
}

/// A 1-D integer .npy file of non-negative labels.
fn read_npy_labels(path: &Path) -> Result<Vec<u32>> {
    let bytes = read_file(path)?;
    let (descr, _, shape, offset) = npy_header(path, &bytes)?;
    let [n] = shape[..] else {
        return Err(Error::bad_data(
            path,
            format!("labels must be 1-D, got shape {shape:?}"),
        ));
    };
    let size = match descr.as_str() {
        "|u1" | "|i1" => 1,
        "<i4" | "<u4" => 4,
        "<i8" | "<u8" => 8,
        other => {
            return Err(Error::bad_data(
                path,
                format!("unsupported label dtype '{other}'"),
            ));
        }
    };
    let body = &bytes[offset..];
    if body.len() < n * size {
        return Err(Error::bad_data(path, "truncated label data"));
    }
    let labels: Vec<i64> = body[..n * size]
        .chunks_exact(size)
        .map(|b| match size {
            1 if descr == "|i1" => b[0] as i8 as i64,
            1 => b[0] as i64,
            4 if descr == "<i4" => i32::from_le_bytes(b.try_into().unwrap()) as i64,
            4 => u32::from_le_bytes(b.try_into().unwrap()) as i64,
            _ => i64::from_le_bytes(b.try_into().unwrap()),
        })
        .collect();
    if let Some(i) = labels.iter().position(|&l| !(0..1 << 20).contains(&l)) {
        return Err(Error::bad_data(
            path,
            format!("label {} at index {i} is out of range", labels[i]),
        ));
    }
    Ok(labels.into_iter().map(|l| l as u32).collect())
}

/// An IDX file (plain or .gz): (dims, bytes).
fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = read_file(path)?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::bad_data(path, format!("corrupt gzip stream: {e}")))?;
        out
    } else {
        raw
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 {
        return Err(Error::bad_data(
            path,
            "not an unsigned-byte IDX file (bad magic)",
        ));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if ndim == 0 || bytes.len() < header {
        return Err(Error::bad_data(path, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let count: usize = dims.iter().product();
    if bytes.len() != header + count {
        return Err(Error::bad_data(
            path,
            format!(
                "IDX dims {dims:?} need {count} bytes of data, the file holds {}",
                bytes.len() - header
            ),
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

fn idx_path(dir: &Path, stem: &str) -> PathBuf {
    let gz = dir.join(format!("{stem}.gz"));
    if gz.exists() { gz } else { dir.join(stem) }
}

/// MNIST images as f32 in [0, 1] (n × 784), labels, and 784.
fn load_mnist(dir: &Path, split: Split) -> Result<(Vec<f32>, Vec<u32>, usize)> {
    let parts: &[&str] = match split {
        Split::Train => &["train"],
        Split::Test => &["t10k"],
        Split::All => &["train", "t10k"],
    };
    let (mut x, mut labels, mut pixels) = (Vec::new(), Vec::new(), 0);
    for part in parts {
        let ip = idx_path(dir, &format!("{part}-images-idx3-ubyte"));
        let lp = idx_path(dir, &format!("{part}-labels-idx1-ubyte"));
        let (idims, images) = read_idx(&ip)?;
        let (ldims, l) = read_idx(&lp)?;
        if idims.len() != 3 || ldims.len() != 1 || idims[0] != ldims[0] {
            return Err(Error::bad_data(
                &ip,
                format!("image dims {idims:?} do not match label dims {ldims:?}"),
            ));
        }
        pixels = idims[1] * idims[2];
        x.extend(images.iter().map(|&b| b as f32 / 255.0));
        labels.extend(l.iter().map(|&b| b as u32));
    }
    Ok((x, labels, pixels))
}

/// Write an n × d float32 .npy next to `path` and rename it into place.
pub(crate) fn write_npy_atomic(path: &Path, data: &[f32], n: usize, d: usize) -> Result<()> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {d}), }}");
    // Magic (6) + version (2) + length (2) + header + '\n' is padded to a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + data.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "out.npy".into());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    fs::write(&tmp, &bytes).map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// The job's loader, for tests: (x n × d row-major, labels).
#[doc(hidden)]
pub fn load_for_tests(job: &TsneJob) -> Result<(Vec<f32>, Vec<u32>)> {
    let (x, _, _, labels) = load(job)?;
    Ok((x, labels.unwrap_or_default()))
}
