// t-SNE FFT repulsion, step 2: bin the points into the grid's boxes (a counting sort, part 1).
//   box(i) = bx + by * intervals,
//   b_d = clamp(floor((y_id - grid.lo_d) / grid.width), 0, intervals - 1)
//   rank(i) = how many points of the same box took a slot before i (integer atomics: the counts
//   are deterministic, the provisional ranks are not; tsne_fft_order.wgsl re-ranks each box by
//   point index, so the final order is).
// Bindings (group 0): 0 params (uniform FftParams), 1 positions (read, n x 2 f32), 2 grid (read,
//   Grid from tsne_fft_bbox), 3 counts (read_write atomic u32, one per box), 4 point_box
//   (write u32, one per point), 5 point_rank (write u32, one per point).
// Entry points: `clear_counts` (one invocation per box: counts = 0), `count_points` (one
// invocation per point). Both touch every binding (automatic layouts drop unused ones).
// Params mirror `tsne::fft_repulsion::FftParams`.

struct Params {
    n: u32, intervals: u32, nodes: u32, len: u32,
    inv_ns: f32, boxes: u32, lines: u32, channels: u32,
    line_stride: u32, elem_stride: u32, chan_stride: u32, valid: u32,
    inverse: u32, ns: u32, line_fast: u32, tw_stride: u32,
    gated: u32, out_valid: u32, fused: u32, _pad0: u32,
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
@group(0) @binding(2) var<storage, read> grid: Grid;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> point_box: array<u32>;
@group(0) @binding(5) var<storage, read_write> point_rank: array<u32>;

fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn clear_counts(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    _ = positions[0];
    _ = grid.width;
    _ = point_box[0];
    _ = point_rank[0];
    let b = flat_index(wg, nwg, lid);
    if (b < params.boxes) {
        atomicStore(&counts[b], 0u);
    }
}

@compute @workgroup_size(256)
fn count_points(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) {
        return;
    }
    let y = vec2<f32>(positions[2u * i], positions[2u * i + 1u]);
    let top = f32(params.intervals - 1u);
    let cell = clamp(floor((y - grid.lo) / grid.width), vec2<f32>(0.0), vec2<f32>(top));
    let b = u32(cell.x) + u32(cell.y) * params.intervals;
    point_box[i] = b;
    point_rank[i] = atomicAdd(&counts[b], 1u);
}
