//! Aᵀ B by the register-blocked Gram kernel (gram.wgsl), whole or only its 8 × 8 blocks on or
//! above the diagonal; Aᵀ B by the subgroup matmul where the adapter runs it.

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::matmul::{self, MatmulKernel, MatmulShape};
use crate::ops::{check_len, launch};
use crate::wgsl::WgslStruct;
use crate::wgsl_struct;

pub(crate) static GRAM: LazyLock<String> =
    LazyLock::new(|| GramParams::as_params_of(include_str!("gram.wgsl")));

wgsl_struct! {
    /// `Params` in gram.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct GramParams {
        pub rows: u32,
        pub wa: u32,
        pub wb: u32,
        pub b_tiles: u32,
        pub tiles: u32,
        pub accumulate: u32,
        /// 1: write only the 8 × 8 blocks on or above the diagonal (A = B).
        pub upper: u32,
        pub _pad1: u32,
    }
}

/// out (+)= Aᵀ B for A rows × ca and B rows × cb (ca, cb multiples of 8); out is ca × cb.
#[allow(clippy::too_many_arguments)]
pub fn gram(
    gpu: &Gpu,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    out: &wgpu::Buffer,
    rows: usize,
    ca: usize,
    cb: usize,
    accumulate: bool,
) -> Result<Dispatch> {
    gram_blocks(gpu, a, b, out, rows, ca, cb, accumulate, false)
}

/// out = Aᵀ B for A rows × ca and B rows × cb: the subgroup matmul where the adapter runs it,
/// else the Gram kernel (ca, cb multiples of 8).
#[allow(clippy::too_many_arguments)]
pub fn product_tn(
    gpu: &Gpu,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    out: &wgpu::Buffer,
    rows: usize,
    ca: usize,
    cb: usize,
) -> Result<Dispatch> {
    if MatmulKernel::Subgroup64.supported(gpu) {
        let shape = MatmulShape {
            m: ca,
            n: cb,
            k: rows,
            transpose_a: true,
            transpose_b: false,
        };
        matmul::forward(gpu, &shape, a, b, None, out)
    } else {
        gram(gpu, a, b, out, rows, ca, cb, false)
    }
}

/// Aᵀ A for A rows × c, writing only the 8 × 8 blocks on or above the diagonal (see
/// `mirror_upper`).
pub fn gram_upper(
    gpu: &Gpu,
    a: &wgpu::Buffer,
    out: &wgpu::Buffer,
    rows: usize,
    c: usize,
    accumulate: bool,
) -> Result<Dispatch> {
    gram_blocks(gpu, a, a, out, rows, c, c, accumulate, true)
}

/// Fill the blocks below the diagonal of a c × c matrix from those above (after `gram_upper`).
pub fn mirror_upper(m: &mut [f32], c: usize) {
    for i in 0..c {
        for j in 0..c {
            if i / 8 > j / 8 {
                m[i * c + j] = m[j * c + i];
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn gram_blocks(
    gpu: &Gpu,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    out: &wgpu::Buffer,
    rows: usize,
    ca: usize,
    cb: usize,
    accumulate: bool,
    upper: bool,
) -> Result<Dispatch> {
    if !ca.is_multiple_of(8) || !cb.is_multiple_of(8) || ca == 0 || cb == 0 {
        return Err(Error::shape(
            "pca gram",
            format!("column counts {ca} and {cb} must be positive multiples of 8"),
        ));
    }
    check_len("pca gram", "a", a, rows * ca)?;
    check_len("pca gram", "b", b, rows * cb)?;
    check_len("pca gram", "out", out, ca * cb)?;
    let b_tiles = cb / 8;
    let tiles = (ca / 8) * b_tiles;
    let params = GramParams {
        rows: rows as u32,
        wa: (ca / 4) as u32,
        wb: (cb / 4) as u32,
        b_tiles: b_tiles as u32,
        tiles: tiles as u32,
        accumulate: accumulate as u32,
        upper: upper as u32,
        _pad1: 0,
    };
    launch(
        gpu,
        "pca gram",
        &GRAM,
        "gram",
        &params,
        &[a, b, out],
        workgroups_for(tiles, 64),
    )
    .map(|d| d.with_flops((2 * rows * ca * cb) as f64))
}
