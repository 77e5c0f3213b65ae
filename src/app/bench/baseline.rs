//! The CPU baselines the benchmark measures our kernels against, in the same run:
//! single-threaded loops written so the compiler vectorizes them (contiguous inner loops, several
//! independent accumulators). The GPU baseline, one output per invocation, is
//! `ops::conv2d::naive`.

use crate::ops::conv2d::Conv2dShape;

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
