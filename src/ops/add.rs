//! Elementwise add, for gradient fan-in (a tensor read by two layers gets the sum of both
//! gradients): out = a + b.

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use super::{check_len, launch};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::wgsl::WgslStruct;
use crate::wgsl_struct;

static FORWARD: LazyLock<String> =
    LazyLock::new(|| AddParams::as_params_of(include_str!("add_forward.wgsl")));
const GROUP: u32 = 256;
const PER_INVOCATION: usize = 4;

wgsl_struct! {
    /// `Params` in add_forward.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct AddParams {
        pub len: u32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

/// out = a + b over `len` elements. `out` must be a different buffer from `a` and `b` (wgpu
/// does not let one buffer be bound read-only and writable in the same dispatch).
pub fn forward(
    gpu: &Gpu,
    len: usize,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Result<Dispatch> {
    let op = "add_forward";
    if len > u32::MAX as usize {
        return Err(Error::shape(
            op,
            format!("{len} elements do not fit u32 indices"),
        ));
    }
    if out == a || out == b {
        return Err(Error::InvalidArgument(
            "add_forward: out must not be one of its inputs".into(),
        ));
    }
    for (name, buf) in [("a", a), ("b", b), ("out", out)] {
        check_len(op, name, buf, len)?;
    }
    let params = AddParams {
        len: len as u32,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    let groups = workgroups_for(len.div_ceil(PER_INVOCATION), GROUP);
    Ok(launch(gpu, op, &FORWARD, op, &params, &[a, b, out], groups)?.with_flops(len as f64))
}

/// This module's kernels as the GPU gets them, by file (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![("src/ops/add_forward.wgsl", FORWARD.to_string())]
}

/// Plain-loop reference, named as in the WGSL.
pub mod cpu {
    pub fn add_forward(a: &[f32], b: &[f32]) -> Vec<f32> {
        a.iter().zip(b).map(|(x, y)| x + y).collect()
    }
}
