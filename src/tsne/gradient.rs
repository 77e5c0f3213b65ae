//! The two halves of the t-SNE gradient ∂KL/∂y_i = 4 (α F_attr,i − F_rep,i / Z):
//! attraction F_attr,i = Σ_j p_ij w_ij (y_i − y_j) (dense P, or sparse P in CSR, one invocation per
//! point) and the exact O(N²) repulsion sums [Σ_j w_ij² (y_i − y_j), Σ_{j≠i} w_ij] (four points per
//! invocation, no branch in the inner loop). The repulsion output has the layout the
//! FFT-interpolated repulsion writes: dims + 1 f32 per point.

use bytemuck::{Pod, Zeroable};

use super::affinity::{DenseP, SparseP, dense_ld};
use super::with_dims;
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, TexelTable, with_texel_tables, workgroups_for};
use crate::ops::{check_len, launch, launch_bound};

const REPULSION: &str = include_str!("../../shaders/tsne_repulsion.wgsl");
const ATTRACTION_DENSE: &str = include_str!("../../shaders/tsne_attraction_dense.wgsl");
const ATTRACTION_SPARSE: &str = include_str!("../../shaders/tsne_attraction_sparse.wgsl");
const POSITIONS_TEXTURE: &str = include_str!("../../shaders/tsne_positions_texture.wgsl");

/// Mirrors `Params` in tsne_repulsion.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct RepulsionParams {
    pub n: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Mirrors `Params` in tsne_attraction_dense.wgsl and tsne_attraction_sparse.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct AttractionParams {
    pub n: u32,
    /// vec4 per row of a dense P (dense kernels only; 0 for sparse).
    pub lq: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Mirrors `Params` in tsne_positions_texture.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct PositionsParams {
    pub n: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
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

/// A sparse P on the GPU in the sliced-ELL layout the attraction and KL kernels read: rows sorted
/// by length, longest first, in slices of [`SLICE_ROWS`] rows, each row's entries in CSR order, two
/// entries per texel of a texel table (see shaders/tsne_attraction_sparse.wgsl).
pub struct GpuCsr {
    pub n: usize,
    /// Sorted row order, padded to whole slices with n − 1.
    pub perm: wgpu::Buffer,
    /// Per slice: (offset, length) of its entries.
    pub slices: wgpu::Buffer,
    /// Texel t: columns and value bits of sliced-ELL entries 2t and 2t + 1.
    pub entries: TexelTable,
}

/// The sliced-ELL entries as texels (col 2t, col 2t + 1, bits of val 2t, bits of val 2t + 1).
fn entry_texels(col: &[u32], val: &[f32]) -> Vec<u32> {
    col.chunks_exact(2)
        .zip(val.chunks_exact(2))
        .flat_map(|(c, v)| [c[0], c[1], v[0].to_bits(), v[1].to_bits()])
        .collect()
}

/// The sliced-ELL layout of a CSR matrix: (perm, slices as offset/pairs, col, val), entries in
/// pairs (2u, 2u + 1) of a row side by side. Padding entries point at the row itself with value 0.
pub fn sliced_ell(p: &SparseP) -> (Vec<u32>, Vec<u32>, Vec<u32>, Vec<f32>) {
    let n = p.n;
    let len = |i: usize| (p.row_ptr[i + 1] - p.row_ptr[i]) as usize;
    let mut perm: Vec<u32> = (0..n as u32).collect();
    // Longest first within windows of SORT_WINDOW rows, so that the slices sweep the rows (and,
    // with neighbours labelled close together, the positions they gather) in order. Stable:
    // equal lengths keep ascending row order, so the layout is a function of P alone.
    perm.sort_by_key(|&i| (i as usize / SORT_WINDOW, std::cmp::Reverse(len(i as usize))));
    let count = n.div_ceil(SLICE_ROWS);
    perm.resize(count * SLICE_ROWS, (n - 1) as u32);
    let mut slices = Vec::with_capacity(2 * count);
    let mut col = Vec::new();
    let mut val = Vec::new();
    for s in 0..count {
        let rows = &perm[s * SLICE_ROWS..(s + 1) * SLICE_ROWS];
        let pairs = len(rows[0] as usize).div_ceil(2);
        slices.push((col.len() / 2) as u32);
        slices.push(pairs as u32);
        for u in 0..pairs {
            for (r, &i) in rows.iter().enumerate() {
                let i = i as usize;
                for t in [2 * u, 2 * u + 1] {
                    if s * SLICE_ROWS + r < n && t < len(i) {
                        let e = p.row_ptr[i] as usize + t;
                        col.push(p.col[e]);
                        val.push(p.val[e]);
                    } else {
                        col.push(i as u32);
                        val.push(0.0);
                    }
                }
            }
        }
    }
    (perm, slices, col, val)
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
        let (perm, slices, ell_col, ell_val) = sliced_ell(p);
        let entries = entry_texels(&ell_col, &ell_val);
        let entries = gpu
            .texel_table(
                "tsne P sliced entries",
                entries.len() / 4,
                Some(&entries),
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
            perm: gpu.storage_from("tsne P row order", &perm),
            slices: gpu.storage_from("tsne P slices", &slices),
            entries,
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
        &with_dims(REPULSION, dims),
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
        _pad1: 0,
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
        ATTRACTION_DENSE,
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
        // 2-D positions fill two channels: half the bytes for the attraction's random gathers.
        let source = with_dims(POSITIONS_TEXTURE, dims);
        let (table, source) = if dims == 2 {
            let rg = source.replace(
                "texture_storage_2d<rgba32uint, write>",
                "texture_storage_2d<rg32uint, write>",
            );
            (gpu.texel_table_2("tsne positions", n)?, rg)
        } else {
            (gpu.texel_table("tsne positions", n, None, true)?, source)
        };
        let params = PositionsParams {
            n: n as u32,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        };
        let fill = launch_bound(
            gpu,
            &format!("tsne positions texture {dims}d"),
            &with_texel_tables(&source, table.shift),
            "positions_texture",
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
    launch_bound(
        gpu,
        label,
        &with_texel_tables(source, p.entries.shift),
        entry,
        params,
        &[
            wgpu::BindingResource::TextureView(&y.table.view),
            p.perm.as_entire_binding(),
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
        _pad1: 0,
        _pad2: 0,
    };
    launch_sliced(
        gpu,
        &format!("tsne attraction sparse {}d", y.dims),
        &with_dims(ATTRACTION_SPARSE, y.dims),
        "attraction_sparse",
        &params,
        y,
        p,
        attr,
        y.dims,
    )
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
