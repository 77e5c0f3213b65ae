//! The order the optimizer labels the points in, so the attraction's gathers stay in cache.

use crate::tsne::affinity::SparseP;

/// A point order in which a sparse P's neighbours sit close together: breadth-first over the
/// graph of P (from the lowest unvisited point, neighbours in column order), so each point's
/// neighbours are mostly labelled near it. Deterministic; a permutation of 0..n.
pub fn locality_order(p: &SparseP) -> Vec<u32> {
    let n = p.n;
    let mut seen = vec![false; n];
    let mut order = Vec::with_capacity(n);
    for start in 0..n {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut head = order.len();
        order.push(start as u32);
        while head < order.len() {
            let i = order[head] as usize;
            head += 1;
            for &j in &p.col[p.row_ptr[i] as usize..p.row_ptr[i + 1] as usize] {
                if !seen[j as usize] {
                    seen[j as usize] = true;
                    order.push(j);
                }
            }
        }
    }
    order
}

/// Bits per axis of the grid [`hilbert_order`] quantizes positions to.
const HILBERT_BITS: u32 = 16;

/// The points along a Hilbert curve through their first two coordinates (each quantized to
/// 2^16 steps over the layout's bounding box; ties, and non-finite coordinates, by index).
/// Points close in the layout get close labels. Deterministic; a permutation of 0..n.
pub fn hilbert_order(y: &[f32], n: usize, dims: usize) -> Vec<u32> {
    let coord = |i: usize, c: usize| {
        let v = if c < dims { y[i * dims + c] } else { 0.0 };
        if v.is_finite() { v } else { 0.0 }
    };
    let mut low = [f32::INFINITY; 2];
    let mut high = [f32::NEG_INFINITY; 2];
    for i in 0..n {
        for c in 0..2 {
            low[c] = low[c].min(coord(i, c));
            high[c] = high[c].max(coord(i, c));
        }
    }
    let side = (high[0] - low[0]).max(high[1] - low[1]);
    let steps = ((1u32 << HILBERT_BITS) - 1) as f32;
    let scale = if side > 0.0 { steps / side } else { 0.0 };
    let cell = |i: usize, c: usize| (((coord(i, c) - low[c]) * scale) as u32).min(steps as u32);
    let mut keyed: Vec<(u64, u32)> = (0..n)
        .map(|i| (hilbert_index(cell(i, 0), cell(i, 1)), i as u32))
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Position of cell (x, y) of the 2^HILBERT_BITS-sided grid along the Hilbert curve: per level,
/// from the coarsest, the quadrant's rank, then (x, y) turned into the quadrant's frame.
fn hilbert_index(mut x: u32, mut y: u32) -> u64 {
    let mut d = 0u64;
    let mut s = 1u32 << (HILBERT_BITS - 1);
    while s > 0 {
        let rx = u32::from(x & s != 0);
        let ry = u32::from(y & s != 0);
        d += u64::from(s) * u64::from(s) * u64::from((3 * rx) ^ ry);
        if ry == 0 {
            if rx == 1 {
                // Reflect within the quadrant (only the bits below s matter from here on).
                x = (s - 1).wrapping_sub(x) & (s - 1);
                y = (s - 1).wrapping_sub(y) & (s - 1);
            }
            std::mem::swap(&mut x, &mut y);
        }
        s >>= 1;
    }
    d
}

/// Rows [`gather_span`] takes whole before it samples evenly spaced ones.
pub const SPAN_ROWS: usize = 8192;

/// How far apart, in labels, the attraction's gathers land under `order`: the median over P's
/// entries (i, j) of |rank(i) − rank(j)| (over a sample of rows past [`SPAN_ROWS`]). At 70,000
/// MNIST points a span of ~2,000 labels (16 KiB of 2-D positions) keeps the gathers in a core's L1
/// cache; ~6,500 does not.
pub fn gather_span(p: &SparseP, order: &[u32]) -> u32 {
    let mut rank = vec![0u32; p.n];
    for (t, &i) in order.iter().enumerate() {
        rank[i as usize] = t as u32;
    }
    // Every row up to SPAN_ROWS rows, then evenly spaced rows: the median of a sample of
    // ~1 M entries decides between two orders whose medians differ by a factor of ~3.
    let stride = p.n.div_ceil(SPAN_ROWS).max(1);
    let mut spans: Vec<u32> = Vec::with_capacity(p.col.len() / stride + 1);
    for i in (0..p.n).step_by(stride) {
        for &j in &p.col[p.row_ptr[i] as usize..p.row_ptr[i + 1] as usize] {
            spans.push(rank[i].abs_diff(rank[j as usize]));
        }
    }
    if spans.is_empty() {
        return 0;
    }
    let middle = spans.len() / 2;
    *spans.select_nth_unstable(middle).1
}

/// The order the optimizer labels the points in: the Hilbert order of the starting layout `y0`
/// when its gathers span fewer labels than the breadth-first [`locality_order`]'s, else that.
/// A PCA start already places most neighbours near each other (see docs/kernel-notes.md); a
/// random start does not, and the graph order wins.
pub fn attraction_order(p: &SparseP, y0: &[f32], dims: usize) -> Vec<u32> {
    let graph = locality_order(p);
    let layout = hilbert_order(y0, p.n, dims);
    if gather_span(p, &layout) < gather_span(p, &graph) {
        layout
    } else {
        graph
    }
}

/// P with point order[t] renamed t (rows moved, columns renamed and kept ascending).
pub fn relabel(p: &SparseP, order: &[u32]) -> SparseP {
    let mut rank = vec![0u32; p.n];
    for (t, &i) in order.iter().enumerate() {
        rank[i as usize] = t as u32;
    }
    let mut row_ptr = Vec::with_capacity(p.n + 1);
    let mut col = Vec::with_capacity(p.col.len());
    let mut val = Vec::with_capacity(p.val.len());
    row_ptr.push(0u32);
    let mut row: Vec<(u32, f32)> = Vec::new();
    for &i in order {
        let i = i as usize;
        let range = p.row_ptr[i] as usize..p.row_ptr[i + 1] as usize;
        row.clear();
        row.extend(
            p.col[range.clone()]
                .iter()
                .map(|&j| rank[j as usize])
                .zip(p.val[range].iter().copied()),
        );
        // Columns are distinct: an unstable sort gives the one order.
        row.sort_unstable_by_key(|e| e.0);
        col.extend(row.iter().map(|e| e.0));
        val.extend(row.iter().map(|e| e.1));
        row_ptr.push(col.len() as u32);
    }
    SparseP {
        n: p.n,
        row_ptr,
        col,
        val,
    }
}

/// Rows order[0], order[1], ... of y (rows of `dims` values).
pub(super) fn gather_rows(y: &[f32], order: &[u32], dims: usize) -> Vec<f32> {
    order
        .iter()
        .flat_map(|&i| {
            y[i as usize * dims..(i as usize + 1) * dims]
                .iter()
                .copied()
        })
        .collect()
}
