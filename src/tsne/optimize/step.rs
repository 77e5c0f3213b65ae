//! The update step: gains, momentum and the capped step, y moved in place.

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::{check_len, launch};
use crate::tsne::gradient::check_dims;
use crate::tsne::with_dims;
use crate::wgsl::WgslStruct;
use crate::wgsl_struct;

use super::{MIN_GAIN, Step};

pub(super) static UPDATE: LazyLock<String> =
    LazyLock::new(|| UpdateParams::as_params_of(include_str!("update.wgsl")));
pub(super) static UPDATE_2D: LazyLock<String> =
    LazyLock::new(|| UpdateParams::as_params_of(include_str!("update_2d.wgsl")));

wgsl_struct! {
    /// `Params` in update.wgsl and update_2d.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct UpdateParams {
        pub values: u32,
        pub exaggeration: f32,
        pub momentum: f32,
        pub learning_rate: f32,
        pub min_gain: f32,
        pub max_step: f32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

/// The buffers one gradient step reads and writes (all n × dims except `rep`, n × (dims + 1)).
pub struct StepBuffers<'a> {
    pub y: &'a wgpu::Buffer,
    pub attr: &'a wgpu::Buffer,
    pub rep: &'a wgpu::Buffer,
    pub scalars: &'a wgpu::Buffer,
    pub gains: &'a wgpu::Buffer,
    pub update: &'a wgpu::Buffer,
}

/// One gradient step with gains and momentum (Z read from scalars[0]), each point's update capped
/// at `step.max_step`, y updated in place; one point per invocation.
pub fn update_step(
    gpu: &Gpu,
    b: &StepBuffers,
    n: usize,
    dims: usize,
    step: Step,
) -> Result<Dispatch> {
    check_dims(dims)?;
    let values = n * dims;
    for (name, buf) in [
        ("y", b.y),
        ("attr", b.attr),
        ("gains", b.gains),
        ("update", b.update),
    ] {
        check_len("tsne update", name, buf, values)?;
    }
    check_len("tsne update", "rep", b.rep, n * (dims + 1))?;
    check_len("tsne update", "scalars", b.scalars, 1)?;
    if step.max_step.is_nan() || step.max_step <= 0.0 {
        return Err(Error::InvalidArgument(format!(
            "the longest step must be positive, not {}",
            step.max_step
        )));
    }
    let params = UpdateParams {
        values: values as u32,
        exaggeration: step.exaggeration,
        momentum: step.momentum,
        learning_rate: step.learning_rate,
        min_gain: MIN_GAIN,
        max_step: step.max_step.min(f32::MAX),
        _pad1: 0,
        _pad2: 0,
    };
    let buffers = [b.y, b.attr, b.rep, b.scalars, b.gains, b.update];
    if dims == 2 {
        // One point per invocation (see update_2d.wgsl).
        return launch(
            gpu,
            "tsne update 2d",
            &UPDATE_2D,
            "update_step_2d",
            &params,
            &buffers,
            workgroups_for(n, 256),
        );
    }
    launch(
        gpu,
        &format!("tsne update {dims}d"),
        &with_dims(&UPDATE, dims),
        "update_step",
        &params,
        &buffers,
        workgroups_for(n, 256),
    )
}
