// RMSprop update (Keras form), in place:
//   ms = rho * ms + (1 - rho) * g^2
//   p  = p - lr * g / (sqrt(ms) + eps)
// Bindings (group 0): 0 hyper (uniform OptimHyper: lr, rho, eps; owned by the caller and rewritten
//   before each submit), 1 size (uniform UpdateParams: len; one per dispatch), 2 param (read_write),
//   3 grad (read), 4 ms (read_write, the mean-square state, zero at the start).
// One invocation updates one element; groups folded into y past 65,535.
// Hyper is `ops::optim::OptimHyper`, Size `ops::optim::UpdateParams` (declared from Rust).

@group(0) @binding(0) var<uniform> hyper: Hyper;
@group(0) @binding(1) var<uniform> size: Size;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> ms: array<f32>;

@compute @workgroup_size(256)
fn rmsprop_update(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (i >= size.len) { return; }
    let g = grad[i];
    let rho = hyper.rho_or_beta1;
    let s = rho * ms[i] + (1.0 - rho) * g * g;
    ms[i] = s;
    param[i] -= hyper.lr * g / (sqrt(s) + hyper.eps);
}
