//! The centred scatter matrix S = Xcᵀ Xc of rows uploaded in buffer slices, by the kernel
//! [`ScatterKernel`] names, and the zero plan that lets the uniform kernel skip exact zeros.

use crate::error::{Error, Result};
use crate::gpu::LOOP_BUDGET;
use crate::gpu::{BufferSlices, Dispatch, Gpu};
use crate::ops::check_len;
use crate::ops::matmul::{self, MatmulKernel, MatmulShape};
use wgpu::util::DeviceExt;

use super::gram::{gram_upper, mirror_upper};
use super::mean::{column_mean, subtract_mean};
use super::scatter_uniform::{
    SCATTER_CHUNK_ROWS, SCATTER_QUADS, SCATTER_UNIFORM_VEC4, mirror_lower, padded_slice_len,
    scatter_uniform, scatter_uniform_fits,
};

/// [`ScatterKernel::best`] picks the uniform scatter kernel from this many (padded) features.
pub const SCATTER_UNIFORM_MIN: usize = 256;

/// How [`centred_scatter`] computes S = Xcᵀ Xc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScatterKernel {
    /// The subgroup matmul (`MatmulKernel::best`: Subgroup64, Aᵀ A) over the whole of each slice's
    /// product, then the 8 × 8 blocks below the diagonal overwritten by `mirror_upper`: what `pca`
    /// ran before `MatmulUpper`, kept to measure against.
    MatmulFull,
    /// The subgroup matmul over only its 64 × 32 tiles on or above the diagonal
    /// (`matmul::forward_upper`, about half the flops), then `mirror_upper`: the same S as
    /// `MatmulFull`, bit for bit (the same tiles are computed the same way; the rest is mirrored).
    MatmulUpper,
    /// The Gram kernel (`gram_upper`, 8 × 8 blocks on or above the diagonal, accumulated over the
    /// slices on the GPU in f32), then `mirror_upper`: for adapters without subgroups.
    Gram,
    /// The uniform scatter kernel (`scatter_uniform`, [`SCATTER_CHUNK_ROWS`] rows a pass,
    /// accumulated on the GPU in f32), then the half it stores mirrored: where the adapter's
    /// uniform bindings hold its rows ([`scatter_uniform_fits`]).
    Uniform,
}

impl ScatterKernel {
    /// The fastest kernel the adapter runs for rows of d features: on CPU adapters (lavapipe),
    /// from [`SCATTER_UNIFORM_MIN`] padded features, the uniform kernel where it fits, else the
    /// subgroup matmul, else the uniform kernel, else the Gram kernel (the crossover measured in
    /// docs/kernel-notes.md, "PCA"). Its one pipeline serves every width.
    pub fn best(gpu: &Gpu, d: usize) -> ScatterKernel {
        let uniform = ScatterKernel::Uniform.supported(gpu, d);
        if uniform && gpu.cpu_tuned() && d.div_ceil(8) * 8 >= SCATTER_UNIFORM_MIN {
            ScatterKernel::Uniform
        } else if ScatterKernel::MatmulUpper.supported(gpu, d) {
            ScatterKernel::MatmulUpper
        } else if uniform {
            ScatterKernel::Uniform
        } else {
            ScatterKernel::Gram
        }
    }

    /// Whether the adapter runs this kernel for rows of d features.
    pub fn supported(self, gpu: &Gpu, d: usize) -> bool {
        match self {
            ScatterKernel::Gram => true,
            ScatterKernel::MatmulFull | ScatterKernel::MatmulUpper => {
                MatmulKernel::Subgroup64.supported(gpu)
            }
            ScatterKernel::Uniform => scatter_uniform_fits(gpu, d.div_ceil(8) * 8),
        }
    }
}

/// Upload x (n × d) with rows padded by zeros to dp = d rounded up to a multiple of 8, in slices
/// that can be bound whole and of at most `LOOP_BUDGET` rows (the mean and Gram kernels loop over
/// a slice's rows): the layout `centred_scatter` and `pca` work on. Every slice's buffer holds a
/// whole number of [`SCATTER_CHUNK_ROWS`] rows and what the last chunk's uniform bindings reach
/// past them ([`super::scatter_uniform::scatter_slice_len`]; zeros past its data: the kernels read
/// only a slice's `rows_in` rows, the uniform scatter kernel whole chunks) and is usable as a
/// uniform buffer too.
pub fn upload_padded(gpu: &Gpu, x: &[f32], n: usize, d: usize) -> Result<BufferSlices> {
    upload_padded_with(gpu, x, n, d, None)
}

/// [`upload_padded`] with slices of at most `max_slice_bytes` (tests use small slices).
pub fn upload_padded_with(
    gpu: &Gpu,
    x: &[f32],
    n: usize,
    d: usize,
    max_slice_bytes: Option<u64>,
) -> Result<BufferSlices> {
    upload_padded_in(gpu, x, n, d, None, max_slice_bytes)
}

/// [`upload_padded_with`] as `plan` says (None: the rows as they are): its rows in its order,
/// shifted by its shift.
pub fn upload_padded_in(
    gpu: &Gpu,
    x: &[f32],
    n: usize,
    d: usize,
    plan: Option<&ZeroPlan>,
    max_slice_bytes: Option<u64>,
) -> Result<BufferSlices> {
    if plan.is_some_and(|p| p.order.len() != n || p.mean.len() != d) {
        return Err(Error::shape(
            "pca upload",
            format!("a zero plan of another shape than {n} × {d}"),
        ));
    }
    if x.len() != n * d || d == 0 {
        return Err(Error::shape(
            "pca upload",
            format!("{} values are not {n} × {d}", x.len()),
        ));
    }
    let dp = d.div_ceil(8) * 8;
    let max_bytes = gpu
        .limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size)
        .min((LOOP_BUDGET * dp * 4) as u64)
        .min(max_slice_bytes.unwrap_or(u64::MAX));
    // Room for the padding past the last chunk (see `scatter_slice_len`): a slice is bound whole
    // as storage by the mean and matmul kernels.
    let max_rows = (max_bytes.saturating_sub((SCATTER_UNIFORM_VEC4 * 16) as u64) / 4) as usize / dp;
    let rows_per_slice = if max_rows >= SCATTER_CHUNK_ROWS {
        max_rows / SCATTER_CHUNK_ROWS * SCATTER_CHUNK_ROWS
    } else {
        max_rows.max(1)
    };
    let slices = (0..n.div_ceil(rows_per_slice))
        .map(|i| {
            let first = i * rows_per_slice;
            let count = rows_per_slice.min(n - first);
            // Rows padded to dp columns; whole chunks, and the last chunk's uniform bindings'
            // reach past them (only where the slice holds whole chunks at all).
            let len = if rows_per_slice >= SCATTER_CHUNK_ROWS {
                padded_slice_len(count, dp).max(count * dp)
            } else {
                count * dp
            };
            let mut data = vec![0f32; len];
            for (t, out) in data.chunks_exact_mut(dp).take(count).enumerate() {
                match plan {
                    None => out[..d].copy_from_slice(&x[(first + t) * d..(first + t + 1) * d]),
                    Some(plan) => {
                        let r = plan.order[first + t] as usize;
                        for ((o, &v), &c) in
                            out.iter_mut().zip(&x[r * d..(r + 1) * d]).zip(&plan.shift)
                        {
                            *o = v - c;
                        }
                    }
                }
            }
            gpu.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(&format!("pca x slice {i}")),
                    contents: bytemuck::cast_slice(&data),
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::UNIFORM
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                })
        })
        .collect();
    Ok(BufferSlices {
        row_len: dp,
        rows: n,
        rows_per_slice,
        slices,
    })
}

/// How PCA skips the zeros of data that has many (pixels, counts) with the uniform scatter kernel.
///
/// Columns at least half zeros are left as they are (`shift` 0); the others are centred as
/// usual (`shift` their mean). So zeros stay zeros. The rows go up sorted by where their non-zero
/// values lie (`order`), each chunk of [`SCATTER_CHUNK_ROWS`] rows is then 0 outside a short
/// range of column quads, and each scatter pass skips the rest: products of exact zeros, so the
/// sums are the same (on MNIST 63% of the products remain). The scatter of
/// the shifted rows is corrected on the CPU: S = Σ (x − c)(x − c)ᵀ − n (μ − c)(μ − c)ᵀ, with c
/// the shift. The correction touches only pairs of uncentred columns, and for a column of at most
/// n / 2 non-zeros n μ² ≤ ½ Σ x² (Cauchy–Schwarz), so it loses at most about one bit against
/// centring first.
///
/// The plan is made on the CPU in one pass over x, which also sums the columns (in f64): the
/// upload then writes the shifted rows, and no GPU pass centres them (the column-mean kernel,
/// one invocation per column quad, took ~1 s of 70,000 MNIST rows).
#[derive(Clone, Debug)]
pub struct ZeroPlan {
    /// Per padded column (dp = d rounded up to a multiple of 8): what the upload subtracts (the
    /// column's mean, or 0 where the column is at least half zeros, and for padding).
    pub shift: Vec<f32>,
    /// Per column (d): the mean, summed in f64.
    pub mean: Vec<f64>,
    /// Per column (d): whether the upload centres it (fewer than half its values are 0).
    pub centred: Vec<bool>,
    /// Upload position → row of x.
    pub order: Vec<u32>,
    /// Per upload position: column quads [first, last + 1) where the row is not 0 after the
    /// shift (a centred column counts in every row); [0, 0] for none.
    live: Vec<[u32; 2]>,
}

impl ZeroPlan {
    /// The plan for x (n × d).
    pub fn new(x: &[f32], n: usize, d: usize) -> ZeroPlan {
        let dp = d.div_ceil(8) * 8;
        let mut zeros = vec![0usize; d];
        let mut sums = vec![0f64; d];
        for row in x.chunks_exact(d) {
            for ((z, sum), &v) in zeros.iter_mut().zip(&mut sums).zip(row) {
                *z += (v == 0.0) as usize;
                *sum += v as f64;
            }
        }
        let mean: Vec<f64> = sums.iter().map(|&v| v / n.max(1) as f64).collect();
        let centred: Vec<bool> = zeros.iter().map(|&z| 2 * z < n).collect();
        let mut shift: Vec<f32> = (0..d)
            .map(|c| if centred[c] { mean[c] as f32 } else { 0.0 })
            .collect();
        shift.resize(dp, 0.0);
        let row_live = |r: usize| -> [u32; 2] {
            let row = &x[r * d..(r + 1) * d];
            let live = |c: usize| centred[c] || row[c] != 0.0;
            match (0..d).find(|&c| live(c)) {
                Some(first) => {
                    let last = (first..d).rev().find(|&c| live(c)).unwrap_or(first);
                    [(first / 4) as u32, (last / 4 + 1) as u32]
                }
                None => [0, 0],
            }
        };
        let by_row: Vec<[u32; 2]> = (0..n).map(row_live).collect();
        let block = (8 * SCATTER_QUADS) as u32;
        let mut order: Vec<u32> = (0..n as u32).collect();
        // By the kernel block a row starts in, then where it ends: a chunk's rows share their
        // first block and end close together. Stable, so dense data keeps its order.
        order.sort_by_key(|&r| {
            let [first, end] = by_row[r as usize];
            (first / block, end)
        });
        let live = order.iter().map(|&r| by_row[r as usize]).collect();
        ZeroPlan {
            shift,
            mean,
            centred,
            order,
            live,
        }
    }

    /// Column quads [lo, hi) outside which the rows at upload positions t0 .. t0 + rows are 0
    /// after the shift ([0, 0]: all of them are 0).
    pub fn chunk_live(&self, t0: usize, rows: usize) -> [u32; 2] {
        let (mut lo, mut hi) = (u32::MAX, 0);
        for &[first, end] in &self.live[t0..(t0 + rows).min(self.live.len())] {
            if end > first {
                lo = lo.min(first);
                hi = hi.max(end);
            }
        }
        if hi > lo { [lo, hi] } else { [0, 0] }
    }
}

/// The uniform scatter passes over every chunk of `slices` into `scatter` (zeroed first), each
/// over the column quads `plan` says its rows may be non-zero in (None: all), read back: S[j][i]
/// for every j at or above i's block, the rest not yet mirrored.
fn scatter_passes(
    gpu: &Gpu,
    slices: &BufferSlices,
    plan: Option<&ZeroPlan>,
    scatter: &wgpu::Buffer,
) -> Result<Vec<f32>> {
    let dp = slices.row_len;
    gpu.write(scatter, &vec![0f32; dp * dp]);
    let mut passes = Vec::new();
    for (s, buf) in slices.slices.iter().enumerate() {
        let rows = slices.rows_in(s);
        for c in 0..rows.div_ceil(SCATTER_CHUNK_ROWS) {
            let row0 = c * SCATTER_CHUNK_ROWS;
            let live = plan.map_or([0, (dp / 4) as u32], |p| {
                p.chunk_live(
                    s * slices.rows_per_slice + row0,
                    SCATTER_CHUNK_ROWS.min(rows - row0),
                )
            });
            if live[1] > live[0] {
                passes.push(scatter_uniform(gpu, buf, row0, dp, scatter, live)?);
            }
        }
    }
    // Passes per submission: enough work to hide the submit.
    for batch in passes.chunks(64) {
        gpu.run("pca scatter", &batch.iter().collect::<Vec<_>>())?;
    }
    gpu.read(scatter, 0, dp * dp)
}

/// The centred scatter matrix S (dp × dp, exactly symmetric) of slices uploaded by
/// [`upload_padded_in`] with `plan` (shifted rows in the plan's order), with the uniform kernel
/// skipping the zeros, corrected for the columns the plan left uncentred (see [`ZeroPlan`]).
pub fn planned_scatter(
    gpu: &Gpu,
    slices: &BufferSlices,
    plan: &ZeroPlan,
    scatter: &wgpu::Buffer,
) -> Result<Vec<f32>> {
    let (n, dp) = (slices.rows, slices.row_len);
    let d = plan.mean.len();
    if plan.shift.len() != dp || plan.order.len() != n || !scatter_uniform_fits(gpu, dp) {
        return Err(Error::shape(
            "pca planned scatter",
            format!(
                "a zero plan for {} rows of {d} columns and slices of {n} rows of {dp} (uniform \
                 kernel)",
                plan.order.len()
            ),
        ));
    }
    check_len("pca planned scatter", "scatter", scatter, dp * dp)?;
    let mut m = scatter_passes(gpu, slices, Some(plan), scatter)?;
    mirror_lower(&mut m, dp);
    let off: Vec<usize> = (0..d).filter(|&c| !plan.centred[c]).collect();
    for &i in &off {
        for &j in &off {
            let e = &mut m[i * dp + j];
            *e = (*e as f64 - n as f64 * plan.mean[i] * plan.mean[j]) as f32;
        }
    }
    Ok(m)
}

/// Centre the rows of `slices` in place (their column means, over all slices, are left in `mean`,
/// `slices.row_len` values, a multiple of 8) and return the scatter matrix S = Xcᵀ Xc (row_len²
/// values, exactly symmetric) computed by `kernel` in `scatter` (row_len² values; left holding a
/// partial result: write S back before using it on the GPU). With the matmul kernels each slice's
/// product is read back and the slices are summed on the CPU in f64.
pub fn centred_scatter(
    gpu: &Gpu,
    slices: &BufferSlices,
    mean: &wgpu::Buffer,
    scatter: &wgpu::Buffer,
    kernel: ScatterKernel,
) -> Result<Vec<f32>> {
    let (n, dp) = (slices.rows, slices.row_len);
    if !dp.is_multiple_of(8) || n == 0 {
        return Err(Error::shape(
            "pca scatter",
            format!("{n} rows of {dp} columns (a positive multiple of 8 needed)"),
        ));
    }
    check_len("pca scatter", "mean", mean, dp)?;
    check_len("pca scatter", "scatter", scatter, dp * dp)?;
    let width = dp / 4;
    if kernel == ScatterKernel::Uniform {
        let whole_chunks = slices.slices.iter().enumerate().all(|(s, buf)| {
            buf.usage().contains(wgpu::BufferUsages::UNIFORM)
                && buf.size() >= (padded_slice_len(slices.rows_in(s), dp) * 4) as u64
        });
        if !whole_chunks {
            return Err(Error::shape(
                "pca uniform scatter",
                format!(
                    "slices must be uniform buffers of whole {SCATTER_CHUNK_ROWS}-row chunks \
                     (pca::upload_padded)"
                ),
            ));
        }
    }
    let mut sums = Vec::new();
    for (s, buf) in slices.slices.iter().enumerate() {
        let rows = slices.rows_in(s);
        sums.push(column_mean(
            gpu,
            buf,
            mean,
            rows,
            width,
            1.0 / n as f32,
            s > 0,
        )?);
    }
    if kernel != ScatterKernel::Gram {
        // The matmul and uniform kernels read centred slices: centre them all first (the Gram
        // kernel centres each slice just before its product, in the same submission).
        let mut centre = std::mem::take(&mut sums);
        for (s, buf) in slices.slices.iter().enumerate() {
            centre.push(subtract_mean(gpu, buf, mean, slices.rows_in(s), width)?);
        }
        gpu.run("pca centre", &centre.iter().collect::<Vec<_>>())?;
    }
    if kernel == ScatterKernel::Uniform {
        let mut m = scatter_passes(gpu, slices, None, scatter)?;
        mirror_lower(&mut m, dp);
        return Ok(m);
    }
    let mut s_host: Vec<f32> = if kernel == ScatterKernel::Gram {
        let mut centre_and_gram = Vec::new();
        for (s, buf) in slices.slices.iter().enumerate() {
            let rows = slices.rows_in(s);
            centre_and_gram.push(subtract_mean(gpu, buf, mean, rows, width)?);
            centre_and_gram.push(gram_upper(gpu, buf, scatter, rows, dp, s > 0)?);
        }
        let all: Vec<&Dispatch> = sums.iter().chain(&centre_and_gram).collect();
        gpu.run("pca scatter", &all)?;
        gpu.read(scatter, 0, dp * dp)?
    } else {
        // The subgroup matmul (several times faster on lavapipe than the Gram kernel) computes
        // each slice's Xcᵀ Xc; the slices' products are summed on the CPU (f64).
        let mut total = vec![0f64; dp * dp];
        for (s, buf) in slices.slices.iter().enumerate() {
            let shape = MatmulShape {
                m: dp,
                n: dp,
                k: slices.rows_in(s),
                transpose_a: true,
                transpose_b: false,
            };
            // Subgroup64 for 64 or more columns, else Subgroup32.
            let sg = MatmulKernel::best(gpu, &shape);
            let d = if kernel == ScatterKernel::MatmulUpper {
                matmul::forward_upper(gpu, sg, &shape, buf, buf, scatter)?
            } else {
                matmul::forward_with(gpu, sg, &shape, buf, buf, None, scatter)?
            };
            gpu.run("pca scatter", &[&d])?;
            let part: Vec<f32> = gpu.read(scatter, 0, dp * dp)?;
            // Tiles below the diagonal that were skipped hold stale values; mirror_upper
            // overwrites them.
            for (t, v) in total.iter_mut().zip(part) {
                *t += v as f64;
            }
        }
        total.into_iter().map(|v| v as f32).collect()
    };
    // S is symmetric: the kernels computed (at least) the part on and above the diagonal; mirror
    // the 8 × 8 blocks below it (dp² values, on the CPU), which makes S exactly symmetric.
    mirror_upper(&mut s_host, dp);
    Ok(s_host)
}
