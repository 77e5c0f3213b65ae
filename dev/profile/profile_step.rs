//! Print where one training step of the seed MNIST autoencoder spends its time.
//! `cargo run --release --example profile_step -- [batch] [--no-fuse]` (`--no-fuse`: the graph
//! as built, without the executor's fusion pass).
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fuse = !args.iter().any(|a| a == "--no-fuse");
    let batch: usize = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(64);
    let gpu = latentviz::Gpu::new(&Default::default())?;
    let options = latentviz::graph::ExecOptions { fuse };
    let (times, whole) = latentviz::app::bench::step::profile_mnist_step(&gpu, batch, 3, options)?;
    let total: f64 = times.iter().map(|t| t.seconds).sum();
    let fused = if fuse { "fused" } else { "unfused" };
    println!(
        "{} at batch {batch}, {fused}: whole step {:.1} ms (sum of parts {:.1} ms)",
        gpu.describe(),
        whole * 1e3,
        total * 1e3
    );
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    for t in sorted {
        println!(
            "{:>8.2} ms {:>5.1}%  {:>7.2} GFLOP/s  {}",
            t.seconds * 1e3,
            100.0 * t.seconds / total,
            t.flops / t.seconds / 1e9,
            t.label
        );
    }
    Ok(())
}
