//! O(N) t-SNE repulsion by FFT-accelerated interpolation (FIt-SNE, Linderman et al. 2019).
//!
//! For every point i of a 2-D embedding y this fills, per point, `[sum_j w_ij^2 (y_i - y_j)` (2
//! values)`, sum_{j != i} w_ij]` with w_ij = 1 / (1 + |y_i - y_j|^2), in O(N + G log G) for a grid
//! of G nodes instead of O(N^2). [`FftRepulsion::record`] runs these stages, in this order; each
//! is named after its WGSL file, which sits beside the module that launches it:
//!
//! - `bbox` ([`grid`]): a GPU reduction finds the bounding box and writes the grid geometry
//!   ([`GridGeometry`]: origin, interval width, node spacing h) to a small storage buffer that
//!   every later kernel reads, so the box can change every iteration with no readback.
//! - `count`, `scan`, `scatter`, `order` (`sort`): a stable counting sort of the points by box, in
//!   two rounds: the box counts and their prefix sum, then within each box by a key hashed from
//!   the point index ([`cpu::sort_key`]: 2 keys per point of the box, so ~1.5 points a key
//!   however crowded the box), each point index to a slot of its key, then each point's position
//!   to the slot given by its index's rank within the key. Integer atomics decide only the
//!   provisional slots, so the final order, and every float sum after it, is the same in every
//!   run: same seed, same adapter, same embedding. The cost depends on n, not on how the points
//!   crowd (keys by position would hold thousands of points each where early exaggeration packs
//!   a cluster into a speck).
//! - `chunks`, `spread` (`spread`): each box's points in chunks of 32 (the work items of the
//!   spread and the interpolation); each box gathers the charges `[1, y_x - c_x, y_y - c_y]` (c
//!   the centre of the bounding box) of its points onto its 4 x 4 Lagrange nodes (p = 4
//!   equispaced nodes per interval). A gather, no float atomics.
//! - `kernel`, `stockham` ([`transform`]): node-to-node sums of w and w^2 as circular
//!   convolutions on a zero-padded `len x len` grid (mixed-radix Stockham FFTs written in WGSL,
//!   [`transform::Fft2d`], for any `len = 2^a 3^b 5^c`). Three real charge grids travel in two
//!   complex channels and both kernels in one. The kernel product is fused into the first inverse
//!   pass, and the kernel spectrum is cached: it is recomputed (one 2-D FFT) only when the node
//!   spacing changes.
//! - `near` ([`interpolate`]): for every box whose near field is on
//!   (`interpolate::NEAR_MIN_WIDTH`, [`interpolate::NEAR_CAP`]), the interpolated contribution
//!   of the points in the 3 x 3 boxes around it is taken out of its node potentials (a local
//!   12 x 12-node stencil per box).
//! - `interpolate` ([`interpolate`]): the node potentials are interpolated back to the points
//!   with the same Lagrange weights, the exact sums over the near field are added,
//!   `y_i sum w^2 - sum w^2 y_j` gives the force sum, and 1 (w_ii) is taken off Z.
//!
//! The near field is summed exactly so that the force error does not grow with the interval
//! width (why, in [`interpolate`]; the accuracy measured, and the sparse layouts where it is
//! worse, in docs/kernel-notes.md).
//!
//! Grid size: `intervals` per axis and an FFT length `len >= 8 * intervals` (the node grid
//! doubled, so the circular convolution equals the linear one), `len` a product of 2, 3 and 5 (see
//! [`grid::fft_len_for`]). For a given `len` all `len / 8` intervals are used (more intervals cost
//! nothing in the FFT). `new` sizes the grid for a span of [`grid::DEFAULT_SPAN`];
//! [`FftRepulsion::set_span_hint`] re-sizes it from a span (at least `grid::MIN_INTERVALS`, at
//! least `sqrt(n / POINTS_PER_BOX)` and `grid::INTERVALS_PER_UNIT` per unit of span, up to the
//! largest FFT, 2048), and [`FftRepulsion::refresh`] (the optimizer calls it between batches of
//! iterations) from what the last run measured: its span, its busiest 3 x 3 neighbourhood of
//! boxes and its near-field pairs, taking the cheapest grid whose busiest neighbourhood holds at
//! most about `grid::NEAR_TARGET` points ([`grid::grid_for_measured`]).
//!
//! Node spacing: the grid is centred on the actual bounding box (on the GPU, every call) with
//! interval width `max(span / intervals, min_width)`. `with_fft_len` sets no floor (the grid
//! always fits the box exactly); `set_span_hint` sets the floor to `grid::HINT_SLACK` times the
//! hinted span over the intervals, so while the embedding stays within that size the spacing,
//! and so the kernel spectrum, stays the same from call to call and the kernel FFT is skipped
//! (gated on the GPU, no readback). A box that outgrows the floor stretches the grid: correct,
//! a little coarser, and the kernel is recomputed every call until the next hint. A stale hint
//! costs speed, never correctness.
//!
//! Only `dims = 2` runs on the GPU; the CPU references in [`cpu`] handle 1 to 3 dimensions.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, TexelTable};
use crate::ops::check_len;
use crate::wgsl_struct;

pub mod cpu;
pub mod grid;
pub mod interpolate;
mod sort;
mod spread;
pub mod transform;

pub use grid::Measured;

use grid::{
    BBOX_GROUPS, DEFAULT_SPAN, HINT_SLACK, MAX_FFT_LEN, NODES_PER_INTERVAL, fft_len_for, grid_for,
    grid_for_capped, grid_for_measured, measure,
};
use sort::{SCAN_GROUPS, SCAN_LANES};
use spread::{PAIRS_SHIFT, max_chunks};
use transform::Fft2d;

const OP: &str = "fft repulsion";
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
        /// Sort: the keys of the counting sort's second round, 2n (see count.wgsl).
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

wgsl_struct! {
    /// What persists on the GPU between calls (declared to the shaders as `KernelState`).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    struct KernelState {
        /// The interval width the cached kernel spectrum was computed for (written by the
        /// `kernel` stage; negative before the first).
        kernel_width: f32,
        /// The floor on the interval width (written by `set_min_width`).
        min_width: f32,
    }
}

/// This module's kernels as the GPU gets them, by file (tests/shaders.rs validates each). The
/// generated ones, stockham.wgsl and interpolate.wgsl, come once per variant the program can
/// make, so a file may appear several times.
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    [
        grid::kernel_sources(),
        sort::kernel_sources(),
        spread::kernel_sources(),
        transform::kernel_sources(),
        interpolate::kernel_sources(),
    ]
    .concat()
}

fn u32_of(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::shape(OP, format!("{what} = {v} exceeds u32")))
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
    /// The interpolation's near-field loop uses subgroups of 8 (`interpolate::interpolate_source`).
    subgroups: bool,
    fft: Fft2d,
    grid: wgpu::Buffer,
    /// One [`KernelState`].
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
    /// taken out, written by near.wgsl for the interpolation.
    node_table: TexelTable,
    charges: wgpu::Buffer,
    /// Node charges `(q0, q1, q2, 0)`, nodes x nodes: kept for the near-field pass (the FFT
    /// transforms `charges` in place).
    node_charges: TexelTable,
    /// Chunks of `CHUNK_POINTS` (32) points per box, and their prefix sum (boxes + 1): the
    /// interpolation's work items.
    chunks: wgpu::Buffer,
    chunk_starts: wgpu::Buffer,
    /// Per chunk: its points' charges on the box's 16 nodes (spread.wgsl).
    spread_parts: wgpu::Buffer,
    /// One u32: the most points in a 3 x 3 neighbourhood of boxes (chunks.wgsl).
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
    /// instead of one iteration on a guess from n and a re-size (docs/kernel-notes.md).
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
            subgroups: gpu.subgroups_of_8(),
            fft,
            grid: gpu.storage("fft repulsion grid", 8),
            state: gpu.storage_from(
                "fft repulsion kernel state",
                &[KernelState {
                    kernel_width: -1.0,
                    min_width: 0.0,
                }],
            ),
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
    /// 1 / `HINT_SLACK` of the intervals wanted and at most 5/4 of the FFT length, and set the
    /// width floor to `HINT_SLACK` * `span / intervals`. Meant to be called rarely, say every 50
    /// iterations, with a span the caller read back: `read_grid(gpu)?.span` is the span of the
    /// last run's positions, a 32-byte readback. Returns true when the grid changed: buffers were reallocated and
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
        gpu.write(
            &self.state,
            &[KernelState {
                kernel_width: -1.0,
                min_width: self.min_width,
            }],
        );
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

    /// Use the subgroup near-field loop (`interpolate::interpolate_source`) where the adapter has
    /// subgroups of exactly 8 lanes (the default there), or the plain one; takes effect at the
    /// next `record`. Returns whether subgroups are used.
    pub fn set_subgroups(&mut self, gpu: &Gpu, on: bool) -> bool {
        self.subgroups = on && gpu.subgroups_of_8();
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
    /// (until `set_span_hint` returns true).
    pub fn record(
        &mut self,
        gpu: &Gpu,
        positions: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Vec<Dispatch>> {
        check_len(OP, "out", out, self.n * (self.dims + 1))?;
        let mut d = self.record_through_spread(gpu, positions)?;
        let p = self.params();
        d.extend(self.record_convolution(gpu, &p)?);
        d.push(self.record_near(gpu, &p)?);
        d.push(self.record_interpolate(gpu, out, &p)?);
        Ok(d)
    }

    /// The first stages of [`FftRepulsion::record`]: the box, the counting sort, the chunks of
    /// each box and the spread, after which the grid and the node charges are in place (for
    /// tests and profiles of the stages).
    pub fn record_through_spread(
        &mut self,
        gpu: &Gpu,
        positions: &wgpu::Buffer,
    ) -> Result<Vec<Dispatch>> {
        check_len(OP, "positions", positions, self.n * self.dims)?;
        let p = self.params();
        let mut d = self.record_bbox(gpu, positions, &p)?;
        d.extend(self.record_sort(gpu, positions, &p)?);
        d.extend(self.record_spread(gpu, &p)?);
        Ok(d)
    }

    /// The uniform of every stage at the current grid.
    fn params(&self) -> FftParams {
        let n = self.n;
        let len = self.fft.len;
        let nodes = NODES_PER_INTERVAL * self.intervals;
        let boxes = self.intervals * self.intervals;
        let keys = 2 * n;
        FftParams {
            n: n as u32,
            intervals: self.intervals as u32,
            nodes: nodes as u32,
            len: len as u32,
            boxes: boxes as u32,
            keys: keys as u32,
            ..Default::default()
        }
    }
}
