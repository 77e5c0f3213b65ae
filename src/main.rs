//! The `latentviz` command line: thin wrappers that parse, call the library and report.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use latentviz::data::mnist::{self, Split};
use latentviz::graph::ParamStore;
use latentviz::ops::loss::LossKind;
use latentviz::ops::optim::Optimizer;
use latentviz::train::{self, TrainConfig};
use latentviz::{Gpu, GpuOptions, model};

#[derive(Parser)]
#[command(
    name = "latentviz",
    version,
    about = "Make the latent space of neural networks visible"
)]
struct Cli {
    /// Adapter to use: an index from `latentviz info` or part of its name
    /// (default: $LATENTVIZ_ADAPTER, else the best GPU, else a CPU driver).
    #[arg(long, global = true)]
    adapter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the adapters, and the chosen one's backend, type, limits and features.
    Info,
    /// Download data sets.
    Data {
        #[command(subcommand)]
        what: DataCommand,
    },
    /// Train the seed MNIST autoencoder on the GPU.
    Train(TrainArgs),
    /// Check every kernel against its CPU reference, then time it at the seed model's shapes.
    Bench(BenchArgs),
    /// Embed the rows of a .npy file or MNIST images with t-SNE on the GPU.
    Tsne(TsneArgs),
    /// Encode MNIST images with a trained model: latent codes (N × 32 .npy) and their labels.
    Encode(EncodeArgs),
    /// Draw one figure of the MNIST latent-space story from saved files (model, embedding, metrics).
    Figure {
        #[command(subcommand)]
        kind: FigureKind,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SplitArg {
    Train,
    Test,
    All,
}

#[derive(Clone, Copy, ValueEnum)]
enum KnnArg {
    Exact,
    Clustered,
    Auto,
}

#[derive(Clone, Copy, ValueEnum)]
enum MethodArg {
    Exact,
    Fft,
    Sparse,
    Auto,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["input", "mnist"])))]
struct TsneArgs {
    /// A 2-D .npy array (float32 or float64), one point per row.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Integer labels (1-D .npy) for --input, to report the 10-NN accuracy.
    #[arg(long, requires = "input")]
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
    learning_rate: latentviz::tsne::LearningRate,
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
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

/// `--max-step-norm`: a positive number, or None for "none".
#[derive(Clone, Copy, Debug)]
struct MaxStep(Option<f32>);

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

#[derive(clap::Args)]
struct BenchArgs {
    /// Batch size of the seed model's shapes.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Only kernels whose name or family contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Timed repetitions per kernel.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Also time one whole training step, dispatch by dispatch.
    #[arg(long)]
    step: bool,
    /// Write the results as JSON lines here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Download the four MNIST files, verify their SHA-256 and store them.
    Mnist {
        /// Where to store them (default: the cache directory `--data` defaults to).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Base URL of the mirror.
        #[arg(long, default_value = latentviz::data::download::DEFAULT_MIRROR)]
        url: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OptimizerArg {
    Rmsprop,
    Adam,
}

#[derive(Clone, Copy, ValueEnum)]
enum LossArg {
    Bce,
    Mse,
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Directory with the MNIST IDX files (gzipped or raw). Default: the download cache.
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Train on the first N training images only.
    #[arg(long)]
    limit: Option<usize>,
    /// Evaluate on the first N test images only (default: all 10,000).
    #[arg(long)]
    test_limit: Option<usize>,
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    #[arg(long, value_enum, default_value_t = OptimizerArg::Rmsprop)]
    optimizer: OptimizerArg,
    #[arg(long, value_enum, default_value_t = LossArg::Bce)]
    loss: LossArg,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Read the loss back every this many steps.
    #[arg(long, default_value_t = 10)]
    loss_every: usize,
    /// Where to save the trained weights (safetensors).
    #[arg(long)]
    out: PathBuf,
    /// Write one JSON object per epoch here.
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args)]
struct EncodeArgs {
    /// The trained autoencoder (.safetensors from `latentviz train`).
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArg,
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    split: SplitArg,
    /// Encode only the first N images.
    #[arg(long)]
    subset: Option<usize>,
    /// Where to write the latent codes (N × 32 float32 .npy).
    #[arg(long)]
    out: PathBuf,
    /// Also write the images' labels (N int64 .npy), for `latentviz tsne --labels`.
    #[arg(long)]
    labels_out: Option<PathBuf>,
}

/// An embedding and the MNIST images it embeds (`figure tsne` and `figure mosaic`).
#[derive(clap::Args)]
struct EmbeddedImages {
    /// The embedding (N × 2 .npy) of the first N images of --split.
    #[arg(long)]
    embedding: PathBuf,
    #[command(flatten)]
    data: DataArg,
    #[arg(long, value_enum, default_value_t = ImageSplit::Test)]
    split: ImageSplit,
    /// The number of images embedded (must equal the embedding's rows; default: its rows).
    #[arg(long)]
    subset: Option<usize>,
}

#[derive(clap::Args)]
struct DataArg {
    /// Directory with the MNIST IDX files (gzipped or raw). Default: the download cache.
    #[arg(long)]
    data: Option<PathBuf>,
}

impl DataArg {
    fn load(&self, split: Split) -> Result<mnist::Mnist> {
        let dir = self
            .data
            .clone()
            .unwrap_or_else(latentviz::data::download::default_cache_dir);
        Ok(mnist::load(&dir, split)?)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ImageSplit {
    Train,
    Test,
}

impl ImageSplit {
    fn split(self) -> Split {
        match self {
            ImageSplit::Train => Split::Train,
            ImageSplit::Test => Split::Test,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum TsneStyle {
    /// Points coloured by digit, with a legend.
    Points,
    /// Every point drawn as its own image, tinted by digit.
    Images,
}

#[derive(Clone, Copy, ValueEnum)]
enum MosaicMode {
    /// Every cell shows the point nearest its centre.
    Nearest,
    /// Exact one-to-one assignment of points to cells.
    OneToOne,
}

#[derive(Subcommand)]
enum FigureKind {
    /// The first 4 training images in a 2×2 grid.
    Preview {
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_enum, default_value_t = ImageSplit::Train)]
        split: ImageSplit,
        /// Where to write the PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Training and test images above their reconstructions.
    Reconstructions {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: DataArg,
        /// Images per row (the first N of each split).
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// Where to write the PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// A t-SNE embedding of MNIST images (from `latentviz tsne`) as points or as images.
    Tsne {
        #[command(flatten)]
        embedded: EmbeddedImages,
        #[arg(long, value_enum, default_value_t = TsneStyle::Points)]
        style: TsneStyle,
        /// What was embedded, for the title, e.g. "pixel space" or "latent space".
        #[arg(long, default_value = "")]
        space: String,
        /// `latentviz tsne --metrics` output: the title takes KL (and perplexity) from it.
        #[arg(long)]
        tsne_metrics: Option<PathBuf>,
        /// Perplexity for the title when --tsne-metrics does not record it.
        #[arg(long)]
        perplexity: Option<f32>,
        /// Side of the square PNG in pixels.
        #[arg(long, default_value_t = 1200)]
        size: usize,
        /// Side of each thumbnail (--style images).
        #[arg(long, default_value_t = 24)]
        thumb: usize,
        /// Where to write the PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Pixel blends and decoded latent interpolations between two test images.
    Interpolation {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_enum, default_value_t = ImageSplit::Test)]
        split: ImageSplit,
        /// Index of the first image.
        #[arg(long, default_value_t = 0)]
        from: usize,
        /// Index of the second image.
        #[arg(long, default_value_t = 1)]
        to: usize,
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Where to write the PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// A, B, C, decode(A+B), decode(A+B−C) in latent space, one row per triple.
    Arithmetic {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_enum, default_value_t = ImageSplit::Test)]
        split: ImageSplit,
        /// Index triples A,B,C (repeat for more rows), e.g. --triple 0,1,2.
        #[arg(long = "triple", value_parser = parse_triple, required = true)]
        triples: Vec<[usize; 3]>,
        /// Where to write the PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// An embedding snapped to a full grid of its images.
    Mosaic {
        #[command(flatten)]
        embedded: EmbeddedImages,
        #[arg(long, value_enum, default_value_t = MosaicMode::Nearest)]
        mode: MosaicMode,
        /// Grid rows (default: ⌊√N⌋, at most 40).
        #[arg(long)]
        rows: Option<usize>,
        /// Grid columns (default: as many as rows).
        #[arg(long)]
        cols: Option<usize>,
        /// Colour the seams between cells by the distance of their images in feature space.
        #[arg(long)]
        seams: bool,
        /// Features for --seams (N × D .npy, e.g. latent codes); default: the pixels.
        #[arg(long, requires = "seams")]
        features: Option<PathBuf>,
        /// Where to write the PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// One conv layer's activations for one image, a tile per channel.
    FeatureMaps {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_enum, default_value_t = ImageSplit::Test)]
        split: ImageSplit,
        #[arg(long, default_value_t = 0)]
        index: usize,
        /// enc.conv1, enc.conv2, dec.conv1 or dec.conv2.
        #[arg(long, default_value = "enc.conv1")]
        layer: String,
        /// Where to write the PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Train and test loss per epoch from `latentviz train --metrics`.
    Curves {
        #[arg(long)]
        metrics: PathBuf,
        #[arg(long, default_value = "MNIST autoencoder: loss per epoch")]
        title: String,
        /// Where to write the PNG.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let options = GpuOptions {
        adapter: cli.adapter.clone(),
    };
    match cli.command {
        Command::Info => info(&options),
        Command::Data { what } => match what {
            DataCommand::Mnist { dir, url } => {
                let dir = dir.unwrap_or_else(latentviz::data::download::default_cache_dir);
                let files = latentviz::data::download::download_mnist(&url, &dir, true)?;
                for f in files {
                    println!("{}", f.display());
                }
                Ok(())
            }
        },
        Command::Train(args) => train_cmd(&options, args),
        Command::Bench(args) => bench_cmd(&options, args),
        Command::Tsne(args) => tsne_cmd(&options, args),
        Command::Encode(args) => encode_cmd(&options, args),
        Command::Figure { kind } => figure_cmd(&options, kind),
    }
}

fn info(options: &GpuOptions) -> Result<()> {
    println!("adapters:");
    for a in latentviz::gpu::list_adapters() {
        println!(
            "  {}: {} [{}, {}] {}",
            a.index, a.name, a.backend, a.device_type, a.driver
        );
    }
    let gpu = Gpu::new(options)?;
    println!("chosen: {}", gpu.describe());
    println!("  backend: {:?}", gpu.info.backend);
    println!("  device type: {:?}", gpu.info.device_type);
    println!("  driver: {} {}", gpu.info.driver, gpu.info.driver_info);
    println!("  features: {:?}", gpu.features);
    let l = &gpu.limits;
    println!("  limits:");
    println!("    max_buffer_size: {}", l.max_buffer_size);
    println!(
        "    max_storage_buffer_binding_size: {}",
        l.max_storage_buffer_binding_size
    );
    println!(
        "    max_storage_buffers_per_shader_stage: {}",
        l.max_storage_buffers_per_shader_stage
    );
    println!(
        "    max_compute_workgroup_storage_size: {}",
        l.max_compute_workgroup_storage_size
    );
    println!(
        "    max_compute_invocations_per_workgroup: {}",
        l.max_compute_invocations_per_workgroup
    );
    println!(
        "    max_compute_workgroups_per_dimension: {}",
        l.max_compute_workgroups_per_dimension
    );
    Ok(())
}

fn train_cmd(options: &GpuOptions, a: TrainArgs) -> Result<()> {
    let dir = a
        .data
        .clone()
        .unwrap_or_else(latentviz::data::download::default_cache_dir);
    let mut train_set = mnist::load(&dir, Split::Train)?;
    let mut test_set = mnist::load(&dir, Split::Test)?;
    if let Some(n) = a.limit {
        if n == 0 {
            bail!("--limit must be at least 1");
        }
        train_set = train_set.subset(n);
    }
    if let Some(n) = a.test_limit {
        test_set = test_set.subset(n);
    }
    // Fail on an unwritable output before hours of training, not after.
    latentviz::io::check_writable(&a.out)?;
    if let Some(m) = &a.metrics {
        latentviz::io::check_writable(m)?;
    }
    let gpu = Gpu::new(options)?;
    eprintln!(
        "training on {} ({} train / {} test images, batch {}, {} epochs)",
        gpu.describe(),
        train_set.len(),
        test_set.len(),
        a.batch,
        a.epochs
    );
    let optimizer = match a.optimizer {
        OptimizerArg::Rmsprop => Optimizer::rmsprop(a.lr),
        OptimizerArg::Adam => Optimizer::adam(a.lr),
    };
    let loss = match a.loss {
        LossArg::Bce => LossKind::BceWithLogits,
        LossArg::Mse => LossKind::Mse,
    };
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch: a.batch,
        optimizer,
        loss,
        seed: a.seed,
        loss_every: a.loss_every,
        progress: !a.quiet,
    };
    let mut store = ParamStore::new(a.seed);
    let mut lines = String::new();
    let metrics_path = a.metrics.clone();
    train::train_autoencoder(
        &gpu,
        &mut store,
        model::mnist_autoencoder,
        &train_set.images,
        &test_set.images,
        &cfg,
        |m| {
            eprintln!("{m}");
            if let Some(path) = &metrics_path {
                lines.push_str(&serde_json::to_string(m).expect("serializable"));
                lines.push('\n');
                latentviz::io::write_bytes_atomic(path, lines.as_bytes())?;
            }
            Ok(())
        },
    )?;
    let metadata = vec![
        ("model".to_string(), "mnist_autoencoder".to_string()),
        ("epochs".to_string(), a.epochs.to_string()),
        ("seed".to_string(), a.seed.to_string()),
    ];
    store
        .save(&gpu, &a.out, &metadata)
        .with_context(|| format!("saving the model to {}", a.out.display()))?;
    eprintln!("saved {}", a.out.display());
    Ok(())
}

fn bench_cmd(options: &GpuOptions, a: BenchArgs) -> Result<()> {
    if let Some(p) = &a.json {
        latentviz::io::check_writable(p)?;
    }
    let gpu = Gpu::new(options)?;
    println!(
        "{} — batch {}, {} timing",
        gpu.describe(),
        a.batch,
        if gpu.has_timestamps() {
            "GPU timestamp"
        } else {
            "wall-clock"
        }
    );
    let cases = latentviz::bench::seed_cases(&gpu, a.batch, a.filter.as_deref())?;
    println!(
        "{:<52} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "kernel", "max err", "ms", "GFLOP/s", "× naive", "× CPU"
    );
    let mut lines = String::new();
    let mut worst = 0.0f64;
    for case in &cases {
        let r = latentviz::bench::run_case(&gpu, case, a.reps)?;
        let ratio = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
        println!(
            "{:<52} {:>9.1e} {:>10.3} {:>9.2} {:>9} {:>9}",
            r.name,
            r.max_rel_err,
            r.seconds * 1e3,
            r.gflops,
            ratio(r.vs_naive()),
            ratio(r.vs_cpu())
        );
        worst = worst.max(r.max_rel_err);
        lines.push_str(&serde_json::to_string(&r)?);
        lines.push('\n');
    }
    if a.step {
        let (times, whole) = latentviz::bench::step::profile_mnist_step(&gpu, a.batch, a.reps)?;
        let flops: f64 = times.iter().map(|t| t.flops).sum();
        println!(
            "whole training step at batch {}: {:.1} ms, {:.2} GFLOP/s, {:.0} images/s",
            a.batch,
            whole * 1e3,
            flops / whole / 1e9,
            a.batch as f64 / whole
        );
    }
    if let Some(p) = &a.json {
        latentviz::io::write_bytes_atomic(p, lines.as_bytes())?;
    }
    // Relative error scale: sums of hundreds of f32 products reordered on the GPU.
    if worst > 1e-3 {
        bail!("a kernel disagrees with its CPU reference (max relative error {worst:.1e})");
    }
    Ok(())
}

fn tsne_cmd(options: &GpuOptions, a: TsneArgs) -> Result<()> {
    use latentviz::tsne::Method;
    use latentviz::tsne::job::{self, TsneJob};
    let mut job = TsneJob::new(&a.out);
    job.input = a.input;
    job.labels = a.labels;
    job.mnist = a.mnist;
    job.split = match a.split {
        SplitArg::Train => job::Split::Train,
        SplitArg::Test => job::Split::Test,
        SplitArg::All => job::Split::All,
    };
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
        KnnArg::Exact => latentviz::tsne::KnnSearch::Exact,
        KnnArg::Clustered => latentviz::tsne::KnnSearch::Clustered,
        KnnArg::Auto => latentviz::tsne::KnnSearch::Auto,
    };
    job.learning_rate = a.learning_rate;
    job.early_stop = a.early_stop;
    job.max_step = a.max_step_norm.0;
    job.pca = a.pca;
    job.snapshots = a.snapshots;
    job.metrics = a.metrics;
    job.progress = !a.quiet;
    let gpu = Gpu::new(options)?;
    let r = job::run(&gpu, &job)?;
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
    Ok(())
}

fn encode_cmd(options: &GpuOptions, a: EncodeArgs) -> Result<()> {
    let split = match a.split {
        SplitArg::Train => Split::Train,
        SplitArg::Test => Split::Test,
        SplitArg::All => Split::All,
    };
    let set = a.data.load(split)?;
    let side = set.rows * set.cols;
    let n = set.labels.len();
    let n = match a.subset {
        Some(0) => anyhow::bail!("--subset must be at least 1"),
        Some(k) if k > n => anyhow::bail!("--subset {k}: the {split:?} split has only {n} images"),
        Some(k) => k,
        None => n,
    };
    latentviz::io::check_writable(&a.out)?;
    if let Some(path) = &a.labels_out {
        latentviz::io::check_writable(path)?;
    }
    let gpu = Gpu::new(options)?;
    let mut store = latentviz::story::load_model(&gpu, &a.model)?;
    let started = std::time::Instant::now();
    let codes = latentviz::story::encode(&gpu, &mut store, &set.images[..n * side])?;
    let dim = codes.len() / n;
    latentviz::data::npy::write_f32_2d(&a.out, n, dim, &codes)?;
    if let Some(path) = &a.labels_out {
        let labels: Vec<i64> = set.labels[..n].iter().map(|&l| l as i64).collect();
        latentviz::data::npy::write_labels_i64(path, &labels)?;
    }
    eprintln!(
        "encoded {n} images to {dim}-D codes in {:.1} s: wrote {}",
        started.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}

/// "A,B,C": three image indices.
fn parse_triple(s: &str) -> std::result::Result<[usize; 3], String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|x| x.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("'{s}': {e}"))?;
    <[usize; 3]>::try_from(v).map_err(|_| format!("'{s}' is not three indices A,B,C"))
}

/// Image `i` of `set`, or an error naming the index and the size of the split.
fn pick<'a>(set: &'a mnist::Mnist, i: usize, what: &str) -> Result<&'a [f32]> {
    if i >= set.len() {
        bail!(
            "{what} index {i} is out of range: the split has {} images",
            set.len()
        );
    }
    Ok(set.image(i))
}

impl EmbeddedImages {
    /// The embedding and its images: the first N of the split, N = its rows.
    fn load(&self) -> Result<(Vec<f32>, mnist::Mnist)> {
        let embedding = &self.embedding;
        let (n, d, y) = latentviz::data::npy::read_f32_2d(embedding)?;
        if d != 2 {
            bail!("{}: a {n} × {d} array, expected N × 2", embedding.display());
        }
        let set = self.data.load(self.split.split())?;
        let want = self.subset.unwrap_or(n);
        if want != n {
            bail!(
                "{} has {n} rows but --subset is {want}: the embedding must be of the first --subset images",
                embedding.display()
            );
        }
        if n > set.len() {
            bail!(
                "{} has {n} rows but the split has only {} images",
                embedding.display(),
                set.len()
            );
        }
        Ok((y, set.subset(n)))
    }
}

/// KL and perplexity from `latentviz tsne --metrics` (its final line, else its last KL).
fn read_tsne_metrics(path: &std::path::Path) -> Result<(Option<f32>, Option<f32>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (mut kl, mut perplexity) = (None, None);
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}: line {} is not JSON", path.display(), i + 1))?;
        if let Some(k) = v.get("kl").and_then(|k| k.as_f64()) {
            kl = Some(k as f32);
        }
        if let Some(p) = v.get("perplexity").and_then(|p| p.as_f64()) {
            perplexity = Some(p as f32);
        }
    }
    if kl.is_none() {
        bail!(
            "{}: no \"kl\" in any line (expected `latentviz tsne --metrics` output)",
            path.display()
        );
    }
    Ok((kl, perplexity))
}

fn figure_cmd(options: &GpuOptions, kind: FigureKind) -> Result<()> {
    use latentviz::story;
    let out = match &kind {
        FigureKind::Preview { out, .. }
        | FigureKind::Reconstructions { out, .. }
        | FigureKind::Tsne { out, .. }
        | FigureKind::Interpolation { out, .. }
        | FigureKind::Arithmetic { out, .. }
        | FigureKind::Mosaic { out, .. }
        | FigureKind::FeatureMaps { out, .. }
        | FigureKind::Curves { out, .. } => out.clone(),
    };
    latentviz::io::check_writable(&out)?;
    let model = |gpu: &Gpu, path: &std::path::Path| -> Result<ParamStore> {
        Ok(story::load_model(gpu, path)?)
    };
    match kind {
        FigureKind::Preview { data, split, out } => {
            let set = data.load(split.split())?;
            story::preview(&set.images, &out)?;
        }
        FigureKind::Reconstructions {
            model: m,
            data,
            count,
            out,
        } => {
            if count == 0 {
                bail!("--count must be at least 1");
            }
            let train_set = data.load(Split::Train)?.subset(count);
            let test_set = data.load(Split::Test)?.subset(count);
            let gpu = Gpu::new(options)?;
            let mut store = model(&gpu, &m)?;
            story::reconstructions(&gpu, &mut store, &train_set.images, &test_set.images, &out)?;
        }
        FigureKind::Tsne {
            embedded,
            style,
            space,
            tsne_metrics,
            perplexity,
            size,
            thumb,
            out,
        } => {
            let (y, set) = embedded.load()?;
            let (kl, p) = match &tsne_metrics {
                Some(path) => read_tsne_metrics(path)?,
                None => (None, None),
            };
            let knn = if set.len() > 10 {
                Some(story::knn10(&y, &set.labels)?)
            } else {
                None
            };
            let info = story::TsneInfo {
                space,
                perplexity: p.or(perplexity),
                kl,
                knn_accuracy: knn,
            };
            let title = story::tsne_title(&info, set.len());
            match style {
                TsneStyle::Points => story::tsne_scatter(&y, &set.labels, size, &title, &out)?,
                TsneStyle::Images => story::tsne_image_scatter(
                    &y,
                    &set.images,
                    &set.labels,
                    size,
                    thumb,
                    &title,
                    &out,
                )?,
            }
        }
        FigureKind::Interpolation {
            model: m,
            data,
            split,
            from,
            to,
            steps,
            out,
        } => {
            let set = data.load(split.split())?;
            let (a, b) = (pick(&set, from, "--from")?, pick(&set, to, "--to")?);
            let gpu = Gpu::new(options)?;
            let mut store = model(&gpu, &m)?;
            story::interpolation(&gpu, &mut store, a, b, steps, &out)?;
        }
        FigureKind::Arithmetic {
            model: m,
            data,
            split,
            triples,
            out,
        } => {
            let set = data.load(split.split())?;
            let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
            for t in triples {
                a.extend_from_slice(pick(&set, t[0], "--triple")?);
                b.extend_from_slice(pick(&set, t[1], "--triple")?);
                c.extend_from_slice(pick(&set, t[2], "--triple")?);
            }
            let gpu = Gpu::new(options)?;
            let mut store = model(&gpu, &m)?;
            story::arithmetic(&gpu, &mut store, &a, &b, &c, &out)?;
        }
        FigureKind::Mosaic {
            embedded,
            mode,
            rows,
            cols,
            seams,
            features,
            out,
        } => {
            let (y, set) = embedded.load()?;
            let side = ((set.len() as f64).sqrt().floor() as usize).clamp(1, 40);
            let rows = rows.unwrap_or(side);
            let cols = cols.unwrap_or(rows);
            let loaded;
            let seam_features = match (seams, &features) {
                (false, _) => None,
                (true, None) => Some((&set.images[..], set.pixels())),
                (true, Some(path)) => {
                    let (n, d, f) = latentviz::data::npy::read_f32_2d(path)?;
                    if n != set.len() {
                        bail!(
                            "{} has {n} rows but the embedding has {}",
                            path.display(),
                            set.len()
                        );
                    }
                    loaded = f;
                    Some((&loaded[..], d))
                }
            };
            let mode = match mode {
                MosaicMode::Nearest => story::GridMode::Nearest,
                MosaicMode::OneToOne => story::GridMode::OneToOne,
            };
            story::grid_mosaic(&y, &set.images, rows, cols, mode, seam_features, &out)?;
        }
        FigureKind::FeatureMaps {
            model: m,
            data,
            split,
            index,
            layer,
            out,
        } => {
            let set = data.load(split.split())?;
            let image = pick(&set, index, "--index")?;
            let gpu = Gpu::new(options)?;
            let mut store = model(&gpu, &m)?;
            story::feature_maps(&gpu, &mut store, image, &layer, &out)?;
        }
        FigureKind::Curves {
            metrics,
            title,
            out,
        } => {
            let curves = story::read_train_metrics(&metrics)?;
            story::training_curves(&curves, &title, &out)?;
        }
    }
    eprintln!("wrote {}", out.display());
    Ok(())
}
