// Gram-type product for PCA: out = (accumulate ? out : 0) + A^T B, i.e.
//   out[a][b] += sum_{r < rows} A[r][a] * B[r][b]
// A is rows x (4 wa) f32 and B rows x (4 wb) f32, both stored as vec4 with wa, wb even; out is
// (4 wa) x (4 wb) row-major (wb vec4 per row). With A = B = centred X this is the scatter matrix
// (covariance times N); with A = a symmetric C and B = V it is C V for subspace iteration.
// Bindings (group 0): 0 params (uniform GramParams), 1 a (read, array<vec4<f32>>),
//                     2 b (read, array<vec4<f32>>), 3 out (read_write, array<vec4<f32>>).
// With upper = 1 only the 8 x 8 blocks on or above the diagonal are written (half the work when
// A = B).
// One invocation computes an 8 x 8 block of out (8 columns of A against 8 of B) in 16 named vec4
// accumulators, reading 2 vec4 of A and 2 of B per row.
// Params are `pca::gram::GramParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

fn put(row: u32, col: u32, v: vec4<f32>) {
    let o = row * params.wb + col;
    out[o] = select(vec4<f32>(0.0), out[o], params.accumulate == 1u) + v;
}

@compute @workgroup_size(64)
fn gram(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let t = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (t >= params.tiles) { return; }
    // upper = 1 (A = B, a symmetric result): only blocks on or above the diagonal are computed; the
    // caller mirrors the rest.
    if (params.upper == 1u && t / params.b_tiles > t % params.b_tiles) { return; }
    let ta = (t / params.b_tiles) * 2u;
    let tb = (t % params.b_tiles) * 2u;
    var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0); var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
    var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0); var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
    var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0); var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
    var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0); var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);
    for (var r = 0u; r < params.rows; r++) {
        let a0 = a[r * params.wa + ta];
        let a1 = a[r * params.wa + ta + 1u];
        let b0 = b[r * params.wb + tb];
        let b1 = b[r * params.wb + tb + 1u];
        c00 += a0.x * b0; c01 += a0.x * b1;
        c10 += a0.y * b0; c11 += a0.y * b1;
        c20 += a0.z * b0; c21 += a0.z * b1;
        c30 += a0.w * b0; c31 += a0.w * b1;
        c40 += a1.x * b0; c41 += a1.x * b1;
        c50 += a1.y * b0; c51 += a1.y * b1;
        c60 += a1.z * b0; c61 += a1.z * b1;
        c70 += a1.w * b0; c71 += a1.w * b1;
    }
    let r0 = ta * 4u;
    put(r0, tb, c00); put(r0, tb + 1u, c01);
    put(r0 + 1u, tb, c10); put(r0 + 1u, tb + 1u, c11);
    put(r0 + 2u, tb, c20); put(r0 + 2u, tb + 1u, c21);
    put(r0 + 3u, tb, c30); put(r0 + 3u, tb + 1u, c31);
    put(r0 + 4u, tb, c40); put(r0 + 4u, tb + 1u, c41);
    put(r0 + 5u, tb, c50); put(r0 + 5u, tb + 1u, c51);
    put(r0 + 6u, tb, c60); put(r0 + 6u, tb + 1u, c61);
    put(r0 + 7u, tb, c70); put(r0 + 7u, tb + 1u, c71);
}
