//! The simplest correct GPU conv2d: one output element per invocation, no blocking. Kept as the
//! baseline `latentviz bench` measures the other kernel families against.

use std::sync::LazyLock;

use wgpu::Buffer;

use super::{Conv2dParams, Conv2dShape};
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::launch;
use crate::wgsl::WgslStruct;

pub(crate) static NAIVE_FORWARD: LazyLock<String> =
    LazyLock::new(|| Conv2dParams::as_params_of(include_str!("naive_forward.wgsl")));
pub(crate) static NAIVE_BACKWARD_INPUT: LazyLock<String> =
    LazyLock::new(|| Conv2dParams::as_params_of(include_str!("naive_backward_input.wgsl")));
pub(crate) static NAIVE_BACKWARD_WEIGHT: LazyLock<String> =
    LazyLock::new(|| Conv2dParams::as_params_of(include_str!("naive_backward_weight.wgsl")));

/// y = conv(x, w) + b.
pub fn forward(
    gpu: &Gpu,
    s: &Conv2dShape,
    x: &Buffer,
    w: &Buffer,
    b: &Buffer,
    y: &Buffer,
) -> Result<Dispatch> {
    let groups = workgroups_for(s.output_len(), 64);
    launch(
        gpu,
        "conv2d_naive",
        &NAIVE_FORWARD,
        "conv2d_naive_forward",
        &s.params(1, s.batch),
        &[x, w, b, y],
        groups,
    )
}

/// dx, the input gradient, given dy.
pub fn backward_input(
    gpu: &Gpu,
    s: &Conv2dShape,
    dy: &Buffer,
    w: &Buffer,
    dx: &Buffer,
) -> Result<Dispatch> {
    let groups = workgroups_for(s.input_len(), 64);
    launch(
        gpu,
        "conv2d_naive_backward_input",
        &NAIVE_BACKWARD_INPUT,
        "conv2d_naive_backward_input",
        &s.params(1, s.batch),
        &[dy, w, dx],
        groups,
    )
}

/// dw, the weight gradient, given x and dy.
pub fn backward_weight(
    gpu: &Gpu,
    s: &Conv2dShape,
    x: &Buffer,
    dy: &Buffer,
    dw: &Buffer,
) -> Result<Dispatch> {
    let groups = workgroups_for(s.weight_len(), 64);
    launch(
        gpu,
        "conv2d_naive_backward_weight",
        &NAIVE_BACKWARD_WEIGHT,
        "conv2d_naive_backward_weight",
        &s.params(1, s.batch),
        &[x, dy, dw],
        groups,
    )
}
