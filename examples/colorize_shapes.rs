//! The colorization seed: learn to paint white shapes on grey (red squares, blue circles) from
//! generated data, then draw input | reconstruction | ground truth for ten test images.
//!
//! `cargo run --release --example colorize_shapes -- --out figures/colorize`
//!
//! Writes to `--out`: `colorize.safetensors` (the model), `colorize_rows.png` (the figure),
//! `colorize_loss.png` (train and test BCE per epoch).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use latentviz::app::figures::{self, ImageRef, ImageShape};
use latentviz::data::colorization::{self, SIDE};
use latentviz::graph::ParamStore;
use latentviz::model;
use latentviz::ops::loss::LossKind;
use latentviz::ops::optim::Optimizer;
use latentviz::train::{self, Pairs, TrainConfig};
use latentviz::{Gpu, GpuOptions};

#[derive(Parser, Debug)]
#[command(about = "Train the colorization autoencoder on generated shapes and draw its results")]
struct Args {
    /// Output folder for the model and the figures.
    #[arg(long, default_value = "figures/colorize")]
    out: PathBuf,
    /// Seed of the data, the weights and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Training images (default: 10,000 on a GPU, 2,000 on a CPU adapter).
    #[arg(long)]
    train: Option<usize>,
    /// Test images (default: 1,000 on a GPU, 200 on a CPU adapter).
    #[arg(long)]
    test: Option<usize>,
    /// Epochs (default: 10 on a GPU, 3 on a CPU adapter).
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size (default: 32 on a GPU, 4 on a CPU adapter: there every image costs the same
    /// at any batch size, so small batches buy more updates per minute).
    #[arg(long)]
    batch: Option<usize>,
    /// RMSprop learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// An adapter index or part of its name (see `latentviz info`).
    #[arg(long)]
    adapter: Option<String>,
}

/// Test images drawn in the figure.
const SHOWN: usize = 10;

/// BCE of the best colour-blind per-pixel rule: background pixels (grey in the input) predicted
/// exactly, every shape pixel (white in the input) given the mean colour of all shape pixels.
fn colour_blind_bce(inputs: &[f32], targets: &[f32]) -> f64 {
    let plane = SIDE * SIDE;
    let is_shape = |v: f32| v > 0.9;
    let mut sum = [0f64; 3];
    let mut count = 0usize;
    for (x, y) in inputs.chunks(plane).zip(targets.chunks(3 * plane)) {
        for p in (0..plane).filter(|&p| is_shape(x[p])) {
            for (c, s) in sum.iter_mut().enumerate() {
                *s += y[c * plane + p] as f64;
            }
            count += 1;
        }
    }
    let colour = sum.map(|s| s / count.max(1) as f64);
    let bce = |p: f64, t: f64| {
        let p = p.clamp(1e-7, 1.0 - 1e-7);
        -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
    };
    let mut total = 0.0;
    for (x, y) in inputs.chunks(plane).zip(targets.chunks(3 * plane)) {
        for p in 0..plane {
            for c in 0..3 {
                let t = y[c * plane + p] as f64;
                let guess = if is_shape(x[p]) { colour[c] } else { t };
                total += bce(guess, t);
            }
        }
    }
    total / targets.len() as f64
}

fn main() -> Result<()> {
    let a = Args::parse();
    let gpu = Gpu::new(&GpuOptions {
        adapter: a.adapter.clone(),
    })?;
    // A software rasterizer (lavapipe on two cores) trains 10-15 images a second: smaller
    // defaults there, which still learn to colour the shapes' edges in a few minutes.
    let cpu = gpu.is_cpu();
    let n_train = a.train.unwrap_or(if cpu { 1_000 } else { 10_000 });
    let n_test = a.test.unwrap_or(if cpu { 200 } else { 1_000 });
    let epochs = a.epochs.unwrap_or(if cpu { 3 } else { 10 });
    let batch = a.batch.unwrap_or(if cpu { 4 } else { 32 });
    if n_train == 0 || n_test == 0 || epochs == 0 || batch == 0 {
        bail!("--train, --test, --epochs and --batch must be at least 1");
    }
    println!(
        "{}{}: {n_train} train / {n_test} test images, {epochs} epochs, batch {}, RMSprop lr {}",
        gpu.describe(),
        if cpu {
            " (CPU adapter: small defaults)"
        } else {
            ""
        },
        batch,
        a.lr
    );
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;

    // Train and test sets from different streams of the one seed.
    let (train_x, train_y) = colorization::generate(n_train, a.seed);
    let (test_x, test_y) = colorization::generate(n_test, a.seed ^ 0x5EED_7E57);
    let cfg = TrainConfig {
        epochs,
        batch,
        optimizer: Optimizer::rmsprop(a.lr),
        loss: LossKind::BceWithLogits,
        seed: a.seed,
        loss_every: 10,
        progress: false,
    };
    let mut store = ParamStore::new(a.seed);
    let start = Instant::now();
    let history = train::train_pairs(
        &gpu,
        &mut store,
        model::colorize_autoencoder,
        Pairs {
            inputs: &train_x,
            targets: &train_y,
        },
        Pairs {
            inputs: &test_x,
            targets: &test_y,
        },
        &cfg,
        |m| {
            println!("{m} (of {epochs}; BCE)");
            Ok(())
        },
    )?;
    let last = history.last().expect("at least one epoch");
    println!(
        "trained in {:.1} s; test BCE {:.4} against: mean image {:.4}, colour-blind rule {:.4} \
         (below it the network tells squares from circles), floor {:.4} (exact prediction)",
        start.elapsed().as_secs_f64(),
        last.test_loss,
        last.mean_image_loss,
        colour_blind_bce(&test_x, &test_y),
        train::bce_floor(&test_y)
    );

    let model_path = a.out.join("colorize.safetensors");
    let metadata = [
        ("model", "colorize_autoencoder".to_string()),
        ("epochs", epochs.to_string()),
        ("batch", batch.to_string()),
        ("train_images", n_train.to_string()),
        ("seed", a.seed.to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v));
    store.save(&gpu, &model_path, &metadata)?;

    // The figure: input | reconstruction | ground truth for the first test images.
    let shown = SHOWN.min(n_test);
    let grey = ImageShape::grey(SIDE, SIDE);
    let rgb = ImageShape::rgb(SIDE, SIDE);
    let colour = train::infer(
        &gpu,
        &mut store,
        model::colorize_autoencoder,
        &test_x[..shown * grey.len()],
        shown,
    )?;
    let inputs = ImageRef::split(&test_x[..shown * grey.len()], grey)?;
    let outputs = ImageRef::split(&colour, rgb)?;
    let truths = ImageRef::split(&test_y[..shown * rgb.len()], rgb)?;
    let rows: Vec<Vec<ImageRef>> = (0..shown)
        .map(|i| vec![inputs[i], outputs[i], truths[i]])
        .collect();
    let figure = a.out.join("colorize_rows.png");
    figures::rows_strip(
        &rows,
        3,
        None,
        Some(&["input", "reconstruction", "ground truth"]),
        &figure,
    )?;
    let curves = a.out.join("colorize_loss.png");
    let train_loss: Vec<f64> = history.iter().map(|m| m.train_loss).collect();
    let test_loss: Vec<f64> = history.iter().map(|m| m.test_loss).collect();
    figures::loss_curves(&train_loss, &test_loss, "colorization BCE", &curves)?;
    println!(
        "wrote {}, {} and {}",
        model_path.display(),
        figure.display(),
        curves.display()
    );
    Ok(())
}
