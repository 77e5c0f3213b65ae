// t-SNE FFT repulsion, step 4: place each point in its box's slot (counting sort, part 3).
//   sorted[starts[box(i)] + rank(i)] = y_i
// Bindings (group 0): 0 params (uniform FftParams), 1 positions (read, n x 2 f32),
//   2 point_box (read u32), 3 point_rank (read u32), 4 starts (read u32, boxes + 1),
//   5 sorted (write vec2<f32>, n).
// One invocation per point. Params mirror `tsne::fft_repulsion::FftParams`.

struct Params {
    n: u32, intervals: u32, nodes: u32, len: u32,
    log2_len: u32, boxes: u32, lines: u32, channels: u32,
    line_stride: u32, elem_stride: u32, chan_stride: u32, valid: u32,
    inverse: u32, ns: u32, line_fast: u32, tw_stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> positions: array<f32>;
@group(0) @binding(2) var<storage, read> point_box: array<u32>;
@group(0) @binding(3) var<storage, read> point_rank: array<u32>;
@group(0) @binding(4) var<storage, read> starts: array<u32>;
@group(0) @binding(5) var<storage, read_write> sorted: array<vec2<f32>>;

@compute @workgroup_size(256)
fn scatter_points(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (i >= params.n) {
        return;
    }
    let slot = starts[point_box[i]] + point_rank[i];
    sorted[slot] = vec2<f32>(positions[2u * i], positions[2u * i + 1u]);
}
