// 2-D convolution, gradient with respect to the bias (written, not accumulated), in two passes:
//   partial[b, oc] = sum_{oh, ow} dy[b, oc, oh, ow]
//   db[oc]         = sum_b partial[b, oc]
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 dy (read),
//   2 partial (read_write, batch * out_ch), 3 db (write).
// Every entry point touches every binding (`_ = ...`): wgpu's automatic layouts drop unused ones.
// conv2d_backward_bias: one invocation sums one (image, channel) plane, 4 values per step.
// conv2d_backward_bias_reduce: one invocation sums one channel over the images.
// Params: `ops::conv2d::Conv2dParams`, declared in front of this file from Rust (`WgslStruct::as_params_of`).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(GROUP)
fn conv2d_backward_bias(@builtin(workgroup_id) wg: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    _ = db[0];
    let plane = (wg.x + wg.y * nwg.x) * GROUP + lid;
    if (plane >= params.batch * params.out_ch) { return; }
    let out_px = params.out_h * params.out_w;
    let start = plane * out_px;
    let end = start + out_px;
    // Four independent running sums, then the tail.
    var s = vec4<f32>(0.0);
    var i = start;
    for (; i + 4u <= end; i += 4u) {
        s += vec4<f32>(dy[i], dy[i + 1u], dy[i + 2u], dy[i + 3u]);
    }
    var sum = (s.x + s.y) + (s.z + s.w);
    for (; i < end; i++) {
        sum += dy[i];
    }
    partial[plane] = sum;
}

@compute @workgroup_size(GROUP)
fn conv2d_backward_bias_reduce(@builtin(workgroup_id) wg: vec3<u32>,
                               @builtin(num_workgroups) nwg: vec3<u32>,
                               @builtin(local_invocation_index) lid: u32) {
    _ = dy[0];
    let oc = (wg.x + wg.y * nwg.x) * GROUP + lid;
    if (oc >= params.out_ch) { return; }
    var sum = 0.0;
    for (var b = 0u; b < params.batch; b++) {
        sum += partial[b * params.out_ch + oc];
    }
    db[oc] = sum;
}
