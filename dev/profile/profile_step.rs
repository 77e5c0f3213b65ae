//! Print where one training step of the seed MNIST autoencoder spends its time.
//! `cargo run --release --example profile_step -- [batch]`
fn main() -> anyhow::Result<()> {
    let batch: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(64);
    let gpu = latentviz::Gpu::new(&Default::default())?;
    let (times, whole) = latentviz::app::bench::step::profile_mnist_step(&gpu, batch, 3)?;
    let total: f64 = times.iter().map(|t| t.seconds).sum();
    println!(
        "{} at batch {batch}: whole step {:.1} ms (sum of parts {:.1} ms)",
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
