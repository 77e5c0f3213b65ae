//! PCA on the GPU: column means and centring ([`mean`]), the scatter matrix Xᵀ X ([`scatter`]) by
//! the uniform scatter kernel on CPU adapters ([`scatter_uniform`]: 64 rows a pass, their values
//! shared from uniform bindings, one half of S accumulated on the GPU), else through the subgroup
//! matmul of ops::matmul where the adapter runs it (only its tiles on or above the diagonal, per
//! buffer slice, summed on the CPU, so 70,000 × 784 MNIST fits), else a register-blocked Gram
//! kernel ([`gram`]: blocks on or above the diagonal, accumulated over the slices), the rest
//! mirrored; subspace iteration V ← orth(S V) with S V on the GPU and the small QR / Rayleigh–Ritz
//! problems on the CPU (`eigen`), then the projection X V on the GPU (`project`).

pub mod cpu;
mod eigen;
pub mod gram;
pub mod mean;
pub mod project;
pub mod scatter;
pub mod scatter_uniform;

pub use scatter::ScatterKernel;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::LOOP_BUDGET;
use crate::ops::matmul::{self, MatmulKernel, MatmulShape};
use crate::rng::Rng;

use eigen::{jacobi_eigen, orthonormalize, rayleigh};
use gram::product_tn;
use project::project;
use scatter::{ZeroPlan, centred_scatter, planned_scatter, upload_padded_in};
use scatter_uniform::SCATTER_BINDING_ROWS;

/// Subspace iteration stops when the k leading Ritz values change by less than this (relative to
/// the largest) between iterations (S V comes back in f32, so ~1e-6 is the noise floor) ...
const RITZ_TOL: f64 = 1e-5;
/// ... or after this many iterations.
const MAX_ITERATIONS: usize = 150;
/// Extra vectors carried along to speed up convergence of the last wanted ones.
const OVERSAMPLE: usize = 8;

/// The result of `pca`.
#[derive(Clone, Debug)]
pub struct Pca {
    /// n × k: the centred data in the first k principal directions.
    pub projected: Vec<f32>,
    /// k × d, unit rows, sign fixed so each row's largest-magnitude entry is positive.
    pub components: Vec<f32>,
    /// k variances (eigenvalues of the covariance, divisor n − 1), descending.
    pub variances: Vec<f32>,
    pub mean: Vec<f32>,
}

/// The first k principal components of x (n × d).
///
/// Constant features (MNIST's border pixels: 67 of 784) have no variance and no weight in any
/// component, so they are left out of the GPU work (the scatter matrix costs d²) and put back as
/// zeros in the components and their value in the mean.
pub fn pca(gpu: &Gpu, x: &[f32], n: usize, d: usize, k: usize, seed: u64) -> Result<Pca> {
    if x.len() != n * d || n < 2 || d == 0 {
        return pca_with(gpu, x, n, d, k, seed, ScatterKernel::best(gpu, d));
    }
    // One pass in memory order (a column at a time strides through all of x).
    let mut differs = vec![false; d];
    for row in x.chunks_exact(d).skip(1) {
        for ((flag, &v), &first) in differs.iter_mut().zip(row).zip(&x[..d]) {
            *flag |= v != first;
        }
    }
    let varying: Vec<usize> = (0..d).filter(|&f| differs[f]).collect();
    if varying.len() == d || varying.len() < k {
        return pca_with(gpu, x, n, d, k, seed, ScatterKernel::best(gpu, d));
    }
    let dv = varying.len();
    let mut reduced = Vec::with_capacity(n * dv);
    for row in x.chunks_exact(d) {
        reduced.extend(varying.iter().map(|&f| row[f]));
    }
    let part = pca_with(gpu, &reduced, n, dv, k, seed, ScatterKernel::best(gpu, dv))?;
    let mut components = vec![0f32; k * d];
    let mut mean = x[..d].to_vec();
    for (c, &f) in varying.iter().enumerate() {
        mean[f] = part.mean[c];
        for r in 0..k {
            components[r * d + f] = part.components[r * dv + c];
        }
    }
    Ok(Pca {
        projected: part.projected,
        components,
        variances: part.variances,
        mean,
    })
}

/// As [`pca`] with a chosen kernel for the scatter matrix (tests and profiles compare them).
pub fn pca_with(
    gpu: &Gpu,
    x: &[f32],
    n: usize,
    d: usize,
    k: usize,
    seed: u64,
    kernel: ScatterKernel,
) -> Result<Pca> {
    if !kernel.supported(gpu, d) {
        return Err(Error::InvalidArgument(format!(
            "PCA scatter kernel {kernel:?} does not run on this adapter for {d} features \
             (the matmul kernels need subgroups of exactly 8 lanes, the uniform kernel \
             uniform bindings of {SCATTER_BINDING_ROWS} rows)"
        )));
    }
    if x.len() != n * d || n < 2 || d == 0 {
        return Err(Error::shape(
            "pca",
            format!("{} values are not {n} × {d} (n ≥ 2)", x.len()),
        ));
    }
    if d > LOOP_BUDGET {
        return Err(Error::InvalidArgument(format!(
            "PCA of {d} features (at most {})",
            LOOP_BUDGET
        )));
    }
    if k == 0 || k > d {
        return Err(Error::InvalidArgument(format!(
            "PCA to {k} components of {d} features"
        )));
    }
    // The uniform kernel skips zeros (ZeroPlan): rows shifted and sorted on upload.
    let plan = (kernel == ScatterKernel::Uniform).then(|| ZeroPlan::new(x, n, d));
    let slices = upload_padded_in(gpu, x, n, d, plan.as_ref(), None)?;
    let dp = slices.row_len;
    let scatter = gpu.storage("pca scatter", dp * dp);
    let (s_host, mean_host) = match &plan {
        Some(plan) => (
            planned_scatter(gpu, &slices, plan, &scatter)?,
            plan.mean.iter().map(|&m| m as f32).collect(),
        ),
        None => {
            // Centre, then the scatter matrix S = Xcᵀ Xc, slice by slice.
            let mean = gpu.storage("pca mean", dp);
            let s = centred_scatter(gpu, &slices, &mean, &scatter, kernel)?;
            (s, gpu.read::<f32>(&mean, 0, d)?)
        }
    };
    gpu.write(&scatter, &s_host);

    // Subspace iteration on S (dp × dp) with kp columns.
    let kp = ((k + OVERSAMPLE).div_ceil(8) * 8).min(dp);
    let mut rng = Rng::new(seed ^ 0x5043_4131);
    let mut v: Vec<f64> = (0..dp * kp)
        .map(|e| if e / kp < d { rng.normal() } else { 0.0 })
        .collect();
    orthonormalize(&mut v, dp, kp);
    let v_buf = gpu.storage("pca V", dp * kp);
    let w_buf = gpu.storage("pca SV", dp * kp);
    let sv = product_tn(gpu, &scatter, &v_buf, &w_buf, dp, dp, kp)?;
    let mut previous = vec![0f64; k];
    let mut w: Vec<f64>;
    let mut iteration = 0;
    loop {
        let v32: Vec<f32> = v.iter().map(|&e| e as f32).collect();
        gpu.write(&v_buf, &v32);
        gpu.run("pca S V", &[&sv])?;
        w = gpu
            .read::<f32>(&w_buf, 0, dp * kp)?
            .into_iter()
            .map(|e| e as f64)
            .collect();
        iteration += 1;
        // Ritz values of the current subspace: eigenvalues of H = Vᵀ S V. They converge at the
        // rate of the gap after the whole block, unlike the columns of V one by one.
        let mut ritz = jacobi_eigen(&rayleigh(&v, &w, dp, kp), kp).0;
        ritz.sort_by(|a, b| b.total_cmp(a));
        ritz.truncate(k);
        let change = ritz
            .iter()
            .zip(&previous)
            .map(|(a, b)| (a - b).abs() / ritz[0].abs().max(1e-30))
            .fold(0.0, f64::max);
        previous = ritz;
        if (iteration >= 3 && change < RITZ_TOL) || iteration >= MAX_ITERATIONS {
            break;
        }
        v = w.clone();
        orthonormalize(&mut v, dp, kp);
    }
    // Rayleigh–Ritz: H = Vᵀ S V (kp × kp), V ← V U sorted by descending eigenvalue.
    let (values, vectors) = jacobi_eigen(&rayleigh(&v, &w, dp, kp), kp);
    let mut order: Vec<usize> = (0..kp).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let mut components = vec![0f32; k * d];
    let mut variances = vec![0f32; k];
    for (c, &o) in order.iter().take(k).enumerate() {
        let mut col: Vec<f64> = (0..d)
            .map(|r| (0..kp).map(|m| v[r * kp + m] * vectors[m * kp + o]).sum())
            .collect();
        let norm = col.iter().map(|e| e * e).sum::<f64>().sqrt().max(1e-300);
        let big = col
            .iter()
            .copied()
            .fold(0.0, |m: f64, e| if e.abs() > m.abs() { e } else { m });
        let sign = if big < 0.0 { -1.0 } else { 1.0 };
        for e in &mut col {
            *e *= sign / norm;
        }
        for r in 0..d {
            components[c * d + r] = col[r] as f32;
        }
        variances[c] = (values[o].max(0.0) / (n - 1) as f64) as f32;
    }

    // Project the centred data (still on the GPU) onto the k components.
    let kv = k.div_ceil(4) * 4;
    let mut vk = vec![0f32; dp * kv];
    for c in 0..k {
        for r in 0..d {
            vk[r * kv + c] = components[c * d + r];
        }
    }
    let vk_buf = gpu.storage_from("pca components", &vk);
    // With a zero plan the slices hold x − c, not x − μ: each projection is off by (μ − c)ᵀ V,
    // with μ − c the mean on the uncentred columns and 0 elsewhere.
    let offset: Vec<f32> = (0..k)
        .map(|c| match &plan {
            Some(plan) => (0..d)
                .filter(|&r| !plan.centred[r])
                .map(|r| plan.mean[r] * components[c * d + r] as f64)
                .sum::<f64>() as f32,
            None => 0.0,
        })
        .collect();
    let mut projected = vec![0f32; n * k];
    for (s, buf) in slices.slices.iter().enumerate() {
        let rows = slices.rows_in(s);
        let out = gpu.storage("pca projected", rows * kv);
        let p = if MatmulKernel::Subgroup64.supported(gpu) {
            let shape = MatmulShape::new(rows, kv, dp);
            matmul::forward(gpu, &shape, buf, &vk_buf, None, &out)?
        } else {
            project(gpu, buf, &vk_buf, &out, rows, dp, kv)?
        };
        gpu.run("pca project", &[&p])?;
        let part: Vec<f32> = gpu.read(&out, 0, rows * kv)?;
        for t in 0..rows {
            let at = s * slices.rows_per_slice + t;
            let r = plan.as_ref().map_or(at, |p| p.order[at] as usize);
            for c in 0..k {
                projected[r * k + c] = part[t * kv + c] - offset[c];
            }
        }
    }
    Ok(Pca {
        projected,
        components,
        variances,
        mean: mean_host,
    })
}

/// This module's kernel files as the GPU gets them (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("src/pca/gram.wgsl", gram::GRAM.to_string()),
        ("src/pca/mean.wgsl", mean::MEAN.to_string()),
        ("src/pca/project.wgsl", project::PROJECT.to_string()),
        (
            "src/pca/scatter_uniform.wgsl",
            scatter_uniform::SCATTER_UNIFORM.to_string(),
        ),
    ]
}
