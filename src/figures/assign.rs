//! Assigning embedded points to the cells of a rows x cols grid (Karpathy's "CNN codes" mosaic).
//!
//! The embedding is first normalized per axis to [0, 1] ([`grid_positions`]); cell (r, c) has its
//! centre at ((c + 0.5) / cols, 1 - (r + 0.5) / rows), so row 0 is the top of the plot (y up, as in
//! the scatter figures). The cost of putting point j in cell i is their squared distance.

use crate::error::{Error, Result};

use super::{check_embedding, check_positive};

/// The embedding normalized per axis to [0, 1] (an axis with no spread maps to 0.5).
pub fn grid_positions(embedding: &[f32]) -> Result<Vec<(f64, f64)>> {
    check_embedding("grid_positions", embedding)?;
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in embedding.chunks_exact(2) {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k] as f64);
            hi[k] = hi[k].max(p[k] as f64);
        }
    }
    let norm = |v: f32, k: usize| {
        let r = hi[k] - lo[k];
        if r > 0.0 { (v as f64 - lo[k]) / r } else { 0.5 }
    };
    Ok(embedding
        .chunks_exact(2)
        .map(|p| (norm(p[0], 0), norm(p[1], 1)))
        .collect())
}

/// Centre of cell (r, c) in the normalized [0, 1]^2 square (row 0 at the top, i.e. y = 1).
pub fn cell_centre(r: usize, c: usize, rows: usize, cols: usize) -> (f64, f64) {
    (
        (c as f64 + 0.5) / cols as f64,
        1.0 - (r as f64 + 0.5) / rows as f64,
    )
}

fn centres(rows: usize, cols: usize) -> Vec<(f64, f64)> {
    (0..rows * cols)
        .map(|i| cell_centre(i / cols, i % cols, rows, cols))
        .collect()
}

fn d2(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)
}

fn check_grid(op: &str, rows: usize, cols: usize) -> Result<usize> {
    check_positive(op, "rows", rows)?;
    check_positive(op, "cols", cols)?;
    rows.checked_mul(cols)
        .ok_or_else(|| Error::InvalidArgument(format!("{op}: {rows} x {cols} grid is too large")))
}

/// For each cell (row-major), the index of the point nearest its centre (ties: the lowest index).
/// Points may repeat and some may be left out; every cell is filled.
pub fn grid_assign_nearest(embedding: &[f32], rows: usize, cols: usize) -> Result<Vec<usize>> {
    let op = "grid_assign_nearest";
    check_embedding(op, embedding)?;
    check_grid(op, rows, cols)?;
    let pos = grid_positions(embedding)?;
    Ok(centres(rows, cols)
        .into_iter()
        .map(|c| {
            let mut best = (f64::INFINITY, 0);
            for (j, &p) in pos.iter().enumerate() {
                let d = d2(c, p);
                if d < best.0 {
                    best = (d, j);
                }
            }
            best.1
        })
        .collect())
}

/// Total squared distance between each cell's centre and its assigned point (normalized
/// coordinates); `assignment[i]` is the point in cell i (row-major).
pub fn grid_cost(embedding: &[f32], rows: usize, cols: usize, assignment: &[usize]) -> Result<f64> {
    let op = "grid_cost";
    let n = check_embedding(op, embedding)?;
    let cells = check_grid(op, rows, cols)?;
    check_assignment(op, assignment, cells, n)?;
    let pos = grid_positions(embedding)?;
    Ok(centres(rows, cols)
        .iter()
        .zip(assignment)
        .map(|(&c, &j)| d2(c, pos[j]))
        .sum())
}

pub(crate) fn check_assignment(
    op: &str,
    assignment: &[usize],
    cells: usize,
    n: usize,
) -> Result<()> {
    if assignment.len() != cells {
        return Err(Error::shape(
            op,
            format!(
                "assignment has {} entries for {cells} cells",
                assignment.len()
            ),
        ));
    }
    if let Some(&j) = assignment.iter().find(|&&j| j >= n) {
        return Err(Error::InvalidArgument(format!(
            "{op}: assignment names point {j} but there are only {n}"
        )));
    }
    Ok(())
}

/// An exact minimum-cost one-to-one assignment of points to cells: returns, for each cell
/// (row-major), a distinct point, minimizing the total squared distance between cell centres and
/// the normalized point positions ([`grid_cost`]).
///
/// Needs n >= rows * cols. With n == rows * cols the result is a permutation of 0..n; with more
/// points the optimal subset is chosen (the points left out are the ones no cell wants).
///
/// Method: the Hungarian algorithm in its shortest-augmenting-path form (Jonker–Volgenant style
/// potentials, rectangular: cells are rows, points columns): O(cells^2 * n) time, O(n) memory,
/// costs computed on the fly in f64. About a second for 1,600 x 1,600 on one core.
pub fn grid_assign_one_to_one(embedding: &[f32], rows: usize, cols: usize) -> Result<Vec<usize>> {
    let op = "grid_assign_one_to_one";
    let n = check_embedding(op, embedding)?;
    let cells = check_grid(op, rows, cols)?;
    if n < cells {
        return Err(Error::InvalidArgument(format!(
            "{op}: {n} points cannot fill {rows} x {cols} = {cells} cells one-to-one \
             (use grid_assign_nearest, or a smaller grid)"
        )));
    }
    let pos = grid_positions(embedding)?;
    let centre = centres(rows, cols);
    Ok(min_cost_assignment(cells, n, |i, j| d2(centre[i], pos[j])))
}

/// Rectangular linear assignment, `m <= n`: for each row i in 0..m a distinct column minimizing
/// the sum of `cost(i, col)`. Shortest augmenting paths with dual potentials `u` (rows) and `v`
/// (columns); index 0 of `v`, `owner`, `way` is a virtual column that starts each augmentation.
pub(crate) fn min_cost_assignment(
    m: usize,
    n: usize,
    cost: impl Fn(usize, usize) -> f64,
) -> Vec<usize> {
    debug_assert!(m <= n);
    let mut u = vec![0.0f64; m + 1];
    let mut v = vec![0.0f64; n + 1];
    // owner[j]: the row (1-based) matched to column j (1-based), 0 if free.
    let mut owner = vec![0usize; n + 1];
    // way[j]: the previous column on the shortest path to column j.
    let mut way = vec![0usize; n + 1];
    let mut minv = vec![0.0f64; n + 1];
    let mut used = vec![false; n + 1];
    for i in 1..=m {
        // Grow a shortest-path tree from row i until it reaches a free column.
        owner[0] = i;
        let mut j0 = 0;
        minv.fill(f64::INFINITY);
        used.fill(false);
        loop {
            used[j0] = true;
            let i0 = owner[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=n {
                if !used[j] {
                    let reduced = cost(i0 - 1, j - 1) - u[i0] - v[j];
                    if reduced < minv[j] {
                        minv[j] = reduced;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            // Shift the potentials so that the new column's edge becomes tight.
            for j in 0..=n {
                if used[j] {
                    u[owner[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if owner[j0] == 0 {
                break;
            }
        }
        // Augment: flip the matching along the path back to the virtual column.
        loop {
            let j1 = way[j0];
            owner[j0] = owner[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![0usize; m];
    for j in 1..=n {
        if owner[j] != 0 {
            out[owner[j] - 1] = j - 1;
        }
    }
    out
}
