//! conv2d: shape rules, GPU vs CPU parity forward and backward on awkward shapes, and the CPU
//! backward against central finite differences in f64.
mod common;

use common::{assert_close, gpu};
use latentviz::ops::conv2d::{self, Conv2dShape, Padding, cpu};
use latentviz::rng::Rng;

fn shape(
    batch: usize,
    in_ch: usize,
    out_ch: usize,
    (height, width): (usize, usize),
    kernel: usize,
    stride: usize,
    padding: Padding,
) -> Conv2dShape {
    Conv2dShape {
        batch,
        in_ch,
        out_ch,
        height,
        width,
        kernel,
        stride,
        padding,
    }
}

/// Shapes that stress the blocking tails, padding and stride rules.
fn parity_shapes() -> Vec<Conv2dShape> {
    use Padding::{Same, Valid};
    vec![
        // Not multiples of 4 anywhere; the awkward 45x65.
        shape(2, 3, 5, (45, 65), 3, 1, Same),
        // Single channel in and out, batch 1, odd size, stride 2.
        shape(1, 1, 1, (7, 9), 3, 2, Same),
        // 'valid', k = 5, stride 2.
        shape(2, 4, 6, (17, 12), 5, 2, Valid),
        // k = 1 (a per-pixel matmul).
        shape(3, 6, 3, (10, 11), 1, 1, Same),
        // Even kernel: asymmetric 'same' padding (extra on bottom/right), stride 3.
        shape(2, 2, 7, (13, 14), 4, 3, Same),
        // 'valid', stride 1, output narrower than a pixel block.
        shape(1, 5, 4, (6, 5), 3, 1, Valid),
        // Kernel larger than the input under 'same'.
        shape(1, 2, 3, (2, 3), 5, 1, Same),
        // The seed model's layer kinds, smaller batch: 1 -> 32 and 32 -> 1 on 28x28, 32 -> 16 on 14x14.
        shape(2, 1, 32, (28, 28), 3, 1, Same),
        shape(2, 32, 1, (28, 28), 3, 1, Same),
        shape(3, 32, 16, (14, 14), 3, 1, Same),
    ]
}

#[test]
fn shape_rules_follow_keras() {
    // 'same': out = ceil(in / stride); pad_total = max((out-1)*stride + k - in, 0), top gets half.
    let s = shape(1, 1, 1, (28, 27), 3, 1, Padding::Same);
    assert_eq!(s.out_hw(), (28, 27));
    assert_eq!(s.pads(), (1, 1));
    let s = shape(1, 1, 1, (7, 8), 3, 2, Padding::Same);
    assert_eq!(s.out_hw(), (4, 4));
    // h: (4-1)*2 + 3 - 7 = 2 -> top 1; w: (4-1)*2 + 3 - 8 = 1 -> left 0, the extra on the right.
    assert_eq!(s.pads(), (1, 0));
    let s = shape(1, 1, 1, (13, 14), 4, 3, Padding::Same);
    assert_eq!(s.out_hw(), (5, 5));
    assert_eq!(s.pads(), (1, 1));
    let s = shape(2, 3, 4, (17, 12), 5, 2, Padding::Valid);
    assert_eq!(s.out_hw(), (7, 4));
    assert_eq!(s.pads(), (0, 0));
    assert_eq!(s.input_len(), 2 * 3 * 17 * 12);
    assert_eq!(s.output_len(), 2 * 4 * 7 * 4);
    assert_eq!(s.weight_len(), 4 * 3 * 25);
    assert_eq!(s.bias_len(), 4);
    assert_eq!(s.flops(), 2.0 * (2 * 4 * 7 * 4) as f64 * (3 * 25) as f64);
    assert!(s.validate().is_ok());
}

#[test]
fn bad_shapes_and_buffers_are_errors() {
    let gpu = gpu();
    let bad = [
        shape(1, 1, 1, (4, 4), 5, 1, Padding::Valid),
        shape(1, 1, 1, (4, 4), 3, 0, Padding::Same),
        shape(1, 1, 1, (4, 4), 0, 1, Padding::Same),
        shape(0, 1, 1, (4, 4), 3, 1, Padding::Same),
        shape(1, 0, 1, (4, 4), 3, 1, Padding::Same),
    ];
    for s in bad {
        assert!(s.validate().is_err(), "{s:?} should be rejected");
    }
    let s = shape(2, 3, 4, (9, 9), 3, 1, Padding::Same);
    let x = gpu.storage("x", s.input_len());
    let w = gpu.storage("w", s.weight_len());
    let b = gpu.storage("b", s.bias_len());
    let y = gpu.storage("y", s.output_len());
    let short = gpu.storage("short", s.output_len() - 1);
    let short_x = gpu.storage("short x", s.input_len() - 1);
    assert!(conv2d::forward(gpu, &s, &x, &w, &b, &y).is_ok());
    assert!(conv2d::forward(gpu, &s, &x, &w, &b, &short).is_err());
    assert!(conv2d::forward(gpu, &s, &short_x, &w, &b, &y).is_err());
    assert!(conv2d::backward_input(gpu, &s, &y, &b, &x).is_err());
    assert!(conv2d::backward_weight(gpu, &s, &x, &y, &b).is_err());
    assert!(conv2d::backward_bias(gpu, &s, &short, &b).is_err());
    let bad = shape(1, 1, 1, (4, 4), 5, 1, Padding::Valid);
    assert!(conv2d::forward(gpu, &bad, &x, &w, &b, &y).is_err());
}

#[test]
fn gpu_matches_cpu_forward_and_backward() {
    let gpu = gpu();
    let mut rng = Rng::new(11);
    for s in parity_shapes() {
        let x = rng.vec(s.input_len(), -1.0, 1.0);
        let w = rng.vec(s.weight_len(), -1.0, 1.0);
        let b = rng.vec(s.bias_len(), -1.0, 1.0);
        let dy = rng.vec(s.output_len(), -1.0, 1.0);
        let xb = gpu.storage_from("x", &x);
        let wb = gpu.storage_from("w", &w);
        let bb = gpu.storage_from("b", &b);
        let dyb = gpu.storage_from("dy", &dy);
        // Garbage in the outputs: every backward pass must overwrite, not accumulate.
        let yb = gpu.storage_from("y", &vec![7.0f32; s.output_len()]);
        let dxb = gpu.storage_from("dx", &vec![7.0f32; s.input_len()]);
        let dwb = gpu.storage_from("dw", &vec![7.0f32; s.weight_len()]);
        let dbb = gpu.storage_from("db", &vec![7.0f32; s.bias_len()]);
        let mut all = conv2d::forward(gpu, &s, &xb, &wb, &bb, &yb).unwrap();
        all.extend(conv2d::backward_input(gpu, &s, &dyb, &wb, &dxb).unwrap());
        all.extend(conv2d::backward_weight(gpu, &s, &xb, &dyb, &dwb).unwrap());
        all.extend(conv2d::backward_bias(gpu, &s, &dyb, &dbb).unwrap());
        let refs: Vec<_> = all.iter().collect();
        gpu.run("conv2d test", &refs).unwrap();
        // Sums of up to a few thousand f32 products of values in [-1, 1] against an f64
        // reference: relative error ~ sqrt(terms) * 2^-24 * |terms|, well under 1e-4 here.
        let tol = 1e-4;
        let what = format!("{s:?}");
        assert_close(
            &format!("forward {what}"),
            &gpu.read_f32(&yb).unwrap()[..s.output_len()],
            &cpu::conv2d_forward(&s, &x, &w, &b),
            tol,
        );
        assert_close(
            &format!("backward input {what}"),
            &gpu.read_f32(&dxb).unwrap()[..s.input_len()],
            &cpu::conv2d_backward_input(&s, &dy, &w),
            tol,
        );
        // The weight and bias gradients sum over batch * out_h * out_w (up to 2,352) products of
        // magnitude up to 1: compare relative to that scale.
        let dw_cpu = cpu::conv2d_backward_weight(&s, &x, &dy);
        assert_close(
            &format!("backward weight {what}"),
            &gpu.read_f32(&dwb).unwrap()[..s.weight_len()],
            &dw_cpu,
            tol * 4.0,
        );
        assert_close(
            &format!("backward bias {what}"),
            &gpu.read_f32(&dbb).unwrap()[..s.bias_len()],
            &cpu::conv2d_backward_bias(&s, &dy),
            tol * 4.0,
        );
    }
}

#[test]
fn weight_grad_chunks_cover_the_batch() {
    for batch in [1, 2, 7, 64, 255, 256, 1000] {
        for (in_ch, out_ch) in [(1, 32), (32, 64), (64, 32), (32, 1)] {
            let s = shape(batch, in_ch, out_ch, (28, 28), 3, 1, Padding::Same);
            let (chunks, per) = conv2d::weight_grad_chunks(&s);
            assert!(chunks >= 1 && per >= 1);
            assert!(chunks * per >= batch, "{s:?}: {chunks} x {per} < {batch}");
            assert!((chunks - 1) * per < batch, "{s:?}: empty chunk");
        }
    }
}

/// L = sum(y * r) for a fixed random r, so dL/dy = r and the backward passes with dy = r give
/// dL/dx, dL/dw, dL/db; each is checked against (L(v + h) - L(v - h)) / 2h in f64.
#[test]
fn cpu_backward_matches_finite_differences() {
    use Padding::{Same, Valid};
    let shapes = [
        shape(2, 2, 3, (6, 7), 3, 2, Same),
        shape(1, 3, 2, (5, 5), 2, 1, Same),
        shape(2, 2, 2, (7, 6), 3, 2, Valid),
        shape(1, 2, 3, (4, 5), 1, 1, Same),
    ];
    let mut rng = Rng::new(5);
    for s in shapes {
        let mut v = |n| -> Vec<f64> { (0..n).map(|_| rng.range(-1.0, 1.0) as f64).collect() };
        let (mut x, mut w, mut b, r) = (
            v(s.input_len()),
            v(s.weight_len()),
            v(s.bias_len()),
            v(s.output_len()),
        );
        let dx = cpu::conv2d_backward_input_f64(&s, &r, &w);
        let dw = cpu::conv2d_backward_weight_f64(&s, &x, &r);
        let db = cpu::conv2d_backward_bias_f64(&s, &r);
        let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
            let y = cpu::conv2d_forward_f64(&s, x, w, b);
            y.iter().zip(&r).map(|(a, b)| a * b).sum()
        };
        let h = 1e-6;
        // L is linear in each argument, so central differences are exact up to rounding
        // (~1e-16 * |L| / h ~ 1e-9).
        let check = |name: &str, i: usize, fd: f64, analytic: f64| {
            assert!(
                (fd - analytic).abs() < 1e-6 * (1.0 + analytic.abs()),
                "{s:?} {name}[{i}]: finite difference {fd} vs backward {analytic}"
            );
        };
        for i in 0..x.len() {
            let keep = x[i];
            x[i] = keep + h;
            let up = loss(&x, &w, &b);
            x[i] = keep - h;
            let down = loss(&x, &w, &b);
            x[i] = keep;
            check("dx", i, (up - down) / (2.0 * h), dx[i]);
        }
        for i in 0..w.len() {
            let keep = w[i];
            w[i] = keep + h;
            let up = loss(&x, &w, &b);
            w[i] = keep - h;
            let down = loss(&x, &w, &b);
            w[i] = keep;
            check("dw", i, (up - down) / (2.0 * h), dw[i]);
        }
        for i in 0..b.len() {
            let keep = b[i];
            b[i] = keep + h;
            let up = loss(&x, &w, &b);
            b[i] = keep - h;
            let down = loss(&x, &w, &b);
            b[i] = keep;
            check("db", i, (up - down) / (2.0 * h), db[i]);
        }
    }
}
