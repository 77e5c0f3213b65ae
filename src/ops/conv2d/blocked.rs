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

use wgpu::Buffer;

use super::{Conv2dParams, Conv2dShape};
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::launch;

/// Workgroup size of every conv2d kernel with one-dimensional workgroups.
pub(super) const GROUP: u32 = 64;
/// Channels per workgroup of every blocked kernel (8: two vec4 accumulators per pixel).
pub(super) const CHANNEL_BLOCK: usize = 8;
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

const FORWARD: &str = include_str!("../../../shaders/conv2d_forward.wgsl");
const BACKWARD_INPUT: &str = include_str!("../../../shaders/conv2d_backward_input.wgsl");
/// The blocked weight-gradient kernels and the reduce every family's weight gradient ends with.
pub(super) const BACKWARD_WEIGHT: &str =
    include_str!("../../../shaders/conv2d_backward_weight.wgsl");

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
    launch(gpu, op, FORWARD, entry, params, buffers, groups)
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
    launch(gpu, op, BACKWARD_INPUT, entry, params, buffers, groups)
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
        BACKWARD_WEIGHT,
        entry,
        params,
        buffers,
        [gx, gy, z as u32],
    )
}
