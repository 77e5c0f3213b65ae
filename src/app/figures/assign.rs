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
/// potentials, rectangular: cells are rows, points columns): O(cells^2 * n) time at worst,
/// O(cells + n) memory, costs computed on the fly in f64. A dense blob spread over a uniform grid
/// is the hard case (long augmenting paths; timings in docs/kernel-notes.md).
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
    Ok(min_cost_assignment(&centre, &pos))
}

/// Rectangular linear assignment with squared-distance costs: for each target in `rows` a
/// distinct point of `cols` (`rows.len() <= cols.len()`) minimizing the total squared distance.
///
/// Shortest augmenting paths with dual potentials `u` (rows) and `v` (columns), kept so that every
/// reduced cost `cost(i, j) - u[i] - v[j]` is >= 0 and is 0 on matched pairs. Each row in turn
/// grows a Dijkstra tree over reduced costs until it reaches a free column, then the matching is
/// flipped along that path and the potentials of the tree's rows and columns are updated, which
/// keeps the invariant. Among equally short paths a free column is preferred (it ends the search).
///
/// Speed: the per-column arrays are kept permuted so that the columns not yet in the tree are
/// always the prefix `0..len`; each scan is then one sequential pass (a column joining the tree
/// is swapped to the end of the prefix).
fn min_cost_assignment(rows: &[(f64, f64)], cols: &[(f64, f64)]) -> Vec<usize> {
    const FREE: usize = usize::MAX;
    let (m, n) = (rows.len(), cols.len());
    debug_assert!(m <= n);
    // Columns, by position p (a permutation of the column ids).
    let mut id: Vec<usize> = (0..n).collect();
    let mut at: Vec<usize> = (0..n).collect(); // position of column id
    let mut px: Vec<f64> = cols.iter().map(|c| c.0).collect();
    let mut py: Vec<f64> = cols.iter().map(|c| c.1).collect();
    let mut v = vec![0.0f64; n];
    let mut owner = vec![FREE; n]; // row matched to the column
    let mut dist = vec![f64::INFINITY; n]; // path length found so far (per search)
    let mut from = vec![0usize; n]; // row the path reaches the column from (per search)
    // Rows.
    let mut u = vec![0.0f64; m];
    let mut col_of_row = vec![FREE; m]; // column id matched to the row
    let mut tree_rows: Vec<usize> = Vec::with_capacity(m);

    for start in 0..m {
        dist.fill(f64::INFINITY);
        tree_rows.clear();
        let mut len = n;
        let mut i = start;
        let mut reach = 0.0f64;
        let sink = loop {
            tree_rows.push(i);
            // Relax every column outside the tree through row i; find the nearest one.
            let (cx, cy) = rows[i];
            let base = reach - u[i];
            let mut best = f64::INFINITY;
            let mut best_at = 0;
            let (pxs, pys, vs) = (&px[..len], &py[..len], &v[..len]);
            let (ds, fs, os) = (&mut dist[..len], &mut from[..len], &owner[..len]);
            for p in 0..len {
                let (dx, dy) = (cx - pxs[p], cy - pys[p]);
                let d = base + (dx * dx + dy * dy) - vs[p];
                let better = d < ds[p];
                ds[p] = if better { d } else { ds[p] };
                fs[p] = if better { i } else { fs[p] };
                if ds[p] <= best && (ds[p] < best || os[p] == FREE) {
                    best = ds[p];
                    best_at = p;
                }
            }
            reach = best;
            // Move the chosen column into the tree: swap it to the end of the prefix.
            len -= 1;
            for arr in [&mut px, &mut py, &mut v, &mut dist] {
                arr.swap(best_at, len);
            }
            from.swap(best_at, len);
            owner.swap(best_at, len);
            id.swap(best_at, len);
            at[id[best_at]] = best_at;
            at[id[len]] = len;
            match owner[len] {
                FREE => break id[len],
                r => i = r,
            }
        };
        // Potentials: every row and column in the tree moves by how much shorter its own path
        // was than the augmenting one. The tree's columns are the positions len..n.
        u[start] += reach;
        for &r in &tree_rows[1..] {
            u[r] += reach - dist[at[col_of_row[r]]];
        }
        for p in len..n {
            v[p] -= reach - dist[p];
        }
        // Augment: flip the matching along the path from the sink back to `start`.
        let mut j = sink;
        loop {
            let p = at[j];
            let r = from[p];
            owner[p] = r;
            std::mem::swap(&mut col_of_row[r], &mut j);
            if r == start {
                break;
            }
        }
    }
    col_of_row
}
