// t-SNE FFT repulsion, step 2: bin the points into the grid's boxes (a counting sort, part 1).
//   The sort key is the sub-box: each box split into sub x sub parts, so that crowded boxes
//   hold short runs per key (tsne_fft_order costs the sum of squared run lengths):
//   t_d = (y_id - grid.lo_d) / grid.width, b_d = clamp(floor(t_d), 0, intervals - 1),
//   s_d = clamp(floor((t_d - b_d) sub), 0, sub - 1),
//   key(i) = ((bx + by * intervals) * sub + sy) * sub + sx
//   (a box's keys are consecutive, so its points form one contiguous slice after the sort).
//   Here params.boxes counts the keys: intervals^2 sub^2.
//   rank(i) = how many points of the same key took a slot before i (integer atomics: the counts
//   are deterministic, the provisional ranks are not; tsne_fft_order.wgsl re-ranks each box by
//   point index, so the final order is).
// Bindings (group 0): 0 params (uniform FftParams), 1 positions (read, n x 2 f32), 2 grid (read,
//   Grid from tsne_fft_bbox), 3 counts (read_write atomic u32, one per box), 4 point_box
//   (write u32, one per point), 5 point_rank (write u32, one per point).
// Entry points: `clear_counts` (one invocation per key: counts = 0), `count_points` (one
// invocation per point). Both touch every binding (automatic layouts drop unused ones).
// Params mirror `tsne::fft_repulsion::FftParams`.

struct Params {
    n: u32, intervals: u32, nodes: u32, len: u32,
    inv_ns: f32, boxes: u32, lines: u32, channels: u32,
    line_stride: u32, elem_stride: u32, chan_stride: u32, valid: u32,
    inverse: u32, ns: u32, line_fast: u32, tw_stride: u32,
    gated: u32, out_valid: u32, fused: u32, sub: u32,
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
    let t = (y - grid.lo) / grid.width;
    let cell = clamp(floor(t), vec2<f32>(0.0), vec2<f32>(top));
    let s = f32(params.sub);
    let part = clamp(floor((t - cell) * s), vec2<f32>(0.0), vec2<f32>(s - 1.0));
    let b = u32(cell.x) + u32(cell.y) * params.intervals;
    let key = (b * params.sub + u32(part.y)) * params.sub + u32(part.x);
    point_box[i] = key;
    point_rank[i] = atomicAdd(&counts[key], 1u);
}
