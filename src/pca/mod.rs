//! PCA on the GPU: column means and centring, the scatter matrix Xᵀ X by the uniform scatter
//! kernel on CPU adapters (64 rows a pass, their values shared from uniform bindings, one half of
//! S accumulated on the GPU), else through the subgroup matmul of ops::matmul where the adapter
//! runs it (only its tiles on or above the diagonal, per buffer slice, summed on the CPU, so
//! 70,000 × 784 MNIST fits), else a register-blocked Gram kernel (blocks on or above the
//! diagonal, accumulated over the slices), the rest mirrored; subspace
//! iteration V ← orth(S V) with S V on the GPU and the small QR / Rayleigh–Ritz problems on the
//! CPU, then the projection X V on the GPU.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::{BufferSlices, Dispatch, Gpu, workgroups_for};
use crate::ops::matmul::{self, MatmulKernel, MatmulShape};
use crate::ops::{check_len, launch};
use crate::rng::Rng;
use crate::tsne::LOOP_BUDGET;
use wgpu::util::DeviceExt;

const MEAN: &str = include_str!("mean.wgsl");
const GRAM: &str = include_str!("gram.wgsl");
const PROJECT: &str = include_str!("project.wgsl");
const SCATTER_UNIFORM: &str = include_str!("scatter_uniform.wgsl");

/// Rows of X per uniform binding of the uniform scatter kernel (16 rows of 784 f32 fit lavapipe's
/// 64 KiB bindings) ...
pub const SCATTER_BINDING_ROWS: usize = 16;
/// ... and uniform bindings per pass: a pass adds SCATTER_CHUNK_ROWS rows to S.
pub const SCATTER_BINDINGS: usize = 4;
pub const SCATTER_CHUNK_ROWS: usize = SCATTER_BINDING_ROWS * SCATTER_BINDINGS;
/// Each uniform binding of the uniform scatter kernel is declared (and bound) as this many vec4,
/// 64 KiB whatever the row length, so one pipeline serves every width (its first compile takes
/// ~4.7 s on lavapipe; Mesa keeps it on disk after that). Only the first SCATTER_BINDING_ROWS rows
/// of each binding are read, so the slices carry this much zero padding past their last chunk.
pub const SCATTER_UNIFORM_VEC4: usize = 4096;
/// [`ScatterKernel::best`] picks the uniform scatter kernel from this many (padded) features.
pub const SCATTER_UNIFORM_MIN: usize = 256;
/// Column quads of i per invocation of the uniform scatter kernel. Measured on lavapipe, 70,000
/// MNIST rows of 719 features, pipelines compiled (`centred_scatter` timed twice in one process):
/// 4 bindings and 2 quads 5.7-5.8 s; 4 and 1: 6.5-6.7 s; 3 and 2: 6.9 s; 2 and 2: 7.3-7.8 s; 2 and
/// 4: 8.1-8.8 s; 8 bindings (1 or 2 quads) far slower (more preloaded values than registers and
/// cache hold). The subgroup matmul (`MatmulUpper`) took 8.2 s.
pub const SCATTER_QUADS: usize = 2;

/// Subspace iteration stops when the k leading Ritz values change by less than this (relative to
/// the largest) between iterations (S V comes back in f32, so ~1e-6 is the noise floor) ...
const RITZ_TOL: f64 = 1e-5;
/// ... or after this many iterations.
const MAX_ITERATIONS: usize = 150;
/// Extra vectors carried along to speed up convergence of the last wanted ones.
const OVERSAMPLE: usize = 8;

/// Mirrors `Params` in mean.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct MeanParams {
    pub rows: u32,
    pub width: u32,
    pub accumulate: u32,
    pub scale: f32,
}

/// Mirrors `Params` in gram.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GramParams {
    pub rows: u32,
    pub wa: u32,
    pub wb: u32,
    pub b_tiles: u32,
    pub tiles: u32,
    pub accumulate: u32,
    /// 1: write only the 8 × 8 blocks on or above the diagonal (A = B).
    pub upper: u32,
    pub _pad1: u32,
}

/// Mirrors `Params` in scatter_uniform.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ScatterUniformParams {
    pub wq: u32,
    pub blocks: u32,
    /// Column quads [lo, hi): outside them every value of the pass's rows is 0.
    pub lo: u32,
    pub hi: u32,
}

/// Mirrors `Params` in project.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ProjectParams {
    pub rows: u32,
    pub wx: u32,
    pub kw: u32,
    pub tiles: u32,
}

/// mean (+)= scale · Σ_r x[r] over `rows` rows of `width` vec4.
pub fn column_mean(
    gpu: &Gpu,
    x: &wgpu::Buffer,
    mean: &wgpu::Buffer,
    rows: usize,
    width: usize,
    scale: f32,
    accumulate: bool,
) -> Result<Dispatch> {
    check_len("tsne pca mean", "x", x, rows * width * 4)?;
    check_len("tsne pca mean", "mean", mean, width * 4)?;
    let params = MeanParams {
        rows: rows as u32,
        width: width as u32,
        accumulate: accumulate as u32,
        scale,
    };
    launch(
        gpu,
        "tsne pca mean",
        MEAN,
        "column_mean",
        &params,
        &[x, mean],
        workgroups_for(width, 64),
    )
}

/// x[r] −= mean for `rows` rows of `width` vec4.
pub fn subtract_mean(
    gpu: &Gpu,
    x: &wgpu::Buffer,
    mean: &wgpu::Buffer,
    rows: usize,
    width: usize,
) -> Result<Dispatch> {
    check_len("tsne pca mean", "x", x, rows * width * 4)?;
    check_len("tsne pca mean", "mean", mean, width * 4)?;
    let params = MeanParams {
        rows: rows as u32,
        width: width as u32,
        accumulate: 0,
        scale: 1.0,
    };
    launch(
        gpu,
        "tsne pca mean",
        MEAN,
        "subtract_mean",
        &params,
        &[x, mean],
        workgroups_for(rows * width, 256),
    )
}

/// out (+)= Aᵀ B for A rows × ca and B rows × cb (ca, cb multiples of 8); out is ca × cb.
#[allow(clippy::too_many_arguments)]
pub fn gram(
    gpu: &Gpu,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    out: &wgpu::Buffer,
    rows: usize,
    ca: usize,
    cb: usize,
    accumulate: bool,
) -> Result<Dispatch> {
    gram_blocks(gpu, a, b, out, rows, ca, cb, accumulate, false)
}

/// out = Aᵀ B for A rows × ca and B rows × cb: the subgroup matmul where the adapter runs it,
/// else the Gram kernel (ca, cb multiples of 8).
#[allow(clippy::too_many_arguments)]
pub fn product_tn(
    gpu: &Gpu,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    out: &wgpu::Buffer,
    rows: usize,
    ca: usize,
    cb: usize,
) -> Result<Dispatch> {
    if MatmulKernel::Subgroup64.supported(gpu) {
        let shape = MatmulShape {
            m: ca,
            n: cb,
            k: rows,
            transpose_a: true,
            transpose_b: false,
        };
        matmul::forward(gpu, &shape, a, b, None, out)
    } else {
        gram(gpu, a, b, out, rows, ca, cb, false)
    }
}

/// Aᵀ A for A rows × c, writing only the 8 × 8 blocks on or above the diagonal (see
/// `mirror_upper`).
pub fn gram_upper(
    gpu: &Gpu,
    a: &wgpu::Buffer,
    out: &wgpu::Buffer,
    rows: usize,
    c: usize,
    accumulate: bool,
) -> Result<Dispatch> {
    gram_blocks(gpu, a, a, out, rows, c, c, accumulate, true)
}

/// Fill the entries above the diagonal of a c × c matrix from those below (after the uniform
/// scatter kernel, which stores the lower half).
pub fn mirror_lower(m: &mut [f32], c: usize) {
    for j in 0..c {
        for i in j + 1..c {
            m[j * c + i] = m[i * c + j];
        }
    }
}

/// Fill the blocks below the diagonal of a c × c matrix from those above (after `gram_upper`).
pub fn mirror_upper(m: &mut [f32], c: usize) {
    for i in 0..c {
        for j in 0..c {
            if i / 8 > j / 8 {
                m[i * c + j] = m[j * c + i];
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn gram_blocks(
    gpu: &Gpu,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    out: &wgpu::Buffer,
    rows: usize,
    ca: usize,
    cb: usize,
    accumulate: bool,
    upper: bool,
) -> Result<Dispatch> {
    if !ca.is_multiple_of(8) || !cb.is_multiple_of(8) || ca == 0 || cb == 0 {
        return Err(Error::shape(
            "tsne gram",
            format!("column counts {ca} and {cb} must be positive multiples of 8"),
        ));
    }
    check_len("tsne gram", "a", a, rows * ca)?;
    check_len("tsne gram", "b", b, rows * cb)?;
    check_len("tsne gram", "out", out, ca * cb)?;
    let b_tiles = cb / 8;
    let tiles = (ca / 8) * b_tiles;
    let params = GramParams {
        rows: rows as u32,
        wa: (ca / 4) as u32,
        wb: (cb / 4) as u32,
        b_tiles: b_tiles as u32,
        tiles: tiles as u32,
        accumulate: accumulate as u32,
        upper: upper as u32,
        _pad1: 0,
    };
    launch(
        gpu,
        "tsne gram",
        GRAM,
        "gram",
        &params,
        &[a, b, out],
        workgroups_for(tiles, 64),
    )
    .map(|d| d.with_flops((2 * rows * ca * cb) as f64))
}

/// out = X V for X rows × cx and V cx × cv (cx, cv multiples of 4); out is rows × cv.
pub fn project(
    gpu: &Gpu,
    x: &wgpu::Buffer,
    v: &wgpu::Buffer,
    out: &wgpu::Buffer,
    rows: usize,
    cx: usize,
    cv: usize,
) -> Result<Dispatch> {
    if !cx.is_multiple_of(4) || !cv.is_multiple_of(4) || cx == 0 || cv == 0 || rows == 0 {
        return Err(Error::shape(
            "tsne project",
            format!("{rows} rows, column counts {cx} and {cv} must be positive multiples of 4"),
        ));
    }
    check_len("tsne project", "x", x, rows * cx)?;
    check_len("tsne project", "v", v, cx * cv)?;
    check_len("tsne project", "out", out, rows * cv)?;
    let kw = cv / 4;
    let tiles = rows.div_ceil(4) * kw;
    let params = ProjectParams {
        rows: rows as u32,
        wx: (cx / 4) as u32,
        kw: kw as u32,
        tiles: tiles as u32,
    };
    launch(
        gpu,
        "tsne project",
        PROJECT,
        "project",
        &params,
        &[x, v, out],
        workgroups_for(tiles, 64),
    )
}

/// Whether the uniform scatter kernel runs for rows of `dp` f32 on this adapter: a uniform
/// binding holds [`SCATTER_BINDING_ROWS`] rows at an aligned offset, a pass's chunk of rows starts
/// at an aligned storage offset, and a stage may bind the kernel's uniforms.
pub fn scatter_uniform_fits(gpu: &Gpu, dp: usize) -> bool {
    let l = &gpu.limits;
    let binding = (SCATTER_BINDING_ROWS * dp * 4) as u64;
    let declared = (SCATTER_UNIFORM_VEC4 * 16) as u64;
    dp > 0
        && dp.is_multiple_of(8)
        && binding <= declared
        && declared <= l.max_uniform_buffer_binding_size
        && binding.is_multiple_of(l.min_uniform_buffer_offset_alignment as u64)
        && (SCATTER_BINDINGS as u64 * binding)
            .is_multiple_of(l.min_storage_buffer_offset_alignment as u64)
        && SCATTER_BINDINGS < l.max_uniform_buffers_per_shader_stage as usize
}

/// The whole uniform scatter kernel: scatter_uniform.wgsl plus the generated uniform
/// bindings (`bindings` of [`SCATTER_UNIFORM_VEC4`] vec4, of which the first `rows_per_binding`
/// rows are read) and entry point with `quads` column quads per invocation; the row length is a
/// parameter (`wq`), so the source is the same for every width. Names: first the block's first
/// column quad, h{q} the invocation's quads (clamped), a{q}_{s} row s's values there, acc{q}_{c}
/// the sums for row 4 cq + c of S.
pub fn scatter_uniform_source(rows_per_binding: usize, bindings: usize, quads: usize) -> String {
    use std::fmt::Write;
    debug_assert!(rows_per_binding > 0 && bindings > 0 && quads > 0);
    let rows = rows_per_binding * bindings;
    let xyzw = ["x", "y", "z", "w"];
    let mut s = SCATTER_UNIFORM.to_string();
    let w = &mut s;
    macro_rules! line {
        ($($arg:tt)*) => { writeln!(w, $($arg)*).unwrap() };
    }
    line!();
    for b in 0..bindings {
        line!(
            "@group(0) @binding({}) var<uniform> u{b}: array<vec4<f32>, {SCATTER_UNIFORM_VEC4}>;",
            3 + b
        );
    }
    line!();
    line!(
        "// Generated by pca::scatter_uniform_source: {bindings} uniform bindings of \
         {rows_per_binding} rows, {quads} column quads per invocation."
    );
    line!("@compute @workgroup_size(8)");
    line!(
        "fn scatter_uniform(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,"
    );
    line!("                   @builtin(local_invocation_index) lid: u32) {{");
    line!("    let w = wg.x + wg.y * nwg.x;");
    line!("    // The same for the whole workgroup: the column loop below stays lane-uniform.");
    line!("    if (w >= params.blocks) {{ return; }}");
    line!("    let first = block_of(w) * {}u;", 8 * quads);
    line!("    // The chunk's rows are 0 outside quads [lo, hi): so are their products there.");
    line!(
        "    if (first >= params.hi || first + {}u <= params.lo) {{ return; }}",
        8 * quads
    );
    line!("    let q0 = first + lid * {quads}u;");
    for q in 0..quads {
        line!("    let h{q} = min(q0 + {q}u, params.wq - 1u);");
    }
    for r in 0..rows {
        for q in 0..quads {
            line!("    let a{q}_{r} = x[{r}u * params.wq + h{q}];");
        }
    }
    line!("    for (var cq = max(first, params.lo); cq < params.hi; cq++) {{");
    for q in 0..quads {
        for c in 0..4 {
            line!("        var acc{q}_{c} = vec4<f32>(0.0);");
        }
    }
    for r in 0..rows {
        let (b, rb) = (r / rows_per_binding, r % rows_per_binding);
        line!("        {{");
        line!("            let v = u{b}[{rb}u * params.wq + cq];");
        for q in 0..quads {
            for (c, x) in xyzw.iter().enumerate() {
                line!("            acc{q}_{c} = fma(a{q}_{r}, vec4<f32>(v.{x}), acc{q}_{c});");
            }
        }
        line!("        }}");
    }
    for q in 0..quads {
        line!("        if (q0 + {q}u < params.wq) {{");
        for c in 0..4 {
            line!("            let e{q}_{c} = (4u * cq + {c}u) * params.wq + h{q};");
            line!("            scatter[e{q}_{c}] += acc{q}_{c};");
        }
        line!("        }}");
    }
    line!("    }}");
    line!("}}");
    s
}

/// The f32 a slice needs for a uniform scatter pass from `row0`: its chunk, and the last uniform
/// binding's whole declared range ([`SCATTER_UNIFORM_VEC4`] vec4 from the chunk's last 16 rows).
pub fn scatter_slice_len(row0: usize, dp: usize) -> usize {
    ((row0 + SCATTER_CHUNK_ROWS) * dp)
        .max((row0 + SCATTER_CHUNK_ROWS - SCATTER_BINDING_ROWS) * dp + 4 * SCATTER_UNIFORM_VEC4)
}

/// The f32 a slice of `rows` rows (at least one) needs for every uniform scatter pass over it:
/// whole chunks, and what the last one's bindings reach ([`scatter_slice_len`]).
fn padded_slice_len(rows: usize, dp: usize) -> usize {
    let whole = rows.div_ceil(SCATTER_CHUNK_ROWS) * SCATTER_CHUNK_ROWS;
    scatter_slice_len(whole - SCATTER_CHUNK_ROWS, dp)
}

/// One pass of the uniform scatter kernel: S (dp × dp, `scatter`) += the contribution of the
/// [`SCATTER_CHUNK_ROWS`] rows of `slice` (rows of dp f32, centred) from `row0` on, for the
/// entries S[j][i] with j at or above i's block (see scatter_uniform.wgsl). The slice
/// must hold those rows (zeros past the data) and be usable as a uniform buffer. The rows must be
/// 0 outside the column quads `live` = [lo, hi) (`[0, dp / 4]`: anywhere): the pass skips the
/// products there, which add nothing.
pub fn scatter_uniform(
    gpu: &Gpu,
    slice: &wgpu::Buffer,
    row0: usize,
    dp: usize,
    scatter: &wgpu::Buffer,
    live: [u32; 2],
) -> Result<Dispatch> {
    let wq = dp / 4;
    if !scatter_uniform_fits(gpu, dp)
        || !row0.is_multiple_of(SCATTER_CHUNK_ROWS)
        || live[1] as usize > wq
    {
        return Err(Error::shape(
            "tsne pca uniform scatter",
            format!(
                "rows of {dp} values from row {row0} (a multiple of {SCATTER_CHUNK_ROWS}) in \
                 uniform bindings of {SCATTER_BINDING_ROWS} rows, non-zero in column quads \
                 {live:?}"
            ),
        ));
    }
    check_len(
        "tsne pca uniform scatter",
        "slice",
        slice,
        scatter_slice_len(row0, dp),
    )?;
    check_len("tsne pca uniform scatter", "scatter", scatter, dp * dp)?;
    let blocks = wq.div_ceil(8 * SCATTER_QUADS);
    let params = ScatterUniformParams {
        wq: wq as u32,
        blocks: blocks as u32,
        lo: live[0],
        hi: live[1],
    };
    let label = "tsne pca uniform scatter";
    let pipeline = gpu.pipeline_with(label, "scatter_uniform", || {
        scatter_uniform_source(SCATTER_BINDING_ROWS, SCATTER_BINDINGS, SCATTER_QUADS)
    })?;
    let uniform = gpu.uniform(&format!("{label} params"), &params);
    let range = |first_row: usize, bytes: usize| {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: slice,
            offset: (first_row * dp * 4) as u64,
            size: std::num::NonZeroU64::new(bytes as u64),
        })
    };
    let mut resources = vec![
        uniform.as_entire_binding(),
        range(row0, SCATTER_CHUNK_ROWS * dp * 4),
        scatter.as_entire_binding(),
    ];
    for b in 0..SCATTER_BINDINGS {
        resources.push(range(
            row0 + b * SCATTER_BINDING_ROWS,
            SCATTER_UNIFORM_VEC4 * 16,
        ));
    }
    // Each block of 8 SCATTER_QUADS quads of i runs over the quads of j from its own.
    let flops: usize = (0..blocks)
        .map(|b| 8 * SCATTER_QUADS * 4 * (wq - b * 8 * SCATTER_QUADS) * 4)
        .sum::<usize>()
        * 2
        * SCATTER_CHUNK_ROWS;
    Ok(Dispatch::new(
        gpu,
        &format!("{label} dp{dp}::scatter_uniform"),
        pipeline,
        &resources,
        workgroups_for(blocks, 1),
    )
    .with_flops(flops as f64))
}

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
    /// subgroup matmul, else the uniform kernel, else the Gram kernel. Measured on lavapipe, 70,000
    /// rows, second runs (pipelines compiled): 720 features 5.9 s against the matmul's 8.2 s (and
    /// 18 times closer to f64 sums), 400: 2.1 / 2.6 s, 256: 1.2 / 1.3 s, 128: 0.55 / 0.45 s, 56:
    /// 0.36 / 0.20 s. Its one pipeline serves every width; its first compile takes ~4.7 s with
    /// Mesa's shader cache cold (the matmul's ~1.8 s), once per machine.
    pub fn best(gpu: &Gpu, d: usize) -> ScatterKernel {
        let uniform = ScatterKernel::Uniform.supported(gpu, d);
        if uniform && gpu.is_cpu() && d.div_ceil(8) * 8 >= SCATTER_UNIFORM_MIN {
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
/// past them ([`scatter_slice_len`]; zeros past its data: the kernels read only a slice's
/// `rows_in` rows, the uniform scatter kernel whole chunks) and is usable as a uniform buffer too.
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
            "tsne pca upload",
            format!("a zero plan of another shape than {n} × {d}"),
        ));
    }
    if x.len() != n * d || d == 0 {
        return Err(Error::shape(
            "tsne pca upload",
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
                    label: Some(&format!("tsne pca x slice {i}")),
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
/// sums are the same. MNIST: 63% of the products remain, the passes 5.0 → 3.4 s. The scatter of
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
        gpu.run("tsne pca scatter", &batch.iter().collect::<Vec<_>>())?;
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
            "tsne pca planned scatter",
            format!(
                "a zero plan for {} rows of {d} columns and slices of {n} rows of {dp} (uniform \
                 kernel)",
                plan.order.len()
            ),
        ));
    }
    check_len("tsne pca planned scatter", "scatter", scatter, dp * dp)?;
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
            "tsne pca scatter",
            format!("{n} rows of {dp} columns (a positive multiple of 8 needed)"),
        ));
    }
    check_len("tsne pca scatter", "mean", mean, dp)?;
    check_len("tsne pca scatter", "scatter", scatter, dp * dp)?;
    let width = dp / 4;
    if kernel == ScatterKernel::Uniform {
        let whole_chunks = slices.slices.iter().enumerate().all(|(s, buf)| {
            buf.usage().contains(wgpu::BufferUsages::UNIFORM)
                && buf.size() >= (padded_slice_len(slices.rows_in(s), dp) * 4) as u64
        });
        if !whole_chunks {
            return Err(Error::shape(
                "tsne pca uniform scatter",
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
        gpu.run("tsne pca centre", &centre.iter().collect::<Vec<_>>())?;
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
        gpu.run("tsne pca scatter", &all)?;
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
            gpu.run("tsne pca scatter", &[&d])?;
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
            "tsne pca",
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
    let scatter = gpu.storage("tsne pca scatter", dp * dp);
    let (s_host, mean_host) = match &plan {
        Some(plan) => (
            planned_scatter(gpu, &slices, plan, &scatter)?,
            plan.mean.iter().map(|&m| m as f32).collect(),
        ),
        None => {
            // Centre, then the scatter matrix S = Xcᵀ Xc, slice by slice.
            let mean = gpu.storage("tsne pca mean", dp);
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
    let v_buf = gpu.storage("tsne pca V", dp * kp);
    let w_buf = gpu.storage("tsne pca SV", dp * kp);
    let sv = product_tn(gpu, &scatter, &v_buf, &w_buf, dp, dp, kp)?;
    let mut previous = vec![0f64; k];
    let mut w: Vec<f64>;
    let mut iteration = 0;
    loop {
        let v32: Vec<f32> = v.iter().map(|&e| e as f32).collect();
        gpu.write(&v_buf, &v32);
        gpu.run("tsne pca S V", &[&sv])?;
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
    let vk_buf = gpu.storage_from("tsne pca components", &vk);
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
        let out = gpu.storage("tsne pca projected", rows * kv);
        let p = if MatmulKernel::Subgroup64.supported(gpu) {
            let shape = MatmulShape::new(rows, kv, dp);
            matmul::forward(gpu, &shape, buf, &vk_buf, None, &out)?
        } else {
            project(gpu, buf, &vk_buf, &out, rows, dp, kv)?
        };
        gpu.run("tsne pca project", &[&p])?;
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

/// H = Vᵀ W (kp × kp) for V, W dp × kp row-major, symmetrized.
fn rayleigh(v: &[f64], w: &[f64], dp: usize, kp: usize) -> Vec<f64> {
    let mut h = vec![0f64; kp * kp];
    for r in 0..dp {
        let (vr, wr) = (&v[r * kp..(r + 1) * kp], &w[r * kp..(r + 1) * kp]);
        for a in 0..kp {
            for b in 0..kp {
                h[a * kp + b] += vr[a] * wr[b];
            }
        }
    }
    for a in 0..kp {
        for b in 0..a {
            let m = 0.5 * (h[a * kp + b] + h[b * kp + a]);
            h[a * kp + b] = m;
            h[b * kp + a] = m;
        }
    }
    h
}

/// Modified Gram–Schmidt on the columns of a row-major rows × cols matrix. Columns that vanish
/// (rank deficiency) are replaced by unit vectors orthogonal to the rest.
fn orthonormalize(m: &mut [f64], rows: usize, cols: usize) {
    for c in 0..cols {
        for _ in 0..2 {
            for p in 0..c {
                let dot: f64 = (0..rows).map(|r| m[r * cols + c] * m[r * cols + p]).sum();
                for r in 0..rows {
                    m[r * cols + c] -= dot * m[r * cols + p];
                }
            }
        }
        let norm = (0..rows)
            .map(|r| m[r * cols + c].powi(2))
            .sum::<f64>()
            .sqrt();
        if norm > 1e-12 {
            for r in 0..rows {
                m[r * cols + c] /= norm;
            }
        } else {
            // Try the coordinate axes until one survives orthogonalization.
            for axis in 0..rows {
                for r in 0..rows {
                    m[r * cols + c] = if r == axis { 1.0 } else { 0.0 };
                }
                for p in 0..c {
                    let dot: f64 = (0..rows).map(|r| m[r * cols + c] * m[r * cols + p]).sum();
                    for r in 0..rows {
                        m[r * cols + c] -= dot * m[r * cols + p];
                    }
                }
                let norm = (0..rows)
                    .map(|r| m[r * cols + c].powi(2))
                    .sum::<f64>()
                    .sqrt();
                if norm > 1e-6 {
                    for r in 0..rows {
                        m[r * cols + c] /= norm;
                    }
                    break;
                }
            }
        }
    }
}

/// Eigenvalues and eigenvectors (columns of the row-major result) of a symmetric matrix by cyclic
/// Jacobi rotations.
fn jacobi_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        let scale: f64 = (0..n)
            .map(|i| a[i * n + i].powi(2))
            .sum::<f64>()
            .max(1e-300);
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// Plain-loop references, named as in the WGSL.
pub mod cpu {
    /// Column means of x (rows × cols).
    pub fn column_mean(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..cols)
            .map(|c| ((0..rows).map(|r| x[r * cols + c] as f64).sum::<f64>() / rows as f64) as f32)
            .collect()
    }

    /// x − mean, row by row.
    pub fn subtract_mean(x: &[f32], mean: &[f32], cols: usize) -> Vec<f32> {
        x.iter()
            .enumerate()
            .map(|(e, v)| v - mean[e % cols])
            .collect()
    }

    /// Aᵀ B for A rows × ca, B rows × cb.
    pub fn gram(a: &[f32], b: &[f32], rows: usize, ca: usize, cb: usize) -> Vec<f32> {
        let mut out = vec![0f32; ca * cb];
        for i in 0..ca {
            for j in 0..cb {
                out[i * cb + j] = (0..rows)
                    .map(|r| a[r * ca + i] as f64 * b[r * cb + j] as f64)
                    .sum::<f64>() as f32;
            }
        }
        out
    }

    /// X V for X rows × cx, V cx × cv.
    pub fn project(x: &[f32], v: &[f32], rows: usize, cx: usize, cv: usize) -> Vec<f32> {
        let mut out = vec![0f32; rows * cv];
        for r in 0..rows {
            for c in 0..cv {
                out[r * cv + c] = (0..cx)
                    .map(|f| x[r * cx + f] as f64 * v[f * cv + c] as f64)
                    .sum::<f64>() as f32;
            }
        }
        out
    }
}
