// Matmul, one output per invocation (the baseline the register-blocked kernel is measured against):
//   C[M,N] = op(A)[M,K] * op(B)[K,N] (+ bias[N] added to every row), all row-major.
//   op(A)[i,k] = A[i*K + k], or A[k*M + i] when transpose_a; op(B)[k,j] = B[k*N + j], or
//   B[j*K + k] when transpose_b.
// Bindings (group 0): 0 params (uniform MatmulParams), 1 a (read), 2 b (read),
//   3 bias (read; a 1-element dummy when has_bias == 0), 4 c (write).
// One invocation computes C[i, j] for flat index i*N + j (groups folded into y past 65,535).
// Params are `ops::matmul::MatmulParams` (declared from Rust) (blocks_n, blocks and upper are unused here).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(256)
fn matmul_naive(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    _ = bias[0];
    let idx = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (idx >= params.m * params.n) { return; }
    let i = idx / params.n;
    let j = idx % params.n;
    // Strides of op(A) along i and k, and of op(B) along k and j.
    let ta = params.transpose_a != 0u;
    let tb = params.transpose_b != 0u;
    let a_si = select(params.k, 1u, ta);
    let a_sk = select(1u, params.m, ta);
    let b_sk = select(params.n, 1u, tb);
    let b_sj = select(1u, params.k, tb);
    var sum = 0.0;
    for (var k = 0u; k < params.k; k++) {
        sum = fma(a[i * a_si + k * a_sk], b[k * b_sk + j * b_sj], sum);
    }
    if (params.has_bias != 0u) {
        sum += bias[j];
    }
    c[idx] = sum;
}
