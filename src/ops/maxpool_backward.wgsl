// Max-pooling 2x2, stride 2, backward (a gather, written, not accumulated):
//   dx[i] = dy[o] if argmax[o] == i for the one window o holding input cell i, else 0
//   (windows do not overlap: o = (plane, ih / 2, iw / 2)).
// Bindings (group 0): 0 params (uniform PoolParams), 1 argmax (read, u32), 2 dy (read),
//   3 dx (write).
// One invocation computes one input-gradient element. Params are `ops::maxpool::PoolParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> argmax: array<u32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(GROUP)
fn maxpool_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let hw = params.height * params.width;
    if (i >= params.planes * hw) { return; }
    let plane = i / hw;
    let ih = (i % hw) / params.width;
    let iw = i % params.width;
    let o = (plane * params.out_h + ih / 2u) * params.out_w + iw / 2u;
    dx[i] = select(0.0, dy[o], argmax[o] == i);
}
