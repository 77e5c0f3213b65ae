//! Column means and centring of rows kept in buffer slices (mean.wgsl).

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::{check_len, launch};
use crate::wgsl::WgslStruct;
use crate::wgsl_struct;

pub(crate) static MEAN: LazyLock<String> =
    LazyLock::new(|| MeanParams::as_params_of(include_str!("mean.wgsl")));

wgsl_struct! {
    /// `Params` in mean.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct MeanParams {
        pub rows: u32,
        pub width: u32,
        pub accumulate: u32,
        pub scale: f32,
    }
}

/// mean (+)= scale · Σ_r x[r] over `rows` rows of `width` vec4.
pub fn column_mean(
    gpu: &Gpu,
    x: &wgpu::Buffer,
    mean: &wgpu::Buffer,
    rows: usize,
    width: usize,
    scale: f32,
    accumulate: bool,
) -> Result<Dispatch> {
    let params = MeanParams {
        rows: rows as u32,
        width: width as u32,
        accumulate: accumulate as u32,
        scale,
    };
    mean_pass(
        gpu,
        "column_mean",
        &params,
        x,
        mean,
        workgroups_for(width, 64),
    )
}

/// x[r] −= mean for `rows` rows of `width` vec4.
pub fn subtract_mean(
    gpu: &Gpu,
    x: &wgpu::Buffer,
    mean: &wgpu::Buffer,
    rows: usize,
    width: usize,
) -> Result<Dispatch> {
    let params = MeanParams {
        rows: rows as u32,
        width: width as u32,
        accumulate: 0,
        scale: 1.0,
    };
    let groups = workgroups_for(rows * width, 256);
    mean_pass(gpu, "subtract_mean", &params, x, mean, groups)
}

/// One entry point of mean.wgsl on x (rows × width vec4) and mean (width vec4).
fn mean_pass(
    gpu: &Gpu,
    entry: &str,
    params: &MeanParams,
    x: &wgpu::Buffer,
    mean: &wgpu::Buffer,
    groups: [u32; 3],
) -> Result<Dispatch> {
    let (rows, width) = (params.rows as usize, params.width as usize);
    check_len("pca mean", "x", x, rows * width * 4)?;
    check_len("pca mean", "mean", mean, width * 4)?;
    launch(gpu, "pca mean", &MEAN, entry, params, &[x, mean], groups)
}
