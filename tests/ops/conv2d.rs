//! conv2d: shape rules, GPU vs CPU parity forward and backward on awkward shapes, and the CPU
//! backward against central finite differences in f64.

use crate::common::{assert_close, gpu};
use latentviz::ops::activation::{self, Activation};
use latentviz::ops::conv2d::{self, Conv2dKernel, Conv2dPass, Conv2dShape, Padding, cpu};
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
        // Two channels each way: the one-channel-per-workgroup stride-1 kernels, rows longer
        // than one 32-pixel run.
        shape(2, 2, 2, (9, 40), 3, 1, Valid),
        shape(1, 1, 2, (5, 33), 5, 1, Same),
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

/// Shapes for the subgroup (implicit GEMM) kernels: pixel counts that leave a partial 64-row
/// tile, channel counts that leave partial 4- and 32-column blocks (9, 13, 37), every stride and
/// padding rule the forward pass takes, the seed model's 14x14 layers at batch 2, and weight
/// gradients small enough for 16-row tiles.
fn subgroup_shapes() -> Vec<Conv2dShape> {
    use Padding::{Same, Valid};
    vec![
        shape(2, 3, 9, (11, 13), 3, 1, Same),
        shape(1, 13, 37, (9, 7), 3, 1, Valid),
        shape(3, 5, 10, (12, 11), 5, 2, Same),
        shape(2, 4, 11, (13, 14), 4, 3, Same),
        shape(1, 9, 8, (10, 9), 1, 1, Same),
        shape(1, 11, 12, (2, 3), 5, 1, Same),
        shape(2, 37, 13, (8, 9), 2, 1, Same),
        shape(2, 32, 64, (14, 14), 3, 1, Same),
        shape(2, 64, 32, (14, 14), 3, 1, Same),
        // Weight gradients of at most 16 rows (in_ch * k * k) take 16-row tiles.
        shape(2, 1, 9, (7, 8), 3, 1, Same),
        shape(1, 1, 13, (6, 5), 4, 1, Valid),
    ]
}

/// Run every pass `kernel` handles for `s` against the CPU reference; returns how many passes ran.
fn check_kernel_family(kernel: Conv2dKernel, s: &Conv2dShape, rng: &mut Rng) -> usize {
    let gpu = gpu();
    let x = rng.vec(s.input_len(), -1.0, 1.0);
    let w = rng.vec(s.weight_len(), -1.0, 1.0);
    let b = rng.vec(s.bias_len(), -1.0, 1.0);
    let dy = rng.vec(s.output_len(), -1.0, 1.0);
    let (xb, wb, bb, dyb) = (
        gpu.storage_from("x", &x),
        gpu.storage_from("w", &w),
        gpu.storage_from("b", &b),
        gpu.storage_from("dy", &dy),
    );
    // Garbage in the outputs: every pass must overwrite, not accumulate.
    let yb = gpu.storage_from("y", &vec![7.0f32; s.output_len()]);
    let dxb = gpu.storage_from("dx", &vec![7.0f32; s.input_len()]);
    let dwb = gpu.storage_from("dw", &vec![7.0f32; s.weight_len()]);
    let mut all = Vec::new();
    let handles = |pass| kernel.handles(s, pass);
    if handles(Conv2dPass::Forward) {
        all.extend(conv2d::forward_with(gpu, kernel, s, &xb, &wb, &bb, &yb).unwrap());
    }
    if handles(Conv2dPass::BackwardInput) {
        all.extend(conv2d::backward_input_with(gpu, kernel, s, &dyb, &wb, &dxb).unwrap());
    }
    if handles(Conv2dPass::BackwardWeight) {
        all.extend(conv2d::backward_weight_with(gpu, kernel, s, &xb, &dyb, &dwb).unwrap());
    }
    let refs: Vec<_> = all.iter().collect();
    gpu.run("conv2d family test", &refs).unwrap();
    // As in gpu_matches_cpu_forward_and_backward: f32 sums of up to a few thousand products in
    // [-1, 1] against an f64 reference; the weight gradient's sums are longer (x4).
    let tol = 1e-4;
    let what = format!("{kernel:?} {s:?}");
    let mut ran = 0;
    if handles(Conv2dPass::Forward) {
        let y = gpu.read_f32(&yb).unwrap();
        let want = cpu::conv2d_forward(s, &x, &w, &b);
        assert_close(&format!("forward {what}"), &y[..s.output_len()], &want, tol);
        ran += 1;
    }
    if handles(Conv2dPass::BackwardInput) {
        let dx = gpu.read_f32(&dxb).unwrap();
        let want = cpu::conv2d_backward_input(s, &dy, &w);
        assert_close(
            &format!("backward input {what}"),
            &dx[..s.input_len()],
            &want,
            tol,
        );
        ran += 1;
    }
    if handles(Conv2dPass::BackwardWeight) {
        let dw = gpu.read_f32(&dwb).unwrap();
        let want = cpu::conv2d_backward_weight(s, &x, &dy);
        assert_close(
            &format!("backward weight {what}"),
            &dw[..s.weight_len()],
            &want,
            tol * 4.0,
        );
        ran += 1;
    }
    ran
}

#[test]
fn subgroup_kernels_match_cpu() {
    let gpu = gpu();
    if !Conv2dKernel::Subgroup.supported(gpu) {
        eprintln!("adapter has no 8-lane subgroups: subgroup conv2d kernels not run");
        return;
    }
    let mut rng = Rng::new(23);
    let mut ran = 0;
    for s in subgroup_shapes().iter().chain(&parity_shapes()) {
        ran += check_kernel_family(Conv2dKernel::Subgroup, s, &mut rng);
    }
    // Forward on every subgroup shape, the input gradient on the stride-1 ones, the weight
    // gradient on most: make sure the `handles` rules did not quietly skip them.
    assert!(ran >= 20, "only {ran} subgroup passes ran");
    // A pass the family does not handle is an error, not a wrong answer.
    let strided = shape(1, 8, 8, (9, 9), 3, 2, Padding::Same);
    assert!(!Conv2dKernel::Subgroup.handles(&strided, Conv2dPass::BackwardInput));
    let (dy, w, dx) = (
        gpu.storage("dy", strided.output_len()),
        gpu.storage("w", strided.weight_len()),
        gpu.storage("dx", strided.input_len()),
    );
    assert!(
        conv2d::backward_input_with(gpu, Conv2dKernel::Subgroup, &strided, &dy, &w, &dx).is_err()
    );
}

/// Shapes for the generated few-channel kernels (stride 1): batch 1, odd sizes smaller and larger
/// than the 8x8 pixel block, 'valid', k = 1 and 5, 1-4 output channels (vec1..vec4 accumulators),
/// more than 4 (clamped channel blocks) and input channels not a multiple of the block of 4.
fn few_channels_shapes() -> Vec<Conv2dShape> {
    use Padding::{Same, Valid};
    vec![
        shape(1, 1, 1, (7, 9), 3, 1, Same),
        shape(2, 3, 2, (11, 13), 3, 1, Same),
        shape(1, 5, 3, (9, 17), 3, 1, Valid),
        shape(3, 6, 4, (5, 3), 3, 1, Same),
        shape(1, 1, 7, (10, 6), 5, 1, Same),
        shape(2, 7, 3, (6, 7), 1, 1, Same),
        shape(2, 4, 1, (8, 9), 4, 1, Valid),
        shape(2, 9, 1, (13, 12), 2, 1, Same),
        // The seed and colorization models' last layers, batch 1.
        shape(1, 32, 1, (28, 28), 3, 1, Same),
        shape(1, 32, 3, (48, 48), 3, 1, Same),
    ]
}

#[test]
fn few_channels_kernels_match_cpu() {
    let mut rng = Rng::new(31);
    for s in few_channels_shapes() {
        // Forward and weight gradient on every stride-1 shape.
        assert_eq!(
            check_kernel_family(Conv2dKernel::FewChannels, &s, &mut rng),
            2,
            "{s:?}"
        );
    }
    // Strided layers and input gradients are not the few-channel kernels' and are refused.
    let gpu = gpu();
    let strided = shape(1, 4, 2, (9, 9), 3, 2, Padding::Same);
    assert!(!Conv2dKernel::FewChannels.handles(&strided, Conv2dPass::Forward));
    let (x, w, b, y) = (
        gpu.storage("x", strided.input_len()),
        gpu.storage("w", strided.weight_len()),
        gpu.storage("b", strided.bias_len()),
        gpu.storage("y", strided.output_len()),
    );
    assert!(
        conv2d::forward_with(gpu, Conv2dKernel::FewChannels, &strided, &x, &w, &b, &y).is_err()
    );
    let s1 = shape(1, 4, 2, (9, 9), 3, 1, Padding::Same);
    assert!(!Conv2dKernel::FewChannels.handles(&s1, Conv2dPass::BackwardInput));
}

#[test]
fn blocked_kernels_match_cpu_on_subgroup_shapes() {
    // The fallback for adapters without 8-lane subgroups, on the shapes lavapipe now sends to
    // the subgroup kernels (the parity test above covers the rest through `best`).
    let mut rng = Rng::new(29);
    for s in subgroup_shapes() {
        assert_eq!(check_kernel_family(Conv2dKernel::Blocked, &s, &mut rng), 3);
    }
}

#[test]
fn lavapipe_gets_the_subgroup_kernels_for_the_big_layers() {
    let gpu = gpu();
    let s = shape(64, 32, 64, (14, 14), 3, 1, Padding::Same);
    let want = if Conv2dKernel::Subgroup.supported(gpu) {
        Conv2dKernel::Subgroup
    } else {
        Conv2dKernel::Blocked
    };
    for pass in [
        Conv2dPass::Forward,
        Conv2dPass::BackwardInput,
        Conv2dPass::BackwardWeight,
    ] {
        assert_eq!(Conv2dKernel::best(gpu, &s, pass), want, "{pass:?}");
    }
    // At most 4 output channels: a 32-column tile would be mostly clamped; the generated
    // few-channel kernels win the forward pass and the weight gradient, the subgroup one the input gradient.
    for few in [
        shape(64, 32, 1, (28, 28), 3, 1, Padding::Same),
        shape(64, 32, 3, (48, 48), 3, 1, Padding::Same),
    ] {
        for pass in [Conv2dPass::Forward, Conv2dPass::BackwardWeight] {
            assert_eq!(
                Conv2dKernel::best(gpu, &few, pass),
                Conv2dKernel::FewChannels,
                "{pass:?}"
            );
        }
        assert_eq!(
            Conv2dKernel::best(gpu, &few, Conv2dPass::BackwardInput),
            want
        );
    }
    // Strided few-channel layers keep the blocked kernels.
    let strided = shape(64, 32, 1, (28, 28), 3, 2, Padding::Same);
    assert_eq!(
        Conv2dKernel::best(gpu, &strided, Conv2dPass::Forward),
        Conv2dKernel::Blocked
    );
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

// The benchmark's baselines (`latentviz bench`): the vectorizable CPU loops (src/bench/baseline.rs)
// and the one-output-per-invocation kernels (ops::conv2d::naive) must compute the same thing as the reference, or the
// speed ratios they report mean nothing.

#[test]
fn benchmark_baselines_match_reference() {
    use latentviz::app::bench::baseline;
    let gpu = gpu();
    let mut rng = Rng::new(41);
    // 'same' with an odd kernel and width, and 'valid'.
    for s in [
        shape(2, 3, 5, (9, 11), 3, 1, Padding::Same),
        shape(1, 4, 2, (7, 6), 5, 1, Padding::Same),
        shape(2, 2, 3, (8, 9), 3, 1, Padding::Valid),
    ] {
        let x = rng.vec(s.input_len(), -1.0, 1.0);
        let w = rng.vec(s.weight_len(), -1.0, 1.0);
        let b = rng.vec(s.bias_len(), -1.0, 1.0);
        let dy = rng.vec(s.output_len(), -1.0, 1.0);
        let want_y = cpu::conv2d_forward(&s, &x, &w, &b);
        let want_dx = cpu::conv2d_backward_input(&s, &dy, &w);
        let want_dw = cpu::conv2d_backward_weight(&s, &x, &dy);
        // Same sums in another order.
        assert_close(
            "cpu forward",
            &baseline::cpu_conv_forward(&s, &x, &w, &b),
            &want_y,
            1e-5,
        );
        assert_close(
            "cpu dx",
            &baseline::cpu_conv_backward_input(&s, &dy, &w),
            &want_dx,
            1e-5,
        );
        assert_close(
            "cpu dw",
            &baseline::cpu_conv_backward_weight(&s, &x, &dy),
            &want_dw,
            1e-5,
        );
        let (xb, wb, bb, dyb) = (
            gpu.storage_from("x", &x),
            gpu.storage_from("w", &w),
            gpu.storage_from("b", &b),
            gpu.storage_from("dy", &dy),
        );
        let (y, dx, dw) = (
            gpu.storage("y", s.output_len()),
            gpu.storage("dx", s.input_len()),
            gpu.storage("dw", s.weight_len()),
        );
        let f = conv2d::naive::forward(gpu, &s, &xb, &wb, &bb, &y).unwrap();
        let i = conv2d::naive::backward_input(gpu, &s, &dyb, &wb, &dx).unwrap();
        let k = conv2d::naive::backward_weight(gpu, &s, &xb, &dyb, &dw).unwrap();
        gpu.run("naive conv", &[&f, &i, &k]).unwrap();
        assert_close("naive forward", &gpu.read_f32(&y).unwrap(), &want_y, 1e-5);
        assert_close("naive dx", &gpu.read_f32(&dx).unwrap(), &want_dx, 1e-5);
        assert_close("naive dw", &gpu.read_f32(&dw).unwrap(), &want_dw, 1e-5);
    }
}

/// The activations the forward kernels and the bias gradient fuse.
const FUSED: [Activation; 3] = [Activation::ELU, Activation::Relu, Activation::Sigmoid];

/// Every family's forward kernels with an activation fused into their store, against the CPU
/// conv followed by the CPU activation, on the shapes each family handles.
#[test]
fn fused_forward_matches_cpu_conv_then_activation() {
    let gpu = gpu();
    let mut rng = Rng::new(41);
    let families = [
        Conv2dKernel::Blocked,
        Conv2dKernel::Subgroup,
        Conv2dKernel::FewChannels,
    ];
    let shapes: Vec<Conv2dShape> = parity_shapes()
        .into_iter()
        .chain(subgroup_shapes())
        .chain(few_channels_shapes())
        .collect();
    let mut ran = [0; 3];
    for s in &shapes {
        let x = rng.vec(s.input_len(), -1.0, 1.0);
        let w = rng.vec(s.weight_len(), -1.0, 1.0);
        let b = rng.vec(s.bias_len(), -1.0, 1.0);
        let (xb, wb, bb) = (
            gpu.storage_from("x", &x),
            gpu.storage_from("w", &w),
            gpu.storage_from("b", &b),
        );
        let conv = cpu::conv2d_forward(s, &x, &w, &b);
        for (f, &kernel) in families.iter().enumerate() {
            if !kernel.supported(gpu) || !kernel.handles(s, Conv2dPass::Forward) {
                continue;
            }
            for act in FUSED {
                let yb = gpu.storage_from("y", &vec![7.0f32; s.output_len()]);
                let d = conv2d::forward_fused_with(gpu, kernel, s, Some(act), &xb, &wb, &bb, &yb)
                    .unwrap();
                gpu.run("fused conv2d test", &d.iter().collect::<Vec<_>>())
                    .unwrap();
                // The conv's f32 sums as in gpu_matches_cpu_forward_and_backward (1e-4), and
                // exp a few ulp from the CPU's.
                assert_close(
                    &format!("{kernel:?} {act:?} {s:?}"),
                    &gpu.read_f32(&yb).unwrap()[..s.output_len()],
                    &activation::cpu::activation_forward(act, &conv),
                    1e-4,
                );
            }
            ran[f] += 1;
        }
    }
    // Every family ran on several shapes (the subgroup one where the adapter has it).
    assert!(
        ran[0] >= 20 && ran[2] >= 10,
        "families ran on {ran:?} shapes"
    );
    assert!(
        !Conv2dKernel::Subgroup.supported(gpu) || ran[1] >= 10,
        "{ran:?}"
    );
}

/// The fused activation-derivative and bias-gradient pass against the CPU twin: the activation's
/// derivative through its output, then the bias gradient of that.
#[test]
fn fused_bias_gradient_matches_cpu() {
    let gpu = gpu();
    let mut rng = Rng::new(43);
    for s in parity_shapes() {
        // y as the fused forward pass leaves it: the activation of a conv output.
        let z = rng.vec(s.output_len(), -3.0, 3.0);
        let dy = rng.vec(s.output_len(), -1.0, 1.0);
        for act in FUSED {
            let y = activation::cpu::activation_forward(act, &z);
            let (yb, dyb) = (gpu.storage_from("y", &y), gpu.storage_from("dy", &dy));
            // Garbage in the outputs: both are overwritten, not accumulated.
            let dzb = gpu.storage_from("dz", &vec![7.0f32; s.output_len()]);
            let dbb = gpu.storage_from("db", &vec![7.0f32; s.bias_len()]);
            let d = conv2d::backward_bias_act(gpu, &s, act, &yb, &dyb, &dzb, &dbb).unwrap();
            gpu.run("fused bias test", &d.iter().collect::<Vec<_>>())
                .unwrap();
            let dz = activation::cpu::activation_grad_from_output(act, &y, &dy);
            let what = format!("{act:?} {s:?}");
            // Elementwise: the same f32 operations as the CPU's.
            assert_close(
                &format!("dz {what}"),
                &gpu.read_f32(&dzb).unwrap()[..s.output_len()],
                &dz,
                1e-6,
            );
            // Sums over batch * out_h * out_w, as the plain bias gradient's (4e-4).
            assert_close(
                &format!("db {what}"),
                &gpu.read_f32(&dbb).unwrap()[..s.bias_len()],
                &cpu::conv2d_backward_bias(&s, &dz),
                4e-4,
            );
        }
    }
    // An activation whose derivative the output does not give is refused.
    let s = shape(1, 1, 1, (3, 3), 3, 1, Padding::Same);
    let buf = |n| gpu.storage("b", n);
    let (y, dy, dz, db) = (buf(9), buf(9), buf(9), buf(1));
    let flat = Activation::Elu { alpha: 0.0 };
    assert!(conv2d::backward_bias_act(gpu, &s, flat, &y, &dy, &dz, &db).is_err());
}

/// The gradients of L = sum(r * act(conv(x, w) + b)) as the fused passes compute them (dz from
/// the output y, then the conv's gradients of dz) against central finite differences in f64.
#[test]
fn cpu_fused_backward_matches_finite_differences() {
    use Padding::{Same, Valid};
    let shapes = [
        shape(2, 2, 3, (6, 7), 3, 2, Same),
        shape(1, 3, 2, (5, 5), 2, 1, Valid),
    ];
    let mut rng = Rng::new(47);
    for s in shapes {
        for act in FUSED {
            let mut v = |n| -> Vec<f64> { (0..n).map(|_| rng.range(-1.0, 1.0) as f64).collect() };
            let (x, w, b, r) = (
                v(s.input_len()),
                v(s.weight_len()),
                v(s.bias_len()),
                v(s.output_len()),
            );
            let narrow = |v: &[f64]| -> Vec<f32> { v.iter().map(|&a| a as f32).collect() };
            let z = cpu::conv2d_forward_f64(&s, &x, &w, &b);
            let y = activation::cpu::activation_forward(act, &narrow(&z));
            let dz: Vec<f64> = activation::cpu::activation_grad_from_output(act, &y, &narrow(&r))
                .into_iter()
                .map(f64::from)
                .collect();
            let dx = cpu::conv2d_backward_input_f64(&s, &dz, &w);
            let dw = cpu::conv2d_backward_weight_f64(&s, &x, &dz);
            let db = cpu::conv2d_backward_bias_f64(&s, &dz);
            let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
                let z = cpu::conv2d_forward_f64(&s, x, w, b);
                z.iter()
                    .zip(&r)
                    .map(|(&z, r)| activation::cpu::activation_f64(act, z) * r)
                    .sum()
            };
            // A step far from the kinks of ELU and ReLU for all but a pre-activation within
            // 1e-5 of 0; the analytic side went through f32 (y and dz): agreement to ~1e-5.
            let h = 1e-5;
            let check = |name: &str, i: usize, fd: f64, analytic: f64| {
                assert!(
                    (fd - analytic).abs() < 1e-4 * (1.0 + analytic.abs()),
                    "{act:?} {s:?} {name}[{i}]: finite difference {fd} vs backward {analytic}"
                );
            };
            // dL/d(args[which][i]) by central differences.
            let fd = |which: usize, i: usize| -> f64 {
                let mut args = [x.clone(), w.clone(), b.clone()];
                let keep = args[which][i];
                args[which][i] = keep + h;
                let up = loss(&args[0], &args[1], &args[2]);
                args[which][i] = keep - h;
                let down = loss(&args[0], &args[1], &args[2]);
                (up - down) / (2.0 * h)
            };
            for (which, (name, grad)) in [("dx", &dx), ("dw", &dw), ("db", &db)].iter().enumerate()
            {
                for (i, &analytic) in grad.iter().enumerate() {
                    check(name, i, fd(which, i), analytic);
                }
            }
        }
    }
}
