// Nearest-neighbour upsampling by 2, backward (a gather of 4, written, not accumulated):
//   dx[b, c, ih, iw] = sum_{dh, dw in {0, 1}} dy[b, c, 2*ih + dh, 2*iw + dw]
// Bindings (group 0): 0 params (uniform UpsampleParams), 1 dy (read), 2 dx (write).
// One invocation computes one input-gradient element. Params are
// `ops::upsample::UpsampleParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(GROUP)
fn upsample_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let hw = params.height * params.width;
    if (i >= params.planes * hw) { return; }
    let plane = i / hw;
    let ih = (i % hw) / params.width;
    let iw = i % params.width;
    let out_w = 2u * params.width;
    let top = (plane * 2u * params.height + 2u * ih) * out_w + 2u * iw;
    dx[i] = (dy[top] + dy[top + 1u]) + (dy[top + out_w] + dy[top + out_w + 1u]);
}
