//! `latentviz bench`: check every kernel against its CPU reference, then time it at the seed
//! model's shapes.

use std::path::PathBuf;

use anyhow::{Result, bail};

use latentviz::{Gpu, GpuOptions};

#[derive(clap::Args)]
pub struct BenchArgs {
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

pub fn run(options: &GpuOptions, a: BenchArgs) -> Result<()> {
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
    // The seed model at this batch must fit the adapter's buffers, as every case does.
    for node in &latentviz::model::mnist_autoencoder(a.batch)?.graph.nodes {
        let what = format!(
            "--batch {}: {} of shape {:?}",
            a.batch, node.name, node.shape
        );
        gpu.check_storage_bytes(&what, node.len() as u64 * 4)?;
    }
    let cases = latentviz::app::bench::seed_cases(&gpu, a.batch, a.filter.as_deref())?;
    println!(
        "{:<52} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "kernel", "max err", "ms", "GFLOP/s", "× naive", "× CPU"
    );
    let mut lines = String::new();
    let mut worst = 0.0f64;
    for case in &cases {
        let r = latentviz::app::bench::run_case(&gpu, case, a.reps)?;
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
        let (times, whole) = latentviz::app::bench::step::profile_mnist_step(
            &gpu,
            a.batch,
            a.reps,
            Default::default(),
        )?;
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
