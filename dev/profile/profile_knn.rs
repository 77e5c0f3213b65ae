//! The exact kNN search at N points of 50 features (uniform random in [-1, 1] unless
//! `--clusters`; `--mnist DIR`: the first N images of MNIST, PCA to 50): one block of the search as `ExactPlan` runs it, with the subgroup scan (unless
//! `--no-old`) and then with uniform column tiles where they fit, against one block of the dense
//! path (a distance block by `sqdist_block`, then `topk_rows`, as the search ran before the fused
//! scan; unless `--no-dense`), all timed (wall and process CPU seconds) in the same run and scaled
//! to all N rows. `--split` also splits each block's CPU seconds into its first chunk, later scans,
//! later inserts and sort; `--shapes` times the scans alone in the steady state (the subgroup scan
//! against uniform-tile shapes); `--parts` times each dispatch of a block; `--full` also runs the
//! whole search (`knn::exact::search`) and reports its wall and CPU time. `--clustered` runs the
//! clustered search alone (`knn::clustered::search`, `--probes M --votes V --size S` for its
//! options), and with `--full` its recall against the exact neighbours. `--npy FILE` reads the
//! points (n × 50 f32) instead; `--save FILE` writes them (to skip MNIST's PCA next time).
//! `cargo run --release --example profile_knn -- [N] [--k K] [--clusters | --mnist DIR | --npy FILE]
//! [--full] [--no-dense] [--no-old] [--split] [--shapes] [--parts] [--clustered]`
use std::time::Instant;

use latentviz::rng::Rng;
use latentviz::tsne::init;
use latentviz::{knn, pca};

use latentviz::app::bench::cpu_seconds;

/// Wall and CPU seconds of one run of `dispatches` (after a warm-up run that compiles them).
fn time_cpu(
    gpu: &latentviz::Gpu,
    dispatches: &[&latentviz::gpu::Dispatch],
) -> anyhow::Result<(f64, f64)> {
    gpu.run("warm-up", dispatches)?;
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    gpu.run("timed", dispatches)?;
    Ok((wall.elapsed().as_secs_f64(), cpu_seconds() - cpu))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|s| s.parse::<usize>())
            .transpose()
    };
    let n: usize = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(70_000);
    let k = value("--k")?.unwrap_or(90);
    let d = 50;
    let mnist = args
        .iter()
        .position(|a| a == "--mnist")
        .and_then(|i| args.get(i + 1));
    let gpu = latentviz::Gpu::new(&Default::default())?;
    let npy = args
        .iter()
        .position(|a| a == "--npy")
        .and_then(|i| args.get(i + 1));
    let x = if let Some(file) = npy {
        let (rows, cols, x) = latentviz::data::npy::read_f32_2d(std::path::Path::new(file))?;
        anyhow::ensure!(cols == d, "{file}: {rows} × {cols}, not n × {d}");
        x[..n.min(rows) * d].to_vec()
    } else if let Some(dir) = mnist {
        // The first N images of MNIST (train then test), PCA to 50 (as `latentviz tsne --pca 50`).
        let all = latentviz::data::mnist::load(
            std::path::Path::new(dir),
            latentviz::data::mnist::Split::All,
        )?;
        let images = all.subset(n.min(all.len()));
        let px = images.pixels();
        pca::pca(&gpu, &images.images, images.len(), px, d, 0)?.projected
    } else if flag("--clusters") {
        init::synthetic_clusters(n, d, 10, 0).0
    } else {
        Rng::new(7).vec(n * d, -1.0, 1.0)
    };
    let n = x.len() / d;
    println!("{} — N = {n}, d = {d}, k = {k}", gpu.describe());
    if let Some(i) = args.iter().position(|a| a == "--save") {
        let file = args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("--save FILE"))?;
        latentviz::data::npy::write_f32_2d(std::path::Path::new(file), n, d, &x)?;
    }
    if flag("--clustered") {
        return clustered(&gpu, &x, n, d, k, flag("--full"), &value);
    }

    // The subgroup scan first (unless --no-old), then the plan's own (uniform tiles where they
    // fit), each its block 0, so the two read side by side.
    let mut per_row_cpu = Vec::new();
    for uniform in [false, true] {
        if !uniform && flag("--no-old") {
            continue;
        }
        let plan = knn::ExactPlan::with_scan(&gpu, &x, n, d, k, None, uniform)?;
        let blocks = plan.block_dispatches(&gpu, 0)?;
        let (wall, cpu) = time_cpu(&gpu, &blocks.iter().collect::<Vec<_>>())?;
        let rows = plan.block_rows();
        let scans = blocks.iter().filter(|d| d.label.contains("scan")).count();
        let inserts = blocks.iter().filter(|d| d.label.contains("insert")).count();
        let kind = plan
            .uniform_tile_cols()
            .map_or("subgroup scan".to_string(), |t| {
                format!("uniform {t}-column tiles")
            });
        println!(
            "KnnPlan block ({kind}): {rows} rows, {} dispatches ({scans} scans, {inserts} \
             chunks): {wall:.3} s wall, {cpu:.2} s CPU; per row {:.3} ms wall, {:.3} ms CPU; \
             projected search {:.1} s wall, {:.1} s CPU",
            blocks.len(),
            wall / rows as f64 * 1e3,
            cpu / rows as f64 * 1e3,
            wall / rows as f64 * n as f64,
            cpu / rows as f64 * n as f64
        );
        per_row_cpu.push(cpu / rows as f64);
        if flag("--split") {
            // Again, one submit per run of scans or insert: CPU seconds of the first chunk's scan
            // and insert (every pair a candidate), the later scans and inserts, and the sort.
            let mut sums = [0f64; 5];
            let mut flops = 0f64;
            let mut i = 0;
            let mut chunk = 0;
            while i < blocks.len() {
                let kind = |d: &latentviz::gpu::Dispatch| {
                    if d.label.contains("scan") {
                        0
                    } else if d.label.contains("insert") {
                        1
                    } else {
                        2
                    }
                };
                let this = kind(&blocks[i]);
                let mut end = i + 1;
                while end < blocks.len() && this == 0 && kind(&blocks[end]) == 0 {
                    end += 1;
                }
                let group: Vec<_> = blocks[i..end].iter().collect();
                let start = cpu_seconds();
                gpu.run("split", &group)?;
                let spent = cpu_seconds() - start;
                let slot = match (this, chunk) {
                    (2, _) => 4,
                    (t, 0) => t,
                    (t, _) => 2 + t,
                };
                sums[slot] += spent;
                if this == 0 && chunk > 0 {
                    flops += group.iter().map(|d| d.flops).sum::<f64>();
                }
                if this == 1 {
                    chunk += 1;
                }
                i = end;
            }
            println!(
                "  CPU s: first chunk scan {:.2}, insert {:.2}; later scans {:.2} ({:.2} G pair \
                 x features per CPU s), inserts {:.2}; sort {:.2}",
                sums[0],
                sums[1],
                sums[2],
                flops / 3.0 / sums[2] / 1e9,
                sums[3],
                sums[4]
            );
        }
    }
    if let [old, new] = per_row_cpu[..] {
        println!("CPU per row, subgroup scan / this plan: {:.2}", old / new);
    }
    if flag("--shapes") {
        // The scans alone in the steady state: thresholds 0 (only a row's own pair passes), the
        // first 1,408 rows against the first 60 tiles of 256 columns (all of them when fewer),
        // the subgroup scan (chunks of 20 tiles) against uniform-tile shapes (row quads per
        // invocation, invocations per workgroup), four interleaved rounds, CPU seconds.
        let pts = knn::distances::upload_points(&gpu, &x, n, d)?;
        let tiles = knn::scan_uniform::upload_column_tiles(&gpu, &x, n, d)?
            .ok_or_else(|| anyhow::anyhow!("no uniform tile fits d = {d}"))?;
        let rows = 1408.min(n / 4 * 4);
        let (cols, cap) = (tiles.cols, 20 * tiles.cols);
        let kd = gpu.storage("thresholds 0", n * k);
        let count = gpu.storage("count", rows);
        let cand = gpu.storage("cand", 2 * rows * cap);
        let ntiles = 60.min(tiles.tiles);
        let nq = pts.n_pad / 4;
        let pair_features = (rows * ntiles * cols * d) as f64;
        for round in 0..4 {
            let old = (0..ntiles.div_ceil(20))
                .map(|c| {
                    let q0 = c * 20 * cols / 4;
                    let q1 = (q0 + 20 * cols / 4).min(nq).min(ntiles * cols / 4);
                    knn::scan::knn_scan(
                        &gpu, &pts, 0, rows, q0, q1, k, false, &kd, &count, &cand, cap,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let (_, cpu) = time_cpu(&gpu, &old.iter().collect::<Vec<_>>())?;
            let mut line = format!(
                "round {round}, G pairs x features per CPU s: subgroup scan {:.2}",
                pair_features / cpu / 1e9
            );
            for shape in [(1, 8), (2, 8), (4, 8), (2, 32)] {
                let scans = (0..ntiles)
                    .map(|t| {
                        knn::scan_uniform::knn_scan_uniform(
                            &gpu, &pts, &tiles, 0, rows, t, k, false, &kd, &count, &cand, cap,
                            shape,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let (_, cpu) = time_cpu(&gpu, &scans.iter().collect::<Vec<_>>())?;
                line += &format!(", {}x{} {:.2}", shape.0, shape.1, pair_features / cpu / 1e9);
            }
            println!("{line}");
        }
    }
    if flag("--parts") {
        let plan = knn::ExactPlan::new(&gpu, &x, n, d, k)?;
        let first = plan.block_dispatches(&gpu, 0)?;
        // Each dispatch alone (wall time of one submit), after running the ones before it: the
        // heaps and thresholds it sees are the block's own.
        let all = first.iter().collect::<Vec<_>>();
        for (i, dispatch) in first.iter().enumerate() {
            gpu.run("kNN block prefix", &all[..i])?;
            let start = Instant::now();
            gpu.run(&dispatch.label, &[dispatch])?;
            println!(
                "{:>10.3} ms  {}",
                start.elapsed().as_secs_f64() * 1e3,
                dispatch.label
            );
        }
    }
    if !flag("--no-dense") {
        // The dense path: a 224-row block (what 64 MiB held at N = 70,000) of distances, then a
        // top-k over it.
        let pts = knn::distances::upload_points(&gpu, &x, n, d)?;
        let rows = 224.min(n / 16 * 16).max(16).min(n);
        let ld = pts.n_pad;
        let dist = gpu.storage("dense block", rows * ld);
        let index = gpu.storage("index", n * k);
        let kd = gpu.storage("kd", n * k);
        let sq = knn::distances::sqdist_block(&gpu, &pts, 0, rows, ld, &dist)?;
        let topk = knn::topk::topk_rows(&gpu, &dist, n, ld, 0, rows, k, &index, &kd)?;
        let (sq_wall, sq_cpu) = time_cpu(&gpu, &[&sq])?;
        let (topk_wall, topk_cpu) = time_cpu(&gpu, &topk.iter().collect::<Vec<_>>())?;
        let (wall, cpu) = (sq_wall + topk_wall, sq_cpu + topk_cpu);
        println!(
            "dense block: {rows} rows: distances {sq_wall:.3} s wall ({:.2} GFLOP/s), {sq_cpu:.2} s \
             CPU; top-k {topk_wall:.3} s wall, {topk_cpu:.2} s CPU; per row {:.3} ms wall, {:.3} ms \
             CPU; projected search {:.1} s wall",
            sq.flops / sq_wall / 1e9,
            wall / rows as f64 * 1e3,
            cpu / rows as f64 * 1e3,
            wall / rows as f64 * n as f64
        );
    }
    if flag("--full") {
        let (start, cpu) = (Instant::now(), cpu_seconds());
        let knn = knn::exact::search(&gpu, &x, n, d, k)?;
        println!(
            "knn(): {:.1} s wall, {:.1} s CPU ({} neighbours)",
            start.elapsed().as_secs_f64(),
            cpu_seconds() - cpu,
            knn.index.len()
        );
    }
    Ok(())
}

/// The clustered search, timed; with `full`, its recall against the exact search.
fn clustered(
    gpu: &latentviz::Gpu,
    x: &[f32],
    n: usize,
    d: usize,
    k: usize,
    full: bool,
    value: &dyn Fn(&str) -> Result<Option<usize>, std::num::ParseIntError>,
) -> anyhow::Result<()> {
    use latentviz::knn::{ClusteredPlan, ClusteredSearch};
    let defaults = ClusteredSearch::default();
    let search = ClusteredSearch {
        probes: value("--probes")?.unwrap_or(defaults.probes),
        min_votes: value("--votes")?.unwrap_or(defaults.min_votes),
        cluster_size: value("--size")?.unwrap_or(defaults.cluster_size),
        kmeans_iterations: value("--iterations")?.unwrap_or(defaults.kmeans_iterations),
        kmeans_sample: value("--sample")?.unwrap_or(defaults.kmeans_sample),
        ..defaults
    };
    if let Some(b) = value("--block")? {
        // One block's dispatches, each timed alone after those before it (its heaps and
        // thresholds are the block's own).
        let plan = ClusteredPlan::new(gpu, x, n, d, k, &search)?;
        let dispatches = plan.block_dispatches(gpu, b)?;
        let all = dispatches.iter().collect::<Vec<_>>();
        gpu.run("warm-up", &all)?;
        let (mut scans, mut inserts) = (0.0, 0.0);
        for (i, dispatch) in dispatches.iter().enumerate() {
            gpu.run("block prefix", &all[..i])?;
            let start = Instant::now();
            gpu.run(&dispatch.label, &[dispatch])?;
            let s = start.elapsed().as_secs_f64();
            if dispatch.label.contains("insert") {
                println!("  insert after dispatch {i}: {:.2} ms", s * 1e3);
                inserts += s;
            } else {
                scans += s;
            }
        }
        let (start, cpu) = (Instant::now(), cpu_seconds());
        gpu.run("block", &all)?;
        println!(
            "block {b}: {} dispatches, alone: scans {:.1} ms, inserts {:.1} ms; together {:.1} ms \
             wall, {:.1} ms CPU",
            dispatches.len(),
            scans * 1e3,
            inserts * 1e3,
            start.elapsed().as_secs_f64() * 1e3,
            (cpu_seconds() - cpu) * 1e3
        );
        return Ok(());
    }
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let found = knn::clustered::search(gpu, x, n, d, k, &search)?;
    println!(
        "knn::clustered {search:?}: {:.2} s wall (k-means {:.2}, nearest centroids and layout \
         {:.2}, search {:.2}), {:.1} s CPU; {} clusters, {:.0} columns per row ({:.1}× fewer \
         than exact)",
        start.elapsed().as_secs_f64(),
        found.kmeans_s,
        found.prepare_s,
        found.search_s,
        cpu_seconds() - cpu,
        found.clusters,
        found.columns_per_row,
        n as f64 / found.columns_per_row
    );
    if let Some(file) = std::env::args().skip_while(|a| a != "--save-index").nth(1) {
        let index: Vec<f32> = found.knn.index.iter().map(|&j| j as f32).collect();
        latentviz::data::npy::write_f32_2d(std::path::Path::new(&file), n, k, &index)?;
    }
    if full {
        let (start, cpu) = (Instant::now(), cpu_seconds());
        let exact = knn::exact::search(gpu, x, n, d, k)?;
        println!(
            "knn(): {:.1} s wall, {:.1} s CPU",
            start.elapsed().as_secs_f64(),
            cpu_seconds() - cpu
        );
        let mut hits = 0usize;
        for i in 0..n {
            let truth = &exact.index[i * k..(i + 1) * k];
            hits += found.knn.index[i * k..(i + 1) * k]
                .iter()
                .filter(|j| truth.contains(j))
                .count();
        }
        println!("recall {:.4}", hits as f64 / (n * k) as f64);
    }
    Ok(())
}
