// t-SNE FFT repulsion, step 1: the bounding box of the 2-D embedding and the interpolation grid.
//   lo_d = min_j y_jd, hi_d = max_j y_jd, span = max(max_d (hi_d - lo_d), 1e-3)
//   The grid is a square of `intervals` equal intervals per axis, centred on the box:
//   width = max(span * (1 + 1e-4) / intervals, state.min_width), grid.lo = centre - intervals *
//   width / 2, h = width / 4 (the spacing of the 4 equispaced Lagrange nodes per interval, placed
//   at (t + 1/2) h, t = 0 .. 3, inside each interval).
//   A width floor (min_width, set from the span hint) keeps the node spacing, and so the kernel
//   spectrum, fixed while the box fits: kernel_dirty = (width != state.kernel_width), the width
//   the cached kernel spectrum was computed for (tsne_fft_kernel updates it).
// Later kernels read `grid` instead of any CPU-known value, so the whole step stays on the GPU.
// Bindings (group 0): 0 params (uniform FftParams), 1 positions (read, n x 2 f32 row-major),
//   2 grid (read_write, one Grid, mirrored by `GridGeometry`), 3 state (read, KernelState),
//   4 stats (read_write atomic u32 x 2: invocation 0 clears the busiest-neighbourhood count and
//   the pair count that tsne_fft_chunks fills).
// ONE workgroup of 256 invocations: each folds a strided share of the points, then a tree
// reduction in workgroup memory; invocation 0 writes the grid.
// Params mirror `tsne::fft_repulsion::FftParams`.

struct Params {
    n: u32, intervals: u32, nodes: u32, len: u32,
    inv_ns: f32, boxes: u32, lines: u32, channels: u32,
    line_stride: u32, elem_stride: u32, chan_stride: u32, valid: u32,
    inverse: u32, ns: u32, line_fast: u32, tw_stride: u32,
    gated: u32, out_valid: u32, fused: u32, sub: u32,
}

// Persistent between calls; mirrors the two f32 of `FftRepulsion::state`.
struct KernelState {
    kernel_width: f32,
    min_width: f32,
}

struct Grid {
    lo: vec2<f32>,
    center: vec2<f32>,
    width: f32,
    h: f32,
    span: f32,
    kernel_dirty: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> positions: array<f32>;
@group(0) @binding(2) var<storage, read_write> grid: Grid;
@group(0) @binding(3) var<storage, read> state: KernelState;
@group(0) @binding(4) var<storage, read_write> stats: array<atomic<u32>>;

const GROUP: u32 = 256u;
var<workgroup> lo_part: array<vec2<f32>, GROUP>;
var<workgroup> hi_part: array<vec2<f32>, GROUP>;

@compute @workgroup_size(256)
fn bbox(@builtin(local_invocation_index) lid: u32) {
    var lo = vec2<f32>(3.0e38, 3.0e38);
    var hi = vec2<f32>(-3.0e38, -3.0e38);
    for (var i = lid; i < params.n; i += GROUP) {
        let y = vec2<f32>(positions[2u * i], positions[2u * i + 1u]);
        lo = min(lo, y);
        hi = max(hi, y);
    }
    lo_part[lid] = lo;
    hi_part[lid] = hi;
    workgroupBarrier();
    for (var stride = GROUP / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            lo_part[lid] = min(lo_part[lid], lo_part[lid + stride]);
            hi_part[lid] = max(hi_part[lid], hi_part[lid + stride]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let box_lo = lo_part[0];
        let box_hi = hi_part[0];
        let extent = box_hi - box_lo;
        // Floor: coincident points (n = 1, or a collapsed start) still get a valid grid.
        let span = max(max(extent.x, extent.y), 1.0e-3);
        let center = 0.5 * (box_lo + box_hi);
        let width = max(span * (1.0 + 1.0e-4) / f32(params.intervals), state.min_width);
        var g: Grid;
        g.center = center;
        g.lo = center - vec2<f32>(0.5 * width * f32(params.intervals));
        g.width = width;
        g.h = width / 4.0;
        g.span = span;
        g.kernel_dirty = select(0u, 1u, width != state.kernel_width);
        grid = g;
        atomicStore(&stats[0], 0u);
        atomicStore(&stats[1], 0u);
    }
}
