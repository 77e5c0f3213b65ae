//! Per-stage times of one FFT-interpolated t-SNE repulsion call (`tsne::fft`), and its force
//! error against the exact sums on a sample of points.
//! `cargo run --release --example profile_fft -- [n = 70000] [span = 100] [reps = 3]`
//! `cargo run --release --example profile_fft -- Y.npy [reps = 3]` (a saved 2-D embedding)
//!
//! The layout is ten Gaussian clusters (what a t-SNE embedding looks like) scaled so that its
//! bounding box spans about `span` units, or the embedding in an .npy file (say the `--out` of
//! `latentviz tsne`); the grid is the one `refresh` picks after a first run sized by
//! `set_span_hint(span)`, as in the optimizer. Each
//! dispatch is submitted and waited for on its own, in pipeline order (so every stage sees the
//! data it would see in a real call), wall-clock timed; the best of `reps` sweeps is kept. The
//! whole call is also timed as one pass (`Timer`, timestamps where the adapter has them).
//! `FFT_MAX_LEN=L` caps the FFT length (`set_max_fft_len`), to time the grids `refresh` did not
//! pick.
use std::collections::BTreeMap;
use std::time::Instant;

use latentviz::rng::Rng;
use latentviz::tsne::fft::FftRepulsion;

/// CPU time of every thread of this process (lavapipe's workers included), in seconds, from
/// /proc/self/task/*/schedstat (Linux; None elsewhere): unlike wall time, it barely depends on
/// what else the machine runs.
fn process_cpu_seconds() -> Option<f64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 * 1e-9)
}

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args()
        .nth(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let file = std::env::args().nth(1).filter(|a| a.ends_with(".npy"));
    let (n, span, reps) = match &file {
        Some(_) => (0, 0.0, arg(2, 3usize).max(1)),
        None => (arg(1, 70_000usize), arg(2, 100.0f32), arg(3, 3usize).max(1)),
    };
    let gpu = latentviz::Gpu::new(&Default::default())?;
    println!("{}", gpu.describe());

    let (n, y) = match &file {
        Some(path) => {
            let (rows, cols, y) = latentviz::data::npy::read_f32_2d(std::path::Path::new(path))?;
            anyhow::ensure!(cols == 2, "{path}: {rows} x {cols}, want a 2-D embedding");
            (rows, y)
        }
        None => {
            // Ten clusters, centres in [-0.42 span, 0.42 span]^2, sigma span / 60.
            let mut rng = Rng::new(7);
            let centres = rng.vec(20, -0.42 * span, 0.42 * span);
            let sigma = span / 60.0;
            let mut y = Vec::with_capacity(2 * n);
            for _ in 0..n {
                let b = rng.below(10);
                for d in 0..2 {
                    y.push(centres[2 * b + d] + sigma * rng.normal() as f32);
                }
            }
            (n, y)
        }
    };
    let actual = (0..2)
        .map(|d| {
            let v = y.iter().skip(d).step_by(2);
            v.clone().cloned().fold(f32::MIN, f32::max) - v.cloned().fold(f32::MAX, f32::min)
        })
        .fold(0.0, f32::max);

    // As the optimizer does: a grid from the span, then one from what a run measured.
    let mut rep = FftRepulsion::new(&gpu, n, 2)?;
    if let Some(max) = std::env::var("FFT_MAX_LEN")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        rep.set_max_fft_len(&gpu, max)?;
    }
    rep.set_span_hint(&gpu, actual)?;
    let positions = gpu.storage_from("positions", &y);
    let out = gpu.storage("out", 3 * n);
    let first = rep.record(&gpu, &positions, &out)?;
    gpu.run("sizing run", &first.iter().collect::<Vec<_>>())?;
    rep.refresh(&gpu)?;
    let start = Instant::now();
    let d = rep.record(&gpu, &positions, &out)?;
    let record_s = start.elapsed().as_secs_f64();
    println!(
        "N = {n}, span {actual:.1}: FFT {}^2, {} intervals of width {:.3}, {} dispatches",
        rep.fft_len(),
        rep.intervals(),
        actual / rep.intervals() as f32,
        d.len()
    );
    println!(
        "record (compiles the pipelines on first use): {:.2} s",
        record_s
    );
    let all: Vec<_> = d.iter().collect();
    let start = Instant::now();
    gpu.run("warm-up", &all)?;
    println!(
        "first run (includes the driver's shader compiles, if lazy): {:.2} s",
        start.elapsed().as_secs_f64()
    );
    println!("measured: {:?}", rep.measured(&gpu)?);

    // Per-dispatch wall-clock and CPU times (all threads), best of `reps` sweeps.
    let mut best = vec![f64::INFINITY; d.len()];
    let mut best_cpu = vec![f64::INFINITY; d.len()];
    for _ in 0..reps {
        for (k, dispatch) in d.iter().enumerate() {
            let cpu0 = process_cpu_seconds().unwrap_or(0.0);
            let start = Instant::now();
            gpu.run("stage", &[dispatch])?;
            best[k] = best[k].min(start.elapsed().as_secs_f64());
            best_cpu[k] = best_cpu[k].min(process_cpu_seconds().unwrap_or(0.0) - cpu0);
        }
    }
    let mut stages: BTreeMap<String, (usize, f64, f64, usize)> = BTreeMap::new();
    for (k, dispatch) in d.iter().enumerate() {
        let e = stages
            .entry(dispatch.label.clone())
            .or_insert((k, 0.0, 0.0, 0));
        e.1 += best[k];
        e.2 += best_cpu[k];
        e.3 += 1;
    }
    let mut rows: Vec<_> = stages.into_iter().collect();
    rows.sort_by_key(|r| r.1.0);
    let sum: f64 = best.iter().sum();
    let sum_cpu: f64 = best_cpu.iter().sum();
    println!(
        "{:>10} {:>6} {:>10} {:>4}  stage",
        "wall ms", "%", "cpu ms", "disp"
    );
    for (label, (_, t, c, count)) in &rows {
        println!(
            "{:>10.2} {:>6.1} {:>10.2} {:>4}  {label}",
            t * 1e3,
            100.0 * t / sum,
            c * 1e3,
            count
        );
    }
    println!(
        "{:>10.2}        {:>10.2}       sum of stages (one submit each)",
        sum * 1e3,
        sum_cpu * 1e3
    );
    let whole = latentviz::gpu::Timer::new(&gpu).time("fft repulsion", &all, reps)?;
    println!(
        "{:>10.2}         whole call in one pass ({})",
        whole.seconds * 1e3,
        if whole.gpu_timestamps {
            "timestamps"
        } else {
            "wall clock"
        }
    );

    // Force and Z_i errors against the exact sums for a sample of about 400 points.
    let got = gpu.read_f32(&out)?;
    let step = (n / 400).max(1);
    let rows: Vec<usize> = (0..n).step_by(step).collect();
    let (mut df, mut nf, mut dz, mut nz) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for &i in &rows {
        let (mut fx, mut fy, mut z) = (0.0f64, 0.0f64, 0.0f64);
        for j in (0..n).filter(|&j| j != i) {
            let dx = (y[2 * i] - y[2 * j]) as f64;
            let dy = (y[2 * i + 1] - y[2 * j + 1]) as f64;
            let w = 1.0 / (1.0 + dx * dx + dy * dy);
            (fx, fy, z) = (fx + w * w * dx, fy + w * w * dy, z + w);
        }
        let g = &got[3 * i..3 * i + 3];
        df += (g[0] as f64 - fx).powi(2) + (g[1] as f64 - fy).powi(2);
        nf += fx * fx + fy * fy;
        dz += (g[2] as f64 - z).powi(2);
        nz += z * z;
    }
    println!(
        "errors vs exact on {} points: force {:.3e}, Z_i {:.3e}",
        rows.len(),
        (df / nf).sqrt(),
        (dz / nz).sqrt()
    );
    Ok(())
}
