//! The clustered kNN search (`knn::clustered`): the nearest-centroid scan against the CPU,
//! k-means deterministic and lowering its objective, the layout and block tile lists, the search
//! made exact by probing every cluster (identical to the exact search), its recall on real data
//! (MNIST, PCA 50), and its errors.

use crate::common::gpu;
use latentviz::knn::clustered::{
    self, ClusteredSearch, Layout, ROW_BLOCK, kmeans, nearest_centroids,
};
use latentviz::rng::Rng;
use latentviz::tsne::{KnnSearch, init, resolve_knn};
use latentviz::{knn, pca};

const MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/mnist");

fn sqdist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum()
}

/// Σ over points of the squared distance to the nearest centroid.
fn inertia(x: &[f32], n: usize, d: usize, centroids: &[f32]) -> f64 {
    (0..n)
        .map(|i| {
            centroids
                .chunks(d)
                .map(|c| sqdist(&x[i * d..(i + 1) * d], c))
                .fold(f32::INFINITY, f32::min) as f64
        })
        .sum()
}

#[test]
fn nearest_centroids_match_the_cpu() {
    // 9 features (not a multiple of 4), 700 points (not a multiple of the 64-row workgroup),
    // 37 centroids in one partial tile or 150 in three (the first scanned alone, with no
    // threshold, the others below the m-th nearest so far), 4 nearest; and m = 1.
    let (n, d) = (700, 9);
    let mut rng = Rng::new(3);
    let x = rng.vec(n * d, -1.0, 1.0);
    let points = knn::distances::upload_points(gpu(), &x, n, d).unwrap();
    for (c, m) in [(37, 4), (37, 1), (150, 4), (150, 1)] {
        let centroids = rng.vec(c * d, -1.0, 1.0);
        let got = nearest_centroids(gpu(), &points, &centroids, c, m).unwrap();
        for i in 0..n {
            let mut want: Vec<(f32, u32)> = (0..c)
                .map(|j| {
                    let cj = &centroids[j * d..(j + 1) * d];
                    (sqdist(&x[i * d..(i + 1) * d], cj), j as u32)
                })
                .collect();
            want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            // The GPU sums in another order: compare the distances the two lists name, so a
            // near-tie swapped by rounding does not fail the test.
            for t in 0..m {
                let j = got[i * m + t] as usize;
                let dj = sqdist(&x[i * d..(i + 1) * d], &centroids[j * d..(j + 1) * d]);
                assert!(
                    (dj - want[t].0).abs() <= 1e-5 * (1.0 + want[t].0),
                    "point {i}, rank {t}: centroid {j} at {dj}, the CPU's rank {t} at {}",
                    want[t].0
                );
            }
        }
    }
}

#[test]
fn kmeans_is_deterministic_and_lowers_its_objective() {
    let (n, d) = (3_000, 6);
    let (x, _) = init::synthetic_clusters(n, d, 12, 5);
    let search = |iterations| ClusteredSearch {
        kmeans_iterations: iterations,
        kmeans_sample: 1_000,
        seed: 11,
        ..ClusteredSearch::default()
    };
    let start = kmeans(gpu(), &x, n, d, 12, &search(0)).unwrap();
    let a = kmeans(gpu(), &x, n, d, 12, &search(6)).unwrap();
    let b = kmeans(gpu(), &x, n, d, 12, &search(6)).unwrap();
    assert_eq!(a, b, "the same seed gave different centroids");
    let (before, after) = (inertia(&x, n, d, &start), inertia(&x, n, d, &a));
    assert!(
        after < 0.9 * before,
        "six Lloyd iterations left the objective at {after} (from {before})"
    );
    let other = kmeans(
        gpu(),
        &x,
        n,
        d,
        12,
        &ClusteredSearch {
            seed: 12,
            ..search(6)
        },
    )
    .unwrap();
    assert_ne!(a, other, "another seed gave the same centroids");
}

#[test]
fn layout_sorts_by_cluster_and_blocks_list_their_own_tiles_first() {
    // Near lists by hand: 1,000 points in 9 clusters (point i in cluster i % 9), each listing
    // its own cluster and the next two.
    let (n, m, clusters, d) = (1_000, 3, 9, 2);
    let near: Vec<u32> = (0..n)
        .flat_map(|i| (0..m).map(move |t| ((i + t) % clusters) as u32))
        .collect();
    let centroids: Vec<f32> = (0..clusters)
        .flat_map(|c| [c as f32, (c * c) as f32])
        .collect();
    let layout = Layout::new(&near, n, m, &centroids, clusters, d);
    let mut seen = layout.perm.clone();
    seen.sort_unstable();
    assert_eq!(seen, (0..n as u32).collect::<Vec<_>>(), "not a permutation");
    for c in 0..clusters {
        let (s, e) = layout.range[c];
        assert!(
            layout.perm[s..e]
                .iter()
                .all(|&i| i as usize % clusters == c)
        );
        assert!(layout.perm[s..e].windows(2).all(|w| w[0] < w[1]));
    }
    let (cols, k) = (64, 30);
    let blocks = layout.block_tiles(&near, m, 1, cols, k);
    assert_eq!(blocks.len(), n.div_ceil(ROW_BLOCK));
    for (b, list) in blocks.iter().enumerate() {
        let (r0, r1) = (b * ROW_BLOCK, ((b + 1) * ROW_BLOCK).min(n));
        let own: Vec<usize> = (r0 / cols..=(r1 - 1) / cols).collect();
        assert_eq!(&list[..own.len()], &own[..], "block {b}: own tiles first");
        let mut sorted = list.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), list.len(), "block {b}: a tile twice");
        // Every tile holding a listed cluster of a point in the block is there.
        for p in r0..r1 {
            let i = layout.perm[p] as usize;
            for &c in &near[i * m..(i + 1) * m] {
                let (s, e) = layout.range[c as usize];
                for t in s / cols..=(e - 1) / cols {
                    assert!(
                        list.contains(&t),
                        "block {b}: tile {t} of cluster {c} missing"
                    );
                }
            }
        }
    }
}

#[test]
fn probing_every_cluster_is_the_exact_search() {
    // 1,500 points in 10 Gaussian clusters, 13 features, k = 15; 15 k-means clusters, every one
    // probed: the same neighbours and the same distance bits as the exact search.
    let (n, d, k) = (1_500, 13, 15);
    let (x, _) = init::synthetic_clusters(n, d, 10, 2);
    let search = ClusteredSearch {
        cluster_size: 100,
        probes: 15,
        min_votes: 1,
        ..ClusteredSearch::default()
    };
    let got = clustered::search(gpu(), &x, n, d, k, &search).unwrap();
    assert_eq!(got.clusters, 15);
    assert!(got.columns_per_row >= n as f64 - 1.0);
    let exact = knn::exact::search(gpu(), &x, n, d, k).unwrap();
    assert_eq!(got.knn.dist, exact.dist, "distances differ");
    for i in 0..n {
        let mut a = got.knn.index[i * k..(i + 1) * k].to_vec();
        let mut b = exact.index[i * k..(i + 1) * k].to_vec();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "point {i}: different neighbours");
    }
}

#[test]
fn clustered_search_finds_mnist_neighbours() {
    // The first 10,000 MNIST test images, PCA to 50 (as `latentviz tsne` does), k = 90, the
    // default search (55 clusters): recall against the exact search, and every neighbour found
    // with its true distance, ascending, no self, no repeats. Measured: recall 0.9966 while
    // scanning 6,884 of 10,000 columns per row (at 70,000 images: 0.98 at 1/6 of the columns).
    let set = latentviz::data::mnist::load(
        std::path::Path::new(MNIST),
        latentviz::data::mnist::Split::Test,
    )
    .unwrap();
    let n = 10_000;
    let (d, k) = (50, 90);
    let px = set.pixels();
    let x = pca::pca(gpu(), &set.images[..n * px], n, px, d, 0)
        .unwrap()
        .projected;
    let got = clustered::search(gpu(), &x, n, d, k, &ClusteredSearch::default()).unwrap();
    let exact = knn::exact::search(gpu(), &x, n, d, k).unwrap();
    let mut hits = 0;
    for i in 0..n {
        let row = &got.knn.index[i * k..(i + 1) * k];
        let dist = &got.knn.dist[i * k..(i + 1) * k];
        let truth = &exact.index[i * k..(i + 1) * k];
        hits += row.iter().filter(|j| truth.contains(j)).count();
        assert!(!row.contains(&(i as u32)), "point {i} is its own neighbour");
        assert!(
            dist.windows(2).all(|w| w[0] <= w[1]),
            "point {i}: not ascending"
        );
        let mut unique = row.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), k, "point {i}: a neighbour twice");
        for (&j, &dj) in row.iter().zip(dist) {
            let j = j as usize;
            let want = sqdist(&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]);
            assert!(
                (dj - want).abs() <= 1e-4 * (1.0 + want),
                "point {i}: neighbour {j} at {dj}, truly {want}"
            );
        }
    }
    let recall = hits as f64 / (n * k) as f64;
    assert!(recall >= 0.98, "recall {recall:.4} below 0.98");
    assert!(
        got.columns_per_row < 0.8 * n as f64,
        "scanned {:.0} columns per row of {n}",
        got.columns_per_row
    );
}

#[test]
fn bad_requests_are_named() {
    let x = Rng::new(1).vec(200 * 4, -1.0, 1.0);
    let search = ClusteredSearch::default();
    let err = clustered::search(gpu(), &x, 200, 4, 200, &search).unwrap_err();
    assert!(err.to_string().contains("k = 200"), "{err}");
    let err = clustered::search(gpu(), &x[..10], 200, 4, 5, &search).unwrap_err();
    assert!(err.to_string().contains("200 × 4"), "{err}");
    let zero = ClusteredSearch {
        probes: 0,
        ..search
    };
    let err = clustered::search(gpu(), &x, 200, 4, 5, &zero).unwrap_err();
    assert!(err.to_string().contains("probe"), "{err}");
    // 300 features: not even 64 columns fit a 64 KiB uniform binding.
    if !clustered::supported(gpu(), 300) {
        let wide = Rng::new(2).vec(100 * 300, -1.0, 1.0);
        let err = clustered::search(gpu(), &wide, 100, 300, 5, &search).unwrap_err();
        assert!(err.to_string().contains("exact search"), "{err}");
    }
    // NaN never passes a distance threshold: named, not returned as neighbours.
    let mut bad = x.clone();
    for v in &mut bad[..4] {
        *v = f32::NAN;
    }
    assert!(clustered::search(gpu(), &bad, 200, 4, 5, &search).is_err());
}

#[test]
fn auto_clusters_only_large_inputs() {
    assert_eq!(
        resolve_knn(gpu(), KnnSearch::Auto, 1_000, 50),
        KnnSearch::Exact
    );
    assert_eq!(
        resolve_knn(gpu(), KnnSearch::Auto, 70_000, 50),
        KnnSearch::Clustered
    );
    assert_eq!(
        resolve_knn(gpu(), KnnSearch::Exact, 70_000, 50),
        KnnSearch::Exact
    );
    assert_eq!(
        resolve_knn(gpu(), KnnSearch::Clustered, 100, 50),
        KnnSearch::Clustered
    );
}
