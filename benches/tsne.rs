//! criterion benchmarks of one t-SNE optimisation iteration (repulsion, Z, attraction, update,
//! recentring: one command buffer, submitted and waited for) at N = 1,000 (exact method: dense P,
//! O(N²) repulsion), 10,000 and 70,000 (sparse P, FFT-interpolated repulsion).
//!
//! Synthetic data, so no files are needed: 10 clusters; the embedding is a mid-run-sized layout
//! (`tsne::init::synthetic_layout`, so the FFT grid has a realistic size); the dense P comes from
//! clustered Gaussians in 50-D through the real affinity code, and the sparse P from a kNN graph of
//! k = 90 random same-cluster neighbours per point with uniform p_{j|i}, symmetrised by the real
//! code (the row lengths of a real kNN P at perplexity 30, without the minutes a brute-force kNN of
//! 70,000 points takes on a CPU driver).
//! `LATENTVIZ_TSNE_BENCH_N=1000,10000` picks the sizes (default 1000,10000,70000).
//! Each sample re-uploads the layout first, so the iterations measured all start from it.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use latentviz::Gpu;
use latentviz::tsne::optimize::{Affinities, KlCheck, Optimizer, Schedule};
use latentviz::tsne::{self, affinity, init};

const CLUSTERS: usize = 10;
const K: usize = 90;

fn sizes() -> Vec<usize> {
    std::env::var("LATENTVIZ_TSNE_BENCH_N")
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1_000, 10_000, 70_000])
}

/// k random other points of the same cluster per point, p_{j|i} = 1/k, symmetrised.
fn synthetic_sparse_p(labels: &[u32], seed: u64) -> affinity::SparseP {
    let (index, cond) = init::synthetic_knn(labels, K, seed);
    affinity::symmetrize_knn(labels.len(), K, &index, &cond)
}

fn iteration(c: &mut Criterion) {
    let gpu = Gpu::new(&Default::default()).expect("an adapter");
    let mut group = c.benchmark_group("tsne_iteration");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for n in sizes() {
        let exact = n <= tsne::AUTO_EXACT_MAX_N;
        let (_, labels) = init::synthetic_clusters(n, 1, CLUSTERS, 1);
        let affinities = if exact {
            let (x, _) = init::synthetic_clusters(n, 50, CLUSTERS, 1);
            Affinities::Dense(affinity::dense_p(&gpu, &x, n, 50, 30.0).expect("dense P"))
        } else {
            Affinities::Sparse(synthetic_sparse_p(&labels, 2))
        };
        let y0 = init::synthetic_layout(&labels, 3);
        let lr = tsne::auto_learning_rate(n, 12.0);
        let mut opt = Optimizer::new(
            &gpu,
            &affinities,
            &y0,
            n,
            2,
            &Schedule::new(12.0, lr),
            !exact,
        )
        .expect("optimizer");
        opt.size_grid_for(&gpu, &y0).expect("grid sized");
        let name = format!("{} n={n}", if exact { "exact" } else { "fft" });
        // Every sample starts from the same layout (an upload of n × 2 f32, small next to an
        // iteration), so the timing does not drift with the embedding.
        group.bench_function(&name, |b| {
            b.iter(|| {
                opt.set_positions(&gpu, &y0).expect("positions");
                opt.run_iterations(&gpu, 1, false, false, KlCheck::Skip)
                    .expect("iteration runs")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, iteration);
criterion_main!(benches);
