//! t-SNE on data unlike MNIST: points that many others list as their nearest neighbour (hubs),
//! exact and near copies, and inputs at extreme scales. Each case once failed or misbehaved: a
//! hub thrown out of the map, NaN in P, squared distances out of f32's range.

use crate::common::gpu;
use latentviz::knn;
use latentviz::rng::Rng;
use latentviz::tsne::{self, Method, TsneConfig, metrics};

/// `clusters` Gaussian clusters of `size` points in `d` dimensions (unit noise, centres with
/// standard deviation `spread`); labels are the cluster indices.
fn mixture(
    rng: &mut Rng,
    clusters: usize,
    size: usize,
    d: usize,
    spread: f64,
) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
    let centres: Vec<f32> = (0..clusters * d)
        .map(|_| (rng.normal() * spread) as f32)
        .collect();
    let mut x = Vec::with_capacity(clusters * size * d);
    let mut labels = Vec::with_capacity(clusters * size);
    for c in 0..clusters {
        for _ in 0..size {
            x.extend((0..d).map(|f| centres[c * d + f] + rng.normal() as f32));
            labels.push(c as u32);
        }
    }
    (x, centres, labels)
}

/// Largest extent of a 2-D layout.
fn span(y: &[f32]) -> f32 {
    let mut lo = [f32::INFINITY; 2];
    let mut hi = [f32::NEG_INFINITY; 2];
    for p in y.chunks_exact(2) {
        for c in 0..2 {
            lo[c] = lo[c].min(p[c]);
            hi[c] = hi[c].max(p[c]);
        }
    }
    (hi[0] - lo[0]).max(hi[1] - lo[1])
}

/// The largest span over a run's checks (every 50 iterations) up to iteration `until`, and the
/// run's final positions.
fn run_spans(x: &[f32], n: usize, d: usize, config: &TsneConfig, until: usize) -> (f32, Vec<f32>) {
    let config = TsneConfig {
        snapshot_positions: true,
        ..config.clone()
    };
    let mut widest = 0f32;
    let e = tsne::fit_with(gpu(), x, n, d, &config, &mut |p| {
        if p.iteration <= until {
            widest = widest.max(span(p.positions.unwrap()));
        }
        Ok(())
    })
    .unwrap();
    (widest, e.y)
}

/// A cluster's centre is the nearest neighbour of nearly all its points in 50-D (they lie at
/// distance² ≈ 50 from it and ≈ 100 from each other), so its row of P sums to ~150 / N, and the
/// learning rate N / (4 α) moves it ~150 times too far: without a cap on the step the four hubs
/// are thrown hundreds of units out while their clusters are a few units wide (the map's span
/// grows 10-50 times, and with it the FFT grid), as 64,000 real sentence embeddings did. With
/// openTSNE's cap of 5 units a step the map stays compact and each hub ends inside its cluster.
#[test]
fn hubs_stay_in_their_clusters_with_the_step_cap() {
    let mut rng = Rng::new(40);
    let (clusters, size, d) = (4, 1000, 50);
    let (mut x, centres, mut labels) = mixture(&mut rng, clusters, size, d, 3.0);
    x.extend_from_slice(&centres);
    labels.extend(0..clusters as u32);
    let n = clusters * size + clusters;
    let config = |iterations, max_step| TsneConfig {
        iterations,
        max_step,
        ..TsneConfig::default()
    };
    // The spans over the first 100 iterations (early exaggeration keeps each cluster a few
    // units wide).
    let (free, _) = run_spans(&x, n, d, &config(100, None), 100);
    let (capped, y) = run_spans(&x, n, d, &config(300, Some(5.0)), 100);
    eprintln!("largest span of the first 100 iterations: {free} without the cap, {capped} with it");
    assert!(
        free > 10.0 * capped,
        "span {free} uncapped, {capped} capped"
    );
    // Each hub's 10 nearest points in the map are its own cluster's.
    for h in 0..clusters {
        let i = clusters * size + h;
        let mut near: Vec<(f32, usize)> = (0..clusters * size)
            .map(|j| {
                let dx = y[2 * i] - y[2 * j];
                let dy = y[2 * i + 1] - y[2 * j + 1];
                (dx * dx + dy * dy, j)
            })
            .collect();
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        let own = near[..10]
            .iter()
            .filter(|e| labels[e.1] == h as u32)
            .count();
        assert_eq!(
            own, 10,
            "hub {h}: {own} of its 10 nearest are its cluster's"
        );
    }
}

/// Copies: 6 points with 40 exact copies each (more than the perplexity, so their rows of P
/// cannot reach its entropy), 6 with 40 copies jittered by 1e-6, and 500 identical rows, in a
/// mixture of 3,000 points. The run ends (no NaN in P), each group of copies lands in one spot
/// (within 1% of the map's span), and the clusters stay apart.
#[test]
fn copies_and_near_copies_land_together() {
    let gpu = gpu();
    let mut rng = Rng::new(41);
    let d = 20;
    let (mut x, _, labels) = mixture(&mut rng, 10, 300, d, 4.0);
    let n = labels.len();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut next = 0;
    for g in 0..13 {
        let copies = if g == 12 { 500 } else { 40 };
        let original = next;
        let members: Vec<usize> = (next..next + copies).collect();
        for &i in &members[1..] {
            for f in 0..d {
                let jitter = if (6..12).contains(&g) {
                    1e-6 * rng.normal() as f32
                } else {
                    0.0
                };
                x[i * d + f] = x[original * d + f] + jitter;
            }
        }
        next += copies;
        groups.push(members);
    }
    let mut labels = labels;
    for members in &groups {
        for &i in members {
            labels[i] = labels[members[0]];
        }
    }
    let config = TsneConfig {
        iterations: 500,
        ..TsneConfig::default()
    };
    let e = tsne::fit(gpu, &x, n, d, &config).unwrap();
    assert!(e.kl.is_finite() && e.y.iter().all(|v| v.is_finite()));
    let whole = span(&e.y);
    for (g, members) in groups.iter().enumerate() {
        let part: Vec<f32> = members
            .iter()
            .flat_map(|&i| [e.y[2 * i], e.y[2 * i + 1]])
            .collect();
        let spread = span(&part);
        assert!(
            spread <= 0.01 * whole,
            "group {g} of {} copies spreads over {spread} of {whole}",
            members.len()
        );
    }
    let acc = metrics::knn_accuracy(&e.y, n, 2, &labels, 10).unwrap();
    eprintln!("copies: KL {}, 10-NN accuracy {acc}, span {whole}", e.kl);
    assert!(acc >= 0.95, "10-NN accuracy {acc}");
}

/// t-SNE does not depend on the input's scale: scaled by powers of two (2^-70, 2^64) the input
/// gives the same embedding bit for bit, and at scales whose squared distances leave f32's range
/// (1e-20, 1e19, 1e30) it runs and separates the clusters as well, on the FFT and exact paths.
#[test]
fn any_input_scale_embeds_alike() {
    let gpu = gpu();
    let mut rng = Rng::new(42);
    let d = 30;
    for (clusters, size, method) in [(8, 250, Method::Fft), (4, 100, Method::Exact)] {
        let (x, _, labels) = mixture(&mut rng, clusters, size, d, 4.0);
        let n = labels.len();
        let config = TsneConfig {
            iterations: 400,
            method,
            ..TsneConfig::default()
        };
        let scaled = |s: f64| -> Vec<f32> { x.iter().map(|&v| (v as f64 * s) as f32).collect() };
        let base = tsne::fit(gpu, &x, n, d, &config).unwrap();
        let base_acc = metrics::knn_accuracy(&base.y, n, 2, &labels, 10).unwrap();
        for s in [2f64.powi(-70), 2f64.powi(64)] {
            let e = tsne::fit(gpu, &scaled(s), n, d, &config).unwrap();
            assert_eq!(e.y, base.y, "{method:?}: scale {s:e} changed the embedding");
        }
        for s in [1e-20, 1e19, 1e30] {
            let e = tsne::fit(gpu, &scaled(s), n, d, &config).unwrap();
            let acc = metrics::knn_accuracy(&e.y, n, 2, &labels, 10).unwrap();
            eprintln!(
                "{method:?} scale {s:e}: KL {} (1: {}), accuracy {acc} (1: {base_acc})",
                e.kl, base.kl
            );
            assert!(e.kl.is_finite() && (e.kl - base.kl).abs() <= 0.02 * base.kl);
            assert!(
                acc >= base_acc - 0.01,
                "scale {s:e}: accuracy {acc} against {base_acc}"
            );
        }
    }
}

/// The kNN search itself, handed points whose squared distances overflow f32 (what `fit` no
/// longer does, having scaled them): no panic, and the affinities refuse the graph with an
/// error that names the cause.
#[test]
fn overflowing_distances_are_an_error_not_a_panic() {
    let gpu = gpu();
    let mut rng = Rng::new(43);
    let (x, _, _) = mixture(&mut rng, 3, 40, 8, 4.0);
    let n = x.len() / 8;
    let huge: Vec<f32> = x.iter().map(|v| v * 1e20).collect();
    let knn = knn::exact::search(gpu, &huge, n, 8, 10).unwrap();
    let err = tsne::affinity::sparse_p(gpu, &knn, 3.0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("beyond f32's range"), "{err}");
}

/// The batch schedule: a phase starts with one iteration, a batch after which the grid changed
/// is followed by one a quarter as long, one after which it fitted by one twice as long, up to
/// 50; batches end at every check (multiples of 50) and at the phase's end.
#[test]
fn batches_shrink_while_the_grid_changes() {
    use tsne::optimize::Batches;
    let mut b = Batches::new(250, 750);
    let mut t = 0;
    let mut ends = Vec::new();
    // The grid changes after the batches ending at 31 and 251..=253 (a fast-growing map).
    while t < 400 {
        let end = b.end(t);
        ends.push(end);
        b.after(matches!(end, 31 | 251..=253));
        t = end;
    }
    assert_eq!(
        ends,
        [
            1, 3, 7, 15, 31, 35, 43, 50, 82, 100, 150, 200, 250, 251, 252, 253, 254, 256, 260, 268,
            284, 300, 350, 400
        ]
    );
}

/// A map that spreads fast: 20,000 points of a 2-D Gaussian cloud with their own P, started
/// shrunk a thousandfold, in the late phase (learning rate N / 4). Within 50 iterations the map
/// grows hundreds of times, as text embeddings do after early exaggeration (20,000 of them
/// from 3 to 50 units); on the grid sized for the start (8 intervals, its dense middle too crowded for the
/// near field, so plain interpolation over ever wider intervals) the forces go wrong (for the
/// text: force errors of 8% after 10 iterations, 100% after 15) and KL ends twice as high as a
/// run whose grid is re-sized at every iteration. The optimizer's own schedule follows that run.
#[test]
fn a_fast_spreading_map_keeps_an_accurate_grid() {
    use latentviz::tsne::optimize::{self, Affinities, KlCheck, Optimizer, Schedule};
    let gpu = gpu();
    let mut rng = Rng::new(44);
    let n = 20_000;
    // A 2-D Gaussian cloud and its own perplexity-30 P: it embeds as one wide disc, densest in
    // the middle (more points in a 3 x 3 neighbourhood of boxes than the near field takes).
    let x: Vec<f32> = (0..2 * n).map(|_| rng.normal() as f32).collect();
    let knn = knn::exact::search(gpu, &x, n, 2, 90).unwrap();
    let p = tsne::affinity::sparse_p(gpu, &knn, 30.0).unwrap();
    // The disc shrunk a thousandfold, as early exaggeration leaves a map without clusters.
    let y0: Vec<f32> = x.iter().map(|v| v * 1e-3).collect();
    let schedule = Schedule::new(12.0, tsne::LearningRates::constant(n as f32 / 4.0));
    let iterations = 50;
    let kl_after = |batches: &[usize]| -> (f64, f32) {
        let mut opt = Optimizer::new(
            gpu,
            &Affinities::Sparse(p.clone()),
            &y0,
            n,
            2,
            &schedule,
            true,
        )
        .unwrap();
        for &b in batches {
            opt.run_iterations(gpu, b, false, false, KlCheck::Skip)
                .unwrap();
            opt.refresh(gpu).unwrap();
        }
        opt.run_iterations(gpu, 0, false, false, KlCheck::End)
            .unwrap();
        (
            opt.read_kl(gpu).unwrap().0,
            span(&opt.positions(gpu).unwrap()),
        )
    };
    let (fresh, spread) = kl_after(&[1; 50]);
    let (stale, _) = kl_after(&[iterations]);
    let config = TsneConfig {
        iterations,
        exaggeration_iterations: 0,
        ..TsneConfig::default()
    };
    let run = optimize::optimize(
        gpu,
        &Affinities::Sparse(p.clone()),
        &y0,
        n,
        &config,
        &schedule,
        true,
        &mut |_| Ok(()),
    )
    .unwrap();
    eprintln!(
        "KL after {iterations} iterations: grid re-sized every iteration {fresh:.4} (span {spread}), \
         once {stale:.4}, the optimizer's schedule {:.4}",
        run.kl
    );
    assert!(spread > 10.0 * span(&y0), "the map spread to {spread} only");
    assert!(
        stale > 1.05 * fresh,
        "a stale grid should cost: {stale} vs {fresh}"
    );
    assert!(
        (run.kl as f64 - fresh).abs() <= 0.01 * fresh,
        "{} vs {fresh}",
        run.kl
    );
}
