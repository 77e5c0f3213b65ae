//! The baselines the benchmark measures our kernels against, in the same run:
//! one-output-per-invocation GPU kernels, and single-threaded CPU loops written so the compiler
//! vectorizes them (contiguous inner loops, several independent accumulators).

use bytemuck::{Pod, Zeroable};

use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::conv2d::Conv2dShape;
use crate::ops::launch;

const NAIVE_FORWARD: &str = include_str!("../../shaders/conv2d_naive_forward.wgsl");
const NAIVE_BACKWARD_INPUT: &str = include_str!("../../shaders/conv2d_naive_backward_input.wgsl");
const NAIVE_BACKWARD_WEIGHT: &str = include_str!("../../shaders/conv2d_naive_backward_weight.wgsl");

/// Mirrors `Params` in the conv2d_naive_*.wgsl shaders.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct NaiveConvParams {
    pub batch: u32,
    pub in_ch: u32,
    pub out_ch: u32,
    pub height: u32,
    pub width: u32,
    pub out_h: u32,
    pub out_w: u32,
    pub kernel: u32,
    pub stride: u32,
    pub pad_top: u32,
    pub pad_left: u32,
    pub _pad: u32,
}

fn params(s: &Conv2dShape) -> NaiveConvParams {
    let (oh, ow) = s.out_hw();
    let (pt, pl) = s.pads();
    NaiveConvParams {
        batch: s.batch as u32,
        in_ch: s.in_ch as u32,
        out_ch: s.out_ch as u32,
        height: s.height as u32,
        width: s.width as u32,
        out_h: oh as u32,
        out_w: ow as u32,
        kernel: s.kernel as u32,
        stride: s.stride as u32,
        pad_top: pt as u32,
        pad_left: pl as u32,
        _pad: 0,
    }
}

pub fn naive_conv_forward(
    gpu: &Gpu,
    s: &Conv2dShape,
    x: &wgpu::Buffer,
    w: &wgpu::Buffer,
    b: &wgpu::Buffer,
    y: &wgpu::Buffer,
) -> Result<Dispatch> {
    let groups = workgroups_for(s.output_len(), 64);
    launch(
        gpu,
        "conv2d_naive",
        NAIVE_FORWARD,
        "conv2d_naive_forward",
        &params(s),
        &[x, w, b, y],
        groups,
    )
}

pub fn naive_conv_backward_input(
    gpu: &Gpu,
    s: &Conv2dShape,
    dy: &wgpu::Buffer,
    w: &wgpu::Buffer,
    dx: &wgpu::Buffer,
) -> Result<Dispatch> {
    let groups = workgroups_for(s.input_len(), 64);
    launch(
        gpu,
        "conv2d_naive_backward_input",
        NAIVE_BACKWARD_INPUT,
        "conv2d_naive_backward_input",
        &params(s),
        &[dy, w, dx],
        groups,
    )
}

pub fn naive_conv_backward_weight(
    gpu: &Gpu,
    s: &Conv2dShape,
    x: &wgpu::Buffer,
    dy: &wgpu::Buffer,
    dw: &wgpu::Buffer,
) -> Result<Dispatch> {
    let groups = workgroups_for(s.weight_len(), 64);
    launch(
        gpu,
        "conv2d_naive_backward_weight",
        NAIVE_BACKWARD_WEIGHT,
        "conv2d_naive_backward_weight",
        &params(s),
        &[x, dy, dw],
        groups,
    )
}

/// Valid output columns [lo, hi) for kernel column `kw` (stride 1): those whose input column
/// ow + kw - pad_left falls inside the image.
fn valid_range(kw: usize, pad: usize, out: usize, size: usize) -> (usize, usize) {
    let lo = pad.saturating_sub(kw);
    let hi = (size + pad).saturating_sub(kw).min(out);
    (lo, hi.max(lo))
}

/// Single-threaded vectorizable conv forward (stride 1): for each weight tap, a contiguous
/// multiply-add of an input row into an output row.
pub fn cpu_conv_forward(s: &Conv2dShape, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
    assert_eq!(s.stride, 1, "the CPU baseline handles stride 1");
    let (oh_n, ow_n) = s.out_hw();
    let (pt, pl) = s.pads();
    let (h, wd, k) = (s.height, s.width, s.kernel);
    let mut y = vec![0f32; s.output_len()];
    for b in 0..s.batch {
        for oc in 0..s.out_ch {
            let yp = &mut y[(b * s.out_ch + oc) * oh_n * ow_n..][..oh_n * ow_n];
            yp.fill(bias[oc]);
            for ic in 0..s.in_ch {
                let xp = &x[(b * s.in_ch + ic) * h * wd..][..h * wd];
                for kh in 0..k {
                    for kw in 0..k {
                        let wv = w[((oc * s.in_ch + ic) * k + kh) * k + kw];
                        let (lo, hi) = valid_range(kw, pl, ow_n, wd);
                        for oh in 0..oh_n {
                            let ih = oh + kh;
                            if ih < pt || ih - pt >= h {
                                continue;
                            }
                            let xrow = &xp[(ih - pt) * wd..][..wd];
                            let yrow = &mut yp[oh * ow_n..][..ow_n];
                            for ow in lo..hi {
                                yrow[ow] += wv * xrow[ow + kw - pl];
                            }
                        }
                    }
                }
            }
        }
    }
    y
}

/// Single-threaded vectorizable conv input gradient (stride 1), as scatters of dy rows.
pub fn cpu_conv_backward_input(s: &Conv2dShape, dy: &[f32], w: &[f32]) -> Vec<f32> {
    assert_eq!(s.stride, 1, "the CPU baseline handles stride 1");
    let (oh_n, ow_n) = s.out_hw();
    let (pt, pl) = s.pads();
    let (h, wd, k) = (s.height, s.width, s.kernel);
    let mut dx = vec![0f32; s.input_len()];
    for b in 0..s.batch {
        for ic in 0..s.in_ch {
            let dxp = &mut dx[(b * s.in_ch + ic) * h * wd..][..h * wd];
            for oc in 0..s.out_ch {
                let dyp = &dy[(b * s.out_ch + oc) * oh_n * ow_n..][..oh_n * ow_n];
                for kh in 0..k {
                    for kw in 0..k {
                        let wv = w[((oc * s.in_ch + ic) * k + kh) * k + kw];
                        let (lo, hi) = valid_range(kw, pl, ow_n, wd);
                        for oh in 0..oh_n {
                            let ih = oh + kh;
                            if ih < pt || ih - pt >= h {
                                continue;
                            }
                            let dyrow = &dyp[oh * ow_n..][..ow_n];
                            let dxrow = &mut dxp[(ih - pt) * wd..][..wd];
                            for ow in lo..hi {
                                dxrow[ow + kw - pl] += wv * dyrow[ow];
                            }
                        }
                    }
                }
            }
        }
    }
    dx
}

/// Dot product with eight independent accumulators, so it vectorizes without fast-math.
fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        for l in 0..8 {
            acc[l] += a[c * 8 + l] * b[c * 8 + l];
        }
    }
    let mut tail = 0.0;
    for i in chunks * 8..a.len() {
        tail += a[i] * b[i];
    }
    acc.iter().sum::<f32>() + tail
}

/// Single-threaded vectorizable conv weight gradient (stride 1): row dot products.
pub fn cpu_conv_backward_weight(s: &Conv2dShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(s.stride, 1, "the CPU baseline handles stride 1");
    let (oh_n, ow_n) = s.out_hw();
    let (pt, pl) = s.pads();
    let (h, wd, k) = (s.height, s.width, s.kernel);
    let mut dw = vec![0f32; s.weight_len()];
    for b in 0..s.batch {
        for oc in 0..s.out_ch {
            let dyp = &dy[(b * s.out_ch + oc) * oh_n * ow_n..][..oh_n * ow_n];
            for ic in 0..s.in_ch {
                let xp = &x[(b * s.in_ch + ic) * h * wd..][..h * wd];
                for kh in 0..k {
                    for kw in 0..k {
                        let (lo, hi) = valid_range(kw, pl, ow_n, wd);
                        let mut acc = 0f32;
                        for oh in 0..oh_n {
                            let ih = oh + kh;
                            if ih < pt || ih - pt >= h || lo >= hi {
                                continue;
                            }
                            let xrow = &xp[(ih - pt) * wd + lo + kw - pl..][..hi - lo];
                            acc += dot8(&dyp[oh * ow_n + lo..][..hi - lo], xrow);
                        }
                        dw[((oc * s.in_ch + ic) * k + kh) * k + kw] += acc;
                    }
                }
            }
        }
    }
    dw
}
