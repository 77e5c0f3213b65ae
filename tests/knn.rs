//! The exact kNN search (`tsne::affinity::KnnPlan`): the fused scan-and-insert passes against the
//! CPU reference (sort every row by (distance, j)), over several row blocks and column chunks,
//! with exact ties, and run twice for determinism; the generated scan kernel against naga.
mod common;

use common::gpu;
use latentviz::rng::Rng;
use latentviz::tsne::affinity::{self, KnnPlan};

/// The CPU reference: the k nearest j != i of every point, ascending by (distance, j).
fn reference(x: &[f32], n: usize, d: usize, k: usize) -> (Vec<u32>, Vec<f32>) {
    let dist = affinity::cpu::sqdist_block(x, n, d, 0, n);
    affinity::cpu::topk_rows(&dist, n, 0, n, k)
}

#[test]
fn scan_source_is_valid_wgsl() {
    // Every tile the launcher may be switched to (rows a multiple of 32; 1-4 quads per lane).
    for (rows, quads) in [
        (affinity::KNN_TILE_ROWS, affinity::KNN_LANE_QUADS),
        (32, 1),
        (64, 4),
    ] {
        let src = affinity::knn_scan_source(rows, quads);
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{rows}x{quads}: {}", e.emit_to_string(&src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{rows}x{quads}: {}", e.emit_to_string(&src)));
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
    let plan = KnnPlan::with_block(gpu, &x, n, d, k, Some(48)).unwrap();
    assert!(plan.blocks() > 2, "several row blocks");
    let got = plan.run(gpu).unwrap();
    let (want_i, want_d) = reference(&x, n, d, k);
    // Random points: no ties, and the GPU's fma sums differ from the CPU's by a few ulp, far
    // below the gaps between neighbours, so the lists agree exactly and the distances closely.
    assert_eq!(got.index, want_i);
    common::assert_close("kNN distances", &got.dist, &want_d, 1e-5);
    // The default plan (one block here) agrees, and a second run gives the same bits.
    let again = affinity::knn(gpu, &x, n, d, k).unwrap();
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
    let plan = KnnPlan::with_block(gpu, &x, n, d, k, Some(128)).unwrap();
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
    let got = KnnPlan::with_block(gpu, &x, n, d, k, Some(64))
        .unwrap()
        .run(gpu)
        .unwrap();
    assert_eq!(got.index, reference(&x, n, d, k).0);

    let (n, k) = (37, 36);
    let x = rng.vec(n * 3, -1.0, 1.0);
    let got = affinity::knn(gpu, &x, n, 3, k).unwrap();
    assert_eq!(got.index, reference(&x, n, 3, k).0);
}

#[test]
fn bad_arguments_are_errors() {
    let gpu = gpu();
    let x = vec![0.0f32; 20 * 3];
    assert!(KnnPlan::new(gpu, &x, 20, 3, 0).is_err(), "k = 0");
    assert!(KnnPlan::new(gpu, &x, 20, 3, 20).is_err(), "k = n");
    assert!(
        KnnPlan::new(gpu, &x, 20, 3, affinity::K_MAX + 1).is_err(),
        "k > K_MAX"
    );
    assert!(
        KnnPlan::new(gpu, &x[..59], 20, 3, 5).is_err(),
        "x not n × d"
    );
    let plan = KnnPlan::new(gpu, &x, 20, 3, 5).unwrap();
    assert!(
        plan.block_dispatches(gpu, plan.blocks()).is_err(),
        "block past the end"
    );
}
