// Max-pooling 2x2, stride 2, Keras 'same' rounding (out = ceil(in / 2); cells past the input edge
// are ignored, never read as 0), forward:
//   y[b, c, oh, ow]      = max over the window rows 2*oh..2*oh+1, columns 2*ow..2*ow+1 (inside)
//   argmax[b, c, oh, ow] = flat input index of the first maximum in window order
//                          (top-left, top-right, bottom-left, bottom-right)
// Bindings (group 0): 0 params (uniform PoolParams), 1 x (read), 2 y (write), 3 argmax (write, u32).
// One invocation computes one output element. Params are `ops::maxpool::PoolParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;

@compute @workgroup_size(GROUP)
fn maxpool_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let o = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let out_px = params.out_h * params.out_w;
    if (o >= params.planes * out_px) { return; }
    let plane = o / out_px;
    let oh = (o % out_px) / params.out_w;
    let ow = o % params.out_w;
    let ih = 2u * oh;
    let iw = 2u * ow;
    // The top-left cell is always inside; the others only when the input reaches them.
    let top = (plane * params.height + ih) * params.width + iw;
    var best = x[top];
    var arg = top;
    let right = iw + 1u < params.width;
    let below = ih + 1u < params.height;
    if (right && x[top + 1u] > best) { best = x[top + 1u]; arg = top + 1u; }
    let bottom = top + params.width;
    if (below && x[bottom] > best) { best = x[bottom]; arg = bottom; }
    if (below && right && x[bottom + 1u] > best) { best = x[bottom + 1u]; arg = bottom + 1u; }
    y[o] = best;
    argmax[o] = arg;
}
