//! `latentviz explore`: write the interactive explorer page of an embedding (`app::explore`).

use std::path::PathBuf;

use anyhow::Result;

use latentviz::app::explore::{self, ExploreJob};
use latentviz::{Gpu, GpuOptions};

use super::args::SplitArg;

#[derive(clap::Args)]
pub struct ExploreArgs {
    /// The embedding (N × 2 .npy), e.g. from `latentviz tsne --out`.
    #[arg(long)]
    embedding: PathBuf,
    /// A directory with the MNIST IDX files: the embedded images are the first N of --split.
    #[arg(long, conflicts_with = "images")]
    mnist: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    split: SplitArg,
    /// The number of images embedded (default: the embedding's rows).
    #[arg(long)]
    subset: Option<usize>,
    /// Or the images as an N×H×W or N×C×H×W .npy (uint8, or float in [0, 1]).
    #[arg(long)]
    images: Option<PathBuf>,
    /// Class labels (1-D integer .npy, 0-255); MNIST brings its own.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// The folder `latentviz tsne --snapshots` wrote: the page replays the optimization.
    #[arg(long)]
    snapshots: Option<PathBuf>,
    /// `latentviz tsne --metrics` output: the KL shown on the timeline.
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// The vectors that were embedded (N × D .npy), for the nearest neighbours in the original
    /// space (default: the images' pixels).
    #[arg(long)]
    vectors: Option<PathBuf>,
    /// The page's title (default: the embedding's file name).
    #[arg(long)]
    title: Option<String>,
    /// Where to write the HTML page.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(options: &GpuOptions, a: ExploreArgs) -> Result<()> {
    let job = ExploreJob {
        embedding: a.embedding,
        mnist: a.mnist,
        split: Some(a.split.split()),
        subset: a.subset,
        images: a.images,
        labels: a.labels,
        snapshots: a.snapshots,
        metrics: a.metrics,
        vectors: a.vectors,
        title: a.title,
        out: a.out,
    };
    let gpu = Gpu::new(options)?;
    let data = explore::run(&gpu, &job)?;
    let size = std::fs::metadata(&job.out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "wrote {} ({} points, {:.1} MB)",
        job.out.display(),
        data.positions.len() / 2,
        size as f64 / 1e6
    );
    Ok(())
}
