//! Plain-loop references, named as in the WGSL. The f64 versions do the work (and serve the
//! finite-difference checks); the f32 ones convert in and out.

use super::Conv2dShape;

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&a| a as f64).collect()
}

fn narrow(v: Vec<f64>) -> Vec<f32> {
    v.into_iter().map(|a| a as f32).collect()
}

/// Calls `f(x_index, y_index, w_index)` for every multiply-add of the forward pass: input
/// cell, output cell and weight that meet (padding taps skipped).
fn for_each_tap(s: &Conv2dShape, mut f: impl FnMut(usize, usize, usize)) {
    let (oh_n, ow_n) = s.out_hw();
    let (pt, pl) = s.pads();
    let k = s.kernel;
    for b in 0..s.batch {
        for oc in 0..s.out_ch {
            for oh in 0..oh_n {
                for ow in 0..ow_n {
                    let yi = ((b * s.out_ch + oc) * oh_n + oh) * ow_n + ow;
                    for ic in 0..s.in_ch {
                        for kh in 0..k {
                            // ih = oh*stride - pad_top + kh, skipped outside the input.
                            let ih = (oh * s.stride + kh).wrapping_sub(pt);
                            if ih >= s.height {
                                continue;
                            }
                            for kw in 0..k {
                                let iw = (ow * s.stride + kw).wrapping_sub(pl);
                                if iw >= s.width {
                                    continue;
                                }
                                let xi = ((b * s.in_ch + ic) * s.height + ih) * s.width + iw;
                                let wi = ((oc * s.in_ch + ic) * k + kh) * k + kw;
                                f(xi, yi, wi);
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn conv2d_forward_f64(s: &Conv2dShape, x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    let (oh, ow) = s.out_hw();
    let plane = oh * ow;
    let mut y: Vec<f64> = (0..s.output_len())
        .map(|i| b[(i / plane) % s.out_ch])
        .collect();
    for_each_tap(s, |xi, yi, wi| y[yi] += w[wi] * x[xi]);
    y
}

/// dx[xi] = sum of w * dy over every tap that reads x[xi] (a scatter here; a gather on the GPU).
pub fn conv2d_backward_input_f64(s: &Conv2dShape, dy: &[f64], w: &[f64]) -> Vec<f64> {
    let mut dx = vec![0.0; s.input_len()];
    for_each_tap(s, |xi, yi, wi| dx[xi] += w[wi] * dy[yi]);
    dx
}

pub fn conv2d_backward_weight_f64(s: &Conv2dShape, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let mut dw = vec![0.0; s.weight_len()];
    for_each_tap(s, |xi, yi, wi| dw[wi] += x[xi] * dy[yi]);
    dw
}

pub fn conv2d_backward_bias_f64(s: &Conv2dShape, dy: &[f64]) -> Vec<f64> {
    let (oh, ow) = s.out_hw();
    let plane = oh * ow;
    let mut db = vec![0.0; s.out_ch];
    for (i, &g) in dy.iter().enumerate().take(s.output_len()) {
        db[(i / plane) % s.out_ch] += g;
    }
    db
}

pub fn conv2d_forward(s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    narrow(conv2d_forward_f64(s, &widen(x), &widen(w), &widen(b)))
}

pub fn conv2d_backward_input(s: &Conv2dShape, dy: &[f32], w: &[f32]) -> Vec<f32> {
    narrow(conv2d_backward_input_f64(s, &widen(dy), &widen(w)))
}

pub fn conv2d_backward_weight(s: &Conv2dShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
    narrow(conv2d_backward_weight_f64(s, &widen(x), &widen(dy)))
}

pub fn conv2d_backward_bias(s: &Conv2dShape, dy: &[f32]) -> Vec<f32> {
    narrow(conv2d_backward_bias_f64(s, &widen(dy)))
}
