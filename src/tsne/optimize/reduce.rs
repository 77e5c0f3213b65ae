//! Deterministic sums on the GPU (Z, the mean, the KL) and recentring.

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::{check_len, launch};
use crate::tsne::gradient::check_dims;
use crate::tsne::with_dims;
use crate::wgsl::{WgslStruct, u32_constants, with_structs};
use crate::wgsl_struct;

pub(super) static REDUCE: LazyLock<String> = LazyLock::new(|| {
    with_structs(
        &[
            ReduceParams::declare("Params"),
            u32_constants(&[("PARTS", SUM_PARTS)]),
        ],
        include_str!("reduce.wgsl"),
    )
});
pub(super) static CENTRE: LazyLock<String> =
    LazyLock::new(|| CentreParams::as_params_of(include_str!("centre.wgsl")));

wgsl_struct! {
    /// `Params` in reduce.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct ReduceParams {
        pub count: u32,
        pub stride: u32,
        pub offset: u32,
        pub slot: u32,
        pub scale: f32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

wgsl_struct! {
    /// `Params` in centre.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct CentreParams {
        pub values: u32,
        pub mean_slot: u32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

impl ReduceParams {
    fn new(count: usize, stride: usize, offset: usize, slot: usize, scale: f32) -> Self {
        ReduceParams {
            count: count as u32,
            stride: stride as u32,
            offset: offset as u32,
            slot: slot as u32,
            scale,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        }
    }
}

/// The checks both reductions make: something to sum, at most one dispatch row of sums, each
/// invocation's loop (over `count / lanes` values) under lavapipe's cap, and `x` long enough.
fn check_reduce(
    x: &wgpu::Buffer,
    count: usize,
    stride: usize,
    offset: usize,
    sums: usize,
    lanes: usize,
) -> Result<()> {
    if sums == 0 || count == 0 {
        return Err(Error::shape("tsne reduce", "nothing to sum"));
    }
    if count.div_ceil(lanes) > crate::gpu::LOOP_BUDGET
        || sums > crate::gpu::MAX_GROUPS_PER_DIM as usize
    {
        return Err(Error::InvalidArgument(format!(
            "tsne reduce: {sums} sums of {count} values exceed one dispatch"
        )));
    }
    check_len(
        "tsne reduce",
        "x",
        x,
        offset + sums - 1 + (count - 1) * stride + 1,
    )
}

/// `sums` deterministic sums: out[slot + s] = scale · Σ_{t<count} x[offset + s + t·stride].
#[allow(clippy::too_many_arguments)]
pub fn strided_sum(
    gpu: &Gpu,
    x: &wgpu::Buffer,
    out: &wgpu::Buffer,
    count: usize,
    stride: usize,
    offset: usize,
    sums: usize,
    slot: usize,
    scale: f32,
) -> Result<Dispatch> {
    check_reduce(x, count, stride, offset, sums, 256)?;
    check_len("tsne reduce", "out", out, slot + sums)?;
    let params = ReduceParams::new(count, stride, offset, slot, scale);
    launch(
        gpu,
        "tsne reduce",
        &REDUCE,
        "strided_sum",
        &params,
        &[x, out],
        [sums as u32, 1, 1],
    )
}

/// Parts of a [`split_sum`] (`PARTS` in reduce.wgsl).
pub const SUM_PARTS: usize = 64;

/// The sums of [`strided_sum`] in two levels when they are long (more than 16 values per part):
/// `strided_parts` adds [`SUM_PARTS`] contiguous shares of each sum in as many small workgroups
/// (into `parts`, at least SUM_PARTS · sums f32), then `strided_sum` adds the parts. One
/// workgroup runs on one of lavapipe's threads, so a single one per sum would leave the other
/// idle. Deterministic either way (fixed order). Short sums are one `strided_sum`.
#[allow(clippy::too_many_arguments)]
pub fn split_sum(
    gpu: &Gpu,
    x: &wgpu::Buffer,
    parts: &wgpu::Buffer,
    out: &wgpu::Buffer,
    count: usize,
    stride: usize,
    offset: usize,
    sums: usize,
    slot: usize,
    scale: f32,
) -> Result<Vec<Dispatch>> {
    if count <= 16 * SUM_PARTS {
        return Ok(vec![strided_sum(
            gpu, x, out, count, stride, offset, sums, slot, scale,
        )?]);
    }
    check_reduce(x, count, stride, offset, sums, SUM_PARTS * 8)?;
    check_len("tsne reduce", "parts", parts, SUM_PARTS * sums)?;
    let params = ReduceParams::new(count, stride, offset, 0, 1.0);
    let first = launch(
        gpu,
        "tsne reduce",
        &REDUCE,
        "strided_parts",
        &params,
        &[x, parts],
        [SUM_PARTS as u32, sums as u32, 1],
    )?;
    let second = strided_sum(gpu, parts, out, SUM_PARTS, sums, 0, sums, slot, scale)?;
    Ok(vec![first, second])
}

/// y = y − mean, in place (mean at scalars[mean_slot..]).
pub fn centre(
    gpu: &Gpu,
    scalars: &wgpu::Buffer,
    y: &wgpu::Buffer,
    n: usize,
    dims: usize,
    mean_slot: usize,
) -> Result<Dispatch> {
    check_dims(dims)?;
    check_len("tsne centre", "y", y, n * dims)?;
    check_len("tsne centre", "scalars", scalars, mean_slot + dims)?;
    let params = CentreParams {
        values: (n * dims) as u32,
        mean_slot: mean_slot as u32,
        _pad0: 0,
        _pad1: 0,
    };
    launch(
        gpu,
        &format!("tsne centre {dims}d"),
        &with_dims(&CENTRE, dims),
        "centre",
        &params,
        &[scalars, y],
        workgroups_for(n * dims, 256),
    )
}
