//! The optimizer (`tsne::optimize`): update, reductions and KL against their CPU twins, the
//! orderings of the points, and the GPU optimizer against the CPU one on a small problem.

use super::{random_conditional, random_csr};
use crate::common::{assert_close, gpu, points};
use latentviz::rng::Rng;
use latentviz::tsne::affinity::{self, DenseP};
use latentviz::tsne::gradient::{self, GpuCsr};
use latentviz::tsne::optimize::{self, Affinities, StepBuffers};
use latentviz::tsne::{LearningRates, TsneConfig};

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
