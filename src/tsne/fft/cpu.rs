//! CPU references: the exact O(N^2) sums, and the same interpolation algorithm in f64, stage by
//! stage (`bbox`, `spread`, `node_potentials`, `interpolate`), for any dims in 1..=3.

use super::grid::NODES_PER_INTERVAL as P;
use super::interpolate::{NEAR_CAP, NEAR_MIN_WIDTH};

/// Exact sums, f64 accumulation: per point `[sum_j w_ij^2 (y_i - y_j), sum_{j != i} w_ij]`.
pub fn repulsion_exact(y: &[f32], n: usize, dims: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; n * (dims + 1)];
    let mut force = vec![0.0f64; dims];
    for i in 0..n {
        force.iter_mut().for_each(|f| *f = 0.0);
        let mut z = 0.0f64;
        let yi = &y[i * dims..(i + 1) * dims];
        for j in 0..n {
            if j == i {
                continue;
            }
            let yj = &y[j * dims..(j + 1) * dims];
            let d2: f64 = (0..dims).map(|d| ((yi[d] - yj[d]) as f64).powi(2)).sum();
            let w = 1.0 / (1.0 + d2);
            z += w;
            for d in 0..dims {
                force[d] += w * w * (yi[d] - yj[d]) as f64;
            }
        }
        for d in 0..dims {
            out[i * (dims + 1) + d] = force[d] as f32;
        }
        out[i * (dims + 1) + dims] = z as f32;
    }
    out
}

/// A point index hashed to 32 bits (Wellons' lowbias32), as `mix` in count.wgsl.
pub fn mix(i: u32) -> u32 {
    let mut x = i;
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// The sort key of point `i` in a box whose `count` points start at slot `first`: one of the
/// box's 2 count keys, from a hash of i (count.wgsl).
pub fn sort_key(i: u32, first: u32, count: u32) -> u32 {
    2 * first + mix(i) % (2 * count)
}

/// The order the GPU's counting sort leaves the points of box slice `first..first + count`
/// in, given their indices: by [`sort_key`], then by index.
pub fn order_in_box(points: &mut [u32], first: u32) {
    let count = points.len() as u32;
    points.sort_unstable_by_key(|&i| (sort_key(i, first, count), i));
}

/// The interpolation grid (as bbox.wgsl, in f64).
#[derive(Clone, Debug)]
pub struct Grid {
    pub dims: usize,
    pub intervals: usize,
    pub lo: Vec<f64>,
    pub center: Vec<f64>,
    pub width: f64,
    pub h: f64,
}

impl Grid {
    pub fn nodes(&self) -> usize {
        P * self.intervals
    }

    /// The box of a point (clamped per axis) and its local coordinates u in [0, 1).
    pub fn locate(&self, y: &[f32]) -> (Vec<usize>, Vec<f64>) {
        (0..self.dims)
            .map(|d| {
                let t = (y[d] as f64 - self.lo[d]) / self.width;
                let b = t.floor().clamp(0.0, (self.intervals - 1) as f64);
                (b as usize, t - b)
            })
            .unzip()
    }
}

/// Bounding box, its centre, and a square grid of `intervals` intervals per axis around it.
pub fn bbox(y: &[f32], n: usize, dims: usize, intervals: usize) -> Grid {
    bbox_with_floor(y, n, dims, intervals, 0.0)
}

/// `bbox` with intervals at least `min_width` wide (the grid then extends past the box,
/// still centred on it), as bbox.wgsl.
pub fn bbox_with_floor(y: &[f32], n: usize, dims: usize, intervals: usize, min_width: f64) -> Grid {
    let mut lo = vec![f64::INFINITY; dims];
    let mut hi = vec![f64::NEG_INFINITY; dims];
    for i in 0..n {
        for d in 0..dims {
            lo[d] = lo[d].min(y[i * dims + d] as f64);
            hi[d] = hi[d].max(y[i * dims + d] as f64);
        }
    }
    let span = (0..dims).map(|d| hi[d] - lo[d]).fold(1e-3, f64::max);
    let center: Vec<f64> = (0..dims).map(|d| 0.5 * (lo[d] + hi[d])).collect();
    let width = (span * (1.0 + 1e-4) / intervals as f64).max(min_width);
    let half = 0.5 * width * intervals as f64;
    Grid {
        dims,
        intervals,
        lo: center.iter().map(|c| c - half).collect(),
        center,
        width,
        h: width / P as f64,
    }
}

/// Lagrange basis on the P equispaced nodes `(t + 1/2) / P` of an interval, at u.
pub fn lagrange(u: f64) -> [f64; P] {
    let node = |t: usize| (t as f64 + 0.5) / P as f64;
    let mut l = [1.0; P];
    for (t, lt) in l.iter_mut().enumerate() {
        for s in (0..P).filter(|&s| s != t) {
            *lt *= (u - node(s)) / (node(t) - node(s));
        }
    }
    l
}

/// Calls `f(flat node index, weight)` for the P^dims nodes of the box of `y`.
fn for_nodes(grid: &Grid, y: &[f32], mut f: impl FnMut(usize, f64)) {
    let (cell, u) = grid.locate(y);
    let weights: Vec<[f64; P]> = u.iter().map(|&u| lagrange(u)).collect();
    let m = grid.nodes();
    for t in 0..P.pow(grid.dims as u32) {
        let (mut idx, mut stride, mut w, mut rest) = (0, 1, 1.0, t);
        for d in 0..grid.dims {
            let td = rest % P;
            rest /= P;
            idx += (P * cell[d] + td) * stride;
            stride *= m;
            w *= weights[d][td];
        }
        f(idx, w);
    }
}

/// Node charges `[1, y - centre]` spread with Lagrange weights: nodes^dims x (dims + 1),
/// node index `sum_d g_d nodes^d` (x fastest), as spread.wgsl.
pub fn spread(y: &[f32], n: usize, grid: &Grid) -> Vec<f64> {
    let dims = grid.dims;
    let q = dims + 1;
    let mut charges = vec![0.0; grid.nodes().pow(dims as u32) * q];
    for i in 0..n {
        let yi = &y[i * dims..(i + 1) * dims];
        for_nodes(grid, yi, |node, w| {
            charges[node * q] += w;
            for d in 0..dims {
                charges[node * q + 1 + d] += w * (yi[d] as f64 - grid.center[d]);
            }
        });
    }
    charges
}

/// Node potentials `[w^2 * q_0 .. w^2 * q_dims, w * q_0]` (* = sum over nodes), nodes^dims x
/// (dims + 2), by zero-padded FFT convolution in f64.
pub fn node_potentials(charges: &[f64], grid: &Grid) -> Vec<f64> {
    let (dims, m) = (grid.dims, grid.nodes());
    // Any padded length >= 2m - 1 gives the same linear convolution; the GPU pads to lengths
    // of factors 2, 3, 5, this reference to a power of two for its radix-2 FFT.
    let len = (2 * m).next_power_of_two();
    let size = len.pow(dims as u32);
    let q = dims + 1;
    // Map a node to its place in the padded grid.
    let padded = |node: usize| {
        let (mut rest, mut idx, mut stride) = (node, 0, 1);
        for _ in 0..dims {
            idx += (rest % m) * stride;
            rest /= m;
            stride *= len;
        }
        idx
    };
    let kernel = |square: bool| {
        let mut k = vec![[0.0; 2]; size];
        for (idx, v) in k.iter_mut().enumerate() {
            let (mut rest, mut r2) = (idx, 0.0);
            for _ in 0..dims {
                let j = rest % len;
                rest /= len;
                let o = if j > len / 2 {
                    j as f64 - len as f64
                } else {
                    j as f64
                };
                r2 += (o * grid.h).powi(2);
            }
            let w = 1.0 / (1.0 + r2);
            v[0] = if square { w * w } else { w };
        }
        fft_nd(&mut k, len, dims, false);
        k
    };
    let (k1, k2) = (kernel(false), kernel(true));
    let nodes = m.pow(dims as u32);
    let mut out = vec![0.0; nodes * (dims + 2)];
    let convolve = |charge: usize, k: &[[f64; 2]], slot: usize, out: &mut [f64]| {
        let mut g = vec![[0.0; 2]; size];
        for node in 0..nodes {
            g[padded(node)][0] = charges[node * q + charge];
        }
        fft_nd(&mut g, len, dims, false);
        for (a, b) in g.iter_mut().zip(k) {
            *a = [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];
        }
        fft_nd(&mut g, len, dims, true);
        for node in 0..nodes {
            out[node * (dims + 2) + slot] = g[padded(node)][0] / size as f64;
        }
    };
    for c in 0..q {
        convolve(c, &k2, c, &mut out);
    }
    convolve(0, &k1, dims + 1, &mut out);
    out
}

/// Interpolate the potentials back to the points and form the sums, as
/// interpolate.wgsl: per point `[c_d Phi0 - Phi_{1+d}, Psi - 1]`, c = y - centre.
pub fn interpolate(y: &[f32], n: usize, grid: &Grid, potentials: &[f64]) -> Vec<f32> {
    let dims = grid.dims;
    let k = dims + 2;
    let mut out = vec![0.0f32; n * (dims + 1)];
    let mut p = vec![0.0f64; k];
    for i in 0..n {
        let yi = &y[i * dims..(i + 1) * dims];
        p.iter_mut().for_each(|v| *v = 0.0);
        for_nodes(grid, yi, |node, w| {
            for (c, v) in p.iter_mut().enumerate() {
                *v += w * potentials[node * k + c];
            }
        });
        for d in 0..dims {
            let c = yi[d] as f64 - grid.center[d];
            out[i * (dims + 1) + d] = (c * p[0] - p[1 + d]) as f32;
        }
        out[i * (dims + 1) + dims] = (p[dims + 1] - 1.0) as f32;
    }
    out
}

/// The box cell of every point (as [`Grid::locate`]).
fn cells(y: &[f32], n: usize, grid: &Grid) -> Vec<Vec<usize>> {
    let dims = grid.dims;
    (0..n)
        .map(|i| grid.locate(&y[i * dims..(i + 1) * dims]).0)
        .collect()
}

/// Flat box index `sum_d cell_d intervals^d`.
fn box_index(cell: &[usize], intervals: usize) -> usize {
    cell.iter().rev().fold(0, |acc, &c| acc * intervals + c)
}

/// True when boxes `a` and `b` are neighbours (at most one apart on every axis) or the same.
fn adjacent(a: &[usize], b: &[usize]) -> bool {
    a.iter().zip(b).all(|(&a, &b)| a.abs_diff(b) <= 1)
}

/// Per box (flat index): is its near field summed exactly? As `near_on` in
/// near.wgsl: the width is above `NEAR_MIN_WIDTH` and the
/// box and its neighbours hold at most [`NEAR_CAP`] points.
pub fn near_boxes(y: &[f32], n: usize, grid: &Grid) -> Vec<bool> {
    let (dims, m) = (grid.dims, grid.intervals);
    let boxes = m.pow(dims as u32);
    if grid.width <= NEAR_MIN_WIDTH as f64 {
        return vec![false; boxes];
    }
    let cell_of =
        |b: usize| -> Vec<usize> { (0..dims).map(|d| (b / m.pow(d as u32)) % m).collect() };
    let point_cells = cells(y, n, grid);
    (0..boxes)
        .map(|b| {
            let c = cell_of(b);
            let count = point_cells.iter().filter(|pc| adjacent(pc, &c)).count();
            count <= NEAR_CAP
        })
        .collect()
}

/// Node potentials without the near field, as near.wgsl: for every node of a box
/// with `near[box]`, minus the node-to-node sums over the nodes of its neighbouring boxes
/// (what interpolation gives for the pairs that [`near_sums`] sums exactly).
pub fn far_potentials(charges: &[f64], potentials: &[f64], grid: &Grid, near: &[bool]) -> Vec<f64> {
    let (dims, m) = (grid.dims, grid.nodes());
    let nodes = m.pow(dims as u32);
    let (q, k) = (dims + 1, dims + 2);
    let mut out = potentials.to_vec();
    // Node offsets within reach: every axis in -(2P - 1) ..= 2P - 1, i.e. the nodes of the
    // neighbouring boxes; `adjacent` picks those that really are.
    let reach = 2 * P as isize - 1;
    let span = (2 * reach + 1) as usize;
    for a in 0..nodes {
        let ga: Vec<usize> = (0..dims).map(|d| (a / m.pow(d as u32)) % m).collect();
        let ba: Vec<usize> = ga.iter().map(|g| g / P).collect();
        if !near[box_index(&ba, grid.intervals)] {
            continue;
        }
        for t in 0..span.pow(dims as u32) {
            let gb: Option<Vec<usize>> = (0..dims)
                .map(|d| {
                    let o = ((t / span.pow(d as u32)) % span) as isize - reach;
                    let g = ga[d] as isize + o;
                    (0..m as isize).contains(&g).then_some(g as usize)
                })
                .collect();
            let Some(gb) = gb else { continue };
            let bb: Vec<usize> = gb.iter().map(|g| g / P).collect();
            if !adjacent(&ba, &bb) {
                continue;
            }
            let b = gb.iter().rev().fold(0, |acc, &g| acc * m + g);
            let r2: f64 = ga
                .iter()
                .zip(&gb)
                .map(|(&x, &z)| ((x as f64 - z as f64) * grid.h).powi(2))
                .sum();
            let w = 1.0 / (1.0 + r2);
            for c in 0..q {
                out[a * k + c] -= w * w * charges[b * q + c];
            }
            out[a * k + dims + 1] -= w * charges[b * q];
        }
    }
    out
}

/// Exact near-field sums per point, as interpolate.wgsl: for a point in a box with
/// `near[box]`, `[sum_j w_ij^2 (y_i - y_j), sum_j w_ij]` over the points j of its box and the
/// neighbouring ones, the point itself included (w_ii = 1); zeros elsewhere.
pub fn near_sums(y: &[f32], n: usize, grid: &Grid, near: &[bool]) -> Vec<f64> {
    let dims = grid.dims;
    let point_cells = cells(y, n, grid);
    let mut out = vec![0.0; n * (dims + 1)];
    for i in 0..n {
        if !near[box_index(&point_cells[i], grid.intervals)] {
            continue;
        }
        for j in (0..n).filter(|&j| adjacent(&point_cells[i], &point_cells[j])) {
            let d2: f64 = (0..dims)
                .map(|d| ((y[i * dims + d] - y[j * dims + d]) as f64).powi(2))
                .sum();
            let w = 1.0 / (1.0 + d2);
            for d in 0..dims {
                out[i * (dims + 1) + d] += w * w * (y[i * dims + d] - y[j * dims + d]) as f64;
            }
            out[i * (dims + 1) + dims] += w;
        }
    }
    out
}

/// The whole interpolation algorithm on the CPU with `intervals` intervals per axis, near
/// field included: interpolated far field plus exact near sums.
pub fn repulsion_interpolated(y: &[f32], n: usize, dims: usize, intervals: usize) -> Vec<f32> {
    let grid = bbox(y, n, dims, intervals.max(1));
    let charges = spread(y, n, &grid);
    let potentials = node_potentials(&charges, &grid);
    let near = near_boxes(y, n, &grid);
    let far = far_potentials(&charges, &potentials, &grid, &near);
    let near_field = near_sums(y, n, &grid, &near);
    interpolate(y, n, &grid, &far)
        .iter()
        .zip(&near_field)
        .map(|(&a, &b)| (a as f64 + b) as f32)
        .collect()
}

/// In-place radix-2 FFT of a power-of-two length, unnormalized; `inverse` flips the sign.
pub fn fft(data: &mut [[f64; 2]], inverse: bool) {
    let len = data.len();
    if len <= 1 {
        return;
    }
    let bits = len.trailing_zeros();
    for i in 0..len {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if j > i {
            data.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut half = 1;
    while half < len {
        for k in 0..half {
            let a = sign * std::f64::consts::PI * k as f64 / half as f64;
            let tw = [a.cos(), a.sin()];
            for start in (0..len).step_by(2 * half) {
                let (i0, i1) = (start + k, start + k + half);
                let x = data[i1];
                let t = [tw[0] * x[0] - tw[1] * x[1], tw[0] * x[1] + tw[1] * x[0]];
                let u = data[i0];
                data[i0] = [u[0] + t[0], u[1] + t[1]];
                data[i1] = [u[0] - t[0], u[1] - t[1]];
            }
        }
        half *= 2;
    }
}

/// FFT along every axis of a `len^dims` grid (x fastest).
pub fn fft_nd(data: &mut [[f64; 2]], len: usize, dims: usize, inverse: bool) {
    let mut line = vec![[0.0; 2]; len];
    let mut stride = 1;
    for _ in 0..dims {
        for start in 0..data.len() {
            // `start` is the first element of a line when its digit along this axis is 0.
            if (start / stride) % len != 0 {
                continue;
            }
            for (e, v) in line.iter_mut().enumerate() {
                *v = data[start + e * stride];
            }
            fft(&mut line, inverse);
            for (e, v) in line.iter().enumerate() {
                data[start + e * stride] = *v;
            }
        }
        stride *= len;
    }
}

/// Naive O(len^2) DFT (unnormalized), the reference for `fft` and the WGSL FFT.
pub fn dft(data: &[[f64; 2]], inverse: bool) -> Vec<[f64; 2]> {
    let len = data.len();
    let sign = if inverse { 1.0 } else { -1.0 };
    (0..len)
        .map(|k| {
            data.iter().enumerate().fold([0.0, 0.0], |acc, (e, x)| {
                let a = sign * std::f64::consts::TAU * ((e * k) % len) as f64 / len as f64;
                let (c, s) = (a.cos(), a.sin());
                [acc[0] + x[0] * c - x[1] * s, acc[1] + x[0] * s + x[1] * c]
            })
        })
        .collect()
}
