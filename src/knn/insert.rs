//! The heap inserts of the fused kNN search (insert.wgsl): each row's candidates into its
//! max-heap of the k smallest pairs, and the chunk width that keeps them under the loop cap.

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use super::K_MAX;
use crate::error::{Error, Result};
use crate::gpu::LOOP_BUDGET;
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::{check_len, launch};
use crate::wgsl::WgslStruct;
use crate::wgsl_struct;

pub(crate) static KNN_INSERT: LazyLock<String> = LazyLock::new(|| {
    KnnInsertParams::as_params_of(
        &[include_str!("insert.wgsl"), include_str!("heap.wgsl")].concat(),
    )
});

wgsl_struct! {
    /// `Params` in insert.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct KnnInsertParams {
        pub n: u32,
        pub rows: u32,
        pub row0: u32,
        pub k: u32,
        pub cap: u32,
        pub first: u32,
        /// 1: skip the pair (i, i) (rows and columns are the same points); 0: the columns are other
        /// points (centroids), so j = i is a real pair.
        pub exclude_self: u32,
        pub pad1: u32,
    }
}

/// Slots per row and column chunk width of the fused scan: every column of a chunk may be a
/// candidate (no overflow is possible), and inserting them all stays under lavapipe's loop cap.
pub(crate) fn knn_chunk_cap(k: usize) -> usize {
    let levels = (usize::BITS - k.leading_zeros()) as usize;
    // The filter pass, the insert pass and a sift (levels + 1), a share of the batch loop, and
    // the first chunk's two passes that bound its k smallest distances.
    let per_candidate = levels + 6;
    // The first chunk's heap build: the copy and sentinel loops (k + 1), the heapify (k / 2 sifts).
    let build = 2 * k + 1 + (k / 2) * per_candidate + 64;
    ((LOOP_BUDGET - build) / per_candidate) / 32 * 32
}

/// Insert each row's candidates from [`super::scan::knn_scan`] into its heap (rows row0.. of `knn_index` /
/// `knn_dist`, n × k), filling the heaps with sentinels first when `first`, and reset `count`.
#[allow(clippy::too_many_arguments)]
pub fn knn_insert(
    gpu: &Gpu,
    n: usize,
    row0: usize,
    rows: usize,
    k: usize,
    first: bool,
    exclude_self: bool,
    count: &wgpu::Buffer,
    cand: &wgpu::Buffer,
    cap: usize,
    knn_index: &wgpu::Buffer,
    knn_dist: &wgpu::Buffer,
) -> Result<Dispatch> {
    if k == 0 || k > K_MAX || (exclude_self && k >= n) {
        return Err(Error::InvalidArgument(format!(
            "kNN with k = {k} for {n} points (1 ≤ k < n, k ≤ {K_MAX})"
        )));
    }
    if rows == 0 || row0 + rows > n || cap == 0 || cap > knn_chunk_cap(k) {
        return Err(Error::shape(
            "kNN insert",
            format!(
                "rows {row0}..{} of {n}, {cap} slots per row (at most {})",
                row0 + rows,
                knn_chunk_cap(k)
            ),
        ));
    }
    check_len("kNN insert", "count", count, rows)?;
    check_len("kNN insert", "cand", cand, 2 * rows * cap)?;
    check_len("kNN insert", "knn_index", knn_index, n * k)?;
    check_len("kNN insert", "knn_dist", knn_dist, n * k)?;
    let params = KnnInsertParams {
        n: n as u32,
        rows: rows as u32,
        row0: row0 as u32,
        k: k as u32,
        cap: cap as u32,
        first: first as u32,
        exclude_self: exclude_self as u32,
        pad1: 0,
    };
    launch(
        gpu,
        "kNN insert",
        &KNN_INSERT,
        "knn_insert",
        &params,
        &[count, cand, knn_index, knn_dist],
        workgroups_for(rows, 64),
    )
}
