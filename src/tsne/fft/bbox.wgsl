// t-SNE FFT repulsion, `bbox`: the bounding box of the 2-D embedding and the interpolation grid.
//   lo_d = min_j y_jd, hi_d = max_j y_jd, span = max(max_d (hi_d - lo_d), 1e-3)
//   The grid is a square of `intervals` equal intervals per axis, centred on the box:
//   width = max(span * (1 + 1e-4) / intervals, state.min_width), grid.lo = centre - intervals *
//   width / 2, h = width / 4 (the spacing of the 4 equispaced Lagrange nodes per interval, placed
//   at (t + 1/2) h, t = 0 .. 3, inside each interval).
//   A width floor (min_width, set from the span hint) keeps the node spacing, and so the kernel
//   spectrum, fixed while the box fits: kernel_dirty = (width != state.kernel_width), the width
//   the cached kernel spectrum was computed for (kernel.wgsl updates it).
// Later kernels read `grid` instead of any CPU-known value, so the whole step stays on the GPU.
// Bindings (group 0): 0 params (uniform FftParams), 1 positions (read, n x 2 f32 row-major),
//   2 grid (read_write, one Grid), 3 state (read, KernelState),
//   4 stats (read_write atomic u32 x 2: `bbox` clears the busiest-neighbourhood count and
//   the pair count that chunks.wgsl fills), 5 partials (read_write, GROUPS vec4: lo, hi).
// Two entry points, one after the other:
//   `bbox_partials`: GROUPS workgroups of 8 invocations; workgroup g folds the points of its
//     contiguous share g ceil(n / GROUPS) .. (each invocation a strided part of it, then a fold
//     of the 8 in workgroup memory) into partials[g]. Many small workgroups: one workgroup runs
//     on one of lavapipe's threads, and a barrier costs it a switch per 8 invocations.
//   `bbox`: ONE workgroup of GROUPS invocations folds the partials (a tree in workgroup memory)
//     and writes the grid.
// Both touch every binding (automatic layouts drop unused ones).
// Launched from grid.rs, which declares Params (`FftParams`), Grid (`GridGeometry`), KernelState
// and GROUPS (`BBOX_GROUPS`) before this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> positions: array<f32>;
@group(0) @binding(2) var<storage, read_write> grid: Grid;
@group(0) @binding(3) var<storage, read> state: KernelState;
@group(0) @binding(4) var<storage, read_write> stats: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> partials: array<vec4<f32>>;

// GROUPS (from Rust): the workgroups of `bbox_partials`, and the size of `bbox`'s one workgroup.
// Invocations per workgroup of `bbox_partials`.
const LANES: u32 = 8u;
var<workgroup> lo_part: array<vec2<f32>, GROUPS>;
var<workgroup> hi_part: array<vec2<f32>, GROUPS>;

// Tree reduction of the first `size` (a power of two) invocations' (lo, hi) pairs; every
// invocation gets the result.
fn fold_workgroup(lid: u32, size: u32, lo: vec2<f32>, hi: vec2<f32>) -> vec4<f32> {
    lo_part[lid] = lo;
    hi_part[lid] = hi;
    workgroupBarrier();
    for (var stride = size / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            lo_part[lid] = min(lo_part[lid], lo_part[lid + stride]);
            hi_part[lid] = max(hi_part[lid], hi_part[lid + stride]);
        }
        workgroupBarrier();
    }
    return vec4<f32>(lo_part[0], hi_part[0]);
}

@compute @workgroup_size(LANES)
fn bbox_partials(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    _ = grid.width;
    _ = state.min_width;
    _ = atomicLoad(&stats[0]);
    let share = (params.n + GROUPS - 1u) / GROUPS;
    let first = wg.x * share;
    let end = min(first + share, params.n);
    var lo = vec2<f32>(3.0e38, 3.0e38);
    var hi = vec2<f32>(-3.0e38, -3.0e38);
    for (var i = first + lid; i < end; i += LANES) {
        let y = vec2<f32>(positions[2u * i], positions[2u * i + 1u]);
        lo = min(lo, y);
        hi = max(hi, y);
    }
    let folded = fold_workgroup(lid, LANES, lo, hi);
    if (lid == 0u) {
        partials[wg.x] = folded;
    }
}

@compute @workgroup_size(GROUPS)
fn bbox(@builtin(local_invocation_index) lid: u32) {
    _ = positions[0];
    let part = partials[lid];
    let folded = fold_workgroup(lid, GROUPS, part.xy, part.zw);
    if (lid == 0u) {
        let box_lo = folded.xy;
        let box_hi = folded.zw;
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
