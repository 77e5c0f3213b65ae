// Adam update, in place, with bias correction by the step t (t = 1 at the first update):
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   p = p - lr * mhat / (sqrt(vhat) + eps),   mhat = m / bias1,  vhat = v / bias2,
//   bias1 = 1 - beta1^t,  bias2 = 1 - beta2^t   (computed on the CPU by Optimizer::hyper).
// Bindings (group 0): 0 hyper (uniform OptimHyper; owned by the caller and rewritten before each
//   submit), 1 size (uniform UpdateParams: len; one per dispatch), 2 param (read_write),
//   3 grad (read), 4 m (read_write), 5 v (read_write); m and v are zero at the start.
// One invocation updates one element; groups folded into y past 65,535.
// Hyper is `ops::optim::OptimHyper`, Size `ops::optim::UpdateParams` (declared from Rust).

@group(0) @binding(0) var<uniform> hyper: Hyper;
@group(0) @binding(1) var<uniform> size: Size;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256)
fn adam_update(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (i >= size.len) { return; }
    let g = grad[i];
    let beta1 = hyper.rho_or_beta1;
    let beta2 = hyper.beta2;
    let mi = beta1 * m[i] + (1.0 - beta1) * g;
    let vi = beta2 * v[i] + (1.0 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    let mhat = mi / hyper.bias1;
    let vhat = vi / hyper.bias2;
    param[i] -= hyper.lr * mhat / (sqrt(vhat) + hyper.eps);
}
