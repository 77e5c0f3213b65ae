// t-SNE exact repulsion sums, O(N^2): for every point i
//   out[i * (DIMS + 1) + c] = sum_j w_ij^2 (y_i - y_j)_c     (c < DIMS)
//   out[i * (DIMS + 1) + DIMS] = sum_{j != i} w_ij,           w_ij = 1 / (1 + ||y_i - y_j||^2)
// (the same layout the FFT-interpolated repulsion writes; Z = sum_i of the last column).
// The loop runs over every j with no branch; j = i adds w_ii = 1 to the sum and nothing to the force,
// so 1 is subtracted afterwards.
// Bindings (group 0): 0 params (uniform RepulsionParams), 1 y (read, n * DIMS f32),
//                     2 out (read_write, n * (DIMS + 1) f32).
// One invocation computes 4 points (4t .. 4t + 3, clamped for loading, skipped when writing).
// DIMS is 2 here; the Rust side substitutes 3 for 3-D embeddings.
// Params mirror `tsne::gradient::RepulsionParams`.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const DIMS: u32 = 2u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn pos(j: u32) -> vec3<f32> {
    let b = j * DIMS;
    var p = vec3<f32>(y[b], y[b + 1u], 0.0);
    if (DIMS == 3u) { p.z = y[b + 2u]; }
    return p;
}

fn store(i: u32, force: vec3<f32>, wsum: f32) {
    if (i >= params.n) { return; }
    let o = i * (DIMS + 1u);
    out[o] = force.x;
    out[o + 1u] = force.y;
    if (DIMS == 3u) { out[o + 2u] = force.z; }
    out[o + DIMS] = wsum - 1.0;
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
    var fa = vec3<f32>(0.0); var fb = vec3<f32>(0.0); var fc = vec3<f32>(0.0); var fd = vec3<f32>(0.0);
    var sa = 0.0; var sb = 0.0; var sc = 0.0; var sd = 0.0;
    for (var j = 0u; j < params.n; j++) {
        let q = pos(j);
        let da = pa - q; let db = pb - q; let dc = pc - q; let dd = pd - q;
        let wa = 1.0 / (1.0 + dot(da, da));
        let wb = 1.0 / (1.0 + dot(db, db));
        let wc = 1.0 / (1.0 + dot(dc, dc));
        let wd = 1.0 / (1.0 + dot(dd, dd));
        sa += wa; sb += wb; sc += wc; sd += wd;
        fa += (wa * wa) * da; fb += (wb * wb) * db; fc += (wc * wc) * dc; fd += (wd * wd) * dd;
    }
    store(i0, fa, sa);
    store(i0 + 1u, fb, sb);
    store(i0 + 2u, fc, sc);
    store(i0 + 3u, fd, sd);
}
