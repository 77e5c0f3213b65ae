// 2-D convolution, gradient with respect to the input (a gather, written, not accumulated):
//   dx[b, ic, ih, iw] = sum_{oc, kh, kw} w[oc, ic, kh, kw] * dy[b, oc, oh, ow]
//   over the taps where ih + pad_top - kh = oh * stride and iw + pad_left - kw = ow * stride
//   for some output pixel (oh, ow) inside the output.
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 dy (read), 2 w (read), 3 dx (write).
// Dispatch: workgroups (x, y) fold over blocks of 1024 input pixels (flattened over b, ih,
//   iw); workgroup z is the block of 8 input channels, so weight offsets are uniform.
// One invocation computes a register block of 8 input channels x 16 input pixels (pixels
// q + 64*j, j = 0..15): 32 named vec4 accumulators (lo/hi channel halves per pixel).
// Loops: taps (kh, kw) outside, where each pixel's source output position and its mask (inside,
// divisible by the stride) are worked out once; output channels inside, branch-free: 8 + 16
// loads, 128 multiply-adds. Tail channels and pixels are clamped and not stored.
// Entry points (all with these bindings; the launcher picks one): conv2d_backward_input (any
//   stride, as described above), conv2d_backward_input_s1 (stride 1: row runs sliding along kw)
//   and conv2d_backward_input_s1_c1 (stride 1, at most 2 input channels); each is described where
//   it starts.
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
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

const GROUP: u32 = 64u;
const PIXELS_PER_GROUP: u32 = 1024u;

// An input pixel of the flattened (b, ih, iw) input: its gradient-image offset in dy, and its
// coordinates shifted by the padding, (ih + pad_top, iw + pad_left).
struct Pixel {
    dy_img: u32,
    r: i32,
    c: i32,
}

fn pixel(q: u32) -> Pixel {
    let hw = params.height * params.width;
    let p = q % hw;
    return Pixel((q / hw) * params.out_ch * params.out_h * params.out_w,
                 i32(p / params.width + params.pad_top), i32(p % params.width + params.pad_left));
}

// Offset in dy's first channel of the output pixel (oh, ow) that reaches `px` through tap
// (kh, kw), and a 1/0 mask for whether it exists; when it does not, the image's first cell is
// read and multiplied by 0.
fn source(px: Pixel, kh: u32, kw: u32) -> vec2<u32> {
    let nh = px.r - i32(kh);
    let nw = px.c - i32(kw);
    let st = params.stride;
    let uh = u32(max(nh, 0));
    let uw = u32(max(nw, 0));
    let oh = uh / st;
    let ow = uw / st;
    let ok = nh >= 0 && nw >= 0 && uh % st == 0u && uw % st == 0u && oh < params.out_h
        && ow < params.out_w;
    return vec2<u32>(px.dy_img + select(0u, oh * params.out_w + ow, ok), select(0u, 1u, ok));
}

// Write the 8 channels of one input pixel, skipping tail channels and pixels.
fn store(q: u32, ch: u32, lo: vec4<f32>, hi: vec4<f32>) {
    let plane = params.height * params.width;
    if (q >= params.batch * plane) { return; }
    let base = ((q / plane) * params.in_ch + ch) * plane + q % plane;
    let n = params.in_ch - ch;
    dx[base] = lo.x;
    if (n > 1u) { dx[base + 1u * plane] = lo.y; }
    if (n > 2u) { dx[base + 2u * plane] = lo.z; }
    if (n > 3u) { dx[base + 3u * plane] = lo.w; }
    if (n > 4u) { dx[base + 4u * plane] = hi.x; }
    if (n > 5u) { dx[base + 5u * plane] = hi.y; }
    if (n > 6u) { dx[base + 6u * plane] = hi.z; }
    if (n > 7u) { dx[base + 7u * plane] = hi.w; }
}

@compute @workgroup_size(64)
fn conv2d_backward_input(@builtin(workgroup_id) wg: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
    // Uniform: the channel block and the weight offsets of its 8 channels (clamped in the tail).
    let ic = wg.z * 8u;
    let last_ic = params.in_ch - 1u;
    let kk = params.kernel * params.kernel;
    let oc_stride = params.in_ch * kk;
    let w0 = min(ic + 0u, last_ic) * kk;
    let w1 = min(ic + 1u, last_ic) * kk;
    let w2 = min(ic + 2u, last_ic) * kk;
    let w3 = min(ic + 3u, last_ic) * kk;
    let w4 = min(ic + 4u, last_ic) * kk;
    let w5 = min(ic + 5u, last_ic) * kk;
    let w6 = min(ic + 6u, last_ic) * kk;
    let w7 = min(ic + 7u, last_ic) * kk;

    // Per lane: 16 input pixels, clamped to the last one (computed, not stored).
    let q = (wg.x + wg.y * nwg.x) * PIXELS_PER_GROUP + lid;
    let last_q = params.batch * params.height * params.width - 1u;
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
    let out_px = params.out_h * params.out_w;

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
            let s0 = source(px0, kh, kw);
            let s1 = source(px1, kh, kw);
            let s2 = source(px2, kh, kw);
            let s3 = source(px3, kh, kw);
            let s4 = source(px4, kh, kw);
            let s5 = source(px5, kh, kw);
            let s6 = source(px6, kh, kw);
            let s7 = source(px7, kh, kw);
            let s8 = source(px8, kh, kw);
            let s9 = source(px9, kh, kw);
            let s10 = source(px10, kh, kw);
            let s11 = source(px11, kh, kw);
            let s12 = source(px12, kh, kw);
            let s13 = source(px13, kh, kw);
            let s14 = source(px14, kh, kw);
            let s15 = source(px15, kh, kw);
            var i0 = s0.x;
            var i1 = s1.x;
            var i2 = s2.x;
            var i3 = s3.x;
            var i4 = s4.x;
            var i5 = s5.x;
            var i6 = s6.x;
            var i7 = s7.x;
            var i8 = s8.x;
            var i9 = s9.x;
            var i10 = s10.x;
            var i11 = s11.x;
            var i12 = s12.x;
            var i13 = s13.x;
            var i14 = s14.x;
            var i15 = s15.x;
            let m0 = f32(s0.y);
            let m1 = f32(s1.y);
            let m2 = f32(s2.y);
            let m3 = f32(s3.y);
            let m4 = f32(s4.y);
            let m5 = f32(s5.y);
            let m6 = f32(s6.y);
            let m7 = f32(s7.y);
            let m8 = f32(s8.y);
            let m9 = f32(s9.y);
            let m10 = f32(s10.y);
            let m11 = f32(s11.y);
            let m12 = f32(s12.y);
            let m13 = f32(s13.y);
            let m14 = f32(s14.y);
            let m15 = f32(s15.y);
            var wi = kh * params.kernel + kw;
            for (var oc = 0u; oc < params.out_ch; oc++) {
                let wlo = vec4<f32>(w[w0 + wi], w[w1 + wi], w[w2 + wi], w[w3 + wi]);
                let whi = vec4<f32>(w[w4 + wi], w[w5 + wi], w[w6 + wi], w[w7 + wi]);
                let g0 = dy[i0] * m0;
                let g1 = dy[i1] * m1;
                let g2 = dy[i2] * m2;
                let g3 = dy[i3] * m3;
                let g4 = dy[i4] * m4;
                let g5 = dy[i5] * m5;
                let g6 = dy[i6] * m6;
                let g7 = dy[i7] * m7;
                let g8 = dy[i8] * m8;
                let g9 = dy[i9] * m9;
                let g10 = dy[i10] * m10;
                let g11 = dy[i11] * m11;
                let g12 = dy[i12] * m12;
                let g13 = dy[i13] * m13;
                let g14 = dy[i14] * m14;
                let g15 = dy[i15] * m15;
                lo0 += wlo * g0;
                hi0 += whi * g0;
                lo1 += wlo * g1;
                hi1 += whi * g1;
                lo2 += wlo * g2;
                hi2 += whi * g2;
                lo3 += wlo * g3;
                hi3 += whi * g3;
                lo4 += wlo * g4;
                hi4 += whi * g4;
                lo5 += wlo * g5;
                hi5 += whi * g5;
                lo6 += wlo * g6;
                hi6 += whi * g6;
                lo7 += wlo * g7;
                hi7 += whi * g7;
                lo8 += wlo * g8;
                hi8 += whi * g8;
                lo9 += wlo * g9;
                hi9 += whi * g9;
                lo10 += wlo * g10;
                hi10 += whi * g10;
                lo11 += wlo * g11;
                hi11 += whi * g11;
                lo12 += wlo * g12;
                hi12 += whi * g12;
                lo13 += wlo * g13;
                hi13 += whi * g13;
                lo14 += wlo * g14;
                hi14 += whi * g14;
                lo15 += wlo * g15;
                hi15 += whi * g15;
                wi += oc_stride;
                i0 += out_px;
                i1 += out_px;
                i2 += out_px;
                i3 += out_px;
                i4 += out_px;
                i5 += out_px;
                i6 += out_px;
                i7 += out_px;
                i8 += out_px;
                i9 += out_px;
                i10 += out_px;
                i11 += out_px;
                i12 += out_px;
                i13 += out_px;
                i14 += out_px;
                i15 += out_px;
            }
        }
    }

    store(q + 0u, ic, lo0, hi0);
    store(q + 64u, ic, lo1, hi1);
    store(q + 128u, ic, lo2, hi2);
    store(q + 192u, ic, lo3, hi3);
    store(q + 256u, ic, lo4, hi4);
    store(q + 320u, ic, lo5, hi5);
    store(q + 384u, ic, lo6, hi6);
    store(q + 448u, ic, lo7, hi7);
    store(q + 512u, ic, lo8, hi8);
    store(q + 576u, ic, lo9, hi9);
    store(q + 640u, ic, lo10, hi10);
    store(q + 704u, ic, lo11, hi11);
    store(q + 768u, ic, lo12, hi12);
    store(q + 832u, ic, lo13, hi13);
    store(q + 896u, ic, lo14, hi14);
    store(q + 960u, ic, lo15, hi15);
}

// Stride 1 only: one invocation computes 8 input channels x 16 consecutive input pixels of one
// row (iw0 .. iw0 + 15). Pixel j reaches dy column iw0 + j + pad_left - kw, so walking kw from
// k - 1 down to 0 slides right: for each (kh, oc) the 16 dy cells are loaded once and one new
// cell per step, per (kh, oc) 16 + k dy loads and 8*k weight loads for 128*k multiply-adds.
// Workgroups (x, y) fold over row runs (b, ih, run), one per lane; z is the channel block.

// dy at column c of a gradient row (offset `row`, inside the output when `row_ok`), else 0.
fn cell_dy(row: u32, row_ok: bool, c: i32) -> f32 {
    let ok = row_ok && c >= 0 && c < i32(params.out_w);
    return select(0.0, 1.0, ok) * dy[row + select(0u, u32(c), ok)];
}

// Write the 8 channels of the input pixel at `base` (channel ic) when `valid`.
fn store_at(valid: bool, base: u32, ic: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if (!valid) { return; }
    let plane = params.height * params.width;
    let n = params.in_ch - ic;
    dx[base] = lo.x;
    if (n > 1u) { dx[base + 1u * plane] = lo.y; }
    if (n > 2u) { dx[base + 2u * plane] = lo.z; }
    if (n > 3u) { dx[base + 3u * plane] = lo.w; }
    if (n > 4u) { dx[base + 4u * plane] = hi.x; }
    if (n > 5u) { dx[base + 5u * plane] = hi.y; }
    if (n > 6u) { dx[base + 6u * plane] = hi.z; }
    if (n > 7u) { dx[base + 7u * plane] = hi.w; }
}

@compute @workgroup_size(64)
fn conv2d_backward_input_s1(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let kk = params.kernel * params.kernel;
    // Uniform: the channel block and the weight offsets of its 8 channels (clamped in the tail).
    let ic = wg.z * 8u;
    let last_ic = params.in_ch - 1u;
    let oc_stride = params.in_ch * kk;
    let w0 = min(ic + 0u, last_ic) * kk;
    let w1 = min(ic + 1u, last_ic) * kk;
    let w2 = min(ic + 2u, last_ic) * kk;
    let w3 = min(ic + 3u, last_ic) * kk;
    let w4 = min(ic + 4u, last_ic) * kk;
    let w5 = min(ic + 5u, last_ic) * kk;
    let w6 = min(ic + 6u, last_ic) * kk;
    let w7 = min(ic + 7u, last_ic) * kk;

    // Per lane: a run of 16 pixels of one input row (the last run clamped; stores guarded).
    let runs = (params.width + 15u) / 16u;
    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let last = params.batch * params.height * runs - 1u;
    let run = min(id, last);
    let iw0 = (run % runs) * 16u;
    let ih = (run / runs) % params.height;
    let b = run / (runs * params.height);
    let c0 = i32(iw0 + params.pad_left) - i32(params.kernel - 1u);
    let out_px = params.out_h * params.out_w;
    let img = b * params.out_ch * out_px;
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
        let r = i32(ih + params.pad_top) - i32(kh);
        let row_ok = r >= 0 && r < i32(params.out_h);
        var row = img + select(0u, u32(r) * params.out_w, row_ok);
        // Weight offset of (oc, kh, kw = k - 1).
        var wi = kh * params.kernel + params.kernel - 1u;
        for (var oc = 0u; oc < params.out_ch; oc++) {
            var g0 = cell_dy(row, row_ok, c0 + 0);
            var g1 = cell_dy(row, row_ok, c0 + 1);
            var g2 = cell_dy(row, row_ok, c0 + 2);
            var g3 = cell_dy(row, row_ok, c0 + 3);
            var g4 = cell_dy(row, row_ok, c0 + 4);
            var g5 = cell_dy(row, row_ok, c0 + 5);
            var g6 = cell_dy(row, row_ok, c0 + 6);
            var g7 = cell_dy(row, row_ok, c0 + 7);
            var g8 = cell_dy(row, row_ok, c0 + 8);
            var g9 = cell_dy(row, row_ok, c0 + 9);
            var g10 = cell_dy(row, row_ok, c0 + 10);
            var g11 = cell_dy(row, row_ok, c0 + 11);
            var g12 = cell_dy(row, row_ok, c0 + 12);
            var g13 = cell_dy(row, row_ok, c0 + 13);
            var g14 = cell_dy(row, row_ok, c0 + 14);
            var g15 = cell_dy(row, row_ok, c0 + 15);
            for (var t = 0u; t < params.kernel; t++) {
                let wlo = vec4<f32>(w[w0 + wi - t], w[w1 + wi - t], w[w2 + wi - t], w[w3 + wi - t]);
                let whi = vec4<f32>(w[w4 + wi - t], w[w5 + wi - t], w[w6 + wi - t], w[w7 + wi - t]);
                lo0 += wlo * g0;
                hi0 += whi * g0;
                lo1 += wlo * g1;
                hi1 += whi * g1;
                lo2 += wlo * g2;
                hi2 += whi * g2;
                lo3 += wlo * g3;
                hi3 += whi * g3;
                lo4 += wlo * g4;
                hi4 += whi * g4;
                lo5 += wlo * g5;
                hi5 += whi * g5;
                lo6 += wlo * g6;
                hi6 += whi * g6;
                lo7 += wlo * g7;
                hi7 += whi * g7;
                lo8 += wlo * g8;
                hi8 += whi * g8;
                lo9 += wlo * g9;
                hi9 += whi * g9;
                lo10 += wlo * g10;
                hi10 += whi * g10;
                lo11 += wlo * g11;
                hi11 += whi * g11;
                lo12 += wlo * g12;
                hi12 += whi * g12;
                lo13 += wlo * g13;
                hi13 += whi * g13;
                lo14 += wlo * g14;
                hi14 += whi * g14;
                lo15 += wlo * g15;
                hi15 += whi * g15;
                // Slide one cell right.
                g0 = g1;
                g1 = g2;
                g2 = g3;
                g3 = g4;
                g4 = g5;
                g5 = g6;
                g6 = g7;
                g7 = g8;
                g8 = g9;
                g9 = g10;
                g10 = g11;
                g11 = g12;
                g12 = g13;
                g13 = g14;
                g14 = g15;
                g15 = cell_dy(row, row_ok, c0 + 16 + i32(t));
            }
            row += out_px;
            wi += oc_stride;
        }
    }

    let base = ((b * params.in_ch + ic) * params.height + ih) * params.width + iw0;
    store_at(id <= last && iw0 + 0u < params.width, base + 0u, ic, lo0, hi0);
    store_at(id <= last && iw0 + 1u < params.width, base + 1u, ic, lo1, hi1);
    store_at(id <= last && iw0 + 2u < params.width, base + 2u, ic, lo2, hi2);
    store_at(id <= last && iw0 + 3u < params.width, base + 3u, ic, lo3, hi3);
    store_at(id <= last && iw0 + 4u < params.width, base + 4u, ic, lo4, hi4);
    store_at(id <= last && iw0 + 5u < params.width, base + 5u, ic, lo5, hi5);
    store_at(id <= last && iw0 + 6u < params.width, base + 6u, ic, lo6, hi6);
    store_at(id <= last && iw0 + 7u < params.width, base + 7u, ic, lo7, hi7);
    store_at(id <= last && iw0 + 8u < params.width, base + 8u, ic, lo8, hi8);
    store_at(id <= last && iw0 + 9u < params.width, base + 9u, ic, lo9, hi9);
    store_at(id <= last && iw0 + 10u < params.width, base + 10u, ic, lo10, hi10);
    store_at(id <= last && iw0 + 11u < params.width, base + 11u, ic, lo11, hi11);
    store_at(id <= last && iw0 + 12u < params.width, base + 12u, ic, lo12, hi12);
    store_at(id <= last && iw0 + 13u < params.width, base + 13u, ic, lo13, hi13);
    store_at(id <= last && iw0 + 14u < params.width, base + 14u, ic, lo14, hi14);
    store_at(id <= last && iw0 + 15u < params.width, base + 15u, ic, lo15, hi15);
}

// Stride 1, one input channel (workgroup z) per invocation: 32 consecutive pixels of one row,
// sliding along kw as above; per (kh, oc) 32 + k cell loads and k weight loads for 32*k
// multiply-adds. Used when there are at most 2 input channels.
@compute @workgroup_size(64)
fn conv2d_backward_input_s1_c1(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let kk = params.kernel * params.kernel;
    let ic = wg.z;
    let oc_stride = params.in_ch * kk;
    let runs = (params.width + 31u) / 32u;
    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let last = params.batch * params.height * runs - 1u;
    let run = min(id, last);
    let iw0 = (run % runs) * 32u;
    let ih = (run / runs) % params.height;
    let b = run / (runs * params.height);
    let c0 = i32(iw0 + params.pad_left) - i32(params.kernel - 1u);
    let out_px = params.out_h * params.out_w;
    let img = b * params.out_ch * out_px;
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
        let r = i32(ih + params.pad_top) - i32(kh);
        let row_ok = r >= 0 && r < i32(params.out_h);
        var row = img + select(0u, u32(r) * params.out_w, row_ok);
        // Weight index of (oc, ic, kh, kw = k - 1).
        var wi = ic * kk + kh * params.kernel + params.kernel - 1u;
        for (var oc = 0u; oc < params.out_ch; oc++) {
            var g0 = cell_dy(row, row_ok, c0 + 0);
            var g1 = cell_dy(row, row_ok, c0 + 1);
            var g2 = cell_dy(row, row_ok, c0 + 2);
            var g3 = cell_dy(row, row_ok, c0 + 3);
            var g4 = cell_dy(row, row_ok, c0 + 4);
            var g5 = cell_dy(row, row_ok, c0 + 5);
            var g6 = cell_dy(row, row_ok, c0 + 6);
            var g7 = cell_dy(row, row_ok, c0 + 7);
            var g8 = cell_dy(row, row_ok, c0 + 8);
            var g9 = cell_dy(row, row_ok, c0 + 9);
            var g10 = cell_dy(row, row_ok, c0 + 10);
            var g11 = cell_dy(row, row_ok, c0 + 11);
            var g12 = cell_dy(row, row_ok, c0 + 12);
            var g13 = cell_dy(row, row_ok, c0 + 13);
            var g14 = cell_dy(row, row_ok, c0 + 14);
            var g15 = cell_dy(row, row_ok, c0 + 15);
            var g16 = cell_dy(row, row_ok, c0 + 16);
            var g17 = cell_dy(row, row_ok, c0 + 17);
            var g18 = cell_dy(row, row_ok, c0 + 18);
            var g19 = cell_dy(row, row_ok, c0 + 19);
            var g20 = cell_dy(row, row_ok, c0 + 20);
            var g21 = cell_dy(row, row_ok, c0 + 21);
            var g22 = cell_dy(row, row_ok, c0 + 22);
            var g23 = cell_dy(row, row_ok, c0 + 23);
            var g24 = cell_dy(row, row_ok, c0 + 24);
            var g25 = cell_dy(row, row_ok, c0 + 25);
            var g26 = cell_dy(row, row_ok, c0 + 26);
            var g27 = cell_dy(row, row_ok, c0 + 27);
            var g28 = cell_dy(row, row_ok, c0 + 28);
            var g29 = cell_dy(row, row_ok, c0 + 29);
            var g30 = cell_dy(row, row_ok, c0 + 30);
            var g31 = cell_dy(row, row_ok, c0 + 31);
            for (var t = 0u; t < params.kernel; t++) {
                let wv = w[wi - t];
                a0 += wv * g0;
                a1 += wv * g1;
                a2 += wv * g2;
                a3 += wv * g3;
                a4 += wv * g4;
                a5 += wv * g5;
                a6 += wv * g6;
                a7 += wv * g7;
                a8 += wv * g8;
                a9 += wv * g9;
                a10 += wv * g10;
                a11 += wv * g11;
                a12 += wv * g12;
                a13 += wv * g13;
                a14 += wv * g14;
                a15 += wv * g15;
                a16 += wv * g16;
                a17 += wv * g17;
                a18 += wv * g18;
                a19 += wv * g19;
                a20 += wv * g20;
                a21 += wv * g21;
                a22 += wv * g22;
                a23 += wv * g23;
                a24 += wv * g24;
                a25 += wv * g25;
                a26 += wv * g26;
                a27 += wv * g27;
                a28 += wv * g28;
                a29 += wv * g29;
                a30 += wv * g30;
                a31 += wv * g31;
                // Slide one cell right.
                g0 = g1;
                g1 = g2;
                g2 = g3;
                g3 = g4;
                g4 = g5;
                g5 = g6;
                g6 = g7;
                g7 = g8;
                g8 = g9;
                g9 = g10;
                g10 = g11;
                g11 = g12;
                g12 = g13;
                g13 = g14;
                g14 = g15;
                g15 = g16;
                g16 = g17;
                g17 = g18;
                g18 = g19;
                g19 = g20;
                g20 = g21;
                g21 = g22;
                g22 = g23;
                g23 = g24;
                g24 = g25;
                g25 = g26;
                g26 = g27;
                g27 = g28;
                g28 = g29;
                g29 = g30;
                g30 = g31;
                g31 = cell_dy(row, row_ok, c0 + 32 + i32(t));
            }
            row += out_px;
            wi += oc_stride;
        }
    }

    let base = ((b * params.in_ch + ic) * params.height + ih) * params.width + iw0;
    if (id > last) { return; }
    if (iw0 + 0u < params.width) { dx[base + 0u] = a0; }
    if (iw0 + 1u < params.width) { dx[base + 1u] = a1; }
    if (iw0 + 2u < params.width) { dx[base + 2u] = a2; }
    if (iw0 + 3u < params.width) { dx[base + 3u] = a3; }
    if (iw0 + 4u < params.width) { dx[base + 4u] = a4; }
    if (iw0 + 5u < params.width) { dx[base + 5u] = a5; }
    if (iw0 + 6u < params.width) { dx[base + 6u] = a6; }
    if (iw0 + 7u < params.width) { dx[base + 7u] = a7; }
    if (iw0 + 8u < params.width) { dx[base + 8u] = a8; }
    if (iw0 + 9u < params.width) { dx[base + 9u] = a9; }
    if (iw0 + 10u < params.width) { dx[base + 10u] = a10; }
    if (iw0 + 11u < params.width) { dx[base + 11u] = a11; }
    if (iw0 + 12u < params.width) { dx[base + 12u] = a12; }
    if (iw0 + 13u < params.width) { dx[base + 13u] = a13; }
    if (iw0 + 14u < params.width) { dx[base + 14u] = a14; }
    if (iw0 + 15u < params.width) { dx[base + 15u] = a15; }
    if (iw0 + 16u < params.width) { dx[base + 16u] = a16; }
    if (iw0 + 17u < params.width) { dx[base + 17u] = a17; }
    if (iw0 + 18u < params.width) { dx[base + 18u] = a18; }
    if (iw0 + 19u < params.width) { dx[base + 19u] = a19; }
    if (iw0 + 20u < params.width) { dx[base + 20u] = a20; }
    if (iw0 + 21u < params.width) { dx[base + 21u] = a21; }
    if (iw0 + 22u < params.width) { dx[base + 22u] = a22; }
    if (iw0 + 23u < params.width) { dx[base + 23u] = a23; }
    if (iw0 + 24u < params.width) { dx[base + 24u] = a24; }
    if (iw0 + 25u < params.width) { dx[base + 25u] = a25; }
    if (iw0 + 26u < params.width) { dx[base + 26u] = a26; }
    if (iw0 + 27u < params.width) { dx[base + 27u] = a27; }
    if (iw0 + 28u < params.width) { dx[base + 28u] = a28; }
    if (iw0 + 29u < params.width) { dx[base + 29u] = a29; }
    if (iw0 + 30u < params.width) { dx[base + 30u] = a30; }
    if (iw0 + 31u < params.width) { dx[base + 31u] = a31; }
}
