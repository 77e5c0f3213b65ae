//! The blocked forward and input-gradient kernels. Both passes are the same gather with
//! different names, so one [`Gather`] of names writes each kernel shape for both.

use super::{
    CHANNEL_BLOCK, GROUP, PIXELS_PER_LANE, ROW_RUN, ROW_RUN_SINGLE, SINGLE_CHANNEL_MAX,
    accumulators, block_fma, block_vectors, channel_offsets, entry_point, slide, store_channels,
};
use crate::ops::activation::{self, Activation};
use crate::ops::conv2d::Conv2dParams;
use crate::wgsl::WgslStruct;
use crate::wgsl_line;

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
    /// The value stored from the vec4 accumulator `acc` of channel half `h`: the forward pass
    /// adds the bias and applies the fused activation (`act4`, the identity when none is fused).
    fn stored(&self, acc: &str, h: &str) -> String {
        if self.forward {
            format!("act4({acc} + b{h})")
        } else {
            acc.to_string()
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
        wgsl_line!(
            w,
            "// Write the {CHANNEL_BLOCK} channels of one pixel, skipping tail channels and pixels.
fn store(q: u32, ch: u32, lo: vec4<f32>, hi: vec4<f32>) {{
    let plane = {} * {};
    if (q >= params.batch * plane) {{ return; }}
    let base = ((q / plane) * {} + ch) * plane + q % plane;
    let n = {} - ch;",
            g.dst_h,
            g.dst_w,
            g.dst_ch,
            g.dst_ch
        );
        store_channels(w, g.dst, "plane");
        wgsl_line!(
            w, "}}
"
        );

        entry_point(w, g.name);
        wgsl_line!(
            w,
            "    // Uniform: the channel block and the weight offsets of its {CHANNEL_BLOCK} channels (clamped in the tail).
    let {} = wg.z * {CHANNEL_BLOCK}u;
    let {} = {} - 1u;
    let kk = params.kernel * params.kernel;
    let oc_stride = params.in_ch * kk;",
            g.ch,
            g.last,
            g.dst_ch
        );
        channel_offsets(w, g.ch, g.last, g.w_ch);
        wgsl_line!(
            w,
            "
    // Per lane: {n} pixels, clamped to the last one (computed, not stored).
    let q = (wg.x + wg.y * nwg.x) * PIXELS_PER_GROUP + lid;
    let last_q = params.batch * {} * {} - 1u;",
            g.dst_h,
            g.dst_w
        );
        for j in 0..n {
            wgsl_line!(w, "    let px{j} = pixel(min(q + {}u, last_q));", group * j);
        }
        wgsl_line!(
            w,
            "    let {} = {};
",
            g.plane,
            g.plane_expr
        );
        accumulators(w, (0..n).map(|j| j.to_string()));
        wgsl_line!(
            w,
            "    for (var kh = 0u; kh < params.kernel; kh++) {{
        for (var kw = 0u; kw < params.kernel; kw++) {{"
        );
        let ind = "            ";
        for j in 0..n {
            wgsl_line!(w, "{ind}let {t}{j} = {tap}(px{j}, kh, kw);");
        }
        for j in 0..n {
            wgsl_line!(w, "{ind}var i{j} = {t}{j}.x;");
        }
        for j in 0..n {
            wgsl_line!(w, "{ind}let m{j} = f32({t}{j}.y);");
        }
        wgsl_line!(w, "{ind}var wi = kh * params.kernel + kw;");
        wgsl_line!(
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
            wgsl_line!(w, "{ind}let {v}{j} = {}[i{j}] * m{j};", g.src);
        }
        for j in 0..n {
            block_fma(w, ind, j, "w", &format!("{v}{j}"));
        }
        wgsl_line!(w, "{ind}wi += {};", g.w_step);
        for j in 0..n {
            wgsl_line!(w, "{ind}i{j} += {};", g.plane);
        }
        wgsl_line!(
            w,
            "            }}
        }}
    }}
"
        );
        if g.forward {
            block_bias(w);
        }
        for j in 0..n {
            wgsl_line!(
                w,
                "    store(q + {}u, {}, {}, {});",
                group * j,
                g.ch,
                g.stored(&format!("lo{j}"), "lo"),
                g.stored(&format!("hi{j}"), "hi")
            );
        }
        wgsl_line!(w, "}}");
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
        wgsl_line!(
            w,
            "// {what} (offset `row`, {region} when `row_ok`), {otherwise}.
fn {}(row: u32, row_ok: bool, c: i32) -> f32 {{
    let ok = row_ok && c >= 0 && c < i32({});
    return select(0.0, 1.0, ok) * {}[row + select(0u, u32(c), ok)];
}}
",
            g.cell,
            g.src_w,
            g.src
        );
        let pixel = if g.forward { "pixel" } else { "input pixel" };
        wgsl_line!(
            w,
            "// Write the {CHANNEL_BLOCK} channels of the {pixel} at `base` (channel {}) when `valid`.
fn store_at(valid: bool, base: u32, {}: u32, lo: vec4<f32>, hi: vec4<f32>) {{
    if (!valid) {{ return; }}
    let plane = {} * {};
    let n = {} - {};",
            g.ch,
            g.ch,
            g.dst_h,
            g.dst_w,
            g.dst_ch,
            g.ch
        );
        store_channels(w, g.dst, "plane");
        wgsl_line!(
            w, "}}
"
        );
    }

    /// The opening of a stride-1 entry point: the lane's row run of `run` pixels (b, row, col0),
    /// the first column its window reads (c0) and its image in the read tensor.
    fn row_run(&self, w: &mut String, run: usize) {
        let g = self;
        wgsl_line!(
            w,
            "    let runs = ({} + {}u) / {run}u;
    let id = (wg.x + wg.y * nwg.x) * GROUP + lid;
    let last = params.batch * {} * runs - 1u;
    let run = min(id, last);
    let {} = (run % runs) * {run}u;
    let {} = (run / runs) % {};
    let b = run / (runs * {});",
            g.dst_w,
            run - 1,
            g.dst_h,
            g.col0,
            g.row,
            g.dst_h,
            g.dst_h
        );
        if g.forward {
            wgsl_line!(w, "    let c0 = i32(ow0) - i32(params.pad_left);");
        } else {
            // Pixel j reads dy column iw0 + j + pad_left - kw: kw = k - 1 first.
            wgsl_line!(
                w,
                "    let c0 = i32(iw0 + params.pad_left) - i32(params.kernel - 1u);"
            );
        }
        wgsl_line!(
            w,
            "    let {} = {};
    let img = b * {} * {};",
            g.plane,
            g.plane_expr,
            g.src_ch,
            g.plane
        );
    }

    /// The kernel-row loop's opening: the read tensor's row under kernel row kh.
    fn kernel_row(&self, w: &mut String) {
        let g = self;
        wgsl_line!(w, "    for (var kh = 0u; kh < params.kernel; kh++) {{");
        if g.forward {
            wgsl_line!(w, "        let r = i32(oh + kh) - i32(params.pad_top);");
        } else {
            wgsl_line!(w, "        let r = i32(ih + params.pad_top) - i32(kh);");
        }
        wgsl_line!(
            w,
            "        let row_ok = r >= 0 && r < i32({});
        var row = img + select(0u, u32(r) * {}, row_ok);",
            g.src_h,
            g.src_w
        );
    }

    /// `var {val}{j} = {cell}(..)` for the `n` cells under the run's first tap.
    fn load_run(&self, w: &mut String, n: usize) {
        for j in 0..n {
            wgsl_line!(
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
        wgsl_line!(
            w,
            "    let kk = params.kernel * params.kernel;
    // Uniform: the channel block and the weight offsets of its {CHANNEL_BLOCK} channels (clamped in the tail).
    let {} = wg.z * {CHANNEL_BLOCK}u;
    let {} = {} - 1u;
    let oc_stride = params.in_ch * kk;",
            g.ch,
            g.last,
            g.dst_ch
        );
        channel_offsets(w, g.ch, g.last, g.w_ch);
        wgsl_line!(w);
        let which = if g.forward { "output" } else { "input" };
        wgsl_line!(
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
        wgsl_line!(
            w,
            "        // Weight offset of ({sum_ch}, kh, kw = {kw0}).
        var wi = kh * params.kernel{tap0};"
        );
        wgsl_line!(
            w,
            "        for (var {s} = 0u; {s} < {}; {s}++) {{",
            g.src_ch,
            s = g.sum
        );
        g.load_run(w, n);
        wgsl_line!(w, "            for (var t = 0u; t < params.kernel; t++) {{");
        let ind = "                ";
        block_vectors(w, ind, "w", |j| format!("w[w{j} + wi {sign} t]"));
        for j in 0..n {
            block_fma(w, ind, j, "w", &format!("{}{j}", g.val));
        }
        let next = format!("{}(row, row_ok, c0 + {n} + i32(t))", g.cell);
        slide(w, ind, g.val, n, &next);
        wgsl_line!(
            w,
            "            }}
            row += {};
            wi += {};
        }}
    }}
",
            g.plane,
            g.w_step
        );
        if g.forward {
            block_bias(w);
        }
        wgsl_line!(
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
            wgsl_line!(
                w,
                "    store_at(id <= last && {} + {j}u < {}, base + {j}u, {}, {}, {});",
                g.col0,
                g.dst_w,
                g.ch,
                g.stored(&format!("lo{j}"), "lo"),
                g.stored(&format!("hi{j}"), "hi")
            );
        }
        wgsl_line!(w, "}}");
    }

    /// Stride 1, one channel per workgroup: `ROW_RUN_SINGLE` consecutive pixels of one row per
    /// invocation in scalar accumulators, sliding along kw.
    fn row_run_single(&self, w: &mut String) {
        let g = self;
        let n = ROW_RUN_SINGLE;
        entry_point(w, &format!("{}_s1_c1", g.name));
        wgsl_line!(
            w,
            "    let kk = params.kernel * params.kernel;
    let {} = wg.z;",
            g.ch
        );
        if !g.forward {
            wgsl_line!(w, "    let oc_stride = params.in_ch * kk;");
        }
        g.row_run(w, n);
        for j in 0..n {
            wgsl_line!(w, "    var a{j} = 0.0;");
        }
        g.kernel_row(w);
        if g.forward {
            wgsl_line!(
                w,
                "        // Weight index of (oc, ic, kh, kw = 0).
        var wi = oc * params.in_ch * kk + kh * params.kernel;"
            );
        } else {
            wgsl_line!(
                w,
                "        // Weight index of (oc, ic, kh, kw = k - 1).
        var wi = ic * kk + kh * params.kernel + params.kernel - 1u;"
            );
        }
        wgsl_line!(
            w,
            "        for (var {s} = 0u; {s} < {}; {s}++) {{",
            g.src_ch,
            s = g.sum
        );
        g.load_run(w, n);
        wgsl_line!(w, "            for (var t = 0u; t < params.kernel; t++) {{");
        let ind = "                ";
        let sign = if g.forward { "+" } else { "-" };
        wgsl_line!(w, "{ind}let wv = w[wi {sign} t];");
        for j in 0..n {
            wgsl_line!(w, "{ind}a{j} += wv * {}{j};", g.val);
        }
        let next = format!("{}(row, row_ok, c0 + {n} + i32(t))", g.cell);
        slide(w, ind, g.val, n, &next);
        wgsl_line!(
            w,
            "            }}
            row += {};
            wi += {};
        }}
    }}
",
            g.plane,
            g.w_step
        );
        if g.forward {
            wgsl_line!(w, "    let bv = bias[oc];");
        }
        wgsl_line!(
            w,
            "    let base = ((b * {} + {}) * {} + {}) * {} + {};
    if (id > last) {{ return; }}",
            g.dst_ch,
            g.ch,
            g.dst_h,
            g.row,
            g.dst_w,
            g.col0
        );
        for j in 0..n {
            // The forward pass adds the bias and applies the fused activation.
            let value = if g.forward {
                format!("act(a{j} + bv)")
            } else {
                format!("a{j}")
            };
            wgsl_line!(
                w,
                "    if ({} + {j}u < {}) {{ {}[base + {j}u] = {value}; }}",
                g.col0,
                g.dst_w,
                g.dst
            );
        }
        wgsl_line!(w, "}}");
    }
}

/// The header, params, `functions` (the forward pass's fused activation), bindings and constants
/// every forward or input-gradient source opens with.
fn gather_prelude(w: &mut String, header: &str, functions: &str, bindings: &[&str]) {
    w.push_str(header);
    wgsl_line!(w);
    w.push_str(&Conv2dParams::declare("Params"));
    w.push_str(functions);
    wgsl_line!(
        w,
        "
@group(0) @binding(0) var<uniform> params: Params;"
    );
    for b in bindings {
        wgsl_line!(w, "{b}");
    }
    wgsl_line!(
        w,
        "
const GROUP: u32 = {GROUP}u;"
    );
}

/// The WGSL of the blocked forward kernels (entry points `conv2d_forward`, `conv2d_forward_s1`,
/// `conv2d_forward_s1_c1`), with `act` applied to the outputs as they are stored.
pub fn forward_source(act: Option<Activation>) -> String {
    let (n, group) = (PIXELS_PER_LANE, GROUP as usize);
    let (cb, run, single) = (CHANNEL_BLOCK, ROW_RUN, ROW_RUN_SINGLE);
    let header = format!(
        "// 2-D convolution, forward (NCHW, cross-correlation as in Keras/PyTorch; generated by
// ops::conv2d::blocked::forward_source):
//   y[b, oc, oh, ow] = act(bias[oc] + sum_{{ic, kh, kw}} w[oc, ic, kh, kw]
//                                  * x[b, ic, oh*stride - pad_top + kh, ow*stride - pad_left + kw])
//   taps that fall outside the input read 0 (zero padding); act is the fused activation
//   (the identity when none is fused).
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
        &activation::fused_wgsl(act),
        &[
            "@group(0) @binding(1) var<storage, read> x: array<f32>;",
            "@group(0) @binding(2) var<storage, read> w: array<f32>;",
            "@group(0) @binding(3) var<storage, read> bias: array<f32>;",
            "@group(0) @binding(4) var<storage, read_write> y: array<f32>;",
        ],
    );
    wgsl_line!(
        w,
        "const PIXELS_PER_GROUP: u32 = {}u;
",
        n * group
    );
    FORWARD_GATHER.pixel_block(&mut w);
    wgsl_line!(
        w,
        "
// Stride 1 only: one invocation computes {cb} output channels x {run} consecutive output pixels of one
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
    wgsl_line!(
        w,
        "
// Stride 1, one output channel (workgroup z) per invocation: {single} consecutive pixels of one row,
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
        "",
        &[
            "@group(0) @binding(1) var<storage, read> dy: array<f32>;",
            "@group(0) @binding(2) var<storage, read> w: array<f32>;",
            "@group(0) @binding(3) var<storage, read_write> dx: array<f32>;",
        ],
    );
    wgsl_line!(
        w,
        "const PIXELS_PER_GROUP: u32 = {}u;
",
        n * group
    );
    INPUT_GATHER.pixel_block(&mut w);
    wgsl_line!(
        w,
        "
// Stride 1 only: one invocation computes {cb} input channels x {run} consecutive input pixels of one
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
    wgsl_line!(
        w,
        "
// Stride 1, one input channel (workgroup z) per invocation: {single} consecutive pixels of one row,
// sliding along kw as above; per (kh, oc) {single} + k cell loads and k weight loads for {single}*k
// multiply-adds. Used when there are at most {} input channels.",
        SINGLE_CHANNEL_MAX
    );
    INPUT_GATHER.row_run_single(&mut w);
    w
}
