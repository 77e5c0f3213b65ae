// Dense layer, bias gradient: db[j] = sum over b in 0..batch of dy[b, j]   (dy row-major [batch, outputs]).
// Bindings (group 0): 0 params (uniform DenseParams), 1 dy (read), 2 db (write).
// One invocation computes one db[j] (a gather down column j: neighbouring invocations read
// neighbouring columns); groups folded into y past 65,535. The value is written, not accumulated.
// Params are `ops::dense::DenseParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(64)
fn dense_backward_bias(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let j = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (j >= params.outputs) { return; }
    // Four independent partial sums so the adds do not wait on each other.
    var s0 = 0.0;
    var s1 = 0.0;
    var s2 = 0.0;
    var s3 = 0.0;
    let n = params.outputs;
    let b4 = params.batch & ~3u;
    var b = 0u;
    for (; b < b4; b += 4u) {
        s0 += dy[b * n + j];
        s1 += dy[(b + 1u) * n + j];
        s2 += dy[(b + 2u) * n + j];
        s3 += dy[(b + 3u) * n + j];
    }
    for (; b < params.batch; b += 1u) {
        s0 += dy[b * n + j];
    }
    db[j] = (s0 + s1) + (s2 + s3);
}
