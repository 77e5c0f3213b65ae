//! Nearest-neighbour upsampling by 2 (each input cell becomes a 2x2 block): forward, and the
//! backward gather that sums each block's four gradients.

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};
use wgpu::Buffer;

use super::{check_indexable, check_len, launch};
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::wgsl::WgslStruct;
use crate::wgsl_struct;

static FORWARD: LazyLock<String> = LazyLock::new(|| {
    UpsampleParams::as_params_of_group(include_str!("upsample_forward.wgsl"), GROUP)
});
static BACKWARD: LazyLock<String> = LazyLock::new(|| {
    UpsampleParams::as_params_of_group(include_str!("upsample_backward.wgsl"), GROUP)
});
const GROUP: u32 = 256;

/// Input shape, NCHW; the output is batch x channels x 2*height x 2*width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpsampleShape {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

wgsl_struct! {
    /// `Params` in upsample_*.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct UpsampleParams {
        pub planes: u32,
        pub height: u32,
        pub width: u32,
        pub _pad0: u32,
    }
}

impl UpsampleShape {
    /// (2 * height, 2 * width).
    pub fn out_hw(&self) -> (usize, usize) {
        (2 * self.height, 2 * self.width)
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.channels * self.height * self.width
    }

    pub fn output_len(&self) -> usize {
        4 * self.input_len()
    }

    /// Every size positive and every index within u32.
    pub fn validate(&self) -> Result<()> {
        check_indexable("upsample", self, self.input_len(), self.output_len())
    }

    fn params(&self) -> UpsampleParams {
        UpsampleParams {
            planes: (self.batch * self.channels) as u32,
            height: self.height as u32,
            width: self.width as u32,
            _pad0: 0,
        }
    }
}

/// y[b, c, oh, ow] = x[b, c, oh / 2, ow / 2].
pub fn forward(gpu: &Gpu, s: &UpsampleShape, x: &Buffer, y: &Buffer) -> Result<Dispatch> {
    let op = "upsample forward";
    s.validate()?;
    check_len(op, "x", x, s.input_len())?;
    check_len(op, "y", y, s.output_len())?;
    let groups = workgroups_for(s.output_len(), GROUP);
    launch(
        gpu,
        op,
        &FORWARD,
        "upsample_forward",
        &s.params(),
        &[x, y],
        groups,
    )
}

/// dx = the sum of dy over each 2x2 block (overwrites dx).
pub fn backward(gpu: &Gpu, s: &UpsampleShape, dy: &Buffer, dx: &Buffer) -> Result<Dispatch> {
    let op = "upsample backward";
    s.validate()?;
    check_len(op, "dy", dy, s.output_len())?;
    check_len(op, "dx", dx, s.input_len())?;
    let groups = workgroups_for(s.input_len(), GROUP);
    launch(
        gpu,
        op,
        &BACKWARD,
        "upsample_backward",
        &s.params(),
        &[dy, dx],
        groups,
    )
}

/// This module's kernels as the GPU gets them, by file (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("src/ops/upsample_forward.wgsl", FORWARD.to_string()),
        ("src/ops/upsample_backward.wgsl", BACKWARD.to_string()),
    ]
}

/// Plain-loop references, named as in the WGSL.
pub mod cpu {
    use super::UpsampleShape;

    pub fn upsample_forward(s: &UpsampleShape, x: &[f32]) -> Vec<f32> {
        let (oh_n, ow_n) = s.out_hw();
        let mut y = Vec::with_capacity(s.output_len());
        for plane in 0..s.batch * s.channels {
            for oh in 0..oh_n {
                for ow in 0..ow_n {
                    y.push(x[(plane * s.height + oh / 2) * s.width + ow / 2]);
                }
            }
        }
        y
    }

    /// A scatter here (each output adds into its source); a gather of 4 on the GPU.
    pub fn upsample_backward(s: &UpsampleShape, dy: &[f32]) -> Vec<f32> {
        let (oh_n, ow_n) = s.out_hw();
        let mut dx = vec![0.0; s.input_len()];
        for plane in 0..s.batch * s.channels {
            for oh in 0..oh_n {
                for ow in 0..ow_n {
                    let o = (plane * oh_n + oh) * ow_n + ow;
                    dx[(plane * s.height + oh / 2) * s.width + ow / 2] += dy[o];
                }
            }
        }
        dx
    }
}
