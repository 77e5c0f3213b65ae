// t-SNE exact repulsion sums, O(N^2): for every point i
//   out[i * (DIMS + 1) + c] = sum_j w_ij^2 (y_i - y_j)_c     (c < DIMS)
//   out[i * (DIMS + 1) + DIMS] = sum_{j != i} w_ij,           w_ij = 1 / (1 + ||y_i - y_j||^2)
// (the same layout the FFT-interpolated repulsion writes; Z = sum_i of the last column).
// The loop runs over every j with no branch (four j per iteration, so n may pass lavapipe's cap of
// 65,535 loop iterations per invocation up to 262,140); j = i adds w_ii = 1 to the sum and nothing
// to the force, so 1 is subtracted afterwards.
// Bindings (group 0): 0 params (uniform RepulsionParams), 1 y (read, n * DIMS f32),
//                     2 out (read_write, n * (DIMS + 1) f32).
// One invocation computes 4 points (4t .. 4t + 3, clamped for loading, skipped when writing).
// DIMS (2 or 3) is declared by the Rust side (`tsne::with_dims`).
// Params are `tsne::gradient::RepulsionParams` (declared from Rust).


@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn pos(j: u32) -> vec3<f32> {
    let b = j * DIMS;
    var p = vec3<f32>(y[b], y[b + 1u], 0.0);
    if (DIMS == 3u) { p.z = y[b + 2u]; }
    return p;
}

fn store(i: u32, acc: vec4<f32>) {
    if (i >= params.n) { return; }
    let o = i * (DIMS + 1u);
    out[o] = acc.x;
    out[o + 1u] = acc.y;
    if (DIMS == 3u) { out[o + 2u] = acc.z; }
    out[o + DIMS] = acc.w - 1.0;
}

// (w^2 (p - q), w) for one pair.
fn term(p: vec3<f32>, q: vec3<f32>) -> vec4<f32> {
    let d = p - q;
    let w = 1.0 / (1.0 + dot(d, d));
    return vec4<f32>((w * w) * d, w);
}

@compute @workgroup_size(64)
fn repulsion_exact(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i0 = ((wg.x + wg.y * nwg.x) * 64u + lid) * 4u;
    if (i0 >= params.n) { return; }
    let last = params.n - 1u;
    let pa = pos(min(i0, last));
    let pb = pos(min(i0 + 1u, last));
    let pc = pos(min(i0 + 2u, last));
    let pd = pos(min(i0 + 3u, last));
    // Accumulators: xyz the force sum, w the sum of w_ij.
    var fa = vec4<f32>(0.0); var fb = vec4<f32>(0.0); var fc = vec4<f32>(0.0); var fd = vec4<f32>(0.0);
    // Four j per iteration: lavapipe stops any invocation after 65,535 loop iterations in all.
    let n4 = params.n & ~3u;
    var j = 0u;
    for (; j < n4; j += 4u) {
        let q0 = pos(j); let q1 = pos(j + 1u); let q2 = pos(j + 2u); let q3 = pos(j + 3u);
        fa += term(pa, q0) + term(pa, q1) + term(pa, q2) + term(pa, q3);
        fb += term(pb, q0) + term(pb, q1) + term(pb, q2) + term(pb, q3);
        fc += term(pc, q0) + term(pc, q1) + term(pc, q2) + term(pc, q3);
        fd += term(pd, q0) + term(pd, q1) + term(pd, q2) + term(pd, q3);
    }
    for (; j < params.n; j++) {
        let q = pos(j);
        fa += term(pa, q); fb += term(pb, q); fc += term(pc, q); fd += term(pd, q);
    }
    store(i0, fa);
    store(i0 + 1u, fb);
    store(i0 + 2u, fc);
    store(i0 + 3u, fd);
}
