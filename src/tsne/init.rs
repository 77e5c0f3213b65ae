//! Initial positions: PCA (the first `dims` principal components, scaled so the first has standard
//! deviation 1e-4, as sklearn) or N(0, (1e-4)²) from the seed.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::pca;
use crate::rng::Rng;

/// Standard deviation of the first coordinate of the initial embedding.
pub const INIT_STD: f32 = 1e-4;

/// PCA initialization of data (n × d). Falls back to `random_init` when d < dims or the data has
/// no spread (all points equal), where no principal direction exists.
pub fn pca_init(
    gpu: &Gpu,
    data: &[f32],
    n: usize,
    d: usize,
    dims: usize,
    seed: u64,
) -> Result<Vec<f32>> {
    if d < dims {
        return Ok(random_init(n, dims, seed));
    }
    let p = pca::pca(gpu, data, n, d, dims, seed)?;
    Ok(cpu::scale_first_std(&p.projected, n, dims, INIT_STD)
        .unwrap_or_else(|| random_init(n, dims, seed)))
}

/// PCA initialization from data already projected on its principal components (n × k, the
/// output of [`pca::pca`], strongest first): its first `dims` columns, scaled as [`pca_init`]
/// scales. The principal components of that projection are its own axes, so this is what
/// `pca_init` of it computes, without a second PCA (at 70,000 points 0.2 s). Falls back to
/// `random_init` as `pca_init` does.
pub fn projected_init(projected: &[f32], n: usize, k: usize, dims: usize, seed: u64) -> Vec<f32> {
    if k < dims || projected.len() != n * k {
        return random_init(n, dims, seed);
    }
    let first: Vec<f32> = projected
        .chunks_exact(k)
        .flat_map(|row| row[..dims].iter().copied())
        .collect();
    cpu::scale_first_std(&first, n, dims, INIT_STD).unwrap_or_else(|| random_init(n, dims, seed))
}

/// n × dims values drawn from N(0, INIT_STD²) with the seeded generator.
pub fn random_init(n: usize, dims: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n * dims)
        .map(|_| (rng.normal() * INIT_STD as f64) as f32)
        .collect()
}

/// Synthetic input for benchmarks and profiles: n points in d dimensions drawn around `clusters`
/// centres (centres N(0, 4²) per coordinate, points N(centre, 1)), with their cluster labels.
pub fn synthetic_clusters(n: usize, d: usize, clusters: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = Rng::new(seed);
    let clusters = clusters.max(1);
    let centres: Vec<f32> = (0..clusters * d)
        .map(|_| (rng.normal() * 4.0) as f32)
        .collect();
    let mut x = Vec::with_capacity(n * d);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let c = rng.below(clusters);
        labels.push(c as u32);
        for f in 0..d {
            x.push(centres[c * d + f] + rng.normal() as f32);
        }
    }
    (x, labels)
}

/// A 2-D embedding shaped like a t-SNE of `labels` midway through: one Gaussian blob per label on
/// a circle, spread so the whole spans about ±√n / 3 (the size MNIST embeddings reach), for timing
/// the repulsion at a realistic grid size.
pub fn synthetic_layout(labels: &[u32], seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed ^ 0x4c41_594f);
    let n = labels.len();
    let clusters = labels.iter().copied().max().map_or(1, |m| m as usize + 1);
    let radius = (n as f64).sqrt() / 4.0;
    let spread = radius / (clusters as f64).max(2.0);
    let mut y = Vec::with_capacity(2 * n);
    for &l in labels {
        let a = std::f64::consts::TAU * l as f64 / clusters as f64;
        y.push((radius * a.cos() + spread * rng.normal()) as f32);
        y.push((radius * a.sin() + spread * rng.normal()) as f32);
    }
    y
}

/// A synthetic kNN graph for benchmarks: `k` random other points of the same label per point
/// (n × k indices) with uniform p_{j|i} = 1/k, the row lengths a perplexity-30 kNN P has,
/// without a brute-force search. Every label needs at least two points.
pub fn synthetic_knn(labels: &[u32], k: usize, seed: u64) -> (Vec<u32>, Vec<f32>) {
    let n = labels.len();
    let groups = labels.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut members = vec![Vec::new(); groups];
    for (i, &l) in labels.iter().enumerate() {
        members[l as usize].push(i as u32);
    }
    let mut rng = Rng::new(seed ^ 0x4b4e_4e47);
    let mut index = Vec::with_capacity(n * k);
    for (i, &l) in labels.iter().enumerate() {
        let m = &members[l as usize];
        for _ in 0..k {
            let mut t = rng.below(m.len());
            if m[t] as usize == i {
                t = (t + 1) % m.len();
            }
            index.push(m[t]);
        }
    }
    (index, vec![1.0 / k as f32; n * k])
}

/// Plain-loop references.
pub mod cpu {
    /// y scaled so its first column has (population) standard deviation `target`; None when that
    /// column is constant.
    pub fn scale_first_std(y: &[f32], n: usize, dims: usize, target: f32) -> Option<Vec<f32>> {
        let mean = (0..n).map(|i| y[i * dims] as f64).sum::<f64>() / n as f64;
        let var = (0..n)
            .map(|i| (y[i * dims] as f64 - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        let std = var.sqrt();
        if !(std > 0.0 && std.is_finite()) {
            return None;
        }
        let s = target as f64 / std;
        Some(y.iter().map(|&v| (v as f64 * s) as f32).collect())
    }
}
