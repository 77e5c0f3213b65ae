//! The interpolation grid: where it lies (the `bbox` kernel, on the GPU every call, so the box
//! may move every iteration with no readback) and how fine it is (sized on the CPU from a span
//! hint or from what the last run measured, between batches of iterations).

use std::sync::LazyLock;

use crate::error::Result;
use crate::gpu::{Dispatch, Gpu};
use crate::ops::launch;
use crate::wgsl::{WgslStruct, u32_constants, with_structs};

use super::interpolate::NEAR_MIN_WIDTH;
use super::{FftParams, FftRepulsion, GridGeometry, KernelState, cpu, transform::radices};

static BBOX: LazyLock<String> = LazyLock::new(|| {
    with_structs(
        &[
            FftParams::declare("Params"),
            KernelState::declare("KernelState"),
            GridGeometry::declare("Grid"),
            u32_constants(&[("GROUPS", BBOX_GROUPS)]),
        ],
        include_str!("bbox.wgsl"),
    )
});

/// Lagrange nodes per interval and axis (FIt-SNE's p; it uses 3). The shaders are written for 4.
pub const NODES_PER_INTERVAL: usize = 4;
/// Minimum number of intervals per axis: a 64-point FFT (FIt-SNE: 50 intervals with p = 3).
/// Coarse grids are accurate here: dense layouts get intervals at most `PLAIN_WIDTH` wide, and
/// wide ones the exact near field; a higher minimum makes small embeddings pay for FFTs they do
/// not need (docs/kernel-notes.md).
pub(super) const MIN_INTERVALS: usize = 8;
/// Longest FFT line: two channels of 2048^2 complex f32 are 64 MiB, half of the 128 MiB a
/// storage binding may span on common adapters.
pub const MAX_FFT_LEN: usize = 2048;
/// Workgroups of the bounding-box fold (`bbox_partials`, `GROUPS` in bbox.wgsl), small ones of 8
/// invocations: one workgroup runs on one of lavapipe's threads, so a single workgroup left the
/// other thread idle, and a barrier costs lavapipe a switch per 8 invocations
/// (docs/kernel-notes.md).
pub(super) const BBOX_GROUPS: usize = 64;

/// The intervals per unit of embedding span a grid sized from a span alone takes
/// ([`grid_for`], [`FftRepulsion::set_span_hint`]; widths of at most 5), before anything is
/// measured. With the near field summed exactly the force error does not depend on the width
/// (module doc), so the width trades FFT work (fewer, wider intervals) against near-field sums
/// (more points per box): [`FftRepulsion::refresh`] sizes it by the measured density
/// ([`grid_for_measured`]) with no such floor.
pub(super) const INTERVALS_PER_UNIT: f32 = 0.2;
/// Before anything is measured, the span hint asks for at least `sqrt(n / POINTS_PER_BOX)`
/// intervals per axis: about this many points per box on average over the bounding box.
pub(super) const POINTS_PER_BOX: usize = 16;
/// The cost of one near-field pair in FFT grid elements (`len^2`, all transforms of a call) for
/// [`grid_for_measured`]: the ratio of a pair's time to a grid element's on lavapipe (the
/// measurements, and whole runs with it, in docs/kernel-notes.md).
pub(super) const PAIR_COST: f64 = 0.0015;
/// [`FftRepulsion::refresh`] aims at boxes small enough that the busiest 3 x 3 neighbourhood
/// holds about this many points: each point then sums at most that many pairs exactly, and the
/// embedding can grow 2.5x denser before [`NEAR_CAP`](super::interpolate::NEAR_CAP) switches a
/// box to plain interpolation.
pub(super) const NEAR_TARGET: usize = 1536;
/// The narrowest intervals [`grid_for_measured`] picks: where a dense embedding would need
/// narrower boxes to keep the near-field sums short, intervals this wide (at most
/// `NEAR_MIN_WIDTH` even with `HINT_SLACK`) interpolate plainly at 0.3% force error, and no
/// point sums any pairs exactly.
pub(super) const PLAIN_WIDTH: f32 = 0.7;
/// The width floor `set_span_hint` sets is this times `span / intervals`: room for the embedding
/// to grow by 10% before the kernel spectrum must be recomputed, at the price of intervals up to
/// 10% wider than the box needs.
pub(super) const HINT_SLACK: f32 = 1.1;
/// The span `new` sizes the grid for (with few points: the minimum, 8 intervals per axis).
pub const DEFAULT_SPAN: f32 = 40.0;

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

/// `(len, intervals)` for `n` points spanning `span` units: at least `MIN_INTERVALS`,
/// `sqrt(n / POINTS_PER_BOX)` and `INTERVALS_PER_UNIT` per unit of span, the FFT length from
/// [`fft_len_for`] (capped at `max_len`), then every interval that length allows.
pub(super) fn grid_for_capped(n: usize, span: f32, max_len: usize) -> (usize, usize) {
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
/// would measure (the grid of `cpu::bbox`, as bbox.wgsl; the counts of
/// chunks.wgsl, `pairs` exact rather than in units of 256): how
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
/// - plain interpolation, intervals at most `PLAIN_WIDTH` wide (near field off), and
/// - every near-field grid (one per FFT length) from boxes so wide that the busiest
///   neighbourhood would hold about `NEAR_TARGET` points down to boxes just wider than
///   `NEAR_MIN_WIDTH`,
///
/// by the cost `len^2 + PAIR_COST * pairs`, the pairs scaled from the measured ones by the
/// squared width (the density assumed the same at all widths). All at least `MIN_INTERVALS`.
/// Dense embeddings (early exaggeration, large n) take the plain grid; wide, sparse ones (late
/// iterations) the near field with a coarse grid, as coarse as the pairs allow: its force error
/// does not grow with the width (module doc), so there is no floor on intervals per unit of
/// span (what that gains on MNIST: docs/kernel-notes.md).
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

/// `grid_for_capped` with the cap [`MAX_FFT_LEN`].
pub fn grid_for(n: usize, span: f32) -> (usize, usize) {
    grid_for_capped(n, span, MAX_FFT_LEN)
}

/// This stage's kernels as the GPU gets them, by file (for [`super::kernel_sources`]).
pub(super) fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![("src/tsne/fft/bbox.wgsl", BBOX.to_string())]
}

impl FftRepulsion {
    /// The bounding box fold and the grid it places (`bbox_partials`, then `bbox`).
    pub(super) fn record_bbox(
        &self,
        gpu: &Gpu,
        positions: &wgpu::Buffer,
        p: &FftParams,
    ) -> Result<Vec<Dispatch>> {
        let bbox_buffers = [
            positions,
            &self.grid,
            &self.state,
            &self.stats,
            &self.partials,
        ];
        Ok(vec![
            launch(
                gpu,
                "tsne_fft_bbox",
                &BBOX,
                "bbox_partials",
                p,
                &bbox_buffers,
                [BBOX_GROUPS as u32, 1, 1],
            )?,
            launch(
                gpu,
                "tsne_fft_bbox",
                &BBOX,
                "bbox",
                p,
                &bbox_buffers,
                [1, 1, 1],
            )?,
        ])
    }
}
