// The one-output-per-invocation conv2d weight gradient (launched by ops::conv2d::naive), the
// benchmark's baseline: dw[oc,ic,kh,kw] = sum_{b,oh,ow} dy[b,oc,oh,ow] *
//   x[b, ic, oh*stride + kh - pad_top, ow*stride + kw - pad_left]   (out-of-range x counts as zero).
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 x (read), 2 dy (read), 3 dw (write).
// One invocation computes one weight-gradient element. Params:
// `ops::conv2d::Conv2dParams`, declared in front of this file from Rust (`WgslStruct::as_params_of`).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(64)
fn conv2d_naive_backward_weight(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    let p = params;
    if (i >= p.out_ch * p.in_ch * p.kernel * p.kernel) { return; }
    let kw = i % p.kernel;
    let kh = (i / p.kernel) % p.kernel;
    let ic = (i / (p.kernel * p.kernel)) % p.in_ch;
    let oc = i / (p.kernel * p.kernel * p.in_ch);
    var acc = 0.0;
    for (var b = 0u; b < p.batch; b++) {
        for (var oh = 0u; oh < p.out_h; oh++) {
            let ih = i32(oh * p.stride + kh) - i32(p.pad_top);
            if (ih < 0 || ih >= i32(p.height)) { continue; }
            for (var ow = 0u; ow < p.out_w; ow++) {
                let iw = i32(ow * p.stride + kw) - i32(p.pad_left);
                if (iw < 0 || iw >= i32(p.width)) { continue; }
                acc += dy[((b * p.out_ch + oc) * p.out_h + oh) * p.out_w + ow]
                     * x[((b * p.in_ch + ic) * p.height + u32(ih)) * p.width + u32(iw)];
            }
        }
    }
    dw[i] = acc;
}
