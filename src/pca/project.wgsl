// PCA projection: out = X V, i.e. out[i][c] = sum_f X[i][f] V[f][c]
// X is rows x (4 wx) f32 (centred data, as vec4), V is (4 wx) x (4 kw) f32 (as vec4), out is
// rows x (4 kw) f32 (as vec4).
// Bindings (group 0): 0 params (uniform ProjectParams), 1 x (read, array<vec4<f32>>),
//                     2 v (read, array<vec4<f32>>), 3 out (read_write, array<vec4<f32>>).
// One invocation computes 4 rows x 4 columns (one vec4 of out in each of 4 rows) with 4 named vec4
// accumulators; rows past the end are clamped for loading and skipped when writing.
// Params are `pca::project::ProjectParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(64)
fn project(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let t = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (t >= params.tiles) { return; }
    let r0 = (t / params.kw) * 4u;
    let c = t % params.kw;
    let last = params.rows - 1u;
    let xa = min(r0, last) * params.wx;
    let xb = min(r0 + 1u, last) * params.wx;
    let xc = min(r0 + 2u, last) * params.wx;
    let xd = min(r0 + 3u, last) * params.wx;
    var oa = vec4<f32>(0.0); var ob = vec4<f32>(0.0); var oc = vec4<f32>(0.0); var od = vec4<f32>(0.0);
    for (var f = 0u; f < params.wx; f++) {
        let v0 = v[(4u * f) * params.kw + c];
        let v1 = v[(4u * f + 1u) * params.kw + c];
        let v2 = v[(4u * f + 2u) * params.kw + c];
        let v3 = v[(4u * f + 3u) * params.kw + c];
        let a = x[xa + f]; let b = x[xb + f]; let cc = x[xc + f]; let d = x[xd + f];
        oa += a.x * v0 + a.y * v1 + a.z * v2 + a.w * v3;
        ob += b.x * v0 + b.y * v1 + b.z * v2 + b.w * v3;
        oc += cc.x * v0 + cc.y * v1 + cc.z * v2 + cc.w * v3;
        od += d.x * v0 + d.y * v1 + d.z * v2 + d.w * v3;
    }
    if (r0 < params.rows) { out[r0 * params.kw + c] = oa; }
    if (r0 + 1u < params.rows) { out[(r0 + 1u) * params.kw + c] = ob; }
    if (r0 + 2u < params.rows) { out[(r0 + 2u) * params.kw + c] = oc; }
    if (r0 + 3u < params.rows) { out[(r0 + 3u) * params.kw + c] = od; }
}
