// Nearest-neighbour upsampling by 2, forward:
//   y[b, c, oh, ow] = x[b, c, oh / 2, ow / 2]      (output 2*height x 2*width)
// Bindings (group 0): 0 params (uniform UpsampleParams), 1 x (read), 2 y (write).
// One invocation computes one output element. Params are `ops::upsample::UpsampleParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(GROUP)
fn upsample_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let o = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let out_w = 2u * params.width;
    let out_px = 4u * params.height * params.width;
    if (o >= params.planes * out_px) { return; }
    let plane = o / out_px;
    let oh = (o % out_px) / out_w;
    let ow = o % out_w;
    y[o] = x[(plane * params.height + oh / 2u) * params.width + ow / 2u];
}
