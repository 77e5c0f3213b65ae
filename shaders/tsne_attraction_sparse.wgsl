// t-SNE attraction with a sparse symmetric P:
//   attr[i * DIMS + c] = sum_{j in row i of P} p_ij w_ij (y_i - y_j)_c,  w_ij = 1 / (1 + ||y_i - y_j||^2)
// (unscaled: the update kernel applies the exaggeration). The entries of each row are summed in
// the row's CSR order (ascending j).
// P is read in a sliced-ELL layout built from the CSR by `tsne::gradient::GpuCsr::upload`: rows are
// sorted by length, longest first (perm), and cut into slices of 64 consecutive sorted rows; slice
// s stores entries 2u and 2u + 1 of its r-th row as one vec2 at slices[s].x + u * 64 + r, for
// u < slices[s].y (half the slice's longest row, rounded up). Shorter rows are padded with col =
// the row itself and val = 0, which add exactly 0. So a workgroup's 64 invocations run the same
// number of steps (no divergence), and each step loads two entries' columns and two values with
// two vec2 loads (on lavapipe every storage load is a loop over the lanes: fewer, wider loads pay).
// Bindings (group 0): 0 params (uniform AttractionParams), 1 y (read, n * DIMS f32),
//                     2 y2 (read, the same buffer as vec2: one load per point when DIMS = 2),
//                     3 perm (read, slices * 64 u32; entries past n hold n - 1),
//                     4 slices (read, vec2<u32> per slice: offset, pairs),
//                     5 col (read, vec2<u32>), 6 val (read, vec2<f32>), 7 attr (read_write, n * DIMS f32).
// One workgroup takes one slice; one invocation computes one point.
// DIMS is 2 here; the Rust side substitutes 3 for 3-D embeddings.
// Params mirror `tsne::gradient::AttractionParams`.

struct Params {
    n: u32,
    lq: u32, // dense P only; unused here
    _pad1: u32,
    _pad2: u32,
}

const DIMS: u32 = 2u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> y2: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> perm: array<u32>;
@group(0) @binding(4) var<storage, read> slices: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read> col: array<vec2<u32>>;
@group(0) @binding(6) var<storage, read> val: array<vec2<f32>>;
@group(0) @binding(7) var<storage, read_write> attr: array<f32>;

fn pos(j: u32) -> vec3<f32> {
    if (DIMS == 2u) {
        return vec3<f32>(y2[j], 0.0);
    }
    let b = j * DIMS;
    return vec3<f32>(y[b], y[b + 1u], y[b + 2u]);
}

@compute @workgroup_size(64)
fn attraction_sparse(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    _ = y[0];
    _ = y2[0];
    let s = wg.x + wg.y * nwg.x;
    if (s * 64u >= params.n) { return; }
    let slot = s * 64u + lid;
    let i = perm[slot];
    let yi = pos(i);
    let slice = slices[s];
    var f = vec3<f32>(0.0);
    var e = slice.x + lid;
    for (var u = 0u; u < slice.y; u++) {
        let c = col[e];
        let v = val[e];
        let d0 = yi - pos(c.x);
        let d1 = yi - pos(c.y);
        f += (v.x / (1.0 + dot(d0, d0))) * d0;
        f += (v.y / (1.0 + dot(d1, d1))) * d1;
        e += 64u;
    }
    if (slot >= params.n) { return; }
    attr[i * DIMS] = f.x;
    attr[i * DIMS + 1u] = f.y;
    if (DIMS == 3u) { attr[i * DIMS + 2u] = f.z; }
}
