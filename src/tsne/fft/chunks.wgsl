// t-SNE FFT repulsion, `chunks`: how many chunks of CHUNK_POINTS (32) points each box holds, for
// the spread (one invocation per chunk, see spread.wgsl) and the interpolation (one workgroup per
// chunk, see interpolate.wgsl), and the largest number of points in a 3 x 3 neighbourhood of
// boxes (what the near-field sums cost; read back now and then by `FftRepulsion::refresh` to size
// the grid).
//   chunks[b] = ceil(count_b / CHUNK_POINTS),  count_b = starts[b + 1] - starts[b]
//   near_b = sum_{|b' - b| <= 1} count_b'
//   stats[0] = max_b near_b,  stats[1] = sum_b count_b near_b / PAIR_UNIT (rounded up per box:
//   the pairs the near-field sums take, in units of PAIR_UNIT = 256; `fft::Measured`)
//   (both cleared by bbox.wgsl)
// scan.wgsl then turns chunks into chunk_starts (params.boxes = boxes there).
// Bindings (group 0): 0 params (uniform FftParams), 1 starts (read u32, boxes + 1), 2 chunks
//   (write u32, boxes), 3 stats (read_write atomic u32, 2).
// One invocation per box. Launched from spread.rs, which declares Params (`FftParams`),
// CHUNK_POINTS and PAIR_UNIT (`spread::CHUNK_POINTS`, `1 << spread::PAIRS_SHIFT`) before this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> starts: array<u32>;
@group(0) @binding(2) var<storage, read_write> chunks: array<u32>;
@group(0) @binding(3) var<storage, read_write> stats: array<atomic<u32>>;

@compute @workgroup_size(256)
fn box_chunks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let b = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (b >= params.boxes) {
        return;
    }
    let count = starts[b + 1u] - starts[b];
    chunks[b] = (count + (CHUNK_POINTS - 1u)) / CHUNK_POINTS;
    if (count == 0u) {
        return;
    }
    // The 3 x 3 neighbourhood: three rows of three consecutive boxes, each one slice of the sort.
    let bx = b % params.intervals;
    let by = b / params.intervals;
    var near = 0u;
    for (var r = max(by, 1u) - 1u; r <= min(by + 1u, params.intervals - 1u); r++) {
        let first = r * params.intervals + max(bx, 1u) - 1u;
        let last = r * params.intervals + min(bx + 1u, params.intervals - 1u);
        near += starts[last + 1u] - starts[first];
    }
    atomicMax(&stats[0], near);
    // In units of 256, each factor capped at 65,535 so the product fits a u32: the total fits for
    // any n up to a million.
    atomicAdd(&stats[1], (min(count, 65535u) * min(near, 65535u) + (PAIR_UNIT - 1u)) / PAIR_UNIT);
}
