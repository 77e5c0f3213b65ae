// t-SNE attraction with a dense P (n x n, p_ii = 0):
//   attr[i * DIMS + c] = sum_j p_ij w_ij (y_i - y_j)_c,   w_ij = 1 / (1 + ||y_i - y_j||^2)
// (unscaled: the update kernel multiplies by the early exaggeration).
// Bindings (group 0): 0 params (uniform AttractionParams), 1 y (read, n * DIMS f32),
//                     2 p (read, n * n f32), 3 attr (read_write, n * DIMS f32).
// One invocation computes one point; no branch in the loop since p_ii = 0. P is symmetric, so
// point i reads its row as the column p[j * n + i]: neighbouring invocations then read neighbouring
// addresses (one vector load on lavapipe, coalesced on GPUs) instead of one row each.
// DIMS is 2 here; the Rust side substitutes 3 for 3-D embeddings.
// Params mirror `tsne::gradient::AttractionParams`.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const DIMS: u32 = 2u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> p: array<f32>;
@group(0) @binding(3) var<storage, read_write> attr: array<f32>;

fn pos(j: u32) -> vec3<f32> {
    let b = j * DIMS;
    var v = vec3<f32>(y[b], y[b + 1u], 0.0);
    if (DIMS == 3u) { v.z = y[b + 2u]; }
    return v;
}

@compute @workgroup_size(64)
fn attraction_dense(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (i >= params.n) { return; }
    let yi = pos(i);
    var f = vec3<f32>(0.0);
    for (var j = 0u; j < params.n; j++) {
        let d = yi - pos(j);
        f += (p[j * params.n + i] / (1.0 + dot(d, d))) * d;
    }
    attr[i * DIMS] = f.x;
    attr[i * DIMS + 1u] = f.y;
    if (DIMS == 3u) { attr[i * DIMS + 2u] = f.z; }
}
