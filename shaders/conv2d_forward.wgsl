// 2-D convolution, forward (NCHW, cross-correlation as in Keras/PyTorch):
//   y[b, oc, oh, ow] = bias[oc] + sum_{ic, kh, kw} w[oc, ic, kh, kw]
//                                  * x[b, ic, oh*stride - pad_top + kh, ow*stride - pad_left + kw]
//   taps that fall outside the input read 0 (zero padding).
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 x (read), 2 w (read), 3 bias (read),
//   4 y (write).
// One invocation computes a register block of 4 output channels x 4 output pixels of one image
// (pixels flattened over oh*out_w + ow, so a block may wrap a row): four vec4 accumulators, one per
// pixel, each holding the 4 channels. Loops: taps (kh, kw) outside, where the padding masks and
// input offsets of the 4 pixels are worked out once; input channels inside, a branch-free run of
// 8 loads and 16 multiply-adds. Tail channels / pixels are clamped to the last valid one and not
// stored.
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
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const GROUP: u32 = 64u;

// Signed top-left input coordinate of output pixel p's window.
fn window_origin(p: u32) -> vec2<i32> {
    let oh = p / params.out_w;
    let ow = p % params.out_w;
    return vec2<i32>(i32(oh * params.stride) - i32(params.pad_top),
                     i32(ow * params.stride) - i32(params.pad_left));
}

fn inside(r: i32, c: i32) -> bool {
    return r >= 0 && r < i32(params.height) && c >= 0 && c < i32(params.width);
}

// Plane offset of input cell (r, c), or 0 when it is padding (read there, then masked to 0).
fn cell(r: i32, c: i32, ok: bool) -> u32 {
    return select(0u, u32(r) * params.width + u32(c), ok);
}

// Write the 4 channels of one pixel's accumulator, skipping tail channels and pixels.
fn store(y_img: u32, oc: u32, p: u32, out_px: u32, v: vec4<f32>) {
    if (p >= out_px) { return; }
    let base = y_img + oc * out_px + p;
    y[base] = v.x;
    if (oc + 1u < params.out_ch) { y[base + out_px] = v.y; }
    if (oc + 2u < params.out_ch) { y[base + 2u * out_px] = v.z; }
    if (oc + 3u < params.out_ch) { y[base + 3u * out_px] = v.w; }
}

@compute @workgroup_size(64)
fn conv2d_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let out_px = params.out_h * params.out_w;
    let px_blocks = (out_px + 3u) / 4u;
    let oc_blocks = (params.out_ch + 3u) / 4u;
    if (id >= px_blocks * oc_blocks * params.batch) { return; }
    let pb = id % px_blocks;
    let ob = (id / px_blocks) % oc_blocks;
    let b = id / (px_blocks * oc_blocks);

    // The block: output pixels p0..p3 and channels oc0..oc3 (clamped in the tail).
    let p = pb * 4u;
    let last_p = out_px - 1u;
    let o0 = window_origin(p);
    let o1 = window_origin(min(p + 1u, last_p));
    let o2 = window_origin(min(p + 2u, last_p));
    let o3 = window_origin(min(p + 3u, last_p));
    let oc = ob * 4u;
    let last_oc = params.out_ch - 1u;
    let kk = params.kernel * params.kernel;
    let oc_stride = params.in_ch * kk;
    let w0 = oc * oc_stride;
    let w1 = min(oc + 1u, last_oc) * oc_stride;
    let w2 = min(oc + 2u, last_oc) * oc_stride;
    let w3 = min(oc + 3u, last_oc) * oc_stride;
    let hw = params.height * params.width;
    let x_img = b * params.in_ch * hw;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var kh = 0u; kh < params.kernel; kh++) {
        for (var kw = 0u; kw < params.kernel; kw++) {
            let tap = kh * params.kernel + kw;
            let r0 = o0.x + i32(kh); let c0 = o0.y + i32(kw);
            let r1 = o1.x + i32(kh); let c1 = o1.y + i32(kw);
            let r2 = o2.x + i32(kh); let c2 = o2.y + i32(kw);
            let r3 = o3.x + i32(kh); let c3 = o3.y + i32(kw);
            let ok0 = inside(r0, c0);
            let ok1 = inside(r1, c1);
            let ok2 = inside(r2, c2);
            let ok3 = inside(r3, c3);
            let m0 = select(0.0, 1.0, ok0);
            let m1 = select(0.0, 1.0, ok1);
            let m2 = select(0.0, 1.0, ok2);
            let m3 = select(0.0, 1.0, ok3);
            var i0 = x_img + cell(r0, c0, ok0);
            var i1 = x_img + cell(r1, c1, ok1);
            var i2 = x_img + cell(r2, c2, ok2);
            var i3 = x_img + cell(r3, c3, ok3);
            var wi = tap;
            for (var ic = 0u; ic < params.in_ch; ic++) {
                let wv = vec4<f32>(w[w0 + wi], w[w1 + wi], w[w2 + wi], w[w3 + wi]);
                acc0 += wv * (x[i0] * m0);
                acc1 += wv * (x[i1] * m1);
                acc2 += wv * (x[i2] * m2);
                acc3 += wv * (x[i3] * m3);
                wi += kk;
                i0 += hw;
                i1 += hw;
                i2 += hw;
                i3 += hw;
            }
        }
    }

    let bv = vec4<f32>(bias[oc], bias[min(oc + 1u, last_oc)], bias[min(oc + 2u, last_oc)],
                       bias[min(oc + 3u, last_oc)]);
    let y_img = b * params.out_ch * out_px;
    store(y_img, oc, p, out_px, acc0 + bv);
    store(y_img, oc, p + 1u, out_px, acc1 + bv);
    store(y_img, oc, p + 2u, out_px, acc2 + bv);
    store(y_img, oc, p + 3u, out_px, acc3 + bv);
}
