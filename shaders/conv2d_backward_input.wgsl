// 2-D convolution, gradient with respect to the input (a gather, written, not accumulated):
//   dx[b, ic, ih, iw] = sum_{oc, kh, kw} w[oc, ic, kh, kw] * dy[b, oc, oh, ow]
//   over the taps where ih + pad_top - kh = oh * stride and iw + pad_left - kw = ow * stride
//   for some output pixel (oh, ow) inside the output.
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 dy (read), 2 w (read), 3 dx (write).
// One invocation computes a register block of 4 input channels x 4 input pixels of one image
// (pixels flattened over ih*width + iw): four vec4 accumulators, one per pixel, each holding the 4
// channels. Loops: taps (kh, kw) outside, where each pixel's output position and validity mask
// (inside, divisible by the stride) are worked out once; output channels inside, a branch-free run
// of 8 loads and 16 multiply-adds. Tail channels / pixels are clamped and not stored.
// Params mirror `ops::conv2d::Conv2dParams`.

struct Params {
    batch: u32,
    in_ch: u32,
    out_ch: u32,
    height: u32,
    width: u32,
    out_h: u32,
    out_w: u32,
    kernel: u32,
    stride: u32,
    pad_top: u32,
    pad_left: u32,
    chunks: u32,
    batch_per_chunk: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

const GROUP: u32 = 64u;

// Input pixel p shifted by the padding: (ih + pad_top, iw + pad_left), signed.
fn shifted(p: u32) -> vec2<i32> {
    let ih = p / params.width;
    let iw = p % params.width;
    return vec2<i32>(i32(ih + params.pad_top), i32(iw + params.pad_left));
}

// Output position (oh, ow) that reaches input pixel `s` through tap (kh, kw), as a flat index
// oh*out_w + ow in .x, with .y = 1 when it exists and 0 otherwise (then .x = 0).
fn source(s: vec2<i32>, kh: u32, kw: u32) -> vec2<u32> {
    let nh = s.x - i32(kh);
    let nw = s.y - i32(kw);
    let st = params.stride;
    let uh = u32(max(nh, 0));
    let uw = u32(max(nw, 0));
    let oh = uh / st;
    let ow = uw / st;
    let ok = nh >= 0 && nw >= 0 && uh % st == 0u && uw % st == 0u && oh < params.out_h
        && ow < params.out_w;
    return vec2<u32>(select(0u, oh * params.out_w + ow, ok), select(0u, 1u, ok));
}

// Write the 4 channels of one pixel's accumulator, skipping tail channels and pixels.
fn store(dx_img: u32, ic: u32, p: u32, hw: u32, v: vec4<f32>) {
    if (p >= hw) { return; }
    let base = dx_img + ic * hw + p;
    dx[base] = v.x;
    if (ic + 1u < params.in_ch) { dx[base + hw] = v.y; }
    if (ic + 2u < params.in_ch) { dx[base + 2u * hw] = v.z; }
    if (ic + 3u < params.in_ch) { dx[base + 3u * hw] = v.w; }
}

@compute @workgroup_size(64)
fn conv2d_backward_input(@builtin(workgroup_id) wg: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let hw = params.height * params.width;
    let px_blocks = (hw + 3u) / 4u;
    let ic_blocks = (params.in_ch + 3u) / 4u;
    if (id >= px_blocks * ic_blocks * params.batch) { return; }
    let pb = id % px_blocks;
    let cb = (id / px_blocks) % ic_blocks;
    let b = id / (px_blocks * ic_blocks);

    // The block: input pixels p0..p3 and channels ic0..ic3 (clamped in the tail).
    let p = pb * 4u;
    let last_p = hw - 1u;
    let s0 = shifted(p);
    let s1 = shifted(min(p + 1u, last_p));
    let s2 = shifted(min(p + 2u, last_p));
    let s3 = shifted(min(p + 3u, last_p));
    let ic = cb * 4u;
    let last_ic = params.in_ch - 1u;
    let kk = params.kernel * params.kernel;
    let w0 = ic * kk;
    let w1 = min(ic + 1u, last_ic) * kk;
    let w2 = min(ic + 2u, last_ic) * kk;
    let w3 = min(ic + 3u, last_ic) * kk;
    let oc_stride = params.in_ch * kk;
    let out_px = params.out_h * params.out_w;
    let dy_img = b * params.out_ch * out_px;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var kh = 0u; kh < params.kernel; kh++) {
        for (var kw = 0u; kw < params.kernel; kw++) {
            let q0 = source(s0, kh, kw);
            let q1 = source(s1, kh, kw);
            let q2 = source(s2, kh, kw);
            let q3 = source(s3, kh, kw);
            let m0 = f32(q0.y);
            let m1 = f32(q1.y);
            let m2 = f32(q2.y);
            let m3 = f32(q3.y);
            var i0 = dy_img + q0.x;
            var i1 = dy_img + q1.x;
            var i2 = dy_img + q2.x;
            var i3 = dy_img + q3.x;
            var wi = kh * params.kernel + kw;
            for (var oc = 0u; oc < params.out_ch; oc++) {
                let wv = vec4<f32>(w[w0 + wi], w[w1 + wi], w[w2 + wi], w[w3 + wi]);
                acc0 += wv * (dy[i0] * m0);
                acc1 += wv * (dy[i1] * m1);
                acc2 += wv * (dy[i2] * m2);
                acc3 += wv * (dy[i3] * m3);
                wi += oc_stride;
                i0 += out_px;
                i1 += out_px;
                i2 += out_px;
                i3 += out_px;
            }
        }
    }

    let dx_img = b * params.in_ch * hw;
    store(dx_img, ic, p, hw, acc0);
    store(dx_img, ic, p + 1u, hw, acc1);
    store(dx_img, ic, p + 2u, hw, acc2);
    store(dx_img, ic, p + 3u, hw, acc3);
}
