//! Max-pooling 2x2, stride 2, with Keras 'same' rounding for odd sizes (out = ceil(in / 2), the
//! missing cells of edge windows ignored): forward with an argmax per output, backward as a
//! gather over the input.

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};
use wgpu::Buffer;

use super::{check_indexable, check_len, launch};
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::wgsl::WgslStruct;
use crate::wgsl_struct;

static FORWARD: LazyLock<String> =
    LazyLock::new(|| PoolParams::as_params_of_group(include_str!("maxpool_forward.wgsl"), GROUP));
static BACKWARD: LazyLock<String> =
    LazyLock::new(|| PoolParams::as_params_of_group(include_str!("maxpool_backward.wgsl"), GROUP));
const GROUP: u32 = 256;

/// Input shape, NCHW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolShape {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

wgsl_struct! {
    /// `Params` in maxpool_*.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct PoolParams {
        pub planes: u32,
        pub height: u32,
        pub width: u32,
        pub out_h: u32,
        pub out_w: u32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

impl PoolShape {
    /// (ceil(height / 2), ceil(width / 2)).
    pub fn out_hw(&self) -> (usize, usize) {
        (self.height.div_ceil(2), self.width.div_ceil(2))
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.channels * self.height * self.width
    }

    pub fn output_len(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.batch * self.channels * oh * ow
    }

    /// Every size positive and every index within u32.
    pub fn validate(&self) -> Result<()> {
        check_indexable("maxpool", self, self.input_len(), self.input_len())
    }

    fn params(&self) -> PoolParams {
        let (out_h, out_w) = self.out_hw();
        PoolParams {
            planes: (self.batch * self.channels) as u32,
            height: self.height as u32,
            width: self.width as u32,
            out_h: out_h as u32,
            out_w: out_w as u32,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        }
    }
}

/// y = the maximum of each 2x2 window, argmax = the flat input index (u32) it came from.
pub fn forward(
    gpu: &Gpu,
    s: &PoolShape,
    x: &Buffer,
    y: &Buffer,
    argmax: &Buffer,
) -> Result<Dispatch> {
    let op = "maxpool forward";
    s.validate()?;
    check_len(op, "x", x, s.input_len())?;
    check_len(op, "y", y, s.output_len())?;
    check_len(op, "argmax", argmax, s.output_len())?;
    let groups = workgroups_for(s.output_len(), GROUP);
    launch(
        gpu,
        op,
        &FORWARD,
        "maxpool_forward",
        &s.params(),
        &[x, y, argmax],
        groups,
    )
}

/// dx = dy routed to each window's argmax, 0 elsewhere (overwrites dx).
pub fn backward(
    gpu: &Gpu,
    s: &PoolShape,
    argmax: &Buffer,
    dy: &Buffer,
    dx: &Buffer,
) -> Result<Dispatch> {
    let op = "maxpool backward";
    s.validate()?;
    check_len(op, "argmax", argmax, s.output_len())?;
    check_len(op, "dy", dy, s.output_len())?;
    check_len(op, "dx", dx, s.input_len())?;
    let groups = workgroups_for(s.input_len(), GROUP);
    launch(
        gpu,
        op,
        &BACKWARD,
        "maxpool_backward",
        &s.params(),
        &[argmax, dy, dx],
        groups,
    )
}

/// This module's kernels as the GPU gets them, by file (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("src/ops/maxpool_forward.wgsl", FORWARD.to_string()),
        ("src/ops/maxpool_backward.wgsl", BACKWARD.to_string()),
    ]
}

/// Plain-loop references, named as in the WGSL.
pub mod cpu {
    use super::PoolShape;

    /// (y, argmax): the first maximum in window order (top-left, top-right, bottom-left,
    /// bottom-right), cells past the input edge skipped.
    pub fn maxpool_forward(s: &PoolShape, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
        let (oh_n, ow_n) = s.out_hw();
        let mut y = Vec::with_capacity(s.output_len());
        let mut argmax = Vec::with_capacity(s.output_len());
        for plane in 0..s.batch * s.channels {
            for oh in 0..oh_n {
                for ow in 0..ow_n {
                    let mut best = f32::NEG_INFINITY;
                    let mut arg = usize::MAX;
                    for ih in 2 * oh..(2 * oh + 2).min(s.height) {
                        for iw in 2 * ow..(2 * ow + 2).min(s.width) {
                            let i = (plane * s.height + ih) * s.width + iw;
                            if arg == usize::MAX || x[i] > best {
                                best = x[i];
                                arg = i;
                            }
                        }
                    }
                    y.push(best);
                    argmax.push(arg as u32);
                }
            }
        }
        (y, argmax)
    }

    pub fn maxpool_backward(s: &PoolShape, argmax: &[u32], dy: &[f32]) -> Vec<f32> {
        let mut dx = vec![0.0; s.input_len()];
        for (o, &i) in argmax.iter().enumerate().take(s.output_len()) {
            dx[i as usize] += dy[o];
        }
        dx
    }
}
