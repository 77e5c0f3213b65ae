// 2-D convolution, forward (NCHW, cross-correlation as in Keras/PyTorch):
//   y[b, oc, oh, ow] = bias[oc] + sum_{ic, kh, kw} w[oc, ic, kh, kw]
//                                  * x[b, ic, oh*stride - pad_top + kh, ow*stride - pad_left + kw]
//   taps that fall outside the input read 0 (zero padding).
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 x (read), 2 w (read), 3 bias (read),
//   4 y (write).
// Dispatch: workgroups (x, y) fold over blocks of 1024 output pixels (flattened over b, oh,
//   ow); workgroup z is the block of 8 output channels, so weight offsets are uniform.
// One invocation computes a register block of 8 output channels x 16 output pixels (pixels
// q + 64*j, j = 0..15, so neighbouring lanes read neighbouring cells): 32 named vec4
// accumulators (lo/hi channel halves per pixel). Each loaded value feeds 8 or 16 multiply-adds:
// loads, not arithmetic, bound this kernel on lavapipe. Loops: taps (kh, kw) outside, where
// padding masks and offsets of the pixels are worked out once; input channels inside,
// branch-free: 8 + 16 loads, 128 multiply-adds. Tail channels and pixels are clamped
// to the last valid one and not stored.
// Entry points (all with these bindings; the launcher picks one): conv2d_forward (any stride, as
//   described above), conv2d_forward_s1 (stride 1: row runs sliding along kw) and
//   conv2d_forward_s1_c1 (stride 1, at most 2 output channels); each is described where it starts.
// Unrolled by a throwaway script into named variables; maintained as plain WGSL.
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
const PIXELS_PER_GROUP: u32 = 1024u;

// A pixel of the flattened (b, oh, ow) output: its input-image offset and the signed top-left
// input coordinate of its window.
struct Pixel {
    x_img: u32,
    r: i32,
    c: i32,
}

fn pixel(q: u32) -> Pixel {
    let out_px = params.out_h * params.out_w;
    let p = q % out_px;
    return Pixel((q / out_px) * params.in_ch * params.height * params.width,
                 i32((p / params.out_w) * params.stride) - i32(params.pad_top),
                 i32((p % params.out_w) * params.stride) - i32(params.pad_left));
}

// Offset of tap (kh, kw) of pixel `px` in its image's first channel, and a 1/0 mask; padding
// taps read the image's first cell and are multiplied by 0.
fn tap(px: Pixel, kh: u32, kw: u32) -> vec2<u32> {
    let r = px.r + i32(kh);
    let c = px.c + i32(kw);
    let ok = r >= 0 && r < i32(params.height) && c >= 0 && c < i32(params.width);
    return vec2<u32>(px.x_img + select(0u, u32(r) * params.width + u32(c), ok), select(0u, 1u, ok));
}

// Write the 8 channels of one pixel, skipping tail channels and pixels.
fn store(q: u32, ch: u32, lo: vec4<f32>, hi: vec4<f32>) {
    let plane = params.out_h * params.out_w;
    if (q >= params.batch * plane) { return; }
    let base = ((q / plane) * params.out_ch + ch) * plane + q % plane;
    let n = params.out_ch - ch;
    y[base] = lo.x;
    if (n > 1u) { y[base + 1u * plane] = lo.y; }
    if (n > 2u) { y[base + 2u * plane] = lo.z; }
    if (n > 3u) { y[base + 3u * plane] = lo.w; }
    if (n > 4u) { y[base + 4u * plane] = hi.x; }
    if (n > 5u) { y[base + 5u * plane] = hi.y; }
    if (n > 6u) { y[base + 6u * plane] = hi.z; }
    if (n > 7u) { y[base + 7u * plane] = hi.w; }
}

@compute @workgroup_size(64)
fn conv2d_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    // Uniform: the channel block and the weight offsets of its 8 channels (clamped in the tail).
    let oc = wg.z * 8u;
    let last_oc = params.out_ch - 1u;
    let kk = params.kernel * params.kernel;
    let oc_stride = params.in_ch * kk;
    let w0 = min(oc + 0u, last_oc) * oc_stride;
    let w1 = min(oc + 1u, last_oc) * oc_stride;
    let w2 = min(oc + 2u, last_oc) * oc_stride;
    let w3 = min(oc + 3u, last_oc) * oc_stride;
    let w4 = min(oc + 4u, last_oc) * oc_stride;
    let w5 = min(oc + 5u, last_oc) * oc_stride;
    let w6 = min(oc + 6u, last_oc) * oc_stride;
    let w7 = min(oc + 7u, last_oc) * oc_stride;

    // Per lane: 16 pixels, clamped to the last one (computed, not stored).
    let q = (wg.x + wg.y * nwg.x) * PIXELS_PER_GROUP + lid;
    let last_q = params.batch * params.out_h * params.out_w - 1u;
    let px0 = pixel(min(q + 0u, last_q));
    let px1 = pixel(min(q + 64u, last_q));
    let px2 = pixel(min(q + 128u, last_q));
    let px3 = pixel(min(q + 192u, last_q));
    let px4 = pixel(min(q + 256u, last_q));
    let px5 = pixel(min(q + 320u, last_q));
    let px6 = pixel(min(q + 384u, last_q));
    let px7 = pixel(min(q + 448u, last_q));
    let px8 = pixel(min(q + 512u, last_q));
    let px9 = pixel(min(q + 576u, last_q));
    let px10 = pixel(min(q + 640u, last_q));
    let px11 = pixel(min(q + 704u, last_q));
    let px12 = pixel(min(q + 768u, last_q));
    let px13 = pixel(min(q + 832u, last_q));
    let px14 = pixel(min(q + 896u, last_q));
    let px15 = pixel(min(q + 960u, last_q));
    let hw = params.height * params.width;

    var lo0 = vec4<f32>(0.0);
    var hi0 = vec4<f32>(0.0);
    var lo1 = vec4<f32>(0.0);
    var hi1 = vec4<f32>(0.0);
    var lo2 = vec4<f32>(0.0);
    var hi2 = vec4<f32>(0.0);
    var lo3 = vec4<f32>(0.0);
    var hi3 = vec4<f32>(0.0);
    var lo4 = vec4<f32>(0.0);
    var hi4 = vec4<f32>(0.0);
    var lo5 = vec4<f32>(0.0);
    var hi5 = vec4<f32>(0.0);
    var lo6 = vec4<f32>(0.0);
    var hi6 = vec4<f32>(0.0);
    var lo7 = vec4<f32>(0.0);
    var hi7 = vec4<f32>(0.0);
    var lo8 = vec4<f32>(0.0);
    var hi8 = vec4<f32>(0.0);
    var lo9 = vec4<f32>(0.0);
    var hi9 = vec4<f32>(0.0);
    var lo10 = vec4<f32>(0.0);
    var hi10 = vec4<f32>(0.0);
    var lo11 = vec4<f32>(0.0);
    var hi11 = vec4<f32>(0.0);
    var lo12 = vec4<f32>(0.0);
    var hi12 = vec4<f32>(0.0);
    var lo13 = vec4<f32>(0.0);
    var hi13 = vec4<f32>(0.0);
    var lo14 = vec4<f32>(0.0);
    var hi14 = vec4<f32>(0.0);
    var lo15 = vec4<f32>(0.0);
    var hi15 = vec4<f32>(0.0);
    for (var kh = 0u; kh < params.kernel; kh++) {
        for (var kw = 0u; kw < params.kernel; kw++) {
            let t0 = tap(px0, kh, kw);
            let t1 = tap(px1, kh, kw);
            let t2 = tap(px2, kh, kw);
            let t3 = tap(px3, kh, kw);
            let t4 = tap(px4, kh, kw);
            let t5 = tap(px5, kh, kw);
            let t6 = tap(px6, kh, kw);
            let t7 = tap(px7, kh, kw);
            let t8 = tap(px8, kh, kw);
            let t9 = tap(px9, kh, kw);
            let t10 = tap(px10, kh, kw);
            let t11 = tap(px11, kh, kw);
            let t12 = tap(px12, kh, kw);
            let t13 = tap(px13, kh, kw);
            let t14 = tap(px14, kh, kw);
            let t15 = tap(px15, kh, kw);
            var i0 = t0.x;
            var i1 = t1.x;
            var i2 = t2.x;
            var i3 = t3.x;
            var i4 = t4.x;
            var i5 = t5.x;
            var i6 = t6.x;
            var i7 = t7.x;
            var i8 = t8.x;
            var i9 = t9.x;
            var i10 = t10.x;
            var i11 = t11.x;
            var i12 = t12.x;
            var i13 = t13.x;
            var i14 = t14.x;
            var i15 = t15.x;
            let m0 = f32(t0.y);
            let m1 = f32(t1.y);
            let m2 = f32(t2.y);
            let m3 = f32(t3.y);
            let m4 = f32(t4.y);
            let m5 = f32(t5.y);
            let m6 = f32(t6.y);
            let m7 = f32(t7.y);
            let m8 = f32(t8.y);
            let m9 = f32(t9.y);
            let m10 = f32(t10.y);
            let m11 = f32(t11.y);
            let m12 = f32(t12.y);
            let m13 = f32(t13.y);
            let m14 = f32(t14.y);
            let m15 = f32(t15.y);
            var wi = kh * params.kernel + kw;
            for (var ic = 0u; ic < params.in_ch; ic++) {
                let wlo = vec4<f32>(w[w0 + wi], w[w1 + wi], w[w2 + wi], w[w3 + wi]);
                let whi = vec4<f32>(w[w4 + wi], w[w5 + wi], w[w6 + wi], w[w7 + wi]);
                let x0 = x[i0] * m0;
                let x1 = x[i1] * m1;
                let x2 = x[i2] * m2;
                let x3 = x[i3] * m3;
                let x4 = x[i4] * m4;
                let x5 = x[i5] * m5;
                let x6 = x[i6] * m6;
                let x7 = x[i7] * m7;
                let x8 = x[i8] * m8;
                let x9 = x[i9] * m9;
                let x10 = x[i10] * m10;
                let x11 = x[i11] * m11;
                let x12 = x[i12] * m12;
                let x13 = x[i13] * m13;
                let x14 = x[i14] * m14;
                let x15 = x[i15] * m15;
                lo0 += wlo * x0;
                hi0 += whi * x0;
                lo1 += wlo * x1;
                hi1 += whi * x1;
                lo2 += wlo * x2;
                hi2 += whi * x2;
                lo3 += wlo * x3;
                hi3 += whi * x3;
                lo4 += wlo * x4;
                hi4 += whi * x4;
                lo5 += wlo * x5;
                hi5 += whi * x5;
                lo6 += wlo * x6;
                hi6 += whi * x6;
                lo7 += wlo * x7;
                hi7 += whi * x7;
                lo8 += wlo * x8;
                hi8 += whi * x8;
                lo9 += wlo * x9;
                hi9 += whi * x9;
                lo10 += wlo * x10;
                hi10 += whi * x10;
                lo11 += wlo * x11;
                hi11 += whi * x11;
                lo12 += wlo * x12;
                hi12 += whi * x12;
                lo13 += wlo * x13;
                hi13 += whi * x13;
                lo14 += wlo * x14;
                hi14 += whi * x14;
                lo15 += wlo * x15;
                hi15 += whi * x15;
                wi += kk;
                i0 += hw;
                i1 += hw;
                i2 += hw;
                i3 += hw;
                i4 += hw;
                i5 += hw;
                i6 += hw;
                i7 += hw;
                i8 += hw;
                i9 += hw;
                i10 += hw;
                i11 += hw;
                i12 += hw;
                i13 += hw;
                i14 += hw;
                i15 += hw;
            }
        }
    }

    let blo = vec4<f32>(bias[oc], bias[min(oc + 1u, last_oc)], bias[min(oc + 2u, last_oc)],
                        bias[min(oc + 3u, last_oc)]);
    let bhi = vec4<f32>(bias[min(oc + 4u, last_oc)], bias[min(oc + 5u, last_oc)],
                        bias[min(oc + 6u, last_oc)], bias[min(oc + 7u, last_oc)]);
    store(q + 0u, oc, lo0 + blo, hi0 + bhi);
    store(q + 64u, oc, lo1 + blo, hi1 + bhi);
    store(q + 128u, oc, lo2 + blo, hi2 + bhi);
    store(q + 192u, oc, lo3 + blo, hi3 + bhi);
    store(q + 256u, oc, lo4 + blo, hi4 + bhi);
    store(q + 320u, oc, lo5 + blo, hi5 + bhi);
    store(q + 384u, oc, lo6 + blo, hi6 + bhi);
    store(q + 448u, oc, lo7 + blo, hi7 + bhi);
    store(q + 512u, oc, lo8 + blo, hi8 + bhi);
    store(q + 576u, oc, lo9 + blo, hi9 + bhi);
    store(q + 640u, oc, lo10 + blo, hi10 + bhi);
    store(q + 704u, oc, lo11 + blo, hi11 + bhi);
    store(q + 768u, oc, lo12 + blo, hi12 + bhi);
    store(q + 832u, oc, lo13 + blo, hi13 + bhi);
    store(q + 896u, oc, lo14 + blo, hi14 + bhi);
    store(q + 960u, oc, lo15 + blo, hi15 + bhi);
}

// Stride 1 only: one invocation computes 8 output channels x 16 consecutive output pixels of one
// row (ow0 .. ow0 + 15). For each (kh, ic) it loads the 16 input cells under tap kw = 0 once and
// slides right along kw, one new load per step, so a loaded cell feeds up to k taps x 8 channels:
// per (kh, ic) 16 + k input loads and 8*k weight loads for 128*k multiply-adds.
// Workgroups (x, y) fold over row runs (b, oh, run), one per lane; z is the channel block.

// x at column c of an input row (offset `row`, inside the image when `row_ok`), 0 in the padding.
fn cell_x(row: u32, row_ok: bool, c: i32) -> f32 {
    let ok = row_ok && c >= 0 && c < i32(params.width);
    return select(0.0, 1.0, ok) * x[row + select(0u, u32(c), ok)];
}

// Write the 8 channels of the pixel at `base` (channel oc) when `valid`.
fn store_at(valid: bool, base: u32, oc: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if (!valid) { return; }
    let plane = params.out_h * params.out_w;
    let n = params.out_ch - oc;
    y[base] = lo.x;
    if (n > 1u) { y[base + 1u * plane] = lo.y; }
    if (n > 2u) { y[base + 2u * plane] = lo.z; }
    if (n > 3u) { y[base + 3u * plane] = lo.w; }
    if (n > 4u) { y[base + 4u * plane] = hi.x; }
    if (n > 5u) { y[base + 5u * plane] = hi.y; }
    if (n > 6u) { y[base + 6u * plane] = hi.z; }
    if (n > 7u) { y[base + 7u * plane] = hi.w; }
}

@compute @workgroup_size(64)
fn conv2d_forward_s1(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let kk = params.kernel * params.kernel;
    // Uniform: the channel block and the weight offsets of its 8 channels (clamped in the tail).
    let oc = wg.z * 8u;
    let last_oc = params.out_ch - 1u;
    let oc_stride = params.in_ch * kk;
    let w0 = min(oc + 0u, last_oc) * oc_stride;
    let w1 = min(oc + 1u, last_oc) * oc_stride;
    let w2 = min(oc + 2u, last_oc) * oc_stride;
    let w3 = min(oc + 3u, last_oc) * oc_stride;
    let w4 = min(oc + 4u, last_oc) * oc_stride;
    let w5 = min(oc + 5u, last_oc) * oc_stride;
    let w6 = min(oc + 6u, last_oc) * oc_stride;
    let w7 = min(oc + 7u, last_oc) * oc_stride;

    // Per lane: a run of 16 pixels of one output row (the last run clamped; stores guarded).
    let runs = (params.out_w + 15u) / 16u;
    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let last = params.batch * params.out_h * runs - 1u;
    let run = min(id, last);
    let ow0 = (run % runs) * 16u;
    let oh = (run / runs) % params.out_h;
    let b = run / (runs * params.out_h);
    let c0 = i32(ow0) - i32(params.pad_left);
    let hw = params.height * params.width;
    let img = b * params.in_ch * hw;
    var lo0 = vec4<f32>(0.0);
    var hi0 = vec4<f32>(0.0);
    var lo1 = vec4<f32>(0.0);
    var hi1 = vec4<f32>(0.0);
    var lo2 = vec4<f32>(0.0);
    var hi2 = vec4<f32>(0.0);
    var lo3 = vec4<f32>(0.0);
    var hi3 = vec4<f32>(0.0);
    var lo4 = vec4<f32>(0.0);
    var hi4 = vec4<f32>(0.0);
    var lo5 = vec4<f32>(0.0);
    var hi5 = vec4<f32>(0.0);
    var lo6 = vec4<f32>(0.0);
    var hi6 = vec4<f32>(0.0);
    var lo7 = vec4<f32>(0.0);
    var hi7 = vec4<f32>(0.0);
    var lo8 = vec4<f32>(0.0);
    var hi8 = vec4<f32>(0.0);
    var lo9 = vec4<f32>(0.0);
    var hi9 = vec4<f32>(0.0);
    var lo10 = vec4<f32>(0.0);
    var hi10 = vec4<f32>(0.0);
    var lo11 = vec4<f32>(0.0);
    var hi11 = vec4<f32>(0.0);
    var lo12 = vec4<f32>(0.0);
    var hi12 = vec4<f32>(0.0);
    var lo13 = vec4<f32>(0.0);
    var hi13 = vec4<f32>(0.0);
    var lo14 = vec4<f32>(0.0);
    var hi14 = vec4<f32>(0.0);
    var lo15 = vec4<f32>(0.0);
    var hi15 = vec4<f32>(0.0);
    for (var kh = 0u; kh < params.kernel; kh++) {
        let r = i32(oh + kh) - i32(params.pad_top);
        let row_ok = r >= 0 && r < i32(params.height);
        var row = img + select(0u, u32(r) * params.width, row_ok);
        // Weight offset of (ic, kh, kw = 0).
        var wi = kh * params.kernel;
        for (var ic = 0u; ic < params.in_ch; ic++) {
            var v0 = cell_x(row, row_ok, c0 + 0);
            var v1 = cell_x(row, row_ok, c0 + 1);
            var v2 = cell_x(row, row_ok, c0 + 2);
            var v3 = cell_x(row, row_ok, c0 + 3);
            var v4 = cell_x(row, row_ok, c0 + 4);
            var v5 = cell_x(row, row_ok, c0 + 5);
            var v6 = cell_x(row, row_ok, c0 + 6);
            var v7 = cell_x(row, row_ok, c0 + 7);
            var v8 = cell_x(row, row_ok, c0 + 8);
            var v9 = cell_x(row, row_ok, c0 + 9);
            var v10 = cell_x(row, row_ok, c0 + 10);
            var v11 = cell_x(row, row_ok, c0 + 11);
            var v12 = cell_x(row, row_ok, c0 + 12);
            var v13 = cell_x(row, row_ok, c0 + 13);
            var v14 = cell_x(row, row_ok, c0 + 14);
            var v15 = cell_x(row, row_ok, c0 + 15);
            for (var t = 0u; t < params.kernel; t++) {
                let wlo = vec4<f32>(w[w0 + wi + t], w[w1 + wi + t], w[w2 + wi + t], w[w3 + wi + t]);
                let whi = vec4<f32>(w[w4 + wi + t], w[w5 + wi + t], w[w6 + wi + t], w[w7 + wi + t]);
                lo0 += wlo * v0;
                hi0 += whi * v0;
                lo1 += wlo * v1;
                hi1 += whi * v1;
                lo2 += wlo * v2;
                hi2 += whi * v2;
                lo3 += wlo * v3;
                hi3 += whi * v3;
                lo4 += wlo * v4;
                hi4 += whi * v4;
                lo5 += wlo * v5;
                hi5 += whi * v5;
                lo6 += wlo * v6;
                hi6 += whi * v6;
                lo7 += wlo * v7;
                hi7 += whi * v7;
                lo8 += wlo * v8;
                hi8 += whi * v8;
                lo9 += wlo * v9;
                hi9 += whi * v9;
                lo10 += wlo * v10;
                hi10 += whi * v10;
                lo11 += wlo * v11;
                hi11 += whi * v11;
                lo12 += wlo * v12;
                hi12 += whi * v12;
                lo13 += wlo * v13;
                hi13 += whi * v13;
                lo14 += wlo * v14;
                hi14 += whi * v14;
                lo15 += wlo * v15;
                hi15 += whi * v15;
                // Slide one cell right.
                v0 = v1;
                v1 = v2;
                v2 = v3;
                v3 = v4;
                v4 = v5;
                v5 = v6;
                v6 = v7;
                v7 = v8;
                v8 = v9;
                v9 = v10;
                v10 = v11;
                v11 = v12;
                v12 = v13;
                v13 = v14;
                v14 = v15;
                v15 = cell_x(row, row_ok, c0 + 16 + i32(t));
            }
            row += hw;
            wi += kk;
        }
    }

    let blo = vec4<f32>(bias[oc], bias[min(oc + 1u, last_oc)], bias[min(oc + 2u, last_oc)],
                        bias[min(oc + 3u, last_oc)]);
    let bhi = vec4<f32>(bias[min(oc + 4u, last_oc)], bias[min(oc + 5u, last_oc)],
                        bias[min(oc + 6u, last_oc)], bias[min(oc + 7u, last_oc)]);
    let base = ((b * params.out_ch + oc) * params.out_h + oh) * params.out_w + ow0;
    store_at(id <= last && ow0 + 0u < params.out_w, base + 0u, oc, lo0 + blo, hi0 + bhi);
    store_at(id <= last && ow0 + 1u < params.out_w, base + 1u, oc, lo1 + blo, hi1 + bhi);
    store_at(id <= last && ow0 + 2u < params.out_w, base + 2u, oc, lo2 + blo, hi2 + bhi);
    store_at(id <= last && ow0 + 3u < params.out_w, base + 3u, oc, lo3 + blo, hi3 + bhi);
    store_at(id <= last && ow0 + 4u < params.out_w, base + 4u, oc, lo4 + blo, hi4 + bhi);
    store_at(id <= last && ow0 + 5u < params.out_w, base + 5u, oc, lo5 + blo, hi5 + bhi);
    store_at(id <= last && ow0 + 6u < params.out_w, base + 6u, oc, lo6 + blo, hi6 + bhi);
    store_at(id <= last && ow0 + 7u < params.out_w, base + 7u, oc, lo7 + blo, hi7 + bhi);
    store_at(id <= last && ow0 + 8u < params.out_w, base + 8u, oc, lo8 + blo, hi8 + bhi);
    store_at(id <= last && ow0 + 9u < params.out_w, base + 9u, oc, lo9 + blo, hi9 + bhi);
    store_at(id <= last && ow0 + 10u < params.out_w, base + 10u, oc, lo10 + blo, hi10 + bhi);
    store_at(id <= last && ow0 + 11u < params.out_w, base + 11u, oc, lo11 + blo, hi11 + bhi);
    store_at(id <= last && ow0 + 12u < params.out_w, base + 12u, oc, lo12 + blo, hi12 + bhi);
    store_at(id <= last && ow0 + 13u < params.out_w, base + 13u, oc, lo13 + blo, hi13 + bhi);
    store_at(id <= last && ow0 + 14u < params.out_w, base + 14u, oc, lo14 + blo, hi14 + bhi);
    store_at(id <= last && ow0 + 15u < params.out_w, base + 15u, oc, lo15 + blo, hi15 + bhi);
}

// Stride 1, one output channel (workgroup z) per invocation: 32 consecutive pixels of one row,
// sliding along kw as above; per (kh, ic) 32 + k cell loads and k weight loads for 32*k
// multiply-adds. Used when there are at most 2 output channels.
@compute @workgroup_size(64)
fn conv2d_forward_s1_c1(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let kk = params.kernel * params.kernel;
    let oc = wg.z;
    let runs = (params.out_w + 31u) / 32u;
    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let last = params.batch * params.out_h * runs - 1u;
    let run = min(id, last);
    let ow0 = (run % runs) * 32u;
    let oh = (run / runs) % params.out_h;
    let b = run / (runs * params.out_h);
    let c0 = i32(ow0) - i32(params.pad_left);
    let hw = params.height * params.width;
    let img = b * params.in_ch * hw;
    var a0 = 0.0;
    var a1 = 0.0;
    var a2 = 0.0;
    var a3 = 0.0;
    var a4 = 0.0;
    var a5 = 0.0;
    var a6 = 0.0;
    var a7 = 0.0;
    var a8 = 0.0;
    var a9 = 0.0;
    var a10 = 0.0;
    var a11 = 0.0;
    var a12 = 0.0;
    var a13 = 0.0;
    var a14 = 0.0;
    var a15 = 0.0;
    var a16 = 0.0;
    var a17 = 0.0;
    var a18 = 0.0;
    var a19 = 0.0;
    var a20 = 0.0;
    var a21 = 0.0;
    var a22 = 0.0;
    var a23 = 0.0;
    var a24 = 0.0;
    var a25 = 0.0;
    var a26 = 0.0;
    var a27 = 0.0;
    var a28 = 0.0;
    var a29 = 0.0;
    var a30 = 0.0;
    var a31 = 0.0;
    for (var kh = 0u; kh < params.kernel; kh++) {
        let r = i32(oh + kh) - i32(params.pad_top);
        let row_ok = r >= 0 && r < i32(params.height);
        var row = img + select(0u, u32(r) * params.width, row_ok);
        // Weight index of (oc, ic, kh, kw = 0).
        var wi = oc * params.in_ch * kk + kh * params.kernel;
        for (var ic = 0u; ic < params.in_ch; ic++) {
            var v0 = cell_x(row, row_ok, c0 + 0);
            var v1 = cell_x(row, row_ok, c0 + 1);
            var v2 = cell_x(row, row_ok, c0 + 2);
            var v3 = cell_x(row, row_ok, c0 + 3);
            var v4 = cell_x(row, row_ok, c0 + 4);
            var v5 = cell_x(row, row_ok, c0 + 5);
            var v6 = cell_x(row, row_ok, c0 + 6);
            var v7 = cell_x(row, row_ok, c0 + 7);
            var v8 = cell_x(row, row_ok, c0 + 8);
            var v9 = cell_x(row, row_ok, c0 + 9);
            var v10 = cell_x(row, row_ok, c0 + 10);
            var v11 = cell_x(row, row_ok, c0 + 11);
            var v12 = cell_x(row, row_ok, c0 + 12);
            var v13 = cell_x(row, row_ok, c0 + 13);
            var v14 = cell_x(row, row_ok, c0 + 14);
            var v15 = cell_x(row, row_ok, c0 + 15);
            var v16 = cell_x(row, row_ok, c0 + 16);
            var v17 = cell_x(row, row_ok, c0 + 17);
            var v18 = cell_x(row, row_ok, c0 + 18);
            var v19 = cell_x(row, row_ok, c0 + 19);
            var v20 = cell_x(row, row_ok, c0 + 20);
            var v21 = cell_x(row, row_ok, c0 + 21);
            var v22 = cell_x(row, row_ok, c0 + 22);
            var v23 = cell_x(row, row_ok, c0 + 23);
            var v24 = cell_x(row, row_ok, c0 + 24);
            var v25 = cell_x(row, row_ok, c0 + 25);
            var v26 = cell_x(row, row_ok, c0 + 26);
            var v27 = cell_x(row, row_ok, c0 + 27);
            var v28 = cell_x(row, row_ok, c0 + 28);
            var v29 = cell_x(row, row_ok, c0 + 29);
            var v30 = cell_x(row, row_ok, c0 + 30);
            var v31 = cell_x(row, row_ok, c0 + 31);
            for (var t = 0u; t < params.kernel; t++) {
                let wv = w[wi + t];
                a0 += wv * v0;
                a1 += wv * v1;
                a2 += wv * v2;
                a3 += wv * v3;
                a4 += wv * v4;
                a5 += wv * v5;
                a6 += wv * v6;
                a7 += wv * v7;
                a8 += wv * v8;
                a9 += wv * v9;
                a10 += wv * v10;
                a11 += wv * v11;
                a12 += wv * v12;
                a13 += wv * v13;
                a14 += wv * v14;
                a15 += wv * v15;
                a16 += wv * v16;
                a17 += wv * v17;
                a18 += wv * v18;
                a19 += wv * v19;
                a20 += wv * v20;
                a21 += wv * v21;
                a22 += wv * v22;
                a23 += wv * v23;
                a24 += wv * v24;
                a25 += wv * v25;
                a26 += wv * v26;
                a27 += wv * v27;
                a28 += wv * v28;
                a29 += wv * v29;
                a30 += wv * v30;
                a31 += wv * v31;
                // Slide one cell right.
                v0 = v1;
                v1 = v2;
                v2 = v3;
                v3 = v4;
                v4 = v5;
                v5 = v6;
                v6 = v7;
                v7 = v8;
                v8 = v9;
                v9 = v10;
                v10 = v11;
                v11 = v12;
                v12 = v13;
                v13 = v14;
                v14 = v15;
                v15 = v16;
                v16 = v17;
                v17 = v18;
                v18 = v19;
                v19 = v20;
                v20 = v21;
                v21 = v22;
                v22 = v23;
                v23 = v24;
                v24 = v25;
                v25 = v26;
                v26 = v27;
                v27 = v28;
                v28 = v29;
                v29 = v30;
                v30 = v31;
                v31 = cell_x(row, row_ok, c0 + 32 + i32(t));
            }
            row += hw;
            wi += kk;
        }
    }

    let bv = bias[oc];
    let base = ((b * params.out_ch + oc) * params.out_h + oh) * params.out_w + ow0;
    if (id > last) { return; }
    if (ow0 + 0u < params.out_w) { y[base + 0u] = a0 + bv; }
    if (ow0 + 1u < params.out_w) { y[base + 1u] = a1 + bv; }
    if (ow0 + 2u < params.out_w) { y[base + 2u] = a2 + bv; }
    if (ow0 + 3u < params.out_w) { y[base + 3u] = a3 + bv; }
    if (ow0 + 4u < params.out_w) { y[base + 4u] = a4 + bv; }
    if (ow0 + 5u < params.out_w) { y[base + 5u] = a5 + bv; }
    if (ow0 + 6u < params.out_w) { y[base + 6u] = a6 + bv; }
    if (ow0 + 7u < params.out_w) { y[base + 7u] = a7 + bv; }
    if (ow0 + 8u < params.out_w) { y[base + 8u] = a8 + bv; }
    if (ow0 + 9u < params.out_w) { y[base + 9u] = a9 + bv; }
    if (ow0 + 10u < params.out_w) { y[base + 10u] = a10 + bv; }
    if (ow0 + 11u < params.out_w) { y[base + 11u] = a11 + bv; }
    if (ow0 + 12u < params.out_w) { y[base + 12u] = a12 + bv; }
    if (ow0 + 13u < params.out_w) { y[base + 13u] = a13 + bv; }
    if (ow0 + 14u < params.out_w) { y[base + 14u] = a14 + bv; }
    if (ow0 + 15u < params.out_w) { y[base + 15u] = a15 + bv; }
    if (ow0 + 16u < params.out_w) { y[base + 16u] = a16 + bv; }
    if (ow0 + 17u < params.out_w) { y[base + 17u] = a17 + bv; }
    if (ow0 + 18u < params.out_w) { y[base + 18u] = a18 + bv; }
    if (ow0 + 19u < params.out_w) { y[base + 19u] = a19 + bv; }
    if (ow0 + 20u < params.out_w) { y[base + 20u] = a20 + bv; }
    if (ow0 + 21u < params.out_w) { y[base + 21u] = a21 + bv; }
    if (ow0 + 22u < params.out_w) { y[base + 22u] = a22 + bv; }
    if (ow0 + 23u < params.out_w) { y[base + 23u] = a23 + bv; }
    if (ow0 + 24u < params.out_w) { y[base + 24u] = a24 + bv; }
    if (ow0 + 25u < params.out_w) { y[base + 25u] = a25 + bv; }
    if (ow0 + 26u < params.out_w) { y[base + 26u] = a26 + bv; }
    if (ow0 + 27u < params.out_w) { y[base + 27u] = a27 + bv; }
    if (ow0 + 28u < params.out_w) { y[base + 28u] = a28 + bv; }
    if (ow0 + 29u < params.out_w) { y[base + 29u] = a29 + bv; }
    if (ow0 + 30u < params.out_w) { y[base + 30u] = a30 + bv; }
    if (ow0 + 31u < params.out_w) { y[base + 31u] = a31 + bv; }
}
