//! Embedding quality: leave-one-out k-NN label accuracy (k = 10 by default), on the CPU.
//! Brute force in row chunks up to 10,000 points (or for 3-D); a uniform grid over the 2-D
//! embedding beyond, searched ring by ring until no closer point can remain.

use crate::error::{Error, Result};

/// Above this many points 2-D embeddings are searched through a grid.
pub const BRUTE_FORCE_MAX: usize = 10_000;

/// Fraction of points whose label equals the majority label of their k nearest other points
/// (ties between labels go to the smallest label; neighbours at equal distance to the smaller
/// index).
pub fn knn_accuracy(y: &[f32], n: usize, dims: usize, labels: &[u32], k: usize) -> Result<f32> {
    if dims == 0 || y.len() != n * dims || labels.len() != n {
        return Err(Error::shape(
            "knn_accuracy",
            format!(
                "{} values for {n} points × {dims}, {} labels",
                y.len(),
                labels.len()
            ),
        ));
    }
    if k == 0 || k >= n {
        return Err(Error::InvalidArgument(format!(
            "knn_accuracy needs 1 ≤ k < n, got k = {k}, n = {n}"
        )));
    }
    let neighbours = if dims == 2 && n > BRUTE_FORCE_MAX {
        grid_neighbours(y, n, k)
    } else {
        brute_neighbours(y, n, dims, k)
    };
    let classes = labels.iter().copied().max().unwrap_or(0) as usize + 1;
    let mut votes = vec![0u32; classes];
    let mut correct = 0usize;
    for i in 0..n {
        votes.fill(0);
        for &j in &neighbours[i * k..(i + 1) * k] {
            votes[labels[j as usize] as usize] += 1;
        }
        // max_by_key keeps the last maximum; scan by hand to keep the smallest label.
        let mut best = 0;
        for (c, &v) in votes.iter().enumerate() {
            if v > votes[best] {
                best = c;
            }
        }
        if best as u32 == labels[i] {
            correct += 1;
        }
    }
    Ok(correct as f32 / n as f32)
}

fn dist2(y: &[f32], dims: usize, i: usize, j: usize) -> f32 {
    (0..dims)
        .map(|c| (y[i * dims + c] - y[j * dims + c]).powi(2))
        .sum()
}

/// Insert (d, j) into a sorted best-k list (ascending d, then j).
fn offer(best: &mut Vec<(f32, u32)>, k: usize, d: f32, j: u32) {
    if best.len() == k && (d, j) >= *best.last().unwrap() {
        return;
    }
    let pos = best.partition_point(|&e| e < (d, j));
    best.insert(pos, (d, j));
    best.truncate(k);
}

/// k nearest other points of every point, by brute force (n × k indices).
pub fn brute_neighbours(y: &[f32], n: usize, dims: usize, k: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(n * k);
    let mut best = Vec::with_capacity(k + 1);
    for i in 0..n {
        best.clear();
        for j in (0..n).filter(|&j| j != i) {
            offer(&mut best, k, dist2(y, dims, i, j), j as u32);
        }
        out.extend(best.iter().map(|e| e.1));
    }
    out
}

/// k nearest other points in 2-D through a uniform grid of about 2 points per cell.
pub fn grid_neighbours(y: &[f32], n: usize, k: usize) -> Vec<u32> {
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for i in 0..n {
        for c in 0..2 {
            lo[c] = lo[c].min(y[i * 2 + c]);
            hi[c] = hi[c].max(y[i * 2 + c]);
        }
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-20);
    let side = ((n as f32 / 2.0).sqrt().ceil() as usize).max(1);
    let cell = span / side as f32 * 1.0001;
    let cell_of = |v: f32, c: usize| (((v - lo[c]) / cell) as usize).min(side - 1);
    // Counting sort of the points by cell.
    let mut start = vec![0u32; side * side + 1];
    let cells: Vec<usize> = (0..n)
        .map(|i| cell_of(y[i * 2 + 1], 1) * side + cell_of(y[i * 2], 0))
        .collect();
    for &c in &cells {
        start[c + 1] += 1;
    }
    for c in 0..side * side {
        start[c + 1] += start[c];
    }
    let mut fill = start.clone();
    let mut order = vec![0u32; n];
    for (i, &c) in cells.iter().enumerate() {
        order[fill[c] as usize] = i as u32;
        fill[c] += 1;
    }
    let mut out = Vec::with_capacity(n * k);
    let mut best = Vec::with_capacity(k + 1);
    for i in 0..n {
        best.clear();
        let (cx, cy) = (
            cell_of(y[i * 2], 0) as isize,
            cell_of(y[i * 2 + 1], 1) as isize,
        );
        let mut ring = 0isize;
        loop {
            for gy in cy - ring..=cy + ring {
                for gx in cx - ring..=cx + ring {
                    let on_ring = (gy - cy).abs() == ring || (gx - cx).abs() == ring;
                    if !on_ring || gx < 0 || gy < 0 || gx >= side as isize || gy >= side as isize {
                        continue;
                    }
                    let c = gy as usize * side + gx as usize;
                    for &j in &order[start[c] as usize..start[c + 1] as usize] {
                        if j as usize != i {
                            offer(&mut best, k, dist2(y, 2, i, j as usize), j);
                        }
                    }
                }
            }
            // Every point not yet seen lies at least `ring` whole cells away.
            let reach = ring as f32 * cell;
            if (best.len() == k && best[k - 1].0 < reach * reach) || ring as usize > side {
                break;
            }
            ring += 1;
        }
        out.extend(best.iter().map(|e| e.1));
    }
    out
}
