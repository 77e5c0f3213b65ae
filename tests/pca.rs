//! The scatter matrix of PCA computed on and above the diagonal only (`matmul::forward_upper`,
//! `ScatterKernel::MatmulUpper`) against the whole product and the CPU, the uniform scatter
//! kernel (`ScatterKernel::Uniform`) against the CPU, and PCA unchanged by either; the mean, Gram
//! and projection kernels against their CPU twins, and planted components recovered.

use crate::common::{assert_close, gpu, points};
use latentviz::gpu::BufferSlices;
use latentviz::ops::matmul::{self, MatmulKernel, MatmulShape};
use latentviz::pca::{self, ScatterKernel};
use latentviz::rng::Rng;

/// Written to C before the upper product: tiles it skips must still hold it.
const SENTINEL: f32 = 1234.5;

#[test]
fn upper_product_matches_the_full_one_on_and_above_the_diagonal() {
    let gpu = gpu();
    let mut rng = Rng::new(31);
    // Row tile r of 64 rows (the last of 16) from column 64 r on: 54% of 784².
    assert_eq!(
        matmul::upper_outputs(MatmulKernel::Subgroup64, &MatmulShape::new(784, 784, 1)),
        (0..12).map(|r| 64 * (784 - 64 * r)).sum::<usize>() + 16 * 16
    );
    let kernels = [
        MatmulKernel::Blocked8x8,
        MatmulKernel::Subgroup32,
        MatmulKernel::Subgroup64,
    ];
    // Aᵀ A with rows not a multiple of anything, widths not multiples of the 32- or 64-row tiles;
    // then Aᵀ B with more rows than columns of C (later row tiles run nothing) and fewer.
    for (rows, m, n) in [
        (1000, 200, 200),
        (1000, 72, 72),
        (7, 40, 40),
        (50, 136, 72),
        (50, 72, 136),
    ] {
        let a = rng.vec(rows * m, -1.0, 1.0);
        let b = if m == n {
            a.clone()
        } else {
            rng.vec(rows * n, -1.0, 1.0)
        };
        let (abuf, bbuf) = (gpu.storage_from("a", &a), gpu.storage_from("b", &b));
        let shape = MatmulShape {
            m,
            n,
            k: rows,
            transpose_a: true,
            transpose_b: false,
        };
        let want = pca::cpu::gram(&a, &b, rows, m, n);
        for kernel in kernels.into_iter().filter(|k| k.supported(gpu)) {
            let what = format!("{kernel:?} {rows} × {m} × {n}");
            let full = gpu.storage("full", m * n);
            let upper = gpu.storage_from("upper", &vec![SENTINEL; m * n]);
            let f = matmul::forward_with(gpu, kernel, &shape, &abuf, &bbuf, None, &full).unwrap();
            let u = matmul::forward_upper(gpu, kernel, &shape, &abuf, &bbuf, &upper).unwrap();
            // Fewer flops once C spans more than one tile.
            assert!(
                u.flops < f.flops || n <= 64 && u.flops == f.flops,
                "{what}: upper counts {} flops of {}",
                u.flops,
                f.flops
            );
            gpu.run("full and upper", &[&f, &u]).unwrap();
            let full = gpu.read_f32(&full).unwrap();
            let upper = gpu.read_f32(&upper).unwrap();
            // Up to 1,000-term f32 sums of products in [-1, 1] against f64.
            assert_close(&what, &full, &want, 1e-4);
            let mut skipped = 0;
            for i in 0..m {
                for j in 0..n {
                    let (u, f) = (upper[i * n + j], full[i * n + j]);
                    if j >= i {
                        // The same tile computed the same way: bit for bit.
                        assert_eq!(u.to_bits(), f.to_bits(), "{what}: C[{i}, {j}]");
                    } else if u == SENTINEL {
                        skipped += 1;
                    } else {
                        assert_eq!(u.to_bits(), f.to_bits(), "{what}: C[{i}, {j}] below");
                    }
                }
            }
            if m > 64 {
                assert!(skipped > 0, "{what}: no tile below the diagonal skipped");
            }
            if m == n {
                // Mirrored, the upper product is the full one with its lower blocks mirrored.
                let (mut m_upper, mut m_full) = (upper, full);
                pca::gram::mirror_upper(&mut m_upper, n);
                pca::gram::mirror_upper(&mut m_full, n);
                assert!(
                    m_upper
                        .iter()
                        .zip(&m_full)
                        .all(|(u, f)| u.to_bits() == f.to_bits()),
                    "{what}: mirrored products differ"
                );
            }
        }
    }
}

/// n × d values with column c of spread 3 · 0.8^c plus an offset, so the eigenvalues are distinct.
fn spread_columns(rng: &mut Rng, n: usize, d: usize) -> Vec<f32> {
    (0..n * d)
        .map(|e| {
            let c = e % d;
            (3.0 * 0.8f64.powi(c as i32) * rng.normal() + 2.0 + c as f64 * 0.1) as f32
        })
        .collect()
}

#[test]
fn scatter_kernels_agree_over_several_slices() {
    let gpu = gpu();
    let mut rng = Rng::new(32);
    let (n, dp) = (1000, 72);
    let x = spread_columns(&mut rng, n, dp);
    // The centred scatter in f64 on the CPU.
    let mean = pca::cpu::column_mean(&x, n, dp);
    let xc = pca::cpu::subtract_mean(&x, &mean, dp);
    let want = pca::cpu::gram(&xc, &xc, n, dp, dp);
    let mut got = Vec::new();
    for kernel in [
        ScatterKernel::MatmulFull,
        ScatterKernel::MatmulUpper,
        ScatterKernel::Gram,
        ScatterKernel::Uniform,
    ] {
        if !kernel.supported(gpu, dp) {
            continue;
        }
        let slices = if kernel == ScatterKernel::Uniform {
            // Slices of at most 300 rows (and the padding a slice carries for the last chunk's
            // uniform bindings) in whole 64-row chunks: 256, 256, 256 and 232 rows (the last
            // chunk 40 real rows and 24 of zeros).
            let room = (300 * dp * 4 + 16 * pca::scatter_uniform::SCATTER_UNIFORM_VEC4) as u64;
            let slices = pca::scatter::upload_padded_with(gpu, &x, n, dp, Some(room)).unwrap();
            assert_eq!(slices.rows_per_slice, 256);
            // The uniform kernel needs whole chunks: slices of 300 rows are refused.
            let loose =
                BufferSlices::upload(gpu, "x", &x, dp, Some((300 * dp * 4) as u64)).unwrap();
            let mean_buf = gpu.storage("mean", dp);
            let scatter = gpu.storage("scatter", dp * dp);
            assert!(
                pca::scatter::centred_scatter(gpu, &loose, &mean_buf, &scatter, kernel).is_err()
            );
            slices
        } else {
            // Slices of 300 rows: 4 slices, the last of 100.
            BufferSlices::upload(gpu, "x", &x, dp, Some((300 * dp * 4) as u64)).unwrap()
        };
        assert_eq!(slices.slices.len(), 4);
        let mean_buf = gpu.storage("mean", dp);
        let scatter = gpu.storage("scatter", dp * dp);
        let s = pca::scatter::centred_scatter(gpu, &slices, &mean_buf, &scatter, kernel).unwrap();
        // f32 centring and 1,000-term f32 sums (300-term per slice for the matmul) against f64.
        assert_close(&format!("{kernel:?} scatter"), &s, &want, 2e-4);
        assert_close(
            &format!("{kernel:?} mean"),
            &gpu.read_f32(&mean_buf).unwrap(),
            &mean,
            1e-5,
        );
        for i in 0..dp {
            for j in 0..i {
                assert_eq!(s[i * dp + j], s[j * dp + i], "{kernel:?}: S not symmetric");
            }
        }
        got.push((kernel, s));
    }
    // Compared only where both ran (no subgroups, as under LATENTVIZ_GENERIC_KERNELS: neither).
    let find = |k: ScatterKernel| got.iter().find(|(g, _)| *g == k).map(|(_, s)| s);
    if let (Some(full), Some(upper)) = (
        find(ScatterKernel::MatmulFull),
        find(ScatterKernel::MatmulUpper),
    ) {
        assert!(
            full.iter()
                .zip(upper)
                .all(|(f, u)| f.to_bits() == u.to_bits()),
            "upper-only scatter differs from the full one"
        );
    }
}

#[test]
fn pca_is_unchanged_by_the_scatter_kernel() {
    let gpu = gpu();
    let mut rng = Rng::new(33);
    let (n, d, k) = (1000, 70, 5);
    let x = spread_columns(&mut rng, n, d);
    let reference = pca::pca_with(gpu, &x, n, d, k, 5, ScatterKernel::Gram).unwrap();
    for kernel in [
        ScatterKernel::MatmulFull,
        ScatterKernel::MatmulUpper,
        ScatterKernel::Uniform,
    ] {
        if !kernel.supported(gpu, d) {
            assert!(pca::pca_with(gpu, &x, n, d, k, 5, kernel).is_err());
            continue;
        }
        let p = pca::pca_with(gpu, &x, n, d, k, 5, kernel).unwrap();
        // The same components as the Gram kernel's S (f32 sums in another order): eigenvalues
        // 0.64 apart relative, so the vectors agree to ~1e-5.
        for c in 0..k {
            let dot: f64 = (0..d)
                .map(|r| p.components[c * d + r] as f64 * reference.components[c * d + r] as f64)
                .sum();
            assert!(dot > 1.0 - 1e-5, "{kernel:?} component {c}: cos {dot}");
        }
        assert_close(
            &format!("{kernel:?} variances"),
            &p.variances,
            &reference.variances,
            1e-4,
        );
        assert_close(
            &format!("{kernel:?} projected"),
            &p.projected,
            &reference.projected,
            1e-3,
        );
        if kernel == ScatterKernel::MatmulUpper {
            // Bit for bit what the full product gave (same S, same iteration).
            let full = pca::pca_with(gpu, &x, n, d, k, 5, ScatterKernel::MatmulFull).unwrap();
            assert_eq!(p.projected, full.projected);
            assert_eq!(p.components, full.components);
            assert_eq!(p.variances, full.variances);
        }
    }
    // The default is the fastest supported kernel.
    let best = pca::pca(gpu, &x, n, d, k, 5).unwrap();
    let want = pca::pca_with(gpu, &x, n, d, k, 5, ScatterKernel::best(gpu, d)).unwrap();
    assert_eq!(best.components, want.components);
}

#[test]
fn constant_features_are_left_out_and_put_back() {
    // Three constant columns (as MNIST's border pixels): `pca` runs on the other 67 and puts them
    // back; the result matches the PCA of all 70 (same tolerances as above: another S, another
    // random start of the subspace iteration).
    let gpu = gpu();
    let mut rng = Rng::new(34);
    let (n, d, k) = (1000, 70, 5);
    let mut x = spread_columns(&mut rng, n, d);
    let constants = [(0usize, 0.0f32), (13, 2.5), (69, -1.0)];
    for row in x.chunks_exact_mut(d) {
        for &(f, v) in &constants {
            row[f] = v;
        }
    }
    let got = pca::pca(gpu, &x, n, d, k, 5).unwrap();
    let all = pca::pca_with(gpu, &x, n, d, k, 5, ScatterKernel::best(gpu, d)).unwrap();
    for &(f, v) in &constants {
        assert_eq!(got.mean[f], v, "mean of constant feature {f}");
        for c in 0..k {
            assert_eq!(got.components[c * d + f], 0.0, "component {c}, feature {f}");
        }
    }
    for c in 0..k {
        let dot: f64 = (0..d)
            .map(|r| got.components[c * d + r] as f64 * all.components[c * d + r] as f64)
            .sum();
        assert!(dot > 1.0 - 1e-5, "component {c}: cos {dot}");
    }
    assert_close("variances", &got.variances, &all.variances, 1e-4);
    assert_close("projected", &got.projected, &all.projected, 1e-3);
    assert_close("mean", &got.mean, &all.mean, 1e-5);
}

/// The uniform scatter kernel on sizes the MNIST job does not have: 200 features (50 column
/// quads: four blocks, so `block_of` interleaves 0, 3, 1, 2, and the last block is partly past
/// the end) and 150 rows (two whole chunks and one of 22 rows and 42 of zeros), against the f64
/// CPU scatter; and its generated source against naga for other shapes.
#[test]
fn uniform_scatter_matches_cpu_on_awkward_sizes() {
    let gpu = gpu();
    let (n, dp) = (150, 200);
    if !ScatterKernel::Uniform.supported(gpu, dp) {
        return;
    }
    let mut rng = Rng::new(35);
    let x = spread_columns(&mut rng, n, dp);
    let mean = pca::cpu::column_mean(&x, n, dp);
    let xc = pca::cpu::subtract_mean(&x, &mean, dp);
    let want = pca::cpu::gram(&xc, &xc, n, dp, dp);
    let slices = pca::scatter::upload_padded(gpu, &x, n, dp).unwrap();
    let mean_buf = gpu.storage("mean", dp);
    let scatter = gpu.storage("scatter", dp * dp);
    let s =
        pca::scatter::centred_scatter(gpu, &slices, &mean_buf, &scatter, ScatterKernel::Uniform)
            .unwrap();
    assert_close("uniform scatter, 200 features", &s, &want, 1e-4);
    for (rows, bindings, quads) in [(1, 1, 1), (16, 4, 2), (16, 3, 3)] {
        let src = pca::scatter_uniform::scatter_uniform_source(rows, bindings, quads);
        let what = format!("{bindings} bindings of {rows} rows, {quads} quads");
        crate::common::assert_valid_wgsl(&what, &src);
    }
}

#[test]
fn projected_init_is_the_pca_init_of_the_projection() {
    // Data already reduced by PCA lies on its principal axes: its first columns, scaled, are what
    // a second PCA of it gives (up to the sign of each axis and f32 rounding).
    let gpu = gpu();
    let mut rng = Rng::new(61);
    let (n, d, k, dims) = (600, 24, 8, 2);
    let x = spread_columns(&mut rng, n, d);
    let projected = pca::pca(gpu, &x, n, d, k, 3).unwrap().projected;
    let fast = latentviz::tsne::init::projected_init(&projected, n, k, dims, 3);
    let again = latentviz::tsne::init::pca_init(gpu, &projected, n, k, dims, 3).unwrap();
    let std0 = (fast
        .iter()
        .step_by(dims)
        .map(|&v| (v as f64).powi(2))
        .sum::<f64>()
        / n as f64)
        .sqrt();
    assert!(
        (std0 / latentviz::tsne::init::INIT_STD as f64 - 1.0).abs() < 1e-3,
        "first column's std {std0}"
    );
    let scale = fast.iter().fold(0f32, |m, v| m.max(v.abs()));
    for c in 0..dims {
        let dot: f64 = (0..n)
            .map(|i| fast[i * dims + c] as f64 * again[i * dims + c] as f64)
            .sum();
        let sign = if dot < 0.0 { -1.0 } else { 1.0 };
        let worst = (0..n)
            .map(|i| (fast[i * dims + c] - sign * again[i * dims + c]).abs())
            .fold(0f32, f32::max);
        assert!(
            worst < 1e-3 * scale,
            "axis {c}: differs by {worst} (scale {scale})"
        );
    }
    // Fewer principal columns than output dimensions: the random start, as pca_init.
    assert_eq!(
        latentviz::tsne::init::projected_init(&projected, n, k, 9, 3),
        latentviz::tsne::init::random_init(n, 9, 3)
    );
}

/// n × d values like pixels: each row non-zero only in a window of columns that moves from row to
/// row (so rows sort into chunks with narrower ranges), the first `dense` columns non-zero in
/// most rows with an offset, a few sparse columns whose rare values are large (100 ± 1: their
/// uncentred sums are large against their variance), and every `blank`-th row all zeros.
fn pixel_like(rng: &mut Rng, n: usize, d: usize, dense: usize, blank: usize) -> Vec<f32> {
    let mut x = vec![0f32; n * d];
    for r in 0..n {
        if r % blank == 0 {
            continue;
        }
        let row = &mut x[r * d..(r + 1) * d];
        let start = dense + rng.below(d / 2);
        let end = (start + 4 + rng.below(d / 3)).min(d);
        for (c, v) in row.iter_mut().enumerate() {
            if c < dense {
                *v = 5.0 + 0.7f64.powi(c as i32) as f32 * rng.normal() as f32;
            } else if (start..end).contains(&c) && rng.below(3) > 0 {
                *v = if c % 7 == 0 {
                    100.0 + rng.normal() as f32
                } else {
                    rng.range(0.0, 1.0) * 0.95f32.powi(c as i32)
                };
            }
        }
    }
    x
}

/// The zero plan: a permutation of the rows, which after the shift are 0 outside their chunk's
/// range (all-zero chunks have an empty range); the planned scatter (several slices, chunks with
/// narrow ranges and whole chunks skipped) equals the centred scatter in f64; and PCA through the
/// plan gives the components and projections of PCA without it (the Gram kernel), rows back in
/// the input's order.
#[test]
fn planned_scatter_skips_zeros_and_matches_the_centred_scatter() {
    let gpu = gpu();
    let mut rng = Rng::new(36);
    for (dense, blank) in [(6, 9), (0, 3)] {
        let (n, d) = (700, 83);
        let dp = 88;
        if !ScatterKernel::Uniform.supported(gpu, dp) {
            return;
        }
        let x = pixel_like(&mut rng, n, d, dense, blank);
        let plan = pca::scatter::ZeroPlan::new(&x, n, d);
        let mut sorted = plan.order.clone();
        sorted.sort();
        assert_eq!(sorted, (0..n as u32).collect::<Vec<_>>(), "a permutation");
        assert_eq!(
            plan.centred.iter().filter(|&&c| c).count(),
            dense,
            "only the dense columns are centred"
        );
        let mut skipped = 0;
        for t0 in (0..n).step_by(pca::scatter_uniform::SCATTER_CHUNK_ROWS) {
            let rows = pca::scatter_uniform::SCATTER_CHUNK_ROWS.min(n - t0);
            let [lo, hi] = plan.chunk_live(t0, rows);
            skipped += (hi == lo) as usize;
            for &r in &plan.order[t0..t0 + rows] {
                for c in 0..d {
                    let v = x[r as usize * d + c] - plan.shift[c];
                    let inside = (lo as usize..hi as usize).contains(&(c / 4));
                    assert!(
                        inside || v == 0.0,
                        "row {r} column {c} outside [{lo}, {hi})"
                    );
                }
            }
        }
        if dense == 0 {
            // A third of the rows are blank: they sort first and fill whole chunks.
            assert!(skipped >= 2, "{skipped} chunks skipped");
        }

        let mean = pca::cpu::column_mean(&x, n, d);
        let xc = pca::cpu::subtract_mean(&x, &mean, d);
        let want = pca::cpu::gram(&xc, &xc, n, d, d);
        // Slices of 256 rows: 3 slices, chunks cut at slice ends.
        let room = (300 * dp * 4 + 16 * pca::scatter_uniform::SCATTER_UNIFORM_VEC4) as u64;
        let slices =
            pca::scatter::upload_padded_in(gpu, &x, n, d, Some(&plan), Some(room)).unwrap();
        assert_eq!(slices.slices.len(), 3);
        let scatter = gpu.storage("scatter", dp * dp);
        let s = pca::scatter::planned_scatter(gpu, &slices, &plan, &scatter).unwrap();
        let got: Vec<f32> = (0..d * d).map(|e| s[(e / d) * dp + e % d]).collect();
        // Relative to the largest entry: the 100s columns' uncentred sums lose about a bit.
        assert_close(
            &format!("planned scatter ({dense} dense)"),
            &got,
            &want,
            2e-4,
        );
        for i in 0..dp {
            for j in 0..i {
                assert_eq!(s[i * dp + j], s[j * dp + i], "S not symmetric");
            }
        }

        let k = 4;
        let planned = pca::pca_with(gpu, &x, n, d, k, 5, ScatterKernel::Uniform).unwrap();
        let reference = pca::pca_with(gpu, &x, n, d, k, 5, ScatterKernel::Gram).unwrap();
        for c in 0..k {
            let dot: f64 = (0..d)
                .map(|r| {
                    planned.components[c * d + r] as f64 * reference.components[c * d + r] as f64
                })
                .sum();
            assert!(dot > 1.0 - 1e-4, "component {c}: cos {dot}");
        }
        assert_close("variances", &planned.variances, &reference.variances, 1e-4);
        // Its own components applied to the centred rows, in the input's order (the components
        // themselves differ from the reference's by the subspace iteration's tolerance, and these
        // rows' variances are close together).
        let want: Vec<f32> = (0..n * k)
            .map(|e| {
                let (r, c) = (e / k, e % k);
                (0..d)
                    .map(|j| {
                        (x[r * d + j] as f64 - mean[j] as f64)
                            * planned.components[c * d + j] as f64
                    })
                    .sum::<f64>() as f32
            })
            .collect();
        assert_close("projected", &planned.projected, &want, 1e-5);
        assert_close("mean", &planned.mean, &reference.mean, 1e-6);
    }
}

#[test]
fn pca_kernels_match_cpu() {
    let gpu = gpu();
    let mut rng = Rng::new(23);
    let (rows, ca, cb) = (37, 16, 24);
    let a = points(&mut rng, rows, ca);
    let b = points(&mut rng, rows, cb);
    let (abuf, bbuf) = (gpu.storage_from("a", &a), gpu.storage_from("b", &b));
    let out = gpu.storage("out", ca * cb);
    let g1 = pca::gram::gram(gpu, &abuf, &bbuf, &out, rows, ca, cb, false).unwrap();
    let g2 = pca::gram::gram(gpu, &abuf, &bbuf, &out, rows, ca, cb, true).unwrap();
    gpu.run("gram", &[&g1, &g2]).unwrap();
    let want: Vec<f32> = pca::cpu::gram(&a, &b, rows, ca, cb)
        .iter()
        .map(|v| 2.0 * v)
        .collect();
    // Accumulated twice (the slice path); 37-term f32 sums.
    assert_close("gram", &gpu.read_f32(&out).unwrap(), &want, 1e-5);
    assert!(pca::gram::gram(gpu, &abuf, &bbuf, &out, rows, 12, cb, false).is_err());
    // The symmetric half: Aᵀ A with 24 columns, blocks above the diagonal, then mirrored.
    let sym = gpu.storage("sym", cb * cb);
    let g = pca::gram::gram_upper(gpu, &bbuf, &sym, rows, cb, false).unwrap();
    gpu.run("gram upper", &[&g]).unwrap();
    let mut got = gpu.read_f32(&sym).unwrap();
    pca::gram::mirror_upper(&mut got, cb);
    assert_close(
        "gram upper",
        &got,
        &pca::cpu::gram(&b, &b, rows, cb, cb),
        1e-5,
    );

    let (rows, cx, cv) = (45, 12, 8);
    let x = points(&mut rng, rows, cx);
    let v = points(&mut rng, cx, cv);
    let (xb, vb) = (gpu.storage_from("x", &x), gpu.storage_from("v", &v));
    let out = gpu.storage("out", rows * cv);
    let k = pca::project::project(gpu, &xb, &vb, &out, rows, cx, cv).unwrap();
    gpu.run("project", &[&k]).unwrap();
    assert_close(
        "project",
        &gpu.read_f32(&out).unwrap(),
        &pca::cpu::project(&x, &v, rows, cx, cv),
        1e-5,
    );

    let (rows, width) = (29, 3);
    let x = points(&mut rng, rows, width * 4);
    let xb = gpu.storage_from("x", &x);
    let mean = gpu.storage("mean", width * 4);
    let m = pca::mean::column_mean(gpu, &xb, &mean, rows, width, 1.0 / rows as f32, false).unwrap();
    let s = pca::mean::subtract_mean(gpu, &xb, &mean, rows, width).unwrap();
    gpu.run("mean", &[&m, &s]).unwrap();
    let want_mean = pca::cpu::column_mean(&x, rows, width * 4);
    assert_close("mean", &gpu.read_f32(&mean).unwrap(), &want_mean, 1e-6);
    assert_close(
        "centred",
        &gpu.read_f32(&xb).unwrap(),
        &pca::cpu::subtract_mean(&x, &want_mean, width * 4),
        1e-6,
    );
}

#[test]
#[allow(clippy::needless_range_loop)] // index arithmetic over axes reads clearer here
fn pca_recovers_planted_components() {
    let gpu = gpu();
    let mut rng = Rng::new(24);
    // 400 points in 11-D: variances 9, 4, 1 along three orthonormal axes plus 0.01 noise.
    let (n, d) = (400, 11);
    let mut axes = vec![vec![0f64; d]; 3];
    for axis in axes.iter_mut() {
        for v in axis.iter_mut() {
            *v = rng.normal();
        }
    }
    // Gram–Schmidt the three axes.
    for a in 0..3 {
        for b in 0..a {
            let dot: f64 = (0..d).map(|r| axes[a][r] * axes[b][r]).sum();
            for r in 0..d {
                axes[a][r] -= dot * axes[b][r];
            }
        }
        let norm = axes[a].iter().map(|v| v * v).sum::<f64>().sqrt();
        for v in &mut axes[a] {
            *v /= norm;
        }
    }
    let sd = [3.0, 2.0, 1.0];
    let mut x = vec![0f32; n * d];
    for i in 0..n {
        let coef: Vec<f64> = sd.iter().map(|s| s * rng.normal()).collect();
        for r in 0..d {
            let v: f64 =
                (0..3).map(|a| coef[a] * axes[a][r]).sum::<f64>() + 0.1 * rng.normal() + 5.0;
            x[i * d + r] = v as f32;
        }
    }
    let p = pca::pca(gpu, &x, n, d, 3, 7).unwrap();
    for a in 0..3 {
        let dot: f64 = (0..d)
            .map(|r| p.components[a * d + r] as f64 * axes[a][r])
            .sum();
        assert!(dot.abs() > 0.99, "component {a}: |cos| = {}", dot.abs());
    }
    for a in 0..2 {
        assert!(
            p.variances[a] > p.variances[a + 1],
            "variances not descending: {:?}",
            p.variances
        );
    }
    // Projections have the component variances (sample estimates within 20 %).
    for a in 0..3 {
        let var = (0..n)
            .map(|i| (p.projected[i * 3 + a] as f64).powi(2))
            .sum::<f64>()
            / (n - 1) as f64;
        assert!(
            (var - p.variances[a] as f64).abs() < 1e-3 * var,
            "projection variance {var} vs {}",
            p.variances[a]
        );
        assert!(
            (var / (sd[a] * sd[a]) - 1.0).abs() < 0.2,
            "variance {var} vs planted {}",
            sd[a] * sd[a]
        );
    }
}
