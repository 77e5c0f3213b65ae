//! The top-k of distance blocks (topk.wgsl: a max-heap per row, then a heap sort), the search
//! without subgroups; its sort also ends the fused search.

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use super::K_MAX;
use crate::error::{Error, Result};
use crate::gpu::LOOP_BUDGET;
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::{check_len, launch};
use crate::wgsl::{WgslStruct, u32_constants, with_structs};
use crate::wgsl_struct;

pub(crate) static TOPK: LazyLock<String> = LazyLock::new(|| {
    with_structs(
        &[
            TopkParams::declare("Params"),
            u32_constants(&[("CAPACITY", TOPK_CAPACITY)]),
        ],
        &[include_str!("topk.wgsl"), include_str!("heap.wgsl")].concat(),
    )
});
/// Candidates the top-k kernel collects per row before inserting them (`CAPACITY` in topk.wgsl).
const TOPK_CAPACITY: usize = 32;

wgsl_struct! {
    /// `Params` in topk.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct TopkParams {
        pub n: u32,
        pub rows: u32,
        pub row0: u32,
        pub k: u32,
        pub col0: u32,
        pub col1: u32,
        pub first: u32,
        /// Row stride of the distance block (a multiple of 4).
        pub ld: u32,
    }
}

/// The k nearest other points of rows row0..row0+rows from their distance block (rows × ld, ld a
/// multiple of 4 and ≥ n), into rows row0.. of `knn_index` / `knn_dist` (n × k each), ascending.
/// One dispatch per column chunk, so that no invocation passes lavapipe's loop cap
/// ([`LOOP_BUDGET`]), then one that sorts each row's heap.
#[allow(clippy::too_many_arguments)]
pub fn topk_rows(
    gpu: &Gpu,
    dist: &wgpu::Buffer,
    n: usize,
    ld: usize,
    row0: usize,
    rows: usize,
    k: usize,
    knn_index: &wgpu::Buffer,
    knn_dist: &wgpu::Buffer,
) -> Result<Vec<Dispatch>> {
    if k == 0 || k > K_MAX || k >= n {
        return Err(Error::InvalidArgument(format!(
            "kNN with k = {k} for {n} points (1 ≤ k < n, k ≤ {K_MAX})"
        )));
    }
    if rows == 0 || row0 + rows > n || ld < n || !ld.is_multiple_of(4) {
        return Err(Error::shape(
            "kNN topk",
            format!(
                "rows {row0}..{} of {n}, row stride {ld} (a multiple of 4, at least n)",
                row0 + rows
            ),
        ));
    }
    check_len("kNN topk", "dist", dist, rows * ld)?;
    check_len("kNN topk", "knn_index", knn_index, n * k)?;
    check_len("kNN topk", "knn_dist", knn_dist, n * k)?;
    // Loop iterations: a quad costs 1, plus per candidate 1 to collect it, 1 to insert it and a
    // sift-down of at most `levels` + 1; a batch 1 more; the first chunk also fills k entries.
    let levels = (usize::BITS - k.leading_zeros()) as usize;
    let per_quad = 1 + 4 * (levels + 3) + 1;
    let chunk = 4 * ((LOOP_BUDGET - k - 64) / per_quad).max(1);
    let scratch = gpu.storage("kNN topk scratch", rows * TOPK_CAPACITY * 2);
    let params = |col0: usize, col1: usize| TopkParams {
        n: n as u32,
        rows: rows as u32,
        row0: row0 as u32,
        k: k as u32,
        col0: col0 as u32,
        col1: col1 as u32,
        first: (col0 == 0) as u32,
        ld: ld as u32,
    };
    let mut out = Vec::new();
    let mut col0 = 0;
    while col0 < n {
        let col1 = (col0 + chunk).min(n);
        out.push(launch(
            gpu,
            "kNN topk",
            &TOPK,
            "topk_rows",
            &params(col0, col1),
            &[dist, knn_index, knn_dist, &scratch],
            workgroups_for(rows, 64),
        )?);
        col0 = col1;
    }
    out.push(launch(
        gpu,
        "kNN topk",
        &TOPK,
        "topk_sort",
        &params(0, n),
        &[dist, knn_index, knn_dist, &scratch],
        workgroups_for(rows, 64),
    )?);
    Ok(out)
}

/// Heap-sort rows row0..row0+rows of `knn_index` / `knn_dist` into ascending order (the kNN
/// search's last step; `topk_sort` in topk.wgsl, which binds but does not use the last two).
#[allow(clippy::too_many_arguments)]
pub(crate) fn knn_sort(
    gpu: &Gpu,
    n: usize,
    row0: usize,
    rows: usize,
    k: usize,
    knn_index: &wgpu::Buffer,
    knn_dist: &wgpu::Buffer,
    unused_read: &wgpu::Buffer,
    unused_write: &wgpu::Buffer,
) -> Result<Dispatch> {
    let params = TopkParams {
        n: n as u32,
        rows: rows as u32,
        row0: row0 as u32,
        k: k as u32,
        col0: 0,
        col1: n as u32,
        first: 0,
        ld: n as u32,
    };
    launch(
        gpu,
        "kNN topk",
        &TOPK,
        "topk_sort",
        &params,
        &[unused_read, knn_index, knn_dist, unused_write],
        workgroups_for(rows, 64),
    )
}
