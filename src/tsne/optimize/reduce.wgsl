// Deterministic strided sums, one per workgroup s (s < number of workgroups dispatched):
//   out[slot + s] = scale * sum_{t < count} x[offset + s + t * stride]
// Invocation l adds t = l, l + 256, l + 512, ... in increasing t; the 256 partial sums are then
// combined by a fixed tree in workgroup memory. No atomics, so the result is the same every run.
// Used for Z (the last column of the repulsion output), the mean of the embedding (one sum per
// axis), and the KL divergence (sum of per-row terms), long ones in two levels (below).
// Bindings (group 0): 0 params (uniform ReduceParams), 1 x (read), 2 out (read_write).
// `strided_sum`: one workgroup of 256 invocations computes one sum.
// `strided_parts` (the first level of a long sum; `tsne::optimize::split_sum`): workgroup (g, s)
// of PARTS x sums, 8 invocations, sums part g of sum s, the contiguous share of t in
//   g ceil(count / PARTS) .. (g + 1) ceil(count / PARTS)   (invocation l: t = first + l, + 8, ...),
//   out[slot + g * sums + s] = sum over the share (unscaled; the 8 lanes added in lane order),
// so that a `strided_sum` with count PARTS, stride sums finishes it. One workgroup runs on one of
// lavapipe's threads: a single one per sum left the other thread idle.
// Params are `tsne::optimize::ReduceParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn strided_sum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let s = wg.x;
    var acc = 0.0;
    for (var t = lid; t < params.count; t += 256u) {
        acc += x[params.offset + s + t * params.stride];
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if (lid < half) { partial[lid] += partial[lid + half]; }
        workgroupBarrier();
    }
    if (lid == 0u) { out[params.slot + s] = params.scale * partial[0]; }
}

// PARTS (the parts of a long sum, `tsne::optimize::SUM_PARTS`) is declared from Rust.
var<workgroup> lanes: array<f32, 8>;

@compute @workgroup_size(8)
fn strided_parts(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let g = wg.x;
    let s = wg.y;
    let share = (params.count + PARTS - 1u) / PARTS;
    let first = g * share;
    let end = min(first + share, params.count);
    var acc = 0.0;
    for (var t = first + lid; t < end; t += 8u) {
        acc += x[params.offset + s + t * params.stride];
    }
    lanes[lid] = acc;
    workgroupBarrier();
    if (lid == 0u) {
        var sum = 0.0;
        for (var l = 0u; l < 8u; l++) {
            sum += lanes[l];
        }
        out[params.slot + g * nwg.y + s] = sum;
    }
}
