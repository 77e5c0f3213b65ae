//! Gather rows (a shuffled batch) out of a dataset held on the GPU in slices.

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use super::{check_len, launch};
use crate::error::{Error, Result};
use crate::gpu::{BufferSlices, Dispatch, Gpu, workgroups_for};
use crate::wgsl::WgslStruct;
use crate::wgsl_struct;

static FORWARD: LazyLock<String> =
    LazyLock::new(|| GatherParams::as_params_of(include_str!("gather_forward.wgsl")));

wgsl_struct! {
    /// `Params` in gather_forward.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct GatherParams {
        pub row_len: u32,
        pub rows: u32,
        pub first_row: u32,
        pub slice_rows: u32,
    }
}

/// One dispatch per slice of `src`: together they fill `out` (rows × row_len) with the rows of `src`
/// named by the u32 indices in `idx` (`rows` of them).
pub fn forward(
    gpu: &Gpu,
    src: &BufferSlices,
    idx: &wgpu::Buffer,
    out: &wgpu::Buffer,
    rows: usize,
) -> Result<Vec<Dispatch>> {
    if (idx.size() as usize) < rows * 4 {
        return Err(Error::shape(
            "gather_rows",
            format!(
                "index buffer holds {} indices, {rows} needed",
                idx.size() / 4
            ),
        ));
    }
    check_len("gather_rows", "out", out, rows * src.row_len)?;
    let chunks = rows * src.row_len.div_ceil(4);
    src.slices
        .iter()
        .enumerate()
        .map(|(i, slice)| {
            let params = GatherParams {
                row_len: src.row_len as u32,
                rows: rows as u32,
                first_row: src.first_row(i) as u32,
                slice_rows: src.rows_in(i) as u32,
            };
            launch(
                gpu,
                "gather_rows",
                &FORWARD,
                "gather_rows_forward",
                &params,
                &[idx, slice, out],
                workgroups_for(chunks, 256),
            )
        })
        .collect()
}

/// This module's kernels as the GPU gets them, by file (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![("src/ops/gather_forward.wgsl", FORWARD.to_string())]
}

pub mod cpu {
    /// out[r] = src[idx[r]] for rows of length `row_len`.
    pub fn gather_rows_forward(src: &[f32], row_len: usize, idx: &[u32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(idx.len() * row_len);
        for &r in idx {
            let r = r as usize;
            out.extend_from_slice(&src[r * row_len..(r + 1) * row_len]);
        }
        out
    }
}
