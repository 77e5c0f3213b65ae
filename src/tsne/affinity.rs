//! Input affinities: per-point bisection for β (tol 1e-5, at most 200 steps), and the symmetric
//! joint P, dense (exact, from all squared distances) or sparse in CSR form (from a kNN graph,
//! [`crate::knn`]).
//! The dense path runs wholly on the GPU. The sparse path calibrates β on the GPU and symmetrizes
//! the kNN graph on the CPU (a sparse transpose of N·k entries, deterministic).

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::knn::Knn;
use crate::knn::distances::{sqdist_block, upload_points};
use crate::ops::{check_len, launch};
use crate::wgsl::WgslStruct;
use crate::wgsl_struct;

static PERPLEXITY: LazyLock<String> =
    LazyLock::new(|| PerplexityParams::as_params_of(include_str!("affinity_perplexity.wgsl")));
static SYMMETRIZE: LazyLock<String> =
    LazyLock::new(|| SymmetrizeParams::as_params_of(include_str!("affinity_symmetrize.wgsl")));

/// Bisection stops when |H − ln(perplexity)| ≤ TOL ...
pub const TOL: f32 = 1e-5;
/// ... or after this many steps.
pub const MAX_STEPS: u32 = 200;
/// The largest β the bisection takes (2^100, as far as openTSNE's 100 doublings reach): a row
/// with more ties at its smallest distance than the perplexity (copies of a point) cannot reach
/// the target entropy and ends uniform over its ties. β · d stays finite in f32 for squared
/// distances up to 10^8 (the input is scaled to |x| <= 1 before, see `super::input_scale`).
pub const BETA_MAX: f32 = 1.2676506e30;

wgsl_struct! {
    /// `Params` in affinity_perplexity.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct PerplexityParams {
        pub rows: u32,
        pub len: u32,
        pub skip_diag: u32,
        pub steps: u32,
        pub log_perplexity: f32,
        pub tol: f32,
        pub start: u32,
        pub finish: u32,
        pub beta_max: f32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

/// f32 of bisection state per row (β, lo, hi, dmin, has_lo, has_hi, done, steps taken).
pub const STATE_PER_ROW: usize = 8;

wgsl_struct! {
    /// `Params` in affinity_symmetrize.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct SymmetrizeParams {
        pub n: u32,
        pub ld: u32,
        pub len: u32,
        pub scale: f32,
    }
}

/// Calibrate β per row of `rows_buf` (rows × len squared distances) to the perplexity and replace
/// the distances by p_{j|i}; the bisection state per row ([`STATE_PER_ROW`] f32, β first) goes to
/// `state`. `skip_diag`: entry i of row i is the point itself (dense rows). Several dispatches, each
/// within lavapipe's loop cap ([`crate::gpu::LOOP_BUDGET`]), the last writing p.
pub fn perplexity_rows(
    gpu: &Gpu,
    rows_buf: &wgpu::Buffer,
    rows: usize,
    len: usize,
    skip_diag: bool,
    perplexity: f32,
    state: &wgpu::Buffer,
) -> Result<Vec<Dispatch>> {
    check_len("tsne perplexity", "rows", rows_buf, rows * len)?;
    check_len("tsne perplexity", "state", state, rows * STATE_PER_ROW)?;
    if skip_diag && len != rows {
        return Err(Error::shape(
            "tsne perplexity",
            format!("dense rows must be square, got {rows} × {len}"),
        ));
    }
    if len == 0 || 2 * len > crate::gpu::LOOP_BUDGET {
        return Err(Error::InvalidArgument(format!(
            "perplexity rows of {len} entries (at most {})",
            crate::gpu::LOOP_BUDGET / 2
        )));
    }
    // One dispatch: `steps` bisection steps, from the start (`start`: also finds dmin, one pass
    // over the row) or on from the state, or (`finish`) the rows' probabilities from the state.
    let pass = |steps: usize, start: bool, finish: bool| {
        let params = PerplexityParams {
            rows: rows as u32,
            len: len as u32,
            skip_diag: skip_diag as u32,
            steps: steps as u32,
            log_perplexity: perplexity.ln(),
            tol: TOL,
            start: start as u32,
            finish: finish as u32,
            beta_max: BETA_MAX,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        };
        launch(
            gpu,
            "tsne perplexity",
            &PERPLEXITY,
            "perplexity_rows",
            &params,
            &[rows_buf, state],
            workgroups_for(rows, 64),
        )
    };
    let per_dispatch = (crate::gpu::LOOP_BUDGET / len).saturating_sub(1).max(1);
    let mut out = Vec::new();
    let mut done = 0;
    let mut first = true;
    while done < MAX_STEPS as usize || first {
        let steps = per_dispatch.min(MAX_STEPS as usize - done);
        out.push(pass(steps, first, false)?);
        done += steps;
        first = false;
    }
    out.push(pass(0, false, true)?);
    Ok(out)
}

/// Row length of a stored dense P: n rounded up to a multiple of 4.
pub fn dense_ld(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// p = (c + cᵀ) / (2n) for c n × n; p is stored n × dense_ld(n) (padding 0).
pub fn symmetrize_dense(
    gpu: &Gpu,
    c: &wgpu::Buffer,
    p: &wgpu::Buffer,
    n: usize,
) -> Result<Dispatch> {
    let ld = dense_ld(n);
    check_len("tsne symmetrize", "c", c, n * n)?;
    check_len("tsne symmetrize", "p", p, n * ld)?;
    let params = SymmetrizeParams {
        n: n as u32,
        ld: ld as u32,
        len: (n * ld) as u32,
        scale: 1.0 / (2.0 * n as f32),
    };
    launch(
        gpu,
        "tsne symmetrize",
        &SYMMETRIZE,
        "symmetrize_dense",
        &params,
        &[c, p],
        workgroups_for((n * ld).div_ceil(4), 256),
    )
}

/// The dense joint P on the GPU: n rows of `dense_ld(n)` f32 (padding 0), p_ii = 0, Σ p = 1,
/// symmetric (kernels read its columns as rows).
pub struct DenseP {
    pub p: wgpu::Buffer,
    pub n: usize,
}

impl DenseP {
    /// Upload a symmetric n × n P (row-major, unpadded).
    pub fn upload(gpu: &Gpu, p: &[f32], n: usize) -> Result<DenseP> {
        if p.len() != n * n {
            return Err(Error::shape(
                "tsne dense P",
                format!("{} values are not {n} × {n}", p.len()),
            ));
        }
        let ld = dense_ld(n);
        let mut padded = vec![0f32; n * ld];
        for i in 0..n {
            padded[i * ld..i * ld + n].copy_from_slice(&p[i * n..(i + 1) * n]);
        }
        Ok(DenseP {
            p: gpu.storage_from("tsne P", &padded),
            n,
        })
    }

    /// Read back as n × n (unpadded).
    pub fn read(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        let (n, ld) = (self.n, dense_ld(self.n));
        let all: Vec<f32> = gpu.read(&self.p, 0, n * ld)?;
        Ok((0..n)
            .flat_map(|i| all[i * ld..i * ld + n].iter().copied())
            .collect())
    }
}

/// Dense P of x (n × d): all squared distances, β per row, symmetrization; all on the GPU.
pub fn dense_p(gpu: &Gpu, x: &[f32], n: usize, d: usize, perplexity: f32) -> Result<DenseP> {
    let bytes = (n * n * 4) as u64;
    if bytes > gpu.limits.max_storage_buffer_binding_size {
        return Err(Error::InvalidArgument(format!(
            "a dense P for {n} points needs {bytes} bytes in one binding (limit {}); use the sparse path",
            gpu.limits.max_storage_buffer_binding_size
        )));
    }
    let points = upload_points(gpu, x, n, d)?;
    let cond = gpu.storage("tsne conditional P", n * n);
    let state = gpu.storage("tsne perplexity state", n * STATE_PER_ROW);
    let p = gpu.storage("tsne P", n * dense_ld(n));
    let dist = sqdist_block(gpu, &points, 0, n, n, &cond)?;
    let calibrate = perplexity_rows(gpu, &cond, n, n, true, perplexity, &state)?;
    let sym = symmetrize_dense(gpu, &cond, &p, n)?;
    let all: Vec<&Dispatch> = std::iter::once(&dist)
        .chain(&calibrate)
        .chain(std::iter::once(&sym))
        .collect();
    gpu.run("tsne dense P", &all)?;
    Ok(DenseP { p, n })
}

/// A sparse symmetric P in CSR form: row i holds cols col[row_ptr[i]..row_ptr[i+1]] (ascending)
/// with values val[..]; Σ val = 1.
#[derive(Clone, Debug)]
pub struct SparseP {
    pub n: usize,
    pub row_ptr: Vec<u32>,
    pub col: Vec<u32>,
    pub val: Vec<f32>,
}

/// Sparse P from a kNN graph: β per row on the GPU (over the k neighbour distances), then
/// P = (C + Cᵀ) / (2N) on the CPU.
pub fn sparse_p(gpu: &Gpu, knn: &Knn, perplexity: f32) -> Result<SparseP> {
    check_knn(knn)?;
    let cond = conditional_p(gpu, knn, perplexity)?;
    Ok(symmetrize_knn(knn.n, knn.k, &knn.index, &cond))
}

/// Every neighbour a point of the graph at a finite distance: squared distances past f32's range
/// (inputs of ~1e19 and more; `tsne::fit` scales its input first) leave no candidate to insert.
fn check_knn(knn: &Knn) -> Result<()> {
    let (n, k) = (knn.n, knn.k);
    if knn.index.len() != n * k || knn.dist.len() != n * k {
        return Err(Error::shape(
            "tsne kNN",
            format!(
                "{} indices and {} distances for {n} × {k}",
                knn.index.len(),
                knn.dist.len()
            ),
        ));
    }
    if let Some(e) = (0..n * k).find(|&e| knn.index[e] as usize >= n || !knn.dist[e].is_finite()) {
        return Err(Error::NonFinite(format!(
            "kNN of point {}: neighbour {} at squared distance {} (distances beyond f32's range: \
             scale the input)",
            e / k,
            knn.index[e],
            knn.dist[e]
        )));
    }
    Ok(())
}

/// p_{j|i} over each point's k neighbours (n × k, in the kNN order), β calibrated on the GPU.
pub fn conditional_p(gpu: &Gpu, knn: &Knn, perplexity: f32) -> Result<Vec<f32>> {
    let (n, k) = (knn.n, knn.k);
    let rows = gpu.storage_from("tsne kNN conditional P", &knn.dist);
    let state = gpu.storage("tsne perplexity state", n * STATE_PER_ROW);
    let calibrate = perplexity_rows(gpu, &rows, n, k, false, perplexity, &state)?;
    gpu.run("tsne sparse P", &calibrate.iter().collect::<Vec<_>>())?;
    gpu.read(&rows, 0, n * k)
}

/// P_ij = (p_{j|i} + p_{i|j}) / (2N) over the union of the kNN edges, as CSR with ascending
/// columns. At most 2k entries per row.
pub fn symmetrize_knn(n: usize, k: usize, index: &[u32], cond: &[f32]) -> SparseP {
    // Row i is the merge of two lists ascending by column: its own neighbours (sorted here) and
    // the points that list i as a neighbour, which a counting pass over i in ascending order
    // lays out already sorted. No list repeats a column, so a column appears at most twice.
    let mut t_start = vec![0u32; n + 1];
    for &j in &index[..n * k] {
        t_start[j as usize + 1] += 1;
    }
    for j in 0..n {
        t_start[j + 1] += t_start[j];
    }
    let mut t_next = t_start.clone();
    let mut t_col = vec![0u32; n * k];
    let mut t_val = vec![0f32; n * k];
    for i in 0..n {
        for t in 0..k {
            let j = index[i * k + t] as usize;
            let at = t_next[j] as usize;
            t_next[j] += 1;
            t_col[at] = i as u32;
            t_val[at] = cond[i * k + t];
        }
    }
    let scale = 1.0 / (2.0 * n as f64);
    let mut row_ptr = Vec::with_capacity(n + 1);
    let mut col = Vec::with_capacity(2 * n * k);
    let mut val = Vec::with_capacity(2 * n * k);
    row_ptr.push(0u32);
    let mut own: Vec<(u32, f32)> = Vec::with_capacity(k);
    for i in 0..n {
        own.clear();
        own.extend((0..k).map(|t| (index[i * k + t], cond[i * k + t])));
        own.sort_unstable_by_key(|e| e.0);
        let listed = t_start[i] as usize..t_start[i + 1] as usize;
        let (mut a, mut b) = (0, listed.start);
        while a < own.len() || b < listed.end {
            let take_own = b >= listed.end || (a < own.len() && own[a].0 <= t_col[b]);
            let take_listed = a >= own.len() || (b < listed.end && t_col[b] <= own[a].0);
            // Both lists hold the column: p_j|i + p_i|j (two terms, so the order is immaterial).
            let (j, sum) = match (take_own, take_listed) {
                (true, true) => (own[a].0, own[a].1 as f64 + t_val[b] as f64),
                (true, false) => (own[a].0, own[a].1 as f64),
                _ => (t_col[b], t_val[b] as f64),
            };
            col.push(j);
            val.push((sum * scale) as f32);
            a += usize::from(take_own);
            b += usize::from(take_listed);
        }
        row_ptr.push(col.len() as u32);
    }
    SparseP {
        n,
        row_ptr,
        col,
        val,
    }
}

/// This module's kernel files as the GPU gets them (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("src/tsne/affinity_perplexity.wgsl", PERPLEXITY.to_string()),
        ("src/tsne/affinity_symmetrize.wgsl", SYMMETRIZE.to_string()),
    ]
}
/// Plain-loop references, named as in the WGSL.
pub mod cpu {
    /// p_{j|i} per row (f64 inside) with the same bisection; returns (p, β).
    pub fn perplexity_rows(
        dist: &[f32],
        rows: usize,
        len: usize,
        skip_diag: bool,
        perplexity: f32,
        tol: f32,
        max_steps: u32,
    ) -> (Vec<f32>, Vec<f32>) {
        let target = (perplexity as f64).ln();
        let mut p = vec![0f32; rows * len];
        let mut betas = vec![0f32; rows];
        for i in 0..rows {
            let row = &dist[i * len..(i + 1) * len];
            let skip = if skip_diag { i } else { len };
            let dmin = (0..len)
                .filter(|&j| j != skip)
                .map(|j| row[j] as f64)
                .fold(f64::INFINITY, f64::min);
            let weights = |beta: f64| -> Vec<f64> {
                (0..len)
                    .map(|j| {
                        if j == skip {
                            0.0
                        } else {
                            (-beta * (row[j] as f64 - dmin)).exp()
                        }
                    })
                    .collect()
            };
            let (mut beta, mut lo, mut hi) = (1.0f64, None::<f64>, None::<f64>);
            for _ in 0..max_steps {
                let e = weights(beta);
                let s: f64 = e.iter().sum();
                let sd: f64 = (0..len).map(|j| (row[j] as f64 - dmin) * e[j]).sum();
                let diff = s.ln() + beta * sd / s - target;
                if diff.abs() <= tol as f64 {
                    break;
                }
                if diff > 0.0 {
                    if beta >= super::BETA_MAX as f64 {
                        break;
                    }
                    lo = Some(beta);
                    beta = hi
                        .map_or(beta * 2.0, |h| 0.5 * (beta + h))
                        .min(super::BETA_MAX as f64);
                } else {
                    hi = Some(beta);
                    beta = lo.map_or(beta * 0.5, |l| 0.5 * (beta + l));
                }
            }
            let e = weights(beta);
            let s: f64 = e.iter().sum();
            for j in 0..len {
                p[i * len + j] = (e[j] / s) as f32;
            }
            betas[i] = beta as f32;
        }
        (p, betas)
    }

    /// p = (c + cᵀ) / (2n).
    pub fn symmetrize_dense(c: &[f32], n: usize) -> Vec<f32> {
        let mut p = vec![0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                p[i * n + j] = (c[i * n + j] + c[j * n + i]) / (2.0 * n as f32);
            }
        }
        p
    }
}
