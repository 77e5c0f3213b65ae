//! `latentviz train`: train the seed MNIST autoencoder and save its weights.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;

use latentviz::data::mnist::Split;
use latentviz::graph::ParamStore;
use latentviz::ops::loss::LossKind;
use latentviz::ops::optim::Optimizer;
use latentviz::train::{self, TrainConfig};
use latentviz::{Gpu, GpuOptions, model};

use super::args::DataArg;

#[derive(Clone, Copy, ValueEnum)]
pub enum OptimizerArg {
    Rmsprop,
    Adam,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LossArg {
    Bce,
    Mse,
}

#[derive(clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArg,
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

pub fn run(options: &GpuOptions, a: TrainArgs) -> Result<()> {
    if !(a.lr.is_finite() && a.lr > 0.0) {
        bail!("--lr must be a positive number, not {}", a.lr);
    }
    for (flag, value) in [
        ("--epochs", Some(a.epochs)),
        ("--batch", Some(a.batch)),
        ("--loss-every", Some(a.loss_every)),
        ("--limit", a.limit),
        ("--test-limit", a.test_limit),
    ] {
        if value == Some(0) {
            bail!("{flag} must be at least 1");
        }
    }
    let mut train_set = a.data.load(Split::Train)?;
    let mut test_set = a.data.load(Split::Test)?;
    if let Some(n) = a.limit {
        train_set = train_set.subset(n);
    }
    if let Some(n) = a.test_limit {
        test_set = test_set.subset(n);
    }
    // Fail on an unwritable output before hours of training, not after.
    let mut outputs = vec![("--out", a.out.as_path())];
    if let Some(m) = &a.metrics {
        outputs.push(("--metrics", m.as_path()));
    }
    latentviz::io::check_outputs(&outputs)?;
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
    // A metrics file that cannot be written must not cost the trained model: the failure is
    // reported after the model is saved (a later epoch's successful write clears it).
    let mut metrics_error = None;
    train::train_autoencoder(
        &gpu,
        &mut store,
        model::mnist_autoencoder,
        &train_set.images,
        &test_set.images,
        &cfg,
        |m| {
            eprintln!("{m}");
            if let Some(path) = &a.metrics {
                lines.push_str(&serde_json::to_string(m).expect("serializable"));
                lines.push('\n');
                metrics_error = latentviz::io::write_bytes_atomic(path, lines.as_bytes()).err();
                if let Some(e) = &metrics_error {
                    eprintln!("warning: {e}; training goes on");
                }
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
    if let Some(e) = metrics_error {
        return Err(anyhow::Error::new(e).context(format!(
            "the model was saved to {}, but the metrics were not written",
            a.out.display()
        )));
    }
    Ok(())
}
