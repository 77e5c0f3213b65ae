//! The MNIST latent-space story, end to end: train the seed autoencoder (or load one), embed the
//! pixels and the latent codes of N test images with t-SNE, and write every figure to `--out`.
//!
//!     cargo run --release --example mnist_latent -- --data DIR --out figures/
//!
//! On a CPU adapter (lavapipe) the sizes are cut so that the whole story takes a few minutes; on
//! a GPU they are the seed's (60,000 training images, 20 epochs, 10,000 t-SNE points). Every size
//! can be set by a flag; what was chosen is printed first.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;

use latentviz::app::explore;
use latentviz::app::figures::ImageShape;
use latentviz::app::story::{self, GridMode, TsneInfo};
use latentviz::data::mnist::{self, Split};
use latentviz::data::npy;
use latentviz::graph::ParamStore;
use latentviz::model::{self, MNIST_LATENT};
use latentviz::ops::loss::LossKind;
use latentviz::ops::optim::Optimizer;
use latentviz::train::{self, TrainConfig};
use latentviz::tsne::{self, TsneConfig};
use latentviz::{Gpu, GpuOptions};

#[derive(Parser)]
#[command(about = "The MNIST latent-space story: train, embed, and draw every figure")]
struct Args {
    /// Directory with the MNIST IDX files. Default: the download cache (`latentviz data mnist`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where the model, the metrics, the embeddings and the figures go.
    #[arg(long, default_value = "figures")]
    out: PathBuf,
    /// Load this model instead of training one.
    #[arg(long)]
    model: Option<PathBuf>,
    /// With --model: its `latentviz train --metrics` file, for the training-curves figure.
    #[arg(long, requires = "model")]
    metrics: Option<PathBuf>,
    #[arg(long)]
    train_images: Option<usize>,
    /// Test images the per-epoch test loss is measured on.
    #[arg(long)]
    test_images: Option<usize>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch: Option<usize>,
    /// Test images embedded by t-SNE (pixel space and latent space).
    #[arg(long)]
    tsne_points: Option<usize>,
    /// t-SNE iterations.
    #[arg(long)]
    iterations: Option<usize>,
    #[arg(long, default_value_t = 30.0)]
    perplexity: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Adapter: an index from `latentviz info` or part of its name.
    #[arg(long)]
    adapter: Option<String>,
    /// Also write explore_pixels.html and explore_latent.html: the two t-SNE maps as explorer
    /// pages (`latentviz explore`), neighbours in pixel and in latent space.
    #[arg(long)]
    explore: bool,
}

/// The sizes the story runs at.
#[derive(Debug)]
struct Sizes {
    train_images: usize,
    test_images: usize,
    epochs: usize,
    batch: usize,
    tsne_points: usize,
    iterations: usize,
}

impl Sizes {
    /// Seed sizes on a GPU; on a CPU adapter, sizes that finish in a few minutes.
    fn defaults(cpu: bool) -> Sizes {
        if cpu {
            Sizes {
                train_images: 1536,
                test_images: 500,
                epochs: 3,
                batch: 32,
                tsne_points: 1000,
                iterations: 1000,
            }
        } else {
            Sizes {
                train_images: 60_000,
                test_images: 10_000,
                epochs: 20,
                batch: 256,
                tsne_points: 10_000,
                iterations: 1000,
            }
        }
    }
}

/// Stage timer: prints each stage as it starts and its seconds when it ends.
struct Stages {
    start: Instant,
    current: Option<(String, Instant)>,
    done: Vec<(String, f64)>,
}

impl Stages {
    fn new() -> Stages {
        Stages {
            start: Instant::now(),
            current: None,
            done: Vec::new(),
        }
    }
    fn begin(&mut self, name: &str) {
        self.end();
        println!("== {name}");
        self.current = Some((name.to_string(), Instant::now()));
    }
    fn end(&mut self) {
        if let Some((name, t)) = self.current.take() {
            let s = t.elapsed().as_secs_f64();
            println!("   {name}: {s:.1} s");
            self.done.push((name, s));
        }
    }
    fn summary(&mut self) {
        self.end();
        println!("== times");
        for (name, s) in &self.done {
            println!("   {name:<28} {s:>7.1} s");
        }
        println!(
            "   {:<28} {:>7.1} s",
            "total",
            self.start.elapsed().as_secs_f64()
        );
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut stages = Stages::new();
    let out = &args.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let data = args
        .data
        .clone()
        .unwrap_or_else(latentviz::data::download::default_cache_dir);

    stages.begin("setup");
    let gpu = Gpu::new(&GpuOptions {
        adapter: args.adapter.clone(),
    })?;
    let cpu = gpu.is_cpu();
    let d = Sizes::defaults(cpu);
    let sizes = Sizes {
        train_images: args.train_images.unwrap_or(d.train_images),
        test_images: args.test_images.unwrap_or(d.test_images),
        epochs: args.epochs.unwrap_or(d.epochs),
        batch: args.batch.unwrap_or(d.batch),
        tsne_points: args.tsne_points.unwrap_or(d.tsne_points),
        iterations: args.iterations.unwrap_or(d.iterations),
    };
    println!(
        "adapter: {} ({} sizes{})",
        gpu.describe(),
        if cpu { "CPU" } else { "GPU" },
        if cpu {
            ", cut to finish in a few minutes"
        } else {
            ""
        }
    );
    let model_part = match &args.model {
        Some(m) => format!("model {}", m.display()),
        None => format!(
            "{} training images, {} epochs, batch {}, test loss on {} images",
            sizes.train_images, sizes.epochs, sizes.batch, sizes.test_images
        ),
    };
    println!(
        "sizes: {model_part}; t-SNE of {} test images, {} iterations, perplexity {}; seed {}",
        sizes.tsne_points, sizes.iterations, args.perplexity, args.seed
    );
    if sizes.tsne_points < 12 {
        bail!("--tsne-points must be at least 12 (the figures report the 10-NN accuracy)");
    }

    stages.begin("load MNIST");
    let train_set = mnist::load(&data, Split::Train)?;
    let test_set = mnist::load(&data, Split::Test)?;
    let train_images = train_set.subset(sizes.train_images);
    println!(
        "   {} training and {} test images from {}",
        train_images.len(),
        test_set.len(),
        data.display()
    );

    // The model: trained here (saving weights and metrics) or loaded.
    let model_path = out.join("model.safetensors");
    let metrics_path = out.join("train_metrics.jsonl");
    let (mut store, curves_from) = match &args.model {
        Some(path) => {
            stages.begin("load model");
            (story::load_model(&gpu, path)?, args.metrics.clone())
        }
        None => {
            stages.begin("train");
            let store = train_model(&gpu, &train_images, &test_set, &sizes, args.seed, out)?;
            println!(
                "   saved {} and {}",
                model_path.display(),
                metrics_path.display()
            );
            (store, Some(metrics_path))
        }
    };

    // The N test images both t-SNE runs embed, and their latent codes.
    stages.begin("encode test images");
    let n = sizes.tsne_points.min(test_set.len());
    let points = test_set.subset(n);
    let codes = story::encode(&gpu, &mut store, &points.images)?;
    npy::write_f32_2d(&out.join("latent_codes.npy"), n, MNIST_LATENT, &codes)?;
    npy::write_labels_u8(&out.join("labels.npy"), &points.labels)?;

    stages.begin("t-SNE of pixel space");
    let y_pixels = embed(
        &gpu,
        &points.images,
        n,
        points.pixels(),
        Some(50),
        &sizes,
        &args,
        &out.join("tsne_pixels.npy"),
    )?;
    stages.begin("t-SNE of latent space");
    let y_latent = embed(
        &gpu,
        &codes,
        n,
        MNIST_LATENT,
        None,
        &sizes,
        &args,
        &out.join("tsne_latent.npy"),
    )?;

    stages.begin("figures: data and model");
    let fig = |name: &str| out.join(name);
    story::preview(
        &train_set.images[..4 * train_set.pixels()],
        &fig("preview.png"),
    )?;
    story::reconstructions(
        &gpu,
        &mut store,
        &train_set.subset(10).images,
        &test_set.subset(10).images,
        &fig("reconstructions.png"),
    )?;
    // Interpolate between two different digits; arithmetic on three triples of test images.
    let (a, b) = first_of(&test_set, 2)
        .zip(first_of(&test_set, 7))
        .unwrap_or((0, 1));
    story::interpolation(
        &gpu,
        &mut store,
        test_set.image(a),
        test_set.image(b),
        10,
        &fig("interpolation.png"),
    )?;
    let triples = [(7, 1, 4), (8, 3, 0), (9, 4, 7)];
    let (mut ta, mut tb, mut tc) = (Vec::new(), Vec::new(), Vec::new());
    for (x, y, z) in triples {
        let idx = |digit| first_of(&test_set, digit).unwrap_or(0);
        ta.extend_from_slice(test_set.image(idx(x)));
        tb.extend_from_slice(test_set.image(idx(y)));
        tc.extend_from_slice(test_set.image(idx(z)));
    }
    story::arithmetic(&gpu, &mut store, &ta, &tb, &tc, &fig("arithmetic.png"))?;
    let maps = story::conv_activations(&gpu, &mut store, test_set.image(0))?;
    for m in &maps {
        story::feature_maps_figure(m, &fig(&format!("feature_maps_{}.png", m.layer)))?;
    }
    match &curves_from {
        Some(path) => {
            let curves = story::read_train_metrics(path)?;
            story::training_curves(
                &curves,
                &format!(
                    "MNIST autoencoder: BCE loss per epoch ({} training images)",
                    sizes.train_images.min(train_set.len())
                ),
                &fig("training_curves.png"),
            )?;
        }
        None => println!("   no metrics file (--metrics): training_curves.png skipped"),
    }

    stages.begin("figures: t-SNE");
    let (canvas, thumb) = if n <= 2500 { (1400, 26) } else { (2400, 24) };
    for (space, file, y) in [
        ("pixel space", "pixels", &y_pixels),
        ("latent space", "latent", &y_latent),
    ] {
        let title = story::tsne_title(
            &TsneInfo {
                space: space.to_string(),
                perplexity: Some(args.perplexity),
                kl: Some(y.kl),
                knn_accuracy: Some(story::knn10(&y.y, &points.labels)?),
            },
            n,
        );
        println!("   {title}");
        story::tsne_scatter(
            &y.y,
            &points.labels,
            1000,
            &title,
            &fig(&format!("tsne_{file}_points.png")),
        )?;
        story::tsne_image_scatter(
            &y.y,
            &points.images,
            &points.labels,
            canvas,
            thumb,
            &title,
            &fig(&format!("tsne_{file}_images.png")),
        )?;
    }
    if args.explore {
        stages.begin("explorer pages");
        for (space, file, y, x, d) in [
            (
                "pixel space",
                "pixels",
                &y_pixels,
                &points.images,
                points.pixels(),
            ),
            ("latent space", "latent", &y_latent, &codes, MNIST_LATENT),
        ] {
            let path = fig(&format!("explore_{file}.html"));
            let data = explore::PageData {
                title: format!("t-SNE of {n} MNIST test images, {space}"),
                positions: y.y.clone(),
                labels: Some(points.labels.iter().map(|&l| u32::from(l)).collect()),
                images: Some((points.images.clone(), ImageShape::grey(28, 28))),
                snapshots: None,
                kl: y.kl_history.clone(),
                neighbours: Some(explore::neighbours(&gpu, x, n, d)?),
            };
            explore::write_page(&path, &data)?;
            println!("   {}", path.display());
        }
    }

    stages.begin("figures: grid mosaics");
    // Nearest: a 40 × 40 grid over every point. One-to-one: a 30 × 30 grid (or less) filled from
    // at most 4 × 900 points, so the exact assignment stays a few seconds.
    let side = 40.min((n as f64).sqrt() as usize);
    story::grid_mosaic(
        &y_latent.y,
        &points.images,
        side,
        side,
        GridMode::Nearest,
        Some((&codes, MNIST_LATENT)),
        &fig("mosaic_latent_nearest.png"),
    )?;
    let side = 30.min((n as f64).sqrt() as usize);
    let m = n.min(4 * side * side);
    for (file, y, features, dim) in [
        ("latent", &y_latent, &codes[..], MNIST_LATENT),
        ("pixels", &y_pixels, &points.images[..], points.pixels()),
    ] {
        story::grid_mosaic(
            &y.y[..2 * m],
            &points.images[..m * points.pixels()],
            side,
            side,
            GridMode::OneToOne,
            Some((&features[..m * dim], dim)),
            &fig(&format!("mosaic_{file}_one_to_one.png")),
        )?;
    }
    stages.summary();
    println!("figures in {}", out.display());
    Ok(())
}

/// Index of the first image of `digit`.
fn first_of(set: &mnist::Mnist, digit: u8) -> Option<usize> {
    set.labels.iter().position(|&l| l == digit)
}

fn train_model(
    gpu: &Gpu,
    train_images: &mnist::Mnist,
    test_set: &mnist::Mnist,
    sizes: &Sizes,
    seed: u64,
    out: &Path,
) -> Result<ParamStore> {
    let test = test_set.subset(sizes.test_images);
    let cfg = TrainConfig {
        epochs: sizes.epochs,
        batch: sizes.batch,
        optimizer: Optimizer::rmsprop(1e-3),
        loss: LossKind::BceWithLogits,
        seed,
        loss_every: 10,
        progress: true,
    };
    let metrics_path = out.join("train_metrics.jsonl");
    let mut lines = String::new();
    let mut store = ParamStore::new(seed);
    train::train_autoencoder(
        gpu,
        &mut store,
        model::mnist_autoencoder,
        &train_images.images,
        &test.images,
        &cfg,
        |m| {
            println!("   {m}");
            lines.push_str(&serde_json::to_string(m).expect("serializable"));
            lines.push('\n');
            latentviz::io::write_bytes_atomic(&metrics_path, lines.as_bytes())
        },
    )?;
    let metadata = vec![
        ("model".to_string(), "mnist_autoencoder".to_string()),
        ("epochs".to_string(), sizes.epochs.to_string()),
        ("seed".to_string(), seed.to_string()),
    ];
    store.save(gpu, &out.join("model.safetensors"), &metadata)?;
    Ok(store)
}

/// t-SNE of `x` (n × d), written to `path`; prints KL and the time per phase.
#[allow(clippy::too_many_arguments)]
fn embed(
    gpu: &Gpu,
    x: &[f32],
    n: usize,
    d: usize,
    pca: Option<usize>,
    sizes: &Sizes,
    args: &Args,
    path: &Path,
) -> Result<tsne::Embedding> {
    let config = TsneConfig {
        perplexity: args.perplexity,
        iterations: sizes.iterations,
        seed: args.seed,
        pca,
        ..TsneConfig::default()
    };
    let y = tsne::fit(gpu, x, n, d, &config)?;
    let t = y.times;
    println!(
        "   {n} points, {d}-D{}, {:?}: KL {:.4} (pca {:.1} s, knn {:.1} s, affinity {:.1} s, \
         init {:.1} s, optimize {:.1} s)",
        pca.map(|k| format!(" (PCA to {k})")).unwrap_or_default(),
        y.method,
        y.kl,
        t.pca_s,
        t.knn_s,
        t.affinity_s,
        t.init_s,
        t.optimize_s
    );
    npy::write_f32_2d(path, n, 2, &y.y)?;
    Ok(y)
}
