//! The register-blocked direct kernels, which run every pass of every shape on every adapter:
//! their generator and their launchers.
//!
//! Each invocation keeps a block of channels (taken from the workgroup id, so weight offsets are
//! uniform) in named vec4 accumulators over a block of pixels or weight columns, so every loaded
//! value feeds many multiply-adds: loads, not arithmetic, bound these kernels on a CPU driver.
//! Stride 1 gets kernels that walk a run of one row and slide along kw (one new load per tap);
//! layers with at most `SINGLE_CHANNEL_MAX` channels on the blocked side get one-channel twins
//! instead of a mostly clamped block. The weight gradient is a gather of partial sums over
//! chunks of the batch, then a reduce; no atomics.
//!
//! The WGSL is unrolled into named variables; the generators ([`gather`]: the forward pass and
//! the input gradient, [`backward_weight`]) write it with loops over the block sizes, which are the
//! constants here (used by the launchers too), and the helpers below.

use std::sync::LazyLock;

use wgpu::Buffer;

mod backward_weight;
mod gather;

use super::{Conv2dParams, Conv2dShape};
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::activation::Activation;
use crate::ops::launch;
use crate::wgsl_line;
pub use backward_weight::backward_weight_source;
pub use gather::{backward_input_source, forward_source};

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

/// y = act(conv(x, w) + b); `buffers` are x, w, b, y.
pub(super) fn forward(
    gpu: &Gpu,
    op: &str,
    s: &Conv2dShape,
    act: Option<Activation>,
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
    launch(
        gpu,
        op,
        &forward_source(act),
        entry,
        params,
        buffers,
        groups,
    )
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
    wgsl_line!(
        w,
        "@compute @workgroup_size({GROUP})
fn {name}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {{"
    );
}

/// Declares the lo/hi accumulators of each suffix.
fn accumulators(w: &mut String, suffixes: impl IntoIterator<Item = String>) {
    for i in suffixes {
        for h in HALVES {
            wgsl_line!(w, "    var {h}{i} = vec4<f32>(0.0);");
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
        wgsl_line!(w, "{indent}{h}{acc} += {operand}{h} * {value};");
    }
}

/// `let {name}lo = vec4<f32>(..); let {name}hi = ..;` from the block's `CHANNEL_BLOCK` scalar
/// expressions `f(0..8)`.
fn block_vectors(w: &mut String, indent: &str, name: &str, f: impl Fn(usize) -> String) {
    for (i, h) in HALVES.iter().enumerate() {
        let parts: Vec<String> = (4 * i..4 * i + 4).map(&f).collect();
        wgsl_line!(
            w,
            "{indent}let {name}{h} = vec4<f32>({});",
            parts.join(", ")
        );
    }
}

/// Writes the block's channels `lo`, `hi` to `dst[base + c * stride]` for the `n` channels left
/// (`n >= 1`).
fn store_channels(w: &mut String, dst: &str, stride: &str) {
    wgsl_line!(w, "    {dst}[base] = lo.x;");
    for c in 1..CHANNEL_BLOCK {
        let (h, comp) = (HALVES[c / 4], COMPONENTS[c % 4]);
        wgsl_line!(
            w,
            "    if (n > {c}u) {{ {dst}[base + {c}u * {stride}] = {h}.{comp}; }}"
        );
    }
}

/// `let w{j} = min({ch} + {j}u, {last}) * {stride};`: the weight offsets of the block's channels,
/// clamped in the tail.
fn channel_offsets(w: &mut String, ch: &str, last: &str, stride: &str) {
    for j in 0..CHANNEL_BLOCK {
        wgsl_line!(w, "    let w{j} = min({ch} + {j}u, {last}) * {stride};");
    }
}

/// Shifts the window `{v}0..{v}{n}` one cell left and loads `{v}{n - 1}` with `next`.
fn slide(w: &mut String, indent: &str, v: &str, n: usize, next: &str) {
    wgsl_line!(w, "{indent}// Slide one cell right.");
    for j in 0..n - 1 {
        wgsl_line!(w, "{indent}{v}{j} = {v}{};", j + 1);
    }
    wgsl_line!(w, "{indent}{v}{} = {next};", n - 1);
}
