//! `FftRepulsion` on the GPU: stage by stage against the CPU pipeline, and whole against the
//! exact sums on uniform, clustered and degenerate layouts.

use super::{blob_layout, errors, run_gpu, span_of, uniform_layout};
use crate::common::gpu;
use latentviz::rng::Rng;
use latentviz::tsne::fft::interpolate::NEAR_CAP;
use latentviz::tsne::fft::transform::Fft2d;
use latentviz::tsne::fft::{FftRepulsion, GridGeometry, cpu};

#[test]
fn gpu_stages_match_cpu() {
    let gpu = gpu();
    let mut rng = Rng::new(30);
    let n = 777;
    let y = blob_layout(&mut rng, n, 2, 5, 8.0, 1.5);
    // 64-point FFTs: 8 intervals per axis, 32 nodes; the span (~18) makes them ~2.3 wide, so
    // the near field is on.
    let mut rep = FftRepulsion::with_fft_len(gpu, n, 2, 64).unwrap();
    let (len, m) = (rep.fft_len(), 4 * rep.intervals());
    let positions = gpu.storage_from("positions", &y);
    let out = gpu.storage("out", n * 3);
    let head = rep.record_through_spread(gpu, &positions).unwrap();
    let d = rep.record(gpu, &positions, &out).unwrap();

    // Through the spread: grid and node charges.
    let head: Vec<_> = head.iter().collect();
    gpu.run("fft repulsion head", &head).unwrap();
    let g: GridGeometry = rep.read_grid(gpu).unwrap();
    let grid = cpu::bbox(&y, n, 2, rep.intervals());
    for k in 0..2 {
        // f32 min/max/centre of values up to ~15.
        assert!(
            (g.lo[k] as f64 - grid.lo[k]).abs() < 1e-5 * (1.0 + grid.lo[k].abs()),
            "lo {g:?}"
        );
        assert!((g.center[k] as f64 - grid.center[k]).abs() < 1e-5 * (1.0 + grid.center[k].abs()));
    }
    assert!(
        (g.width as f64 / grid.width - 1.0).abs() < 1e-5,
        "width {} vs {}",
        g.width,
        grid.width
    );
    let charges = cpu::spread(&y, n, &grid);
    let got = gpu.read_f32(rep.stages().charges).unwrap();
    let area = len * len;
    let scale = charges.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let mut worst = 0.0f64;
    for gy in 0..m {
        for gx in 0..m {
            let (node, idx) = (gy * m + gx, gy * len + gx);
            // Channel 0 = (q1, q2), channel 1 = (q0, 0).
            let gpu_q = [got[2 * (area + idx)], got[2 * idx], got[2 * idx + 1]];
            for k in 0..3 {
                worst = worst.max((gpu_q[k] as f64 - charges[node * 3 + k]).abs());
            }
            assert_eq!(got[2 * (area + idx) + 1], 0.0);
        }
    }
    // f32 sums of up to a few hundred weighted charges.
    assert!(
        worst / scale < 1e-5,
        "charges: max error {worst} of {scale}"
    );

    // The whole pipeline: node potentials without the near field, then the output.
    gpu.run("fft repulsion", &d.iter().collect::<Vec<_>>())
        .unwrap();
    let near = cpu::near_boxes(&y, n, &grid);
    assert!(
        near.iter().all(|&on| on),
        "near field off: width {}",
        grid.width
    );
    let potentials = cpu::far_potentials(
        &charges,
        &cpu::node_potentials(&charges, &grid),
        &grid,
        &near,
    );
    let got = gpu.read_f32(rep.stages().potentials).unwrap();
    let scale = potentials.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let mut worst = 0.0f64;
    for gy in 0..m {
        for gx in 0..m {
            let (node, idx) = (gy * m + gx, gy * len + gx);
            // Channel 0 = (w^2 q1, w^2 q2), channel 1 = (w^2 q0, w q0).
            let gpu_p = [
                got[2 * (area + idx)],
                got[2 * idx],
                got[2 * idx + 1],
                got[2 * (area + idx) + 1],
            ];
            for k in 0..4 {
                worst = worst.max((gpu_p[k] as f64 - potentials[node * 4 + k]).abs());
            }
        }
    }
    // f32 FFTs of 64 points: round-off ~1e-6 of the largest potential.
    assert!(
        worst / scale < 1e-5,
        "potentials: max error {worst} of {scale}"
    );
    let near_field = cpu::near_sums(&y, n, &grid, &near);
    let want: Vec<f32> = cpu::interpolate(&y, n, &grid, &potentials)
        .iter()
        .zip(&near_field)
        .map(|(&a, &b)| (a as f64 + b) as f32)
        .collect();
    assert_eq!(want, cpu::repulsion_interpolated(&y, n, 2, rep.intervals()));
    let got = gpu.read_f32(&out).unwrap();
    let (ef, ez, _) = errors(&got, &want, 2);
    // Same algorithm: differences are f32 round-off (with cancellation in c*Phi0 - Phi1).
    assert!(
        ef < 1e-4 && ez < 1e-5,
        "GPU vs CPU interpolation: force {ef}, Z {ez}"
    );
}

#[test]
fn gpu_matches_exact_uniform() {
    let gpu = gpu();
    let mut rng = Rng::new(40);
    let n = 2001;
    let y = uniform_layout(&mut rng, n, 2, 20.0);
    // Span 40: the default 480-point FFTs, 80 intervals; the hint's width floor makes them
    // 0.55 wide (HINT_SLACK), the production setting.
    let mut rep = FftRepulsion::new(gpu, n, 2).unwrap();
    assert!(!rep.set_span_hint(gpu, 40.0).unwrap());
    let got = run_gpu(gpu, &mut rep, &y);
    let exact = cpu::repulsion_exact(&y, n, 2);
    let (ef, ez, ez_total) = errors(&got, &exact, 2);
    println!("uniform N={n}: force {ef:.2e}, Z_i {ez:.2e}, Z {ez_total:.2e}");
    // The brief's bound: 1% in the 2-norm over all points (see `errors`).
    assert!(ef < 1e-2, "force error {ef}");
    assert!(ez < 1e-2 && ez_total < 1e-2, "Z errors {ez} {ez_total}");
}

#[test]
fn gpu_matches_exact_blobs() {
    let gpu = gpu();
    let mut rng = Rng::new(41);
    let n = 3000;
    let y = blob_layout(&mut rng, n, 2, 10, 16.0, 2.0);
    let span = span_of(&y);
    let mut rep = FftRepulsion::new(gpu, n, 2).unwrap();
    rep.set_span_hint(gpu, span).unwrap();
    let got = run_gpu(gpu, &mut rep, &y);
    let exact = cpu::repulsion_exact(&y, n, 2);
    let (ef, ez, ez_total) = errors(&got, &exact, 2);
    println!(
        "blobs N={n}, span {span:.1}, {} intervals: force {ef:.2e}, Z_i {ez:.2e}, Z {ez_total:.2e}",
        rep.intervals()
    );
    // The brief's bound: 1% in the 2-norm over all points (see `errors`).
    assert!(ef < 1e-2, "force error {ef}");
    assert!(ez < 1e-2 && ez_total < 1e-2, "Z errors {ez} {ez_total}");
}

/// A late-optimization span (~120, MNIST-like) on the grid the span hint picks (intervals over 2
/// units wide), then on the one `refresh` picks (wider still): both well under 1% (the near
/// field is exact, so the error does not grow with the width).
#[test]
fn gpu_matches_exact_wide_intervals() {
    let gpu = gpu();
    let mut rng = Rng::new(42);
    let n = 4000;
    let y = blob_layout(&mut rng, n, 2, 12, 55.0, 3.0);
    let span = span_of(&y);
    let mut rep = FftRepulsion::new(gpu, n, 2).unwrap();
    rep.set_span_hint(gpu, span).unwrap();
    let got = run_gpu(gpu, &mut rep, &y);
    let g = rep.read_grid(gpu).unwrap();
    assert!(g.width > 2.0, "{g:?}");
    let exact = cpu::repulsion_exact(&y, n, 2);
    let (ef, ez, ez_total) = errors(&got, &exact, 2);
    println!(
        "wide blobs N={n}, span {span:.1}, width {:.2}: force {ef:.2e}, Z_i {ez:.2e}, Z {ez_total:.2e}",
        g.width
    );
    assert!(ef < 1e-2, "force error {ef}");
    assert!(ez < 1e-2 && ez_total < 1e-2, "Z errors {ez} {ez_total}");
    // What the optimizer then runs: the grid `refresh` picks from that run's measurements, as
    // coarse as the near-field pairs allow (no floor per unit of span): far wider intervals,
    // the same accuracy.
    assert!(rep.refresh(gpu).unwrap());
    let got = run_gpu(gpu, &mut rep, &y);
    let coarse = rep.read_grid(gpu).unwrap();
    let (ef, ez, ez_total) = errors(&got, &exact, 2);
    println!(
        "refreshed: {} intervals, width {:.2}: force {ef:.2e}, Z_i {ez:.2e}, Z {ez_total:.2e}",
        rep.intervals(),
        coarse.width
    );
    assert!(coarse.width > 1.5 * g.width, "{coarse:?} after {g:?}");
    assert!(ef < 1e-2, "force error {ef}");
    assert!(ez < 1e-2 && ez_total < 1e-2, "Z errors {ez} {ez_total}");
}

/// More points than one texture row of the sorted-points texel table holds (2^14 on lavapipe):
/// the ordering writes, and the interpolation reads, texels past the first row. Exact sums for
/// every 97th point (O(N) each) are the reference.
#[test]
fn gpu_matches_exact_past_one_texture_row() {
    let gpu = gpu();
    let mut rng = Rng::new(43);
    let n = 40_000;
    let y = blob_layout(&mut rng, n, 2, 10, 60.0, 6.0);
    let span = span_of(&y);
    let mut rep = FftRepulsion::new(gpu, n, 2).unwrap();
    rep.set_span_hint(gpu, span).unwrap();
    let got = run_gpu(gpu, &mut rep, &y);
    let (mut sampled_got, mut sampled_want) = (Vec::new(), Vec::new());
    for i in (0..n).step_by(97) {
        let mut want = [0f64; 3];
        for j in 0..n {
            let d = [
                (y[2 * i] - y[2 * j]) as f64,
                (y[2 * i + 1] - y[2 * j + 1]) as f64,
            ];
            let w = 1.0 / (1.0 + d[0] * d[0] + d[1] * d[1]);
            want[0] += w * w * d[0];
            want[1] += w * w * d[1];
            if j != i {
                want[2] += w;
            }
        }
        sampled_want.extend(want.map(|v| v as f32));
        sampled_got.extend_from_slice(&got[3 * i..3 * i + 3]);
    }
    let (ef, ez, ez_total) = errors(&sampled_got, &sampled_want, 2);
    println!(
        "N={n}, span {span:.1}, {} intervals: force {ef:.2e}, Z_i {ez:.2e}, Z {ez_total:.2e} \
         (every 97th point)",
        rep.intervals()
    );
    assert!(ef < 1e-2, "force error {ef}");
    assert!(ez < 1e-2 && ez_total < 1e-2, "Z errors {ez} {ez_total}");
}

/// Boxes whose neighbourhood holds more than NEAR_CAP points fall back to plain interpolation,
/// the others keep the exact near field: the GPU makes the same choice per box as the CPU
/// reference and gives the same sums.
#[test]
fn gpu_crowded_boxes_fall_back_to_plain_interpolation() {
    let gpu = gpu();
    let mut rng = Rng::new(43);
    let crowd = NEAR_CAP + 400;
    let mut y = blob_layout(&mut rng, crowd, 2, 1, 0.0, 0.3);
    y.extend(uniform_layout(&mut rng, 600, 2, 30.0));
    let n = y.len() / 2;
    // 64-point FFTs: 8 intervals of ~7.5 units.
    let mut rep = FftRepulsion::with_fft_len(gpu, n, 2, 64).unwrap();
    let got = run_gpu(gpu, &mut rep, &y);
    let grid = cpu::bbox(&y, n, 2, rep.intervals());
    let near = cpu::near_boxes(&y, n, &grid);
    assert!(near.iter().any(|&on| on) && near.iter().any(|&on| !on));
    let want = cpu::repulsion_interpolated(&y, n, 2, rep.intervals());
    let (ef, ez, _) = errors(&got, &want, 2);
    // Same algorithm, f32 vs f64.
    assert!(ef < 1e-3 && ez < 1e-4, "GPU vs CPU: force {ef}, Z {ez}");
    // The busiest neighbourhood the GPU counted (what `refresh` sizes the grid by).
    let cells: Vec<(usize, usize)> = (0..n)
        .map(|i| {
            let (c, _) = grid.locate(&y[2 * i..2 * i + 2]);
            (c[0], c[1])
        })
        .collect();
    let busiest = cells
        .iter()
        .map(|&(x, z)| {
            cells
                .iter()
                .filter(|&&(a, b)| a.abs_diff(x) <= 1 && b.abs_diff(z) <= 1)
                .count()
        })
        .max()
        .unwrap();
    assert!(busiest > NEAR_CAP);
    assert_eq!(rep.read_max_near(gpu).unwrap(), busiest);
    let pairs: u64 = cells
        .iter()
        .map(|&(x, z)| {
            cells
                .iter()
                .filter(|&&(a, b)| a.abs_diff(x) <= 1 && b.abs_diff(z) <= 1)
                .count() as u64
        })
        .sum();
    let measured = rep.measured(gpu).unwrap();
    // Rounded up to units of 256 per box (at most 64 boxes here).
    assert!(
        measured.pairs >= pairs && measured.pairs < pairs + 64 * 256,
        "{} vs {pairs}",
        measured.pairs
    );
    // And `refresh` narrows the boxes for it.
    assert!(rep.refresh(gpu).unwrap());
    assert!(rep.intervals() > 8, "{} intervals", rep.intervals());
}

#[test]
fn gpu_small_and_degenerate_inputs() {
    let gpu = gpu();
    // One point: no other point, so all sums are 0 (up to the interpolation of w_ii = 1).
    let mut rep = FftRepulsion::with_fft_len(gpu, 1, 2, 64).unwrap();
    let got = run_gpu(gpu, &mut rep, &[3.0, -2.0]);
    assert!(got.iter().all(|v| v.abs() < 1e-4), "n = 1: {got:?}");
    // Coincident points: w = 1 for every pair, force 0, Z_i = n - 1.
    let n = 5;
    let mut rep = FftRepulsion::with_fft_len(gpu, n, 2, 64).unwrap();
    let got = run_gpu(gpu, &mut rep, &[1.5f32; 10]);
    for p in got.chunks(3) {
        assert!(p[0].abs() < 1e-4 && p[1].abs() < 1e-4, "{p:?}");
        assert!((p[2] - (n - 1) as f32).abs() < 1e-3, "{p:?}");
    }
    // A handful of points (fewer than a workgroup), on a line along y (zero extent in x).
    let y = [
        0.0f32, -3.0, 0.0, -1.0, 0.0, 0.5, 0.0, 2.0, 0.0, 4.0, 0.0, 7.0, 0.0, 11.0,
    ];
    let mut rep = FftRepulsion::with_fft_len(gpu, 7, 2, 240).unwrap();
    let got = run_gpu(gpu, &mut rep, &y);
    let (ef, ez, _) = errors(&got, &cpu::repulsion_exact(&y, 7, 2), 2);
    // Intervals of 0.47 (30 over 14 units), plain interpolation: force errors ~1e-3; Z_i of a
    // few sparse points is small next to the interpolated w_ii = 1 taken off it: ~4e-3.
    assert!(ef < 2e-3 && ez < 6e-3, "7 points on a line: {ef} {ez}");
}

/// Same positions, fresh `FftRepulsion` each time: bit-identical outputs. The points are binned
/// with integer atomics, so without the stable in-box order the spread's float sums would run in
/// a different order each time. Crowded boxes (a 64-point FFT: 10 x 10 boxes for 5,000 clustered
/// points, ~50 per box, up to hundreds in the blob centres) and a point count that is not a
/// multiple of the workgroup size make an order change likely to show in the last bits.
#[test]
fn gpu_same_positions_bit_identical() {
    let gpu = gpu();
    let mut rng = Rng::new(46);
    let n = 5003;
    let y = blob_layout(&mut rng, n, 2, 4, 5.0, 1.0);
    let bits = |len: usize| -> Vec<u32> {
        let mut rep = FftRepulsion::with_fft_len(gpu, n, 2, len).unwrap();
        run_gpu(gpu, &mut rep, &y)
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    for len in [64, 256] {
        let first = bits(len);
        for run in 1..3 {
            let again = bits(len);
            let differ = first.iter().zip(&again).filter(|(a, b)| a != b).count();
            assert_eq!(
                differ,
                0,
                "len {len}, run {run}: {differ} of {} outputs differ",
                first.len()
            );
        }
    }
}

/// After the counting sort each box's slice of `sorted_points` holds exactly the points located
/// in that box (the CPU grid agrees), in the order `cpu::order_in_box` gives (by the hashed sort
/// key, then by point index: the same every run), and all slices together hold every point
/// once. Tight blobs crowd a few boxes with hundreds of points (and tie points to one
/// position), as early exaggeration does. Positions are copied, not computed, so they are
/// compared bit for bit.
#[test]
fn gpu_sort_orders_each_box_by_key_then_index() {
    let gpu = gpu();
    let mut rng = Rng::new(47);
    let n = 3001;
    let mut y = blob_layout(&mut rng, n, 2, 3, 4.0, 0.15);
    // 40 copies of one point: ties that only the index orders.
    for i in 100..140 {
        y[2 * i] = y[0];
        y[2 * i + 1] = y[1];
    }
    let mut rep = FftRepulsion::with_fft_len(gpu, n, 2, 64).unwrap();
    let positions = gpu.storage_from("positions", &y);
    let head = rep.record_through_spread(gpu, &positions).unwrap();
    gpu.run("sort", &head.iter().collect::<Vec<_>>()).unwrap();
    let boxes = rep.intervals() * rep.intervals();
    let starts = gpu.read::<u32>(rep.stages().starts, 0, boxes + 1).unwrap();
    let texels = gpu.read_texels(rep.stages().sorted_points, n).unwrap();
    let grid = cpu::bbox(&y, n, 2, rep.intervals());
    assert_eq!((starts[0], starts[boxes]), (0, n as u32));
    let mut seen = vec![false; n];
    let mut crowded = 0;
    for b in 0..boxes {
        let slice = starts[b] as usize..starts[b + 1] as usize;
        let got: Vec<u32> = slice.clone().map(|s| texels[4 * s + 2]).collect();
        for (s, &i) in slice.zip(&got) {
            let i = i as usize;
            assert!(!seen[i], "point {i} placed twice");
            seen[i] = true;
            assert_eq!(
                (texels[4 * s], texels[4 * s + 1]),
                (y[2 * i].to_bits(), y[2 * i + 1].to_bits()),
                "slot {s}: the position beside index {i}"
            );
            let (cell, _) = grid.locate(&y[2 * i..2 * i + 2]);
            assert_eq!(
                cell[0] + cell[1] * rep.intervals(),
                b,
                "point {i} in the wrong box"
            );
        }
        let mut want = got.clone();
        cpu::order_in_box(&mut want, starts[b]);
        assert_eq!(got, want, "box {b}: not in key, then index order");
        crowded = crowded.max(got.len());
    }
    assert!(seen.iter().all(|&s| s), "a point is missing");
    assert!(
        crowded > 300,
        "boxes too sparse to test the order: {crowded}"
    );
}

/// Recorded dispatches are replayed with new positions (the optimizer's loop): the grid, the sort
/// and the sums follow the new layout with nothing recorded again.
#[test]
fn gpu_replay_follows_new_positions() {
    let gpu = gpu();
    let mut rng = Rng::new(45);
    let n = 300;
    let mut rep = FftRepulsion::with_fft_len(gpu, n, 2, 128).unwrap();
    let positions = gpu.storage("positions", 2 * n);
    let out = gpu.storage("out", 3 * n);
    let d = rep.record(gpu, &positions, &out).unwrap();
    let refs: Vec<_> = d.iter().collect();
    // Spans 6, then 12 shifted off the origin: 21 intervals of width 0.3, then 0.6.
    for (half, shift) in [(3.0f32, 0.0f32), (6.0, 40.0)] {
        let y: Vec<f32> = uniform_layout(&mut rng, n, 2, half)
            .iter()
            .map(|v| v + shift)
            .collect();
        gpu.write(&positions, &y);
        gpu.run("replay", &refs).unwrap();
        let (ef, ez, _) = errors(
            &gpu.read_f32(&out).unwrap(),
            &cpu::repulsion_exact(&y, n, 2),
            2,
        );
        println!("replay span {}: force {ef:.2e}, Z_i {ez:.2e}", 2.0 * half);
        // Widths 0.38 and 0.75, plain p = 4 interpolation: under 0.5% (module doc of tsne::fft).
        assert!(
            ef < 5e-3 && ez < 2e-3,
            "half {half} shift {shift}: force {ef}, Z {ez}"
        );
        let g = rep.read_grid(gpu).unwrap();
        assert!(
            (g.span - 2.0 * half).abs() < 0.1 && (g.center[0] - shift).abs() < 0.2,
            "{g:?}"
        );
    }
}

/// The kernel spectrum is computed only when the interval width changes: with a width floor the
/// grid keeps its spacing while the box fits (`kernel_dirty` = 0 on replays, same sums as with a
/// fresh kernel), and a box that outgrows the floor stretches the grid and recomputes it.
#[test]
fn gpu_kernel_spectrum_cached_while_width_fixed() {
    let gpu = gpu();
    let mut rng = Rng::new(48);
    let n = 700;
    // 120-point FFTs: 15 intervals; a floor of 0.6 covers spans up to 9.
    let mut rep = FftRepulsion::with_fft_len(gpu, n, 2, 120).unwrap();
    rep.set_min_width(gpu, 0.6);
    let positions = gpu.storage("positions", 2 * n);
    let out = gpu.storage("out", 3 * n);
    let d = rep.record(gpu, &positions, &out).unwrap();
    let refs: Vec<_> = d.iter().collect();
    let run = |y: &[f32]| -> (Vec<u32>, GridGeometry) {
        gpu.write(&positions, y);
        gpu.run("cached kernel", &refs).unwrap();
        let got = gpu.read_f32(&out).unwrap();
        (
            got.iter().map(|v| v.to_bits()).collect(),
            rep.read_grid(gpu).unwrap(),
        )
    };
    let fresh = |y: &[f32], floor: f32| -> Vec<u32> {
        let mut r = FftRepulsion::with_fft_len(gpu, n, 2, 120).unwrap();
        r.set_min_width(gpu, floor);
        run_gpu(gpu, &mut r, y)
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    let check_exact = |y: &[f32], bits: &[u32], tol: f64| {
        let got: Vec<f32> = bits.iter().map(|b| f32::from_bits(*b)).collect();
        let (ef, ez, _) = errors(&got, &cpu::repulsion_exact(y, n, 2), 2);
        assert!(ef < tol && ez < tol, "force {ef}, Z {ez} (tolerance {tol})");
    };
    let a = uniform_layout(&mut rng, n, 2, 3.0);
    let b: Vec<f32> = uniform_layout(&mut rng, n, 2, 4.0)
        .iter()
        .map(|v| v + 7.0)
        .collect();
    let c = uniform_layout(&mut rng, n, 2, 7.0);
    // Span 6 < 9: width 0.6, kernel computed on the first run only.
    let (a1, g) = run(&a);
    assert_eq!((g.width, g.kernel_dirty), (0.6, 1), "{g:?}");
    let (a2, g) = run(&a);
    assert_eq!(g.kernel_dirty, 0, "{g:?}");
    assert_eq!(a1, a2, "cached kernel changed the sums");
    // Width 0.6, plain interpolation: about 0.15% (see the module doc of tsne::fft).
    check_exact(&a, &a1, 5e-3);
    // Span 8, moved: still cached, and the same sums as a freshly computed kernel.
    let (b1, g) = run(&b);
    assert_eq!((g.width, g.kernel_dirty), (0.6, 0), "{g:?}");
    assert_eq!(b1, fresh(&b, 0.6));
    check_exact(&b, &b1, 5e-3);
    // Span 14 > 9: the grid stretches to width 0.93 and the kernel (and the near-field table)
    // is recomputed; above 0.8 the near field is summed exactly.
    let (c1, g) = run(&c);
    assert_eq!(g.kernel_dirty, 1, "{g:?}");
    assert!((g.width - 14.0 / 15.0).abs() < 0.01, "{g:?}");
    assert_eq!(c1, fresh(&c, 0.0));
    check_exact(&c, &c1, 5e-3);
    // Back inside the floor: recomputed once more, then the same sums as before.
    let (b2, g) = run(&b);
    assert_eq!(g.kernel_dirty, 1, "{g:?}");
    assert_eq!(b1, b2);
}

/// The plain near-field loop (adapters without subgroups of 8) gives the same sums as the
/// subgroup one lavapipe runs by default, up to f32 summation order.
#[test]
fn gpu_plain_and_subgroup_near_loops_agree() {
    let gpu = gpu();
    let mut rng = Rng::new(44);
    let n = 1500;
    let y = blob_layout(&mut rng, n, 2, 6, 20.0, 2.0);
    let mut rep = FftRepulsion::with_fft_len(gpu, n, 2, 128).unwrap();
    let sg = rep.set_subgroups(gpu, true);
    let a = run_gpu(gpu, &mut rep, &y);
    assert!(!rep.set_subgroups(gpu, false));
    let b = run_gpu(gpu, &mut rep, &y);
    let want = cpu::repulsion_interpolated(&y, n, 2, rep.intervals());
    for (label, got) in [("default", &a), ("plain", &b)] {
        let (ef, ez, _) = errors(got, &want, 2);
        assert!(
            ef < 1e-4 && ez < 1e-5,
            "{label} (subgroups {sg}): force {ef}, Z {ez}"
        );
    }
}

#[test]
fn bad_arguments_are_errors() {
    let gpu = gpu();
    assert!(FftRepulsion::new(gpu, 10, 3).is_err());
    assert!(FftRepulsion::new(gpu, 0, 2).is_err());
    // 98 = 2 * 7^2: no radix-7 passes.
    assert!(FftRepulsion::with_fft_len(gpu, 10, 2, 98).is_err());
    assert!(FftRepulsion::with_fft_len(gpu, 10, 2, 5).is_err());
    assert!(Fft2d::new(gpu, 4096, 1).is_err());
    assert!(Fft2d::new(gpu, 14, 1).is_err());
    assert!(Fft2d::new(gpu, 1, 1).is_err());
    let mut rep = FftRepulsion::with_fft_len(gpu, 10, 2, 64).unwrap();
    let small = gpu.storage("positions", 19);
    let out = gpu.storage("out", 30);
    assert!(rep.record(gpu, &small, &out).is_err());
    let positions = gpu.storage("positions", 20);
    let short_out = gpu.storage("out", 29);
    assert!(rep.record(gpu, &positions, &short_out).is_err());
    let fft = Fft2d::new(gpu, 64, 1).unwrap();
    assert!(fft.forward(gpu, &positions, 1, 10).is_err());
}

/// Time per call at N = 10k and 70k against the exact O(N^2) CPU sums at 10k (ratios only).
/// `cargo test --release --test suite bench_fft_repulsion -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_fft_repulsion() {
    let gpu = gpu();
    println!("{}", gpu.describe());
    let mut rng = Rng::new(50);
    let n_cpu = 10_000;
    // Blobs with centres in [-14, 14]^2, sigma 1.5: span ~38, the default 480-point grid.
    let y_cpu = blob_layout(&mut rng, n_cpu, 2, 10, 14.0, 1.5);
    let start = std::time::Instant::now();
    let exact = cpu::repulsion_exact(&y_cpu, n_cpu, 2);
    let cpu_s = start.elapsed().as_secs_f64();
    println!("exact CPU N={n_cpu}: {:.1} ms", cpu_s * 1e3);
    let cases = [
        y_cpu.clone(),
        blob_layout(&mut rng, 70_000, 2, 10, 14.0, 1.5),
        // A late-optimization MNIST-like span (~150): the largest grid.
        blob_layout(&mut rng, 70_000, 2, 10, 68.0, 2.0),
    ];
    for y in cases {
        let n = y.len() / 2;
        let span = span_of(&y);
        let mut rep = FftRepulsion::new(gpu, n, 2).unwrap();
        rep.set_span_hint(gpu, span).unwrap();
        let positions = gpu.storage_from("positions", &y);
        let out = gpu.storage("out", n * 3);
        let d = rep.record(gpu, &positions, &out).unwrap();
        let refs: Vec<_> = d.iter().collect();
        let t = latentviz::gpu::Timer::new(gpu)
            .time("fft repulsion", &refs, 2)
            .unwrap();
        println!(
            "GPU N={n}, span {span:.0}, fft {len}^2, {} intervals: {:.2} ms per call ({} dispatches); \
             exact CPU at N=10k takes {:.2}x this",
            rep.intervals(),
            t.seconds * 1e3,
            d.len(),
            cpu_s / t.seconds,
            len = rep.fft_len(),
        );
        let got = gpu.read_f32(&out).unwrap();
        let (ef, ez) = if n == n_cpu {
            let (ef, ez, _) = errors(&got, &exact, 2);
            (ef, ez)
        } else {
            // Exact sums for every 140th point only (500 rows of the N x N sums).
            let rows: Vec<usize> = (0..n).step_by(140).collect();
            let mut want = Vec::new();
            let mut sub = Vec::new();
            for &i in &rows {
                let (mut fx, mut fy, mut z) = (0.0f64, 0.0f64, 0.0f64);
                for j in (0..n).filter(|&j| j != i) {
                    let (dx, dy) = (
                        (y[2 * i] - y[2 * j]) as f64,
                        (y[2 * i + 1] - y[2 * j + 1]) as f64,
                    );
                    let w = 1.0 / (1.0 + dx * dx + dy * dy);
                    (fx, fy, z) = (fx + w * w * dx, fy + w * w * dy, z + w);
                }
                want.extend([fx as f32, fy as f32, z as f32]);
                sub.extend_from_slice(&got[3 * i..3 * i + 3]);
            }
            let (ef, ez, _) = errors(&sub, &want, 2);
            (ef, ez)
        };
        println!("  force error {ef:.2e}, Z_i error {ez:.2e}");
    }
}
