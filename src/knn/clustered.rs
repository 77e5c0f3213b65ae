//! Approximate kNN for large N: an inverted-file search over k-means clusters.
//!
//! The exact search ([`super::exact::search`]) compares every point with every other: at N = 70,000 and
//! d = 50 that is 57 s on lavapipe, the largest input-side cost of a t-SNE run. In 50 dimensions
//! the triangle inequality prunes almost nothing (measured on PCA-50 MNIST with the true k-th
//! distances: 93–97% of the columns survive), so the speed has to come from not looking at the
//! far columns at all, as Annoy (openTSNE) and FAISS's IVF do:
//!
//! 1. k-means: Lloyd iterations on a seeded sample. Assigning points to their nearest centroid is
//!    the kNN scan itself ([`knn_scan_uniform`](super::scan_uniform::knn_scan_uniform), k = 1,
//!    the centroids as the columns, self-pairs kept); the means are summed on the CPU
//!    (O(sample · d) per iteration).
//! 2. Every point's `probes` nearest centroids, on the GPU the same way.
//! 3. Clusters are ordered along a nearest-neighbour chain of their centroids and the points
//!    sorted by cluster, so that nearby clusters sit in nearby positions.
//! 4. Blocks of [`ROW_BLOCK`] consecutive positions: a block scans the column tiles that hold the
//!    clusters named at least `min_votes` times in its points' probe lists, and its points' own
//!    clusters. Its own tiles go first so the heap roots tighten before the rest.
//! 5. The same fused scan and heap insert as the exact search, over those tiles only. Every
//!    distance is exact, so a neighbour that is found comes with its true distance.
//!
//! With every cluster probed (`probes` = clusters, `min_votes` = 1) the search is exact (tested).
//! On PCA-50 MNIST the defaults reach recall ~0.985 at about a quarter of the exact search's time
//! (docs/kernel-notes.md, "kNN search").

use std::time::Instant;

use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu};
use crate::rng::Rng;

use super::distances::{Points, upload_points};
use super::insert::knn_chunk_cap;
use super::scan_uniform::{
    ColumnTiles, ScanBuffers, column_tile_width, uniform_chunk_dispatches, upload_column_tiles,
    upload_column_tiles_of,
};
use super::topk::knn_sort;
use super::{K_MAX, KNN_BLOCK_BYTES, Knn};

/// Rows per block of the search: four workgroups of the uniform-tile scan (64 rows each), so
/// both of lavapipe's threads stay busy.
pub const ROW_BLOCK: usize = 256;

/// How the clustered search trades recall for speed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClusteredSearch {
    /// Points per k-means cluster on average: n / this clusters (at least 1).
    pub cluster_size: usize,
    /// Nearest centroids listed per point.
    pub probes: usize,
    /// A block scans a cluster named at least this often among its points' lists.
    pub min_votes: usize,
    /// Lloyd iterations of k-means ...
    pub kmeans_iterations: usize,
    /// ... on a sample of at most this many points.
    pub kmeans_sample: usize,
    pub seed: u64,
}

impl Default for ClusteredSearch {
    fn default() -> Self {
        ClusteredSearch {
            cluster_size: 240,
            probes: 5,
            min_votes: 2,
            kmeans_iterations: 5,
            kmeans_sample: 8_192,
            seed: 0,
        }
    }
}

/// What [`search`] found, and how much of the exact search's work it did.
#[derive(Clone, Debug)]
pub struct ClusteredKnn {
    pub knn: Knn,
    pub clusters: usize,
    /// Columns scanned per row on average (the exact search scans n).
    pub columns_per_row: f64,
    /// Wall seconds: k-means; every point's nearest centroids and the layout; the search.
    pub kmeans_s: f64,
    pub prepare_s: f64,
    pub search_s: f64,
}

/// Whether the adapter runs the clustered search for d features (its column tiles must fit a
/// uniform binding; see [`column_tile_width`]).
pub fn supported(gpu: &Gpu, d: usize) -> bool {
    column_tile_width(gpu, d).is_some()
}

/// The k nearest neighbours of every point (excluding itself), ascending by distance, found by
/// the clustered search; approximate unless every cluster is probed.
pub fn search(
    gpu: &Gpu,
    x: &[f32],
    n: usize,
    d: usize,
    k: usize,
    search: &ClusteredSearch,
) -> Result<ClusteredKnn> {
    ClusteredPlan::new(gpu, x, n, d, k, search)?.run(gpu)
}

/// The clustered search, prepared: k-means done, the points sorted and on the GPU, each block's
/// tile list made; its blocks are recorded one at a time ([`ClusteredPlan::block_dispatches`]).
pub struct ClusteredPlan {
    points: Points,
    tiles: ColumnTiles,
    /// Tiles each block scans, its own first.
    blocks: Vec<Vec<usize>>,
    /// Position → point.
    perm: Vec<u32>,
    k: usize,
    /// Tiles per chunk after the first (the block's own tiles), and candidate slots per row.
    per_chunk: usize,
    cap: usize,
    count: wgpu::Buffer,
    cand: wgpu::Buffer,
    index: wgpu::Buffer,
    dist: wgpu::Buffer,
    clusters: usize,
    columns_per_row: f64,
    kmeans_s: f64,
    prepare_s: f64,
}

impl ClusteredPlan {
    pub fn new(
        gpu: &Gpu,
        x: &[f32],
        n: usize,
        d: usize,
        k: usize,
        search: &ClusteredSearch,
    ) -> Result<ClusteredPlan> {
        if x.len() != n * d || n < 2 || d == 0 {
            return Err(Error::shape(
                "clustered kNN",
                format!("{} values are not {n} × {d} (n ≥ 2)", x.len()),
            ));
        }
        if k == 0 || k >= n || k > K_MAX {
            return Err(Error::InvalidArgument(format!(
                "kNN with k = {k} for {n} points (1 ≤ k < n, k ≤ {})",
                K_MAX
            )));
        }
        if search.cluster_size == 0 || search.probes == 0 || search.min_votes == 0 {
            return Err(Error::InvalidArgument(format!(
                "clustered kNN needs a positive cluster size, probe count and vote count, not \
                 {search:?}"
            )));
        }
        let Some(cols) = column_tile_width(gpu, d) else {
            return Err(Error::InvalidArgument(format!(
                "the clustered kNN search needs {d} features × 64 columns to fit one uniform \
                 binding ({} bytes); use the exact search",
                gpu.limits.max_uniform_buffer_binding_size
            )));
        };
        let clusters = (n / search.cluster_size).clamp(1, n);
        let probes = search.probes.min(clusters);

        let started = Instant::now();
        // 1–2. k-means, then every point's nearest centroids.
        let centroids = kmeans(gpu, x, n, d, clusters, search)?;
        let kmeans_s = started.elapsed().as_secs_f64();
        let all = upload_points(gpu, x, n, d)?;
        let near = nearest_centroids(gpu, &all, &centroids, clusters, probes)?;
        drop(all);

        // 3. Points sorted by cluster along the chain.
        let layout = Layout::new(&near, n, probes, &centroids, clusters, d);
        let mut sorted = Vec::with_capacity(n * d);
        for &i in &layout.perm {
            sorted.extend_from_slice(&x[i as usize * d..(i as usize + 1) * d]);
        }

        // 4. The tiles each block scans.
        let blocks = layout.block_tiles(&near, probes, search.min_votes, cols, k);
        let real_cols = |t: usize| (n.min((t + 1) * cols)) - t * cols;
        let scanned: f64 = blocks
            .iter()
            .enumerate()
            .map(|(b, list)| {
                let rows = ROW_BLOCK.min(n - b * ROW_BLOCK);
                (rows * list.iter().map(|&t| real_cols(t)).sum::<usize>()) as f64
            })
            .sum();
        let points = upload_points(gpu, &sorted, n, d)?;
        let tiles = upload_column_tiles(gpu, &sorted, n, d)?.ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{n} points × {d} features exceed one buffer as uniform column tiles"
            ))
        })?;
        let per_chunk = (knn_chunk_cap(k) / tiles.cols).max(1);
        let cap = per_chunk * tiles.cols;
        Ok(ClusteredPlan {
            points,
            tiles,
            blocks,
            perm: layout.perm,
            k,
            per_chunk,
            cap,
            count: gpu.storage("clustered kNN candidate counts", ROW_BLOCK),
            cand: gpu.storage("clustered kNN candidates", 2 * ROW_BLOCK * cap),
            index: gpu.storage("clustered kNN index", n * k),
            dist: gpu.storage("clustered kNN distance", n * k),
            clusters,
            columns_per_row: scanned / n as f64,
            kmeans_s,
            prepare_s: started.elapsed().as_secs_f64() - kmeans_s,
        })
    }

    /// Number of blocks ([`ROW_BLOCK`] positions each, the last one shorter).
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    /// The dispatches of block `b`: per chunk of its tiles (its own tiles first, alone) a scan
    /// per tile, then an insert.
    pub fn block_dispatches(&self, gpu: &Gpu, b: usize) -> Result<Vec<Dispatch>> {
        let n = self.points.n;
        let list = self.blocks.get(b).ok_or_else(|| {
            Error::shape(
                "clustered kNN",
                format!("block {b} of {}", self.blocks.len()),
            )
        })?;
        let row0 = b * ROW_BLOCK;
        let rows = ROW_BLOCK.min(n - row0);
        let cols = self.tiles.cols;
        let own = (row0 + rows - 1) / cols - row0 / cols + 1;
        let mut chunks: Vec<&[usize]> = vec![&list[..own]];
        chunks.extend(list[own..].chunks(self.per_chunk));
        let buffers = ScanBuffers {
            count: &self.count,
            cand: &self.cand,
            cap: self.cap,
            index: &self.index,
            dist: &self.dist,
        };
        uniform_chunk_dispatches(
            gpu,
            &self.points,
            &self.tiles,
            row0,
            rows,
            self.k,
            true,
            chunks,
            &buffers,
        )
    }

    /// Run every block, sort the heaps, read them back in the caller's point numbers.
    pub fn run(&self, gpu: &Gpu) -> Result<ClusteredKnn> {
        let started = Instant::now();
        let (n, k) = (self.points.n, self.k);
        // Blocks per submission: enough work to hide the submit, few enough to report errors
        // early.
        for batch in (0..self.blocks.len()).collect::<Vec<_>>().chunks(16) {
            let mut dispatches = Vec::new();
            for &b in batch {
                dispatches.extend(self.block_dispatches(gpu, b)?);
            }
            gpu.run("clustered kNN", &dispatches.iter().collect::<Vec<_>>())?;
        }
        let sort = knn_sort(
            gpu,
            n,
            0,
            n,
            k,
            &self.index,
            &self.dist,
            &self.count,
            &self.cand,
        )?;
        gpu.run("clustered kNN sort", &[&sort])?;
        let found: Vec<u32> = gpu.read(&self.index, 0, n * k)?;
        let found_dist: Vec<f32> = gpu.read(&self.dist, 0, n * k)?;

        // Back from positions to the caller's point numbers.
        let mut index = vec![0u32; n * k];
        let mut dist = vec![0f32; n * k];
        for (p, &i) in self.perm.iter().enumerate() {
            let i = i as usize;
            for t in 0..k {
                let j = found[p * k + t];
                if j as usize >= n {
                    return Err(Error::InvalidArgument(format!(
                        "the clustered kNN search found fewer than {k} neighbours for point {i}"
                    )));
                }
                index[i * k + t] = self.perm[j as usize];
                dist[i * k + t] = found_dist[p * k + t];
            }
        }
        Ok(ClusteredKnn {
            knn: Knn { n, k, index, dist },
            clusters: self.clusters,
            columns_per_row: self.columns_per_row,
            kmeans_s: self.kmeans_s,
            prepare_s: self.prepare_s,
            search_s: started.elapsed().as_secs_f64(),
        })
    }
}

/// k-means centroids (clusters × d): Lloyd iterations from distinct sample points, on a seeded
/// sample of at most `search.kmeans_sample` points; a cluster left empty keeps its centroid.
pub fn kmeans(
    gpu: &Gpu,
    x: &[f32],
    n: usize,
    d: usize,
    clusters: usize,
    search: &ClusteredSearch,
) -> Result<Vec<f32>> {
    if clusters == 0 || clusters > n || x.len() != n * d {
        return Err(Error::shape(
            "kNN k-means",
            format!("{clusters} clusters of {} values as {n} × {d}", x.len()),
        ));
    }
    let mut rng = Rng::new(search.seed ^ 0x4b4d_4541_4e53);
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let s = search.kmeans_sample.clamp(clusters, n);
    let mut centroids = Vec::with_capacity(clusters * d);
    for &i in &order[..clusters] {
        centroids.extend_from_slice(&x[i * d..(i + 1) * d]);
    }
    let mut sample_rows = order[..s].to_vec();
    sample_rows.sort_unstable();
    let mut sample = Vec::with_capacity(s * d);
    for &i in &sample_rows {
        sample.extend_from_slice(&x[i * d..(i + 1) * d]);
    }
    let points = upload_points(gpu, &sample, s, d)?;
    for _ in 0..search.kmeans_iterations {
        let nearest = nearest_centroids(gpu, &points, &centroids, clusters, 1)?;
        let mut sums = vec![0f64; clusters * d];
        let mut counts = vec![0usize; clusters];
        for (r, &c) in nearest.iter().enumerate() {
            let c = c as usize;
            counts[c] += 1;
            for f in 0..d {
                sums[c * d + f] += sample[r * d + f] as f64;
            }
        }
        for c in 0..clusters {
            if counts[c] > 0 {
                for f in 0..d {
                    centroids[c * d + f] = (sums[c * d + f] / counts[c] as f64) as f32;
                }
            }
        }
    }
    Ok(centroids)
}

/// The `m` nearest of the `clusters` centroids (clusters × d, row-major) to each of the points,
/// nearest first (ties to the lower centroid): points.n × m centroid numbers. The exact kNN scan
/// with the centroids as the columns.
pub fn nearest_centroids(
    gpu: &Gpu,
    points: &Points,
    centroids: &[f32],
    clusters: usize,
    m: usize,
) -> Result<Vec<u32>> {
    let (n, d) = (points.n, points.d);
    if m == 0 || m > clusters || m > K_MAX || centroids.len() != clusters * d {
        return Err(Error::shape(
            "kNN nearest centroids",
            format!(
                "{m} nearest of {clusters} centroids from {} values of d = {d} (m ≤ {})",
                centroids.len(),
                K_MAX
            ),
        ));
    }
    // The narrowest tiles: the first chunk, one tile, is scanned with no threshold and every
    // pair of it goes through the insert; the later ones only below the m-th nearest so far.
    let tiles = match upload_column_tiles_of(gpu, centroids, clusters, d, 64)? {
        Some(t) => Some(t),
        None => upload_column_tiles(gpu, centroids, clusters, d)?,
    }
    .ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{clusters} centroids × {d} features do not fit uniform column tiles"
        ))
    })?;
    let per_chunk = (knn_chunk_cap(m) / tiles.cols).max(1);
    let cap = per_chunk.min(tiles.tiles) * tiles.cols;
    let block = ((KNN_BLOCK_BYTES / 8) as usize / cap / 64 * 64)
        .max(64)
        .min(n);
    let count = gpu.storage("kNN nearest centroids counts", block);
    let cand = gpu.storage("kNN nearest centroids candidates", 2 * block * cap);
    let index = gpu.storage("kNN nearest centroids index", n * m);
    let dist = gpu.storage("kNN nearest centroids distance", n * m);
    let all_tiles: Vec<usize> = (0..tiles.tiles).collect();
    let chunks: Vec<&[usize]> = std::iter::once(&all_tiles[..1])
        .chain(all_tiles[1..].chunks(per_chunk))
        .collect();
    let buffers = ScanBuffers {
        count: &count,
        cand: &cand,
        cap,
        index: &index,
        dist: &dist,
    };
    for row0 in (0..n).step_by(block) {
        let rows = block.min(n - row0);
        let mut dispatches = uniform_chunk_dispatches(
            gpu,
            points,
            &tiles,
            row0,
            rows,
            m,
            false,
            chunks.iter().copied(),
            &buffers,
        )?;
        dispatches.push(knn_sort(
            gpu, n, row0, rows, m, &index, &dist, &count, &cand,
        )?);
        gpu.run(
            "kNN nearest centroids",
            &dispatches.iter().collect::<Vec<_>>(),
        )?;
    }
    let out: Vec<u32> = gpu.read(&index, 0, n * m)?;
    if let Some(&bad) = out.iter().find(|&&c| c as usize >= clusters) {
        return Err(Error::InvalidArgument(format!(
            "the nearest-centroid search returned centroid {bad} of {clusters} (NaN in the input?)"
        )));
    }
    Ok(out)
}

/// Points sorted by cluster, the clusters along a nearest-neighbour chain of their centroids.
pub struct Layout {
    /// Position → point.
    pub perm: Vec<u32>,
    /// Positions [start, end) of each cluster (by cluster number).
    pub range: Vec<(usize, usize)>,
}

impl Layout {
    /// `near` (n × m) lists each point's nearest centroids, its own cluster first.
    pub fn new(
        near: &[u32],
        n: usize,
        m: usize,
        centroids: &[f32],
        clusters: usize,
        d: usize,
    ) -> Layout {
        let chain = chain_order(centroids, clusters, d);
        let mut rank = vec![0usize; clusters];
        for (r, &c) in chain.iter().enumerate() {
            rank[c] = r;
        }
        // Counting sort by the cluster's rank; points of a cluster stay in index order.
        let mut sizes = vec![0usize; clusters];
        for i in 0..n {
            sizes[near[i * m] as usize] += 1;
        }
        let mut range = vec![(0, 0); clusters];
        let mut next = vec![0usize; clusters];
        let mut at = 0;
        for &c in &chain {
            range[c] = (at, at + sizes[c]);
            next[c] = at;
            at += sizes[c];
        }
        let mut perm = vec![0u32; n];
        for i in 0..n {
            let c = near[i * m] as usize;
            perm[next[c]] = i as u32;
            next[c] += 1;
        }
        Layout { perm, range }
    }

    /// The column tiles (of `cols` positions) each block of [`ROW_BLOCK`] positions scans: its
    /// own tiles first, then ascending, those holding a cluster named at least `min_votes` times
    /// in its points' lists or owning one of its points; widened to its neighbours when they
    /// hold fewer than k + 1 points.
    pub fn block_tiles(
        &self,
        near: &[u32],
        m: usize,
        min_votes: usize,
        cols: usize,
        k: usize,
    ) -> Vec<Vec<usize>> {
        let n = self.perm.len();
        let clusters = self.range.len();
        let tiles = n.div_ceil(cols);
        let mut votes = vec![0usize; clusters];
        let mut out = Vec::with_capacity(n.div_ceil(ROW_BLOCK));
        for row0 in (0..n).step_by(ROW_BLOCK) {
            let row1 = (row0 + ROW_BLOCK).min(n);
            let mut chosen = vec![false; tiles];
            let mark = |chosen: &mut Vec<bool>, c: usize| {
                let (s, e) = self.range[c];
                if e > s {
                    chosen[s / cols..=(e - 1) / cols].fill(true);
                }
            };
            for p in row0..row1 {
                let i = self.perm[p] as usize;
                let list = &near[i * m..(i + 1) * m];
                mark(&mut chosen, list[0] as usize);
                for &c in list {
                    votes[c as usize] += 1;
                }
            }
            for p in row0..row1 {
                let i = self.perm[p] as usize;
                for &c in &near[i * m..(i + 1) * m] {
                    let c = c as usize;
                    if votes[c] >= min_votes {
                        mark(&mut chosen, c);
                    }
                }
            }
            for p in row0..row1 {
                let i = self.perm[p] as usize;
                for &c in &near[i * m..(i + 1) * m] {
                    votes[c as usize] = 0;
                }
            }
            let (own0, own1) = (row0 / cols, (row1 - 1) / cols);
            chosen[own0..=own1].fill(true);
            // At least k + 1 real columns (the point itself is among them).
            let real = |t: usize| n.min((t + 1) * cols) - t * cols;
            let mut have: usize = (0..tiles).filter(|&t| chosen[t]).map(real).sum();
            let mut step = 1;
            while have < k + 1 && step < tiles {
                for t in [own0.checked_sub(step), Some(own1 + step)]
                    .into_iter()
                    .flatten()
                {
                    if t < tiles && !chosen[t] {
                        chosen[t] = true;
                        have += real(t);
                    }
                }
                step += 1;
            }
            let mut list: Vec<usize> = (own0..=own1).collect();
            list.extend((0..tiles).filter(|&t| chosen[t] && !(own0..=own1).contains(&t)));
            out.push(list);
        }
        out
    }
}

/// Clusters in the order of a greedy nearest-neighbour chain through their centroids, from
/// cluster 0 (O(clusters² · d) on the CPU).
fn chain_order(centroids: &[f32], clusters: usize, d: usize) -> Vec<usize> {
    let mut visited = vec![false; clusters];
    let mut order = Vec::with_capacity(clusters);
    let mut at = 0;
    visited[0] = true;
    order.push(0);
    for _ in 1..clusters {
        let a = &centroids[at * d..(at + 1) * d];
        let mut best = (f32::INFINITY, usize::MAX);
        for c in 0..clusters {
            if !visited[c] {
                let b = &centroids[c * d..(c + 1) * d];
                let dist: f32 = a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum();
                if dist < best.0 || best.1 == usize::MAX {
                    best = (dist, c);
                }
            }
        }
        at = best.1;
        visited[at] = true;
        order.push(at);
    }
    order
}
