//! Dense (fully connected) layer in Keras layout: y[B,out] = x[B,in] W[in,out] + b[out].
//!
//! Forward and the two matrix gradients are products run by the register-blocked matmul:
//!   forward          y  = x W + b      matmul(m=B,   n=out, k=in)
//!   backward_input   dx = dy W^T       matmul(m=B,   n=in,  k=out, transpose_b)
//!   backward_weight  dW = x^T dy       matmul(m=in,  n=out, k=B,   transpose_a)
//! and the bias gradient db[j] = sum_b dy[b, j] is a column-sum gather (dense_backward_bias.wgsl).
//! Every gradient is WRITTEN, not accumulated.

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use super::matmul::{self, MatmulShape};
use super::{check_len, launch};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::wgsl::WgslStruct;
use crate::wgsl_struct;

static BACKWARD_BIAS: LazyLock<String> =
    LazyLock::new(|| DenseParams::as_params_of(include_str!("dense_backward_bias.wgsl")));
const GROUP: u32 = 64;

/// The sizes of one dense layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseShape {
    pub batch: usize,
    pub inputs: usize,
    pub outputs: usize,
}

impl DenseShape {
    pub fn x_len(&self) -> usize {
        self.batch * self.inputs
    }
    pub fn y_len(&self) -> usize {
        self.batch * self.outputs
    }
    pub fn w_len(&self) -> usize {
        self.inputs * self.outputs
    }
    pub fn b_len(&self) -> usize {
        self.outputs
    }
    /// Flops of the forward pass (a multiply-add counts two; the bias is not counted).
    pub fn flops(&self) -> f64 {
        2.0 * self.batch as f64 * self.inputs as f64 * self.outputs as f64
    }

    fn check(&self, op: &str) -> Result<()> {
        if self.batch == 0 || self.inputs == 0 || self.outputs == 0 {
            return Err(Error::shape(
                op,
                format!("every size must be positive, got {self:?}"),
            ));
        }
        Ok(())
    }

    fn forward_product(&self) -> MatmulShape {
        MatmulShape::new(self.batch, self.outputs, self.inputs)
    }
    fn input_product(&self) -> MatmulShape {
        MatmulShape {
            transpose_b: true,
            ..MatmulShape::new(self.batch, self.inputs, self.outputs)
        }
    }
    fn weight_product(&self) -> MatmulShape {
        MatmulShape {
            transpose_a: true,
            ..MatmulShape::new(self.inputs, self.outputs, self.batch)
        }
    }
}

wgsl_struct! {
    /// `Params` in dense_backward_bias.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct DenseParams {
        pub batch: u32,
        pub inputs: u32,
        pub outputs: u32,
        pub _pad0: u32,
    }
}

/// Check every (name, buffer, values needed), so errors name the layer's own tensors.
fn check_all(op: &str, buffers: &[(&str, &wgpu::Buffer, usize)]) -> Result<()> {
    for &(name, buffer, len) in buffers {
        check_len(op, name, buffer, len)?;
    }
    Ok(())
}

/// y = x W + b.
pub fn forward(
    gpu: &Gpu,
    s: &DenseShape,
    x: &wgpu::Buffer,
    w: &wgpu::Buffer,
    b: &wgpu::Buffer,
    y: &wgpu::Buffer,
) -> Result<Vec<Dispatch>> {
    let op = "dense forward";
    s.check(op)?;
    check_all(
        op,
        &[
            ("x", x, s.x_len()),
            ("w", w, s.w_len()),
            ("b", b, s.b_len()),
            ("y", y, s.y_len()),
        ],
    )?;
    Ok(vec![matmul::forward(
        gpu,
        &s.forward_product(),
        x,
        w,
        Some(b),
        y,
    )?])
}

/// dx = dy W^T.
pub fn backward_input(
    gpu: &Gpu,
    s: &DenseShape,
    dy: &wgpu::Buffer,
    w: &wgpu::Buffer,
    dx: &wgpu::Buffer,
) -> Result<Vec<Dispatch>> {
    let op = "dense backward_input";
    s.check(op)?;
    check_all(
        op,
        &[
            ("dy", dy, s.y_len()),
            ("w", w, s.w_len()),
            ("dx", dx, s.x_len()),
        ],
    )?;
    Ok(vec![matmul::forward(
        gpu,
        &s.input_product(),
        dy,
        w,
        None,
        dx,
    )?])
}

/// dW = x^T dy.
pub fn backward_weight(
    gpu: &Gpu,
    s: &DenseShape,
    x: &wgpu::Buffer,
    dy: &wgpu::Buffer,
    dw: &wgpu::Buffer,
) -> Result<Vec<Dispatch>> {
    let op = "dense backward_weight";
    s.check(op)?;
    check_all(
        op,
        &[
            ("x", x, s.x_len()),
            ("dy", dy, s.y_len()),
            ("dw", dw, s.w_len()),
        ],
    )?;
    Ok(vec![matmul::forward(
        gpu,
        &s.weight_product(),
        x,
        dy,
        None,
        dw,
    )?])
}

/// db[j] = sum over the batch of dy[b, j].
pub fn backward_bias(
    gpu: &Gpu,
    s: &DenseShape,
    dy: &wgpu::Buffer,
    db: &wgpu::Buffer,
) -> Result<Vec<Dispatch>> {
    let op = "dense_backward_bias";
    s.check(op)?;
    check_len(op, "dy", dy, s.y_len())?;
    check_len(op, "db", db, s.b_len())?;
    let params = DenseParams {
        batch: s.batch as u32,
        inputs: s.inputs as u32,
        outputs: s.outputs as u32,
        _pad0: 0,
    };
    let groups = workgroups_for(s.outputs, GROUP);
    let d = launch(gpu, op, &BACKWARD_BIAS, op, &params, &[dy, db], groups)?;
    Ok(vec![d.with_flops(s.y_len() as f64)])
}

/// This module's kernels as the GPU gets them, by file (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![(
        "src/ops/dense_backward_bias.wgsl",
        BACKWARD_BIAS.to_string(),
    )]
}

/// Plain-loop references, named as in the WGSL.
pub mod cpu {
    use super::DenseShape;

    /// y[b, j] = sum_i x[b, i] W[i, j] + bias[j].
    pub fn dense_forward(s: &DenseShape, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
        let mut y = vec![0.0f32; s.y_len()];
        for b in 0..s.batch {
            for j in 0..s.outputs {
                let mut sum = 0.0f32;
                for i in 0..s.inputs {
                    sum += x[b * s.inputs + i] * w[i * s.outputs + j];
                }
                y[b * s.outputs + j] = sum + bias[j];
            }
        }
        y
    }

    /// dx[b, i] = sum_j dy[b, j] W[i, j].
    pub fn dense_backward_input(s: &DenseShape, dy: &[f32], w: &[f32]) -> Vec<f32> {
        let mut dx = vec![0.0f32; s.x_len()];
        for b in 0..s.batch {
            for i in 0..s.inputs {
                let mut sum = 0.0f32;
                for j in 0..s.outputs {
                    sum += dy[b * s.outputs + j] * w[i * s.outputs + j];
                }
                dx[b * s.inputs + i] = sum;
            }
        }
        dx
    }

    /// dW[i, j] = sum_b x[b, i] dy[b, j].
    pub fn dense_backward_weight(s: &DenseShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
        let mut dw = vec![0.0f32; s.w_len()];
        for i in 0..s.inputs {
            for j in 0..s.outputs {
                let mut sum = 0.0f32;
                for b in 0..s.batch {
                    sum += x[b * s.inputs + i] * dy[b * s.outputs + j];
                }
                dw[i * s.outputs + j] = sum;
            }
        }
        dw
    }

    /// db[j] = sum_b dy[b, j].
    pub fn dense_backward_bias(s: &DenseShape, dy: &[f32]) -> Vec<f32> {
        let mut db = vec![0.0f32; s.b_len()];
        for b in 0..s.batch {
            for j in 0..s.outputs {
                db[j] += dy[b * s.outputs + j];
            }
        }
        db
    }
}
