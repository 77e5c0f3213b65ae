// The one-output-per-invocation conv2d input gradient (launched by ops::conv2d::naive), the
// benchmark's baseline: dx[b,ic,ih,iw] = sum over (oc, kh, kw) with
//   oh*stride = ih + pad_top - kh and ow*stride = iw + pad_left - kw in range
//   of dy[b,oc,oh,ow] * w[oc,ic,kh,kw]   (a gather: no atomics).
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 dy (read), 2 w (read), 3 dx (write).
// One invocation computes one input-gradient element. Params:
// `ops::conv2d::Conv2dParams`, declared in front of this file from Rust (`WgslStruct::as_params_of`).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn conv2d_naive_backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                               @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    let p = params;
    if (i >= p.batch * p.in_ch * p.height * p.width) { return; }
    let iw = i % p.width;
    let ih = (i / p.width) % p.height;
    let ic = (i / (p.width * p.height)) % p.in_ch;
    let b = i / (p.width * p.height * p.in_ch);
    var acc = 0.0;
    for (var oc = 0u; oc < p.out_ch; oc++) {
        for (var kh = 0u; kh < p.kernel; kh++) {
            let th = i32(ih + p.pad_top) - i32(kh);
            if (th < 0 || th % i32(p.stride) != 0) { continue; }
            let oh = u32(th) / p.stride;
            if (oh >= p.out_h) { continue; }
            for (var kw = 0u; kw < p.kernel; kw++) {
                let tw = i32(iw + p.pad_left) - i32(kw);
                if (tw < 0 || tw % i32(p.stride) != 0) { continue; }
                let ow = u32(tw) / p.stride;
                if (ow >= p.out_w) { continue; }
                acc += dy[((b * p.out_ch + oc) * p.out_h + oh) * p.out_w + ow]
                     * w[((oc * p.in_ch + ic) * p.kernel + kh) * p.kernel + kw];
            }
        }
    }
    dx[i] = acc;
}
