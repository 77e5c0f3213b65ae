// t-SNE KL divergence, per-row terms with a dense P:
//   kl_rows[i] = sum_{j: p_ij > 0} p_ij (ln p_ij + ln(1 + ||y_i - y_j||^2))
// so that KL(P || Q) = sum_i kl_rows[i] + ln(Z) * sum_ij p_ij, since ln q_ij = -ln(1 + d^2) - ln Z.
// Bindings (group 0): 0 params (uniform KlParams), 1 y (read, n * DIMS), 2 p (read, n * n),
//                     3 kl_rows (read_write, n f32).
// One invocation per row i, read as the column p[j * n + i] (P is symmetric) so that neighbouring
// invocations read neighbouring addresses.
// DIMS is 2 here; the Rust side substitutes 3 for 3-D embeddings.
// Params mirror `tsne::optimize::KlParams`.

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
@group(0) @binding(3) var<storage, read_write> kl_rows: array<f32>;

fn pos(j: u32) -> vec3<f32> {
    let b = j * DIMS;
    var v = vec3<f32>(y[b], y[b + 1u], 0.0);
    if (DIMS == 3u) { v.z = y[b + 2u]; }
    return v;
}

@compute @workgroup_size(64)
fn kl_dense(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (i >= params.n) { return; }
    let yi = pos(i);
    var acc = 0.0;
    for (var j = 0u; j < params.n; j++) {
        let d = yi - pos(j);
        let pij = p[j * params.n + i];
        // select picks 0 for p = 0, where the product would be 0 * -inf.
        acc += select(0.0, pij * (log(pij) + log(1.0 + dot(d, d))), pij > 0.0);
    }
    kl_rows[i] = acc;
}
