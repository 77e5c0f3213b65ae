//! O(N) t-SNE repulsion by FFT-accelerated interpolation (FIt-SNE, Linderman et al. 2019).
//!
//! For every point i of a 2-D embedding y this fills, per point, `[sum_j w_ij^2 (y_i - y_j)` (2
//! values)`, sum_{j != i} w_ij]` with w_ij = 1 / (1 + |y_i - y_j|^2), in O(N + G log G) for a grid
//! of G nodes instead of O(N^2):
//!
//! 1. `bbox`: a GPU reduction finds the bounding box and writes the grid geometry (origin, interval
//!    width, node spacing h) to a small storage buffer that every later kernel reads, so the box
//!    can change every iteration with no readback.
//! 2. `count` / `scan` / `scatter` / `order`: a stable counting sort of the points by box, in
//!    two rounds: the box counts and their prefix sum, then within each box by a key hashed from
//!    the point index ([`cpu::sort_key`]: 2 keys per point of the box, so ~1.5 points a key
//!    however crowded the box), each point index to a slot of its key, then each point's
//!    position to the slot given by its index's rank within the key. Integer atomics decide only
//!    the provisional slots, so the final order, and every float sum after it, is the same in
//!    every run: same seed, same adapter, same embedding. The cost depends on n, not on how the
//!    points crowd (keys by position would hold thousands of points each where early exaggeration
//!    packs a cluster into a speck).
//! 3. `spread`: each box gathers the charges `[1, y_x - c_x, y_y - c_y]` (c the centre of the
//!    bounding box) of its points onto its 4 x 4 Lagrange nodes (p = 4 equispaced nodes per
//!    interval). A gather, no float atomics.
//! 4. `kernel` + FFTs + inverse FFTs: node-to-node sums of w and w^2 as circular convolutions on a
//!    zero-padded `len x len` grid (mixed-radix Stockham FFTs written in WGSL, [`Fft2d`], for any
//!    `len = 2^a 3^b 5^c`). Three real charge grids travel in two complex channels and both
//!    kernels in one. The kernel product is fused into the first inverse pass, and the kernel
//!    spectrum is cached: it is recomputed (one 2-D FFT) only when the node spacing changes.
//! 5. `near_nodes` (the near-field correction): for every box whose near field is on
//!    ([`NEAR_MIN_WIDTH`], [`NEAR_CAP`]), the interpolated contribution of the points in the 3 x 3
//!    boxes around it is taken out of its node potentials (a local 12 x 12-node stencil per
//!    box).
//! 6. `interpolate`: the node potentials are interpolated back to the points with the same
//!    Lagrange weights, the exact sums over the near field are added, `y_i sum w^2 - sum w^2 y_j`
//!    gives the force sum, and 1 (w_ii) is taken off Z.
//!
//! Why the near field: interpolation error is largest for close pairs, where the kernel bends
//! sharpest. Plain interpolation with p = 4 gives a relative force error (2-norm over all points)
//! of 0.07% for intervals of width 0.5, 0.4% for 0.8 and 1.1% for 1 (uniform layouts and a
//! 10,000-point MNIST embedding alike; p = 3, FIt-SNE's choice, gives 3.6% at width 1). With
//! close pairs (same or neighbouring box) summed exactly, the error is 0.05-0.3% for any width from
//! 1 to 12.5 on MNIST-like layouts (measured by numpy prototypes and by the tests and
//! `examples/profile_fft.rs` here), so the grid may be as coarse as the near-field sums can
//! afford: on the final 10,000-point MNIST embedding (span 187) 15 intervals of 12.5 units
//! (0.05%) instead of the 374 of 0.5 this module once used with p = 3. A few sparse points at
//! distances of 1-3 widths are the exception: 7 points on a line over 14 units have 3.9% at
//! width 1.75 (8 intervals) and 0.07% with plain interpolation at width 0.47.
//!
//! Grid size: `intervals` per axis and an FFT length `len >= 8 * intervals` (the node grid
//! doubled, so the circular convolution equals the linear one), `len` a product of 2, 3 and 5 (see
//! [`fft_len_for`]). For a given `len` all `len / 8` intervals are used (more intervals cost
//! nothing in the FFT). `new` sizes the grid for a span of [`DEFAULT_SPAN`];
//! [`FftRepulsion::set_span_hint`] re-sizes it from a span (at least [`MIN_INTERVALS`], at least
//! `sqrt(n / POINTS_PER_BOX)` and [`INTERVALS_PER_UNIT`] per unit of span, up to the largest FFT,
//! 2048), and [`FftRepulsion::refresh`] (the optimizer calls it between batches of iterations) from what
//! the last run measured: its span, its busiest 3 x 3 neighbourhood of boxes and its near-field
//! pairs, taking the cheapest grid whose busiest neighbourhood holds at most about
//! [`NEAR_TARGET`] points ([`grid_for_measured`]).
//!
//! Node spacing: the grid is centred on the actual bounding box (on the GPU, every call) with
//! interval width `max(span / intervals, min_width)`. `with_fft_len` sets no floor (the grid
//! always fits the box exactly); `set_span_hint` sets the floor to [`HINT_SLACK`] times the
//! hinted span over the intervals, so while the embedding stays within that size the spacing,
//! and so the kernel spectrum, stays the same from call to call and the kernel FFT is skipped
//! (gated on the GPU, no readback). A box that outgrows the floor stretches the grid: correct,
//! a little coarser, and the kernel is recomputed every call until the next hint. A stale hint
//! costs speed, never correctness.
//!
//! Only `dims = 2` runs on the GPU; the CPU references in [`cpu`] handle 1 to 3 dimensions.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, TexelTable, with_texel_tables, workgroups_for};
use crate::ops::{check_len, launch, launch_bound};
use crate::wgsl_struct;

const BBOX: &str = include_str!("bbox.wgsl");
const COUNT: &str = include_str!("count.wgsl");
const SCAN: &str = include_str!("scan.wgsl");
const SCATTER: &str = include_str!("scatter.wgsl");
const ORDER: &str = include_str!("order.wgsl");
const SPREAD: &str = include_str!("spread.wgsl");
const KERNEL: &str = include_str!("kernel.wgsl");
const STOCKHAM: &str = include_str!("stockham.wgsl");
const INTERPOLATE: &str = include_str!("interpolate.wgsl");
const NEAR: &str = include_str!("near.wgsl");
const CHUNKS: &str = include_str!("chunks.wgsl");

const OP: &str = "fft repulsion";
/// Lagrange nodes per interval and axis (FIt-SNE's p; it uses 3). The shaders are written for 4.
pub const NODES_PER_INTERVAL: usize = 4;
/// Minimum number of intervals per axis: a 64-point FFT (FIt-SNE: 50 intervals with p = 3).
/// Coarse grids are accurate here: dense layouts get intervals at most [`PLAIN_WIDTH`] wide, and
/// wide ones the exact near field. A minimum of 30 made the first 250 iterations at 70,000
/// points pay for 240-point FFTs where 13 intervals of 0.7 units covered the embedding.
pub const MIN_INTERVALS: usize = 8;
/// Longest FFT line: two channels of 2048^2 complex f32 are 64 MiB, half of the 128 MiB a
/// storage binding may span on common adapters.
pub const MAX_FFT_LEN: usize = 2048;
/// `record` returns the dispatches in pipeline order; the first this many run bbox, the counting
/// sort, the chunks of each box and the spread (after them `Stages::charges` holds the node
/// charges, not yet spectra).
pub const DISPATCHES_THROUGH_SPREAD: usize = 19;
/// Workgroups of the bounding-box fold (`bbox_partials` in tsne_fft_bbox.wgsl, `GROUPS` there) and
/// of the scan passes (tsne_fft_scan.wgsl, `GROUPS` there), small ones of 8 invocations: one
/// workgroup runs on one of lavapipe's threads, and the single workgroups of 256 these kernels
/// were left the other thread idle (at 70,000 points, `profile_fft` on MNIST embeddings: bbox
/// 2.3-3.1 ms a call, now 1.0-1.2 ms in two passes; the sort's scan 2.3-2.7 ms at iteration 700
/// and 4.4-4.7 ms at iteration 200, now 1.6-2.1 and 2.5-3.0 ms in three). Workgroups of 256 in
/// several groups gained little: a barrier costs lavapipe a switch per 8 invocations.
pub const BBOX_GROUPS: usize = 64;
/// See [`BBOX_GROUPS`].
pub const SCAN_GROUPS: usize = 64;
/// Invocations per workgroup of the scan passes (`LANES` in tsne_fft_scan.wgsl).
pub const SCAN_LANES: usize = 8;

/// The intervals per unit of embedding span a grid sized from a span alone takes
/// ([`grid_for`], [`FftRepulsion::set_span_hint`]; widths of at most 5), before anything is
/// measured. With the near field summed exactly the force error does not depend on the width
/// (module doc), so the width trades FFT work (fewer, wider intervals) against near-field sums
/// (more points per box): [`FftRepulsion::refresh`] sizes it by the measured density
/// ([`grid_for_measured`]) with no such floor.
pub const INTERVALS_PER_UNIT: f32 = 0.2;
/// Before anything is measured, the span hint asks for at least `sqrt(n / POINTS_PER_BOX)`
/// intervals per axis: about this many points per box on average over the bounding box.
pub const POINTS_PER_BOX: usize = 16;
/// The cost of one near-field pair in FFT grid elements (`len^2`, all transforms of a call) for
/// [`grid_for_measured`]: a pair at ~0.5-0.65 ns and a grid element at ~0.37 us on lavapipe
/// (profile_fft on saved MNIST embeddings; at 70,000 points, iteration 700: 288^2 with 63 M
/// pairs 109-125 ms a call, 360^2 with 42 M 129 ms, 432^2 with 30 M 155 ms; at 10,000: 120^2
/// with 6 M pairs 16-17 ms, 320^2 with 1.5 M 54 ms). Once a session (s5) found 0.0015 slower
/// than 0.008 over whole runs, but then floors of 30 intervals and 0.2 per unit of span kept
/// the near-field grids as fine as the plain ones in many iterations, so only the pairs
/// changed. Without the floors, whole runs with 0.0015 (one after the other): 10,000 MNIST
/// points optimized in 26.9 s against 47.7-59.4 s before, 70,000 in 154.5 s against 165.5-173.7 s.
pub const PAIR_COST: f64 = 0.0015;
/// [`FftRepulsion::refresh`] aims at boxes small enough that the busiest 3 x 3 neighbourhood
/// holds about this many points: each point then sums at most that many pairs exactly, and the
/// embedding can grow 2.5x denser before [`NEAR_CAP`] switches a box to plain interpolation.
/// On a 10,000-point MNIST embedding (span 187) the near-field stages then cost about as much
/// as the FFTs.
pub const NEAR_TARGET: usize = 1536;
/// The near field is summed exactly only when the interval width is above this; below it plain
/// p = 4 interpolation is accurate (force error <= 0.4%). Mirrored by `NEAR_MIN_WIDTH` in
/// tsne_fft_near.wgsl and tsne_fft_interpolate.wgsl.
pub const NEAR_MIN_WIDTH: f32 = 0.8;
/// A box whose 3 x 3 neighbourhood holds more points than this is interpolated plainly (bounds
/// the exact sums of a pathological layout; lavapipe also caps loops at 65,535 iterations).
/// Mirrored by `NEAR_CAP` in the same shaders.
pub const NEAR_CAP: usize = 4096;
/// The narrowest intervals [`grid_for_measured`] picks: where a dense embedding would need
/// narrower boxes to keep the near-field sums short, intervals this wide (at most
/// [`NEAR_MIN_WIDTH`] even with [`HINT_SLACK`]) interpolate plainly at 0.3% force error, and no
/// point sums any pairs exactly.
pub const PLAIN_WIDTH: f32 = 0.7;
/// tsne_fft_chunks.wgsl sums the near-field pairs in units of 2^PAIRS_SHIFT (a u32 then holds
/// 2^40 pairs: a million points with a million neighbours each).
const PAIRS_SHIFT: u32 = 8;
/// Chunks of [`CHUNK_POINTS`] points one interpolation workgroup takes in turn (`CHUNKS` in
/// tsne_fft_interpolate.wgsl): fewer workgroups, each with its own per-chunk box.
pub const CHUNKS_PER_GROUP: usize = 8;
/// Points per interpolation chunk, four per lane of its 8 (`CHUNK_POINTS` in
/// tsne_fft_interpolate.wgsl and the 32 of tsne_fft_chunks.wgsl): each near-field point one step
/// loads serves four pairs (measurements in tsne_fft_interpolate.wgsl).
pub const CHUNK_POINTS: usize = 32;
/// The width floor `set_span_hint` sets is this times `span / intervals`: room for the embedding
/// to grow by 10% before the kernel spectrum must be recomputed, at the price of intervals up to
/// 10% wider than the box needs.
pub const HINT_SLACK: f32 = 1.1;
/// The span `new` sizes the grid for (with few points: the minimum, 8 intervals per axis).
pub const DEFAULT_SPAN: f32 = 40.0;
/// y workgroups of the kernel's gated dispatches (each invocation loops over y): few, so that a
/// cached kernel costs little, but enough to keep every worker thread busy when it is computed.
const GATED_Y_GROUPS: usize = 4;
/// Workgroup shape of the FFT passes: 64 x FFT_WG_Y (`WG_Y` in tsne_fft_stockham.wgsl).
const FFT_WG_Y: usize = 1;
/// Largest radix of one Stockham pass: one invocation holds a DFT of this many complex values
/// (generated WGSL, see [`stockham_source`]).
pub const MAX_RADIX: usize = 64;

wgsl_struct! {
    /// The uniform every fft-repulsion shader reads (declared to them as `Params`).
    /// Fields a kernel does not use are zero.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
    pub struct FftParams {
        pub n: u32,
        pub intervals: u32,
        /// Nodes per axis: 4 * intervals.
        pub nodes: u32,
        /// FFT length per axis.
        pub len: u32,
        /// FFT: 1 / ns in f32 (j / ns by a float multiply, exact for j < 2048).
        pub inv_ns: f32,
        /// intervals^2.
        pub boxes: u32,
        /// FFT: lines per channel.
        pub lines: u32,
        /// FFT: channels (separate len x len grids, `chan_stride` apart).
        pub channels: u32,
        pub line_stride: u32,
        pub elem_stride: u32,
        pub chan_stride: u32,
        /// FFT: elements past `valid` in a line are read as zero.
        pub valid: u32,
        /// FFT: 1 for the inverse transform (conjugate twiddles, no scaling).
        pub inverse: u32,
        /// FFT: product of the radices of the earlier passes of this axis (Stockham's Ns).
        pub ns: u32,
        /// FFT: 1 when consecutive invocations take consecutive lines (columns), 0 when they take
        /// consecutive (line, butterfly) pairs (rows).
        pub line_fast: u32,
        /// FFT: len / (ns * radix), the twiddle index step between butterflies.
        pub tw_stride: u32,
        /// FFT: 1 when the pass runs only if the grid's `kernel_dirty` is set.
        pub gated: u32,
        /// FFT: outputs past `out_valid` in a line are not stored.
        pub out_valid: u32,
        /// FFT: 1 when the pass reads the product of the charge and kernel spectra.
        pub fused: u32,
        /// Sort: the keys of the counting sort's second round, 2n (see tsne_fft_count.wgsl).
        pub keys: u32,
    }
}

wgsl_struct! {
    /// The grid geometry the `bbox` kernel writes on the GPU (declared to the shaders as `Grid`).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
    pub struct GridGeometry {
        /// Lower corner of the grid (interval 0 starts here on each axis).
        pub lo: [f32; 2],
        /// Centre of the points' bounding box; charges and forces are taken relative to it.
        pub center: [f32; 2],
        /// Interval width (the same on both axes).
        pub width: f32,
        /// Node spacing, width / 4.
        pub h: f32,
        /// Largest extent of the bounding box (floored at 1e-3).
        pub span: f32,
        /// 1 when this call recomputed the kernel spectrum (the width changed since it was last
        /// computed).
        pub kernel_dirty: u32,
    }
}

/// tsne_fft_interpolate.wgsl as the program runs it. With `subgroups` (adapters with subgroups of
/// exactly 8 lanes, the size of the workgroup) the near-field loop loads 8 points per step, one
/// per lane, and hands each to every lane with `subgroupBroadcast`: on lavapipe a load whose
/// address the lanes share is still made lane by lane, so this is 8x fewer loads.
pub fn interpolate_source(subgroups: bool) -> String {
    if !subgroups {
        return INTERPOLATE.to_string();
    }
    let cut = |s: &str, begin: &str, end: &str| -> (usize, usize) {
        let a = s.find(begin).expect("interpolate template marker");
        let b = a + s[a..].find(end).expect("interpolate template marker") + end.len();
        (a, b)
    };
    let mut s = INTERPOLATE.to_string();
    let (a, b) = cut(
        &s,
        "               @builtin(local_invocation_index) lid: u32) {",
        "// entry: end",
    );
    s.replace_range(
        a..b,
        "               @builtin(local_invocation_index) lid: u32,\n               \
         @builtin(subgroup_invocation_id) lane: u32) {",
    );
    let (a, b) = cut(&s, "// near loop: begin", "// near loop: end");
    let mut body = String::from(
        "// near loop (generated by fft::interpolate_source): 8 points per step;\n\
         \x20           // lanes past the row's end hold a far-away sentinel (w = 0 to f32\n\
         \x20           // precision, below one ulp of z >= 1), so the steps need no mask\n\
         \x20           for (var j0 = slots.x; j0 < slots.y; j0 += 8u) {\n\
         \x20               let v = select(FAR, sorted(min(j0 + lane, slots.y - 1u)), j0 + lane < slots.y);\n",
    );
    for k in 0..8 {
        body.push_str(&format!(
            "                {{\n\
             \x20                   let yj = subgroupBroadcast(v, {k}u);\n\
             \x20                   qa += near_term(ya, yj);\n\
             \x20                   qb += near_term(yb, yj);\n\
             \x20                   qc += near_term(yc, yj);\n\
             \x20                   qd += near_term(yd, yj);\n\
             \x20               }}\n"
        ));
    }
    body.push_str("            }");
    s.replace_range(a..b, &body);
    s
}

/// `(a, b, c)` with `len = 2^a 3^b 5^c`, or None when `len` has another prime factor.
fn factor235(len: usize) -> Option<[u32; 3]> {
    if len == 0 {
        return None;
    }
    let mut rest = len;
    let mut e = [0u32; 3];
    for (k, p) in [2, 3, 5].into_iter().enumerate() {
        while rest.is_multiple_of(p) {
            rest /= p;
            e[k] += 1;
        }
    }
    (rest == 1).then_some(e)
}

/// The radices of the passes for `len = 2^a 3^b 5^c` (None for other lengths): the fewest
/// passes of radices up to [`MAX_RADIX`], the most even split on ties (the smallest largest
/// radix), largest first. Each pass is one streaming read and write of the grid, the part of an
/// FFT that costs most on lavapipe, so few large radices beat many small ones.
pub fn radices(len: usize) -> Option<Vec<usize>> {
    factor235(len)?;
    fn plan(len: usize) -> Vec<usize> {
        if len <= MAX_RADIX {
            return vec![len];
        }
        (2..=MAX_RADIX)
            .filter(|d| len.is_multiple_of(*d))
            .map(|d| {
                let mut r = plan(len / d);
                r.push(d);
                r.sort_unstable_by(|a, b| b.cmp(a));
                r
            })
            .min_by_key(|r| (r.len(), r[0]))
            .expect("a 5-smooth length has a divisor in 2..=MAX_RADIX")
    }
    Some(plan(len))
}

/// WGSL for one Stockham pass of radix `radix` (2..=[`MAX_RADIX`], any product of 2, 3 and 5):
/// tsne_fft_stockham.wgsl followed by the generated entry point `fft_radix{radix}` and its
/// butterfly, a DFT of `radix` points unrolled into named values (Cooley-Tukey splits down to
/// DFTs of 2, 3, 4 and 5 points, constant twiddles as literals).
///
/// `pad`, `prune` and `fused` become the WGSL constants PAD (the first pass reads elements past
/// `valid` as zero), PRUNE (the last pass stores no outputs past `out_valid`) and FUSED (the first
/// inverse pass reads the spectra product); each combination is its own pipeline.
pub fn stockham_source(radix: usize, pad: bool, prune: bool, fused: bool) -> String {
    use std::fmt::Write;
    struct Gen {
        code: String,
        next: usize,
    }
    impl Gen {
        fn var(&mut self, expr: String) -> String {
            let v = format!("v{}", self.next);
            self.next += 1;
            let _ = writeln!(self.code, "    let {v} = {expr};");
            v
        }
        // x * w_n^e, w_n = exp(sign 2 pi i / n).
        fn twiddled(&mut self, x: &str, e: usize, n: usize) -> String {
            let e = e % n;
            if e == 0 {
                x.to_string()
            } else if 4 * e == n {
                self.var(format!("rot90({x})"))
            } else if 2 * e == n {
                self.var(format!("-{x}"))
            } else if 4 * e == 3 * n {
                self.var(format!("-rot90({x})"))
            } else {
                let t = std::f64::consts::TAU * e as f64 / n as f64;
                self.var(format!("cmul({x}, tw({:.10}, {:.10}))", t.cos(), t.sin()))
            }
        }
        // DFT of x: X[k] = sum_m x[m] w_n^(m k).
        fn dft(&mut self, x: &[String]) -> Vec<String> {
            let n = x.len();
            let call = |g: &mut Gen, f: &str| {
                let t = g.var(format!("{f}({})", x.join(", ")));
                (0..n).map(|k| format!("{t}.x{k}")).collect()
            };
            match n {
                1 => x.to_vec(),
                2 => vec![
                    self.var(format!("{} + {}", x[0], x[1])),
                    self.var(format!("{} - {}", x[0], x[1])),
                ],
                3 => call(self, "dft3"),
                4 => call(self, "dft4"),
                5 => call(self, "dft5"),
                _ => {
                    // n = a b, m = a m2 + m1, k = k1 + b k2:
                    // X[k1 + b k2] = sum_m1 w_a^(m1 k2) w_n^(m1 k1) Y_m1[k1],
                    // Y_m1 = DFT_b(x[a m2 + m1] over m2).
                    let a = [4, 2, 3, 5]
                        .into_iter()
                        .find(|a| n.is_multiple_of(*a))
                        .expect("n is a product of 2, 3 and 5");
                    let b = n / a;
                    let y: Vec<Vec<String>> = (0..a)
                        .map(|m1| {
                            let sub: Vec<String> =
                                (0..b).map(|m2| x[a * m2 + m1].clone()).collect();
                            self.dft(&sub)
                        })
                        .collect();
                    let mut out = vec![String::new(); n];
                    for k1 in 0..b {
                        let col: Vec<String> = (0..a)
                            .map(|m1| self.twiddled(&y[m1][k1], m1 * k1, n))
                            .collect();
                        for (k2, v) in self.dft(&col).into_iter().enumerate() {
                            out[k1 + b * k2] = v;
                        }
                    }
                    out
                }
            }
        }
    }
    let r = radix;
    let mut g = Gen {
        code: String::new(),
        next: 0,
    };
    let mut src = String::from(STOCKHAM);
    let _ = write!(
        src,
        "
const PAD: bool = {pad};
const PRUNE: bool = {prune};
const FUSED: bool = {fused};

@compute @workgroup_size(64, WG_Y)
fn fft_radix{r}(@builtin(global_invocation_id) gid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {{
    if (closed()) {{
        return;
    }}
    for (var y = gid.y; y < y_extent({r}u); y += nwg.y * WG_Y) {{
        let b = butterfly(gid.x, y, gid.z, {r}u);
        if (b.x != NONE) {{
            radix{r}(b.x, b.y);
        }}
    }}
}}

fn radix{r}(base: u32, j: u32) {{
    let s = split(j);
    let q = params.len / {r}u;
    let w1 = twiddle(s.y * params.tw_stride);
"
    );
    // Twiddle powers w^k as products of two lower powers (log2 k roundings deep).
    for k in 2..r {
        let _ = writeln!(src, "    let w{k} = cmul(w{}, w{});", k / 2, k - k / 2);
    }
    let _ = writeln!(src, "    let x0 = load(base, j);");
    for k in 1..r {
        let _ = writeln!(src, "    let x{k} = cmul(load(base, j + {k}u * q), w{k});");
    }
    let x: Vec<String> = (0..r).map(|k| format!("x{k}")).collect();
    let out = g.dft(&x);
    src.push_str(&g.code);
    for (k, v) in out.iter().enumerate() {
        let _ = writeln!(src, "    store(base, s, {r}u, {k}u, {v});");
    }
    src.push_str("}\n");
    src
}

/// The FFT length for at least `need` points per line, at most `max_len`: among lengths with only
/// the factors 2, 3 and 5, the one with the least work (len^2 times the passes; each pass is one
/// streaming read and write of the grid), the shortest on ties. When `need > max_len`, the
/// longest such length `<= max_len`.
pub fn fft_len_for(need: usize, max_len: usize) -> usize {
    let max_len = max_len.max(2);
    let passes = |l: usize| radices(l).map(|r| r.len());
    (need.max(2)..=max_len)
        .filter_map(|l| passes(l).map(|p| (l * l * p, l)))
        .min()
        .map(|(_, l)| l)
        .unwrap_or_else(|| {
            (2..=max_len)
                .rev()
                .find(|&l| passes(l).is_some())
                .unwrap_or(2)
        })
}

/// `(len, intervals)` for `n` points spanning `span` units: at least [`MIN_INTERVALS`],
/// `sqrt(n / POINTS_PER_BOX)` and [`INTERVALS_PER_UNIT`] per unit of span, the FFT length from
/// [`fft_len_for`] (capped at `max_len`), then every interval that length allows.
pub fn grid_for_capped(n: usize, span: f32, max_len: usize) -> (usize, usize) {
    let by_span = if span.is_finite() {
        (span.max(0.0) * INTERVALS_PER_UNIT).ceil() as usize
    } else {
        0
    };
    let by_points = ((n / POINTS_PER_BOX) as f64).sqrt().ceil() as usize;
    grid_with_intervals(by_span.max(by_points).max(MIN_INTERVALS), max_len)
}

/// `(len, intervals)` for at least `wanted` intervals per axis: the FFT length from
/// [`fft_len_for`] (capped at `max_len`, itself within 8..=[`MAX_FFT_LEN`]), then every interval
/// that length allows.
fn grid_with_intervals(wanted: usize, max_len: usize) -> (usize, usize) {
    let len = fft_len_for(
        2 * NODES_PER_INTERVAL * wanted,
        max_len.clamp(2 * NODES_PER_INTERVAL, MAX_FFT_LEN),
    );
    (len, len / (2 * NODES_PER_INTERVAL))
}

/// What a run of [`FftRepulsion`] measured, for [`grid_for_measured`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measured {
    /// Largest extent of the embedding.
    pub span: f32,
    /// Interval width of the run.
    pub width: f32,
    /// Most points in a 3 x 3 neighbourhood of boxes.
    pub max_near: usize,
    /// Pairs the near-field sums would take (each point with every point of its neighbourhood),
    /// whether or not the near field was on.
    pub pairs: u64,
}

impl Measured {
    /// Whether a run stands behind these figures (before the first one the grid buffer holds
    /// zeros: no interval width).
    pub fn ran(&self) -> bool {
        self.width.is_finite() && self.width > 0.0
    }
}

/// What a run at positions `y` (n × 2) on a grid of `intervals` per axis fitted to their box
/// would measure (the grid of `cpu::bbox`, as tsne_fft_bbox.wgsl; the counts of
/// tsne_fft_chunks.wgsl, `pairs` exact rather than in units of 256): how
/// [`FftRepulsion::for_positions`] sizes the first grid without a run.
pub fn measure(y: &[f32], n: usize, intervals: usize) -> Measured {
    let nothing = Measured {
        span: 0.0,
        width: 0.0,
        max_near: 0,
        pairs: 0,
    };
    if n == 0 || y.len() < 2 * n {
        return nothing;
    }
    let intervals = intervals.max(1);
    let grid = cpu::bbox(y, n, 2, intervals);
    if !(grid.width.is_finite() && grid.width > 0.0) {
        return nothing;
    }
    // The span (floored as the GPU floors it) is what the width was made of.
    let span = grid.width * intervals as f64 / (1.0 + 1.0e-4);
    let mut counts = vec![0u64; intervals * intervals];
    for p in y.chunks_exact(2).take(n) {
        let (cell, _) = grid.locate(p);
        counts[cell[1] * intervals + cell[0]] += 1;
    }
    let (mut max_near, mut pairs) = (0u64, 0u64);
    for by in 0..intervals {
        for bx in 0..intervals {
            let mut near = 0;
            for ny in by.saturating_sub(1)..(by + 2).min(intervals) {
                for nx in bx.saturating_sub(1)..(bx + 2).min(intervals) {
                    near += counts[ny * intervals + nx];
                }
            }
            max_near = max_near.max(near);
            pairs += counts[by * intervals + bx] * near;
        }
    }
    Measured {
        span: span as f32,
        width: grid.width as f32,
        max_near: max_near as usize,
        pairs,
    }
}

/// `(len, intervals)` for the next runs from what the last one measured: the cheapest of
/// - plain interpolation, intervals at most [`PLAIN_WIDTH`] wide (near field off), and
/// - every near-field grid (one per FFT length) from boxes so wide that the busiest
///   neighbourhood would hold about [`NEAR_TARGET`] points down to boxes just wider than
///   [`NEAR_MIN_WIDTH`],
///
/// by the cost `len^2 + PAIR_COST * pairs`, the pairs scaled from the measured ones by the
/// squared width (the density assumed the same at all widths). All at least [`MIN_INTERVALS`].
/// Dense embeddings (early exaggeration, large n) take the plain grid; wide, sparse ones (late
/// iterations) the near field with a coarse grid, as coarse as the pairs allow: its force error
/// does not grow with the width (module doc), so there is no floor on intervals per unit of
/// span. On the final 10,000-point MNIST embedding (span 187) that is 15 intervals of 12.5 units
/// (a 120-point FFT, 17 ms a call, force error 0.05%), where a floor of 0.2 intervals per unit
/// gave 40 of 4.7 (320 points, 54 ms, 0.10%).
pub fn grid_for_measured(m: Measured, max_len: usize) -> (usize, usize) {
    let span = if m.span.is_finite() {
        m.span.max(0.0) as f64
    } else {
        0.0
    };
    let at_least = |wanted: usize| grid_with_intervals(wanted.max(MIN_INTERVALS), max_len);
    if !m.ran() {
        return at_least((span as f32 * INTERVALS_PER_UNIT).ceil() as usize);
    }
    let intervals_for = |width: f64| (span / width).ceil().min(MAX_FFT_LEN as f64) as usize;
    let cost = |(len, intervals): (usize, usize)| -> f64 {
        let width = span / intervals as f64;
        let pairs = if width * HINT_SLACK as f64 > NEAR_MIN_WIDTH as f64 {
            m.pairs as f64 * (width / m.width as f64).powi(2)
        } else {
            0.0
        };
        (len * len) as f64 + PAIR_COST * pairs
    };
    let plain = at_least(intervals_for(PLAIN_WIDTH as f64));
    let mut best = (cost(plain), plain);
    // The widest boxes the near field may take: the busiest neighbourhood near NEAR_TARGET.
    let widest = if m.max_near > 0 {
        m.width as f64 * (NEAR_TARGET as f64 / m.max_near as f64).sqrt()
    } else {
        f64::INFINITY
    };
    let narrowest = 1.05 * NEAR_MIN_WIDTH as f64;
    if widest >= narrowest {
        // Every near-field grid from the widest boxes to the narrowest, one per FFT length.
        let last = intervals_for(narrowest);
        let mut wanted = intervals_for(widest);
        while wanted <= last {
            let grid = at_least(wanted);
            let c = cost(grid);
            if c < best.0 {
                best = (c, grid);
            }
            if grid.1 < wanted {
                break; // capped by max_len
            }
            wanted = grid.1 + 1;
        }
    }
    best.1
}

/// [`grid_for_capped`] with the cap [`MAX_FFT_LEN`].
pub fn grid_for(n: usize, span: f32) -> (usize, usize) {
    grid_for_capped(n, span, MAX_FFT_LEN)
}

fn u32_of(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::shape(OP, format!("{what} = {v} exceeds u32")))
}

/// Batched 2-D complex FFTs of `len x len` grids (row-major vec2<f32>, `channels` grids one
/// after the other), in place, written in WGSL (tsne_fft_stockham.wgsl plus generated butterflies:
/// mixed-radix Stockham autosort passes of radices up to [`MAX_RADIX`], see [`radices`]), for any
/// `len = 2^a 3^b 5^c` up to [`MAX_FFT_LEN`]. Each axis takes one pass per radix, ping-ponging with a scratch buffer;
/// both axes together take an even number of passes, so the result lands back in the caller's
/// buffer.
pub struct Fft2d {
    pub len: usize,
    /// Most channels one call may transform (the scratch buffer's size).
    pub max_channels: usize,
    radices: Vec<usize>,
    twiddles: wgpu::Buffer,
    scratch: wgpu::Buffer,
}

/// What one axis of passes reads and writes (see [`Fft2d::axis`]).
struct AxisPlan<'a> {
    columns: bool,
    lines: usize,
    /// Elements `>= valid` of the first pass's input are zero.
    valid: usize,
    /// Outputs `>= out_valid` of the last pass are not stored.
    out_valid: usize,
    /// The first pass multiplies `first_src` by this kernel spectrum (fused product).
    fused_kernel: Option<&'a wgpu::Buffer>,
    /// The first pass reads this buffer instead of the current one.
    first_src: Option<&'a wgpu::Buffer>,
    /// Every pass runs only when this grid buffer's `kernel_dirty` is set.
    gate: Option<&'a wgpu::Buffer>,
}

impl Fft2d {
    /// Twiddles exp(-2 pi i k / len), k < len, computed in f64 and uploaded once, and a scratch
    /// grid for `max_channels` channels.
    pub fn new(gpu: &Gpu, len: usize, max_channels: usize) -> Result<Fft2d> {
        let radices = radices(len)
            .filter(|_| (2..=MAX_FFT_LEN).contains(&len))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "FFT length {len} must be a product of 2, 3 and 5 in 2..={MAX_FFT_LEN}"
                ))
            })?;
        let twiddles: Vec<f32> = (0..len.max(4))
            .flat_map(|k| {
                let a = -std::f64::consts::TAU * k as f64 / len as f64;
                [a.cos() as f32, a.sin() as f32]
            })
            .collect();
        Ok(Fft2d {
            len,
            max_channels,
            radices,
            twiddles: gpu.storage_from("fft twiddles", &twiddles),
            scratch: gpu.storage("fft scratch", 2 * max_channels * len * len),
        })
    }

    /// The radices of the passes along one axis.
    pub fn radices(&self) -> &[usize] {
        &self.radices
    }

    /// The passes along one axis. `in_data` tracks which buffer holds the current values.
    fn axis(
        &self,
        gpu: &Gpu,
        data: &wgpu::Buffer,
        in_data: &mut bool,
        base: FftParams,
        plan: AxisPlan,
        out: &mut Vec<Dispatch>,
    ) -> Result<()> {
        let len = self.len;
        // Column passes map invocation x to the line: all len columns.
        debug_assert!(!plan.columns || plan.lines == len);
        let mut ns = 1;
        let passes = self.radices.len();
        for (i, &radix) in self.radices.iter().enumerate() {
            let (first, last) = (i == 0, i + 1 == passes);
            let p = FftParams {
                lines: plan.lines as u32,
                line_stride: if plan.columns { 1 } else { len as u32 },
                elem_stride: if plan.columns { len as u32 } else { 1 },
                line_fast: plan.columns as u32,
                valid: if first { plan.valid } else { len } as u32,
                out_valid: if last { plan.out_valid } else { len } as u32,
                ns: ns as u32,
                inv_ns: 1.0 / ns as f32,
                tw_stride: (len / (ns * radix)) as u32,
                gated: plan.gate.is_some() as u32,
                fused: (first && plan.fused_kernel.is_some()) as u32,
                ..base
            };
            let (mut src, dst) = if *in_data {
                (data, &self.scratch)
            } else {
                (&self.scratch, data)
            };
            if first && let Some(s) = plan.first_src {
                src = s;
            }
            let aux = if first {
                plan.fused_kernel.unwrap_or(&self.twiddles)
            } else {
                &self.twiddles
            };
            let gate = plan.gate.unwrap_or(&self.twiddles);
            // One invocation per butterfly; rows: (line, butterfly) pairs flat, 64 along x, the
            // runs of 64 along y; columns: x = line, y = butterfly; z = channel.
            // Gated passes loop over y in a few groups, so a closed gate costs few workgroups.
            let butterflies = len / radix;
            let (x, y) = if plan.columns {
                (plan.lines, butterflies)
            } else {
                (64, (plan.lines * butterflies).div_ceil(64))
            };
            let y = if plan.gate.is_some() {
                y.min(GATED_Y_GROUPS * FFT_WG_Y)
            } else {
                y
            };
            let groups = [
                x.div_ceil(64) as u32,
                y.div_ceil(FFT_WG_Y) as u32,
                base.channels,
            ];
            let entry = format!("fft_radix{radix}");
            let pad = first && plan.valid < len;
            let prune = last && plan.out_valid < len;
            let fused = first && plan.fused_kernel.is_some();
            let variant = format!(
                "{}{}{}",
                if pad { "_pad" } else { "" },
                if prune { "_prune" } else { "" },
                if fused { "_fused" } else { "" }
            );
            let mut d = launch(
                gpu,
                &format!("tsne_fft_stockham_r{radix}{variant}"),
                &stockham_source(radix, pad, prune, fused),
                &entry,
                &p,
                &[&self.twiddles, src, dst, aux, gate],
                groups,
            )?;
            d.label += if plan.columns { " columns" } else { " rows" };
            out.push(d);
            *in_data = !*in_data;
            ns *= radix;
        }
        Ok(())
    }

    fn params(&self, channels: usize, inverse: bool) -> Result<FftParams> {
        let len = self.len as u32;
        Ok(FftParams {
            len,
            channels: u32_of("channels", channels)?,
            chan_stride: len * len,
            inverse: inverse as u32,
            ..Default::default()
        })
    }

    fn check(&self, data: &wgpu::Buffer, channels: usize, used: usize) -> Result<()> {
        if used > self.len || channels > self.max_channels || channels == 0 {
            return Err(Error::shape(
                "fft2d",
                format!(
                    "{used} rows/columns of {channels} channels for a {}-point FFT of at most {} \
                     channels",
                    self.len, self.max_channels
                ),
            ));
        }
        check_len("fft2d", "data", data, 2 * channels * self.len * self.len)
    }

    /// Forward DFT of `channels` grids whose nonzero entries all lie in the `valid x valid`
    /// top-left corner (the rest is read as zero, whatever the buffer holds): rows `< valid`
    /// along x, then every column along y.
    pub fn forward(
        &self,
        gpu: &Gpu,
        data: &wgpu::Buffer,
        channels: usize,
        valid: usize,
    ) -> Result<Vec<Dispatch>> {
        self.forward_gated(gpu, data, channels, valid, None)
    }

    /// `forward`, every pass gated on the `kernel_dirty` flag of `gate` (a grid buffer).
    fn forward_gated(
        &self,
        gpu: &Gpu,
        data: &wgpu::Buffer,
        channels: usize,
        valid: usize,
        gate: Option<&wgpu::Buffer>,
    ) -> Result<Vec<Dispatch>> {
        self.check(data, channels, valid)?;
        let base = self.params(channels, false)?;
        let (mut out, mut in_data) = (Vec::new(), true);
        let (len, rows) = (self.len, false);
        let plan = |columns: bool, lines: usize| AxisPlan {
            columns,
            lines,
            valid,
            out_valid: len,
            fused_kernel: None,
            first_src: None,
            gate,
        };
        self.axis(gpu, data, &mut in_data, base, plan(rows, valid), &mut out)?;
        self.axis(gpu, data, &mut in_data, base, plan(true, len), &mut out)?;
        debug_assert!(
            in_data,
            "an even number of passes ends in the caller's buffer"
        );
        Ok(out)
    }

    /// Inverse DFT without the 1 / len^2 factor: every column along y, then only the rows
    /// `< rows_out` along x (the other rows are left unfinished).
    pub fn inverse(
        &self,
        gpu: &Gpu,
        data: &wgpu::Buffer,
        channels: usize,
        rows_out: usize,
    ) -> Result<Vec<Dispatch>> {
        self.inverse_from(gpu, data, channels, rows_out, self.len, None)
    }

    /// Inverse DFT into `data` of the first `rows_out x cols_out` corner. With `product =
    /// Some((spectra, kernel))` its input is not `data` but the fused product of two charge
    /// spectra (2 channels) and a kernel spectrum (see tsne_fft_stockham.wgsl).
    fn inverse_from(
        &self,
        gpu: &Gpu,
        data: &wgpu::Buffer,
        channels: usize,
        rows_out: usize,
        cols_out: usize,
        product: Option<(&wgpu::Buffer, &wgpu::Buffer)>,
    ) -> Result<Vec<Dispatch>> {
        self.check(data, channels, rows_out.max(cols_out))?;
        let base = self.params(channels, true)?;
        // With a product the first pass reads the spectra instead of `data` and writes the
        // scratch buffer as usual, so the passes still end in `data`.
        let (mut out, mut in_data) = (Vec::new(), true);
        let len = self.len;
        let columns = AxisPlan {
            columns: true,
            lines: len,
            valid: len,
            out_valid: rows_out,
            fused_kernel: product.map(|p| p.1),
            first_src: product.map(|p| p.0),
            gate: None,
        };
        self.axis(gpu, data, &mut in_data, base, columns, &mut out)?;
        let rows = AxisPlan {
            columns: false,
            lines: rows_out,
            valid: len,
            out_valid: cols_out,
            fused_kernel: None,
            first_src: None,
            gate: None,
        };
        self.axis(gpu, data, &mut in_data, base, rows, &mut out)?;
        debug_assert!(
            in_data,
            "an even number of passes ends in the caller's buffer"
        );
        Ok(out)
    }
}

/// The buffers of the intermediate stages, for parity tests against [`cpu`].
pub struct Stages<'a> {
    /// One [`GridGeometry`].
    pub grid: &'a wgpu::Buffer,
    /// Node charges: channel 0 = (q1, q2), channel 1 = (q0, 0) at `gy * len + gx`
    /// (only the `nodes x nodes` corner is meaningful); spectra after the forward FFTs.
    pub charges: &'a wgpu::Buffer,
    /// Node potentials: channel 0 = (w^2 q1, w^2 q2), channel 1 = (w^2 q0, w q0), same layout;
    /// after a whole run, without the near field of the boxes where it is on
    /// ([`cpu::far_potentials`]).
    pub potentials: &'a wgpu::Buffer,
    /// `boxes + 1` u32: box b's points sit at slots `starts[b]..starts[b + 1]` of
    /// `sorted_points`.
    pub starts: &'a wgpu::Buffer,
    /// Per slot, the points sorted by box, then by [`cpu::sort_key`], then by point index: (bits
    /// of y_0, bits of y_1, point index, 0) ([`Gpu::read_texels`] reads it back).
    pub sorted_points: &'a TexelTable,
}

/// The FFT-interpolation repulsion for `n` points in 2-D, with its buffers allocated once.
pub struct FftRepulsion {
    n: usize,
    dims: usize,
    intervals: usize,
    /// Cap on the FFT length the span hint may choose.
    max_len: usize,
    /// Floor on the interval width (0: the grid always fits the bounding box exactly).
    min_width: f32,
    /// The interpolation's near-field loop uses subgroups of 8 ([`interpolate_source`]).
    subgroups: bool,
    fft: Fft2d,
    grid: wgpu::Buffer,
    /// `[kernel_width, min_width]`: the width the cached kernel spectrum was computed for
    /// (written by tsne_fft_kernel) and the width floor (written by `set_span_hint`).
    state: wgpu::Buffer,
    /// Points per box, and their prefix sum (boxes + 1): box b's slots of the sorted order.
    box_counts: wgpu::Buffer,
    starts: wgpu::Buffer,
    /// Points per sort key (2n), and their prefix sum (2n + 1).
    key_counts: wgpu::Buffer,
    key_starts: wgpu::Buffer,
    /// Per point: its box, then its sort key; and its provisional rank within the key.
    point_key: wgpu::Buffer,
    point_rank: wgpu::Buffer,
    /// The point index in each slot of the key-sorted order, before ordering within keys.
    slot_point: TexelTable,
    /// Per slot of the sorted order: the position's bits and the point index (read by the
    /// spread and the interpolation).
    sorted_points: TexelTable,
    /// Per node (nodes x nodes): the potentials (phi0, phi1, phi2, psi) with the near field
    /// taken out, written by tsne_fft_near for the interpolation.
    node_table: TexelTable,
    charges: wgpu::Buffer,
    /// Node charges `(q0, q1, q2, 0)`, nodes x nodes: kept for the near-field pass (the FFT
    /// transforms `charges` in place).
    node_charges: TexelTable,
    /// Chunks of [`CHUNK_POINTS`] points per box, and their prefix sum (boxes + 1): the
    /// interpolation's work items.
    chunks: wgpu::Buffer,
    chunk_starts: wgpu::Buffer,
    /// Per chunk: its points' charges on the box's 16 nodes (tsne_fft_spread.wgsl).
    spread_parts: wgpu::Buffer,
    /// One u32: the most points in a 3 x 3 neighbourhood of boxes (tsne_fft_chunks).
    stats: wgpu::Buffer,
    /// Per-workgroup partial results of the bbox fold and of the scans.
    partials: wgpu::Buffer,
    kernel: wgpu::Buffer,
    potentials: wgpu::Buffer,
}

impl FftRepulsion {
    /// Buffers for `n` points of `dims` = 2 dimensions, the grid sized for [`DEFAULT_SPAN`].
    pub fn new(gpu: &Gpu, n: usize, dims: usize) -> Result<Self> {
        let (len, _) = grid_for(n, DEFAULT_SPAN);
        Self::with_fft_len(gpu, n, dims, len)
    }

    /// As `new`, the grid sized for positions `y` (n × dims) as a refresh after a run at them
    /// would size it ([`measure`], [`grid_for_measured`]): a run can start on the grid it needs
    /// (70,000 points from a PCA start: 64^2, where the guess from n is 540^2), instead of one
    /// iteration on the guess and a re-size (~0.6 s).
    pub fn for_positions(gpu: &Gpu, n: usize, dims: usize, y: &[f32]) -> Result<Self> {
        let (_, guess) = grid_for(n, DEFAULT_SPAN);
        if dims != 2 || y.len() != n * dims {
            return Self::new(gpu, n, dims);
        }
        let m = measure(y, n, guess);
        if !m.ran() {
            return Self::new(gpu, n, dims);
        }
        let (len, intervals) = grid_for_measured(m, MAX_FFT_LEN);
        let mut fft = Self::with_fft_len(gpu, n, dims, len)?;
        fft.set_min_width(gpu, HINT_SLACK * m.span / intervals as f32);
        Ok(fft)
    }

    /// As `new`, with an explicit FFT length (a product of 2, 3 and 5 in 8..=2048); `len / 8`
    /// intervals, no width floor (the grid fits the bounding box exactly).
    pub fn with_fft_len(gpu: &Gpu, n: usize, dims: usize, len: usize) -> Result<Self> {
        if dims != 2 {
            return Err(Error::InvalidArgument(format!(
                "{OP}: the GPU path supports dims = 2, got {dims} (cpu::repulsion_interpolated \
                 handles 1 to 3)"
            )));
        }
        if n == 0 {
            return Err(Error::shape(OP, "no points"));
        }
        u32_of("n", n * (dims + 1))?;
        if len < 2 * NODES_PER_INTERVAL {
            return Err(Error::InvalidArgument(format!(
                "{OP}: FFT length {len} leaves no interval (need >= {})",
                2 * NODES_PER_INTERVAL
            )));
        }
        let fft = Fft2d::new(gpu, len, 2)?;
        let intervals = len / (2 * NODES_PER_INTERVAL);
        let boxes = intervals * intervals;
        let keys = 2 * n;
        let area = len * len;
        Ok(FftRepulsion {
            n,
            dims,
            intervals,
            max_len: MAX_FFT_LEN,
            min_width: 0.0,
            subgroups: crate::tsne::affinity::subgroups_of_8(gpu),
            fft,
            grid: gpu.storage("fft repulsion grid", 8),
            state: gpu.storage_from("fft repulsion kernel state", &[-1.0f32, 0.0]),
            box_counts: gpu.storage("fft repulsion box counts", boxes),
            starts: gpu.storage("fft repulsion starts", boxes + 1),
            key_counts: gpu.storage("fft repulsion key counts", keys),
            key_starts: gpu.storage("fft repulsion key starts", keys + 1),
            point_key: gpu.storage("fft repulsion point_key", n),
            point_rank: gpu.storage("fft repulsion point_rank", n),
            slot_point: gpu.texel_table("fft repulsion slot_point", n, None, true)?,
            sorted_points: gpu.texel_table("fft repulsion sorted points", n, None, true)?,
            node_table: gpu.texel_table(
                "fft repulsion node potentials",
                (NODES_PER_INTERVAL * intervals).pow(2),
                None,
                true,
            )?,
            charges: gpu.storage("fft repulsion charges", 4 * area),
            node_charges: gpu.texel_table(
                "fft repulsion node charges",
                (NODES_PER_INTERVAL * intervals).pow(2),
                None,
                true,
            )?,
            chunks: gpu.storage("fft repulsion chunks", boxes),
            chunk_starts: gpu.storage("fft repulsion chunk starts", boxes + 1),
            spread_parts: gpu.storage("fft repulsion spread parts", 48 * max_chunks(n, boxes)),
            stats: gpu.storage("fft repulsion stats", 4),
            // The bbox partials (BBOX_GROUPS vec4) or a scan's chunk sums and block offsets.
            partials: gpu.storage(
                "fft repulsion partials",
                (4 * BBOX_GROUPS).max(SCAN_GROUPS * (SCAN_LANES + 1)),
            ),
            kernel: gpu.storage("fft repulsion kernel", 2 * area),
            potentials: gpu.storage("fft repulsion potentials", 4 * area),
        })
    }

    /// Re-size the grid for an embedding spanning about `span` units (see [`grid_for`];
    /// capped by [`FftRepulsion::set_max_fft_len`]) unless the current one has at least
    /// 1 / [`HINT_SLACK`] of the intervals wanted and at most 5/4 of the FFT length, and set the
    /// width floor to [`HINT_SLACK`] * `span / intervals`. Meant to be called rarely, say every 50
    /// iterations, with a span the caller read back: `read_grid(gpu)?.span` is the span of the last run's positions, a
    /// 32-byte readback. Returns true when the grid changed: buffers were reallocated and
    /// dispatches recorded before are stale, so `record` must be called again (a new floor
    /// alone needs no new recording).
    pub fn set_span_hint(&mut self, gpu: &Gpu, span: f32) -> Result<bool> {
        let span = if span.is_finite() { span.max(0.0) } else { 0.0 };
        let wanted = grid_for_capped(self.n, span, self.max_len);
        self.apply_hint(gpu, span, wanted)
    }

    /// As [`FftRepulsion::set_span_hint`], sized from what the last run measured instead of a
    /// guess from `n`: its span and its busiest 3 x 3 neighbourhood of boxes (a 36-byte
    /// readback; see [`grid_for_measured`]). What the optimizer calls between batches of
    /// iterations (`optimize::Batches`).
    /// Before the first run there is nothing to measure, and the grid stays as it is.
    pub fn refresh(&mut self, gpu: &Gpu) -> Result<bool> {
        let m = self.measured(gpu)?;
        if !m.ran() {
            return Ok(false);
        }
        let wanted = grid_for_measured(m, self.max_len);
        self.apply_hint(gpu, m.span.max(0.0), wanted)
    }

    /// What the last run measured (a 40-byte readback).
    pub fn measured(&self, gpu: &Gpu) -> Result<Measured> {
        let grid = self.read_grid(gpu)?;
        let stats = gpu.read::<u32>(&self.stats, 0, 2)?;
        Ok(Measured {
            span: if grid.span.is_finite() {
                grid.span
            } else {
                0.0
            },
            width: grid.width,
            max_near: stats[0] as usize,
            pairs: (stats[1] as u64) << PAIRS_SHIFT,
        })
    }

    /// The largest number of points in a 3 x 3 neighbourhood of boxes in the last run.
    pub fn read_max_near(&self, gpu: &Gpu) -> Result<usize> {
        Ok(self.measured(gpu)?.max_near)
    }

    fn apply_hint(
        &mut self,
        gpu: &Gpu,
        span: f32,
        (len, intervals): (usize, usize),
    ) -> Result<bool> {
        // Hysteresis: keep the grid while it is fine enough (intervals at most HINT_SLACK times
        // the aim) and not much larger than needed, so a steadily growing embedding does not
        // re-size (new buffers, maybe new pipelines) at every hint.
        let fine = self.intervals as f32 * HINT_SLACK >= intervals as f32;
        let lean = self.fft.len * 4 <= len * 5;
        let changed = if fine && lean && self.fft.len <= self.max_len {
            false
        } else {
            self.resize(gpu, len)?
        };
        self.set_min_width(gpu, HINT_SLACK * span / self.intervals as f32);
        Ok(changed)
    }

    /// Floor on the interval width (see the module doc); 0 makes the grid fit the box exactly.
    pub fn set_min_width(&mut self, gpu: &Gpu, min_width: f32) {
        self.min_width = if min_width.is_finite() {
            min_width.max(0.0)
        } else {
            0.0
        };
        gpu.write(&self.state, &[-1.0f32, self.min_width]);
    }

    pub fn min_width(&self) -> f32 {
        self.min_width
    }

    /// Cap the FFT length `set_span_hint` may choose (8..=2048; default 2048), shrinking the grid
    /// now if it is larger. A cheaper, coarser grid for slow adapters: wider intervals keep the
    /// accuracy (the near field is exact) but make the near-field sums longer. Returns true when
    /// the grid changed (re-record).
    pub fn set_max_fft_len(&mut self, gpu: &Gpu, max_len: usize) -> Result<bool> {
        if !(8..=MAX_FFT_LEN).contains(&max_len) {
            return Err(Error::InvalidArgument(format!(
                "{OP}: maximum FFT length {max_len} must be in 8..={MAX_FFT_LEN}"
            )));
        }
        self.max_len = max_len;
        if self.fft.len <= max_len {
            return Ok(false);
        }
        self.resize(gpu, fft_len_for(max_len, max_len))
    }

    fn resize(&mut self, gpu: &Gpu, len: usize) -> Result<bool> {
        if len == self.fft.len {
            return Ok(false);
        }
        let (max_len, min_width, subgroups) = (self.max_len, self.min_width, self.subgroups);
        *self = Self::with_fft_len(gpu, self.n, self.dims, len)?;
        self.max_len = max_len;
        self.subgroups = subgroups;
        self.set_min_width(gpu, min_width);
        Ok(true)
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// Use the subgroup near-field loop ([`interpolate_source`]) where the adapter has subgroups
    /// of exactly 8 lanes (the default there), or the plain one; takes effect at the next
    /// `record`. Returns whether subgroups are used.
    pub fn set_subgroups(&mut self, gpu: &Gpu, on: bool) -> bool {
        self.subgroups = on && crate::tsne::affinity::subgroups_of_8(gpu);
        self.subgroups
    }

    /// Intervals per axis.
    pub fn intervals(&self) -> usize {
        self.intervals
    }

    /// FFT length per axis.
    pub fn fft_len(&self) -> usize {
        self.fft.len
    }

    pub fn stages(&self) -> Stages<'_> {
        Stages {
            grid: &self.grid,
            charges: &self.charges,
            potentials: &self.potentials,
            starts: &self.starts,
            sorted_points: &self.sorted_points,
        }
    }

    /// Read the grid the last run computed (a readback: for tests and diagnostics).
    pub fn read_grid(&self, gpu: &Gpu) -> Result<GridGeometry> {
        Ok(gpu.read::<GridGeometry>(&self.grid, 0, 1)?[0])
    }

    /// Record the work that fills `out` with, per point i: `[sum_j w_ij^2 (y_i - y_j)` (dims
    /// values)`, sum_{j != i} w_ij]`, dims + 1 f32 per point, from `positions` (n x dims f32,
    /// row-major). Everything stays on the GPU; the dispatches may be replayed every iteration
    /// (until `set_span_hint` returns true). Run the list whole (or only its first
    /// [`DISPATCHES_THROUGH_SPREAD`]): the kernel spectrum is cached between runs.
    pub fn record(
        &mut self,
        gpu: &Gpu,
        positions: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Vec<Dispatch>> {
        let (n, dims) = (self.n, self.dims);
        check_len(OP, "positions", positions, n * dims)?;
        check_len(OP, "out", out, n * (dims + 1))?;
        let len = self.fft.len;
        let nodes = NODES_PER_INTERVAL * self.intervals;
        let boxes = self.intervals * self.intervals;
        let keys = 2 * n;
        let p = FftParams {
            n: n as u32,
            intervals: self.intervals as u32,
            nodes: nodes as u32,
            len: len as u32,
            boxes: boxes as u32,
            keys: keys as u32,
            ..Default::default()
        };
        let per_point = workgroups_for(n, 256);
        // The scan of the key counts: its `boxes` counts keys.
        let per_key = FftParams {
            boxes: keys as u32,
            ..p
        };
        let counting = [
            positions,
            &self.grid,
            &self.box_counts,
            &self.key_counts,
            &self.starts,
            &self.point_key,
            &self.point_rank,
        ];
        let bbox_buffers = [
            positions,
            &self.grid,
            &self.state,
            &self.stats,
            &self.partials,
        ];
        let count = |entry: &str, groups: [u32; 3]| {
            launch(gpu, "tsne_fft_count", COUNT, entry, &p, &counting, groups)
        };
        let mut d = vec![
            launch(
                gpu,
                "tsne_fft_bbox",
                BBOX,
                "bbox_partials",
                &p,
                &bbox_buffers,
                [BBOX_GROUPS as u32, 1, 1],
            )?,
            launch(
                gpu,
                "tsne_fft_bbox",
                BBOX,
                "bbox",
                &p,
                &bbox_buffers,
                [1, 1, 1],
            )?,
            count("clear_counts", workgroups_for(keys.max(boxes), 256))?,
            count("count_boxes", per_point)?,
        ];
        d.extend(scan(
            gpu,
            &p,
            &self.box_counts,
            &self.starts,
            &self.partials,
        )?);
        d.push(count("count_keys", per_point)?);
        d.extend(scan(
            gpu,
            &per_key,
            &self.key_counts,
            &self.key_starts,
            &self.partials,
        )?);
        d.extend([
            launch_bound(
                gpu,
                "tsne_fft_scatter",
                &with_texel_tables(SCATTER, self.slot_point.shift),
                "scatter_points",
                &p,
                &[
                    self.point_key.as_entire_binding(),
                    self.point_rank.as_entire_binding(),
                    self.key_starts.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&self.slot_point.view),
                ],
                per_point,
            )?,
            launch_bound(
                gpu,
                "tsne_fft_order",
                &with_texel_tables(ORDER, self.sorted_points.shift),
                "order_points",
                &p,
                &[
                    positions.as_entire_binding(),
                    self.point_key.as_entire_binding(),
                    self.key_starts.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&self.slot_point.view),
                    wgpu::BindingResource::TextureView(&self.sorted_points.view),
                ],
                per_point,
            )?,
        ]);
        // The chunks of 32 points per box: the spread's and the interpolation's work items.
        d.push(launch(
            gpu,
            "tsne_fft_chunks",
            CHUNKS,
            "box_chunks",
            &p,
            &[&self.starts, &self.chunks, &self.stats],
            workgroups_for(boxes, 256),
        )?);
        d.extend(scan(
            gpu,
            &p,
            &self.chunks,
            &self.chunk_starts,
            &self.partials,
        )?);
        let spread_bindings = [
            self.grid.as_entire_binding(),
            self.starts.as_entire_binding(),
            wgpu::BindingResource::TextureView(&self.sorted_points.view),
            self.charges.as_entire_binding(),
            wgpu::BindingResource::TextureView(&self.node_charges.view),
            self.chunk_starts.as_entire_binding(),
            self.spread_parts.as_entire_binding(),
        ];
        let spread = with_texel_tables(SPREAD, self.node_charges.shift);
        d.extend([
            launch_bound(
                gpu,
                "tsne_fft_spread",
                &spread,
                "spread_chunks",
                &p,
                &spread_bindings,
                workgroups_for(max_chunks(n, boxes), 64),
            )?,
            launch_bound(
                gpu,
                "tsne_fft_spread",
                &spread,
                "spread",
                &p,
                &spread_bindings,
                workgroups_for(boxes, 64),
            )?,
            launch(
                gpu,
                "tsne_fft_kernel",
                KERNEL,
                "kernel_grid",
                &p,
                &[&self.grid, &self.kernel, &self.state],
                [len.div_ceil(64) as u32, GATED_Y_GROUPS as u32, 1],
            )?,
        ]);
        d.extend(tagged(
            self.fft
                .forward_gated(gpu, &self.kernel, 1, len, Some(&self.grid))?,
            "kernel",
        ));
        d.extend(tagged(
            self.fft.forward(gpu, &self.charges, 2, nodes)?,
            "charges",
        ));
        d.extend(tagged(
            self.fft.inverse_from(
                gpu,
                &self.potentials,
                2,
                nodes,
                nodes,
                Some((&self.charges, &self.kernel)),
            )?,
            "potentials",
        ));
        d.push(launch_bound(
            gpu,
            "tsne_fft_near",
            &with_texel_tables(NEAR, self.node_table.shift),
            "near_nodes",
            &p,
            &[
                self.grid.as_entire_binding(),
                self.starts.as_entire_binding(),
                wgpu::BindingResource::TextureView(&self.node_charges.view),
                self.potentials.as_entire_binding(),
                wgpu::BindingResource::TextureView(&self.node_table.view),
            ],
            workgroups_for(boxes, 64),
        )?);
        let interpolate = interpolate_source(self.subgroups);
        d.push(launch_bound(
            gpu,
            if self.subgroups {
                "tsne_fft_interpolate_sg"
            } else {
                "tsne_fft_interpolate"
            },
            &with_texel_tables(&interpolate, self.sorted_points.shift),
            "interpolate",
            &p,
            &[
                self.grid.as_entire_binding(),
                self.starts.as_entire_binding(),
                wgpu::BindingResource::TextureView(&self.sorted_points.view),
                wgpu::BindingResource::TextureView(&self.node_table.view),
                out.as_entire_binding(),
                self.chunk_starts.as_entire_binding(),
            ],
            workgroups_for(max_chunks(n, boxes), CHUNKS_PER_GROUP as u32),
        )?);
        Ok(d)
    }
}

/// An upper bound on the chunks of [`CHUNK_POINTS`] points n points make in `boxes` boxes: every
/// point, and one partial chunk per box.
fn max_chunks(n: usize, boxes: usize) -> usize {
    n.div_ceil(CHUNK_POINTS) + boxes.min(n)
}

/// The exclusive prefix sum `starts` (`p.boxes + 1` u32) of `counts` (`p.boxes` u32): the three
/// passes of tsne_fft_scan.wgsl, with `sums` (at least SCAN_GROUPS * (SCAN_LANES + 1) u32) for
/// their partial sums.
fn scan(
    gpu: &Gpu,
    p: &FftParams,
    counts: &wgpu::Buffer,
    starts: &wgpu::Buffer,
    sums: &wgpu::Buffer,
) -> Result<Vec<Dispatch>> {
    [
        ("scan_chunks", SCAN_GROUPS),
        ("scan_offsets", 1),
        ("scan_counts", SCAN_GROUPS),
    ]
    .into_iter()
    .map(|(entry, groups)| {
        let bound = [counts, starts, sums];
        launch(
            gpu,
            "tsne_fft_scan",
            SCAN,
            entry,
            p,
            &bound,
            [groups as u32, 1, 1],
        )
    })
    .collect()
}

/// Appends `[what]` to the labels of FFT dispatches, so profiles tell the transforms apart.
fn tagged(mut d: Vec<Dispatch>, what: &str) -> Vec<Dispatch> {
    for x in &mut d {
        x.label = format!("{} [{what}]", x.label);
    }
    d
}

/// CPU references: the exact O(N^2) sums, and the same interpolation algorithm in f64, stage by
/// stage (`bbox`, `spread`, `node_potentials`, `interpolate`), for any dims in 1..=3.
pub mod cpu {
    use super::NODES_PER_INTERVAL as P;

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

    /// A point index hashed to 32 bits (Wellons' lowbias32), as `mix` in tsne_fft_count.wgsl.
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
    /// box's 2 count keys, from a hash of i (tsne_fft_count.wgsl).
    pub fn sort_key(i: u32, first: u32, count: u32) -> u32 {
        2 * first + mix(i) % (2 * count)
    }

    /// The order the GPU's counting sort leaves the points of box slice `first..first + count`
    /// in, given their indices: by [`sort_key`], then by index.
    pub fn order_in_box(points: &mut [u32], first: u32) {
        let count = points.len() as u32;
        points.sort_unstable_by_key(|&i| (sort_key(i, first, count), i));
    }

    /// The interpolation grid (as tsne_fft_bbox.wgsl, in f64).
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
    /// still centred on it), as tsne_fft_bbox.wgsl.
    pub fn bbox_with_floor(
        y: &[f32],
        n: usize,
        dims: usize,
        intervals: usize,
        min_width: f64,
    ) -> Grid {
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
    /// node index `sum_d g_d nodes^d` (x fastest), as tsne_fft_spread.wgsl.
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
    /// tsne_fft_interpolate.wgsl: per point `[c_d Phi0 - Phi_{1+d}, Psi - 1]`, c = y - centre.
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
    /// tsne_fft_near.wgsl: the width is above [`NEAR_MIN_WIDTH`](super::NEAR_MIN_WIDTH) and the
    /// box and its neighbours hold at most [`NEAR_CAP`](super::NEAR_CAP) points.
    pub fn near_boxes(y: &[f32], n: usize, grid: &Grid) -> Vec<bool> {
        let (dims, m) = (grid.dims, grid.intervals);
        let boxes = m.pow(dims as u32);
        if grid.width <= super::NEAR_MIN_WIDTH as f64 {
            return vec![false; boxes];
        }
        let cell_of =
            |b: usize| -> Vec<usize> { (0..dims).map(|d| (b / m.pow(d as u32)) % m).collect() };
        let point_cells = cells(y, n, grid);
        (0..boxes)
            .map(|b| {
                let c = cell_of(b);
                let count = point_cells.iter().filter(|pc| adjacent(pc, &c)).count();
                count <= super::NEAR_CAP
            })
            .collect()
    }

    /// Node potentials without the near field, as tsne_fft_near.wgsl: for every node of a box
    /// with `near[box]`, minus the node-to-node sums over the nodes of its neighbouring boxes
    /// (what interpolation gives for the pairs that [`near_sums`] sums exactly).
    pub fn far_potentials(
        charges: &[f64],
        potentials: &[f64],
        grid: &Grid,
        near: &[bool],
    ) -> Vec<f64> {
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

    /// Exact near-field sums per point, as tsne_fft_interpolate.wgsl: for a point in a box with
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
}
