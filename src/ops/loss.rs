//! Losses, averaged over all elements: binary cross-entropy from logits (the model's last sigmoid
//! fused into the loss) and mean squared error.
//!
//! The forward pass is a two-stage reduction without atomics: loss_forward.wgsl writes one partial
//! sum per workgroup, loss_reduce.wgsl sums them and ADDS the batch mean to a running sum
//! `acc[0]` (and 1 to the batch count `acc[1]`), so a training loop can record the step once, run
//! it many times, and read `acc` only every k steps (zeroing it with a write after the read).

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use super::{check_len, launch};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::wgsl::WgslStruct;
use crate::wgsl_struct;

static FORWARD: LazyLock<String> =
    LazyLock::new(|| LossParams::as_params_of_group(include_str!("loss_forward.wgsl"), GROUP));
static REDUCE: LazyLock<String> =
    LazyLock::new(|| LossParams::as_params_of_group(include_str!("loss_reduce.wgsl"), GROUP));
static BACKWARD: LazyLock<String> =
    LazyLock::new(|| LossParams::as_params_of(include_str!("loss_backward.wgsl")));
const GROUP: u32 = 256;
/// Elements each forward invocation sums at least before the grid is widened.
const PER_INVOCATION: usize = 8;
/// Most workgroups (partial sums) of the first stage; larger inputs loop with a grid stride.
const MAX_PARTIALS: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// Binary cross-entropy of sigmoid(z) against t, computed from the logits z.
    BceWithLogits,
    /// (p - t)^2 on the output p.
    Mse,
}

impl LossKind {
    fn name(self) -> &'static str {
        match self {
            LossKind::BceWithLogits => "bce",
            LossKind::Mse => "mse",
        }
    }
}

wgsl_struct! {
    /// `Params` in loss_forward.wgsl, loss_reduce.wgsl and loss_backward.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct LossParams {
        pub len: u32,
        /// Workgroups of the first forward stage (= partial sums).
        pub partials: u32,
        /// 1 / len, the factor that turns a sum into the mean.
        pub inv_len: f32,
        pub _pad0: u32,
    }
}

fn params(len: usize) -> LossParams {
    LossParams {
        len: len as u32,
        partials: len
            .div_ceil(GROUP as usize * PER_INVOCATION)
            .clamp(1, MAX_PARTIALS) as u32,
        inv_len: (1.0 / len as f64) as f32,
        _pad0: 0,
    }
}

fn check(op: &str, len: usize, prediction: &wgpu::Buffer, target: &wgpu::Buffer) -> Result<()> {
    if len == 0 || len > u32::MAX as usize {
        return Err(Error::shape(
            op,
            format!("length must be in 1..2^32, got {len}"),
        ));
    }
    check_len(op, "prediction", prediction, len)?;
    check_len(op, "target", target, len)
}

/// acc[0] += mean loss over `len` elements; acc[1] += 1. Two dispatches, to be recorded in order.
/// The partial-sums buffer is allocated here and kept alive by the first dispatch's bind group.
pub fn forward(
    gpu: &Gpu,
    kind: LossKind,
    len: usize,
    prediction: &wgpu::Buffer,
    target: &wgpu::Buffer,
    acc: &wgpu::Buffer,
) -> Result<Vec<Dispatch>> {
    let op = format!("{}_forward", kind.name());
    check(&op, len, prediction, target)?;
    check_len(&op, "acc", acc, 2)?;
    let p = params(len);
    let partial = gpu.storage(&format!("{op} partial sums"), p.partials as usize);
    let stage1 = launch(
        gpu,
        &op,
        &FORWARD,
        &op,
        &p,
        &[prediction, target, &partial],
        [p.partials, 1, 1],
    )?;
    let stage2 = launch(
        gpu,
        "loss_reduce",
        &REDUCE,
        "loss_reduce",
        &p,
        &[&partial, acc],
        [1, 1, 1],
    )?;
    Ok(vec![stage1, stage2])
}

/// grad = d(mean loss) / d(prediction), written.
pub fn backward(
    gpu: &Gpu,
    kind: LossKind,
    len: usize,
    prediction: &wgpu::Buffer,
    target: &wgpu::Buffer,
    grad: &wgpu::Buffer,
) -> Result<Dispatch> {
    let op = format!("{}_backward", kind.name());
    check(&op, len, prediction, target)?;
    check_len(&op, "grad", grad, len)?;
    let groups = workgroups_for(len, GROUP);
    launch(
        gpu,
        &op,
        &BACKWARD,
        &op,
        &params(len),
        &[prediction, target, grad],
        groups,
    )
}

/// This module's kernels as the GPU gets them, by file (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("src/ops/loss_forward.wgsl", FORWARD.to_string()),
        ("src/ops/loss_reduce.wgsl", REDUCE.to_string()),
        ("src/ops/loss_backward.wgsl", BACKWARD.to_string()),
    ]
}

/// Plain-loop references in f64, named as in the WGSL.
pub mod cpu {
    use super::LossKind;

    /// The loss of one element, in f64.
    pub fn loss_f64(kind: LossKind, prediction: f64, target: f64) -> f64 {
        match kind {
            LossKind::BceWithLogits => {
                let z = prediction;
                z.max(0.0) - z * target + (-z.abs()).exp().ln_1p()
            }
            LossKind::Mse => (prediction - target).powi(2),
        }
    }

    /// Mean loss over all elements.
    pub fn loss_forward(kind: LossKind, prediction: &[f32], target: &[f32]) -> f64 {
        let sum: f64 = prediction
            .iter()
            .zip(target)
            .map(|(&p, &t)| loss_f64(kind, p as f64, t as f64))
            .sum();
        sum / prediction.len() as f64
    }

    /// d(mean loss) / d(prediction).
    pub fn loss_backward(kind: LossKind, prediction: &[f32], target: &[f32]) -> Vec<f32> {
        let inv_len = 1.0 / prediction.len() as f64;
        prediction
            .iter()
            .zip(target)
            .map(|(&p, &t)| {
                let (p, t) = (p as f64, t as f64);
                let g = match kind {
                    LossKind::BceWithLogits => 1.0 / (1.0 + (-p).exp()) - t,
                    LossKind::Mse => 2.0 * (p - t),
                };
                (g * inv_len) as f32
            })
            .collect()
    }
}
