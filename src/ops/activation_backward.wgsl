// Elementwise activations, backward: dx = dy * f'(x), with f' written through the saved output y
// where that is cheaper.
//   elu:     f'(x) = 1 if x > 0, y + alpha otherwise   (alpha * exp(x) = y + alpha)
//   relu:    f'(x) = 1 if x > 0, 0 otherwise
//   sigmoid: f'(x) = y * (1 - y)
// Bindings (group 0): 0 params (uniform ActivationParams), 1 x (read), 2 y (read),
//   3 dy (read), 4 dx (write).
// Every entry point touches every binding (`_ = ...`): wgpu's automatic layouts drop unused ones.
// One invocation computes 4 consecutive elements. Params are `ops::activation::ActivationParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

const PER_INVOCATION: u32 = 4u;

fn first_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return ((wg.x + wg.y * nwg.x) * 256u + lid) * PER_INVOCATION;
}

@compute @workgroup_size(256)
fn elu_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let start = first_index(wg, nwg, lid);
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let i = start + k;
        if (i < params.len) {
            dx[i] = dy[i] * select(y[i] + params.alpha, 1.0, x[i] > 0.0);
        }
    }
}

@compute @workgroup_size(256)
fn relu_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    _ = y[0];
    let start = first_index(wg, nwg, lid);
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let i = start + k;
        if (i < params.len) {
            dx[i] = select(0.0, dy[i], x[i] > 0.0);
        }
    }
}

@compute @workgroup_size(256)
fn sigmoid_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    _ = x[0];
    let start = first_index(wg, nwg, lid);
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let i = start + k;
        if (i < params.len) {
            dx[i] = dy[i] * y[i] * (1.0 - y[i]);
        }
    }
}
