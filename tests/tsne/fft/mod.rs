//! FFT-interpolated t-SNE repulsion (`src/tsne/fft/`), and the layouts its tests share.
mod cpu;
mod grid;
mod repulsion;
mod transform;

use latentviz::Gpu;
use latentviz::rng::Rng;
use latentviz::tsne::fft::FftRepulsion;

/// n points uniform in [-half, half]^dims.
pub fn uniform_layout(rng: &mut Rng, n: usize, dims: usize, half: f32) -> Vec<f32> {
    rng.vec(n * dims, -half, half)
}

/// n points in `blobs` Gaussian clusters (std `sigma`) with centres uniform in
/// [-spread, spread]^dims: what a t-SNE embedding looks like.
pub fn blob_layout(
    rng: &mut Rng,
    n: usize,
    dims: usize,
    blobs: usize,
    spread: f32,
    sigma: f32,
) -> Vec<f32> {
    let centres = rng.vec(blobs * dims, -spread, spread);
    let mut y = Vec::with_capacity(n * dims);
    for _ in 0..n {
        let b = rng.below(blobs);
        for d in 0..dims {
            y.push(centres[b * dims + d] + sigma * rng.normal() as f32);
        }
    }
    y
}

/// Relative errors of the two outputs, each in the 2-norm over all points:
/// force: ||F_approx - F_exact||_2 / ||F_exact||_2 over all points and dims;
/// z:     ||Z_approx - Z_exact||_2 / ||Z_exact||_2 over the per-point sums Z_i = sum_{j!=i} w_ij
///        (a stricter measure than the error of the total Z = sum_i Z_i, also returned).
pub fn errors(got: &[f32], want: &[f32], dims: usize) -> (f64, f64, f64) {
    assert!(got.iter().all(|v| v.is_finite()), "non-finite output");
    let (mut df, mut nf, mut dz, mut nz, mut zg, mut zw) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (g, w) in got.chunks(dims + 1).zip(want.chunks(dims + 1)) {
        for d in 0..dims {
            df += ((g[d] - w[d]) as f64).powi(2);
            nf += (w[d] as f64).powi(2);
        }
        dz += ((g[dims] - w[dims]) as f64).powi(2);
        nz += (w[dims] as f64).powi(2);
        zg += g[dims] as f64;
        zw += w[dims] as f64;
    }
    ((df / nf).sqrt(), (dz / nz).sqrt(), ((zg - zw) / zw).abs())
}

/// Largest extent of a 2-D layout over its axes (what a caller would pass as the span hint).
pub fn span_of(y: &[f32]) -> f32 {
    (0..2)
        .map(|d| {
            let v = y.iter().skip(d).step_by(2);
            v.clone().cloned().fold(f32::MIN, f32::max) - v.cloned().fold(f32::MAX, f32::min)
        })
        .fold(0.0, f32::max)
}

pub fn run_gpu(gpu: &Gpu, rep: &mut FftRepulsion, y: &[f32]) -> Vec<f32> {
    let n = rep.n();
    let positions = gpu.storage_from("positions", y);
    let out = gpu.storage("out", n * 3);
    let d = rep.record(gpu, &positions, &out).unwrap();
    gpu.run("fft repulsion test", &d.iter().collect::<Vec<_>>())
        .unwrap();
    gpu.read_f32(&out).unwrap()
}
