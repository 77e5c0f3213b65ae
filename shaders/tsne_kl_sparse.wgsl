// t-SNE KL divergence, per-row terms with a sparse P (CSR): only the stored entries contribute,
//   kl_rows[i] = sum_{e in row i, val[e] > 0} val[e] (ln val[e] + ln(1 + ||y_i - y_col[e]||^2))
// and KL = sum_i kl_rows[i] + ln(Z) * sum p, with Z from the repulsion sums at the same positions.
// Bindings (group 0): 0 params (uniform KlParams), 1 y (read, n * DIMS), 2 row_ptr (read, n + 1 u32),
//                     3 col (read, nnz u32), 4 val (read, nnz f32), 5 kl_rows (read_write, n f32).
// One invocation per row i.
// DIMS is 2 here; the Rust side substitutes 3 for 3-D embeddings.
// Params mirror `tsne::optimize::KlParams`.

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
@group(0) @binding(5) var<storage, read_write> kl_rows: array<f32>;

fn pos(j: u32) -> vec3<f32> {
    let b = j * DIMS;
    var v = vec3<f32>(y[b], y[b + 1u], 0.0);
    if (DIMS == 3u) { v.z = y[b + 2u]; }
    return v;
}

@compute @workgroup_size(64)
fn kl_sparse(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (i >= params.n) { return; }
    let yi = pos(i);
    var acc = 0.0;
    for (var e = row_ptr[i]; e < row_ptr[i + 1u]; e++) {
        let d = yi - pos(col[e]);
        let pij = val[e];
        acc += select(0.0, pij * (log(pij) + log(1.0 + dot(d, d))), pij > 0.0);
    }
    kl_rows[i] = acc;
}
