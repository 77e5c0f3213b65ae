// t-SNE FFT repulsion, step 10a: how many chunks of 8 points each box holds, for the
// interpolation (one workgroup per chunk, see tsne_fft_interpolate.wgsl).
//   chunks[b] = ceil(count_b / 8),  count_b = starts[(b + 1) sub^2] - starts[b sub^2]
// tsne_fft_scan then turns chunks into chunk_starts (params.boxes = boxes there).
// Bindings (group 0): 0 params (uniform FftParams), 1 starts (read u32, keys + 1), 2 chunks
//   (write u32, boxes).
// One invocation per box. Params mirror `tsne::fft_repulsion::FftParams`.

struct Params {
    n: u32, intervals: u32, nodes: u32, len: u32,
    inv_ns: f32, boxes: u32, lines: u32, channels: u32,
    line_stride: u32, elem_stride: u32, chan_stride: u32, valid: u32,
    inverse: u32, ns: u32, line_fast: u32, tw_stride: u32,
    gated: u32, out_valid: u32, fused: u32, sub: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> starts: array<u32>;
@group(0) @binding(2) var<storage, read_write> chunks: array<u32>;

@compute @workgroup_size(256)
fn box_chunks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let b = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (b >= params.boxes) {
        return;
    }
    let keys = params.sub * params.sub;
    let count = starts[(b + 1u) * keys] - starts[b * keys];
    chunks[b] = (count + 7u) / 8u;
}
