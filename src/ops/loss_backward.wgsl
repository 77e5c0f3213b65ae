// Losses, backward: the gradient of the MEAN loss with respect to each prediction (written).
//   bce from logits:  dl/dz = (sigmoid(z) - t) / len
//   mse:              dl/dp = 2 (p - t) / len
// Bindings (group 0): 0 params (uniform LossParams), 1 prediction (read), 2 truth (read: the target t; `target` is a WGSL keyword),
//   3 grad (write).
// One invocation computes one element; groups folded into y past 65,535. Params are
// `ops::loss::LossParams` (declared from Rust) (partials is unused here).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> prediction: array<f32>;
@group(0) @binding(2) var<storage, read> truth: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;

fn sigmoid(v: f32) -> f32 {
    // Split by sign so exp never overflows.
    let e = exp(-abs(v));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
}

@compute @workgroup_size(256)
fn bce_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (i >= params.len) { return; }
    grad[i] = (sigmoid(prediction[i]) - truth[i]) * params.inv_len;
}

@compute @workgroup_size(256)
fn mse_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (i >= params.len) { return; }
    grad[i] = 2.0 * (prediction[i] - truth[i]) * params.inv_len;
}
