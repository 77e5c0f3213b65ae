// t-SNE KL divergence, per-row terms with a dense symmetric P:
//   kl_rows[i] = sum_{j: p_ij > 0} p_ij (ln p_ij + ln(1 + ||y_i - y_j||^2))
// so that KL(P || Q) = sum_i kl_rows[i] + ln(Z) * sum_ij p_ij, since ln q_ij = -ln(1 + d^2) - ln Z.
// P is stored as n rows of ld = 4 * lq f32 (padding 0) and read as vec4 p[j][i0 .. i0 + 3], which by
// symmetry holds p_(i0..i0+3), j.
// Bindings (group 0): 0 params (uniform KlParams), 1 y (read, n * DIMS), 2 p (read,
//                     array<vec4<f32>>, n * lq), 3 kl_rows (read_write, n f32).
// One invocation computes 4 rows (4q .. 4q + 3).
// DIMS (2 or 3) is declared by the Rust side (`tsne::with_dims`).
// Params are `tsne::optimize::KlParams` (declared from Rust).


@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> p: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> kl_rows: array<f32>;

fn pos(j: u32) -> vec3<f32> {
    let b = j * DIMS;
    var v = vec3<f32>(y[b], y[b + 1u], 0.0);
    if (DIMS == 3u) { v.z = y[b + 2u]; }
    return v;
}

// select picks 0 for p = 0, where the product would be 0 * -inf.
fn term(pij: f32, d: vec3<f32>) -> f32 {
    return select(0.0, pij * (log(pij) + log(1.0 + dot(d, d))), pij > 0.0);
}

@compute @workgroup_size(64)
fn kl_dense(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let q = (wg.x + wg.y * nwg.x) * 64u + lid;
    let i0 = q * 4u;
    if (i0 >= params.n) { return; }
    let last = params.n - 1u;
    let ya = pos(min(i0, last));
    let yb = pos(min(i0 + 1u, last));
    let yc = pos(min(i0 + 2u, last));
    let yd = pos(min(i0 + 3u, last));
    var acc = vec4<f32>(0.0);
    for (var j = 0u; j < params.n; j++) {
        let yj = pos(j);
        let pj = p[j * params.lq + q];
        acc += vec4<f32>(term(pj.x, ya - yj), term(pj.y, yb - yj), term(pj.z, yc - yj),
                         term(pj.w, yd - yj));
    }
    for (var k = 0u; k < 4u; k++) {
        if (i0 + k < params.n) { kl_rows[i0 + k] = acc[k]; }
    }
}
