//! The k nearest neighbours of every point on the GPU, behind one function ([`search`]): the
//! exact search ([`exact`]) or the clustered one ([`clustered`]: approximate, several times
//! faster at large N). One job a file: squared distances ([`distances`]), the fused scans that
//! keep only candidates ([`scan`] with subgroups, [`scan_uniform`] from uniform column tiles),
//! the heap inserts ([`insert`]), the top-k of distance blocks and the heaps' sort ([`topk`]),
//! the CPU twins ([`cpu`]).
//!
//! The exact search (with subgroups of 8 lanes) is brute force without a distance matrix: for a
//! block of rows it sweeps chunks of columns (256, 256, 512, ... doubling up to ~6,000), and a fused
//! kernel computes each tile of distances in registers and keeps only the pairs at or below the
//! row's current k-th smallest distance (its heap root); a second kernel inserts those few into a
//! max-heap per row, and a last one sorts the heaps. Exact and deterministic: the heaps hold the k
//! smallest pairs by (distance, j) whatever order the candidates arrive in. Without subgroups the
//! search falls back to distance blocks and a top-k over each (a heap per row).
//! Where a tile of columns fits one uniform binding (d ≤ 64 for 256 columns, ≤ 128 for 128, ≤ 256
//! for 64, at 64 KiB), the fused kernel reads its columns from a UNIFORM buffer instead
//! ([`scan_uniform::knn_scan_uniform`], one dispatch per tile, each binding its range of one
//! buffer that holds all the tiles): every lane walks the same column at the same time, so
//! lavapipe loads each column value once for all lanes, where the subgroup kernel pays a storage
//! load per lane and a broadcast per row. Each invocation holds 8 rows (two quads, d features
//! each, preloaded) in registers. It sums the same squares in the same order with fma, so both
//! kernels give the same bits and the same neighbours (tested).
//! From 20,000 points `tsne::fit` runs the approximate search of [`clustered`] instead by
//! default: the same scan and inserts, over the column tiles of nearby k-means clusters only.
//!
//! Measurements behind these choices (fused scan against distance blocks, uniform tiles against
//! the subgroup scan) are in docs/kernel-notes.md, "kNN search".

pub mod clustered;
pub mod cpu;
pub mod distances;
pub mod exact;
pub mod insert;
pub mod scan;
pub mod scan_uniform;
pub mod topk;

pub use clustered::{ClusteredKnn, ClusteredPlan, ClusteredSearch};
pub use exact::ExactPlan;

use crate::error::Result;
use crate::gpu::Gpu;

/// Most neighbours the search keeps per point (the heaps of the top-k and insert kernels).
pub const K_MAX: usize = 128;

/// Bytes of the kNN search's work buffers (the distance block, or the candidate lists).
pub(crate) const KNN_BLOCK_BYTES: u64 = 64 << 20;

/// k nearest neighbours of every point (excluding itself), ascending by distance.
#[derive(Clone, Debug)]
pub struct Knn {
    pub n: usize,
    pub k: usize,
    /// n × k neighbour indices.
    pub index: Vec<u32>,
    /// n × k squared distances.
    pub dist: Vec<f32>,
}

/// How [`search`] finds the neighbours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Brute force over all pairs ([`exact`]).
    Exact,
    /// Over k-means clusters, each block of points scanning only the clusters near it
    /// ([`clustered`]); approximate unless every cluster is probed.
    Clustered(ClusteredSearch),
}

/// The k nearest neighbours of every point of x (n × d, row-major), excluding itself, ascending
/// by distance, found by `method`.
pub fn search(gpu: &Gpu, x: &[f32], n: usize, d: usize, k: usize, method: &Method) -> Result<Knn> {
    match method {
        Method::Exact => exact::search(gpu, x, n, d, k),
        Method::Clustered(options) => Ok(clustered::search(gpu, x, n, d, k, options)?.knn),
    }
}

/// This module's kernel files as the GPU gets them (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("src/knn/sqdist.wgsl", distances::SQDIST.to_string()),
        ("src/knn/sqdist_sg.wgsl", distances::SQDIST_SG.to_string()),
        ("src/knn/heap.wgsl", insert::KNN_INSERT.to_string()),
        ("src/knn/heap.wgsl", topk::TOPK.to_string()),
        ("src/knn/insert.wgsl", insert::KNN_INSERT.to_string()),
        ("src/knn/scan.wgsl", scan::KNN_SCAN.to_string()),
        (
            "src/knn/scan_uniform.wgsl",
            scan_uniform::KNN_SCAN_UNIFORM.to_string(),
        ),
        ("src/knn/topk.wgsl", topk::TOPK.to_string()),
    ]
}
