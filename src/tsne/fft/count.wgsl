// t-SNE FFT repulsion, `count`: bin the points into the grid's boxes, then into sort keys (the
// counts of a counting sort in two rounds; scan.wgsl sums each round's counts, scatter.wgsl and
// order.wgsl then place the points).
//   box(i): t_d = (y_id - grid.lo_d) / grid.width, b_d = clamp(floor(t_d), 0, intervals - 1),
//     box = bx + by * intervals.
//   key(i) = 2 starts[b] + mix(i) mod (2 count_b),  b = box(i), count_b = starts[b + 1] - starts[b]
//     with starts the scan of the box counts: each box owns 2 count_b consecutive keys (2n in
//     all), so its points form one contiguous slice after the sort, and within it a point's key
//     is a hash of its index. Keys then hold ~1.5 points on average however crowded the box
//     (order.wgsl ranks the points of a key by comparing them all: the sum of squared key
//     counts), where keys by position (sub-boxes) would hold thousands each once early
//     exaggeration packs a cluster into a speck.
//   rank(i) = how many points of the same key took a slot before i (integer atomics: the counts
//   are deterministic, the provisional ranks are not; order.wgsl re-ranks each key by
//   point index, so the final order is).
// Bindings (group 0): 0 params (uniform FftParams; params.keys = 2n), 1 positions (read,
//   n x 2 f32), 2 grid (read, Grid from bbox.wgsl), 3 box_counts (read_write atomic u32, one
//   per box), 4 key_counts (read_write atomic u32, one per key), 5 starts (read u32, boxes + 1),
//   6 point_key (read_write u32, one per point: its box, then its key), 7 point_rank (write u32,
//   one per point).
// Entry points: `clear_counts` (one invocation per box and per key: counts = 0),
// `count_boxes` and `count_keys` (one invocation per point; the scan of the box counts runs
// between them). All touch every binding (automatic layouts drop unused ones).
// Launched from sort.rs, which declares Params (`FftParams`) and Grid (`GridGeometry`) before
// this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> positions: array<f32>;
@group(0) @binding(2) var<storage, read> grid: Grid;
@group(0) @binding(3) var<storage, read_write> box_counts: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> key_counts: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read> starts: array<u32>;
@group(0) @binding(6) var<storage, read_write> point_key: array<u32>;
@group(0) @binding(7) var<storage, read_write> point_rank: array<u32>;

fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * 256u + lid;
}

fn touch_all() {
    _ = positions[0];
    _ = grid.width;
    _ = atomicLoad(&box_counts[0]);
    _ = atomicLoad(&key_counts[0]);
    _ = starts[0];
    _ = point_key[0];
    _ = point_rank[0];
}

// A point index hashed to 32 well-mixed bits (Wellons' lowbias32); CPU twin `fft::cpu::mix`.
fn mix(i: u32) -> u32 {
    var x = i;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

@compute @workgroup_size(256)
fn clear_counts(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    touch_all();
    let k = flat_index(wg, nwg, lid);
    if (k < params.boxes) {
        atomicStore(&box_counts[k], 0u);
    }
    if (k < params.keys) {
        atomicStore(&key_counts[k], 0u);
    }
}

@compute @workgroup_size(256)
fn count_boxes(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    touch_all();
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) {
        return;
    }
    let y = vec2<f32>(positions[2u * i], positions[2u * i + 1u]);
    let top = f32(params.intervals - 1u);
    let cell = clamp(floor((y - grid.lo) / grid.width), vec2<f32>(0.0), vec2<f32>(top));
    let b = u32(cell.x) + u32(cell.y) * params.intervals;
    point_key[i] = b;
    atomicAdd(&box_counts[b], 1u);
}

@compute @workgroup_size(256)
fn count_keys(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    touch_all();
    let i = flat_index(wg, nwg, lid);
    if (i >= params.n) {
        return;
    }
    let b = point_key[i];
    let first = starts[b];
    let key = 2u * first + mix(i) % (2u * (starts[b + 1u] - first));
    point_key[i] = key;
    point_rank[i] = atomicAdd(&key_counts[key], 1u);
}
