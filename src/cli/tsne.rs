//! `latentviz tsne`: embed the rows of a .npy file or MNIST images with t-SNE (`app::tsne_job`).

use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;

use latentviz::app::tsne_job::{self, TsneJob};
use latentviz::tsne::{KnnSearch, LearningRate, Method};
use latentviz::{Gpu, GpuOptions};

use super::args::SplitArg;

#[derive(Clone, Copy, ValueEnum)]
pub enum KnnArg {
    Exact,
    Clustered,
    Auto,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Exact,
    Fft,
    Sparse,
    Auto,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["input", "mnist"])))]
pub struct TsneArgs {
    /// A 2-D .npy array (float32 or float64), one point per row.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Integer labels (1-D .npy) for --input, to report the 10-NN accuracy.
    #[arg(long, requires = "input", conflicts_with = "mnist")]
    labels: Option<PathBuf>,
    /// A directory with the MNIST IDX files: embed its images (labels come with them).
    #[arg(long)]
    mnist: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    split: SplitArg,
    /// Use only the first N points.
    #[arg(long)]
    subset: Option<usize>,
    /// Where to write the embedding (N × dims float32 .npy).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 30.0)]
    perplexity: f32,
    /// Gradient steps: 250 of early exaggeration, then the rest (openTSNE's 250 + 500).
    #[arg(long, default_value_t = 750)]
    iterations: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 2)]
    dims: usize,
    /// exact: dense P and O(N²) forces; fft: sparse kNN P and FFT-interpolated repulsion (2-D);
    /// sparse: sparse P with exact repulsion; auto: exact up to 1,000 points, else fft (2-D) or sparse.
    #[arg(long, value_enum, default_value_t = MethodArg::Auto)]
    method: MethodArg,
    /// kNN search of the sparse methods. exact: brute force over all pairs; clustered: over
    /// k-means clusters, approximate (recall ~0.98 on MNIST) and several times faster for large N;
    /// auto: clustered from 20,000 points.
    #[arg(long, value_enum, default_value_t = KnnArg::Auto)]
    knn: KnnArg,
    /// Step size. auto: openTSNE's N / exaggeration per phase (N/48, then N/4 in sklearn's
    /// gradient scale; at least 50); sklearn: max(N/48, 50) in both phases; or a number for both.
    #[arg(long, default_value = "auto")]
    learning_rate: LearningRate,
    /// The longest step a point may take in one iteration (openTSNE's max_step_norm), or none
    /// for no cap.
    #[arg(long, default_value = "5", value_parser = parse_max_step)]
    max_step_norm: MaxStep,
    /// Stop once the KL falls by less than this fraction over 50 iterations (after early
    /// exaggeration), e.g. 0.005.
    #[arg(long)]
    early_stop: Option<f32>,
    /// PCA to this many dimensions first (default: 50 when the input has more than 100; 0: off).
    #[arg(long)]
    pca: Option<usize>,
    /// Write the embedding every 50 iterations into this directory.
    #[arg(long)]
    snapshots: Option<PathBuf>,
    /// JSON lines: {iteration, kl, seconds} every 50 iterations, then the totals per phase.
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Also write the interactive explorer page of the result (see `latentviz explore`).
    #[arg(long)]
    explore: Option<PathBuf>,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

/// `--max-step-norm`: a positive number, or None for "none".
#[derive(Clone, Copy, Debug)]
pub struct MaxStep(Option<f32>);

fn parse_max_step(s: &str) -> Result<MaxStep, String> {
    match s {
        "none" => Ok(MaxStep(None)),
        _ => s
            .parse::<f32>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
            .map(|v| MaxStep(Some(v)))
            .ok_or_else(|| {
                format!("the longest step must be a positive number or none, not {s:?}")
            }),
    }
}

pub fn run(options: &GpuOptions, a: TsneArgs) -> Result<()> {
    let mut job = TsneJob::new(&a.out);
    job.input = a.input;
    job.labels = a.labels;
    job.mnist = a.mnist;
    job.split = a.split.split();
    job.subset = a.subset;
    job.perplexity = a.perplexity;
    job.iterations = a.iterations;
    job.seed = a.seed;
    job.dims = a.dims;
    job.method = match a.method {
        MethodArg::Exact => Method::Exact,
        MethodArg::Fft => Method::Fft,
        MethodArg::Sparse => Method::SparseExact,
        MethodArg::Auto => Method::Auto,
    };
    job.knn = match a.knn {
        KnnArg::Exact => KnnSearch::Exact,
        KnnArg::Clustered => KnnSearch::Clustered,
        KnnArg::Auto => KnnSearch::Auto,
    };
    job.learning_rate = a.learning_rate;
    job.early_stop = a.early_stop;
    job.max_step = a.max_step_norm.0;
    job.pca = a.pca;
    job.snapshots = a.snapshots;
    job.metrics = a.metrics;
    job.explore = a.explore;
    job.progress = !a.quiet;
    let gpu = Gpu::new(options)?;
    let r = tsne_job::run(&gpu, &job)?;
    eprintln!(
        "{} points ({}-D input{}), {:?}{}, learning rate {:.1} then {:.1}: KL {:.4}{}",
        r.n,
        r.d,
        r.pca_dims.map(|k| format!(", PCA {k}")).unwrap_or_default(),
        r.method,
        r.knn.map(|s| format!(", {s:?} kNN")).unwrap_or_default(),
        r.learning_rates.early,
        r.learning_rates.late,
        r.kl,
        r.knn_accuracy
            .map(|v| format!(", 10-NN accuracy {v:.4}"))
            .unwrap_or_default()
    );
    if r.iterations < job.iterations {
        eprintln!(
            "early stop after {} of {} iterations",
            r.iterations, job.iterations
        );
    }
    eprintln!(
        "seconds: load {:.1}, pca {:.1}, knn {:.1}, affinity {:.1}, init {:.1}, optimize {:.1}, total {:.1}",
        r.load_s, r.pca_s, r.knn_s, r.affinity_s, r.init_s, r.optimize_s, r.total_s
    );
    eprintln!("wrote {}", r.out.display());
    if let Some(page) = &job.explore {
        eprintln!("wrote {}", page.display());
    }
    Ok(())
}
