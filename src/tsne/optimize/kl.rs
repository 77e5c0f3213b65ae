//! The per-row KL(P‖Q) terms, dense and sparse.

use std::sync::LazyLock;

use crate::error::Result;
use crate::gpu::{Dispatch, Gpu};
use crate::tsne::affinity::DenseP;
use crate::tsne::gradient::{self, GpuCsr, PositionTexture};
use crate::wgsl::WgslStruct;

pub(super) static KL_DENSE: LazyLock<String> =
    LazyLock::new(|| KlParams::as_params_of(include_str!("kl_dense.wgsl")));
pub(super) static KL_SPARSE: LazyLock<String> =
    LazyLock::new(|| KlParams::as_params_of(include_str!("kl_sparse.wgsl")));

/// `Params` in kl_dense.wgsl and kl_sparse.wgsl: the attraction kernels' layout
/// (`n`, `lq`), so the dense KL terms share their launcher, [`gradient::dense_p_rows`].
pub type KlParams = gradient::AttractionParams;

/// Per-row KL terms Σ_j p_ij (ln p_ij + ln(1 + d_ij²)) with a dense symmetric P.
pub fn kl_rows_dense(
    gpu: &Gpu,
    y: &wgpu::Buffer,
    p: &DenseP,
    kl_rows: &wgpu::Buffer,
    dims: usize,
) -> Result<Dispatch> {
    gradient::dense_p_rows(
        gpu,
        "tsne kl",
        &KL_DENSE,
        "kl_dense",
        y,
        p,
        ("kl_rows", kl_rows, p.n),
        dims,
    )
}

/// Per-row KL terms over the stored entries of a sparse P.
pub fn kl_rows_sparse(
    gpu: &Gpu,
    y: &PositionTexture,
    p: &GpuCsr,
    kl_rows: &wgpu::Buffer,
) -> Result<Dispatch> {
    let params = KlParams {
        n: p.n as u32,
        lq: 0,
        col_bits: p.packing.col_bits,
        _pad2: 0,
    };
    gradient::launch_sliced(
        gpu,
        "tsne kl sparse",
        &KL_SPARSE,
        "kl_sparse",
        &params,
        y,
        p,
        kl_rows,
        1,
    )
}
