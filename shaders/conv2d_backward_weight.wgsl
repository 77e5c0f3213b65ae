// 2-D convolution, gradient with respect to the weights (written, not accumulated), in two passes:
//   partial[c, oc, ic, kh, kw] = sum over images b of batch chunk c, and output pixels (oh, ow), of
//       dy[b, oc, oh, ow] * x[b, ic, oh*stride - pad_top + kh, ow*stride - pad_left + kw]
//   dw[oc, ic, kh, kw] = sum_c partial[c, oc, ic, kh, kw]
//   (padding taps read 0). Chunk c holds images [c * batch_per_chunk, (c + 1) * batch_per_chunk).
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 x (read), 2 dy (read),
//   3 partial (read_write, chunks * weight_len), 4 dw (write).
// Every entry point touches every binding (`_ = ...`): wgpu's automatic layouts drop unused ones.
// conv2d_backward_weight: workgroups (x, y) fold over (column block, chunk) pairs, one per lane;
//   workgroup z is the block of 8 output channels, so dy offsets are uniform. One invocation
//   computes a register block of 8 output channels x 8 weight columns (column j = ic*k*k +
//   kh*k + kw, the flat [ic, kh, kw] index) for one chunk: 16 named vec4 accumulators (lo/hi
//   channel halves per column). Loops: images, output rows (row masks of the columns), output
//   columns (8 + 8 loads, 64 multiply-adds). Tail channels and columns are clamped and
//   not stored.
// conv2d_backward_weight_reduce: one invocation sums one dw element over the chunks.
// The first pass has three variants (the launcher picks one; each is described where it starts):
//   conv2d_backward_weight (any stride and kernel, as described above), conv2d_backward_weight_s1k3
//   (stride 1, 3x3) and conv2d_backward_weight_s1k3_c1 (stride 1, 3x3, at most 2 output channels).
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
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;

const GROUP: u32 = 64u;

// Column j as (input channel, signed row offset kh - pad_top, signed column offset kw - pad_left).
fn column(j: u32) -> vec3<i32> {
    let kk = params.kernel * params.kernel;
    let tap = j % kk;
    return vec3<i32>(i32(j / kk), i32(tap / params.kernel) - i32(params.pad_top),
                     i32(tap % params.kernel) - i32(params.pad_left));
}

// Input plane offset of row r, and whether the row is inside the image.
fn row(r: i32) -> vec2<u32> {
    let ok = r >= 0 && r < i32(params.height);
    return vec2<u32>(select(0u, u32(r) * params.width, ok), select(0u, 1u, ok));
}

// x at column c of a row (offset `base`, validity `row_ok`), or 0 in the padding.
fn tap_value(base: u32, row_ok: u32, c: i32) -> f32 {
    let ok = row_ok == 1u && c >= 0 && c < i32(params.width);
    return select(0.0, 1.0, ok) * x[base + select(0u, u32(c), ok)];
}

// Write the 8 channels of one column's accumulators to the chunk's partial sums.
fn store(chunk_base: u32, oc: u32, j: u32, cols: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if (j >= cols) { return; }
    let base = chunk_base + oc * cols + j;
    let n = params.out_ch - oc;
    partial[base] = lo.x;
    if (n > 1u) { partial[base + 1u * cols] = lo.y; }
    if (n > 2u) { partial[base + 2u * cols] = lo.z; }
    if (n > 3u) { partial[base + 3u * cols] = lo.w; }
    if (n > 4u) { partial[base + 4u * cols] = hi.x; }
    if (n > 5u) { partial[base + 5u * cols] = hi.y; }
    if (n > 6u) { partial[base + 6u * cols] = hi.z; }
    if (n > 7u) { partial[base + 7u * cols] = hi.w; }
}

@compute @workgroup_size(64)
fn conv2d_backward_weight(@builtin(workgroup_id) wg: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lid: u32) {
    _ = dw[0];
    // Uniform: the channel block and the dy plane offsets of its channels (clamped in the tail).
    let oc = wg.z * 8u;
    let last_oc = params.out_ch - 1u;
    let out_px = params.out_h * params.out_w;
    let d1 = (min(oc + 1u, last_oc) - oc) * out_px;
    let d2 = (min(oc + 2u, last_oc) - oc) * out_px;
    let d3 = (min(oc + 3u, last_oc) - oc) * out_px;
    let d4 = (min(oc + 4u, last_oc) - oc) * out_px;
    let d5 = (min(oc + 5u, last_oc) - oc) * out_px;
    let d6 = (min(oc + 6u, last_oc) - oc) * out_px;
    let d7 = (min(oc + 7u, last_oc) - oc) * out_px;

    // Per lane: a block of 8 columns (clamped in the tail) and a chunk of the batch.
    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let kk = params.kernel * params.kernel;
    let cols = params.in_ch * kk;
    let col_blocks = (cols + 7u) / 8u;
    if (id >= col_blocks * params.chunks) { return; }
    let j = (id % col_blocks) * 8u;
    let c = id / col_blocks;
    let last_j = cols - 1u;
    let c0 = column(min(j + 0u, last_j));
    let c1 = column(min(j + 1u, last_j));
    let c2 = column(min(j + 2u, last_j));
    let c3 = column(min(j + 3u, last_j));
    let c4 = column(min(j + 4u, last_j));
    let c5 = column(min(j + 5u, last_j));
    let c6 = column(min(j + 6u, last_j));
    let c7 = column(min(j + 7u, last_j));
    let hw = params.height * params.width;
    let st = i32(params.stride);

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
    let b_end = min((c + 1u) * params.batch_per_chunk, params.batch);
    for (var b = c * params.batch_per_chunk; b < b_end; b++) {
        let x_img = b * params.in_ch * hw;
        let x0 = x_img + u32(c0.x) * hw;
        let x1 = x_img + u32(c1.x) * hw;
        let x2 = x_img + u32(c2.x) * hw;
        let x3 = x_img + u32(c3.x) * hw;
        let x4 = x_img + u32(c4.x) * hw;
        let x5 = x_img + u32(c5.x) * hw;
        let x6 = x_img + u32(c6.x) * hw;
        let x7 = x_img + u32(c7.x) * hw;
        var di = (b * params.out_ch + oc) * out_px;
        for (var oh = 0; oh < i32(params.out_h); oh++) {
            let r0 = row(oh * st + c0.y);
            let r1 = row(oh * st + c1.y);
            let r2 = row(oh * st + c2.y);
            let r3 = row(oh * st + c3.y);
            let r4 = row(oh * st + c4.y);
            let r5 = row(oh * st + c5.y);
            let r6 = row(oh * st + c6.y);
            let r7 = row(oh * st + c7.y);
            let b0 = x0 + r0.x;
            let b1 = x1 + r1.x;
            let b2 = x2 + r2.x;
            let b3 = x3 + r3.x;
            let b4 = x4 + r4.x;
            let b5 = x5 + r5.x;
            let b6 = x6 + r6.x;
            let b7 = x7 + r7.x;
            for (var ow = 0; ow < i32(params.out_w); ow++) {
                let dlo = vec4<f32>(dy[di], dy[di + d1], dy[di + d2], dy[di + d3]);
                let dhi = vec4<f32>(dy[di + d4], dy[di + d5], dy[di + d6], dy[di + d7]);
                let col = ow * st;
                let v0 = tap_value(b0, r0.y, col + c0.z);
                let v1 = tap_value(b1, r1.y, col + c1.z);
                let v2 = tap_value(b2, r2.y, col + c2.z);
                let v3 = tap_value(b3, r3.y, col + c3.z);
                let v4 = tap_value(b4, r4.y, col + c4.z);
                let v5 = tap_value(b5, r5.y, col + c5.z);
                let v6 = tap_value(b6, r6.y, col + c6.z);
                let v7 = tap_value(b7, r7.y, col + c7.z);
                lo0 += dlo * v0;
                hi0 += dhi * v0;
                lo1 += dlo * v1;
                hi1 += dhi * v1;
                lo2 += dlo * v2;
                hi2 += dhi * v2;
                lo3 += dlo * v3;
                hi3 += dhi * v3;
                lo4 += dlo * v4;
                hi4 += dhi * v4;
                lo5 += dlo * v5;
                hi5 += dhi * v5;
                lo6 += dlo * v6;
                hi6 += dhi * v6;
                lo7 += dlo * v7;
                hi7 += dhi * v7;
                di += 1u;
            }
        }
    }

    let chunk_base = c * params.out_ch * cols;
    store(chunk_base, oc, j + 0u, cols, lo0, hi0);
    store(chunk_base, oc, j + 1u, cols, lo1, hi1);
    store(chunk_base, oc, j + 2u, cols, lo2, hi2);
    store(chunk_base, oc, j + 3u, cols, lo3, hi3);
    store(chunk_base, oc, j + 4u, cols, lo4, hi4);
    store(chunk_base, oc, j + 5u, cols, lo5, hi5);
    store(chunk_base, oc, j + 6u, cols, lo6, hi6);
    store(chunk_base, oc, j + 7u, cols, lo7, hi7);
}

@compute @workgroup_size(64)
fn conv2d_backward_weight_reduce(@builtin(workgroup_id) wg: vec3<u32>,
                                 @builtin(num_workgroups) nwg: vec3<u32>,
                                 @builtin(local_invocation_index) lid: u32) {
    _ = x[0];
    _ = dy[0];
    let i = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let len = params.out_ch * params.in_ch * params.kernel * params.kernel;
    if (i >= len) { return; }
    var sum = 0.0;
    for (var c = 0u; c < params.chunks; c++) {
        sum += partial[c * len + i];
    }
    dw[i] = sum;
}

// Stride 1 and 3x3 kernels only (the autoencoder's layers): one invocation computes 8 output
// channels x 4 input channels x the 3 taps kw of one kernel row kh, for one chunk (24
// named vec4 accumulators). Walking an output row, tap kw of output column ow reads input column
// ow - pad_left + kw, which tap kw - 1 reads at ow + 1: a window of 3 cells per input channel
// slides right with one new load, so per output pixel 8 dy loads + 4 x loads feed
// 96 multiply-adds. Workgroups (x, y) fold over (input-channel block, kh, chunk), one
// per lane; z is the output-channel block.

// x at column c of an input row (offset `row`, inside the image when `row_ok`), 0 in the padding.
fn cell_x(row: u32, row_ok: bool, c: i32) -> f32 {
    let ok = row_ok && c >= 0 && c < i32(params.width);
    return select(0.0, 1.0, ok) * x[row + select(0u, u32(c), ok)];
}

// Write the 8 channels of weight (ic, kh, kw) to the chunk's partial sums, skipping tails.
fn store_k3(chunk_base: u32, oc: u32, ic: u32, kh: u32, kw: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if (ic >= params.in_ch) { return; }
    let cols = params.in_ch * 9u;
    let base = chunk_base + oc * cols + ic * 9u + kh * 3u + kw;
    let n = params.out_ch - oc;
    partial[base] = lo.x;
    if (n > 1u) { partial[base + 1u * cols] = lo.y; }
    if (n > 2u) { partial[base + 2u * cols] = lo.z; }
    if (n > 3u) { partial[base + 3u * cols] = lo.w; }
    if (n > 4u) { partial[base + 4u * cols] = hi.x; }
    if (n > 5u) { partial[base + 5u * cols] = hi.y; }
    if (n > 6u) { partial[base + 6u * cols] = hi.z; }
    if (n > 7u) { partial[base + 7u * cols] = hi.w; }
}

@compute @workgroup_size(64)
fn conv2d_backward_weight_s1k3(@builtin(workgroup_id) wg: vec3<u32>,
                               @builtin(num_workgroups) nwg: vec3<u32>,
                               @builtin(local_invocation_index) lid: u32) {
    _ = dw[0];
    // Uniform: the channel block and the dy plane offsets of its channels (clamped in the tail).
    let oc = wg.z * 8u;
    let last_oc = params.out_ch - 1u;
    let out_px = params.out_h * params.out_w;
    let d1 = (min(oc + 1u, last_oc) - oc) * out_px;
    let d2 = (min(oc + 2u, last_oc) - oc) * out_px;
    let d3 = (min(oc + 3u, last_oc) - oc) * out_px;
    let d4 = (min(oc + 4u, last_oc) - oc) * out_px;
    let d5 = (min(oc + 5u, last_oc) - oc) * out_px;
    let d6 = (min(oc + 6u, last_oc) - oc) * out_px;
    let d7 = (min(oc + 7u, last_oc) - oc) * out_px;

    // Per lane: 4 input channels (clamped in the tail), one kernel row, one chunk.
    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let ic_blocks = (params.in_ch + 3u) / 4u;
    if (id >= ic_blocks * 3u * params.chunks) { return; }
    let ic = (id % ic_blocks) * 4u;
    let kh = (id / ic_blocks) % 3u;
    let c = id / (ic_blocks * 3u);
    let last_ic = params.in_ch - 1u;
    let hw = params.height * params.width;
    let pl = i32(params.pad_left);

    var lo00 = vec4<f32>(0.0);
    var hi00 = vec4<f32>(0.0);
    var lo01 = vec4<f32>(0.0);
    var hi01 = vec4<f32>(0.0);
    var lo02 = vec4<f32>(0.0);
    var hi02 = vec4<f32>(0.0);
    var lo10 = vec4<f32>(0.0);
    var hi10 = vec4<f32>(0.0);
    var lo11 = vec4<f32>(0.0);
    var hi11 = vec4<f32>(0.0);
    var lo12 = vec4<f32>(0.0);
    var hi12 = vec4<f32>(0.0);
    var lo20 = vec4<f32>(0.0);
    var hi20 = vec4<f32>(0.0);
    var lo21 = vec4<f32>(0.0);
    var hi21 = vec4<f32>(0.0);
    var lo22 = vec4<f32>(0.0);
    var hi22 = vec4<f32>(0.0);
    var lo30 = vec4<f32>(0.0);
    var hi30 = vec4<f32>(0.0);
    var lo31 = vec4<f32>(0.0);
    var hi31 = vec4<f32>(0.0);
    var lo32 = vec4<f32>(0.0);
    var hi32 = vec4<f32>(0.0);
    let b_end = min((c + 1u) * params.batch_per_chunk, params.batch);
    for (var b = c * params.batch_per_chunk; b < b_end; b++) {
        let plane0 = (b * params.in_ch + min(ic + 0u, last_ic)) * hw;
        let plane1 = (b * params.in_ch + min(ic + 1u, last_ic)) * hw;
        let plane2 = (b * params.in_ch + min(ic + 2u, last_ic)) * hw;
        let plane3 = (b * params.in_ch + min(ic + 3u, last_ic)) * hw;
        var di = (b * params.out_ch + oc) * out_px;
        for (var oh = 0u; oh < params.out_h; oh++) {
            let r = i32(oh + kh) - i32(params.pad_top);
            let row_ok = r >= 0 && r < i32(params.height);
            let row = select(0u, u32(r) * params.width, row_ok);
            let row0 = plane0 + row;
            let row1 = plane1 + row;
            let row2 = plane2 + row;
            let row3 = plane3 + row;
            // Window (taps kw = 0, 1) at ow = 0.
            var p0 = cell_x(row0, row_ok, -pl);
            var q0 = cell_x(row0, row_ok, 1 - pl);
            var p1 = cell_x(row1, row_ok, -pl);
            var q1 = cell_x(row1, row_ok, 1 - pl);
            var p2 = cell_x(row2, row_ok, -pl);
            var q2 = cell_x(row2, row_ok, 1 - pl);
            var p3 = cell_x(row3, row_ok, -pl);
            var q3 = cell_x(row3, row_ok, 1 - pl);
            for (var ow = 0; ow < i32(params.out_w); ow++) {
                let dlo = vec4<f32>(dy[di], dy[di + d1], dy[di + d2], dy[di + d3]);
                let dhi = vec4<f32>(dy[di + d4], dy[di + d5], dy[di + d6], dy[di + d7]);
                let n0 = cell_x(row0, row_ok, ow + 2 - pl);
                let n1 = cell_x(row1, row_ok, ow + 2 - pl);
                let n2 = cell_x(row2, row_ok, ow + 2 - pl);
                let n3 = cell_x(row3, row_ok, ow + 2 - pl);
                lo00 += dlo * p0;
                hi00 += dhi * p0;
                lo01 += dlo * q0;
                hi01 += dhi * q0;
                lo02 += dlo * n0;
                hi02 += dhi * n0;
                lo10 += dlo * p1;
                hi10 += dhi * p1;
                lo11 += dlo * q1;
                hi11 += dhi * q1;
                lo12 += dlo * n1;
                hi12 += dhi * n1;
                lo20 += dlo * p2;
                hi20 += dhi * p2;
                lo21 += dlo * q2;
                hi21 += dhi * q2;
                lo22 += dlo * n2;
                hi22 += dhi * n2;
                lo30 += dlo * p3;
                hi30 += dhi * p3;
                lo31 += dlo * q3;
                hi31 += dhi * q3;
                lo32 += dlo * n3;
                hi32 += dhi * n3;
                // Slide the window one cell right.
                p0 = q0;
                q0 = n0;
                p1 = q1;
                q1 = n1;
                p2 = q2;
                q2 = n2;
                p3 = q3;
                q3 = n3;
                di += 1u;
            }
        }
    }

    let chunk_base = c * params.out_ch * params.in_ch * 9u;
    store_k3(chunk_base, oc, ic + 0u, kh, 0u, lo00, hi00);
    store_k3(chunk_base, oc, ic + 0u, kh, 1u, lo01, hi01);
    store_k3(chunk_base, oc, ic + 0u, kh, 2u, lo02, hi02);
    store_k3(chunk_base, oc, ic + 1u, kh, 0u, lo10, hi10);
    store_k3(chunk_base, oc, ic + 1u, kh, 1u, lo11, hi11);
    store_k3(chunk_base, oc, ic + 1u, kh, 2u, lo12, hi12);
    store_k3(chunk_base, oc, ic + 2u, kh, 0u, lo20, hi20);
    store_k3(chunk_base, oc, ic + 2u, kh, 1u, lo21, hi21);
    store_k3(chunk_base, oc, ic + 2u, kh, 2u, lo22, hi22);
    store_k3(chunk_base, oc, ic + 3u, kh, 0u, lo30, hi30);
    store_k3(chunk_base, oc, ic + 3u, kh, 1u, lo31, hi31);
    store_k3(chunk_base, oc, ic + 3u, kh, 2u, lo32, hi32);
}

// Stride 1, 3x3, one output channel (workgroup z) per invocation, for layers with at most 2 output
// channels: 8 input channels x 3 taps of one kernel row, sliding as above (24 named
// scalar accumulators); per output pixel 1 dy load + 8 x loads feed 24 multiply-adds.
@compute @workgroup_size(64)
fn conv2d_backward_weight_s1k3_c1(@builtin(workgroup_id) wg: vec3<u32>,
                                  @builtin(num_workgroups) nwg: vec3<u32>,
                                  @builtin(local_invocation_index) lid: u32) {
    _ = dw[0];
    let oc = wg.z;
    let out_px = params.out_h * params.out_w;
    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let ic_blocks = (params.in_ch + 7u) / 8u;
    if (id >= ic_blocks * 3u * params.chunks) { return; }
    let ic = (id % ic_blocks) * 8u;
    let kh = (id / ic_blocks) % 3u;
    let c = id / (ic_blocks * 3u);
    let last_ic = params.in_ch - 1u;
    let hw = params.height * params.width;
    let pl = i32(params.pad_left);

    var a00 = 0.0;
    var a01 = 0.0;
    var a02 = 0.0;
    var a10 = 0.0;
    var a11 = 0.0;
    var a12 = 0.0;
    var a20 = 0.0;
    var a21 = 0.0;
    var a22 = 0.0;
    var a30 = 0.0;
    var a31 = 0.0;
    var a32 = 0.0;
    var a40 = 0.0;
    var a41 = 0.0;
    var a42 = 0.0;
    var a50 = 0.0;
    var a51 = 0.0;
    var a52 = 0.0;
    var a60 = 0.0;
    var a61 = 0.0;
    var a62 = 0.0;
    var a70 = 0.0;
    var a71 = 0.0;
    var a72 = 0.0;
    let b_end = min((c + 1u) * params.batch_per_chunk, params.batch);
    for (var b = c * params.batch_per_chunk; b < b_end; b++) {
        let plane0 = (b * params.in_ch + min(ic + 0u, last_ic)) * hw;
        let plane1 = (b * params.in_ch + min(ic + 1u, last_ic)) * hw;
        let plane2 = (b * params.in_ch + min(ic + 2u, last_ic)) * hw;
        let plane3 = (b * params.in_ch + min(ic + 3u, last_ic)) * hw;
        let plane4 = (b * params.in_ch + min(ic + 4u, last_ic)) * hw;
        let plane5 = (b * params.in_ch + min(ic + 5u, last_ic)) * hw;
        let plane6 = (b * params.in_ch + min(ic + 6u, last_ic)) * hw;
        let plane7 = (b * params.in_ch + min(ic + 7u, last_ic)) * hw;
        var di = (b * params.out_ch + oc) * out_px;
        for (var oh = 0u; oh < params.out_h; oh++) {
            let r = i32(oh + kh) - i32(params.pad_top);
            let row_ok = r >= 0 && r < i32(params.height);
            let row = select(0u, u32(r) * params.width, row_ok);
            let row0 = plane0 + row;
            let row1 = plane1 + row;
            let row2 = plane2 + row;
            let row3 = plane3 + row;
            let row4 = plane4 + row;
            let row5 = plane5 + row;
            let row6 = plane6 + row;
            let row7 = plane7 + row;
            // Window (taps kw = 0, 1) at ow = 0.
            var p0 = cell_x(row0, row_ok, -pl);
            var q0 = cell_x(row0, row_ok, 1 - pl);
            var p1 = cell_x(row1, row_ok, -pl);
            var q1 = cell_x(row1, row_ok, 1 - pl);
            var p2 = cell_x(row2, row_ok, -pl);
            var q2 = cell_x(row2, row_ok, 1 - pl);
            var p3 = cell_x(row3, row_ok, -pl);
            var q3 = cell_x(row3, row_ok, 1 - pl);
            var p4 = cell_x(row4, row_ok, -pl);
            var q4 = cell_x(row4, row_ok, 1 - pl);
            var p5 = cell_x(row5, row_ok, -pl);
            var q5 = cell_x(row5, row_ok, 1 - pl);
            var p6 = cell_x(row6, row_ok, -pl);
            var q6 = cell_x(row6, row_ok, 1 - pl);
            var p7 = cell_x(row7, row_ok, -pl);
            var q7 = cell_x(row7, row_ok, 1 - pl);
            for (var ow = 0; ow < i32(params.out_w); ow++) {
                let d = dy[di];
                let n0 = cell_x(row0, row_ok, ow + 2 - pl);
                let n1 = cell_x(row1, row_ok, ow + 2 - pl);
                let n2 = cell_x(row2, row_ok, ow + 2 - pl);
                let n3 = cell_x(row3, row_ok, ow + 2 - pl);
                let n4 = cell_x(row4, row_ok, ow + 2 - pl);
                let n5 = cell_x(row5, row_ok, ow + 2 - pl);
                let n6 = cell_x(row6, row_ok, ow + 2 - pl);
                let n7 = cell_x(row7, row_ok, ow + 2 - pl);
                a00 += d * p0;
                a01 += d * q0;
                a02 += d * n0;
                a10 += d * p1;
                a11 += d * q1;
                a12 += d * n1;
                a20 += d * p2;
                a21 += d * q2;
                a22 += d * n2;
                a30 += d * p3;
                a31 += d * q3;
                a32 += d * n3;
                a40 += d * p4;
                a41 += d * q4;
                a42 += d * n4;
                a50 += d * p5;
                a51 += d * q5;
                a52 += d * n5;
                a60 += d * p6;
                a61 += d * q6;
                a62 += d * n6;
                a70 += d * p7;
                a71 += d * q7;
                a72 += d * n7;
                // Slide the window one cell right.
                p0 = q0;
                q0 = n0;
                p1 = q1;
                q1 = n1;
                p2 = q2;
                q2 = n2;
                p3 = q3;
                q3 = n3;
                p4 = q4;
                q4 = n4;
                p5 = q5;
                q5 = n5;
                p6 = q6;
                q6 = n6;
                p7 = q7;
                q7 = n7;
                di += 1u;
            }
        }
    }

    // partial[c, oc, ic + i, kh, kw], skipping tail input channels.
    let base = c * params.out_ch * params.in_ch * 9u + (oc * params.in_ch + ic) * 9u + kh * 3u;
    if (ic + 0u < params.in_ch) {
        partial[base + 0u] = a00;
        partial[base + 1u] = a01;
        partial[base + 2u] = a02;
    }
    if (ic + 1u < params.in_ch) {
        partial[base + 9u] = a10;
        partial[base + 10u] = a11;
        partial[base + 11u] = a12;
    }
    if (ic + 2u < params.in_ch) {
        partial[base + 18u] = a20;
        partial[base + 19u] = a21;
        partial[base + 20u] = a22;
    }
    if (ic + 3u < params.in_ch) {
        partial[base + 27u] = a30;
        partial[base + 28u] = a31;
        partial[base + 29u] = a32;
    }
    if (ic + 4u < params.in_ch) {
        partial[base + 36u] = a40;
        partial[base + 37u] = a41;
        partial[base + 38u] = a42;
    }
    if (ic + 5u < params.in_ch) {
        partial[base + 45u] = a50;
        partial[base + 46u] = a51;
        partial[base + 47u] = a52;
    }
    if (ic + 6u < params.in_ch) {
        partial[base + 54u] = a60;
        partial[base + 55u] = a61;
        partial[base + 56u] = a62;
    }
    if (ic + 7u < params.in_ch) {
        partial[base + 63u] = a70;
        partial[base + 64u] = a71;
        partial[base + 65u] = a72;
    }
}
