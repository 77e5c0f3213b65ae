// 2-D convolution, gradient with respect to the weights (written, not accumulated), in two passes:
//   partial[c, oc, ic, kh, kw] = sum over images b of batch chunk c, and output pixels (oh, ow), of
//       dy[b, oc, oh, ow] * x[b, ic, oh*stride - pad_top + kh, ow*stride - pad_left + kw]
//   dw[oc, ic, kh, kw] = sum_c partial[c, oc, ic, kh, kw]
//   (padding taps read 0). Chunk c holds images [c * batch_per_chunk, (c + 1) * batch_per_chunk).
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 x (read), 2 dy (read),
//   3 partial (read_write, chunks * weight_len), 4 dw (write).
// Every entry point touches every binding (`_ = ...`): wgpu's automatic layouts drop unused ones.
// conv2d_backward_weight: one invocation computes a register block of 4 output channels x 4
//   weight columns (column j = ic*k*k + kh*k + kw, the flat [ic, kh, kw] index) for one chunk:
//   four vec4 accumulators, one per column, each holding the 4 channels. Loops: images, output
//   rows (row masks of the 4 columns), output columns (4 + 4 loads, 16 multiply-adds).
// conv2d_backward_weight_reduce: one invocation sums one dw element over the chunks.
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

// Write the 4 channels of one column's accumulator to the chunk's partial sums.
fn store(chunk_base: u32, oc: u32, j: u32, cols: u32, v: vec4<f32>) {
    if (j >= cols) { return; }
    let base = chunk_base + oc * cols + j;
    partial[base] = v.x;
    if (oc + 1u < params.out_ch) { partial[base + cols] = v.y; }
    if (oc + 2u < params.out_ch) { partial[base + 2u * cols] = v.z; }
    if (oc + 3u < params.out_ch) { partial[base + 3u * cols] = v.w; }
}

@compute @workgroup_size(64)
fn conv2d_backward_weight(@builtin(workgroup_id) wg: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lid: u32) {
    _ = dw[0];
    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let kk = params.kernel * params.kernel;
    let cols = params.in_ch * kk;
    let col_blocks = (cols + 3u) / 4u;
    let oc_blocks = (params.out_ch + 3u) / 4u;
    if (id >= col_blocks * oc_blocks * params.chunks) { return; }
    let jb = id % col_blocks;
    let ob = (id / col_blocks) % oc_blocks;
    let c = id / (col_blocks * oc_blocks);

    // The block: columns j0..j3 and output channels oc0..oc3 (clamped in the tail).
    let j = jb * 4u;
    let last_j = cols - 1u;
    let c0 = column(j);
    let c1 = column(min(j + 1u, last_j));
    let c2 = column(min(j + 2u, last_j));
    let c3 = column(min(j + 3u, last_j));
    let oc = ob * 4u;
    let last_oc = params.out_ch - 1u;
    let out_px = params.out_h * params.out_w;
    let d1 = (min(oc + 1u, last_oc) - oc) * out_px;
    let d2 = (min(oc + 2u, last_oc) - oc) * out_px;
    let d3 = (min(oc + 3u, last_oc) - oc) * out_px;
    let hw = params.height * params.width;
    let st = i32(params.stride);

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    let b_end = min((c + 1u) * params.batch_per_chunk, params.batch);
    for (var b = c * params.batch_per_chunk; b < b_end; b++) {
        let x_img = b * params.in_ch * hw;
        let x0 = x_img + u32(c0.x) * hw;
        let x1 = x_img + u32(c1.x) * hw;
        let x2 = x_img + u32(c2.x) * hw;
        let x3 = x_img + u32(c3.x) * hw;
        var di = (b * params.out_ch + oc) * out_px;
        for (var oh = 0; oh < i32(params.out_h); oh++) {
            let r0 = row(oh * st + c0.y);
            let r1 = row(oh * st + c1.y);
            let r2 = row(oh * st + c2.y);
            let r3 = row(oh * st + c3.y);
            let b0 = x0 + r0.x;
            let b1 = x1 + r1.x;
            let b2 = x2 + r2.x;
            let b3 = x3 + r3.x;
            for (var ow = 0; ow < i32(params.out_w); ow++) {
                let dv = vec4<f32>(dy[di], dy[di + d1], dy[di + d2], dy[di + d3]);
                let col = ow * st;
                acc0 += dv * tap_value(b0, r0.y, col + c0.z);
                acc1 += dv * tap_value(b1, r1.y, col + c1.z);
                acc2 += dv * tap_value(b2, r2.y, col + c2.z);
                acc3 += dv * tap_value(b3, r3.y, col + c3.z);
                di += 1u;
            }
        }
    }

    let chunk_base = c * params.out_ch * cols;
    store(chunk_base, oc, j, cols, acc0);
    store(chunk_base, oc, j + 1u, cols, acc1);
    store(chunk_base, oc, j + 2u, cols, acc2);
    store(chunk_base, oc, j + 3u, cols, acc3);
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
