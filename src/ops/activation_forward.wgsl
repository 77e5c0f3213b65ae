// Elementwise activations, forward.
//   elu:     y = x            if x > 0,  alpha * (exp(x) - 1)  otherwise
//   relu:    y = max(x, 0)
//   sigmoid: y = 1 / (1 + exp(-x))
// Bindings (group 0): 0 params (uniform ActivationParams), 1 x (read), 2 y (write).
// One invocation computes 4 consecutive elements. Params are `ops::activation::ActivationParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const PER_INVOCATION: u32 = 4u;

fn first_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return ((wg.x + wg.y * nwg.x) * 256u + lid) * PER_INVOCATION;
}

fn elu(v: f32) -> f32 {
    return select(params.alpha * (exp(v) - 1.0), v, v > 0.0);
}

fn sigmoid(v: f32) -> f32 {
    // Split by sign so exp never overflows.
    let e = exp(-abs(v));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
}

@compute @workgroup_size(256)
fn elu_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let start = first_index(wg, nwg, lid);
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let i = start + k;
        if (i < params.len) { y[i] = elu(x[i]); }
    }
}

@compute @workgroup_size(256)
fn relu_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let start = first_index(wg, nwg, lid);
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let i = start + k;
        if (i < params.len) { y[i] = max(x[i], 0.0); }
    }
}

@compute @workgroup_size(256)
fn sigmoid_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let start = first_index(wg, nwg, lid);
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let i = start + k;
        if (i < params.len) { y[i] = sigmoid(x[i]); }
    }
}
