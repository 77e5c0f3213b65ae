//! The scatter matrix S = Xcᵀ Xc of PCA, and the whole `pca` to 50 components, timed with the
//! subgroup matmul over all of S (`ScatterKernel::MatmulFull`, what `pca` ran before), over its
//! tiles on or above the diagonal only (`MatmulUpper`) and with the uniform scatter kernel
//! (`Uniform`, the default on CPU adapters from 256 features; also with zeros skipped,
//! `pca::scatter::ZeroPlan`, what `pca` runs with it), alternating in the same run
//! (wall and process CPU seconds, after a warm-up that compiles the pipelines). GFLOP/s are
//! "effective": 2 · N · dp² flops of the whole S over the time taken, whichever kernel ran.
//! `--gram` also times the fallback Gram kernel (slow); `--no-pca` times only the scatter.
//! Input: N × 784 uniform [0, 1] values, or `--mnist DIR`: the first N images of MNIST.
//! `cargo run --release --example profile_pca -- [N] [--mnist DIR] [--reps R] [--gram] [--no-pca]`
use std::time::Instant;

use latentviz::pca::{self, ScatterKernel};

use latentviz::app::bench::cpu_seconds;

/// Largest difference of `s` from the first scatter matrix timed, relative to 1 + |entry|.
fn diff_to(reference: &Option<Vec<f32>>, s: &[f32]) -> f32 {
    reference.as_ref().map_or(0.0, |r| {
        r.iter()
            .zip(s)
            .map(|(a, b)| (a - b).abs() / (1.0 + a.abs()))
            .fold(0f32, f32::max)
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let n: usize = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let reps: usize = value("--reps").map(|s| s.parse()).transpose()?.unwrap_or(2);
    let gpu = latentviz::Gpu::new(&Default::default())?;
    let (x, d) = if let Some(dir) = value("--mnist") {
        let all = latentviz::data::mnist::load(
            std::path::Path::new(dir),
            latentviz::data::mnist::Split::All,
        )?;
        let images = all.subset(n);
        let px = images.pixels();
        (images.images, px)
    } else {
        (latentviz::rng::Rng::new(7).vec(n * 784, 0.0, 1.0), 784)
    };
    let n = x.len() / d;
    let k = 50;
    let dp = d.div_ceil(8) * 8;
    let full_flops = 2.0 * n as f64 * (dp * dp) as f64;
    println!(
        "{} — N = {n}, d = {d} (dp = {dp}), k = {k}; S = {:.1} GFLOP",
        gpu.describe(),
        full_flops * 1e-9
    );
    let mut kernels = vec![
        ScatterKernel::MatmulFull,
        ScatterKernel::MatmulUpper,
        ScatterKernel::Uniform,
    ];
    if flag("--gram") {
        kernels.push(ScatterKernel::Gram);
    }
    kernels.retain(|k| k.supported(&gpu, d));
    // Warm-up: compile every pipeline on a small subset.
    let small = n.min(500);
    for &kernel in &kernels {
        pca::pca_with(&gpu, &x[..small * d], small, d, k.min(d), 0, kernel)?;
    }
    let mut reference: Option<Vec<f32>> = None;
    for rep in 0..reps {
        for &kernel in &kernels {
            let slices = pca::scatter::upload_padded(&gpu, &x, n, d)?;
            let mean = gpu.storage("mean", dp);
            let scatter = gpu.storage("scatter", dp * dp);
            let (wall, cpu) = (Instant::now(), cpu_seconds());
            let s = pca::scatter::centred_scatter(&gpu, &slices, &mean, &scatter, kernel)?;
            let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
            // The matmul kernels agree bit for bit; the Gram and uniform kernels (other f32 sums)
            // to rounding, up to ~1e-2 of an entry at 70,000 rows (the matmul sums each slice in
            // one long f32 loop; the uniform kernel in chunks of 64 rows, far closer to f64).
            let diff = diff_to(&reference, &s);
            reference.get_or_insert(s);
            println!(
                "rep {rep} {kernel:?}: centre + scatter ({} slices) {wall:.2} s wall, {cpu:.2} s \
                 CPU, {:.2} GFLOP/s effective; max rel diff to the first {diff:.1e}",
                slices.slices.len(),
                full_flops / wall * 1e-9
            );
            drop(slices);
            if kernel == ScatterKernel::Uniform {
                // The same S with the zeros skipped (pca_with's path for this kernel); the plan
                // and the shifted, sorted upload timed apart.
                let (wall, cpu) = (Instant::now(), cpu_seconds());
                let plan = pca::scatter::ZeroPlan::new(&x, n, d);
                let slices = pca::scatter::upload_padded_in(&gpu, &x, n, d, Some(&plan), None)?;
                let prepared = wall.elapsed().as_secs_f64();
                let s = pca::scatter::planned_scatter(&gpu, &slices, &plan, &scatter)?;
                let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
                let diff = diff_to(&reference, &s);
                println!(
                    "rep {rep} Uniform, zeros skipped: plan + upload {prepared:.2} s, scatter {:.2} \
                     s wall ({cpu:.2} s CPU in all); max rel diff to the first {diff:.1e}",
                    wall - prepared
                );
            }
            if !flag("--no-pca") {
                let (wall, cpu) = (Instant::now(), cpu_seconds());
                pca::pca_with(&gpu, &x, n, d, k.min(d), 0, kernel)?;
                println!(
                    "rep {rep} {kernel:?}: whole pca {:.2} s wall, {:.2} s CPU",
                    wall.elapsed().as_secs_f64(),
                    cpu_seconds() - cpu
                );
            }
        }
    }
    Ok(())
}
