// t-SNE dense joint probabilities from conditional ones:
//   p[i * ld + j] = (c[i * n + j] + c[j * n + i]) * scale  for j < n,  0 for n <= j < ld
// with scale = 1 / (2 n), so that sum_{i != j} p_ij = 1 when every row of c sums to 1 (and c_ii = 0
// gives p_ii = 0). P's rows are padded to ld (a multiple of 4) for the vec4 reads downstream.
// Bindings (group 0): 0 params (uniform SymmetrizeParams), 1 c (read, n * n f32),
//                     2 p (read_write, n * ld f32).
// One invocation computes 4 consecutive entries of p.
// Params are `tsne::affinity::SymmetrizeParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> c: array<f32>;
@group(0) @binding(2) var<storage, read_write> p: array<f32>;

@compute @workgroup_size(256)
fn symmetrize_dense(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let start = ((wg.x + wg.y * nwg.x) * 256u + lid) * 4u;
    for (var k = 0u; k < 4u; k++) {
        let e = start + k;
        if (e < params.len) {
            let i = e / params.ld;
            let j = e % params.ld;
            let jc = min(j, params.n - 1u);
            let v = (c[i * params.n + jc] + c[jc * params.n + i]) * params.scale;
            p[e] = select(0.0, v, j < params.n);
        }
    }
}
