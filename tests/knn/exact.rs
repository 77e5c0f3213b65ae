//! The exact kNN search (`knn::ExactPlan`): the fused scan-and-insert passes against the
//! CPU reference (sort every row by (distance, j)), over several row blocks and column chunks,
//! with exact ties, and run twice for determinism; the uniform-tile scan against the subgroup scan
//! (the same bits) and the CPU on awkward sizes; the generated scan kernels against naga; the
//! distance and top-k kernels against their CPU twins, and the whole search against the CPU.

use crate::common::{assert_close, gpu, points};
use latentviz::knn::{self, ExactPlan};
use latentviz::rng::Rng;

/// The CPU reference: the k nearest j != i of every point, ascending by (distance, j).
fn reference(x: &[f32], n: usize, d: usize, k: usize) -> (Vec<u32>, Vec<f32>) {
    let dist = knn::cpu::sqdist_block(x, n, d, 0, n);
    knn::cpu::topk_rows(&dist, n, 0, n, k)
}

#[test]
fn scan_source_is_valid_wgsl() {
    // Every tile the launcher may be switched to (rows a multiple of 32; 1-4 quads per lane).
    for (rows, quads) in [
        (knn::scan::KNN_TILE_ROWS, knn::scan::KNN_LANE_QUADS),
        (32, 1),
        (64, 4),
    ] {
        let src = knn::scan::knn_scan_source(rows, quads);
        crate::common::assert_valid_wgsl(&format!("{rows}x{quads}"), &src);
    }
}

#[test]
fn uniform_scan_source_is_valid_wgsl() {
    // d not a multiple of 4, one feature, many features; one to three row quads (two share a
    // candidate word, the third has its own); tiles of 256 and 64 columns.
    for (d, cols, quads, lanes) in [
        (
            13,
            256,
            knn::scan_uniform::KNN_UNIFORM_ROW_QUADS,
            knn::scan_uniform::KNN_UNIFORM_LANES,
        ),
        (1, 64, 1, 8),
        (200, 64, 3, 32),
    ] {
        let src = knn::scan_uniform::knn_scan_uniform_source(d, cols, quads, lanes);
        let what = format!("d {d}, {cols} columns, {quads} quads, {lanes} lanes");
        crate::common::assert_valid_wgsl(&what, &src);
    }
}

/// The search with uniform tiles and with the subgroup scan (where the adapter has one): the same
/// neighbours and the same distance bits (both sum the same squares in the same order with fma),
/// and the neighbours of the CPU reference. Returns the uniform plan's tile width.
fn uniform_matches_subgroup(
    x: &[f32],
    n: usize,
    d: usize,
    k: usize,
    block: Option<usize>,
    exact_dist: bool,
) -> Option<usize> {
    let gpu = gpu();
    let plan = ExactPlan::with_scan(gpu, x, n, d, k, block, true).unwrap();
    let cols = plan.uniform_tile_cols();
    if gpu.subgroups_of_8() {
        assert_eq!(
            cols,
            knn::scan_uniform::column_tile_width(gpu, d),
            "d {d}: tile width"
        );
    }
    let got = plan.run(gpu).unwrap();
    let (want_i, want_d) = reference(x, n, d, k);
    assert_eq!(got.index, want_i, "n {n}, d {d}, k {k}: neighbours");
    if exact_dist {
        assert_eq!(got.dist, want_d, "n {n}, d {d}, k {k}: exact distances");
    } else {
        // fma sums against the CPU's plain sums: a few ulp.
        crate::common::assert_close("kNN distances", &got.dist, &want_d, 1e-5);
    }
    let old = ExactPlan::with_scan(gpu, x, n, d, k, block, false)
        .unwrap()
        .run(gpu)
        .unwrap();
    assert_eq!(
        old.index, got.index,
        "n {n}, d {d}, k {k}: against the old scan"
    );
    assert_eq!(
        old.dist.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        got.dist.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        "n {n}, d {d}, k {k}: distance bits against the old scan"
    );
    cols
}

#[test]
fn uniform_tiles_match_subgroup_scan_and_cpu() {
    let mut rng = Rng::new(34);
    // 1,003 points of 13 features in 48-row blocks (the last 43 rows): n is not a multiple of
    // the 256-column tile (the fourth tile ends 21 real columns past 768, then zero padding), d is
    // not a multiple of 4, and the chunks are 1, 1 and 2 tiles.
    let (n, d) = (1003, 13);
    let x = rng.vec(n * d, -1.0, 1.0);
    let cols = uniform_matches_subgroup(&x, n, d, 17, Some(48), false);
    if gpu().is_cpu() && gpu().subgroups_of_8() {
        // lavapipe: 64 KiB uniform bindings, so the uniform path runs here (a part of the
        // subgroup path, off under LATENTVIZ_GENERIC_KERNELS).
        assert_eq!(cols, Some(256), "13 features fit 256-column tiles");
    }
    // k = n - 1 (every other point, self excluded) and k close to it, over duplicates: 6 features
    // in {0, 1} make 64 distinct points among 101, so distances tie everywhere (exact in f32) and
    // the order is (distance, j).
    let (n, d) = (101, 6);
    let x: Vec<f32> = (0..n * d).map(|_| rng.below(2) as f32).collect();
    for k in [n - 1, n - 3] {
        uniform_matches_subgroup(&x, n, d, k, Some(32), true);
    }
    // Wide points: 67 features need 128-column tiles (67 × 256 f32 pass 64 KiB; the first chunk
    // is two tiles), 300 do not fit even 64 columns (the subgroup scan runs: the same result).
    for d in [67, 300] {
        let n = 290;
        let x = rng.vec(n * d, -1.0, 1.0);
        let cols = uniform_matches_subgroup(&x, n, d, 9, None, false);
        if gpu().is_cpu() && gpu().subgroups_of_8() {
            assert_eq!(cols, if d == 67 { Some(128) } else { None }, "d {d}");
        }
    }
}

#[test]
fn blocks_and_chunks_match_cpu() {
    // 1,003 points of 13 features: n, d and the blocks (48 rows; the last 43) are not multiples of
    // the 64-row tile, the 64-column tile or vec4; n_pad = 1,008 gives column chunks of 256, 256
    // and 496 columns, the last ending in padding columns that must never be candidates.
    let gpu = gpu();
    let mut rng = Rng::new(31);
    let (n, d, k) = (1003, 13, 17);
    let x = rng.vec(n * d, -1.0, 1.0);
    let plan = ExactPlan::with_block(gpu, &x, n, d, k, Some(48)).unwrap();
    assert!(plan.blocks() > 2, "several row blocks");
    let got = plan.run(gpu).unwrap();
    let (want_i, want_d) = reference(&x, n, d, k);
    // Random points: no ties, and the GPU's fma sums differ from the CPU's by a few ulp, far
    // below the gaps between neighbours, so the lists agree exactly and the distances closely.
    assert_eq!(got.index, want_i);
    crate::common::assert_close("kNN distances", &got.dist, &want_d, 1e-5);
    // The default plan (one block here) agrees, and a second run gives the same bits.
    let again = knn::exact::search(gpu, &x, n, d, k).unwrap();
    assert_eq!(again.index, got.index);
    assert_eq!(
        again.dist.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        got.dist.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn ties_keep_the_smaller_index() {
    // Integer coordinates in 0..3 over 4 features: 81 distinct points among 700, so many exact
    // duplicates and equal distances (all exact in f32 on both sides). A candidate equal to the
    // heap root must still enter when its j is smaller; the order is (distance, j) as on the CPU.
    let gpu = gpu();
    let mut rng = Rng::new(32);
    let (n, d, k) = (700, 4, 40);
    let x: Vec<f32> = (0..n * d).map(|_| rng.below(3) as f32).collect();
    let plan = ExactPlan::with_block(gpu, &x, n, d, k, Some(128)).unwrap();
    let got = plan.run(gpu).unwrap();
    let (want_i, want_d) = reference(&x, n, d, k);
    assert_eq!(got.index, want_i);
    assert_eq!(got.dist, want_d);
}

#[test]
fn clustered_points_in_sorted_order() {
    // Points sorted by cluster: the first chunks of columns hold only cluster 0, so for the other
    // rows the first thresholds are loose and whole chunks pass as candidates (the lists must hold
    // them all). k = n - 1 on a small set checks full rows, self excluded.
    let gpu = gpu();
    let mut rng = Rng::new(33);
    let (n, d) = (600, 9);
    let mut x = Vec::with_capacity(n * d);
    for i in 0..n {
        let centre = (i / 150) as f32 * 10.0;
        for _ in 0..d {
            x.push(centre + rng.range(-1.0, 1.0));
        }
    }
    let k = 100;
    let got = ExactPlan::with_block(gpu, &x, n, d, k, Some(64))
        .unwrap()
        .run(gpu)
        .unwrap();
    assert_eq!(got.index, reference(&x, n, d, k).0);

    let (n, k) = (37, 36);
    let x = rng.vec(n * 3, -1.0, 1.0);
    let got = knn::exact::search(gpu, &x, n, 3, k).unwrap();
    assert_eq!(got.index, reference(&x, n, 3, k).0);
}

#[test]
fn bad_arguments_are_errors() {
    let gpu = gpu();
    let x = vec![0.0f32; 20 * 3];
    assert!(ExactPlan::new(gpu, &x, 20, 3, 0).is_err(), "k = 0");
    assert!(ExactPlan::new(gpu, &x, 20, 3, 20).is_err(), "k = n");
    assert!(
        ExactPlan::new(gpu, &x, 20, 3, knn::K_MAX + 1).is_err(),
        "k > K_MAX"
    );
    assert!(
        ExactPlan::new(gpu, &x[..59], 20, 3, 5).is_err(),
        "x not n × d"
    );
    let plan = ExactPlan::new(gpu, &x, 20, 3, 5).unwrap();
    assert!(
        plan.block_dispatches(gpu, plan.blocks()).is_err(),
        "block past the end"
    );
}

#[test]
fn sqdist_block_matches_cpu() {
    let gpu = gpu();
    let mut rng = Rng::new(11);
    // 45 points of 13 features: neither a multiple of the 16 x 4 / 64 x 32 tiles nor of vec4.
    let (n, d) = (45, 13);
    let x = points(&mut rng, n, d);
    let pts = knn::distances::upload_points(gpu, &x, n, d).unwrap();
    // Row stride n (scalar stores, as the dense P uses) and n_pad (vector stores, as kNN blocks).
    for ld in [n, pts.n_pad] {
        for (row0, rows) in [(0, n), (16, 11), (32, 13)] {
            let out = gpu.storage("out", rows * ld);
            let k = knn::distances::sqdist_block(gpu, &pts, row0, rows, ld, &out).unwrap();
            gpu.run("sqdist", &[&k]).unwrap();
            let want = knn::cpu::sqdist_block(&x, n, d, row0, rows);
            let all = gpu.read_f32(&out).unwrap();
            let got: Vec<f32> = (0..rows)
                .flat_map(|r| all[r * ld..r * ld + n].iter().copied())
                .collect();
            // Sums of 13 squares in a different order: a few ulp.
            assert_close("sqdist", &got, &want, 1e-5);
        }
    }
    let out = gpu.storage("out", 64 * 64);
    assert!(
        knn::distances::sqdist_block(gpu, &pts, 40, 6, n, &out).is_err(),
        "rows past the end"
    );
    assert!(
        knn::distances::sqdist_block(gpu, &pts, 0, 4, n - 1, &out).is_err(),
        "row stride shorter than a row"
    );
}

#[test]
fn sqdist_subgroup_source_is_valid_wgsl() {
    // The generated entry point parses and validates for both store forms (whichever the adapter
    // runs; the fallback kernel is a fixed file).
    for vec_store in [false, true] {
        let src = knn::distances::sqdist_sg_source(knn::distances::SQDIST_TILE_ROWS, vec_store);
        crate::common::assert_valid_wgsl(&format!("sqdist_sg vec_store {vec_store}"), &src);
    }
}

/// A distance block of `rows` rows with row stride `ld` (padding columns hold junk, which the
/// top-k must ignore).
fn padded_block(dist: &[f32], n: usize, row0: usize, rows: usize, ld: usize) -> Vec<f32> {
    let mut out = vec![-1.0f32; rows * ld];
    for r in 0..rows {
        out[r * ld..r * ld + n].copy_from_slice(&dist[(row0 + r) * n..(row0 + r + 1) * n]);
    }
    out
}

#[test]
fn topk_matches_cpu_in_blocks() {
    let gpu = gpu();
    let mut rng = Rng::new(12);
    let (n, d, k) = (77, 5, 9);
    let ld = 80;
    let x = points(&mut rng, n, d);
    let dist = knn::cpu::sqdist_block(&x, n, d, 0, n);
    let index = gpu.storage("index", n * k);
    let kd = gpu.storage("kd", n * k);
    // Two blocks, as the kNN search runs them; the second is not a multiple of 64 rows.
    for (row0, rows) in [(0, 40), (40, 37)] {
        let block = gpu.storage_from("block", &padded_block(&dist, n, row0, rows, ld));
        let t = knn::topk::topk_rows(gpu, &block, n, ld, row0, rows, k, &index, &kd).unwrap();
        gpu.run("topk", &t.iter().collect::<Vec<_>>()).unwrap();
    }
    let (want_i, want_d) = knn::cpu::topk_rows(&dist, n, 0, n, k);
    let got_i: Vec<u32> = gpu.read(&index, 0, n * k).unwrap();
    // Random points: distinct distances, so the lists must agree exactly.
    assert_eq!(got_i, want_i);
    assert_close(
        "topk dist",
        &gpu.read_f32(&kd).unwrap()[..n * k],
        &want_d,
        0.0,
    );
    assert!(knn::topk::topk_rows(gpu, &index, n, ld, 0, n, 200, &index, &kd).is_err());
    assert!(
        knn::topk::topk_rows(gpu, &index, n, 78, 0, n, k, &index, &kd).is_err(),
        "row stride not a multiple of 4"
    );
}

#[test]
fn topk_breaks_ties_by_index_over_many_chunks() {
    // Distances with many exact ties (values 0..7) on rows longer than one column chunk: the
    // heap keeps (distance, j) order, as the CPU's sort does, across the chunks.
    let gpu = gpu();
    let mut rng = Rng::new(21);
    let (n, rows, k) = (9000, 5, 128);
    let ld = n;
    let dist: Vec<f32> = (0..rows * n).map(|_| rng.below(8) as f32).collect();
    let mut full = vec![0f32; n * n];
    full[..rows * n].copy_from_slice(&dist);
    let block = gpu.storage_from("block", &dist);
    let index = gpu.storage("index", n * k);
    let kd = gpu.storage("kd", n * k);
    let t = knn::topk::topk_rows(gpu, &block, n, ld, 0, rows, k, &index, &kd).unwrap();
    assert!(t.len() > 2, "several column chunks");
    gpu.run("topk", &t.iter().collect::<Vec<_>>()).unwrap();
    let (want_i, want_d) = knn::cpu::topk_rows(&full, n, 0, rows, k);
    let got_i: Vec<u32> = gpu.read(&index, 0, rows * k).unwrap();
    let got_d: Vec<f32> = gpu.read(&kd, 0, rows * k).unwrap();
    assert_eq!(got_i, want_i);
    assert_eq!(got_d, want_d);
}

#[test]
fn knn_gpu_matches_cpu() {
    let gpu = gpu();
    let mut rng = Rng::new(13);
    let (n, d, k) = (130, 7, 12);
    let x = points(&mut rng, n, d);
    let knn = knn::exact::search(gpu, &x, n, d, k).unwrap();
    let dist = knn::cpu::sqdist_block(&x, n, d, 0, n);
    let (want_i, _) = knn::cpu::topk_rows(&dist, n, 0, n, k);
    assert_eq!(knn.index, want_i);
}
