//! The projection X V of the centred rows onto the components (project.wgsl).

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::{check_len, launch};
use crate::wgsl::WgslStruct;
use crate::wgsl_struct;

pub(crate) static PROJECT: LazyLock<String> =
    LazyLock::new(|| ProjectParams::as_params_of(include_str!("project.wgsl")));

wgsl_struct! {
    /// `Params` in project.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct ProjectParams {
        pub rows: u32,
        pub wx: u32,
        pub kw: u32,
        pub tiles: u32,
    }
}

/// out = X V for X rows × cx and V cx × cv (cx, cv multiples of 4); out is rows × cv.
pub fn project(
    gpu: &Gpu,
    x: &wgpu::Buffer,
    v: &wgpu::Buffer,
    out: &wgpu::Buffer,
    rows: usize,
    cx: usize,
    cv: usize,
) -> Result<Dispatch> {
    if !cx.is_multiple_of(4) || !cv.is_multiple_of(4) || cx == 0 || cv == 0 || rows == 0 {
        return Err(Error::shape(
            "pca project",
            format!("{rows} rows, column counts {cx} and {cv} must be positive multiples of 4"),
        ));
    }
    check_len("pca project", "x", x, rows * cx)?;
    check_len("pca project", "v", v, cx * cv)?;
    check_len("pca project", "out", out, rows * cv)?;
    let kw = cv / 4;
    let tiles = rows.div_ceil(4) * kw;
    let params = ProjectParams {
        rows: rows as u32,
        wx: (cx / 4) as u32,
        kw: kw as u32,
        tiles: tiles as u32,
    };
    launch(
        gpu,
        "pca project",
        &PROJECT,
        "project",
        &params,
        &[x, v, out],
        workgroups_for(tiles, 64),
    )
}
