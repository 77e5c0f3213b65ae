// The one-output-per-invocation conv2d forward pass (launched by ops::conv2d::naive), the
// benchmark's baseline for the other kernel families: y[b,oc,oh,ow] = bias[oc] +
//   sum_{ic,kh,kw} x[b, ic, oh*stride + kh - pad_top, ow*stride + kw - pad_left] * w[oc, ic, kh, kw]
// (out-of-range input reads count as zero). NCHW, weight [out_ch, in_ch, k, k].
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 x (read), 2 w (read), 3 bias (read),
//   4 y (write).
// One invocation computes one output element. Params:
// `ops::conv2d::Conv2dParams`, declared in front of this file from Rust (`WgslStruct::as_params_of`).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn conv2d_naive_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    let p = params;
    if (i >= p.batch * p.out_ch * p.out_h * p.out_w) { return; }
    let ow = i % p.out_w;
    let oh = (i / p.out_w) % p.out_h;
    let oc = (i / (p.out_w * p.out_h)) % p.out_ch;
    let b = i / (p.out_w * p.out_h * p.out_ch);
    var acc = bias[oc];
    for (var ic = 0u; ic < p.in_ch; ic++) {
        for (var kh = 0u; kh < p.kernel; kh++) {
            let ih = i32(oh * p.stride + kh) - i32(p.pad_top);
            if (ih < 0 || ih >= i32(p.height)) { continue; }
            for (var kw = 0u; kw < p.kernel; kw++) {
                let iw = i32(ow * p.stride + kw) - i32(p.pad_left);
                if (iw < 0 || iw >= i32(p.width)) { continue; }
                let xi = ((b * p.in_ch + ic) * p.height + u32(ih)) * p.width + u32(iw);
                acc += x[xi] * w[((oc * p.in_ch + ic) * p.kernel + kh) * p.kernel + kw];
            }
        }
    }
    y[i] = acc;
}
