//! Where t-SNE's time goes at N points: the kNN / affinity phase dispatch by dispatch (one distance
//! block, scaled to all blocks), then every dispatch of one optimisation iteration (FFT repulsion
//! for N > 1,000, exact below), each timed on its own with `gpu::Timer`.
//! `cargo run --release --example profile_tsne -- [N] [--mnist DIR] [--full-knn | --synthetic-p]
//! [--y Y.npy]`
//! Above 20,000 points (or always with `--synthetic-p`) the full kNN search is skipped unless
//! `--full-knn`; the iteration then uses a synthetic same-cluster kNN graph (as benches/tsne.rs).
//! Synthetic clustered Gaussians in 50-D unless `--mnist DIR` (then the first N training+test
//! images, PCA-50). `--y` times the iteration at a saved embedding of the same N points (a
//! `latentviz tsne --snapshots` file, in input order) instead of the synthetic layout.
use std::time::Instant;

use latentviz::gpu::{Dispatch, Timer};
use latentviz::tsne::{self, affinity, init, optimize};
use latentviz::{knn, pca};

fn row(label: &str, seconds: f64, total: f64, flops: f64) {
    let rate = if flops > 0.0 {
        format!("{:>7.2} GFLOP/s", flops / seconds / 1e9)
    } else {
        " ".repeat(15)
    };
    println!(
        "{:>10.3} ms {:>5.1}%  {rate}  {label}",
        seconds * 1e3,
        100.0 * seconds / total
    );
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args
        .iter()
        .find(|a| !a.starts_with("--") && a.parse::<usize>().is_ok())
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let mnist = args
        .iter()
        .position(|a| a == "--mnist")
        .and_then(|i| args.get(i + 1).cloned());
    let full_knn_max = if args.iter().any(|a| a == "--full-knn") {
        usize::MAX
    } else if args.iter().any(|a| a == "--synthetic-p") {
        0
    } else {
        20_000
    };
    let gpu = latentviz::Gpu::new(&Default::default())?;
    let d = 50;
    let (x, labels) = match &mnist {
        Some(dir) => {
            let job = latentviz::app::tsne_job::TsneJob {
                mnist: Some(dir.into()),
                split: latentviz::app::tsne_job::Split::All,
                subset: Some(n),
                ..latentviz::app::tsne_job::TsneJob::new("/dev/null")
            };
            let (raw, labels) = latentviz::app::tsne_job::load_for_tests(&job)?;
            let t = Instant::now();
            let p = pca::pca(&gpu, &raw, n, 784, d, 0)?;
            println!(
                "PCA 784 → {d} of {n} images: {:.3} s",
                t.elapsed().as_secs_f64()
            );
            (p.projected, labels)
        }
        None => init::synthetic_clusters(n, d, 10, 0),
    };
    let k = tsne::neighbours_for(30.0, n);
    println!("{} — N = {n}, d = {d}, k = {k}", gpu.describe());
    let timer = Timer::new(&gpu);

    // kNN phase: one block's dispatches, timed alone.
    let plan = knn::ExactPlan::new(&gpu, &x, n, d, k)?;
    let blocks = plan.blocks();
    let first = plan.block_dispatches(&gpu, 0)?;
    let mut parts = Vec::new();
    for d in &first {
        let t = timer.time(&d.label, &[d], 1)?;
        parts.push((
            d.label.clone(),
            t.seconds * blocks as f64,
            d.flops * blocks as f64,
        ));
    }
    let p = if n <= full_knn_max {
        let t = Instant::now();
        let knn = knn::exact::search(&gpu, &x, n, d, k)?;
        let knn_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let cond = affinity::conditional_p(&gpu, &knn, 30.0)?;
        let perplexity_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let p = affinity::symmetrize_knn(n, k, &knn.index, &cond);
        let sym_s = t.elapsed().as_secs_f64();
        println!(
            "\nkNN phase ({blocks} blocks of {} rows): knn() {knn_s:.3} s wall, perplexity \
             {perplexity_s:.3} s, symmetrise (CPU) {sym_s:.3} s; per dispatch, all blocks:",
            plan.block_rows()
        );
        p
    } else {
        // The whole search would take minutes: the first block's dispatches, scaled, and a
        // synthetic kNN graph for the iteration.
        let (index, cond) = init::synthetic_knn(&labels, k, 0);
        let t = Instant::now();
        let p = affinity::symmetrize_knn(n, k, &index, &cond);
        println!(
            "\nkNN phase ({blocks} blocks of {} rows; search skipped, \
             P from a synthetic same-cluster kNN graph, symmetrise (CPU) {:.3} s); per dispatch, \
             all blocks:",
            plan.block_rows(),
            t.elapsed().as_secs_f64()
        );
        p
    };
    let longest = p.row_ptr.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    let packing = tsne::gradient::EntryPacking::for_rows(n)?;
    let ell = tsne::gradient::sliced_ell(&p, packing).words.len();
    println!(
        "P: {} entries ({:.1} per row, longest row {longest}), {ell} in the sliced-ELL layout",
        p.col.len(),
        p.col.len() as f64 / n as f64
    );
    let total: f64 = parts.iter().map(|p| p.1).sum();
    for (label, s, f) in &parts {
        row(label, *s, total, *f);
    }

    // One optimisation iteration.
    let fft = n > tsne::AUTO_EXACT_MAX_N;
    let y0 = match args
        .iter()
        .position(|a| a == "--y")
        .and_then(|i| args.get(i + 1))
    {
        Some(path) => {
            let (rows, cols, y) = latentviz::data::npy::read_f32_2d(std::path::Path::new(path))?;
            anyhow::ensure!(
                rows == n && cols == 2,
                "{path} holds {rows} × {cols} positions, not {n} × 2"
            );
            y
        }
        None => init::synthetic_layout(&labels, 0),
    };
    let lr = tsne::auto_learning_rate(n, 12.0);
    let mut opt = optimize::Optimizer::new(
        &gpu,
        &optimize::Affinities::Sparse(p),
        &y0,
        n,
        2,
        &optimize::Schedule::new(12.0, lr),
        fft,
    )?;
    opt.size_grid_for(&gpu, &y0)?;
    // A batch as the optimiser submits it first, while the positions are still y0 (the per-dispatch
    // timings below repeat the update step, which moves them).
    let t = Instant::now();
    opt.run_iterations(&gpu, 50, false, false, optimize::KlCheck::LastStep)?;
    let batch = t.elapsed().as_secs_f64();
    opt.size_grid_for(&gpu, &y0)?;
    let one: Vec<&Dispatch> = opt.iteration(false);
    let reps = if n > 20_000 { 3 } else { 10 };
    let whole = timer.time("iteration", &one, reps)?.seconds;
    let mut times = Vec::new();
    for d in &one {
        // Each dispatch at y0, so those after the update step see the positions a run would.
        opt.set_positions(&gpu, &y0)?;
        let t = timer.time(&d.label, &[*d], reps)?;
        times.push((d.label.clone(), t.seconds, d.flops));
    }
    let sum: f64 = times.iter().map(|t| t.1).sum();
    println!(
        "\none iteration ({}): {:.3} ms in one pass (sum of parts {:.3} ms)",
        if fft {
            "FFT repulsion"
        } else {
            "exact repulsion"
        },
        whole * 1e3,
        sum * 1e3
    );
    for (label, s, f) in &times {
        row(label, *s, sum, *f);
    }
    println!(
        "50 iterations (late phase) + a KL check as the optimiser submits them, from y0: \
         {:.3} ms per iteration",
        batch * 1e3 / 50.0
    );
    Ok(())
}
