//! The t-SNE gradient (`tsne::gradient`): repulsion and attraction kernels against their CPU twins,
//! the packed sparse P, and the CPU gradient against finite differences of the CPU KL.

use super::{random_conditional, random_csr};
use crate::common::{assert_close, gpu};
use latentviz::rng::Rng;
use latentviz::tsne::affinity::{self, DenseP};
use latentviz::tsne::gradient::{self, GpuCsr};

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
