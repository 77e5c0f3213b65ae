// Squared distances, one block of rows against every point:
//   out[r * ld + j] = ||x_(row0 + r) - x_j||^2 = sum_f (x[f][row0 + r] - x[f][j])^2   for r < rows, j < n
// computed as sums of squared differences (not |a|^2 + |b|^2 - 2ab), so d_ii is exactly 0 and close
// points keep their digits.
// x is stored feature-major: d rows of n_pad values (n_pad a multiple of 16, padding points 0), read
// as vec4 of 4 consecutive points, xt[f * nq + j / 4] with nq = n_pad / 4.
// Bindings (group 0): 0 params (uniform SqdistParams), 1 xt (read, array<vec4<f32>>),
//                     2 out (read_write, rows * ld f32, ld >= n).
// One workgroup takes 16 rows (row0 + 16 rb .. + 15; row0 a multiple of 16) and 256 columns; each
// of its 64 invocations computes those 16 rows against its own 4 columns, in 16 named vec4
// accumulators. The row values depend on the workgroup only, so every invocation loads the same
// addresses (uniform loads, cheap on CPU drivers); only the column quad is loaded per invocation.
// Params are `knn::distances::SqdistParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> xt: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn store(r: u32, c0: u32, v: vec4<f32>) {
    if (r >= params.rows) { return; }
    let base = r * params.ld;
    for (var k = 0u; k < 4u; k++) {
        if (c0 + k < params.n) { out[base + c0 + k] = v[k]; }
    }
}

@compute @workgroup_size(64)
fn sqdist_block(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let g = wg.x + wg.y * nwg.x;
    if (g >= params.groups) { return; }
    let r0 = (g / params.col_groups) * 16u;
    let cq = (g % params.col_groups) * 64u + lid;
    // Column quads past the padded end read the last quad; their results are not stored.
    let cq_load = min(cq, params.nq - 1u);
    let rq = (params.row0 + r0) / 4u;
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var b0 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
    var c0 = vec4<f32>(0.0); var c1 = vec4<f32>(0.0); var c2 = vec4<f32>(0.0); var c3 = vec4<f32>(0.0);
    var d0 = vec4<f32>(0.0); var d1 = vec4<f32>(0.0); var d2 = vec4<f32>(0.0); var d3 = vec4<f32>(0.0);
    for (var f = 0u; f < params.d; f++) {
        let base = f * params.nq;
        let col = xt[base + cq_load];
        let ra = xt[base + rq];
        let rb = xt[base + rq + 1u];
        let rc = xt[base + rq + 2u];
        let rd = xt[base + rq + 3u];
        let ea0 = ra.x - col; let ea1 = ra.y - col; let ea2 = ra.z - col; let ea3 = ra.w - col;
        let eb0 = rb.x - col; let eb1 = rb.y - col; let eb2 = rb.z - col; let eb3 = rb.w - col;
        let ec0 = rc.x - col; let ec1 = rc.y - col; let ec2 = rc.z - col; let ec3 = rc.w - col;
        let ed0 = rd.x - col; let ed1 = rd.y - col; let ed2 = rd.z - col; let ed3 = rd.w - col;
        a0 += ea0 * ea0; a1 += ea1 * ea1; a2 += ea2 * ea2; a3 += ea3 * ea3;
        b0 += eb0 * eb0; b1 += eb1 * eb1; b2 += eb2 * eb2; b3 += eb3 * eb3;
        c0 += ec0 * ec0; c1 += ec1 * ec1; c2 += ec2 * ec2; c3 += ec3 * ec3;
        d0 += ed0 * ed0; d1 += ed1 * ed1; d2 += ed2 * ed2; d3 += ed3 * ed3;
    }
    if (cq >= params.nq) { return; }
    let c = cq * 4u;
    store(r0, c, a0); store(r0 + 1u, c, a1); store(r0 + 2u, c, a2); store(r0 + 3u, c, a3);
    store(r0 + 4u, c, b0); store(r0 + 5u, c, b1); store(r0 + 6u, c, b2); store(r0 + 7u, c, b3);
    store(r0 + 8u, c, c0); store(r0 + 9u, c, c1); store(r0 + 10u, c, c2); store(r0 + 11u, c, c3);
    store(r0 + 12u, c, d0); store(r0 + 13u, c, d1); store(r0 + 14u, c, d2); store(r0 + 15u, c, d3);
}
