//! The exact kNN search, planned in blocks of rows over chunks of columns.

use super::distances::{Points, sqdist_block, upload_points};
use super::insert::{knn_chunk_cap, knn_insert};
use super::scan::{KNN_TILE_ROWS, knn_scan};
use super::scan_uniform::{
    ColumnTiles, ScanBuffers, uniform_chunk_dispatches, upload_column_tiles,
};
use super::topk::{knn_sort, topk_rows};
use super::{K_MAX, KNN_BLOCK_BYTES, Knn};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu};

/// The exact kNN search, prepared: the points on the GPU, the work buffers and the outputs; its
/// blocks of rows are recorded one at a time ([`ExactPlan::block_dispatches`]).
///
/// With subgroups of 8 lanes (lavapipe, most GPUs) a block is a sequence of fused passes over
/// column chunks ([`knn_scan`] then [`knn_insert`]): no distance matrix is written, and each chunk's
/// pairs are filtered in registers against the heap roots left by the chunks before it, so after
/// the first chunks only a few pairs per row reach a heap. Chunks start small and double, so the
/// threshold tightens early. Where a column tile fits a uniform binding
/// ([`column_tile_width`](super::scan_uniform::column_tile_width)), the scan is
/// [`knn_scan_uniform`](super::scan_uniform::knn_scan_uniform), one dispatch per tile of the chunk
/// (chunks are whole tiles, the last one aside); same candidates, same result. Without subgroups a
/// block is a distance block ([`sqdist_block`]) and a top-k over it ([`topk_rows`]).
pub struct ExactPlan {
    points: Points,
    k: usize,
    block: usize,
    work: KnnWork,
    knn_index: wgpu::Buffer,
    knn_dist: wgpu::Buffer,
}

enum KnnWork {
    /// A block × n_pad distance block.
    Dense { dist: wgpu::Buffer },
    /// Candidate counts (block u32) and lists (block × cap (distance bits, j)); the column chunks
    /// as quad ranges.
    Fused {
        count: wgpu::Buffer,
        cand: wgpu::Buffer,
        cap: usize,
        chunks: Vec<(usize, usize)>,
        /// The columns as uniform tiles, when the uniform-tile scan runs
        /// ([`knn_scan_uniform`](super::scan_uniform::knn_scan_uniform), one dispatch per tile;
        /// chunks are whole tiles but the last); else [`knn_scan`].
        tiles: Option<ColumnTiles>,
    },
}

/// Columns of the fused search's first chunk (then doubling up to the cap).
const KNN_FIRST_CHUNK: usize = 256;

/// The fused search's column chunks (quad ranges covering 0..nq): KNN_FIRST_CHUNK columns, then
/// each as wide as all before it, at most `cap` columns.
fn knn_chunks(nq: usize, cap: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut q0 = 0;
    let mut width = (KNN_FIRST_CHUNK / 4).min(cap / 4);
    while q0 < nq {
        let q1 = (q0 + width).min(nq);
        out.push((q0, q1));
        q0 = q1;
        width = q0.min(cap / 4);
    }
    out
}

impl ExactPlan {
    pub fn new(gpu: &Gpu, x: &[f32], n: usize, d: usize, k: usize) -> Result<ExactPlan> {
        ExactPlan::with_block(gpu, x, n, d, k, None)
    }

    /// As [`ExactPlan::new`], with at most `block` rows per block (rounded down to a multiple of
    /// 16, at least 16) instead of what the work buffers' budget allows; for tests.
    pub fn with_block(
        gpu: &Gpu,
        x: &[f32],
        n: usize,
        d: usize,
        k: usize,
        block: Option<usize>,
    ) -> Result<ExactPlan> {
        ExactPlan::with_scan(gpu, x, n, d, k, block, true)
    }

    /// As [`ExactPlan::with_block`]; `uniform_tiles` false keeps the subgroup scan ([`knn_scan`])
    /// even where the uniform-tile scan
    /// ([`knn_scan_uniform`](super::scan_uniform::knn_scan_uniform)) would fit (to compare the two).
    pub fn with_scan(
        gpu: &Gpu,
        x: &[f32],
        n: usize,
        d: usize,
        k: usize,
        block: Option<usize>,
        uniform_tiles: bool,
    ) -> Result<ExactPlan> {
        if k == 0 || k >= n || k > K_MAX {
            return Err(Error::InvalidArgument(format!(
                "kNN with k = {k} for {n} points (1 ≤ k < n, k ≤ {K_MAX})"
            )));
        }
        let points = upload_points(gpu, x, n, d)?;
        let n_pad = points.n_pad;
        let budget = KNN_BLOCK_BYTES.min(gpu.limits.max_storage_buffer_binding_size);
        let limit = block.map(|b| (b / 16 * 16).max(16));
        let (block, work) = if gpu.subgroups_of_8() {
            // Slots per row: a whole chunk (so no list overflows), chunks a multiple of the
            // 32-column tile; rows: what the lists' budget leaves, a multiple of the row tile.
            let tiles = if uniform_tiles {
                upload_column_tiles(gpu, x, n, d)?
            } else {
                None
            };
            // Uniform tiles: chunks of whole tiles (the first, 256 columns, is whole tiles too).
            let unit = tiles.as_ref().map_or(32, |t| t.cols);
            let cap = (knn_chunk_cap(k) / unit * unit).min(n_pad.div_ceil(unit) * unit);
            let tr = KNN_TILE_ROWS;
            let block = ((budget / 8) as usize / cap / tr * tr).clamp(tr, n.div_ceil(tr) * tr);
            let block = block.min(n);
            let block = limit.map_or(block, |b| block.min(b));
            let work = KnnWork::Fused {
                count: gpu.storage("kNN candidate counts", block),
                cand: gpu.storage("kNN candidates", 2 * block * cap),
                cap,
                chunks: knn_chunks(n_pad / 4, cap),
                tiles,
            };
            (block, work)
        } else {
            // Blocks start at multiples of 16 rows (the distance kernel's row group); rows are
            // n_pad long, so the distance kernel stores vec4 and the top-k reads vec4.
            let block = (((budget / 4) as usize / n_pad) / 16 * 16).clamp(16, n_pad);
            let block = limit.map_or(block, |b| block.min(b));
            let dist = gpu.storage("kNN distance block", block * n_pad);
            (block, KnnWork::Dense { dist })
        };
        Ok(ExactPlan {
            points,
            k,
            block,
            work,
            knn_index: gpu.storage("kNN index", n * k),
            knn_dist: gpu.storage("kNN distance", n * k),
        })
    }

    /// Columns per uniform tile when the search runs the uniform-tile scan, else None.
    pub fn uniform_tile_cols(&self) -> Option<usize> {
        match &self.work {
            KnnWork::Fused { tiles: Some(t), .. } => Some(t.cols),
            _ => None,
        }
    }

    /// Rows per block.
    pub fn block_rows(&self) -> usize {
        self.block
    }

    /// Number of blocks.
    pub fn blocks(&self) -> usize {
        self.points.n.div_ceil(self.block)
    }

    /// The dispatches of block `b`: fused scans and inserts per column chunk, then the sort (or,
    /// without subgroups, its distances, then its top-k).
    pub fn block_dispatches(&self, gpu: &Gpu, b: usize) -> Result<Vec<Dispatch>> {
        let (n, k) = (self.points.n, self.k);
        let row0 = b * self.block;
        if row0 >= n {
            return Err(Error::shape(
                "kNN",
                format!("block {b} of {}", self.blocks()),
            ));
        }
        let rows = self.block.min(n - row0);
        let (index, kd) = (&self.knn_index, &self.knn_dist);
        match &self.work {
            KnnWork::Dense { dist } => {
                let ld = self.points.n_pad;
                let mut out = vec![sqdist_block(gpu, &self.points, row0, rows, ld, dist)?];
                out.extend(topk_rows(gpu, dist, n, ld, row0, rows, k, index, kd)?);
                Ok(out)
            }
            KnnWork::Fused {
                count,
                cand,
                cap,
                chunks,
                tiles,
            } => {
                let mut out = Vec::with_capacity(2 * chunks.len() + 1);
                if let Some(tiles) = tiles {
                    let tq = tiles.cols / 4;
                    let tile_chunks: Vec<Vec<usize>> = chunks
                        .iter()
                        .map(|&(q0, q1)| (q0 / tq..q1.div_ceil(tq)).collect())
                        .collect();
                    let buffers = ScanBuffers {
                        count,
                        cand,
                        cap: *cap,
                        index,
                        dist: kd,
                    };
                    out.extend(uniform_chunk_dispatches(
                        gpu,
                        &self.points,
                        tiles,
                        row0,
                        rows,
                        k,
                        true,
                        tile_chunks.iter().map(Vec::as_slice),
                        &buffers,
                    )?);
                } else {
                    for (c, &(q0, q1)) in chunks.iter().enumerate() {
                        let first = c == 0;
                        out.push(knn_scan(
                            gpu,
                            &self.points,
                            row0,
                            rows,
                            q0,
                            q1,
                            k,
                            first,
                            kd,
                            count,
                            cand,
                            *cap,
                        )?);
                        out.push(knn_insert(
                            gpu, n, row0, rows, k, first, true, count, cand, *cap, index, kd,
                        )?);
                    }
                }
                out.push(knn_sort(gpu, n, row0, rows, k, index, kd, count, cand)?);
                Ok(out)
            }
        }
    }

    /// Run every block and read the neighbours back.
    pub fn run(&self, gpu: &Gpu) -> Result<Knn> {
        for b in 0..self.blocks() {
            let dispatches = self.block_dispatches(gpu, b)?;
            gpu.run("kNN", &dispatches.iter().collect::<Vec<_>>())?;
        }
        let (n, k) = (self.points.n, self.k);
        Ok(Knn {
            n,
            k,
            index: gpu.read(&self.knn_index, 0, n * k)?,
            dist: gpu.read(&self.knn_dist, 0, n * k)?,
        })
    }
}

/// Brute-force kNN on the GPU: distance blocks of rows against all points, then a top-k per row.
pub fn search(gpu: &Gpu, x: &[f32], n: usize, d: usize, k: usize) -> Result<Knn> {
    ExactPlan::new(gpu, x, n, d, k)?.run(gpu)
}
