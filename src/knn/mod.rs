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
//! Measured on lavapipe (2 cores, shared, N = 70,000, d = 50, k = 90, same run): the fused search
//! costs 1.9 ms of CPU per row against 4.2 for distance blocks plus top-k (2.2×); of its time the
//! distance arithmetic is ~75% (~2 G pairs × features per second per core), inserts ~10–20%. The
//! old path took ~150 s on a quiet machine, so expect ~65 s (measured on the loaded machine, all
//! of MNIST: knn_s 88 s); openTSNE's approximate Annoy search takes 19 s.
//! The uniform-tile scan, measured on the same machine under another agent's load (load average
//! ~3 on 2 cores: compare CPU seconds within one run, not across runs):
//! `cargo run --release --example profile_knn -- 70000 --mnist /work/shared/data/mnist --no-dense
//! --split` (one block of each kind on PCA-50 MNIST): subgroup scan 2.36 ms of CPU per row
//! (later scans 2.69 s at 1.78 G pairs × features per CPU second, inserts 0.28 s, first chunk
//! 0.08 s), uniform tiles 1.00 ms per row (later scans 1.00 s at 4.92 G, inserts 0.20 s, first
//! chunk 0.08 s): 2.36× per row, 2.8× on the scans. A `--clusters` run (10 synthetic clusters) gave
//! 1.67× per row (scans 2.2×: 3.37 against 1.53 G). `--shapes` (the scans alone,
//! thresholds 0, N = 20,000): subgroup scan 1.5–2.1 G, uniform tiles with 1, 2, 4 row quads per
//! invocation 2.8–4.2, 3.5–5.4, 3.9–5.7 G, 2 quads in 32-lane workgroups 3.2–3.7 (2 and 4 quads
//! within the noise of each other); generating the feature loop for 2 or 4 of the 8 rows at a
//! time (fewer live accumulators) instead of all 8: no faster (medians of six rounds 4.8 and 4.5
//! against 5.4 G). Cold compile (no Mesa shader
//! cache) of the d = 50 kernel: ~5 s, against ~16 s for the subgroup scan.
//! The whole search on all of PCA-50 MNIST (`... -- 70000 --mnist DIR --no-old --no-dense
//! --full`, load average ~4): `exact::search` 80.3 s wall, its one block projected to 80 s of
//! CPU (the subgroup scan's block projects to 165 s of CPU in the same conditions); 80 s of CPU
//! over two quiet cores would be ~40 s wall (not measured).

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
        ("src/knn/insert.wgsl", insert::KNN_INSERT.to_string()),
        ("src/knn/scan.wgsl", scan::KNN_SCAN.to_string()),
        (
            "src/knn/scan_uniform.wgsl",
            scan_uniform::KNN_SCAN_UNIFORM.to_string(),
        ),
        ("src/knn/topk.wgsl", topk::TOPK.to_string()),
    ]
}
