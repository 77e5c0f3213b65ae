//! The blocked weight-gradient kernels and the reduce every family's weight gradient ends with.

use super::{
    CHANNEL_BLOCK, GROUP, SINGLE_CHANNEL_MAX, WEIGHT_COLUMNS, WEIGHT_K3_IN_CHANNELS,
    WEIGHT_K3_IN_CHANNELS_SINGLE, accumulators, block_fma, block_vectors, entry_point,
    store_channels,
};
use crate::ops::conv2d::Conv2dParams;
use crate::wgsl::WgslStruct;
use crate::wgsl_line;

/// `let d{j} = (min(oc + {j}u, last_oc) - oc) * out_px;`: dy plane offsets of the block's
/// channels relative to its first, clamped in the tail.
fn dy_offsets(w: &mut String) {
    for j in 1..CHANNEL_BLOCK {
        wgsl_line!(w, "    let d{j} = (min(oc + {j}u, last_oc) - oc) * out_px;");
    }
}

/// `let dlo = ..; let dhi = ..;`: dy of the block's channels at `di`.
fn dy_block(w: &mut String, indent: &str) {
    block_vectors(w, indent, "d", |j| {
        if j == 0 {
            "dy[di]".into()
        } else {
            format!("dy[di + d{j}]")
        }
    });
}

/// The opening of a weight-gradient entry point over one-dimensional workgroups.
fn weight_entry(w: &mut String, name: &str) {
    entry_point(w, name);
    wgsl_line!(w, "    _ = dw[0];");
}

/// The opening of the sliding stride-1 3x3 kernels: the lane's block of `icb` input channels,
/// kernel row and chunk.
fn k3_lane(w: &mut String, icb: usize) {
    wgsl_line!(w, "    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;");
    wgsl_line!(
        w,
        "    let ic_blocks = (params.in_ch + {}u) / {icb}u;",
        icb - 1
    );
    wgsl_line!(
        w,
        "    if (id >= ic_blocks * 3u * params.chunks) {{ return; }}"
    );
    wgsl_line!(w, "    let ic = (id % ic_blocks) * {icb}u;");
    wgsl_line!(w, "    let kh = (id / ic_blocks) % 3u;");
    wgsl_line!(w, "    let c = id / (ic_blocks * 3u);");
    wgsl_line!(w, "    let last_ic = params.in_ch - 1u;");
    wgsl_line!(w, "    let hw = params.height * params.width;");
    wgsl_line!(w, "    let pl = i32(params.pad_left);");
    wgsl_line!(w);
}

/// The chunk's image loop and output-row loop of the 3x3 kernels, down to the window of taps
/// kw = 0, 1 at ow = 0 of each of the `icb` input channels (p, q) and the opening of the ow loop.
fn k3_walk(w: &mut String, icb: usize) {
    wgsl_line!(
        w,
        "    let b_end = min((c + 1u) * params.batch_per_chunk, params.batch);"
    );
    wgsl_line!(
        w,
        "    for (var b = c * params.batch_per_chunk; b < b_end; b++) {{"
    );
    for q in 0..icb {
        wgsl_line!(
            w,
            "        let plane{q} = (b * params.in_ch + min(ic + {q}u, last_ic)) * hw;"
        );
    }
    wgsl_line!(w, "        var di = (b * params.out_ch + oc) * out_px;");
    wgsl_line!(w, "        for (var oh = 0u; oh < params.out_h; oh++) {{");
    wgsl_line!(w, "            let r = i32(oh + kh) - i32(params.pad_top);");
    wgsl_line!(
        w,
        "            let row_ok = r >= 0 && r < i32(params.height);"
    );
    wgsl_line!(
        w,
        "            let row = select(0u, u32(r) * params.width, row_ok);"
    );
    for q in 0..icb {
        wgsl_line!(w, "            let row{q} = plane{q} + row;");
    }
    wgsl_line!(w, "            // Window (taps kw = 0, 1) at ow = 0.");
    for q in 0..icb {
        wgsl_line!(w, "            var p{q} = cell_x(row{q}, row_ok, -pl);");
        wgsl_line!(w, "            var q{q} = cell_x(row{q}, row_ok, 1 - pl);");
    }
    wgsl_line!(
        w,
        "            for (var ow = 0; ow < i32(params.out_w); ow++) {{"
    );
}

/// Loads tap kw = 2 (n) of each input channel, given after the ow loop's first lines.
fn k3_next(w: &mut String, icb: usize) {
    for q in 0..icb {
        wgsl_line!(
            w,
            "                let n{q} = cell_x(row{q}, row_ok, ow + 2 - pl);"
        );
    }
}

/// Slides each input channel's window one cell right and closes the ow, oh and image loops.
fn k3_slide(w: &mut String, icb: usize) {
    wgsl_line!(w, "                // Slide the window one cell right.");
    for q in 0..icb {
        wgsl_line!(w, "                p{q} = q{q};");
        wgsl_line!(w, "                q{q} = n{q};");
    }
    wgsl_line!(w, "                di += 1u;");
    wgsl_line!(w, "            }}");
    wgsl_line!(w, "        }}");
    wgsl_line!(w, "    }}");
    wgsl_line!(w);
}

/// The three window values of input channel `q`, taps kw = 0, 1, 2.
fn k3_taps(q: usize) -> [String; 3] {
    [format!("p{q}"), format!("q{q}"), format!("n{q}")]
}

/// The WGSL of the blocked weight-gradient kernels (entry points `conv2d_backward_weight`,
/// `conv2d_backward_weight_s1k3`, `conv2d_backward_weight_s1k3_c1`) and of
/// `conv2d_backward_weight_reduce`, which sums the partial sums of every family's kernels.
pub fn backward_weight_source() -> String {
    let (cb, cols) = (CHANNEL_BLOCK, WEIGHT_COLUMNS);
    let (icb, icb1) = (WEIGHT_K3_IN_CHANNELS, WEIGHT_K3_IN_CHANNELS_SINGLE);
    let mut w = String::new();
    wgsl_line!(
        w,
        "// 2-D convolution, gradient with respect to the weights (written, not accumulated), in two passes
// (generated by ops::conv2d::blocked::backward_weight_source):
//   partial[c, oc, ic, kh, kw] = sum over images b of batch chunk c, and output pixels (oh, ow), of
//       dy[b, oc, oh, ow] * x[b, ic, oh*stride - pad_top + kh, ow*stride - pad_left + kw]
//   dw[oc, ic, kh, kw] = sum_c partial[c, oc, ic, kh, kw]
//   (padding taps read 0). Chunk c holds images [c * batch_per_chunk, (c + 1) * batch_per_chunk).
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 x (read), 2 dy (read),
//   3 partial (read_write, chunks * weight_len), 4 dw (write).
// Every entry point touches every binding (`_ = ...`): wgpu's automatic layouts drop unused ones.
// conv2d_backward_weight: workgroups (x, y) fold over (column block, chunk) pairs, one per lane;
//   workgroup z is the block of {cb} output channels, so dy offsets are uniform. One invocation
//   computes a register block of {cb} output channels x {cols} weight columns (column j = ic*k*k +
//   kh*k + kw, the flat [ic, kh, kw] index) for one chunk: {} named vec4 accumulators (lo/hi
//   channel halves per column). Loops: images, output rows (row masks of the columns), output
//   columns ({cb} + {cols} loads, {} multiply-adds). Tail channels and columns are clamped and
//   not stored.
// conv2d_backward_weight_reduce: one invocation sums one dw element over the chunks.
// The first pass has three variants (the launcher picks one; each is described where it starts):
//   conv2d_backward_weight (any stride and kernel, as described above), conv2d_backward_weight_s1k3
//   (stride 1, 3x3) and conv2d_backward_weight_s1k3_c1 (stride 1, 3x3, at most {} output channels).
",
        2 * cols,
        cb * cols,
        SINGLE_CHANNEL_MAX
    );
    w.push_str(&Conv2dParams::declare("Params"));
    wgsl_line!(w);
    w.push_str(
        r"@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;

",
    );
    wgsl_line!(w, "const GROUP: u32 = {GROUP}u;");
    wgsl_line!(w);
    w.push_str(
        r"// Column j as (input channel, signed row offset kh - pad_top, signed column offset kw - pad_left).
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

",
    );
    wgsl_line!(
        w,
        "// Write the {cb} channels of one column's accumulators to the chunk's partial sums."
    );
    wgsl_line!(
        w,
        "fn store(chunk_base: u32, oc: u32, j: u32, cols: u32, lo: vec4<f32>, hi: vec4<f32>) {{"
    );
    wgsl_line!(w, "    if (j >= cols) {{ return; }}");
    wgsl_line!(w, "    let base = chunk_base + oc * cols + j;");
    wgsl_line!(w, "    let n = params.out_ch - oc;");
    store_channels(&mut w, "partial", "cols");
    wgsl_line!(w, "}}");
    wgsl_line!(w);

    // The general kernel: CHANNEL_BLOCK output channels x WEIGHT_COLUMNS flat columns.
    weight_entry(&mut w, "conv2d_backward_weight");
    wgsl_line!(
        w,
        "    // Uniform: the channel block and the dy plane offsets of its channels (clamped in the tail)."
    );
    wgsl_line!(w, "    let oc = wg.z * {cb}u;");
    wgsl_line!(w, "    let last_oc = params.out_ch - 1u;");
    wgsl_line!(w, "    let out_px = params.out_h * params.out_w;");
    dy_offsets(&mut w);
    wgsl_line!(w);
    wgsl_line!(
        w,
        "    // Per lane: a block of {cols} columns (clamped in the tail) and a chunk of the batch."
    );
    wgsl_line!(w, "    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;");
    wgsl_line!(w, "    let kk = params.kernel * params.kernel;");
    wgsl_line!(w, "    let cols = params.in_ch * kk;");
    wgsl_line!(w, "    let col_blocks = (cols + {}u) / {cols}u;", cols - 1);
    wgsl_line!(w, "    if (id >= col_blocks * params.chunks) {{ return; }}");
    wgsl_line!(w, "    let j = (id % col_blocks) * {cols}u;");
    wgsl_line!(w, "    let c = id / col_blocks;");
    wgsl_line!(w, "    let last_j = cols - 1u;");
    for j in 0..cols {
        wgsl_line!(w, "    let c{j} = column(min(j + {j}u, last_j));");
    }
    wgsl_line!(w, "    let hw = params.height * params.width;");
    wgsl_line!(w, "    let st = i32(params.stride);");
    wgsl_line!(w);
    accumulators(&mut w, (0..cols).map(|j| j.to_string()));
    wgsl_line!(
        w,
        "    let b_end = min((c + 1u) * params.batch_per_chunk, params.batch);"
    );
    wgsl_line!(
        w,
        "    for (var b = c * params.batch_per_chunk; b < b_end; b++) {{"
    );
    wgsl_line!(w, "        let x_img = b * params.in_ch * hw;");
    for j in 0..cols {
        wgsl_line!(w, "        let x{j} = x_img + u32(c{j}.x) * hw;");
    }
    wgsl_line!(w, "        var di = (b * params.out_ch + oc) * out_px;");
    wgsl_line!(
        w,
        "        for (var oh = 0; oh < i32(params.out_h); oh++) {{"
    );
    for j in 0..cols {
        wgsl_line!(w, "            let r{j} = row(oh * st + c{j}.y);");
    }
    for j in 0..cols {
        wgsl_line!(w, "            let b{j} = x{j} + r{j}.x;");
    }
    wgsl_line!(
        w,
        "            for (var ow = 0; ow < i32(params.out_w); ow++) {{"
    );
    let ind = "                ";
    dy_block(&mut w, ind);
    wgsl_line!(w, "{ind}let col = ow * st;");
    for j in 0..cols {
        wgsl_line!(w, "{ind}let v{j} = tap_value(b{j}, r{j}.y, col + c{j}.z);");
    }
    for j in 0..cols {
        block_fma(&mut w, ind, j, "d", &format!("v{j}"));
    }
    wgsl_line!(w, "{ind}di += 1u;");
    wgsl_line!(w, "            }}");
    wgsl_line!(w, "        }}");
    wgsl_line!(w, "    }}");
    wgsl_line!(w);
    wgsl_line!(w, "    let chunk_base = c * params.out_ch * cols;");
    for j in 0..cols {
        wgsl_line!(
            w,
            "    store(chunk_base, oc, j + {j}u, cols, lo{j}, hi{j});"
        );
    }
    wgsl_line!(w, "}}");
    wgsl_line!(w);

    entry_point(&mut w, "conv2d_backward_weight_reduce");
    w.push_str(
        r"    _ = x[0];
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

",
    );

    // Stride 1, 3x3: CHANNEL_BLOCK output channels x WEIGHT_K3_IN_CHANNELS input channels x the
    // 3 taps of one kernel row.
    wgsl_line!(
        w,
        "// Stride 1 and 3x3 kernels only (the autoencoder's layers): one invocation computes {cb} output
// channels x {icb} input channels x the 3 taps kw of one kernel row kh, for one chunk ({}
// named vec4 accumulators). Walking an output row, tap kw of output column ow reads input column
// ow - pad_left + kw, which tap kw - 1 reads at ow + 1: a window of 3 cells per input channel
// slides right with one new load, so per output pixel {cb} dy loads + {icb} x loads feed
// {} multiply-adds. Workgroups (x, y) fold over (input-channel block, kh, chunk), one
// per lane; z is the output-channel block.
",
        icb * 3 * 2,
        cb * icb * 3
    );
    w.push_str(
        r"// x at column c of an input row (offset `row`, inside the image when `row_ok`), 0 in the padding.
fn cell_x(row: u32, row_ok: bool, c: i32) -> f32 {
    let ok = row_ok && c >= 0 && c < i32(params.width);
    return select(0.0, 1.0, ok) * x[row + select(0u, u32(c), ok)];
}

",
    );
    wgsl_line!(
        w,
        "// Write the {cb} channels of weight (ic, kh, kw) to the chunk's partial sums, skipping tails."
    );
    wgsl_line!(
        w,
        "fn store_k3(chunk_base: u32, oc: u32, ic: u32, kh: u32, kw: u32, lo: vec4<f32>, hi: vec4<f32>) {{"
    );
    wgsl_line!(w, "    if (ic >= params.in_ch) {{ return; }}");
    wgsl_line!(w, "    let cols = params.in_ch * 9u;");
    wgsl_line!(
        w,
        "    let base = chunk_base + oc * cols + ic * 9u + kh * 3u + kw;"
    );
    wgsl_line!(w, "    let n = params.out_ch - oc;");
    store_channels(&mut w, "partial", "cols");
    wgsl_line!(w, "}}");
    wgsl_line!(w);
    weight_entry(&mut w, "conv2d_backward_weight_s1k3");
    wgsl_line!(
        w,
        "    // Uniform: the channel block and the dy plane offsets of its channels (clamped in the tail)."
    );
    wgsl_line!(w, "    let oc = wg.z * {cb}u;");
    wgsl_line!(w, "    let last_oc = params.out_ch - 1u;");
    wgsl_line!(w, "    let out_px = params.out_h * params.out_w;");
    dy_offsets(&mut w);
    wgsl_line!(w);
    wgsl_line!(
        w,
        "    // Per lane: {icb} input channels (clamped in the tail), one kernel row, one chunk."
    );
    k3_lane(&mut w, icb);
    accumulators(
        &mut w,
        (0..icb).flat_map(|q| (0..3).map(move |kw| format!("{q}{kw}"))),
    );
    k3_walk(&mut w, icb);
    let ind = "                ";
    dy_block(&mut w, ind);
    k3_next(&mut w, icb);
    for q in 0..icb {
        for (kw, v) in k3_taps(q).iter().enumerate() {
            block_fma(&mut w, ind, format!("{q}{kw}"), "d", v);
        }
    }
    k3_slide(&mut w, icb);
    wgsl_line!(
        w,
        "    let chunk_base = c * params.out_ch * params.in_ch * 9u;"
    );
    for q in 0..icb {
        for kw in 0..3 {
            wgsl_line!(
                w,
                "    store_k3(chunk_base, oc, ic + {q}u, kh, {kw}u, lo{q}{kw}, hi{q}{kw});"
            );
        }
    }
    wgsl_line!(w, "}}");
    wgsl_line!(w);

    // Its one-output-channel twin: WEIGHT_K3_IN_CHANNELS_SINGLE input channels x 3 taps.
    wgsl_line!(
        w,
        "// Stride 1, 3x3, one output channel (workgroup z) per invocation, for layers with at most {} output
// channels: {icb1} input channels x 3 taps of one kernel row, sliding as above ({}
// named scalar accumulators); per output pixel 1 dy load + {icb1} x loads feed {} multiply-adds.",
        SINGLE_CHANNEL_MAX,
        icb1 * 3,
        icb1 * 3
    );
    weight_entry(&mut w, "conv2d_backward_weight_s1k3_c1");
    wgsl_line!(w, "    let oc = wg.z;");
    wgsl_line!(w, "    let out_px = params.out_h * params.out_w;");
    k3_lane(&mut w, icb1);
    for q in 0..icb1 {
        for kw in 0..3 {
            wgsl_line!(w, "    var a{q}{kw} = 0.0;");
        }
    }
    k3_walk(&mut w, icb1);
    wgsl_line!(w, "{ind}let d = dy[di];");
    k3_next(&mut w, icb1);
    for q in 0..icb1 {
        for (kw, v) in k3_taps(q).iter().enumerate() {
            wgsl_line!(w, "{ind}a{q}{kw} += d * {v};");
        }
    }
    k3_slide(&mut w, icb1);
    wgsl_line!(
        w,
        "    // partial[c, oc, ic + i, kh, kw], skipping tail input channels."
    );
    wgsl_line!(
        w,
        "    let base = c * params.out_ch * params.in_ch * 9u + (oc * params.in_ch + ic) * 9u + kh * 3u;"
    );
    for q in 0..icb1 {
        wgsl_line!(w, "    if (ic + {q}u < params.in_ch) {{");
        for kw in 0..3 {
            wgsl_line!(w, "        partial[base + {}u] = a{q}{kw};", 9 * q + kw);
        }
        wgsl_line!(w, "    }}");
    }
    wgsl_line!(w, "}}");
    w
}
