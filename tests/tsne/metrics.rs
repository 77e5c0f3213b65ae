//! Embedding quality measures (`tsne::metrics`).

use latentviz::rng::Rng;
use latentviz::tsne::metrics;

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
