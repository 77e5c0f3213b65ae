//! t-SNE kernels: every GPU kernel against its CPU twin, the CPU gradient against finite
//! differences of the CPU KL, and the GPU optimizer against the CPU optimizer on a small problem.
mod common;

use common::{assert_close, gpu};
use latentviz::knn;
use latentviz::rng::Rng;
use latentviz::tsne::affinity::{self, DenseP};
use latentviz::tsne::gradient::{self, GpuCsr};
use latentviz::tsne::optimize::{self, Affinities, StepBuffers};
use latentviz::tsne::{LearningRates, TsneConfig, metrics};

fn points(rng: &mut Rng, n: usize, d: usize) -> Vec<f32> {
    rng.vec(n * d, -1.0, 1.0)
}

/// Rows of a random conditional P (each sums to 1, zero diagonal), n × n.
fn random_conditional(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut c = rng.vec(n * n, 0.0, 1.0);
    for i in 0..n {
        c[i * n + i] = 0.0;
        let s: f32 = c[i * n..(i + 1) * n].iter().sum();
        for v in &mut c[i * n..(i + 1) * n] {
            *v /= s;
        }
    }
    c
}

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

#[test]
fn repulsion_matches_cpu_2d_and_3d() {
    let gpu = gpu();
    let mut rng = Rng::new(17);
    // 103 points: not a multiple of 4 points per invocation; n = 1 has only the self term.
    for dims in [2, 3] {
        for n in [103, 1] {
            let y = rng.vec(n * dims, -3.0, 3.0);
            let yb = gpu.storage_from("y", &y);
            let out = gpu.storage("rep", n * (dims + 1));
            let k = gradient::repulsion(gpu, &yb, &out, n, dims).unwrap();
            gpu.run("repulsion", &[&k]).unwrap();
            let want = gradient::cpu::repulsion_exact(&y, n, dims);
            // f32 sums of 103 terms vs f64, and Σw − 1 after summing: ~1e-6 relative.
            assert_close(
                &format!("repulsion {dims}d n={n}"),
                &gpu.read_f32(&out).unwrap()[..n * (dims + 1)],
                &want,
                2e-5,
            );
        }
    }
}

fn random_csr(rng: &mut Rng, n: usize) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut row_ptr = vec![0u32];
    let (mut col, mut val) = (Vec::new(), Vec::new());
    for i in 0..n {
        // Rows of 0 to 6 entries, some empty.
        let len = rng.below(7);
        let mut cols: Vec<u32> = (0..len)
            .map(|_| rng.below(n) as u32)
            .filter(|&j| j as usize != i)
            .collect();
        cols.sort();
        cols.dedup();
        for j in cols {
            col.push(j);
            val.push(rng.range(0.0, 0.01));
        }
        row_ptr.push(col.len() as u32);
    }
    (row_ptr, col, val)
}

/// The sparse attraction of `sp` at `y` on the GPU (positions texture, then the kernel) against
/// the CPU reference.
fn check_sparse_attraction(
    gpu: &latentviz::Gpu,
    what: &str,
    y: &[f32],
    sp: &affinity::SparseP,
    dims: usize,
) {
    let n = sp.n;
    let csr = GpuCsr::upload(gpu, sp).unwrap();
    let yb = gpu.storage_from("y", y);
    let yt = gradient::PositionTexture::new(gpu, &yb, n, dims).unwrap();
    let attr = gpu.storage("attr", n * dims);
    let k = gradient::attraction_sparse(gpu, &yt, &csr, &attr).unwrap();
    gpu.run("attraction sparse", &[&yt.fill, &k]).unwrap();
    // The kernel reads P as packed (values rounded to steps of their row's scale).
    let stored = gradient::stored_p(sp).unwrap();
    let want = gradient::cpu::attraction_sparse(y, &sp.row_ptr, &sp.col, &stored.val, dims);
    // At most 6 terms per row (random_csr), f32 vs f64.
    assert_close(what, &gpu.read_f32(&attr).unwrap()[..n * dims], &want, 1e-6);
}

/// Packed sparse entries: columns need ⌈log2 n⌉ bits; the layout keeps every column and each
/// value within half a step of its row's scale (rows of values from 1e-12 to 1e-2 side by side);
/// padding points at the row itself with 0 steps; and the rounding moves a row's attraction by
/// no more than half a step per entry allows.
#[test]
fn packed_entries_keep_columns_and_round_values_within_half_a_row_step() {
    use gradient::{ENTRIES_PER_TEXEL, EntryPacking, SLICE_ROWS};
    for (n, bits) in [
        (1, 1),
        (2, 1),
        (3, 2),
        (70_000, 17),
        (131_072, 17),
        (131_073, 18),
    ] {
        assert_eq!(
            EntryPacking::for_rows(n).unwrap().col_bits,
            bits,
            "{n} rows"
        );
    }
    assert_eq!(EntryPacking::for_rows(1 << 22).unwrap().value_bits(), 10);
    assert!(EntryPacking::for_rows((1 << 22) + 1).is_err());

    let mut rng = Rng::new(43);
    let n = 300;
    let (row_ptr, col, mut val) = random_csr(&mut rng, n);
    for i in 0..n {
        let magnitude = 10f32.powi(-((i % 11) as i32) - 2);
        for v in &mut val[row_ptr[i] as usize..row_ptr[i + 1] as usize] {
            *v *= magnitude;
        }
    }
    let p = affinity::SparseP {
        n,
        row_ptr: row_ptr.clone(),
        col: col.clone(),
        val: val.clone(),
    };
    let packing = EntryPacking::for_rows(n).unwrap();
    let ell = gradient::sliced_ell(&p, packing);
    let stored = gradient::stored_p(&p).unwrap();
    let mask = (1u32 << packing.col_bits) - 1;
    let mut seen = vec![false; n];
    let mut sum = 0f64;
    for (slot, &[i, scale_bits]) in ell.rows.iter().enumerate() {
        let (s, r) = (slot / SLICE_ROWS, slot % SLICE_ROWS);
        let [offset, texels] = ell.slices[s];
        if slot >= n {
            assert_eq!((i, scale_bits), ((n - 1) as u32, 0), "padding slot {slot}");
            continue;
        }
        let i = i as usize;
        assert!(!seen[i], "row {i} twice");
        seen[i] = true;
        let scale = f32::from_bits(scale_bits);
        let (a, b) = (row_ptr[i] as usize, row_ptr[i + 1] as usize);
        let largest = val[a..b].iter().copied().fold(0f32, f32::max);
        assert_eq!(scale, largest / packing.steps() as f32, "row {i}'s scale");
        for t in 0..texels as usize * ENTRIES_PER_TEXEL {
            let word = ell.words[(offset as usize + (t / ENTRIES_PER_TEXEL) * SLICE_ROWS + r)
                * ENTRIES_PER_TEXEL
                + t % ENTRIES_PER_TEXEL];
            let (j, steps) = (word & mask, word >> packing.col_bits);
            if a + t < b {
                assert_eq!(j, col[a + t], "row {i} entry {t}");
                let v = steps as f32 * scale;
                assert_eq!(v, stored.val[a + t]);
                // Half a step, and the f32 rounding of steps × scale.
                assert!(
                    (v - val[a + t]).abs() <= 0.5 * scale * (1.0 + 1e-6) + f32::EPSILON * v,
                    "row {i} entry {t}: {v} for {}",
                    val[a + t]
                );
                sum += v as f64;
            } else {
                assert_eq!((j, steps), (i as u32, 0), "row {i} padding {t}");
            }
        }
    }
    assert!(seen.iter().all(|&s| s));
    assert_eq!(ell.stored_sum, sum);
    assert_eq!((stored.row_ptr, stored.col), (row_ptr.clone(), col.clone()));

    // The attraction with the stored values moves by at most Σ_j (step / 2) w_ij |y_i − y_j|.
    let y = rng.vec(n * 2, -3.0, 3.0);
    let exact = gradient::cpu::attraction_sparse(&y, &row_ptr, &col, &val, 2);
    let rounded = gradient::cpu::attraction_sparse(&y, &row_ptr, &col, &stored.val, 2);
    for i in 0..n {
        let (a, b) = (row_ptr[i] as usize, row_ptr[i + 1] as usize);
        let scale = val[a..b].iter().copied().fold(0f32, f32::max) / packing.steps() as f32;
        let bound: f64 = (a..b)
            .map(|e| {
                let j = col[e] as usize;
                let (dx, dy) = (y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
                let d2 = (dx * dx + dy * dy) as f64;
                0.5 * scale as f64 * d2.sqrt() / (1.0 + d2)
            })
            .sum();
        for c in 0..2 {
            let (e, r) = (exact[2 * i + c] as f64, rounded[2 * i + c] as f64);
            // Plus the f32 rounding of the two results.
            let bound = bound * 1.001 + f32::EPSILON as f64 * (e.abs() + r.abs());
            assert!((e - r).abs() <= bound, "row {i}: {e} -> {r}, bound {bound}");
        }
    }
}

/// Texel tables are 2^shift texels wide (16,384 on lavapipe): at 40,000 points the positions
/// fill three texture rows and the entries several more, so the row arithmetic of the texel
/// addresses is exercised, in 2-D and 3-D.
#[test]
fn sparse_attraction_spans_several_texture_rows() {
    let gpu = gpu();
    let mut rng = Rng::new(41);
    let n = 40_000;
    for dims in [2, 3] {
        let y = rng.vec(n * dims, -4.0, 4.0);
        let (row_ptr, col, val) = random_csr(&mut rng, n);
        let sp = affinity::SparseP {
            n,
            row_ptr,
            col,
            val,
        };
        assert!(
            n > 1 << gpu.texel_shift(),
            "positions span more than one texture row"
        );
        check_sparse_attraction(
            gpu,
            "attraction sparse, several texture rows",
            &y,
            &sp,
            dims,
        );
    }
}

#[test]
fn attraction_matches_cpu_dense_and_sparse() {
    let gpu = gpu();
    let mut rng = Rng::new(18);
    let n = 67;
    for dims in [2, 3] {
        let y = rng.vec(n * dims, -2.0, 2.0);
        let yb = gpu.storage_from("y", &y);
        let p = affinity::cpu::symmetrize_dense(&random_conditional(&mut rng, n), n);
        let pb = DenseP::upload(gpu, &p, n).unwrap();
        let attr = gpu.storage("attr", n * dims);
        let k = gradient::attraction_dense(gpu, &yb, &pb, &attr, dims).unwrap();
        gpu.run("attraction dense", &[&k]).unwrap();
        let want = gradient::cpu::attraction_dense(&y, &p, n, dims);
        // Sums of 67 small terms, f32 vs f64.
        assert_close(
            "attraction dense",
            &gpu.read_f32(&attr).unwrap()[..n * dims],
            &want,
            1e-6,
        );

        let (row_ptr, col, val) = random_csr(&mut rng, n);
        let sp = affinity::SparseP {
            n,
            row_ptr: row_ptr.clone(),
            col: col.clone(),
            val: val.clone(),
        };
        check_sparse_attraction(gpu, "attraction sparse", &y, &sp, dims);
    }
}

#[test]
fn cpu_gradient_matches_finite_differences_of_kl() {
    let mut rng = Rng::new(19);
    let (n, dims) = (12, 2);
    let p = affinity::cpu::symmetrize_dense(&random_conditional(&mut rng, n), n);
    // Positions on a grid of 2^-12 so y ± 2^-10 is exact in f32.
    let q = 4096.0;
    let y: Vec<f32> = rng
        .vec(n * dims, -1.5, 1.5)
        .iter()
        .map(|v| (v * q).round() / q)
        .collect();
    let grad = gradient::cpu::gradient_dense(&y, &p, n, dims, 1.0);
    let h = 1.0 / 1024.0;
    for e in 0..n * dims {
        let (mut plus, mut minus) = (y.clone(), y.clone());
        plus[e] += h;
        minus[e] -= h;
        let fd = (gradient::cpu::kl_dense(&plus, &p, n, dims)
            - gradient::cpu::kl_dense(&minus, &p, n, dims))
            / (2.0 * h as f64);
        // Central differences: O(h²) ≈ 1e-6 truncation; f32 attraction/repulsion sums ~1e-7.
        assert!(
            (fd - grad[e]).abs() < 1e-4 * (1.0 + fd.abs()),
            "coordinate {e}: fd {fd} vs {}",
            grad[e]
        );
    }
}

#[test]
fn update_reduce_centre_match_cpu() {
    // 3-D takes the kernel with one coordinate per invocation, 2-D the one with one point.
    for dims in [3, 2] {
        update_reduce_centre_match_cpu_in(dims);
    }
}

fn update_reduce_centre_match_cpu_in(dims: usize) {
    let gpu = gpu();
    let mut rng = Rng::new(20);
    let n = 301;
    let v = n * dims;
    let y = rng.vec(v, -1.0, 1.0);
    let attr = rng.vec(v, -0.1, 0.1);
    let rep = rng.vec(n * (dims + 1), 0.5, 2.0);
    let gains = rng.vec(v, 0.005, 2.0);
    let upd = rng.vec(v, -0.1, 0.1);
    let (yb, ab, rb) = (
        gpu.storage_from("y", &y),
        gpu.storage_from("a", &attr),
        gpu.storage_from("r", &rep),
    );
    let (gb, ub) = (gpu.storage_from("g", &gains), gpu.storage_from("u", &upd));
    let scalars = gpu.storage("s", 8);
    let z_sum = optimize::strided_sum(
        gpu,
        &rb,
        &scalars,
        n,
        dims + 1,
        dims,
        1,
        optimize::SLOT_Z,
        1.0,
    )
    .unwrap();
    let b = StepBuffers {
        y: &yb,
        attr: &ab,
        rep: &rb,
        scalars: &scalars,
        gains: &gb,
        update: &ub,
    };
    // The cap at the median step of the uncapped rule, so that half the points are held to it.
    let uncapped = optimize::Step {
        exaggeration: 12.0,
        momentum: 0.5,
        learning_rate: 200.0,
        max_step: f32::INFINITY,
    };
    let z_cpu = optimize::cpu::strided_sum(&rep, n, dims + 1, dims, 1.0);
    let free = optimize::cpu::update_step(
        &y,
        &attr,
        &rep,
        z_cpu,
        &mut gains.clone(),
        &mut upd.clone(),
        dims,
        uncapped,
        optimize::MIN_GAIN,
    );
    let mut norms: Vec<f32> = (0..n)
        .map(|i| {
            (0..dims)
                .map(|c| (free[i * dims + c] - y[i * dims + c]).powi(2))
                .sum::<f32>()
                .sqrt()
        })
        .collect();
    norms.sort_by(f32::total_cmp);
    let rule = optimize::Step {
        max_step: norms[n / 2],
        ..uncapped
    };
    let step = optimize::update_step(gpu, &b, n, dims, rule).unwrap();
    let mean = optimize::strided_sum(
        gpu,
        &yb,
        &scalars,
        n,
        dims,
        0,
        dims,
        optimize::SLOT_MEAN,
        1.0 / n as f32,
    )
    .unwrap();
    let centre = optimize::centre(gpu, &scalars, &yb, n, dims, optimize::SLOT_MEAN).unwrap();
    gpu.run("update", &[&z_sum, &step]).unwrap();
    let stepped = gpu.read_f32(&yb).unwrap();
    gpu.run("recentre", &[&mean, &centre]).unwrap();

    let z = optimize::cpu::strided_sum(&rep, n, dims + 1, dims, 1.0);
    let s: Vec<f32> = gpu.read(&scalars, 0, 8).unwrap();
    // 301 values summed in a tree vs in f64.
    assert_close("Z", &s[..1], &[z], 1e-6);
    let (mut g2, mut u2) = (gains.clone(), upd.clone());
    let yn = optimize::cpu::update_step(
        &y,
        &attr,
        &rep,
        s[0],
        &mut g2,
        &mut u2,
        dims,
        rule,
        optimize::MIN_GAIN,
    );
    let capped = (0..n)
        .filter(|&i| {
            let norm = (0..dims)
                .map(|c| u2[i * dims + c].powi(2))
                .sum::<f32>()
                .sqrt();
            assert!(
                norm <= rule.max_step * (1.0 + 1e-6),
                "point {i} stepped {norm}"
            );
            (norm - rule.max_step).abs() <= 1e-6 * rule.max_step
        })
        .count();
    assert!(
        capped >= n / 3,
        "only {capped} of {n} points held to the cap"
    );
    // Elementwise with the same Z: identical operations, up to fused multiply-adds.
    assert_close("gains", &gpu.read_f32(&gb).unwrap(), &g2, 1e-6);
    assert_close("update", &gpu.read_f32(&ub).unwrap(), &u2, 1e-5);
    assert_close("y after the step", &stepped, &yn, 1e-5);
    let mean_cpu: Vec<f32> = (0..dims)
        .map(|c| optimize::cpu::strided_sum(&yn, n, dims, c, 1.0 / n as f32))
        .collect();
    assert_close(
        "mean",
        &s[optimize::SLOT_MEAN..optimize::SLOT_MEAN + dims],
        &mean_cpu,
        1e-5,
    );
    let centred = optimize::cpu::centre(&yn, &s[optimize::SLOT_MEAN..], dims);
    assert_close("centred", &gpu.read_f32(&yb).unwrap(), &centred, 1e-6);
}

/// Long sums in two levels (split_sum: 64 parts in small workgroups, then their sum) match the
/// f64 sums, for counts around the part boundaries, several interleaved sums, offsets and
/// strides, and a short sum (one level).
#[test]
fn split_sums_match_cpu() {
    let gpu = gpu();
    let mut rng = Rng::new(23);
    for (count, sums, stride, offset) in [
        (5, 1, 1, 0),
        (1025, 1, 1, 0),
        (1_100, 2, 2, 0),
        (4_097, 1, 3, 2),
        (70_001, 2, 2, 0),
        (10_007, 3, 4, 1),
    ] {
        let len = offset + sums - 1 + (count - 1) * stride + 1;
        let x = rng.vec(len, -1.0, 2.0);
        let xb = gpu.storage_from("x", &x);
        let parts = gpu.storage("parts", optimize::SUM_PARTS * sums);
        let out = gpu.storage("out", 2 + sums);
        let d = optimize::split_sum(gpu, &xb, &parts, &out, count, stride, offset, sums, 2, 0.5)
            .unwrap();
        assert_eq!(
            d.len(),
            if count > 16 * optimize::SUM_PARTS {
                2
            } else {
                1
            }
        );
        gpu.run("split sum", &d.iter().collect::<Vec<_>>()).unwrap();
        let got: Vec<f32> = gpu.read(&out, 2, sums).unwrap();
        let want: Vec<f32> = (0..sums)
            .map(|s| optimize::cpu::strided_sum(&x, count, stride, offset + s, 0.5))
            .collect();
        assert_close(&format!("{count} x {sums}"), &got, &want, 2e-5);
    }
}

#[test]
fn kl_rows_match_cpu_dense_and_sparse() {
    let gpu = gpu();
    let mut rng = Rng::new(21);
    let (n, dims) = (53, 2);
    let y = rng.vec(n * dims, -2.0, 2.0);
    let yb = gpu.storage_from("y", &y);
    let p = affinity::cpu::symmetrize_dense(&random_conditional(&mut rng, n), n);
    let pb = DenseP::upload(gpu, &p, n).unwrap();
    let rows = gpu.storage("rows", n);
    let k = optimize::kl_rows_dense(gpu, &yb, &pb, &rows, dims).unwrap();
    gpu.run("kl", &[&k]).unwrap();
    let got = gpu.read_f32(&rows).unwrap();
    // ln of f32 values summed over 53 terms.
    assert_close(
        "kl rows dense",
        &got[..n],
        &optimize::cpu::kl_dense(&y, &p, n, dims),
        1e-5,
    );
    // Σ rows + ln Z Σp is the KL divergence.
    let rep = gradient::cpu::repulsion_exact(&y, n, dims);
    let z = optimize::cpu::strided_sum(&rep, n, dims + 1, dims, 1.0) as f64;
    let total: f64 = got[..n].iter().map(|&v| v as f64).sum::<f64>()
        + z.ln() * p.iter().map(|&v| v as f64).sum::<f64>();
    let want = gradient::cpu::kl_dense(&y, &p, n, dims);
    assert!(
        (total - want).abs() < 1e-5 * (1.0 + want.abs()),
        "KL {total} vs {want}"
    );

    let (row_ptr, col, val) = random_csr(&mut rng, n);
    let sp = affinity::SparseP {
        n,
        row_ptr: row_ptr.clone(),
        col: col.clone(),
        val: val.clone(),
    };
    let csr = GpuCsr::upload(gpu, &sp).unwrap();
    let yt = gradient::PositionTexture::new(gpu, &yb, n, dims).unwrap();
    let k = optimize::kl_rows_sparse(gpu, &yt, &csr, &rows).unwrap();
    gpu.run("kl sparse", &[&yt.fill, &k]).unwrap();
    assert_close(
        "kl rows sparse",
        &gpu.read_f32(&rows).unwrap()[..n],
        &optimize::cpu::kl_sparse(
            &y,
            &row_ptr,
            &col,
            &gradient::stored_p(&sp).unwrap().val,
            dims,
        ),
        1e-5,
    );
}

#[test]
fn gpu_optimizer_matches_cpu_optimizer() {
    // Small steps: with 37 points the usual rate (50) makes the layout chaotic, and f32 vs f64
    // rounding would grow until the trajectories share nothing. A different rate after early
    // exaggeration, as LearningRate::Auto gives.
    const LR: LearningRates = LearningRates {
        early: 2.0,
        late: 3.0,
    };
    let gpu = gpu();
    let mut rng = Rng::new(22);
    let (n, dims, early) = (37, 2, 20);
    let iterations = 60;
    let x = points(&mut rng, n, 5);
    let dense = affinity::dense_p(gpu, &x, n, 5, 6.0).unwrap();
    let p = dense.read(gpu).unwrap();
    let y0 = rng.vec(n * dims, -1e-2, 1e-2);
    let config = TsneConfig {
        dims,
        iterations,
        exaggeration_iterations: early,
        ..TsneConfig::default()
    };
    let got = optimize::optimize(
        gpu,
        &Affinities::Dense(dense),
        &y0,
        n,
        &config,
        &optimize::Schedule::new(12.0, LR),
        false,
        &mut |_| Ok(()),
    )
    .unwrap();
    let want = optimize::cpu::optimize_dense(
        &p,
        &y0,
        n,
        dims,
        iterations,
        early,
        &optimize::Schedule::new(12.0, LR),
    );
    // 60 steps of f32 vs f64 sums: the trajectories drift apart slowly; 1e-3 of the layout's scale.
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got
        .y
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("optimizer parity: max deviation {err}, layout scale {scale}");
    assert!(
        err <= 1e-3 * scale,
        "max deviation {err} for a layout of scale {scale}"
    );
    // The layout must have moved far from its start for the comparison to mean anything.
    assert!(scale > 0.5, "layout scale {scale}");
    assert_eq!(
        got.kl_history.iter().map(|h| h.0).collect::<Vec<_>>(),
        vec![50, 60]
    );
    let kl = gradient::cpu::kl_dense(&got.y, &p, n, dims);
    assert!(
        (got.kl as f64 - kl).abs() < 1e-4 * (1.0 + kl),
        "KL {} vs {kl}",
        got.kl
    );
}

#[test]
fn knn_accuracy_grid_matches_brute_force() {
    let mut rng = Rng::new(25);
    // Clustered points with exact duplicates, so the grid's cells are very uneven.
    let n = 3000;
    let mut y = Vec::with_capacity(n * 2);
    for i in 0..n {
        if i % 50 == 7 && i > 0 {
            let j = rng.below(i);
            y.push(y[j * 2]);
            y.push(y[j * 2 + 1]);
        } else {
            let c = (i % 5) as f32 * 10.0;
            y.push(c + rng.range(-1.0, 1.0) * (1.0 + (i % 3) as f32));
            y.push(rng.range(-0.5, 0.5));
        }
    }
    let brute = metrics::brute_neighbours(&y, n, 2, 10);
    let grid = metrics::grid_neighbours(&y, n, 10);
    assert_eq!(grid, brute);
    let labels: Vec<u32> = (0..n).map(|i| (i % 5) as u32).collect();
    let acc = metrics::knn_accuracy(&y, n, 2, &labels, 10).unwrap();
    // The 60 duplicates copy a point of another label and count as misses.
    assert!(acc > 0.97, "well-separated clusters: accuracy {acc}");
    // Ties between labels go to the smallest label: 2 points of label 3 and 2 of label 1 around 0.
    let y = [0.0, 0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, -1.0];
    let labels = [1, 3, 1, 3, 1];
    let acc = metrics::knn_accuracy(&y, 5, 2, &labels, 4).unwrap();
    // Point 0 sees {3, 1, 3, 1} -> 1 (correct); the outer ones see 3 others: checked by count.
    assert!(acc > 0.0);
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

#[test]
fn hilbert_order_walks_a_grid_one_step_at_a_time() {
    // A 16 x 16 grid of points, listed in a scrambled order: along a Hilbert curve every point
    // is a unit step from the one before, and the curve starts in a corner.
    let side = 16usize;
    let n = side * side;
    let mut cells: Vec<usize> = (0..n).map(|c| (c * 97 + 13) % n).collect();
    cells.dedup();
    assert_eq!(cells.len(), n);
    let y: Vec<f32> = cells
        .iter()
        .flat_map(|&c| [(c % side) as f32 * 0.5 - 3.0, (c / side) as f32 * 0.5 + 1.0])
        .collect();
    let order = optimize::hilbert_order(&y, n, 2);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, (0..n as u32).collect::<Vec<_>>(), "a permutation");
    let at = |t: usize| (y[order[t] as usize * 2], y[order[t] as usize * 2 + 1]);
    assert_eq!(at(0), (-3.0, 1.0), "starts at the low corner");
    for t in 1..n {
        let (a, b) = (at(t - 1), at(t));
        let step = (a.0 - b.0).abs() + (a.1 - b.1).abs();
        assert_eq!(
            step,
            0.5,
            "points {} and {t} of the curve: {a:?} -> {b:?}",
            t - 1
        );
    }
    // 3-D layouts are ordered by their first two coordinates; NaN rows still get a label.
    let mut y3: Vec<f32> = y.chunks(2).flat_map(|c| [c[0], c[1], 7.0]).collect();
    assert_eq!(optimize::hilbert_order(&y3, n, 3), order);
    y3[5] = f32::NAN;
    assert_eq!(optimize::hilbert_order(&y3, n, 3).len(), n);
}

#[test]
fn attraction_order_picks_the_labelling_with_closer_neighbours() {
    // gather_span by hand: the path 0 - 1 - 2 labelled (0, 2, 1) has entries spanning 2, 2, 1, 1.
    let path = affinity::SparseP {
        n: 3,
        row_ptr: vec![0, 1, 3, 4],
        col: vec![1, 0, 2, 1],
        val: vec![0.25; 4],
    };
    assert_eq!(optimize::gather_span(&path, &[0, 1, 2]), 1);
    assert_eq!(optimize::gather_span(&path, &[0, 2, 1]), 2);

    // Past SPAN_ROWS rows the median comes from evenly spaced rows: row i joins i + 1 .. i + w
    // (cyclically) with w from 1 to 8 at random, so the spans are 1 .. 8 and n − 8 .. n − 1.
    let mut rng = Rng::new(47);
    let n = 3 * optimize::SPAN_ROWS + 5;
    let mut row_ptr = vec![0u32];
    let mut col = Vec::new();
    let mut spans = Vec::new();
    for i in 0..n {
        let mut row: Vec<u32> = (1..=1 + rng.below(8))
            .map(|s| ((i + s) % n) as u32)
            .collect();
        spans.extend(row.iter().map(|&j| (j as usize).abs_diff(i) as u32));
        row.sort();
        col.extend(row);
        row_ptr.push(col.len() as u32);
    }
    let ring = affinity::SparseP {
        n,
        val: vec![0.1; col.len()],
        row_ptr,
        col,
    };
    let middle = spans.len() / 2;
    let exact = *spans.select_nth_unstable(middle).1;
    let sampled = optimize::gather_span(&ring, &(0..n as u32).collect::<Vec<_>>());
    assert!(
        exact.abs_diff(sampled) <= 1,
        "sampled {sampled}, exact {exact}"
    );

    // P joins each point of a random 2-D layout to its 6 nearest: the layout's Hilbert order
    // keeps neighbours closer than the breadth-first one, so it is chosen; with a layout that
    // has nothing to do with P, the breadth-first order is.
    let mut rng = Rng::new(5);
    let n = 3000;
    let y = rng.vec(n * 2, -10.0, 10.0);
    let k = 6;
    let mut index = Vec::with_capacity(n * k);
    for i in 0..n {
        let mut by_distance: Vec<(f32, u32)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| {
                let d = (y[i * 2] - y[j * 2]).powi(2) + (y[i * 2 + 1] - y[j * 2 + 1]).powi(2);
                (d, j as u32)
            })
            .collect();
        by_distance.sort_by(|a, b| a.0.total_cmp(&b.0));
        index.extend(by_distance[..k].iter().map(|e| e.1));
    }
    let cond = vec![1.0 / k as f32; n * k];
    let p = affinity::symmetrize_knn(n, k, &index, &cond);
    let graph = optimize::locality_order(&p);
    let layout = optimize::hilbert_order(&y, n, 2);
    let (graph_span, layout_span) = (
        optimize::gather_span(&p, &graph),
        optimize::gather_span(&p, &layout),
    );
    assert!(
        layout_span < graph_span,
        "Hilbert span {layout_span}, breadth-first {graph_span}"
    );
    assert_eq!(optimize::attraction_order(&p, &y, 2), layout);
    let unrelated = rng.vec(n * 2, -10.0, 10.0);
    assert_eq!(optimize::attraction_order(&p, &unrelated, 2), graph);
}

#[test]
fn locality_order_relabels_p_consistently() {
    let gpu = gpu();
    let mut rng = Rng::new(31);
    // 300 points: several 64-row slices, rows of 0 to 6 entries (some empty: isolated points).
    let n = 300;
    let (row_ptr, col, val) = random_csr(&mut rng, n);
    let p = affinity::SparseP {
        n,
        row_ptr: row_ptr.clone(),
        col: col.clone(),
        val: val.clone(),
    };
    let order = optimize::locality_order(&p);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, (0..n as u32).collect::<Vec<_>>(), "a permutation");
    let q = optimize::relabel(&p, &order);
    assert_eq!(q.col.len(), p.col.len());
    // Attraction of the relabelled P at the relabelled positions is the original's, relabelled.
    let y = rng.vec(n * 2, -3.0, 3.0);
    let yq: Vec<f32> = order
        .iter()
        .flat_map(|&i| y[i as usize * 2..i as usize * 2 + 2].iter().copied())
        .collect();
    // Relabelling keeps each row's values, so its packing stores the same ones.
    let stored = gradient::stored_p(&p).unwrap();
    let want = gradient::cpu::attraction_sparse(&y, &row_ptr, &col, &stored.val, 2);
    let want_q: Vec<f32> = order
        .iter()
        .flat_map(|&i| want[i as usize * 2..i as usize * 2 + 2].iter().copied())
        .collect();
    let yb = gpu.storage_from("y", &yq);
    let attr = gpu.storage("attr", n * 2);
    let csr = GpuCsr::upload(gpu, &q).unwrap();
    let yt = gradient::PositionTexture::new(gpu, &yb, n, 2).unwrap();
    let k = gradient::attraction_sparse(gpu, &yt, &csr, &attr).unwrap();
    gpu.run("attraction", &[&yt.fill, &k]).unwrap();
    // At most 6 terms per row, f32 vs f64.
    assert_close(
        "relabelled attraction",
        &gpu.read_f32(&attr).unwrap()[..n * 2],
        &want_q,
        1e-6,
    );

    // The optimizer works in that order but takes and returns positions in the input's.
    let lr = 10.0;
    let opt = optimize::Optimizer::new(
        gpu,
        &Affinities::Sparse(p),
        &y,
        n,
        2,
        &optimize::Schedule::new(12.0, lr),
        false,
    )
    .unwrap();
    assert_eq!(opt.order, order);
    assert_eq!(opt.positions(gpu).unwrap(), y);
    let y2 = rng.vec(n * 2, -1.0, 1.0);
    opt.set_positions(gpu, &y2).unwrap();
    assert_eq!(opt.positions(gpu).unwrap(), y2);
    assert!(opt.set_positions(gpu, &y2[1..]).is_err());
}

/// A check in a batch's last step measures KL at the positions that step starts from; a check
/// at the end, at the positions the batch ends with; both against the CPU KL (dense P, exact
/// repulsion), and the positions move in between.
#[test]
fn kl_checks_measure_the_positions_they_name() {
    let gpu = gpu();
    let mut rng = Rng::new(24);
    let (n, dims) = (41, 2);
    let x = points(&mut rng, n, 5);
    let p = affinity::dense_p(gpu, &x, n, 5, 6.0)
        .unwrap()
        .read(gpu)
        .unwrap();
    let y0 = rng.vec(n * dims, -1.0, 1.0);
    let lr = LearningRates {
        early: 2.0,
        late: 3.0,
    };
    // Two optimizers from the same start take the same steps.
    let start = || {
        let dense = affinity::dense_p(gpu, &x, n, 5, 6.0).unwrap();
        optimize::Optimizer::new(
            gpu,
            &Affinities::Dense(dense),
            &y0,
            n,
            dims,
            &optimize::Schedule::new(12.0, lr),
            false,
        )
        .unwrap()
    };
    let opt = start();
    let close = |what: &str, got: f64, want: f64| {
        assert!(
            (got - want).abs() < 1e-5 * (1.0 + want.abs()),
            "{what}: KL {got} vs {want}"
        );
    };
    opt.run_iterations(gpu, 2, false, false, optimize::KlCheck::Skip)
        .unwrap();
    let before = opt.positions(gpu).unwrap();
    opt.run_iterations(gpu, 3, false, false, optimize::KlCheck::LastStep)
        .unwrap();
    let after = opt.positions(gpu).unwrap();
    // The last step started from the positions after the first two of these three.
    let opt_ref = start();
    opt_ref
        .run_iterations(gpu, 2, false, false, optimize::KlCheck::Skip)
        .unwrap();
    opt_ref
        .run_iterations(gpu, 2, false, false, optimize::KlCheck::Skip)
        .unwrap();
    let last_start = opt_ref.positions(gpu).unwrap();
    assert!(
        before
            .iter()
            .zip(&last_start)
            .any(|(a, b)| (a - b).abs() > 1e-4),
        "the positions must move for the test to tell them apart"
    );
    let measured = opt.read_kl(gpu).unwrap().0;
    close(
        "last step",
        measured,
        gradient::cpu::kl_dense(&last_start, &p, n, dims),
    );
    // Far enough from the KL of the positions the batch ends with to tell the two apart.
    let at_after = gradient::cpu::kl_dense(&after, &p, n, dims);
    assert!(
        (measured - at_after).abs() > 1e-3 * at_after,
        "{measured} vs {at_after}"
    );
    opt.run_iterations(gpu, 1, false, false, optimize::KlCheck::End)
        .unwrap();
    let end = opt.positions(gpu).unwrap();
    assert!(end.iter().zip(&after).any(|(a, b)| (a - b).abs() > 1e-4));
    close(
        "end",
        opt.read_kl(gpu).unwrap().0,
        gradient::cpu::kl_dense(&end, &p, n, dims),
    );
}
