//! The register-blocked direct kernels, which run every pass of every shape on every adapter:
//! their generator and their launchers.
//!
//! Each invocation keeps a block of channels (taken from the workgroup id, so weight offsets are
//! uniform) in named vec4 accumulators over a block of pixels or weight columns, so every loaded
//! value feeds many multiply-adds: loads, not arithmetic, bound these kernels on a CPU driver.
//! Stride 1 gets kernels that walk a run of one row and slide along kw (one new load per tap);
//! layers with at most [`SINGLE_CHANNEL_MAX`] channels on the blocked side get one-channel twins
//! instead of a mostly clamped block. The weight gradient is a gather of partial sums over
//! chunks of the batch, then a reduce; no atomics.
//!
//! The WGSL is unrolled into named variables; the functions below write it with loops over the
//! block sizes, which are the constants here (used by the launchers too).

use std::sync::LazyLock;

use wgpu::Buffer;

use super::{Conv2dParams, Conv2dShape, params_wgsl};
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::launch;

/// Workgroup size of every conv2d kernel with one-dimensional workgroups.
pub(super) const GROUP: u32 = 64;
/// The two vec4 accumulators (halves of the channel block) every pixel or column keeps.
const HALVES: [&str; 2] = ["lo", "hi"];
/// Channels per workgroup: two vec4 accumulators per pixel or column.
pub(super) const CHANNEL_BLOCK: usize = 4 * HALVES.len();
/// Pixels per invocation of the general-stride forward and input-gradient kernels, strided by
/// the workgroup size (pixel q + GROUP * j) so neighbouring lanes read neighbouring cells.
const PIXELS_PER_LANE: usize = 16;
/// Consecutive row pixels per invocation of the stride-1 kernels (`*_s1`).
const ROW_RUN: usize = 16;
/// Up to this many channels, the stride-1 kernels take one channel per workgroup (`*_s1_c1`,
/// `ROW_RUN_SINGLE` pixels per invocation) instead of a mostly clamped block of 8.
const SINGLE_CHANNEL_MAX: usize = 2;
const ROW_RUN_SINGLE: usize = 32;
/// Weight columns per invocation of the general weight gradient (times `CHANNEL_BLOCK` channels).
const WEIGHT_COLUMNS: usize = 8;
/// Input channels per invocation of the stride-1 3x3 weight gradient (times 3 taps times
/// `CHANNEL_BLOCK` channels).
const WEIGHT_K3_IN_CHANNELS: usize = 4;
/// Input channels per invocation of its one-output-channel twin (times 3 taps).
const WEIGHT_K3_IN_CHANNELS_SINGLE: usize = 8;
/// The weight gradient splits the batch into chunks until about this many invocations run.
const WEIGHT_GRAD_INVOCATIONS: usize = 8192;

/// The vec4 components, in order.
const COMPONENTS: [&str; 4] = ["x", "y", "z", "w"];

/// The blocked forward kernels ([`forward_source`]), generated once.
static FORWARD: LazyLock<String> = LazyLock::new(forward_source);
/// The blocked input-gradient kernels ([`backward_input_source`]), generated once.
static BACKWARD_INPUT: LazyLock<String> = LazyLock::new(backward_input_source);
/// The blocked weight-gradient kernels and the reduce every family's weight gradient ends with
/// ([`backward_weight_source`]), generated once.
pub(super) static BACKWARD_WEIGHT: LazyLock<String> = LazyLock::new(backward_weight_source);

/// Workgroups for the forward and input-gradient kernels: (x, y) fold over `lanes` invocations
/// (each a block of pixels), z counts blocks of `CHANNEL_BLOCK` channels (uniform within a
/// workgroup).
fn lanes_by_channel_groups(lanes: usize, channels: usize) -> [u32; 3] {
    let [x, y, _] = workgroups_for(lanes, GROUP);
    [x, y, channels.div_ceil(CHANNEL_BLOCK) as u32]
}

/// As `lanes_by_channel_groups`, one channel per workgroup along z.
fn lanes_by_channel(lanes: usize, channels: usize) -> [u32; 3] {
    let [x, y, _] = workgroups_for(lanes, GROUP);
    [x, y, channels as u32]
}

/// y = conv(x, w) + b; `buffers` are x, w, b, y.
pub(super) fn forward(
    gpu: &Gpu,
    op: &str,
    s: &Conv2dShape,
    params: &Conv2dParams,
    buffers: &[&Buffer],
) -> Result<Dispatch> {
    let (oh, ow) = s.out_hw();
    let (entry, groups) = if s.stride == 1 && s.out_ch <= SINGLE_CHANNEL_MAX {
        let lanes = s.batch * oh * ow.div_ceil(ROW_RUN_SINGLE);
        ("conv2d_forward_s1_c1", lanes_by_channel(lanes, s.out_ch))
    } else if s.stride == 1 {
        let lanes = s.batch * oh * ow.div_ceil(ROW_RUN);
        (
            "conv2d_forward_s1",
            lanes_by_channel_groups(lanes, s.out_ch),
        )
    } else {
        let lanes = (s.batch * oh * ow).div_ceil(PIXELS_PER_LANE);
        ("conv2d_forward", lanes_by_channel_groups(lanes, s.out_ch))
    };
    launch(gpu, op, &FORWARD, entry, params, buffers, groups)
}

/// The input gradient; `buffers` are dy, w, dx.
pub(super) fn backward_input(
    gpu: &Gpu,
    op: &str,
    s: &Conv2dShape,
    params: &Conv2dParams,
    buffers: &[&Buffer],
) -> Result<Dispatch> {
    let (entry, groups) = if s.stride == 1 && s.in_ch <= SINGLE_CHANNEL_MAX {
        let lanes = s.batch * s.height * s.width.div_ceil(ROW_RUN_SINGLE);
        (
            "conv2d_backward_input_s1_c1",
            lanes_by_channel(lanes, s.in_ch),
        )
    } else if s.stride == 1 {
        let lanes = s.batch * s.height * s.width.div_ceil(ROW_RUN);
        (
            "conv2d_backward_input_s1",
            lanes_by_channel_groups(lanes, s.in_ch),
        )
    } else {
        let lanes = (s.batch * s.height * s.width).div_ceil(PIXELS_PER_LANE);
        (
            "conv2d_backward_input",
            lanes_by_channel_groups(lanes, s.in_ch),
        )
    };
    launch(gpu, op, &BACKWARD_INPUT, entry, params, buffers, groups)
}

/// The weight-gradient kernel for `s`, its invocations per batch chunk and per block of output
/// channels, and its workgroup count along z (output-channel blocks): the sliding stride-1 3x3
/// kernels (blocks of input channels x one kernel row; one output channel per workgroup when
/// there are at most `SINGLE_CHANNEL_MAX`), or the general one (blocks of `WEIGHT_COLUMNS` flat
/// [ic, kh, kw] columns).
fn weight_grad_kernel(s: &Conv2dShape) -> (&'static str, usize, usize) {
    let oc_blocks = s.out_ch.div_ceil(CHANNEL_BLOCK);
    if s.stride == 1 && s.kernel == 3 && s.out_ch <= SINGLE_CHANNEL_MAX {
        let lanes = s.in_ch.div_ceil(WEIGHT_K3_IN_CHANNELS_SINGLE) * 3;
        ("conv2d_backward_weight_s1k3_c1", lanes, s.out_ch)
    } else if s.stride == 1 && s.kernel == 3 {
        let lanes = s.in_ch.div_ceil(WEIGHT_K3_IN_CHANNELS) * 3;
        ("conv2d_backward_weight_s1k3", lanes, oc_blocks)
    } else {
        let lanes = (s.in_ch * s.kernel * s.kernel).div_ceil(WEIGHT_COLUMNS);
        ("conv2d_backward_weight", lanes, oc_blocks)
    }
}

/// How the weight gradient splits the batch: (chunks, images per chunk).
pub fn weight_grad_chunks(s: &Conv2dShape) -> (usize, usize) {
    let (_, lanes, z) = weight_grad_kernel(s);
    let per_chunk = lanes * z;
    let wanted = WEIGHT_GRAD_INVOCATIONS
        .div_ceil(per_chunk)
        .clamp(1, s.batch);
    let batch_per_chunk = s.batch.div_ceil(wanted);
    (s.batch.div_ceil(batch_per_chunk), batch_per_chunk)
}

/// The weight gradient's partial sums over `chunks` batch chunks; `buffers` are x, dy, partial,
/// dw.
pub(super) fn backward_weight(
    gpu: &Gpu,
    op: &str,
    s: &Conv2dShape,
    chunks: usize,
    params: &Conv2dParams,
    buffers: &[&Buffer],
) -> Result<Dispatch> {
    let (entry, lanes_per_chunk, z) = weight_grad_kernel(s);
    let [gx, gy, _] = workgroups_for(chunks * lanes_per_chunk, GROUP);
    launch(
        gpu,
        op,
        &BACKWARD_WEIGHT,
        entry,
        params,
        buffers,
        [gx, gy, z as u32],
    )
}

/// The signature of a compute entry point over one-dimensional workgroups of `GROUP`.
fn entry_point(w: &mut String, name: &str) {
    emit!(w, "@compute @workgroup_size({GROUP})");
    emit!(
        w,
        "fn {name}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,"
    );
    emit!(w, "          @builtin(local_invocation_index) lid: u32) {{");
}

/// Declares the lo/hi accumulators of each suffix.
fn accumulators(w: &mut String, suffixes: impl IntoIterator<Item = String>) {
    for i in suffixes {
        for h in HALVES {
            emit!(w, "    var {h}{i} = vec4<f32>(0.0);");
        }
    }
}

/// `{h}{acc} += {operand}{h} * {value};` for both halves h: one value times the block's
/// channel vectors (`wlo`/`whi` weights, or `dlo`/`dhi` gradients).
fn block_fma(
    w: &mut String,
    indent: &str,
    acc: impl std::fmt::Display,
    operand: &str,
    value: &str,
) {
    for h in HALVES {
        emit!(w, "{indent}{h}{acc} += {operand}{h} * {value};");
    }
}

/// `let {name}lo = vec4<f32>(..); let {name}hi = ..;` from the block's `CHANNEL_BLOCK` scalar
/// expressions `f(0..8)`.
fn block_vectors(w: &mut String, indent: &str, name: &str, f: impl Fn(usize) -> String) {
    for (i, h) in HALVES.iter().enumerate() {
        let parts: Vec<String> = (4 * i..4 * i + 4).map(&f).collect();
        emit!(
            w,
            "{indent}let {name}{h} = vec4<f32>({});",
            parts.join(", ")
        );
    }
}

/// Writes the block's channels `lo`, `hi` to `dst[base + c * stride]` for the `n` channels left
/// (`n >= 1`).
fn store_channels(w: &mut String, dst: &str, stride: &str) {
    emit!(w, "    {dst}[base] = lo.x;");
    for c in 1..CHANNEL_BLOCK {
        let (h, comp) = (HALVES[c / 4], COMPONENTS[c % 4]);
        emit!(
            w,
            "    if (n > {c}u) {{ {dst}[base + {c}u * {stride}] = {h}.{comp}; }}"
        );
    }
}

/// `let w{j} = min({ch} + {j}u, {last}) * {stride};`: the weight offsets of the block's channels,
/// clamped in the tail.
fn channel_offsets(w: &mut String, ch: &str, last: &str, stride: &str) {
    for j in 0..CHANNEL_BLOCK {
        emit!(w, "    let w{j} = min({ch} + {j}u, {last}) * {stride};");
    }
}

/// Shifts the window `{v}0..{v}{n}` one cell left and loads `{v}{n - 1}` with `next`.
fn slide(w: &mut String, indent: &str, v: &str, n: usize, next: &str) {
    emit!(w, "{indent}// Slide one cell right.");
    for j in 0..n - 1 {
        emit!(w, "{indent}{v}{j} = {v}{};", j + 1);
    }
    emit!(w, "{indent}{v}{} = {next};", n - 1);
}

/// `let blo = ..; let bhi = ..;`: the bias of the block's channels, clamped in the tail.
fn block_bias(w: &mut String) {
    block_vectors(w, "    ", "b", |j| {
        if j == 0 {
            "bias[oc]".into()
        } else {
            format!("bias[min(oc + {j}u, last_oc)]")
        }
    });
}

/// The names that tell the forward pass and the input gradient apart. Both are the same gather:
/// a block of channels of `dst` at each pixel is the sum, over the channels of `src`, of weights
/// times `src` at the pixel's taps.
struct Gather {
    /// Entry point prefix.
    name: &'static str,
    /// Written tensor, its channel count and sizes: y (out_ch, out_h, out_w) or dx.
    dst: &'static str,
    dst_ch: &'static str,
    dst_h: &'static str,
    dst_w: &'static str,
    /// Read tensor, its channel count, sizes and plane (a named `let`): x or dy.
    src: &'static str,
    src_ch: &'static str,
    src_h: &'static str,
    src_w: &'static str,
    plane: &'static str,
    plane_expr: &'static str,
    /// Channel of the block (`oc` forward), its last index, and the channel summed over.
    ch: &'static str,
    last: &'static str,
    sum: &'static str,
    /// Weight offset of one block channel, and the step from one summed channel to the next.
    w_ch: &'static str,
    w_step: &'static str,
    /// Names of the loaded values and of the row loader of the stride-1 kernels.
    val: &'static str,
    cell: &'static str,
    /// Output row and first column of a stride-1 row run.
    row: &'static str,
    col0: &'static str,
    /// The forward pass (which adds the bias), or the input gradient.
    forward: bool,
}

const FORWARD_GATHER: Gather = Gather {
    name: "conv2d_forward",
    dst: "y",
    dst_ch: "params.out_ch",
    dst_h: "params.out_h",
    dst_w: "params.out_w",
    src: "x",
    src_ch: "params.in_ch",
    src_h: "params.height",
    src_w: "params.width",
    plane: "hw",
    plane_expr: "params.height * params.width",
    ch: "oc",
    last: "last_oc",
    sum: "ic",
    w_ch: "oc_stride",
    w_step: "kk",
    val: "v",
    cell: "cell_x",
    row: "oh",
    col0: "ow0",
    forward: true,
};

const INPUT_GATHER: Gather = Gather {
    name: "conv2d_backward_input",
    dst: "dx",
    dst_ch: "params.in_ch",
    dst_h: "params.height",
    dst_w: "params.width",
    src: "dy",
    src_ch: "params.out_ch",
    src_h: "params.out_h",
    src_w: "params.out_w",
    plane: "out_px",
    plane_expr: "params.out_h * params.out_w",
    ch: "ic",
    last: "last_ic",
    sum: "oc",
    w_ch: "kk",
    w_step: "oc_stride",
    val: "g",
    cell: "cell_dy",
    row: "ih",
    col0: "iw0",
    forward: false,
};

impl Gather {
    /// `+ blo`/`+ bhi` after the accumulators when the pass adds the bias.
    fn plus_bias(&self, h: &str) -> String {
        if self.forward {
            format!(" + b{h}")
        } else {
            String::new()
        }
    }

    /// Helper functions and the general-stride entry point: 8 channels x `PIXELS_PER_LANE`
    /// pixels q + GROUP * j per invocation; taps outside, summed channels inside.
    fn pixel_block(&self, w: &mut String) {
        let g = self;
        let n = PIXELS_PER_LANE;
        let group = GROUP as usize;
        let (tap, t) = if g.forward {
            ("tap", "t")
        } else {
            ("source", "s")
        };
        // Plain per-pass helpers: a pixel's offsets and the offset and mask of one of its taps.
        if g.forward {
            w.push_str(
                r"// A pixel of the flattened (b, oh, ow) output: its input-image offset and the signed top-left
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

",
            );
        } else {
            w.push_str(
                r"// An input pixel of the flattened (b, ih, iw) input: its gradient-image offset in dy, and its
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

",
            );
        }
        emit!(
            w,
            "// Write the {CHANNEL_BLOCK} channels of one pixel, skipping tail channels and pixels."
        );
        emit!(
            w,
            "fn store(q: u32, ch: u32, lo: vec4<f32>, hi: vec4<f32>) {{"
        );
        emit!(w, "    let plane = {} * {};", g.dst_h, g.dst_w);
        emit!(w, "    if (q >= params.batch * plane) {{ return; }}");
        emit!(
            w,
            "    let base = ((q / plane) * {} + ch) * plane + q % plane;",
            g.dst_ch
        );
        emit!(w, "    let n = {} - ch;", g.dst_ch);
        store_channels(w, g.dst, "plane");
        emit!(w, "}}");
        emit!(w);

        entry_point(w, g.name);
        emit!(
            w,
            "    // Uniform: the channel block and the weight offsets of its {CHANNEL_BLOCK} channels (clamped in the tail)."
        );
        emit!(w, "    let {} = wg.z * {CHANNEL_BLOCK}u;", g.ch);
        emit!(w, "    let {} = {} - 1u;", g.last, g.dst_ch);
        emit!(w, "    let kk = params.kernel * params.kernel;");
        emit!(w, "    let oc_stride = params.in_ch * kk;");
        channel_offsets(w, g.ch, g.last, g.w_ch);
        emit!(w);
        emit!(
            w,
            "    // Per lane: {n} pixels, clamped to the last one (computed, not stored)."
        );
        emit!(
            w,
            "    let q = (wg.x + wg.y * nwg.x) * PIXELS_PER_GROUP + lid;"
        );
        emit!(
            w,
            "    let last_q = params.batch * {} * {} - 1u;",
            g.dst_h,
            g.dst_w
        );
        for j in 0..n {
            emit!(w, "    let px{j} = pixel(min(q + {}u, last_q));", group * j);
        }
        emit!(w, "    let {} = {};", g.plane, g.plane_expr);
        emit!(w);
        accumulators(w, (0..n).map(|j| j.to_string()));
        emit!(w, "    for (var kh = 0u; kh < params.kernel; kh++) {{");
        emit!(w, "        for (var kw = 0u; kw < params.kernel; kw++) {{");
        let ind = "            ";
        for j in 0..n {
            emit!(w, "{ind}let {t}{j} = {tap}(px{j}, kh, kw);");
        }
        for j in 0..n {
            emit!(w, "{ind}var i{j} = {t}{j}.x;");
        }
        for j in 0..n {
            emit!(w, "{ind}let m{j} = f32({t}{j}.y);");
        }
        emit!(w, "{ind}var wi = kh * params.kernel + kw;");
        emit!(
            w,
            "{ind}for (var {s} = 0u; {s} < {}; {s}++) {{",
            g.src_ch,
            s = g.sum
        );
        let ind = "                ";
        block_vectors(w, ind, "w", |j| format!("w[w{j} + wi]"));
        // Forward names the loaded values after x; the input gradient after g.
        let v = if g.forward { "x" } else { "g" };
        for j in 0..n {
            emit!(w, "{ind}let {v}{j} = {}[i{j}] * m{j};", g.src);
        }
        for j in 0..n {
            block_fma(w, ind, j, "w", &format!("{v}{j}"));
        }
        emit!(w, "{ind}wi += {};", g.w_step);
        for j in 0..n {
            emit!(w, "{ind}i{j} += {};", g.plane);
        }
        emit!(w, "            }}");
        emit!(w, "        }}");
        emit!(w, "    }}");
        emit!(w);
        if g.forward {
            block_bias(w);
        }
        for j in 0..n {
            emit!(
                w,
                "    store(q + {}u, {}, lo{j}{}, hi{j}{});",
                group * j,
                g.ch,
                g.plus_bias("lo"),
                g.plus_bias("hi")
            );
        }
        emit!(w, "}}");
    }

    /// The stride-1 row-run loader and store helpers.
    fn row_helpers(&self, w: &mut String) {
        let g = self;
        let (what, region) = if g.forward {
            ("x at column c of an input row", "inside the image")
        } else {
            ("dy at column c of a gradient row", "inside the output")
        };
        let otherwise = if g.forward {
            "0 in the padding"
        } else {
            "else 0"
        };
        emit!(
            w,
            "// {what} (offset `row`, {region} when `row_ok`), {otherwise}."
        );
        emit!(w, "fn {}(row: u32, row_ok: bool, c: i32) -> f32 {{", g.cell);
        emit!(w, "    let ok = row_ok && c >= 0 && c < i32({});", g.src_w);
        emit!(
            w,
            "    return select(0.0, 1.0, ok) * {}[row + select(0u, u32(c), ok)];",
            g.src
        );
        emit!(w, "}}");
        emit!(w);
        let pixel = if g.forward { "pixel" } else { "input pixel" };
        emit!(
            w,
            "// Write the {CHANNEL_BLOCK} channels of the {pixel} at `base` (channel {}) when `valid`.",
            g.ch
        );
        emit!(
            w,
            "fn store_at(valid: bool, base: u32, {}: u32, lo: vec4<f32>, hi: vec4<f32>) {{",
            g.ch
        );
        emit!(w, "    if (!valid) {{ return; }}");
        emit!(w, "    let plane = {} * {};", g.dst_h, g.dst_w);
        emit!(w, "    let n = {} - {};", g.dst_ch, g.ch);
        store_channels(w, g.dst, "plane");
        emit!(w, "}}");
        emit!(w);
    }

    /// The opening of a stride-1 entry point: the lane's row run of `run` pixels (b, row, col0),
    /// the first column its window reads (c0) and its image in the read tensor.
    fn row_run(&self, w: &mut String, run: usize) {
        let g = self;
        emit!(w, "    let runs = ({} + {}u) / {run}u;", g.dst_w, run - 1);
        emit!(w, "    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;");
        emit!(w, "    let last = params.batch * {} * runs - 1u;", g.dst_h);
        emit!(w, "    let run = min(id, last);");
        emit!(w, "    let {} = (run % runs) * {run}u;", g.col0);
        emit!(w, "    let {} = (run / runs) % {};", g.row, g.dst_h);
        emit!(w, "    let b = run / (runs * {});", g.dst_h);
        if g.forward {
            emit!(w, "    let c0 = i32(ow0) - i32(params.pad_left);");
        } else {
            // Pixel j reads dy column iw0 + j + pad_left - kw: kw = k - 1 first.
            emit!(
                w,
                "    let c0 = i32(iw0 + params.pad_left) - i32(params.kernel - 1u);"
            );
        }
        emit!(w, "    let {} = {};", g.plane, g.plane_expr);
        emit!(w, "    let img = b * {} * {};", g.src_ch, g.plane);
    }

    /// The kernel-row loop's opening: the read tensor's row under kernel row kh.
    fn kernel_row(&self, w: &mut String) {
        let g = self;
        emit!(w, "    for (var kh = 0u; kh < params.kernel; kh++) {{");
        if g.forward {
            emit!(w, "        let r = i32(oh + kh) - i32(params.pad_top);");
        } else {
            emit!(w, "        let r = i32(ih + params.pad_top) - i32(kh);");
        }
        emit!(w, "        let row_ok = r >= 0 && r < i32({});", g.src_h);
        emit!(
            w,
            "        var row = img + select(0u, u32(r) * {}, row_ok);",
            g.src_w
        );
    }

    /// `var {val}{j} = {cell}(..)` for the `n` cells under the run's first tap.
    fn load_run(&self, w: &mut String, n: usize) {
        for j in 0..n {
            emit!(
                w,
                "            var {}{j} = {}(row, row_ok, c0 + {j});",
                self.val,
                self.cell
            );
        }
    }

    /// Stride 1: `CHANNEL_BLOCK` channels x `ROW_RUN` consecutive pixels of one row per
    /// invocation, sliding along kw.
    fn row_run_block(&self, w: &mut String) {
        let g = self;
        let n = ROW_RUN;
        entry_point(w, &format!("{}_s1", g.name));
        emit!(w, "    let kk = params.kernel * params.kernel;");
        emit!(
            w,
            "    // Uniform: the channel block and the weight offsets of its {CHANNEL_BLOCK} channels (clamped in the tail)."
        );
        emit!(w, "    let {} = wg.z * {CHANNEL_BLOCK}u;", g.ch);
        emit!(w, "    let {} = {} - 1u;", g.last, g.dst_ch);
        emit!(w, "    let oc_stride = params.in_ch * kk;");
        channel_offsets(w, g.ch, g.last, g.w_ch);
        emit!(w);
        let which = if g.forward { "output" } else { "input" };
        emit!(
            w,
            "    // Per lane: a run of {n} pixels of one {which} row (the last run clamped; stores guarded)."
        );
        g.row_run(w, n);
        accumulators(w, (0..n).map(|j| j.to_string()));
        g.kernel_row(w);
        let (tap0, sign) = if g.forward {
            ("", "+")
        } else {
            (" + params.kernel - 1u", "-")
        };
        let (sum_ch, kw0) = if g.forward {
            ("ic", "0")
        } else {
            ("oc", "k - 1")
        };
        emit!(w, "        // Weight offset of ({sum_ch}, kh, kw = {kw0}).");
        emit!(w, "        var wi = kh * params.kernel{tap0};");
        emit!(
            w,
            "        for (var {s} = 0u; {s} < {}; {s}++) {{",
            g.src_ch,
            s = g.sum
        );
        g.load_run(w, n);
        emit!(w, "            for (var t = 0u; t < params.kernel; t++) {{");
        let ind = "                ";
        block_vectors(w, ind, "w", |j| format!("w[w{j} + wi {sign} t]"));
        for j in 0..n {
            block_fma(w, ind, j, "w", &format!("{}{j}", g.val));
        }
        let next = format!("{}(row, row_ok, c0 + {n} + i32(t))", g.cell);
        slide(w, ind, g.val, n, &next);
        emit!(w, "            }}");
        emit!(w, "            row += {};", g.plane);
        emit!(w, "            wi += {};", g.w_step);
        emit!(w, "        }}");
        emit!(w, "    }}");
        emit!(w);
        if g.forward {
            block_bias(w);
        }
        emit!(
            w,
            "    let base = ((b * {} + {}) * {} + {}) * {} + {};",
            g.dst_ch,
            g.ch,
            g.dst_h,
            g.row,
            g.dst_w,
            g.col0
        );
        for j in 0..n {
            emit!(
                w,
                "    store_at(id <= last && {} + {j}u < {}, base + {j}u, {}, lo{j}{}, hi{j}{});",
                g.col0,
                g.dst_w,
                g.ch,
                g.plus_bias("lo"),
                g.plus_bias("hi")
            );
        }
        emit!(w, "}}");
    }

    /// Stride 1, one channel per workgroup: `ROW_RUN_SINGLE` consecutive pixels of one row per
    /// invocation in scalar accumulators, sliding along kw.
    fn row_run_single(&self, w: &mut String) {
        let g = self;
        let n = ROW_RUN_SINGLE;
        entry_point(w, &format!("{}_s1_c1", g.name));
        emit!(w, "    let kk = params.kernel * params.kernel;");
        emit!(w, "    let {} = wg.z;", g.ch);
        if !g.forward {
            emit!(w, "    let oc_stride = params.in_ch * kk;");
        }
        g.row_run(w, n);
        for j in 0..n {
            emit!(w, "    var a{j} = 0.0;");
        }
        g.kernel_row(w);
        if g.forward {
            emit!(w, "        // Weight index of (oc, ic, kh, kw = 0).");
            emit!(
                w,
                "        var wi = oc * params.in_ch * kk + kh * params.kernel;"
            );
        } else {
            emit!(w, "        // Weight index of (oc, ic, kh, kw = k - 1).");
            emit!(
                w,
                "        var wi = ic * kk + kh * params.kernel + params.kernel - 1u;"
            );
        }
        emit!(
            w,
            "        for (var {s} = 0u; {s} < {}; {s}++) {{",
            g.src_ch,
            s = g.sum
        );
        g.load_run(w, n);
        emit!(w, "            for (var t = 0u; t < params.kernel; t++) {{");
        let ind = "                ";
        let sign = if g.forward { "+" } else { "-" };
        emit!(w, "{ind}let wv = w[wi {sign} t];");
        for j in 0..n {
            emit!(w, "{ind}a{j} += wv * {}{j};", g.val);
        }
        let next = format!("{}(row, row_ok, c0 + {n} + i32(t))", g.cell);
        slide(w, ind, g.val, n, &next);
        emit!(w, "            }}");
        emit!(w, "            row += {};", g.plane);
        emit!(w, "            wi += {};", g.w_step);
        emit!(w, "        }}");
        emit!(w, "    }}");
        emit!(w);
        let plus = if g.forward {
            emit!(w, "    let bv = bias[oc];");
            " + bv"
        } else {
            ""
        };
        emit!(
            w,
            "    let base = ((b * {} + {}) * {} + {}) * {} + {};",
            g.dst_ch,
            g.ch,
            g.dst_h,
            g.row,
            g.dst_w,
            g.col0
        );
        emit!(w, "    if (id > last) {{ return; }}");
        for j in 0..n {
            emit!(
                w,
                "    if ({} + {j}u < {}) {{ {}[base + {j}u] = a{j}{plus}; }}",
                g.col0,
                g.dst_w,
                g.dst
            );
        }
        emit!(w, "}}");
    }
}

/// The header, params, bindings and constants every forward or input-gradient source opens with.
fn gather_prelude(w: &mut String, header: &str, bindings: &[&str]) {
    w.push_str(header);
    emit!(w);
    w.push_str(&params_wgsl());
    emit!(w);
    emit!(w, "@group(0) @binding(0) var<uniform> params: Params;");
    for b in bindings {
        emit!(w, "{b}");
    }
    emit!(w);
    emit!(w, "const GROUP: u32 = {GROUP}u;");
}

/// The WGSL of the blocked forward kernels (entry points `conv2d_forward`, `conv2d_forward_s1`,
/// `conv2d_forward_s1_c1`).
pub fn forward_source() -> String {
    let (n, group) = (PIXELS_PER_LANE, GROUP as usize);
    let (cb, run, single) = (CHANNEL_BLOCK, ROW_RUN, ROW_RUN_SINGLE);
    let header = format!(
        "// 2-D convolution, forward (NCHW, cross-correlation as in Keras/PyTorch; generated by
// ops::conv2d::blocked::forward_source):
//   y[b, oc, oh, ow] = bias[oc] + sum_{{ic, kh, kw}} w[oc, ic, kh, kw]
//                                  * x[b, ic, oh*stride - pad_top + kh, ow*stride - pad_left + kw]
//   taps that fall outside the input read 0 (zero padding).
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 x (read), 2 w (read), 3 bias (read),
//   4 y (write).
// Dispatch: workgroups (x, y) fold over blocks of {pg} output pixels (flattened over b, oh,
//   ow); workgroup z is the block of {cb} output channels, so weight offsets are uniform.
// One invocation computes a register block of {cb} output channels x {n} output pixels (pixels
// q + {group}*j, j = 0..{last}, so neighbouring lanes read neighbouring cells): {accs} named vec4
// accumulators (lo/hi channel halves per pixel). Each loaded value feeds {cb} or {n} multiply-adds.
// Loops: taps (kh, kw) outside, where padding masks and offsets of the pixels are worked out
// once; input channels inside, branch-free: {cb} + {n} loads, {fmas} multiply-adds. Tail channels
// and pixels are clamped to the last valid one and not stored.
// Entry points (all with these bindings; the launcher picks one): conv2d_forward (any stride, as
//   described above), conv2d_forward_s1 (stride 1: row runs sliding along kw) and
//   conv2d_forward_s1_c1 (stride 1, at most {max} output channels); each is described where it
//   starts.
",
        pg = n * group,
        last = n - 1,
        accs = 2 * n,
        fmas = cb * n,
        max = SINGLE_CHANNEL_MAX,
    );
    let mut w = String::new();
    gather_prelude(
        &mut w,
        &header,
        &[
            "@group(0) @binding(1) var<storage, read> x: array<f32>;",
            "@group(0) @binding(2) var<storage, read> w: array<f32>;",
            "@group(0) @binding(3) var<storage, read> bias: array<f32>;",
            "@group(0) @binding(4) var<storage, read_write> y: array<f32>;",
        ],
    );
    emit!(w, "const PIXELS_PER_GROUP: u32 = {}u;", n * group);
    emit!(w);
    FORWARD_GATHER.pixel_block(&mut w);
    emit!(w);
    emit!(
        w,
        "// Stride 1 only: one invocation computes {cb} output channels x {run} consecutive output pixels of one
// row (ow0 .. ow0 + {}). For each (kh, ic) it loads the {run} input cells under tap kw = 0 once and
// slides right along kw, one new load per step, so a loaded cell feeds up to k taps x {cb} channels:
// per (kh, ic) {run} + k input loads and {cb}*k weight loads for {}*k multiply-adds.
// Workgroups (x, y) fold over row runs (b, oh, run), one per lane; z is the channel block.
",
        run - 1,
        cb * run
    );
    FORWARD_GATHER.row_helpers(&mut w);
    FORWARD_GATHER.row_run_block(&mut w);
    emit!(w);
    emit!(
        w,
        "// Stride 1, one output channel (workgroup z) per invocation: {single} consecutive pixels of one row,
// sliding along kw as above; per (kh, ic) {single} + k cell loads and k weight loads for {single}*k
// multiply-adds. Used when there are at most {} output channels.",
        SINGLE_CHANNEL_MAX
    );
    FORWARD_GATHER.row_run_single(&mut w);
    w
}

/// The WGSL of the blocked input-gradient kernels (entry points `conv2d_backward_input`,
/// `conv2d_backward_input_s1`, `conv2d_backward_input_s1_c1`).
pub fn backward_input_source() -> String {
    let (n, group) = (PIXELS_PER_LANE, GROUP as usize);
    let (cb, run, single) = (CHANNEL_BLOCK, ROW_RUN, ROW_RUN_SINGLE);
    let header = format!(
        "// 2-D convolution, gradient with respect to the input (a gather, written, not accumulated;
// generated by ops::conv2d::blocked::backward_input_source):
//   dx[b, ic, ih, iw] = sum_{{oc, kh, kw}} w[oc, ic, kh, kw] * dy[b, oc, oh, ow]
//   over the taps where ih + pad_top - kh = oh * stride and iw + pad_left - kw = ow * stride
//   for some output pixel (oh, ow) inside the output.
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 dy (read), 2 w (read), 3 dx (write).
// Dispatch: workgroups (x, y) fold over blocks of {pg} input pixels (flattened over b, ih,
//   iw); workgroup z is the block of {cb} input channels, so weight offsets are uniform.
// One invocation computes a register block of {cb} input channels x {n} input pixels (pixels
// q + {group}*j, j = 0..{last}): {accs} named vec4 accumulators (lo/hi channel halves per pixel).
// Loops: taps (kh, kw) outside, where each pixel's source output position and its mask (inside,
// divisible by the stride) are worked out once; output channels inside, branch-free: {cb} + {n}
// loads, {fmas} multiply-adds. Tail channels and pixels are clamped and not stored.
// Entry points (all with these bindings; the launcher picks one): conv2d_backward_input (any
//   stride, as described above), conv2d_backward_input_s1 (stride 1: row runs sliding along kw)
//   and conv2d_backward_input_s1_c1 (stride 1, at most {max} input channels); each is described
//   where it starts.
",
        pg = n * group,
        last = n - 1,
        accs = 2 * n,
        fmas = cb * n,
        max = SINGLE_CHANNEL_MAX,
    );
    let mut w = String::new();
    gather_prelude(
        &mut w,
        &header,
        &[
            "@group(0) @binding(1) var<storage, read> dy: array<f32>;",
            "@group(0) @binding(2) var<storage, read> w: array<f32>;",
            "@group(0) @binding(3) var<storage, read_write> dx: array<f32>;",
        ],
    );
    emit!(w, "const PIXELS_PER_GROUP: u32 = {}u;", n * group);
    emit!(w);
    INPUT_GATHER.pixel_block(&mut w);
    emit!(w);
    emit!(
        w,
        "// Stride 1 only: one invocation computes {cb} input channels x {run} consecutive input pixels of one
// row (iw0 .. iw0 + {}). Pixel j reaches dy column iw0 + j + pad_left - kw, so walking kw from
// k - 1 down to 0 slides right: for each (kh, oc) the {run} dy cells are loaded once and one new
// cell per step, per (kh, oc) {run} + k dy loads and {cb}*k weight loads for {}*k multiply-adds.
// Workgroups (x, y) fold over row runs (b, ih, run), one per lane; z is the channel block.
",
        run - 1,
        cb * run
    );
    INPUT_GATHER.row_helpers(&mut w);
    INPUT_GATHER.row_run_block(&mut w);
    emit!(w);
    emit!(
        w,
        "// Stride 1, one input channel (workgroup z) per invocation: {single} consecutive pixels of one row,
// sliding along kw as above; per (kh, oc) {single} + k cell loads and k weight loads for {single}*k
// multiply-adds. Used when there are at most {} input channels.",
        SINGLE_CHANNEL_MAX
    );
    INPUT_GATHER.row_run_single(&mut w);
    w
}

/// `let d{j} = (min(oc + {j}u, last_oc) - oc) * out_px;`: dy plane offsets of the block's
/// channels relative to its first, clamped in the tail.
fn dy_offsets(w: &mut String) {
    for j in 1..CHANNEL_BLOCK {
        emit!(w, "    let d{j} = (min(oc + {j}u, last_oc) - oc) * out_px;");
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
    emit!(w, "    _ = dw[0];");
}

/// The opening of the sliding stride-1 3x3 kernels: the lane's block of `icb` input channels,
/// kernel row and chunk.
fn k3_lane(w: &mut String, icb: usize) {
    emit!(w, "    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;");
    emit!(
        w,
        "    let ic_blocks = (params.in_ch + {}u) / {icb}u;",
        icb - 1
    );
    emit!(
        w,
        "    if (id >= ic_blocks * 3u * params.chunks) {{ return; }}"
    );
    emit!(w, "    let ic = (id % ic_blocks) * {icb}u;");
    emit!(w, "    let kh = (id / ic_blocks) % 3u;");
    emit!(w, "    let c = id / (ic_blocks * 3u);");
    emit!(w, "    let last_ic = params.in_ch - 1u;");
    emit!(w, "    let hw = params.height * params.width;");
    emit!(w, "    let pl = i32(params.pad_left);");
    emit!(w);
}

/// The chunk's image loop and output-row loop of the 3x3 kernels, down to the window of taps
/// kw = 0, 1 at ow = 0 of each of the `icb` input channels (p, q) and the opening of the ow loop.
fn k3_walk(w: &mut String, icb: usize) {
    emit!(
        w,
        "    let b_end = min((c + 1u) * params.batch_per_chunk, params.batch);"
    );
    emit!(
        w,
        "    for (var b = c * params.batch_per_chunk; b < b_end; b++) {{"
    );
    for q in 0..icb {
        emit!(
            w,
            "        let plane{q} = (b * params.in_ch + min(ic + {q}u, last_ic)) * hw;"
        );
    }
    emit!(w, "        var di = (b * params.out_ch + oc) * out_px;");
    emit!(w, "        for (var oh = 0u; oh < params.out_h; oh++) {{");
    emit!(w, "            let r = i32(oh + kh) - i32(params.pad_top);");
    emit!(
        w,
        "            let row_ok = r >= 0 && r < i32(params.height);"
    );
    emit!(
        w,
        "            let row = select(0u, u32(r) * params.width, row_ok);"
    );
    for q in 0..icb {
        emit!(w, "            let row{q} = plane{q} + row;");
    }
    emit!(w, "            // Window (taps kw = 0, 1) at ow = 0.");
    for q in 0..icb {
        emit!(w, "            var p{q} = cell_x(row{q}, row_ok, -pl);");
        emit!(w, "            var q{q} = cell_x(row{q}, row_ok, 1 - pl);");
    }
    emit!(
        w,
        "            for (var ow = 0; ow < i32(params.out_w); ow++) {{"
    );
}

/// Loads tap kw = 2 (n) of each input channel, given after the ow loop's first lines.
fn k3_next(w: &mut String, icb: usize) {
    for q in 0..icb {
        emit!(
            w,
            "                let n{q} = cell_x(row{q}, row_ok, ow + 2 - pl);"
        );
    }
}

/// Slides each input channel's window one cell right and closes the ow, oh and image loops.
fn k3_slide(w: &mut String, icb: usize) {
    emit!(w, "                // Slide the window one cell right.");
    for q in 0..icb {
        emit!(w, "                p{q} = q{q};");
        emit!(w, "                q{q} = n{q};");
    }
    emit!(w, "                di += 1u;");
    emit!(w, "            }}");
    emit!(w, "        }}");
    emit!(w, "    }}");
    emit!(w);
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
    emit!(
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
    w.push_str(&params_wgsl());
    emit!(w);
    w.push_str(
        r"@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;

",
    );
    emit!(w, "const GROUP: u32 = {GROUP}u;");
    emit!(w);
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
    emit!(
        w,
        "// Write the {cb} channels of one column's accumulators to the chunk's partial sums."
    );
    emit!(
        w,
        "fn store(chunk_base: u32, oc: u32, j: u32, cols: u32, lo: vec4<f32>, hi: vec4<f32>) {{"
    );
    emit!(w, "    if (j >= cols) {{ return; }}");
    emit!(w, "    let base = chunk_base + oc * cols + j;");
    emit!(w, "    let n = params.out_ch - oc;");
    store_channels(&mut w, "partial", "cols");
    emit!(w, "}}");
    emit!(w);

    // The general kernel: CHANNEL_BLOCK output channels x WEIGHT_COLUMNS flat columns.
    weight_entry(&mut w, "conv2d_backward_weight");
    emit!(
        w,
        "    // Uniform: the channel block and the dy plane offsets of its channels (clamped in the tail)."
    );
    emit!(w, "    let oc = wg.z * {cb}u;");
    emit!(w, "    let last_oc = params.out_ch - 1u;");
    emit!(w, "    let out_px = params.out_h * params.out_w;");
    dy_offsets(&mut w);
    emit!(w);
    emit!(
        w,
        "    // Per lane: a block of {cols} columns (clamped in the tail) and a chunk of the batch."
    );
    emit!(w, "    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;");
    emit!(w, "    let kk = params.kernel * params.kernel;");
    emit!(w, "    let cols = params.in_ch * kk;");
    emit!(w, "    let col_blocks = (cols + {}u) / {cols}u;", cols - 1);
    emit!(w, "    if (id >= col_blocks * params.chunks) {{ return; }}");
    emit!(w, "    let j = (id % col_blocks) * {cols}u;");
    emit!(w, "    let c = id / col_blocks;");
    emit!(w, "    let last_j = cols - 1u;");
    for j in 0..cols {
        emit!(w, "    let c{j} = column(min(j + {j}u, last_j));");
    }
    emit!(w, "    let hw = params.height * params.width;");
    emit!(w, "    let st = i32(params.stride);");
    emit!(w);
    accumulators(&mut w, (0..cols).map(|j| j.to_string()));
    emit!(
        w,
        "    let b_end = min((c + 1u) * params.batch_per_chunk, params.batch);"
    );
    emit!(
        w,
        "    for (var b = c * params.batch_per_chunk; b < b_end; b++) {{"
    );
    emit!(w, "        let x_img = b * params.in_ch * hw;");
    for j in 0..cols {
        emit!(w, "        let x{j} = x_img + u32(c{j}.x) * hw;");
    }
    emit!(w, "        var di = (b * params.out_ch + oc) * out_px;");
    emit!(
        w,
        "        for (var oh = 0; oh < i32(params.out_h); oh++) {{"
    );
    for j in 0..cols {
        emit!(w, "            let r{j} = row(oh * st + c{j}.y);");
    }
    for j in 0..cols {
        emit!(w, "            let b{j} = x{j} + r{j}.x;");
    }
    emit!(
        w,
        "            for (var ow = 0; ow < i32(params.out_w); ow++) {{"
    );
    let ind = "                ";
    dy_block(&mut w, ind);
    emit!(w, "{ind}let col = ow * st;");
    for j in 0..cols {
        emit!(w, "{ind}let v{j} = tap_value(b{j}, r{j}.y, col + c{j}.z);");
    }
    for j in 0..cols {
        block_fma(&mut w, ind, j, "d", &format!("v{j}"));
    }
    emit!(w, "{ind}di += 1u;");
    emit!(w, "            }}");
    emit!(w, "        }}");
    emit!(w, "    }}");
    emit!(w);
    emit!(w, "    let chunk_base = c * params.out_ch * cols;");
    for j in 0..cols {
        emit!(
            w,
            "    store(chunk_base, oc, j + {j}u, cols, lo{j}, hi{j});"
        );
    }
    emit!(w, "}}");
    emit!(w);

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
    emit!(
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
    emit!(
        w,
        "// Write the {cb} channels of weight (ic, kh, kw) to the chunk's partial sums, skipping tails."
    );
    emit!(
        w,
        "fn store_k3(chunk_base: u32, oc: u32, ic: u32, kh: u32, kw: u32, lo: vec4<f32>, hi: vec4<f32>) {{"
    );
    emit!(w, "    if (ic >= params.in_ch) {{ return; }}");
    emit!(w, "    let cols = params.in_ch * 9u;");
    emit!(
        w,
        "    let base = chunk_base + oc * cols + ic * 9u + kh * 3u + kw;"
    );
    emit!(w, "    let n = params.out_ch - oc;");
    store_channels(&mut w, "partial", "cols");
    emit!(w, "}}");
    emit!(w);
    weight_entry(&mut w, "conv2d_backward_weight_s1k3");
    emit!(
        w,
        "    // Uniform: the channel block and the dy plane offsets of its channels (clamped in the tail)."
    );
    emit!(w, "    let oc = wg.z * {cb}u;");
    emit!(w, "    let last_oc = params.out_ch - 1u;");
    emit!(w, "    let out_px = params.out_h * params.out_w;");
    dy_offsets(&mut w);
    emit!(w);
    emit!(
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
    emit!(
        w,
        "    let chunk_base = c * params.out_ch * params.in_ch * 9u;"
    );
    for q in 0..icb {
        for kw in 0..3 {
            emit!(
                w,
                "    store_k3(chunk_base, oc, ic + {q}u, kh, {kw}u, lo{q}{kw}, hi{q}{kw});"
            );
        }
    }
    emit!(w, "}}");
    emit!(w);

    // Its one-output-channel twin: WEIGHT_K3_IN_CHANNELS_SINGLE input channels x 3 taps.
    emit!(
        w,
        "// Stride 1, 3x3, one output channel (workgroup z) per invocation, for layers with at most {} output
// channels: {icb1} input channels x 3 taps of one kernel row, sliding as above ({}
// named scalar accumulators); per output pixel 1 dy load + {icb1} x loads feed {} multiply-adds.",
        SINGLE_CHANNEL_MAX,
        icb1 * 3,
        icb1 * 3
    );
    weight_entry(&mut w, "conv2d_backward_weight_s1k3_c1");
    emit!(w, "    let oc = wg.z;");
    emit!(w, "    let out_px = params.out_h * params.out_w;");
    k3_lane(&mut w, icb1);
    for q in 0..icb1 {
        for kw in 0..3 {
            emit!(w, "    var a{q}{kw} = 0.0;");
        }
    }
    k3_walk(&mut w, icb1);
    emit!(w, "{ind}let d = dy[di];");
    k3_next(&mut w, icb1);
    for q in 0..icb1 {
        for (kw, v) in k3_taps(q).iter().enumerate() {
            emit!(w, "{ind}a{q}{kw} += d * {v};");
        }
    }
    k3_slide(&mut w, icb1);
    emit!(
        w,
        "    // partial[c, oc, ic + i, kh, kw], skipping tail input channels."
    );
    emit!(
        w,
        "    let base = c * params.out_ch * params.in_ch * 9u + (oc * params.in_ch + ic) * 9u + kh * 3u;"
    );
    for q in 0..icb1 {
        emit!(w, "    if (ic + {q}u < params.in_ch) {{");
        for kw in 0..3 {
            emit!(w, "        partial[base + {}u] = a{q}{kw};", 9 * q + kw);
        }
        emit!(w, "    }}");
    }
    emit!(w, "}}");
    w
}
