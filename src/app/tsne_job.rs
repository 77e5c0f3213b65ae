//! `latentviz tsne`: load the input (.npy or MNIST), validate it, run `fit` with a progress bar,
//! and write Y.npy (atomically), metrics JSON lines and snapshots.
//!
//! Reading and writing go through the library's `data::npy`, `data::mnist` and `io` modules.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::app::figures::ImageShape;
use crate::data::{mnist, npy};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tsne::{
    Embedding, Init, KnnSearch, LearningRate, LearningRates, Method, Progress, TsneConfig,
    fit_with, metrics,
};

/// Which MNIST images to embed (train, test, or train then test).
pub use crate::data::mnist::Split;

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
    pub knn: KnnSearch,
    pub learning_rate: LearningRate,
    /// See `TsneConfig::max_step`.
    pub max_step: Option<f32>,
    /// See `TsneConfig::early_stop`.
    pub early_stop: Option<f32>,
    /// Folder for Y at every 50 iterations (y_00050.npy, ...).
    pub snapshots: Option<PathBuf>,
    /// JSON-lines file: {iteration, kl, seconds} every 50 iterations, then a summary line.
    pub metrics: Option<PathBuf>,
    /// PCA first: None = 50 components when D > 100, Some(0) = off, Some(k) = k components.
    pub pca: Option<usize>,
    /// Also write the explorer page (`app::explore`) of the result here (2-D only).
    pub explore: Option<PathBuf>,
    pub progress: bool,
}

impl TsneJob {
    /// Defaults as the CLI's: perplexity 30, 750 iterations, seed 0, 2-D, auto method.
    pub fn new(out: impl Into<PathBuf>) -> TsneJob {
        TsneJob {
            input: None,
            mnist: None,
            split: Split::Test,
            subset: None,
            labels: None,
            out: out.into(),
            perplexity: 30.0,
            iterations: 750,
            seed: 0,
            dims: 2,
            method: Method::Auto,
            knn: KnnSearch::Auto,
            learning_rate: LearningRate::Auto,
            max_step: Some(crate::tsne::optimize::MAX_STEP),
            early_stop: None,
            snapshots: None,
            metrics: None,
            pca: None,
            explore: None,
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
    pub learning_rates: LearningRates,
    /// Gradient steps taken (fewer than asked after an early stop).
    pub iterations: usize,
    pub method: Method,
    /// The kNN search used (None for a dense P).
    pub knn: Option<KnnSearch>,
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
    let (x, n, d, labels, image_size) = load(job)?;
    let load_s = start.elapsed().as_secs_f64();
    let config = TsneConfig {
        perplexity: job.perplexity,
        iterations: job.iterations,
        seed: job.seed,
        dims: job.dims,
        method: job.method,
        knn: job.knn,
        pca: pca_dims(job.pca, d),
        init: Init::Pca,
        learning_rate: job.learning_rate,
        max_step: job.max_step,
        early_stop: job.early_stop,
        snapshot_positions: job.snapshots.is_some(),
        ..TsneConfig::default()
    };
    // Everything is checked before any file is created.
    crate::tsne::validate(&x, n, d, &config)?;
    if job.explore.is_some() && job.dims != 2 {
        return Err(Error::InvalidArgument(format!(
            "--explore draws 2-D embeddings; this job asks for --dims {}",
            job.dims
        )));
    }
    let mut outputs = vec![("--out", job.out.as_path())];
    if let Some(path) = &job.metrics {
        outputs.push(("--metrics", path.as_path()));
    }
    if let Some(page) = &job.explore {
        outputs.push(("--explore", page.as_path()));
    }
    crate::io::check_outputs(&outputs)?;
    if let Some(dir) = &job.snapshots {
        fresh_snapshot_dir(dir)?;
    }
    // Metrics are rewritten whole (atomically) at every report, so an interrupted run leaves the
    // previous run's file or a complete prefix of this one. A failed write does not stop the run:
    // the embedding is written first and the failure reported after.
    let mut metrics_lines = String::new();
    let mut metrics_error: Option<Error> = None;
    let mut write_metrics = |line: serde_json::Value| {
        if let Some(path) = &job.metrics {
            metrics_lines.push_str(&format!("{line}\n"));
            metrics_error = crate::io::write_bytes_atomic(path, metrics_lines.as_bytes()).err();
        }
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
        write_metrics(
            serde_json::json!({"iteration": p.iteration, "kl": p.kl, "seconds": p.seconds}),
        );
        if let (Some(dir), Some(y)) = (&job.snapshots, p.positions) {
            let path = dir.join(format!("y_{:05}.npy", p.iteration));
            npy::write_f32_2d(&path, n, job.dims, y)?;
        }
        Ok(())
    };
    let embedding: Embedding = fit_with(gpu, &x, n, d, &config, &mut observer)?;
    bar.finish_and_clear();

    npy::write_f32_2d(&job.out, n, job.dims, &embedding.y)?;
    if let Some(page) = &job.explore {
        // The KL at every check, and at the positions returned.
        let mut kl = embedding.kl_history.clone();
        kl.push((embedding.iterations, embedding.kl));
        let data = crate::app::explore::PageData {
            title: job
                .out
                .file_name()
                .map_or("t-SNE".into(), |s| s.to_string_lossy().into_owned()),
            positions: embedding.y.clone(),
            labels: labels.clone(),
            images: image_size.map(|(h, w)| (x.clone(), ImageShape::grey(h, w))),
            snapshots: match &job.snapshots {
                Some(dir) => Some(crate::app::snapshots::read(dir)?),
                None => None,
            },
            kl,
            neighbours: if n > 1 {
                Some(crate::app::explore::neighbours(gpu, &x, n, d)?)
            } else {
                None
            },
        };
        crate::app::explore::write_page(page, &data)?;
    }
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
        learning_rates: embedding.learning_rates,
        iterations: embedding.iterations,
        method: embedding.method,
        knn: embedding.knn,
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
    if job.metrics.is_some() {
        write_metrics(serde_json::json!({
            "final": true,
            "n": n,
            "d": d,
            "iteration": report.iterations,
            "perplexity": job.perplexity,
            "seed": job.seed,
            "kl": report.kl,
            "method": format!("{:?}", report.method).to_lowercase(),
            "knn": report.knn.map(|s| format!("{s:?}").to_lowercase()),
            "learning_rate": report.learning_rates.late,
            "learning_rate_early": report.learning_rates.early,
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
        }));
    }
    if let Some(e) = metrics_error {
        let written = format!("the embedding was written to {}", job.out.display());
        return Err(match e {
            Error::Io { path, source } => Error::io(
                path,
                std::io::Error::new(source.kind(), format!("{source} ({written})")),
            ),
            other => Error::InvalidArgument(format!("{other} ({written})")),
        });
    }
    Ok(report)
}

/// Makes `dir` ready for this run's snapshots: created if missing, and the `y_NNNNN.npy` files of
/// an earlier run removed, so the folder never mixes two runs. Other files are left alone.
fn fresh_snapshot_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_snapshot = name.len() == "y_00000.npy".len()
            && name.starts_with("y_")
            && name.ends_with(".npy")
            && name[2..7].bytes().all(|b| b.is_ascii_digit());
        if is_snapshot {
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Points (n × d, row-major), n, d, labels when known, and (rows, cols) when they are images.
type Loaded = (
    Vec<f32>,
    usize,
    usize,
    Option<Vec<u32>>,
    Option<(usize, usize)>,
);

/// (x n × d, n, d, labels) from the job's source, cut to `subset`.
fn load(job: &TsneJob) -> Result<Loaded> {
    let (mut x, mut n, d, mut labels, image_size) = match (&job.input, &job.mnist) {
        (Some(path), None) => {
            let (n, d, x) = npy::read_f32_2d(path)?;
            let labels = match &job.labels {
                Some(lp) => {
                    let l = npy::read_labels(lp)?;
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
            (x, n, d, labels, None)
        }
        (None, Some(dir)) => {
            let m = mnist::load(dir, job.split)?;
            let (n, d) = (m.len(), m.pixels());
            let labels = m.labels.iter().map(|&l| u32::from(l)).collect();
            (m.images, n, d, Some(labels), Some((m.rows, m.cols)))
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
        if s > n {
            return Err(Error::InvalidArgument(format!(
                "--subset {s}: the input has only {n} points"
            )));
        }
        if s < n {
            n = s;
            x.truncate(n * d);
            if let Some(l) = labels.as_mut() {
                l.truncate(n);
            }
        }
    }
    Ok((x, n, d, labels, image_size))
}

/// The job's loader, for tests: (x n × d row-major, labels).
#[doc(hidden)]
pub fn load_for_tests(job: &TsneJob) -> Result<(Vec<f32>, Vec<u32>)> {
    let (x, _, _, labels, _) = load(job)?;
    Ok((x, labels.unwrap_or_default()))
}
