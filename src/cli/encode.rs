//! `latentviz encode`: latent codes of MNIST images from a trained model, and their labels.

use std::path::PathBuf;

use anyhow::{Result, bail};

use latentviz::{Gpu, GpuOptions};

use super::args::{DataArg, SplitArg};

#[derive(clap::Args)]
pub struct EncodeArgs {
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

pub fn run(options: &GpuOptions, a: EncodeArgs) -> Result<()> {
    let split = a.split.split();
    let set = a.data.load(split)?;
    let side = set.rows * set.cols;
    let n = set.labels.len();
    let n = match a.subset {
        Some(0) => bail!("--subset must be at least 1"),
        Some(k) if k > n => bail!("--subset {k}: the {split:?} split has only {n} images"),
        Some(k) => k,
        None => n,
    };
    let mut outputs = vec![("--out", a.out.as_path())];
    if let Some(path) = &a.labels_out {
        outputs.push(("--labels-out", path.as_path()));
    }
    latentviz::io::check_outputs(&outputs)?;
    let gpu = Gpu::new(options)?;
    let mut store = latentviz::app::story::load_model(&gpu, &a.model)?;
    let started = std::time::Instant::now();
    let codes = latentviz::app::story::encode(&gpu, &mut store, &set.images[..n * side])?;
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
