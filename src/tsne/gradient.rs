//! The two halves of the t-SNE gradient ∂KL/∂y_i = 4 (α F_attr,i − F_rep,i / Z):
//! attraction F_attr,i = Σ_j p_ij w_ij (y_i − y_j) (dense P, or sparse P in CSR, one invocation per
//! point) and the exact O(N²) repulsion sums [Σ_j w_ij² (y_i − y_j), Σ_{j≠i} w_ij] (four points per
//! invocation, no branch in the inner loop). The repulsion output has the layout the
//! FFT-interpolated repulsion writes: dims + 1 f32 per point.

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use super::affinity::{DenseP, SparseP, dense_ld};
use super::with_dims;
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, TexelTable, with_texel_tables, workgroups_for};
use crate::ops::{check_len, launch, launch_specialized};
use crate::wgsl::WgslStruct;
use crate::wgsl_struct;

static REPULSION: LazyLock<String> =
    LazyLock::new(|| RepulsionParams::as_params_of(include_str!("gradient_repulsion.wgsl")));
static ATTRACTION_DENSE: LazyLock<String> = LazyLock::new(|| {
    AttractionParams::as_params_of(include_str!("gradient_attraction_dense.wgsl"))
});
static ATTRACTION_SPARSE: LazyLock<String> = LazyLock::new(|| {
    AttractionParams::as_params_of(include_str!("gradient_attraction_sparse.wgsl"))
});
static POSITIONS_TEXTURE: LazyLock<String> = LazyLock::new(|| {
    PositionsParams::as_params_of(include_str!("gradient_positions_texture.wgsl"))
});

/// gradient_positions_texture.wgsl for `dims`, its texel table declared in the format
/// [`PositionTexture`] makes: 2-D positions fill two channels (rg32uint), half the bytes for
/// the attraction's random gathers.
fn positions_texture_source(dims: usize) -> String {
    let format = if dims == 2 { "rg32uint" } else { "rgba32uint" };
    format!("@group(0) @binding(2) var positions: texture_storage_2d<{format}, write>;\n")
        + &with_dims(&POSITIONS_TEXTURE, dims)
}

wgsl_struct! {
    /// `Params` in gradient_repulsion.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct RepulsionParams {
        pub n: u32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

wgsl_struct! {
    /// `Params` in gradient_attraction_dense.wgsl and gradient_attraction_sparse.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct AttractionParams {
        pub n: u32,
        /// vec4 per row of a dense P (dense kernels only; 0 for sparse).
        pub lq: u32,
        /// Bits of a packed sparse entry that hold its column ([`EntryPacking`]; sparse kernels
        /// only, 0 for dense).
        pub col_bits: u32,
        pub _pad2: u32,
    }
}

wgsl_struct! {
    /// `Params` in gradient_positions_texture.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct PositionsParams {
        pub n: u32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

pub(crate) fn check_dims(dims: usize) -> Result<()> {
    if dims == 2 || dims == 3 {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "embedding dimension must be 2 or 3, not {dims}"
        )))
    }
}

/// Rows per slice of the sliced-ELL layout (the attraction kernel's workgroup size).
pub const SLICE_ROWS: usize = 64;
/// Rows are sorted by length within windows of this many rows (a multiple of SLICE_ROWS).
pub const SORT_WINDOW: usize = 4096;
/// Packed entries per texel of the sliced-ELL layout (one per u32 of an rgba32uint texel).
pub const ENTRIES_PER_TEXEL: usize = 4;
/// The fewest bits a packed entry keeps for its value: below this (more than 2^22 points) the
/// rounding of P would no longer be small against the approximations of the repulsion.
pub const MIN_VALUE_BITS: u32 = 10;

/// How one entry p_ij of a sparse P is packed into a u32 on the GPU: the column j in the low
/// `col_bits` bits (as few as n needs), and above them the value rounded to a multiple of its
/// row's scale, max_j p_ij / (2^value_bits − 1). One u32 per entry instead of two: the
/// attraction kernel, bound by its texel fetches, fetches four entries at a time instead of two
/// (70,000 points: ~11% faster). The rounding is relative to the row's largest entry: at most
/// 2^−(value_bits+1) of it (2^−16 at 70,000 points, 2^−12 at a million).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryPacking {
    pub col_bits: u32,
}

impl EntryPacking {
    /// The packing for a P of n rows: columns 0..n need ⌈log2 n⌉ bits (at least 1).
    pub fn for_rows(n: usize) -> Result<EntryPacking> {
        let col_bits = (usize::BITS - n.saturating_sub(1).leading_zeros()).max(1);
        if 32 - col_bits.min(32) < MIN_VALUE_BITS {
            return Err(Error::InvalidArgument(format!(
                "a sparse P of {n} rows: its packed entries would keep fewer than \
                 {MIN_VALUE_BITS} bits of each value (at most {} rows)",
                1usize << (32 - MIN_VALUE_BITS)
            )));
        }
        Ok(EntryPacking { col_bits })
    }

    pub fn value_bits(self) -> u32 {
        32 - self.col_bits
    }

    /// The largest stored value: a row's largest entry is stored as this many steps.
    pub fn steps(self) -> u32 {
        (1u32 << self.value_bits()) - 1
    }

    /// The step of a row with these values: its largest over [`EntryPacking::steps`] (0 for a row
    /// of zeros).
    pub fn row_scale(self, values: &[f32]) -> f32 {
        values.iter().copied().fold(0f32, f32::max) / self.steps() as f32
    }

    /// The steps stored for value v in a row of scale `scale`.
    pub fn steps_of(self, v: f32, scale: f32) -> u32 {
        if scale > 0.0 {
            ((v / scale).round() as u32).min(self.steps())
        } else {
            0
        }
    }

    /// The value `steps` of a row of scale `scale` stand for, as the kernels compute it.
    pub fn value(self, steps: u32, scale: f32) -> f32 {
        steps as f32 * scale
    }

    pub fn pack(self, col: u32, steps: u32) -> u32 {
        col | (steps << self.col_bits)
    }
}

/// A sparse P on the GPU in the sliced-ELL layout the attraction and KL kernels read: rows sorted
/// by length, longest first, in slices of [`SLICE_ROWS`] rows, each row's entries in CSR order,
/// four packed entries ([`EntryPacking`]) per texel of a texel table (see
/// gradient_attraction_sparse.wgsl).
pub struct GpuCsr {
    pub n: usize,
    pub packing: EntryPacking,
    /// Per slot of the sorted row order (padded to whole slices with n − 1): the row, and the
    /// bits of its scale.
    pub rows: wgpu::Buffer,
    /// Per slice: (offset, length) of its entries, in texels.
    pub slices: wgpu::Buffer,
    /// Texel t: packed sliced-ELL entries 4t .. 4t + 3.
    pub entries: TexelTable,
    /// The sum of P's values as stored (see [`stored_p`]).
    pub stored_sum: f64,
}

/// The sliced-ELL layout of a sparse P as the GPU holds it.
pub struct SlicedEll {
    /// Per slot: (row, bits of the row's scale); slots past n repeat row n − 1 with scale 0.
    pub rows: Vec<[u32; 2]>,
    /// Per slice: (offset of its first texel, texels per row).
    pub slices: Vec<[u32; 2]>,
    /// Packed entries: a slice's r-th row has entries 4u .. 4u + 3 in texel offset + 64 u + r.
    /// Rows shorter than the slice's longest are padded with (the row itself, 0), which adds
    /// exactly 0.
    pub words: Vec<u32>,
    /// The sum of the stored values (steps × scale).
    pub stored_sum: f64,
}

/// The sliced-ELL layout of P with its entries packed by `packing`. Values must be finite and
/// non-negative (checked by [`GpuCsr::upload`]).
pub fn sliced_ell(p: &SparseP, packing: EntryPacking) -> SlicedEll {
    let n = p.n;
    let len = |i: usize| (p.row_ptr[i + 1] - p.row_ptr[i]) as usize;
    let mut perm: Vec<u32> = (0..n as u32).collect();
    // Longest first within windows of SORT_WINDOW rows, so that the slices sweep the rows (and,
    // with neighbours labelled close together, the positions they gather) in order. Stable:
    // equal lengths keep ascending row order, so the layout is a function of P alone.
    perm.sort_by_key(|&i| (i as usize / SORT_WINDOW, std::cmp::Reverse(len(i as usize))));
    let count = n.div_ceil(SLICE_ROWS);
    let rows: Vec<[u32; 2]> = (0..count * SLICE_ROWS)
        .map(|slot| match perm.get(slot) {
            Some(&i) => {
                let (a, b) = (
                    p.row_ptr[i as usize] as usize,
                    p.row_ptr[i as usize + 1] as usize,
                );
                [i, packing.row_scale(&p.val[a..b]).to_bits()]
            }
            None => [(n - 1) as u32, 0],
        })
        .collect();
    let mut slices = Vec::with_capacity(count);
    let mut words = Vec::with_capacity(p.col.len() + p.col.len() / 4);
    let mut stored_sum = 0f64;
    for s in 0..count {
        let block = &rows[s * SLICE_ROWS..(s + 1) * SLICE_ROWS];
        let texels = len(block[0][0] as usize).div_ceil(ENTRIES_PER_TEXEL);
        slices.push([(words.len() / ENTRIES_PER_TEXEL) as u32, texels as u32]);
        for u in 0..texels {
            for (r, &[i, scale]) in block.iter().enumerate() {
                let (i, scale) = (i as usize, f32::from_bits(scale));
                for t in ENTRIES_PER_TEXEL * u..ENTRIES_PER_TEXEL * (u + 1) {
                    words.push(if s * SLICE_ROWS + r < n && t < len(i) {
                        let e = p.row_ptr[i] as usize + t;
                        let steps = packing.steps_of(p.val[e], scale);
                        stored_sum += packing.value(steps, scale) as f64;
                        packing.pack(p.col[e], steps)
                    } else {
                        packing.pack(i as u32, 0)
                    });
                }
            }
        }
    }
    SlicedEll {
        rows,
        slices,
        words,
        stored_sum,
    }
}

/// P with each value as the GPU holds it after packing (steps × its row's scale, in f32): what
/// the CPU references are given to compare with the kernels.
pub fn stored_p(p: &SparseP) -> Result<SparseP> {
    let packing = EntryPacking::for_rows(p.n)?;
    let mut val = Vec::with_capacity(p.val.len());
    for w in p.row_ptr.windows(2) {
        let row = &p.val[w[0] as usize..w[1] as usize];
        let scale = packing.row_scale(row);
        val.extend(
            row.iter()
                .map(|&v| packing.value(packing.steps_of(v, scale), scale)),
        );
    }
    Ok(SparseP {
        n: p.n,
        row_ptr: p.row_ptr.clone(),
        col: p.col.clone(),
        val,
    })
}

impl GpuCsr {
    pub fn upload(gpu: &Gpu, p: &SparseP) -> Result<GpuCsr> {
        if p.n == 0
            || p.row_ptr.len() != p.n + 1
            || p.col.len() != p.val.len()
            || *p.row_ptr.last().unwrap_or(&0) as usize != p.col.len()
            || p.row_ptr.windows(2).any(|w| w[0] > w[1])
        {
            return Err(Error::shape(
                "tsne sparse P",
                format!(
                    "row_ptr of {} for {} rows, {} columns, {} values",
                    p.row_ptr.len(),
                    p.n,
                    p.col.len(),
                    p.val.len()
                ),
            ));
        }
        if p.col.iter().any(|&j| j as usize >= p.n) {
            return Err(Error::shape(
                "tsne sparse P",
                format!("a column index is out of range for {} rows", p.n),
            ));
        }
        if p.val.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(Error::InvalidArgument(
                "tsne sparse P: a value is negative, NaN or infinite".into(),
            ));
        }
        let packing = EntryPacking::for_rows(p.n)?;
        let ell = sliced_ell(p, packing);
        let entries = gpu
            .texel_table(
                "tsne P sliced entries",
                ell.words.len() / ENTRIES_PER_TEXEL,
                Some(&ell.words),
                false,
            )
            .map_err(|e| {
                Error::InvalidArgument(format!(
                    "a sparse P of {} entries does not fit this adapter ({e}); use a smaller \
                     perplexity",
                    p.col.len()
                ))
            })?;
        Ok(GpuCsr {
            n: p.n,
            packing,
            rows: gpu.storage_from("tsne P rows", &ell.rows),
            slices: gpu.storage_from("tsne P slices", &ell.slices),
            entries,
            stored_sum: ell.stored_sum,
        })
    }
}

/// Exact repulsion sums of y (n × dims) into `out` (n × (dims + 1)).
pub fn repulsion(
    gpu: &Gpu,
    y: &wgpu::Buffer,
    out: &wgpu::Buffer,
    n: usize,
    dims: usize,
) -> Result<Dispatch> {
    check_dims(dims)?;
    check_len("tsne repulsion", "y", y, n * dims)?;
    check_len("tsne repulsion", "out", out, n * (dims + 1))?;
    let params = RepulsionParams {
        n: n as u32,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    launch(
        gpu,
        &format!("tsne repulsion {dims}d"),
        &with_dims(&REPULSION, dims),
        "repulsion_exact",
        &params,
        &[y, out],
        workgroups_for(n.div_ceil(4), 64),
    )
    .map(|d| d.with_flops((n * n * (6 + 4 * dims)) as f64))
}

/// One invocation per four rows of a dense symmetric P, reading P's columns as vec4 and writing
/// `out_len` values of `out`: the dense attraction and the dense KL terms share this launch.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense_p_rows(
    gpu: &Gpu,
    op: &str,
    source: &str,
    entry: &str,
    y: &wgpu::Buffer,
    p: &DenseP,
    out: (&str, &wgpu::Buffer, usize),
    dims: usize,
) -> Result<Dispatch> {
    check_dims(dims)?;
    let n = p.n;
    check_len(op, "y", y, n * dims)?;
    check_len(op, "p", &p.p, n * dense_ld(n))?;
    check_len(op, out.0, out.1, out.2)?;
    let params = AttractionParams {
        n: n as u32,
        lq: (dense_ld(n) / 4) as u32,
        col_bits: 0,
        _pad2: 0,
    };
    launch(
        gpu,
        &format!("{op} dense {dims}d"),
        &with_dims(source, dims),
        entry,
        &params,
        &[y, &p.p, out.1],
        workgroups_for(n.div_ceil(4), 64),
    )
}

/// Attraction with a dense symmetric P into `attr` (n × dims); four points per invocation, reading
/// P's columns as vec4.
pub fn attraction_dense(
    gpu: &Gpu,
    y: &wgpu::Buffer,
    p: &DenseP,
    attr: &wgpu::Buffer,
    dims: usize,
) -> Result<Dispatch> {
    dense_p_rows(
        gpu,
        "tsne attraction",
        &ATTRACTION_DENSE,
        "attraction_dense",
        y,
        p,
        ("attr", attr, p.n * dims),
        dims,
    )
}

/// Positions (n × dims) copied into a texel table for the kernels that gather them: `fill`
/// copies the current contents of the buffer it was made for.
pub struct PositionTexture {
    pub n: usize,
    pub dims: usize,
    pub table: TexelTable,
    pub fill: Dispatch,
}

impl PositionTexture {
    pub fn new(gpu: &Gpu, y: &wgpu::Buffer, n: usize, dims: usize) -> Result<PositionTexture> {
        check_dims(dims)?;
        check_len("tsne positions texture", "y", y, n * dims)?;
        let source = positions_texture_source(dims);
        let table = if dims == 2 {
            gpu.texel_table_2("tsne positions", n)?
        } else {
            gpu.texel_table("tsne positions", n, None, true)?
        };
        let params = PositionsParams {
            n: n as u32,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        };
        let fill = launch_specialized(
            gpu,
            &format!("tsne positions texture {dims}d"),
            &with_texel_tables(&source),
            "positions_texture",
            &table.constants(),
            &params,
            &[
                y.as_entire_binding(),
                wgpu::BindingResource::TextureView(&table.view),
            ],
            workgroups_for(n, 64),
        )?;
        Ok(PositionTexture {
            n,
            dims,
            table,
            fill,
        })
    }
}

/// A kernel over the sliced-ELL layout of `p` at the positions in `y` (as its `fill` last copied
/// them), one row per invocation, writing `out` (`per_row` f32 per row): the binding layout the
/// sparse attraction and KL kernels share (params, positions, perm, slices, entries, out).
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch_sliced<P: bytemuck::Pod>(
    gpu: &Gpu,
    label: &str,
    source: &str,
    entry: &str,
    params: &P,
    y: &PositionTexture,
    p: &GpuCsr,
    out: &wgpu::Buffer,
    per_row: usize,
) -> Result<Dispatch> {
    let n = p.n;
    if y.n != n {
        return Err(Error::shape(
            label,
            format!("P has {n} rows, the positions texture holds {} points", y.n),
        ));
    }
    if y.table.shift != p.entries.shift {
        return Err(Error::InvalidArgument(format!(
            "{label}: positions and P texel tables of different widths"
        )));
    }
    check_len(label, "out", out, n * per_row)?;
    launch_specialized(
        gpu,
        label,
        &with_texel_tables(source),
        entry,
        &p.entries.constants(),
        params,
        &[
            wgpu::BindingResource::TextureView(&y.table.view),
            p.rows.as_entire_binding(),
            p.slices.as_entire_binding(),
            wgpu::BindingResource::TextureView(&p.entries.view),
            out.as_entire_binding(),
        ],
        workgroups_for(n.div_ceil(SLICE_ROWS), 1),
    )
}

/// Attraction with a sparse P (sliced ELL, each row in CSR order) at the positions in `y` (as
/// its `fill` last copied them) into `attr` (n × dims).
pub fn attraction_sparse(
    gpu: &Gpu,
    y: &PositionTexture,
    p: &GpuCsr,
    attr: &wgpu::Buffer,
) -> Result<Dispatch> {
    let params = AttractionParams {
        n: p.n as u32,
        lq: 0,
        col_bits: p.packing.col_bits,
        _pad2: 0,
    };
    launch_sliced(
        gpu,
        &format!("tsne attraction sparse {}d", y.dims),
        &with_dims(&ATTRACTION_SPARSE, y.dims),
        "attraction_sparse",
        &params,
        y,
        p,
        attr,
        y.dims,
    )
}

/// This module's kernels as the GPU gets them, by file (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("src/tsne/gradient_repulsion.wgsl", with_dims(&REPULSION, 2)),
        (
            "src/tsne/gradient_attraction_dense.wgsl",
            with_dims(&ATTRACTION_DENSE, 2),
        ),
        (
            "src/tsne/gradient_attraction_sparse.wgsl",
            with_dims(&ATTRACTION_SPARSE, 2),
        ),
        (
            "src/tsne/gradient_positions_texture.wgsl",
            positions_texture_source(2),
        ),
        (
            "src/tsne/gradient_positions_texture.wgsl",
            positions_texture_source(3),
        ),
    ]
}

/// Plain-loop references (f64 accumulation), named as in the WGSL.
pub mod cpu {
    fn w(y: &[f32], dims: usize, i: usize, j: usize) -> (f64, [f64; 3]) {
        let mut d = [0f64; 3];
        for c in 0..dims {
            d[c] = y[i * dims + c] as f64 - y[j * dims + c] as f64;
        }
        let r2: f64 = d.iter().map(|v| v * v).sum();
        (1.0 / (1.0 + r2), d)
    }

    /// Per point: [Σ_j w_ij² (y_i − y_j) (dims values), Σ_{j≠i} w_ij].
    pub fn repulsion_exact(y: &[f32], n: usize, dims: usize) -> Vec<f32> {
        let mut out = vec![0f32; n * (dims + 1)];
        for i in 0..n {
            let mut f = [0f64; 3];
            let mut s = 0f64;
            for j in (0..n).filter(|&j| j != i) {
                let (wij, d) = w(y, dims, i, j);
                s += wij;
                for c in 0..dims {
                    f[c] += wij * wij * d[c];
                }
            }
            for c in 0..dims {
                out[i * (dims + 1) + c] = f[c] as f32;
            }
            out[i * (dims + 1) + dims] = s as f32;
        }
        out
    }

    /// Σ_j p_ij w_ij (y_i − y_j) with a dense P.
    pub fn attraction_dense(y: &[f32], p: &[f32], n: usize, dims: usize) -> Vec<f32> {
        let mut out = vec![0f32; n * dims];
        for i in 0..n {
            let mut f = [0f64; 3];
            for j in 0..n {
                let (wij, d) = w(y, dims, i, j);
                for c in 0..dims {
                    f[c] += p[i * n + j] as f64 * wij * d[c];
                }
            }
            for c in 0..dims {
                out[i * dims + c] = f[c] as f32;
            }
        }
        out
    }

    /// Σ_j p_ij w_ij (y_i − y_j) with a sparse P in CSR form.
    pub fn attraction_sparse(
        y: &[f32],
        row_ptr: &[u32],
        col: &[u32],
        val: &[f32],
        dims: usize,
    ) -> Vec<f32> {
        let n = row_ptr.len() - 1;
        let mut out = vec![0f32; n * dims];
        for i in 0..n {
            let mut f = [0f64; 3];
            for e in row_ptr[i] as usize..row_ptr[i + 1] as usize {
                let (wij, d) = w(y, dims, i, col[e] as usize);
                for c in 0..dims {
                    f[c] += val[e] as f64 * wij * d[c];
                }
            }
            for c in 0..dims {
                out[i * dims + c] = f[c] as f32;
            }
        }
        out
    }

    /// The full gradient 4 (α F_attr − F_rep / Z) (dense P), for finite-difference checks.
    pub fn gradient_dense(y: &[f32], p: &[f32], n: usize, dims: usize, alpha: f64) -> Vec<f64> {
        let rep = repulsion_exact(y, n, dims);
        let attr = attraction_dense(y, p, n, dims);
        let z: f64 = (0..n).map(|i| rep[i * (dims + 1) + dims] as f64).sum();
        let mut g = vec![0f64; n * dims];
        for i in 0..n {
            for c in 0..dims {
                g[i * dims + c] =
                    4.0 * (alpha * attr[i * dims + c] as f64 - rep[i * (dims + 1) + c] as f64 / z);
            }
        }
        g
    }

    /// KL(P‖Q) = Σ_{p_ij > 0} p_ij ln(p_ij / q_ij), dense P, in f64.
    pub fn kl_dense(y: &[f32], p: &[f32], n: usize, dims: usize) -> f64 {
        let mut z = 0f64;
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                z += w(y, dims, i, j).0;
            }
        }
        let mut kl = 0f64;
        for i in 0..n {
            for j in 0..n {
                let pij = p[i * n + j] as f64;
                if pij > 0.0 {
                    kl += pij * (pij / (w(y, dims, i, j).0 / z)).ln();
                }
            }
        }
        kl
    }
}
