//! The input affinities (`tsne::affinity`): perplexity calibration and symmetrization on the
//! GPU against their CPU twins, dense and sparse P alike.

use super::random_conditional;
use crate::common::{assert_close, gpu, points};
use latentviz::knn;
use latentviz::rng::Rng;
use latentviz::tsne::affinity::{self, DenseP};

fn entropy(row: &[f32]) -> f64 {
    -row.iter()
        .filter(|&&p| p > 0.0)
        .map(|&p| p as f64 * (p as f64).ln())
        .sum::<f64>()
}

/// The perplexity calibration of `rows` rows of `len` squared distances on the GPU, and on the CPU
/// with the same bisection: (GPU p, CPU p, CPU β).
fn calibrate(
    d: &[f32],
    rows: usize,
    len: usize,
    skip: bool,
    perplexity: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let gpu = gpu();
    let buf = gpu.storage_from("rows", d);
    let state = gpu.storage("state", rows * affinity::STATE_PER_ROW);
    let k = affinity::perplexity_rows(gpu, &buf, rows, len, skip, perplexity, &state).unwrap();
    gpu.run("perplexity", &k.iter().collect::<Vec<_>>())
        .unwrap();
    let got = gpu.read_f32(&buf).unwrap();
    let (want, betas) = affinity::cpu::perplexity_rows(
        d,
        rows,
        len,
        skip,
        perplexity,
        affinity::TOL,
        affinity::MAX_STEPS,
    );
    (got, want, betas)
}

#[test]
fn perplexity_rows_match_cpu_and_reach_the_target() {
    let mut rng = Rng::new(14);
    // Dense rows (diagonal excluded) and kNN rows (no diagonal).
    for (rows, len, skip, perplexity) in [(61, 61, true, 5.0f32), (50, 15, false, 4.0)] {
        let d: Vec<f32> = if skip {
            let x = points(&mut rng, rows, 3);
            knn::cpu::sqdist_block(&x, rows, 3, 0, rows)
        } else {
            let mut v = rng.vec(rows * len, 0.1, 4.0);
            for r in 0..rows {
                v[r * len..(r + 1) * len].sort_by(f32::total_cmp);
            }
            v
        };
        let (got, want, _) = calibrate(&d, rows, len, skip, perplexity);
        // Both stop within 1e-5 of the target entropy, from f32 and f64 sums: p agrees to ~1e-5.
        assert_close("p_{j|i}", &got, &want, 2e-5);
        for r in 0..rows {
            let row = &got[r * len..(r + 1) * len];
            let h = entropy(row);
            assert!(
                (h - (perplexity as f64).ln()).abs() < 1e-4,
                "row {r}: H = {h}"
            );
            assert!((row.iter().map(|&p| p as f64).sum::<f64>() - 1.0).abs() < 1e-5);
            if skip {
                assert_eq!(row[r], 0.0, "p_{{i|i}} must be 0");
            }
        }
    }
}

/// Rows with more ties at their smallest distance than the perplexity (copies of a point) cannot
/// reach the target entropy: β stops at BETA_MAX and p_{j|i} is uniform over the ties, 0
/// elsewhere, on the GPU as on the CPU; no NaN. Rows of all-equal distances (all zero, or all
/// one value) are uniform. Rows with fewer ties than the perplexity still reach it.
#[test]
fn perplexity_rows_with_many_ties_are_uniform_over_them() {
    let (len, perplexity) = (15, 4.0f32);
    // (ties at the smallest distance, that distance, the rest's distances start here)
    let shapes = [
        (6, 0.0, 1.0),
        (5, 2.5, 3.0),
        (15, 0.0, 0.0),
        (15, 7.0, 7.0),
        (9, 0.0, 1e-12),
        (2, 0.0, 0.5),
    ];
    let mut d = Vec::new();
    for &(ties, low, rest) in &shapes {
        for j in 0..len {
            d.push(if j < ties {
                low
            } else {
                rest + 0.1 * (j - ties) as f32
            });
        }
    }
    let (got, want, betas) = calibrate(&d, shapes.len(), len, false, perplexity);
    assert!(got.iter().all(|p| p.is_finite()), "{got:?}");
    assert_close("p_{j|i}", &got, &want, 2e-5);
    for (r, &(ties, _, _)) in shapes.iter().enumerate() {
        let row = &got[r * len..(r + 1) * len];
        if ties as f32 > perplexity {
            assert_eq!(betas[r], affinity::BETA_MAX, "row {r}");
            for (j, &p) in row.iter().enumerate() {
                let uniform = if j < ties { 1.0 / ties as f32 } else { 0.0 };
                assert!((p - uniform).abs() < 1e-6, "row {r}: p[{j}] = {p}");
            }
        } else {
            let h = entropy(row);
            assert!(
                (h - (perplexity as f64).ln()).abs() < 1e-4,
                "row {r}: H = {h}"
            );
        }
    }
}

#[test]
fn symmetrize_dense_matches_cpu() {
    let gpu = gpu();
    let mut rng = Rng::new(15);
    let n = 37;
    let c = random_conditional(&mut rng, n);
    let cb = gpu.storage_from("c", &c);
    let pb = gpu.storage("p", n * affinity::dense_ld(n));
    let k = affinity::symmetrize_dense(gpu, &cb, &pb, n).unwrap();
    gpu.run("symmetrize", &[&k]).unwrap();
    let want = affinity::cpu::symmetrize_dense(&c, n);
    let got = DenseP { p: pb, n }.read(gpu).unwrap();
    // One add and one multiply: exact up to rounding of the scale.
    assert_close("P", &got, &want, 1e-7);
}

#[test]
fn sparse_p_with_all_neighbours_equals_dense_p() {
    let gpu = gpu();
    let mut rng = Rng::new(16);
    let (n, d) = (40, 6);
    let x = points(&mut rng, n, d);
    let dense = affinity::dense_p(gpu, &x, n, d, 8.0)
        .unwrap()
        .read(gpu)
        .unwrap();
    // k = n - 1: every point is a neighbour, so the sparse P holds the dense one.
    let knn = knn::exact::search(gpu, &x, n, d, n - 1).unwrap();
    let sparse = affinity::sparse_p(gpu, &knn, 8.0).unwrap();
    let mut filled = vec![0f32; n * n];
    for i in 0..n {
        let cols = &sparse.col[sparse.row_ptr[i] as usize..sparse.row_ptr[i + 1] as usize];
        assert!(
            cols.windows(2).all(|w| w[0] < w[1]),
            "row {i}: columns not ascending"
        );
        for e in sparse.row_ptr[i] as usize..sparse.row_ptr[i + 1] as usize {
            filled[i * n + sparse.col[e] as usize] = sparse.val[e];
        }
    }
    // Bisection on differently ordered rows: p agrees to the bisection tolerance.
    assert_close("sparse vs dense P", &filled, &dense, 1e-5);
    let total: f64 = sparse.val.iter().map(|&v| v as f64).sum();
    assert!((total - 1.0).abs() < 1e-5, "sum P = {total}");
    for i in 0..n {
        for j in 0..n {
            assert_eq!(
                filled[i * n + j],
                filled[j * n + i],
                "P not symmetric at {i},{j}"
            );
        }
    }
}

/// Past lavapipe's cap of 65,535 loop iterations per invocation: a top-k over 12,000 columns with
/// k = 90 (chunked over dispatches) and a bisection over rows of 3,000 (split over dispatches).
#[test]
fn long_rows_pass_the_loop_cap() {
    let gpu = gpu();
    let mut rng = Rng::new(26);
    let (n, k) = (12_000, 90);
    let x = points(&mut rng, n, 3);
    let rows = 40;
    let dist = knn::cpu::sqdist_block(&x, n, 3, 0, rows);
    let index = gpu.storage("index", n * k);
    let kd = gpu.storage("kd", n * k);
    let block = gpu.storage_from("block", &dist);
    let t = knn::topk::topk_rows(gpu, &block, n, n, 0, rows, k, &index, &kd).unwrap();
    assert!(t.len() > 2, "expected several column chunks and the sort");
    gpu.run("topk", &t.iter().collect::<Vec<_>>()).unwrap();
    let (want_i, _) = knn::cpu::topk_rows(&dist, n, 0, rows, k);
    let got: Vec<u32> = gpu.read(&index, 0, rows * k).unwrap();
    assert_eq!(got, want_i);

    let (rows, len, perplexity) = (6, 3000, 50.0);
    let d = rng.vec(rows * len, 0.0, 30.0);
    let buf = gpu.storage_from("rows", &d);
    let state = gpu.storage("state", rows * affinity::STATE_PER_ROW);
    let calib = affinity::perplexity_rows(gpu, &buf, rows, len, false, perplexity, &state).unwrap();
    assert!(
        calib.len() > 2,
        "expected the bisection split over dispatches"
    );
    gpu.run("perplexity", &calib.iter().collect::<Vec<_>>())
        .unwrap();
    let got = gpu.read_f32(&buf).unwrap();
    for r in 0..rows {
        let h = entropy(&got[r * len..(r + 1) * len]);
        assert!(
            (h - (perplexity as f64).ln()).abs() < 1e-4,
            "row {r}: H = {h}"
        );
    }
}

#[test]
fn symmetrize_knn_matches_its_definition() {
    // Random neighbour lists (k distinct j != i, so some edges go one way, some both): P_ij =
    // (p_j|i + p_i|j) / 2n over the union of the edges, columns ascending, bit for bit the f64 sum.
    let mut rng = Rng::new(44);
    let (n, k) = (200, 7);
    let mut index = Vec::with_capacity(n * k);
    for i in 0..n {
        let mut list: Vec<u32> = Vec::new();
        while list.len() < k {
            let j = (rng.next_u64() % n as u64) as u32;
            // Mostly near i (many mutual pairs), a few far.
            let j = if list.len() < 4 {
                (i as u32 + 1 + j % 6) % n as u32
            } else {
                j
            };
            if j as usize != i && !list.contains(&j) {
                list.push(j);
            }
        }
        index.extend(list);
    }
    let cond = rng.vec(n * k, 0.01, 1.0);
    let mut want = vec![0f64; n * n];
    let mut edge = vec![false; n * n];
    for i in 0..n {
        for t in 0..k {
            let j = index[i * k + t] as usize;
            want[i * n + j] += cond[i * k + t] as f64;
            want[j * n + i] += cond[i * k + t] as f64;
            edge[i * n + j] = true;
            edge[j * n + i] = true;
        }
    }
    let p = affinity::symmetrize_knn(n, k, &index, &cond);
    assert_eq!(p.row_ptr.len(), n + 1);
    for i in 0..n {
        let range = p.row_ptr[i] as usize..p.row_ptr[i + 1] as usize;
        let cols: Vec<usize> = p.col[range.clone()].iter().map(|&j| j as usize).collect();
        let expected: Vec<usize> = (0..n).filter(|&j| edge[i * n + j]).collect();
        assert_eq!(
            cols, expected,
            "row {i}: the columns of its edges, ascending"
        );
        for e in range {
            let j = p.col[e] as usize;
            let v = (want[i * n + j] / (2.0 * n as f64)) as f32;
            assert_eq!(p.val[e], v, "P[{i}][{j}]");
        }
    }
}
