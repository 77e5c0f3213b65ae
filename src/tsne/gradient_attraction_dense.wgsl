// t-SNE attraction with a dense symmetric P:
//   attr[i * DIMS + c] = sum_j p_ij w_ij (y_i - y_j)_c,   w_ij = 1 / (1 + ||y_i - y_j||^2)
// (unscaled: the update kernel multiplies by the early exaggeration).
// P is stored as n rows of ld = 4 * lq f32 (ld = n rounded up to a multiple of 4, padding 0) and
// read as vec4: since P is symmetric, p[j][i0 .. i0 + 3] holds p_(i0..i0+3), j for four points at
// once, and neighbouring invocations read neighbouring addresses.
// Bindings (group 0): 0 params (uniform AttractionParams), 1 y (read, n * DIMS f32),
//                     2 p (read, array<vec4<f32>>, n * lq), 3 attr (read_write, n * DIMS f32).
// One invocation computes 4 points (4q .. 4q + 3); no branch in the loop since p_ii = 0 and the
// padding columns are 0.
// DIMS (2 or 3) is declared by the Rust side (`tsne::with_dims`).
// Params are `tsne::gradient::AttractionParams` (declared from Rust).


@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> p: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> attr: array<f32>;

fn pos(j: u32) -> vec3<f32> {
    let b = j * DIMS;
    var v = vec3<f32>(y[b], y[b + 1u], 0.0);
    if (DIMS == 3u) { v.z = y[b + 2u]; }
    return v;
}

fn pull(pij: f32, d: vec3<f32>) -> vec3<f32> {
    return (pij / (1.0 + dot(d, d))) * d;
}

fn store(i: u32, f: vec3<f32>) {
    if (i >= params.n) { return; }
    attr[i * DIMS] = f.x;
    attr[i * DIMS + 1u] = f.y;
    if (DIMS == 3u) { attr[i * DIMS + 2u] = f.z; }
}

@compute @workgroup_size(64)
fn attraction_dense(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let q = (wg.x + wg.y * nwg.x) * 64u + lid;
    let i0 = q * 4u;
    if (i0 >= params.n) { return; }
    let last = params.n - 1u;
    let ya = pos(min(i0, last));
    let yb = pos(min(i0 + 1u, last));
    let yc = pos(min(i0 + 2u, last));
    let yd = pos(min(i0 + 3u, last));
    var fa = vec3<f32>(0.0); var fb = vec3<f32>(0.0); var fc = vec3<f32>(0.0); var fd = vec3<f32>(0.0);
    for (var j = 0u; j < params.n; j++) {
        let yj = pos(j);
        let pj = p[j * params.lq + q];
        fa += pull(pj.x, ya - yj);
        fb += pull(pj.y, yb - yj);
        fc += pull(pj.z, yc - yj);
        fd += pull(pj.w, yd - yj);
    }
    store(i0, fa);
    store(i0 + 1u, fb);
    store(i0 + 2u, fc);
    store(i0 + 3u, fd);
}
