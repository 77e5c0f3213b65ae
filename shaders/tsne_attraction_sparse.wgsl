// t-SNE attraction with a sparse symmetric P in CSR form (row_ptr, col, val):
//   attr[i * DIMS + c] = sum_{e in row_ptr[i] .. row_ptr[i+1]} val[e] w_(i,col[e]) (y_i - y_col[e])_c
// with w_ij = 1 / (1 + ||y_i - y_j||^2) (unscaled: the update kernel applies the exaggeration).
// Bindings (group 0): 0 params (uniform AttractionParams), 1 y (read, n * DIMS f32),
//                     2 row_ptr (read, n + 1 u32), 3 col (read, nnz u32), 4 val (read, nnz f32),
//                     5 attr (read_write, n * DIMS f32).
// One invocation computes one point (walks one CSR row).
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
@group(0) @binding(2) var<storage, read> row_ptr: array<u32>;
@group(0) @binding(3) var<storage, read> col: array<u32>;
@group(0) @binding(4) var<storage, read> val: array<f32>;
@group(0) @binding(5) var<storage, read_write> attr: array<f32>;

fn pos(j: u32) -> vec3<f32> {
    let b = j * DIMS;
    var v = vec3<f32>(y[b], y[b + 1u], 0.0);
    if (DIMS == 3u) { v.z = y[b + 2u]; }
    return v;
}

@compute @workgroup_size(64)
fn attraction_sparse(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (i >= params.n) { return; }
    let yi = pos(i);
    var f = vec3<f32>(0.0);
    for (var e = row_ptr[i]; e < row_ptr[i + 1u]; e++) {
        let d = yi - pos(col[e]);
        f += (val[e] / (1.0 + dot(d, d))) * d;
    }
    attr[i * DIMS] = f.x;
    attr[i * DIMS + 1u] = f.y;
    if (DIMS == 3u) { attr[i * DIMS + 2u] = f.z; }
}
