//! Plain-loop references, named as in the WGSL.

/// out[r * n + j] = ||x_(row0 + r) − x_j||² for x n × d.
pub fn sqdist_block(x: &[f32], n: usize, d: usize, row0: usize, rows: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * n];
    for r in 0..rows {
        let a = &x[(row0 + r) * d..(row0 + r + 1) * d];
        for j in 0..n {
            let b = &x[j * d..(j + 1) * d];
            out[r * n + j] = a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum();
        }
    }
    out
}

/// The k nearest j ≠ row0 + r of each row of a distance block, ascending (ties: smaller j).
pub fn topk_rows(
    dist: &[f32],
    n: usize,
    row0: usize,
    rows: usize,
    k: usize,
) -> (Vec<u32>, Vec<f32>) {
    let mut index = Vec::with_capacity(rows * k);
    let mut out = Vec::with_capacity(rows * k);
    for r in 0..rows {
        let i = row0 + r;
        let mut cand: Vec<(f32, u32)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| (dist[r * n + j], j as u32))
            .collect();
        cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for &(d, j) in cand.iter().take(k) {
            index.push(j);
            out.push(d);
        }
    }
    (index, out)
}
