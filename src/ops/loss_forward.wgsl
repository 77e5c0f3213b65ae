// Losses, forward, stage 1 of 2: per-workgroup partial sums of the elementwise loss.
//   bce (binary cross-entropy from LOGITS z, target t in [0, 1]; the model's last sigmoid is fused
//        in here for stability):  l = max(z, 0) - z * t + log(1 + exp(-|z|))
//   mse (on the output p):        l = (p - t)^2
// Bindings (group 0): 0 params (uniform LossParams), 1 prediction (read: z or p), 2 truth (read: the target t; `target` is a WGSL keyword),
//   3 partial (write, one f32 per workgroup).
// Each of the `partials` workgroups (256 invocations) walks the array with a grid stride, then the
// workgroup sums its 256 values by a tree in workgroup memory and invocation 0 writes
// partial[workgroup]. No atomics; loss_reduce.wgsl adds the partials. Params are
// `ops::loss::LossParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> prediction: array<f32>;
@group(0) @binding(2) var<storage, read> truth: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

var<workgroup> sums: array<f32, GROUP>;

// log(1 + x) for x in [0, 1], accurate for tiny x (WGSL has no log1p): the rounding error of
// u = 1 + x cancels in log(u) * x / (u - 1).
fn log1p_small(x: f32) -> f32 {
    let u = 1.0 + x;
    return select(log(u) * x / (u - 1.0), x, u == 1.0);
}

fn bce(z: f32, t: f32) -> f32 {
    return max(z, 0.0) - z * t + log1p_small(exp(-abs(z)));
}

fn mse(p: f32, t: f32) -> f32 {
    let d = p - t;
    return d * d;
}

// Sum the workgroup's 256 values in `sums` and write it to partial[wg]. Every invocation calls this.
fn reduce_and_store(lid: u32, wg: u32, own: f32) {
    sums[lid] = own;
    workgroupBarrier();
    for (var width = GROUP / 2u; width > 0u; width /= 2u) {
        if (lid < width) {
            sums[lid] += sums[lid + width];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partial[wg] = sums[0];
    }
}

@compute @workgroup_size(GROUP)
fn bce_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let stride = params.partials * GROUP;
    var own = 0.0;
    for (var i = wg.x * GROUP + lid; i < params.len; i += stride) {
        own += bce(prediction[i], truth[i]);
    }
    reduce_and_store(lid, wg.x, own);
}

@compute @workgroup_size(GROUP)
fn mse_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let stride = params.partials * GROUP;
    var own = 0.0;
    for (var i = wg.x * GROUP + lid; i < params.len; i += stride) {
        own += mse(prediction[i], truth[i]);
    }
    reduce_and_store(lid, wg.x, own);
}
