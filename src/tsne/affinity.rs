//! Input affinities: squared distances (register-blocked; with subgroups, 64-row tiles whose row
//! values are shared by `subgroupBroadcast`), the exact kNN search, per-point bisection for β
//! (tol 1e-5, at most 200 steps), and the symmetric joint P, dense (exact) or sparse in CSR form.
//!
//! The kNN search (with subgroups of 8 lanes) is brute force without a distance matrix: for a
//! block of rows it sweeps chunks of columns (256, 256, 512, ... doubling up to ~6,000), and a fused
//! kernel computes each tile of distances in registers and keeps only the pairs at or below the
//! row's current k-th smallest distance (its heap root); a second kernel inserts those few into a
//! max-heap per row, and a last one sorts the heaps. Exact and deterministic: the heaps hold the k
//! smallest pairs by (distance, j) whatever order the candidates arrive in. Without subgroups the
//! search falls back to distance blocks and a top-k over each (a heap per row).
//! Where a tile of columns fits one uniform binding (d ≤ 64 for 256 columns, ≤ 128 for 128, ≤ 256
//! for 64, at 64 KiB), the fused kernel reads its columns from a UNIFORM buffer instead
//! ([`knn_scan_uniform`], one dispatch per tile, each binding its range of one buffer that holds
//! all the tiles): every lane walks the same column at the same time, so lavapipe loads each
//! column value once for all lanes, where the subgroup kernel pays a storage load per lane and a
//! broadcast per row. Each invocation holds 8 rows (two quads, d features each, preloaded) in
//! registers. It sums the same squares in the same order with fma, so both kernels give the same
//! bits and the same neighbours (tested).
//! From 20,000 points `fit` runs the approximate search of [`super::knn_clustered`] instead by
//! default: the same scan and inserts, over the column tiles of nearby k-means clusters only.
//! The dense path runs wholly on the GPU. The sparse path finds neighbours and calibrates β on the
//! GPU and symmetrizes the kNN graph on the CPU (a sparse transpose of N·k entries, deterministic).
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
//! --full`, load average ~4): knn() 80.3 s wall, its one block projected to 80 s of CPU (the
//! subgroup scan's block projects to 165 s of CPU in the same conditions); 80 s of CPU over two
//! quiet cores would be ~40 s wall (not measured).

use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::{check_len, launch};

const SQDIST: &str = include_str!("../../shaders/tsne_sqdist.wgsl");
const SQDIST_SG: &str = include_str!("../../shaders/tsne_sqdist_sg.wgsl");
/// Rows of one subgroup tile of the subgroup distance kernel.
/// (On lavapipe, 256 rows × 20,000 points × 50 features: 8 rows 1.15 s, 16 rows 0.54 s, 32 rows
/// 0.35 s, 64 rows 0.32 s; the |a|² + |b|² − 2ab form was no faster.)
pub const SQDIST_TILE_ROWS: usize = 64;
const TOPK: &str = include_str!("../../shaders/tsne_topk.wgsl");
const KNN_SCAN: &str = include_str!("../../shaders/tsne_knn_scan.wgsl");
const KNN_INSERT: &str = include_str!("../../shaders/tsne_knn_insert.wgsl");
const KNN_SCAN_UNIFORM: &str = include_str!("../../shaders/tsne_knn_scan_uniform.wgsl");
/// Row quads each invocation of the uniform-tile kNN scan holds (4 × this many rows).
pub const KNN_UNIFORM_ROW_QUADS: usize = 2;
/// Invocations per workgroup of the uniform-tile kNN scan.
pub const KNN_UNIFORM_LANES: usize = 8;
/// Widest column tile of the uniform-tile kNN scan (narrower ones when d is large).
pub const KNN_UNIFORM_MAX_TILE: usize = 256;
/// Rows of one subgroup tile of the fused kNN scan (a multiple of 32: lanes load row quads).
/// On lavapipe at N = 20,000, d = 50 (ms of CPU per row for the whole search, loaded machine,
/// ±15%; first compile without Mesa's shader cache): 32 rows × 1 quad per lane 0.92–1.1 (4 s),
/// 32 × 2 0.73–0.78 (12 s), 64 × 1 0.83–0.91 (13 s), 64 × 2 0.63–0.79 (83 s), 64 × 4 0.80.
/// Row values loaded as quads rather than one per lane: ~10% faster; unrolling the feature loop
/// 2× or 5×: no faster. 32 × 2 is the speed of 64 × 2 within the noise at a seventh of its
/// compile time.
pub const KNN_TILE_ROWS: usize = 32;
/// Column quads per lane of the fused kNN scan (a tile is 32 × KNN_LANE_QUADS columns wide).
pub const KNN_LANE_QUADS: usize = 2;
const PERPLEXITY: &str = include_str!("../../shaders/tsne_perplexity.wgsl");
const SYMMETRIZE: &str = include_str!("../../shaders/tsne_symmetrize.wgsl");

/// Most neighbours the top-k kernel keeps per row.
pub const K_MAX: usize = 128;
/// Candidates the top-k kernel collects per row before inserting them (CAPACITY in the WGSL).
const TOPK_CAPACITY: usize = 32;
/// Bisection stops when |H − ln(perplexity)| ≤ TOL ...
pub const TOL: f32 = 1e-5;
/// ... or after this many steps.
pub const MAX_STEPS: u32 = 200;
/// The largest β the bisection takes (2^100, as far as openTSNE's 100 doublings reach): a row
/// with more ties at its smallest distance than the perplexity (copies of a point) cannot reach
/// the target entropy and ends uniform over its ties. β · d stays finite in f32 for squared
/// distances up to 10^8 (the input is scaled to |x| <= 1 before, see `super::input_scale`).
pub const BETA_MAX: f32 = 1.2676506e30;
/// Bytes of the kNN search's work buffers (the distance block, or the candidate lists).
pub(crate) const KNN_BLOCK_BYTES: u64 = 64 << 20;

/// Mirrors `Params` in tsne_sqdist.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SqdistParams {
    pub n: u32,
    pub rows: u32,
    pub row0: u32,
    pub d: u32,
    pub nq: u32,
    pub col_groups: u32,
    pub groups: u32,
    /// Row stride of the output block (n, or n_pad for kNN blocks).
    pub ld: u32,
}

/// Mirrors `Params` in tsne_topk.wgsl.
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

/// Mirrors `Params` in tsne_knn_scan.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct KnnScanParams {
    pub n: u32,
    pub rows: u32,
    pub row0: u32,
    pub d: u32,
    pub nq: u32,
    /// Column quads [q0, q1) of this chunk.
    pub q0: u32,
    pub q1: u32,
    pub col_tiles: u32,
    pub groups: u32,
    /// Candidate slots per row (at least 4 (q1 − q0)).
    pub cap: u32,
    pub k: u32,
    /// 1 on a row block's first chunk: no threshold yet (the heaps are not filled).
    pub first: u32,
}

/// Mirrors `Params` in tsne_knn_scan_uniform.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct KnnScanUniformParams {
    pub n: u32,
    pub rows: u32,
    pub row0: u32,
    pub nq: u32,
    /// First column quad of the tile.
    pub cq0: u32,
    pub k: u32,
    pub cap: u32,
    /// 1 on a row block's first chunk: no threshold yet (the heaps are not filled).
    pub first: u32,
    pub groups: u32,
    pub pad0: u32,
    pub pad1: u32,
    pub pad2: u32,
}

/// Mirrors `Params` in tsne_knn_insert.wgsl.
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

/// Mirrors `Params` in tsne_perplexity.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct PerplexityParams {
    pub rows: u32,
    pub len: u32,
    pub skip_diag: u32,
    pub steps: u32,
    pub log_perplexity: f32,
    pub tol: f32,
    pub start: u32,
    pub finish: u32,
    pub beta_max: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// f32 of bisection state per row (β, lo, hi, dmin, has_lo, has_hi, done, steps taken).
pub const STATE_PER_ROW: usize = 8;

/// Mirrors `Params` in tsne_symmetrize.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SymmetrizeParams {
    pub n: u32,
    pub ld: u32,
    pub len: u32,
    pub scale: f32,
}

/// Points on the GPU, feature-major: d rows of n_pad values (n_pad = n rounded up to a multiple of
/// 16, the padding points 0), so that the distance kernel's column loads are contiguous.
pub struct Points {
    pub buffer: wgpu::Buffer,
    pub n: usize,
    pub d: usize,
    pub n_pad: usize,
}

/// Upload n × d points (row-major) transposed; fails when they do not fit one storage binding.
pub fn upload_points(gpu: &Gpu, x: &[f32], n: usize, d: usize) -> Result<Points> {
    if x.len() != n * d || n == 0 || d == 0 {
        return Err(Error::shape(
            "tsne points",
            format!("{} values are not {n} × {d}", x.len()),
        ));
    }
    if d > super::LOOP_BUDGET {
        return Err(Error::InvalidArgument(format!(
            "{d} features: the distance kernel takes at most {}",
            super::LOOP_BUDGET
        )));
    }
    let n_pad = n.div_ceil(16) * 16;
    let bytes = (n_pad * d * 4) as u64;
    if bytes > gpu.limits.max_storage_buffer_binding_size {
        return Err(Error::InvalidArgument(format!(
            "{n} points × {d} features ({bytes} bytes) exceed one storage binding ({} bytes); \
             reduce them with PCA first (--pca 50)",
            gpu.limits.max_storage_buffer_binding_size
        )));
    }
    let mut xt = vec![0f32; n_pad * d];
    for i in 0..n {
        for f in 0..d {
            xt[f * n_pad + i] = x[i * d + f];
        }
    }
    Ok(Points {
        buffer: gpu.storage_from("tsne points", &xt),
        n,
        d,
        n_pad,
    })
}

/// Squared distances of rows row0..row0+rows (row0 a multiple of 16) to all n points into `out`
/// (rows × ld, ld ≥ n; columns past n, up to n_pad, may be written too when ld ≥ n_pad).
/// Uses the subgroup kernel where the adapter has subgroups of 8 lanes.
pub fn sqdist_block(
    gpu: &Gpu,
    points: &Points,
    row0: usize,
    rows: usize,
    ld: usize,
    out: &wgpu::Buffer,
) -> Result<Dispatch> {
    let n = points.n;
    if rows == 0 || row0 + rows > n || !row0.is_multiple_of(16) || ld < n {
        return Err(Error::shape(
            "tsne sqdist",
            format!(
                "rows {row0}..{} of {n} points (the first a multiple of 16), row stride {ld}",
                row0 + rows
            ),
        ));
    }
    check_len("tsne sqdist", "out", out, rows * ld)?;
    let nq = points.n_pad / 4;
    let flops = (3 * rows * n * points.d) as f64;
    if subgroups_of_8(gpu) {
        // Vector stores write whole quads, up to n_pad: only when the rows are that long.
        let vec_store = ld.is_multiple_of(4) && ld >= points.n_pad;
        let col_groups = nq.div_ceil(8);
        let tr = SQDIST_TILE_ROWS;
        let groups = rows.div_ceil(tr) * col_groups;
        let params = SqdistParams {
            n: n as u32,
            rows: rows as u32,
            row0: row0 as u32,
            d: points.d as u32,
            nq: nq as u32,
            col_groups: col_groups as u32,
            groups: groups as u32,
            ld: ld as u32,
        };
        let label = format!("tsne sqdist sg{tr} vec{}", vec_store as u8);
        return launch(
            gpu,
            &label,
            &sqdist_sg_source(tr, vec_store),
            "sqdist_block_sg",
            &params,
            &[&points.buffer, &points.buffer, out],
            workgroups_for(groups, 1),
        )
        .map(|d| d.with_flops(flops));
    }
    let col_groups = nq.div_ceil(64);
    let groups = rows.div_ceil(16) * col_groups;
    let params = SqdistParams {
        n: n as u32,
        rows: rows as u32,
        row0: row0 as u32,
        d: points.d as u32,
        nq: nq as u32,
        col_groups: col_groups as u32,
        groups: groups as u32,
        ld: ld as u32,
    };
    launch(
        gpu,
        "tsne sqdist",
        SQDIST,
        "sqdist_block",
        &params,
        &[&points.buffer, out],
        workgroups_for(groups, 1),
    )
    .map(|d| d.with_flops(flops))
}

/// True when the adapter runs subgroups of exactly 8 lanes (what the subgroup kernels assume).
pub fn subgroups_of_8(gpu: &Gpu) -> bool {
    gpu.features.contains(wgpu::Features::SUBGROUP)
        && gpu.info.subgroup_min_size == 8
        && gpu.info.subgroup_max_size == 8
}

/// The whole subgroup distance kernel: tsne_sqdist_sg.wgsl plus the generated entry point for
/// tiles of `tile_rows` rows (a multiple of 8). Names: r0 the tile's first row (within the
/// block), cq this lane's column quad, g{j} the global point whose row value lane loads for tile
/// rows lane + 8j, acc{i} row i's 4 distances.
pub fn sqdist_sg_source(tile_rows: usize, vec_store: bool) -> String {
    use std::fmt::Write;
    let loads = tile_rows / 8;
    let mut s = SQDIST_SG.to_string();
    let w = &mut s;
    macro_rules! line {
        ($($arg:tt)*) => { writeln!(w, $($arg)*).unwrap() };
    }
    if vec_store {
        line!("@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;");
        line!();
        line!("fn store(r: u32, cq: u32, v: vec4<f32>) {{");
        line!("    if (r >= params.rows || cq >= params.nq) {{ return; }}");
        line!("    out[(r * params.ld) / 4u + cq] = v;");
        line!("}}");
    } else {
        line!("@group(0) @binding(3) var<storage, read_write> out: array<f32>;");
        line!();
        line!("fn store(r: u32, cq: u32, v: vec4<f32>) {{");
        line!("    if (r >= params.rows) {{ return; }}");
        line!("    let base = r * params.ld;");
        line!("    let c = cq * 4u;");
        line!("    if (c < params.n) {{ out[base + c] = v.x; }}");
        line!("    if (c + 1u < params.n) {{ out[base + c + 1u] = v.y; }}");
        line!("    if (c + 2u < params.n) {{ out[base + c + 2u] = v.z; }}");
        line!("    if (c + 3u < params.n) {{ out[base + c + 3u] = v.w; }}");
        line!("}}");
    }
    line!();
    line!("// Generated by tsne::affinity::sqdist_sg_source: {tile_rows}-row tiles.");
    line!("@compute @workgroup_size(8)");
    line!(
        "fn sqdist_block_sg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,"
    );
    line!("                   @builtin(subgroup_invocation_id) lane: u32) {{");
    line!("    let tile = wg.x + wg.y * nwg.x;");
    line!("    // The same for every lane: the whole subgroup leaves together.");
    line!("    if (tile >= params.groups) {{ return; }}");
    line!("    let r0 = (tile / params.col_groups) * {tile_rows}u;");
    line!("    let cq = (tile % params.col_groups) * 8u + lane;");
    line!("    let cq_load = min(cq, params.nq - 1u);");
    line!("    let last = params.row0 + params.rows - 1u;");
    line!("    let n_pad = params.nq * 4u;");
    for j in 0..loads {
        line!(
            "    let g{j} = min(params.row0 + r0 + lane + {}u, last);",
            8 * j
        );
    }
    for i in 0..tile_rows {
        line!("    var acc{i} = vec4<f32>(0.0);");
    }
    line!("    for (var f = 0u; f < params.d; f++) {{");
    line!("        let col = xt[f * params.nq + cq_load];");
    line!("        let base = f * n_pad;");
    for j in 0..loads {
        line!("        let a{j} = xs[base + g{j}];");
    }
    for i in 0..tile_rows {
        let (j, l) = (i / 8, i % 8);
        line!("        let e{i} = vec4<f32>(subgroupBroadcast(a{j}, {l}u)) - col;");
        line!("        acc{i} = fma(e{i}, e{i}, acc{i});");
    }
    line!("    }}");
    for i in 0..tile_rows {
        line!("    store(r0 + {i}u, cq, acc{i});");
    }
    line!("}}");
    s
}

/// The k nearest other points of rows row0..row0+rows from their distance block (rows × ld, ld a
/// multiple of 4 and ≥ n), into rows row0.. of `knn_index` / `knn_dist` (n × k each), ascending.
/// One dispatch per column chunk, so that no invocation passes lavapipe's loop cap
/// ([`super::LOOP_BUDGET`]), then one that sorts each row's heap.
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
            "tsne topk",
            format!(
                "rows {row0}..{} of {n}, row stride {ld} (a multiple of 4, at least n)",
                row0 + rows
            ),
        ));
    }
    check_len("tsne topk", "dist", dist, rows * ld)?;
    check_len("tsne topk", "knn_index", knn_index, n * k)?;
    check_len("tsne topk", "knn_dist", knn_dist, n * k)?;
    // Loop iterations: a quad costs 1, plus per candidate 1 to collect it, 1 to insert it and a
    // sift-down of at most `levels` + 1; a batch 1 more; the first chunk also fills k entries.
    let levels = (usize::BITS - k.leading_zeros()) as usize;
    let per_quad = 1 + 4 * (levels + 3) + 1;
    let chunk = 4 * ((super::LOOP_BUDGET - k - 64) / per_quad).max(1);
    let scratch = gpu.storage("tsne topk scratch", rows * TOPK_CAPACITY * 2);
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
            "tsne topk",
            TOPK,
            "topk_rows",
            &params(col0, col1),
            &[dist, knn_index, knn_dist, &scratch],
            workgroups_for(rows, 64),
        )?);
        col0 = col1;
    }
    out.push(launch(
        gpu,
        "tsne topk",
        TOPK,
        "topk_sort",
        &params(0, n),
        &[dist, knn_index, knn_dist, &scratch],
        workgroups_for(rows, 64),
    )?);
    Ok(out)
}

/// The whole fused kNN scan kernel: tsne_knn_scan.wgsl plus the generated entry point for tiles of
/// `tile_rows` rows (a multiple of 32) by 32 `lane_quads` columns. Names: r0 the tile's first row (within the block), cq{c} this lane's column
/// quads, h{j} the row quad this lane loads for tile rows 32 j + 4 lane .. + 3, t{j} those rows'
/// thresholds, acc{i}_{c} row i's 4 distances to quad cq{c}.
pub fn knn_scan_source(tile_rows: usize, lane_quads: usize) -> String {
    use std::fmt::Write;
    debug_assert!(tile_rows.is_multiple_of(32) && tile_rows > 0 && lane_quads > 0);
    let loads = tile_rows / 32;
    let mut s = KNN_SCAN.to_string();
    let w = &mut s;
    macro_rules! line {
        ($($arg:tt)*) => { writeln!(w, $($arg)*).unwrap() };
    }
    line!();
    line!(
        "// Generated by tsne::affinity::knn_scan_source: {tile_rows}-row tiles, {lane_quads} \
         quads per lane."
    );
    line!("@compute @workgroup_size(8)");
    line!(
        "fn knn_scan(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,"
    );
    line!("            @builtin(subgroup_invocation_id) lane: u32) {{");
    line!("    let tile = wg.x + wg.y * nwg.x;");
    line!("    // The same for every lane: the whole subgroup leaves together.");
    line!("    if (tile >= params.groups) {{ return; }}");
    line!("    let r0 = (tile / params.col_tiles) * {tile_rows}u;");
    line!(
        "    let qt = params.q0 + (tile % params.col_tiles) * {}u + lane;",
        8 * lane_quads
    );
    for c in 0..lane_quads {
        line!("    let cq{c} = qt + {}u;", 8 * c);
        line!("    let cl{c} = min(cq{c}, params.q1 - 1u);");
    }
    line!("    // Row quads (row0 and r0 are multiples of 4); past the last quad, the last one.");
    for j in 0..loads {
        line!(
            "    let h{j} = min((params.row0 + r0) / 4u + lane + {}u, params.nq - 1u);",
            8 * j
        );
    }
    for i in 0..tile_rows {
        for c in 0..lane_quads {
            line!("    var acc{i}_{c} = vec4<f32>(0.0);");
        }
    }
    line!("    for (var f = 0u; f < params.d; f++) {{");
    line!("        let base = f * params.nq;");
    for c in 0..lane_quads {
        line!("        let col{c} = xt[base + cl{c}];");
    }
    for j in 0..loads {
        line!("        let a{j} = xt[base + h{j}];");
    }
    for i in 0..tile_rows {
        let (j, l, x) = (i / 32, (i % 32) / 4, ["x", "y", "z", "w"][i % 4]);
        line!("        let b{i} = vec4<f32>(subgroupBroadcast(a{j}, {l}u).{x});");
        for c in 0..lane_quads {
            line!("        let e{i}_{c} = b{i} - col{c};");
            line!("        acc{i}_{c} = fma(e{i}_{c}, e{i}_{c}, acc{i}_{c});");
        }
    }
    line!("    }}");
    line!("    // Thresholds: the heap roots, or 3e38 before the heaps hold anything.");
    line!("    let last = params.row0 + params.rows - 1u;");
    for j in 0..loads {
        for (x, name) in ["x", "y", "z", "w"].iter().enumerate() {
            line!(
                "    let t{j}{name} = select(knn_dist[min(h{j} * 4u + {x}u, last) * params.k], 3.0e38, params.first == 1u);"
            );
        }
        line!("    let t{j} = vec4<f32>(t{j}x, t{j}y, t{j}z, t{j}w);");
    }
    // Candidate bits: slot p = 4 (lane_quads i + c) + component of acc{i}_{c} is bit p % 32 of
    // word w{p / 32}, set where the pair is at or below its row's threshold (and a real pair).
    let words = tile_rows * lane_quads / 8;
    for q in 0..words {
        line!("    var w{q} = 0u;");
    }
    line!("    var vals: array<f32, {}>;", tile_rows * lane_quads * 4);
    line!("    let bit = vec4<u32>(1u, 2u, 4u, 8u);");
    for c in 0..lane_quads {
        line!(
            "    let real{c} = (vec4<u32>(cq{c} * 4u) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(params.n)) & vec4<bool>(cq{c} < params.q1);"
        );
    }
    for i in 0..tile_rows {
        let (j, l, x) = (i / 32, (i % 32) / 4, ["x", "y", "z", "w"][i % 4]);
        line!("    let tau{i} = subgroupBroadcast(t{j}, {l}u).{x};");
        line!("    let row{i} = vec4<bool>(r0 + {i}u < params.rows);");
        for c in 0..lane_quads {
            let p = 4 * (lane_quads * i + c);
            let (q, shift) = (p / 32, p % 32);
            line!(
                "    let m{i}_{c} = select(vec4<u32>(0u), bit, (acc{i}_{c} <= vec4<f32>(tau{i})) & row{i} & real{c});"
            );
            line!("    w{q} |= (m{i}_{c}.x | m{i}_{c}.y | m{i}_{c}.z | m{i}_{c}.w) << {shift}u;");
            for (e, x) in ["x", "y", "z", "w"].iter().enumerate() {
                line!("    vals[{}] = acc{i}_{c}.{x};", p + e);
            }
        }
    }
    line!(
        "    // Emit the candidates one per iteration: lavapipe runs an `if` body even when no lane"
    );
    line!("    // takes it, but leaves a loop once no lane is left in it, so a tile without");
    line!("    // candidates costs one pass through this loop.");
    line!("    loop {{");
    line!("        var word = 0u;");
    line!("        var wi = 0u;");
    for q in (0..words).rev() {
        line!("        word = select(word, w{q}, w{q} != 0u);");
        line!("        wi = select(wi, {q}u, w{q} != 0u);");
    }
    line!("        if (word == 0u) {{ break; }}");
    line!("        let b = firstTrailingBit(word);");
    for q in 0..words {
        line!("        w{q} = select(w{q}, w{q} & ~(1u << b), wi == {q}u);");
    }
    line!("        let p = wi * 32u + b;");
    line!("        let r = r0 + p / {}u;", 4 * lane_quads);
    line!("        let j = (qt + 8u * ((p / 4u) % {lane_quads}u)) * 4u + p % 4u;");
    line!("        let slot = atomicAdd(&count[r], 1u);");
    line!("        // Always true in a search (cap covers the chunk); guards a scan run twice.");
    line!("        if (slot < params.cap) {{");
    line!("            cand[r * params.cap + slot] = vec2<u32>(bitcast<u32>(vals[p]), j);");
    line!("        }}");
    line!("    }}");
    line!("}}");
    s
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
    ((super::LOOP_BUDGET - build) / per_candidate) / 32 * 32
}

/// One fused pass of the exact kNN search: rows row0..row0+rows against the column quads [q0, q1),
/// appending to `cand` (rows × cap (distance bits, j)) every pair at or below its row's current
/// heap root in `knn_dist` (every pair when `first`), counting them in `count` (rows u32).
/// Needs subgroups of 8 lanes ([`subgroups_of_8`]).
#[allow(clippy::too_many_arguments)]
pub fn knn_scan(
    gpu: &Gpu,
    points: &Points,
    row0: usize,
    rows: usize,
    q0: usize,
    q1: usize,
    k: usize,
    first: bool,
    knn_dist: &wgpu::Buffer,
    count: &wgpu::Buffer,
    cand: &wgpu::Buffer,
    cap: usize,
) -> Result<Dispatch> {
    let (n, nq) = (points.n, points.n_pad / 4);
    if rows == 0
        || row0 + rows > n
        || !row0.is_multiple_of(4)
        || q0 >= q1
        || q1 > nq
        || cap < 4 * (q1 - q0)
    {
        return Err(Error::shape(
            "tsne kNN scan",
            format!(
                "rows {row0}..{} of {n} points (the first a multiple of 4), column quads \
                 {q0}..{q1} of {nq}, {cap} slots per row",
                row0 + rows
            ),
        ));
    }
    if !subgroups_of_8(gpu) {
        return Err(Error::InvalidArgument(
            "the fused kNN scan needs subgroups of 8 lanes".into(),
        ));
    }
    check_len("tsne kNN scan", "knn_dist", knn_dist, n * k)?;
    check_len("tsne kNN scan", "count", count, rows)?;
    check_len("tsne kNN scan", "cand", cand, 2 * rows * cap)?;
    let (tr, lq) = (KNN_TILE_ROWS, KNN_LANE_QUADS);
    let col_tiles = (q1 - q0).div_ceil(8 * lq);
    let groups = rows.div_ceil(tr) * col_tiles;
    let params = KnnScanParams {
        n: n as u32,
        rows: rows as u32,
        row0: row0 as u32,
        d: points.d as u32,
        nq: nq as u32,
        q0: q0 as u32,
        q1: q1 as u32,
        col_tiles: col_tiles as u32,
        groups: groups as u32,
        cap: cap as u32,
        k: k as u32,
        first: first as u32,
    };
    let flops = (3 * rows * 4 * (q1 - q0) * points.d) as f64;
    launch(
        gpu,
        &format!("tsne kNN scan {tr}x{lq}"),
        &knn_scan_source(tr, lq),
        "knn_scan",
        &params,
        &[&points.buffer, knn_dist, count, cand],
        workgroups_for(groups, 1),
    )
    .map(|d| d.with_flops(flops))
}

/// The whole uniform-tile kNN scan kernel: tsne_knn_scan_uniform.wgsl plus the generated `cols`
/// binding (d × tile_cols / 4 vec4) and entry point for d features, `row_quads` row quads per
/// invocation and `lanes` invocations per workgroup. Names: rb the invocation's first row
/// (within the block), h{q} its row quads, a{q}_{f} feature f of row quad q, t{q} those rows'
/// thresholds, ok{q} which of them are real, acc{q}_{r} row 4 q + r's distances to column quad cq.
pub fn knn_scan_uniform_source(
    d: usize,
    tile_cols: usize,
    row_quads: usize,
    lanes: usize,
) -> String {
    use std::fmt::Write;
    debug_assert!(d > 0 && tile_cols.is_multiple_of(4) && row_quads > 0);
    let tq = tile_cols / 4;
    let rows_per = 4 * row_quads;
    let xyzw = ["x", "y", "z", "w"];
    let mut s = KNN_SCAN_UNIFORM.to_string();
    let w = &mut s;
    macro_rules! line {
        ($($arg:tt)*) => { writeln!(w, $($arg)*).unwrap() };
    }
    line!(
        "@group(0) @binding(5) var<uniform> cols: array<vec4<f32>, {}>;",
        d * tq
    );
    line!();
    line!(
        "// Generated by tsne::affinity::knn_scan_uniform_source: d = {d}, {tile_cols}-column \
         tiles, {row_quads} row quads per invocation, {lanes} invocations per workgroup."
    );
    line!("@compute @workgroup_size({lanes})");
    line!(
        "fn knn_scan_uniform(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,"
    );
    line!("                    @builtin(local_invocation_index) lid: u32) {{");
    line!("    let group = wg.x + wg.y * nwg.x;");
    line!("    // The same for the whole workgroup: the column loop below stays lane-uniform.");
    line!("    if (group >= params.groups) {{ return; }}");
    line!("    let rb = (group * {lanes}u + lid) * {rows_per}u;");
    line!("    let last = params.row0 + params.rows - 1u;");
    line!("    // Row quads (row0 is a multiple of 4); past the last quad, the last one.");
    for q in 0..row_quads {
        line!("    let h{q} = min((params.row0 + rb) / 4u + {q}u, params.nq - 1u);");
    }
    for q in 0..row_quads {
        for f in 0..d {
            line!("    let a{q}_{f} = xt[{f}u * params.nq + h{q}];");
        }
    }
    line!("    // Thresholds: the heap roots, or 3e38 before the heaps hold anything.");
    for q in 0..row_quads {
        let roots: Vec<String> = (0..4)
            .map(|r| {
                format!(
                    "knn_dist[min(params.row0 + rb + {}u, last) * params.k]",
                    4 * q + r
                )
            })
            .collect();
        line!(
            "    let t{q} = select(vec4<f32>({}), vec4<f32>(3.0e38), params.first == 1u);",
            roots.join(", ")
        );
        line!(
            "    let ok{q} = vec4<u32>(rb + {}u) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(params.rows);",
            4 * q
        );
    }
    line!("    let bit = vec4<u32>(1u, 2u, 4u, 8u);");
    line!("    for (var cq = 0u; cq < {tq}u; cq++) {{");
    for q in 0..row_quads {
        for r in 0..4 {
            line!("        var acc{q}_{r} = vec4<f32>(0.0);");
        }
    }
    for f in 0..d {
        line!("        {{");
        line!("            let u = cols[{}u + cq];", f * tq);
        for q in 0..row_quads {
            for (r, x) in xyzw.iter().enumerate() {
                line!("            let e{q}_{r} = vec4<f32>(a{q}_{f}.{x}) - u;");
                line!("            acc{q}_{r} = fma(e{q}_{r}, e{q}_{r}, acc{q}_{r});");
            }
        }
        line!("        }}");
    }
    line!("        let j = (params.cq0 + cq) * 4u;");
    line!("        let real = vec4<u32>(j) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(params.n);");
    // Candidate bits: word w covers row quads 2 w and 2 w + 1, bit 4 (4 q' + r) + c for row
    // 4 q + r (q' = q - 2 w) and column c of the quad.
    for wd in 0..row_quads.div_ceil(2) {
        line!("        var word{wd} = 0u;");
    }
    for q in 0..row_quads {
        for (r, x) in xyzw.iter().enumerate() {
            line!(
                "        let m{q}_{r} = select(vec4<u32>(0u), bit, (acc{q}_{r} <= vec4<f32>(t{q}.{x})) & real & vec4<bool>(ok{q}.{x}));"
            );
            line!(
                "        word{} |= (m{q}_{r}.x | m{q}_{r}.y | m{q}_{r}.z | m{q}_{r}.w) << {}u;",
                q / 2,
                4 * (4 * (q % 2) + r)
            );
        }
    }
    for wd in 0..row_quads.div_ceil(2) {
        let quads = (2 * wd..(2 * wd + 2).min(row_quads)).collect::<Vec<_>>();
        line!("        // One candidate per iteration; no lane enters when no pair passed.");
        line!("        loop {{");
        line!("            if (word{wd} == 0u) {{ break; }}");
        line!("            let b = firstTrailingBit(word{wd});");
        line!("            word{wd} &= word{wd} - 1u;");
        line!("            let p = b / 4u;");
        line!("            var v = acc{}_0;", quads[0]);
        for (i, &q) in quads.iter().enumerate() {
            for r in 0..4 {
                if i + r > 0 {
                    line!(
                        "            v = select(v, acc{q}_{r}, p == {}u);",
                        4 * i + r
                    );
                }
            }
        }
        line!("            let r = rb + {}u + p;", 8 * wd);
        line!("            let slot = atomicAdd(&count[r], 1u);");
        line!(
            "            // Always true in a search (cap covers the chunk); guards a scan run twice."
        );
        line!("            if (slot < params.cap) {{");
        line!(
            "                cand[r * params.cap + slot] = vec2<u32>(bitcast<u32>(v[b % 4u]), j + b % 4u);"
        );
        line!("            }}");
        line!("        }}");
    }
    line!("    }}");
    line!("}}");
    s
}

/// The points again for the uniform-tile kNN scan: tiles of `cols` columns (a multiple of 64),
/// each d × cols / 4 vec4 feature-major (`cols` in tsne_knn_scan_uniform.wgsl; columns past n are
/// 0), one after another in one UNIFORM | STORAGE buffer, so that tile t binds as a uniform range
/// at t × tile_bytes (a multiple of the uniform offset alignment).
pub struct ColumnTiles {
    pub buffer: wgpu::Buffer,
    /// Real columns (the rest of the last tile is padding).
    pub n: usize,
    pub d: usize,
    pub cols: usize,
    pub tiles: usize,
}

impl ColumnTiles {
    /// Bytes of one tile.
    pub fn tile_bytes(&self) -> u64 {
        (self.d * self.cols * 4) as u64
    }
}

/// The widest column tile (256, 128 or 64 columns) whose d × columns f32 fit one uniform binding
/// at an aligned offset; None when even 64 columns do not fit.
pub fn column_tile_width(gpu: &Gpu, d: usize) -> Option<usize> {
    [256, 128, 64]
        .into_iter()
        .find(|&t| column_tile_fits(gpu, d, t))
}

/// Whether tiles of `cols` columns (64, 128 or 256, at most [`KNN_UNIFORM_MAX_TILE`]) of `d`
/// features fit one uniform binding at an aligned offset.
fn column_tile_fits(gpu: &Gpu, d: usize, cols: usize) -> bool {
    let max = gpu.limits.max_uniform_buffer_binding_size as usize;
    let align = gpu.limits.min_uniform_buffer_offset_alignment as usize;
    [64, 128, 256].contains(&cols)
        && cols <= KNN_UNIFORM_MAX_TILE
        && d * cols * 4 <= max
        && (d * cols * 4).is_multiple_of(align)
}

/// Upload n × d points (row-major) as column tiles; None when no tile width fits the adapter's
/// uniform bindings ([`column_tile_width`]).
pub fn upload_column_tiles(
    gpu: &Gpu,
    x: &[f32],
    n: usize,
    d: usize,
) -> Result<Option<ColumnTiles>> {
    match column_tile_width(gpu, d) {
        Some(cols) => upload_column_tiles_of(gpu, x, n, d, cols),
        None => Ok(None),
    }
}

/// [`upload_column_tiles`] with tiles of `cols` columns (64, 128 or 256; None when they do not
/// fit the adapter's uniform bindings).
pub fn upload_column_tiles_of(
    gpu: &Gpu,
    x: &[f32],
    n: usize,
    d: usize,
    cols: usize,
) -> Result<Option<ColumnTiles>> {
    if x.len() != n * d || n == 0 || d == 0 {
        return Err(Error::shape(
            "tsne kNN column tiles",
            format!("{} values are not {n} × {d}", x.len()),
        ));
    }
    if !column_tile_fits(gpu, d, cols) {
        return Ok(None);
    }
    let tiles = n.div_ceil(cols);
    let tq = cols / 4;
    let mut data = vec![0f32; tiles * d * cols];
    for j in 0..n {
        let (t, c) = (j / cols, j % cols);
        let (cq, e) = (c / 4, c % 4);
        for f in 0..d {
            data[t * d * cols + (f * tq + cq) * 4 + e] = x[j * d + f];
        }
    }
    if (data.len() * 4) as u64 > gpu.limits.max_buffer_size {
        return Ok(None);
    }
    let buffer = gpu
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("tsne kNN column tiles"),
            contents: bytemuck::cast_slice(&data),
            usage: wgpu::BufferUsages::UNIFORM
                | wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST,
        });
    Ok(Some(ColumnTiles {
        buffer,
        n,
        d,
        cols,
        tiles,
    }))
}

/// One uniform-tile pass of the exact kNN search: rows row0..row0+rows against column tile `tile`
/// of `tiles`, appending to `cand` (rows × cap (distance bits, j)) every pair at or below its row's
/// current heap root in `knn_dist` (every pair when `first`), counting them in `count` (rows u32).
/// The same distances and candidates as [`knn_scan`] over those columns; needs no subgroups.
/// `shape` = (row quads per invocation, invocations per workgroup): the search uses
/// ([`KNN_UNIFORM_ROW_QUADS`], [`KNN_UNIFORM_LANES`]); profile_knn tries others.
#[allow(clippy::too_many_arguments)]
pub fn knn_scan_uniform(
    gpu: &Gpu,
    points: &Points,
    tiles: &ColumnTiles,
    row0: usize,
    rows: usize,
    tile: usize,
    k: usize,
    first: bool,
    knn_dist: &wgpu::Buffer,
    count: &wgpu::Buffer,
    cand: &wgpu::Buffer,
    cap: usize,
    shape: (usize, usize),
) -> Result<Dispatch> {
    let (rq, lanes) = shape;
    let (n, nq) = (points.n, points.n_pad / 4);
    if rows == 0
        || row0 + rows > n
        || !row0.is_multiple_of(4)
        || tile >= tiles.tiles
        || tiles.d != points.d
        || cap < tiles.cols
        || !(1..=8).contains(&rq)
        || !(1..=256).contains(&lanes)
    {
        return Err(Error::shape(
            "tsne kNN uniform scan",
            format!(
                "rows {row0}..{} of {n} points (the first a multiple of 4), tile {tile} of {} \
                 ({} columns, d = {} for points of d = {}), {cap} slots per row, {rq} row \
                 quads × {lanes} lanes",
                row0 + rows,
                tiles.tiles,
                tiles.cols,
                tiles.d,
                points.d
            ),
        ));
    }
    check_len("tsne kNN uniform scan", "knn_dist", knn_dist, n * k)?;
    check_len("tsne kNN uniform scan", "count", count, rows)?;
    check_len("tsne kNN uniform scan", "cand", cand, 2 * rows * cap)?;
    let groups = rows.div_ceil(4 * rq * lanes);
    let params = KnnScanUniformParams {
        n: tiles.n as u32,
        rows: rows as u32,
        row0: row0 as u32,
        nq: nq as u32,
        cq0: (tile * tiles.cols / 4) as u32,
        k: k as u32,
        cap: cap as u32,
        first: first as u32,
        groups: groups as u32,
        pad0: 0,
        pad1: 0,
        pad2: 0,
    };
    let label = format!(
        "tsne kNN uniform scan d{} t{} {rq}x{lanes}",
        points.d, tiles.cols
    );
    let pipeline = gpu.generated_pipeline(
        &label,
        |&(d, cols, rq, lanes)| knn_scan_uniform_source(d, cols, rq, lanes),
        &(points.d, tiles.cols, rq, lanes),
        "knn_scan_uniform",
    )?;
    let uniform = gpu.uniform(&format!("{label} params"), &params);
    let bytes = tiles.tile_bytes();
    let tile_range = wgpu::BufferBinding {
        buffer: &tiles.buffer,
        offset: tile as u64 * bytes,
        size: std::num::NonZeroU64::new(bytes),
    };
    let resources = [
        uniform.as_entire_binding(),
        points.buffer.as_entire_binding(),
        knn_dist.as_entire_binding(),
        count.as_entire_binding(),
        cand.as_entire_binding(),
        wgpu::BindingResource::Buffer(tile_range),
    ];
    let flops = (3 * rows * tiles.cols * points.d) as f64;
    Ok(Dispatch::new(
        gpu,
        &format!("{label}::knn_scan_uniform"),
        pipeline,
        &resources,
        workgroups_for(groups, 1),
    )
    .with_flops(flops))
}

/// The buffers one block of a fused kNN search works in: candidate counts and lists (rows × cap
/// (distance bits, j)), and the heaps (n × k index and distance).
pub struct ScanBuffers<'a> {
    pub count: &'a wgpu::Buffer,
    pub cand: &'a wgpu::Buffer,
    pub cap: usize,
    pub index: &'a wgpu::Buffer,
    pub dist: &'a wgpu::Buffer,
}

/// Rows row0..row0+rows of `points` against chunks of uniform column tiles: per chunk one
/// [`knn_scan_uniform`] per tile (the first chunk without thresholds), then one [`knn_insert`]
/// (`exclude_self`: the columns are the rows' own points). What the exact search
/// ([`KnnPlan`]), the nearest-centroid scan and the clustered search record per block.
#[allow(clippy::too_many_arguments)]
pub fn uniform_chunk_dispatches<'c>(
    gpu: &Gpu,
    points: &Points,
    tiles: &ColumnTiles,
    row0: usize,
    rows: usize,
    k: usize,
    exclude_self: bool,
    chunks: impl IntoIterator<Item = &'c [usize]>,
    buffers: &ScanBuffers,
) -> Result<Vec<Dispatch>> {
    let ScanBuffers {
        count,
        cand,
        cap,
        index,
        dist,
    } = *buffers;
    let mut out = Vec::new();
    for (c, chunk) in chunks.into_iter().enumerate() {
        let first = c == 0;
        for &t in chunk {
            out.push(knn_scan_uniform(
                gpu,
                points,
                tiles,
                row0,
                rows,
                t,
                k,
                first,
                dist,
                count,
                cand,
                cap,
                (KNN_UNIFORM_ROW_QUADS, KNN_UNIFORM_LANES),
            )?);
        }
        out.push(knn_insert(
            gpu,
            points.n,
            row0,
            rows,
            k,
            first,
            exclude_self,
            count,
            cand,
            cap,
            index,
            dist,
        )?);
    }
    Ok(out)
}

/// Insert each row's candidates from [`knn_scan`] into its heap (rows row0.. of `knn_index` /
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
            "tsne kNN insert",
            format!(
                "rows {row0}..{} of {n}, {cap} slots per row (at most {})",
                row0 + rows,
                knn_chunk_cap(k)
            ),
        ));
    }
    check_len("tsne kNN insert", "count", count, rows)?;
    check_len("tsne kNN insert", "cand", cand, 2 * rows * cap)?;
    check_len("tsne kNN insert", "knn_index", knn_index, n * k)?;
    check_len("tsne kNN insert", "knn_dist", knn_dist, n * k)?;
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
        "tsne kNN insert",
        KNN_INSERT,
        "knn_insert",
        &params,
        &[count, cand, knn_index, knn_dist],
        workgroups_for(rows, 64),
    )
}

/// Heap-sort rows row0..row0+rows of `knn_index` / `knn_dist` into ascending order (the kNN
/// search's last step; `topk_sort` in tsne_topk.wgsl, which binds but does not use the last two).
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
        "tsne topk",
        TOPK,
        "topk_sort",
        &params,
        &[unused_read, knn_index, knn_dist, unused_write],
        workgroups_for(rows, 64),
    )
}

/// Calibrate β per row of `rows_buf` (rows × len squared distances) to the perplexity and replace
/// the distances by p_{j|i}; the bisection state per row ([`STATE_PER_ROW`] f32, β first) goes to
/// `state`. `skip_diag`: entry i of row i is the point itself (dense rows). Several dispatches, each
/// within lavapipe's loop cap ([`super::LOOP_BUDGET`]), the last writing p.
pub fn perplexity_rows(
    gpu: &Gpu,
    rows_buf: &wgpu::Buffer,
    rows: usize,
    len: usize,
    skip_diag: bool,
    perplexity: f32,
    state: &wgpu::Buffer,
) -> Result<Vec<Dispatch>> {
    check_len("tsne perplexity", "rows", rows_buf, rows * len)?;
    check_len("tsne perplexity", "state", state, rows * STATE_PER_ROW)?;
    if skip_diag && len != rows {
        return Err(Error::shape(
            "tsne perplexity",
            format!("dense rows must be square, got {rows} × {len}"),
        ));
    }
    if len == 0 || 2 * len > super::LOOP_BUDGET {
        return Err(Error::InvalidArgument(format!(
            "perplexity rows of {len} entries (at most {})",
            super::LOOP_BUDGET / 2
        )));
    }
    // The first dispatch also finds dmin (one pass over the row).
    let per_dispatch = (super::LOOP_BUDGET / len).saturating_sub(1).max(1);
    let mut out = Vec::new();
    let mut done = 0;
    let mut first = true;
    while done < MAX_STEPS as usize || first {
        let steps = per_dispatch.min(MAX_STEPS as usize - done);
        let params = PerplexityParams {
            rows: rows as u32,
            len: len as u32,
            skip_diag: skip_diag as u32,
            steps: steps as u32,
            log_perplexity: perplexity.ln(),
            tol: TOL,
            start: first as u32,
            finish: 0,
            beta_max: BETA_MAX,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        };
        out.push(launch(
            gpu,
            "tsne perplexity",
            PERPLEXITY,
            "perplexity_rows",
            &params,
            &[rows_buf, state],
            workgroups_for(rows, 64),
        )?);
        done += steps;
        first = false;
    }
    let params = PerplexityParams {
        rows: rows as u32,
        len: len as u32,
        skip_diag: skip_diag as u32,
        steps: 0,
        log_perplexity: perplexity.ln(),
        tol: TOL,
        start: 0,
        finish: 1,
        beta_max: BETA_MAX,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    out.push(launch(
        gpu,
        "tsne perplexity",
        PERPLEXITY,
        "perplexity_rows",
        &params,
        &[rows_buf, state],
        workgroups_for(rows, 64),
    )?);
    Ok(out)
}

/// Row length of a stored dense P: n rounded up to a multiple of 4.
pub fn dense_ld(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// p = (c + cᵀ) / (2n) for c n × n; p is stored n × dense_ld(n) (padding 0).
pub fn symmetrize_dense(
    gpu: &Gpu,
    c: &wgpu::Buffer,
    p: &wgpu::Buffer,
    n: usize,
) -> Result<Dispatch> {
    let ld = dense_ld(n);
    check_len("tsne symmetrize", "c", c, n * n)?;
    check_len("tsne symmetrize", "p", p, n * ld)?;
    let params = SymmetrizeParams {
        n: n as u32,
        ld: ld as u32,
        len: (n * ld) as u32,
        scale: 1.0 / (2.0 * n as f32),
    };
    launch(
        gpu,
        "tsne symmetrize",
        SYMMETRIZE,
        "symmetrize_dense",
        &params,
        &[c, p],
        workgroups_for((n * ld).div_ceil(4), 256),
    )
}

/// The dense joint P on the GPU: n rows of `dense_ld(n)` f32 (padding 0), p_ii = 0, Σ p = 1,
/// symmetric (kernels read its columns as rows).
pub struct DenseP {
    pub p: wgpu::Buffer,
    pub n: usize,
}

impl DenseP {
    /// Upload a symmetric n × n P (row-major, unpadded).
    pub fn upload(gpu: &Gpu, p: &[f32], n: usize) -> Result<DenseP> {
        if p.len() != n * n {
            return Err(Error::shape(
                "tsne dense P",
                format!("{} values are not {n} × {n}", p.len()),
            ));
        }
        let ld = dense_ld(n);
        let mut padded = vec![0f32; n * ld];
        for i in 0..n {
            padded[i * ld..i * ld + n].copy_from_slice(&p[i * n..(i + 1) * n]);
        }
        Ok(DenseP {
            p: gpu.storage_from("tsne P", &padded),
            n,
        })
    }

    /// Read back as n × n (unpadded).
    pub fn read(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        let (n, ld) = (self.n, dense_ld(self.n));
        let all: Vec<f32> = gpu.read(&self.p, 0, n * ld)?;
        Ok((0..n)
            .flat_map(|i| all[i * ld..i * ld + n].iter().copied())
            .collect())
    }
}

/// Dense P of x (n × d): all squared distances, β per row, symmetrization; all on the GPU.
pub fn dense_p(gpu: &Gpu, x: &[f32], n: usize, d: usize, perplexity: f32) -> Result<DenseP> {
    let bytes = (n * n * 4) as u64;
    if bytes > gpu.limits.max_storage_buffer_binding_size {
        return Err(Error::InvalidArgument(format!(
            "a dense P for {n} points needs {bytes} bytes in one binding (limit {}); use the sparse path",
            gpu.limits.max_storage_buffer_binding_size
        )));
    }
    let points = upload_points(gpu, x, n, d)?;
    let cond = gpu.storage("tsne conditional P", n * n);
    let state = gpu.storage("tsne perplexity state", n * STATE_PER_ROW);
    let p = gpu.storage("tsne P", n * dense_ld(n));
    let dist = sqdist_block(gpu, &points, 0, n, n, &cond)?;
    let calibrate = perplexity_rows(gpu, &cond, n, n, true, perplexity, &state)?;
    let sym = symmetrize_dense(gpu, &cond, &p, n)?;
    let all: Vec<&Dispatch> = std::iter::once(&dist)
        .chain(&calibrate)
        .chain(std::iter::once(&sym))
        .collect();
    gpu.run("tsne dense P", &all)?;
    Ok(DenseP { p, n })
}

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

/// The exact kNN search, prepared: the points on the GPU, the work buffers and the outputs; its
/// blocks of rows are recorded one at a time ([`KnnPlan::block_dispatches`]).
///
/// With subgroups of 8 lanes (lavapipe, most GPUs) a block is a sequence of fused passes over
/// column chunks ([`knn_scan`] then [`knn_insert`]): no distance matrix is written, and each chunk's
/// pairs are filtered in registers against the heap roots left by the chunks before it, so after
/// the first chunks only a few pairs per row reach a heap. Chunks start small and double, so the
/// threshold tightens early. Where a column tile fits a uniform binding ([`column_tile_width`]),
/// the scan is [`knn_scan_uniform`], one dispatch per tile of the chunk (chunks are whole tiles,
/// the last one aside); same candidates, same result. Without subgroups a block is a distance block ([`sqdist_block`]) and
/// a top-k over it ([`topk_rows`]).
pub struct KnnPlan {
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
        /// The columns as uniform tiles, when the uniform-tile scan runs ([`knn_scan_uniform`],
        /// one dispatch per tile; chunks are whole tiles but the last); else [`knn_scan`].
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

impl KnnPlan {
    pub fn new(gpu: &Gpu, x: &[f32], n: usize, d: usize, k: usize) -> Result<KnnPlan> {
        KnnPlan::with_block(gpu, x, n, d, k, None)
    }

    /// As [`KnnPlan::new`], with at most `block` rows per block (rounded down to a multiple of
    /// 16, at least 16) instead of what the work buffers' budget allows; for tests.
    pub fn with_block(
        gpu: &Gpu,
        x: &[f32],
        n: usize,
        d: usize,
        k: usize,
        block: Option<usize>,
    ) -> Result<KnnPlan> {
        KnnPlan::with_scan(gpu, x, n, d, k, block, true)
    }

    /// As [`KnnPlan::with_block`]; `uniform_tiles` false keeps the subgroup scan ([`knn_scan`])
    /// even where the uniform-tile scan ([`knn_scan_uniform`]) would fit (to compare the two).
    pub fn with_scan(
        gpu: &Gpu,
        x: &[f32],
        n: usize,
        d: usize,
        k: usize,
        block: Option<usize>,
        uniform_tiles: bool,
    ) -> Result<KnnPlan> {
        if k == 0 || k >= n || k > K_MAX {
            return Err(Error::InvalidArgument(format!(
                "kNN with k = {k} for {n} points (1 ≤ k < n, k ≤ {K_MAX})"
            )));
        }
        let points = upload_points(gpu, x, n, d)?;
        let n_pad = points.n_pad;
        let budget = KNN_BLOCK_BYTES.min(gpu.limits.max_storage_buffer_binding_size);
        let limit = block.map(|b| (b / 16 * 16).max(16));
        let (block, work) = if subgroups_of_8(gpu) {
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
                count: gpu.storage("tsne kNN candidate counts", block),
                cand: gpu.storage("tsne kNN candidates", 2 * block * cap),
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
            let dist = gpu.storage("tsne kNN distance block", block * n_pad);
            (block, KnnWork::Dense { dist })
        };
        Ok(KnnPlan {
            points,
            k,
            block,
            work,
            knn_index: gpu.storage("tsne kNN index", n * k),
            knn_dist: gpu.storage("tsne kNN distance", n * k),
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
                "tsne kNN",
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
            gpu.run("tsne kNN", &dispatches.iter().collect::<Vec<_>>())?;
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
pub fn knn(gpu: &Gpu, x: &[f32], n: usize, d: usize, k: usize) -> Result<Knn> {
    KnnPlan::new(gpu, x, n, d, k)?.run(gpu)
}

/// A sparse symmetric P in CSR form: row i holds cols col[row_ptr[i]..row_ptr[i+1]] (ascending)
/// with values val[..]; Σ val = 1.
#[derive(Clone, Debug)]
pub struct SparseP {
    pub n: usize,
    pub row_ptr: Vec<u32>,
    pub col: Vec<u32>,
    pub val: Vec<f32>,
}

/// Sparse P from a kNN graph: β per row on the GPU (over the k neighbour distances), then
/// P = (C + Cᵀ) / (2N) on the CPU.
pub fn sparse_p(gpu: &Gpu, knn: &Knn, perplexity: f32) -> Result<SparseP> {
    check_knn(knn)?;
    let cond = conditional_p(gpu, knn, perplexity)?;
    Ok(symmetrize_knn(knn.n, knn.k, &knn.index, &cond))
}

/// Every neighbour a point of the graph at a finite distance: squared distances past f32's range
/// (inputs of ~1e19 and more; `tsne::fit` scales its input first) leave no candidate to insert.
fn check_knn(knn: &Knn) -> Result<()> {
    let (n, k) = (knn.n, knn.k);
    if knn.index.len() != n * k || knn.dist.len() != n * k {
        return Err(Error::shape(
            "tsne kNN",
            format!(
                "{} indices and {} distances for {n} × {k}",
                knn.index.len(),
                knn.dist.len()
            ),
        ));
    }
    if let Some(e) = (0..n * k).find(|&e| knn.index[e] as usize >= n || !knn.dist[e].is_finite()) {
        return Err(Error::NonFinite(format!(
            "kNN of point {}: neighbour {} at squared distance {} (distances beyond f32's range: \
             scale the input)",
            e / k,
            knn.index[e],
            knn.dist[e]
        )));
    }
    Ok(())
}

/// p_{j|i} over each point's k neighbours (n × k, in the kNN order), β calibrated on the GPU.
pub fn conditional_p(gpu: &Gpu, knn: &Knn, perplexity: f32) -> Result<Vec<f32>> {
    let (n, k) = (knn.n, knn.k);
    let rows = gpu.storage_from("tsne kNN conditional P", &knn.dist);
    let state = gpu.storage("tsne perplexity state", n * STATE_PER_ROW);
    let calibrate = perplexity_rows(gpu, &rows, n, k, false, perplexity, &state)?;
    gpu.run("tsne sparse P", &calibrate.iter().collect::<Vec<_>>())?;
    gpu.read(&rows, 0, n * k)
}

/// P_ij = (p_{j|i} + p_{i|j}) / (2N) over the union of the kNN edges, as CSR with ascending
/// columns. At most 2k entries per row.
pub fn symmetrize_knn(n: usize, k: usize, index: &[u32], cond: &[f32]) -> SparseP {
    // Row i is the merge of two lists ascending by column: its own neighbours (sorted here) and
    // the points that list i as a neighbour, which a counting pass over i in ascending order
    // lays out already sorted. No list repeats a column, so a column appears at most twice.
    let mut t_start = vec![0u32; n + 1];
    for &j in &index[..n * k] {
        t_start[j as usize + 1] += 1;
    }
    for j in 0..n {
        t_start[j + 1] += t_start[j];
    }
    let mut t_next = t_start.clone();
    let mut t_col = vec![0u32; n * k];
    let mut t_val = vec![0f32; n * k];
    for i in 0..n {
        for t in 0..k {
            let j = index[i * k + t] as usize;
            let at = t_next[j] as usize;
            t_next[j] += 1;
            t_col[at] = i as u32;
            t_val[at] = cond[i * k + t];
        }
    }
    let scale = 1.0 / (2.0 * n as f64);
    let mut row_ptr = Vec::with_capacity(n + 1);
    let mut col = Vec::with_capacity(2 * n * k);
    let mut val = Vec::with_capacity(2 * n * k);
    row_ptr.push(0u32);
    let mut own: Vec<(u32, f32)> = Vec::with_capacity(k);
    for i in 0..n {
        own.clear();
        own.extend((0..k).map(|t| (index[i * k + t], cond[i * k + t])));
        own.sort_unstable_by_key(|e| e.0);
        let listed = t_start[i] as usize..t_start[i + 1] as usize;
        let (mut a, mut b) = (0, listed.start);
        while a < own.len() || b < listed.end {
            let take_own = b >= listed.end || (a < own.len() && own[a].0 <= t_col[b]);
            let take_listed = a >= own.len() || (b < listed.end && t_col[b] <= own[a].0);
            // Both lists hold the column: p_j|i + p_i|j (two terms, so the order is immaterial).
            let (j, sum) = match (take_own, take_listed) {
                (true, true) => (own[a].0, own[a].1 as f64 + t_val[b] as f64),
                (true, false) => (own[a].0, own[a].1 as f64),
                _ => (t_col[b], t_val[b] as f64),
            };
            col.push(j);
            val.push((sum * scale) as f32);
            a += usize::from(take_own);
            b += usize::from(take_listed);
        }
        row_ptr.push(col.len() as u32);
    }
    SparseP {
        n,
        row_ptr,
        col,
        val,
    }
}

/// Plain-loop references, named as in the WGSL.
pub mod cpu {
    /// out[r * n + j] = ||x_(row0 + r) − x_j||² for x n × d.
    pub fn sqdist_block(x: &[f32], n: usize, d: usize, row0: usize, rows: usize) -> Vec<f32> {
        let mut out = vec![0f32; rows * n];
        for r in 0..rows {
            let a = &x[(row0 + r) * d..(row0 + r + 1) * d];
            for j in 0..n {
                let b = &x[j * d..(j + 1) * d];
                out[r * n + j] = a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum();
            }
        }
        out
    }

    /// The k nearest j ≠ row0 + r of each row of a distance block, ascending (ties: smaller j).
    pub fn topk_rows(
        dist: &[f32],
        n: usize,
        row0: usize,
        rows: usize,
        k: usize,
    ) -> (Vec<u32>, Vec<f32>) {
        let mut index = Vec::with_capacity(rows * k);
        let mut out = Vec::with_capacity(rows * k);
        for r in 0..rows {
            let i = row0 + r;
            let mut cand: Vec<(f32, u32)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| (dist[r * n + j], j as u32))
                .collect();
            cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for &(d, j) in cand.iter().take(k) {
                index.push(j);
                out.push(d);
            }
        }
        (index, out)
    }

    /// p_{j|i} per row (f64 inside) with the same bisection; returns (p, β).
    pub fn perplexity_rows(
        dist: &[f32],
        rows: usize,
        len: usize,
        skip_diag: bool,
        perplexity: f32,
        tol: f32,
        max_steps: u32,
    ) -> (Vec<f32>, Vec<f32>) {
        let target = (perplexity as f64).ln();
        let mut p = vec![0f32; rows * len];
        let mut betas = vec![0f32; rows];
        for i in 0..rows {
            let row = &dist[i * len..(i + 1) * len];
            let skip = if skip_diag { i } else { len };
            let dmin = (0..len)
                .filter(|&j| j != skip)
                .map(|j| row[j] as f64)
                .fold(f64::INFINITY, f64::min);
            let weights = |beta: f64| -> Vec<f64> {
                (0..len)
                    .map(|j| {
                        if j == skip {
                            0.0
                        } else {
                            (-beta * (row[j] as f64 - dmin)).exp()
                        }
                    })
                    .collect()
            };
            let (mut beta, mut lo, mut hi) = (1.0f64, None::<f64>, None::<f64>);
            for _ in 0..max_steps {
                let e = weights(beta);
                let s: f64 = e.iter().sum();
                let sd: f64 = (0..len).map(|j| (row[j] as f64 - dmin) * e[j]).sum();
                let diff = s.ln() + beta * sd / s - target;
                if diff.abs() <= tol as f64 {
                    break;
                }
                if diff > 0.0 {
                    if beta >= super::BETA_MAX as f64 {
                        break;
                    }
                    lo = Some(beta);
                    beta = hi
                        .map_or(beta * 2.0, |h| 0.5 * (beta + h))
                        .min(super::BETA_MAX as f64);
                } else {
                    hi = Some(beta);
                    beta = lo.map_or(beta * 0.5, |l| 0.5 * (beta + l));
                }
            }
            let e = weights(beta);
            let s: f64 = e.iter().sum();
            for j in 0..len {
                p[i * len + j] = (e[j] / s) as f32;
            }
            betas[i] = beta as f32;
        }
        (p, betas)
    }

    /// p = (c + cᵀ) / (2n).
    pub fn symmetrize_dense(c: &[f32], n: usize) -> Vec<f32> {
        let mut p = vec![0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                p[i * n + j] = (c[i * n + j] + c[j * n + i]) / (2.0 * n as f32);
            }
        }
        p
    }
}
