//! conv2d: shape rules, GPU vs CPU parity forward and backward on awkward shapes, and the CPU
//! backward against central finite differences in f64.
mod common;

use common::{assert_close, gpu};
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
    // One output channel: a 32-column tile would be mostly clamped; the blocked kernel wins.
    let thin = shape(64, 32, 1, (28, 28), 3, 1, Padding::Same);
    assert_eq!(
        Conv2dKernel::best(gpu, &thin, Conv2dPass::Forward),
        Conv2dKernel::Blocked
    );
}

#[test]
fn subgroup_kernels_validate_with_naga() {
    for pass in [
        Conv2dPass::Forward,
        Conv2dPass::BackwardInput,
        Conv2dPass::BackwardWeight,
    ] {
        for rows in [16, 64] {
            let source = conv2d::subgroup_source(pass, rows);
            let module = naga::front::wgsl::parse_str(&source)
                .unwrap_or_else(|e| panic!("{pass:?}: {}", e.emit_to_string(&source)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::all(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{pass:?}: {}", e.emit_to_string(&source)));
        }
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

// ---------------------------------------------------------------------------------------------
// Timing against the two yardsticks (ignored by default; run with
// `cargo test --release --test conv2d -- --ignored --nocapture`): a one-output-per-invocation
// kernel, and a single-threaded CPU loop the compiler vectorizes (contiguous row axpys / dots).

/// Shared WGSL header of the naive kernels: the same Params as shaders/conv2d_*.wgsl.
const NAIVE_HEADER: &str = "
struct Params {
    batch: u32, in_ch: u32, out_ch: u32, height: u32, width: u32, out_h: u32, out_w: u32,
    kernel: u32, stride: u32, pad_top: u32, pad_left: u32, chunks: u32, batch_per_chunk: u32,
    _pad0: u32, _pad1: u32, _pad2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
";

/// One output element per invocation, bindings as conv2d_forward.wgsl.
const NAIVE_FORWARD: &str = "
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    let opx = p.out_h * p.out_w;
    if (i >= p.batch * p.out_ch * opx) { return; }
    let ow = i % p.out_w; let oh = (i / p.out_w) % p.out_h;
    let oc = (i / opx) % p.out_ch; let b = i / (opx * p.out_ch);
    var acc = bias[oc];
    for (var ic = 0u; ic < p.in_ch; ic++) {
        for (var kh = 0u; kh < p.kernel; kh++) {
            let ih = i32(oh * p.stride + kh) - i32(p.pad_top);
            for (var kw = 0u; kw < p.kernel; kw++) {
                let iw = i32(ow * p.stride + kw) - i32(p.pad_left);
                if (ih >= 0 && ih < i32(p.height) && iw >= 0 && iw < i32(p.width)) {
                    acc += w[((oc * p.in_ch + ic) * p.kernel + kh) * p.kernel + kw]
                        * x[((b * p.in_ch + ic) * p.height + u32(ih)) * p.width + u32(iw)];
                }
            }
        }
    }
    y[i] = acc;
}
";

/// One input-gradient element per invocation, bindings as conv2d_backward_input.wgsl.
const NAIVE_BACKWARD_INPUT: &str = "
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    let hw = p.height * p.width;
    if (i >= p.batch * p.in_ch * hw) { return; }
    let iw = i % p.width; let ih = (i / p.width) % p.height;
    let ic = (i / hw) % p.in_ch; let b = i / (hw * p.in_ch);
    var acc = 0.0;
    for (var oc = 0u; oc < p.out_ch; oc++) {
        for (var kh = 0u; kh < p.kernel; kh++) {
            let nh = i32(ih + p.pad_top) - i32(kh);
            for (var kw = 0u; kw < p.kernel; kw++) {
                let nw = i32(iw + p.pad_left) - i32(kw);
                if (nh >= 0 && nw >= 0 && u32(nh) % p.stride == 0u && u32(nw) % p.stride == 0u) {
                    let oh = u32(nh) / p.stride; let ow = u32(nw) / p.stride;
                    if (oh < p.out_h && ow < p.out_w) {
                        acc += w[((oc * p.in_ch + ic) * p.kernel + kh) * p.kernel + kw]
                            * dy[((b * p.out_ch + oc) * p.out_h + oh) * p.out_w + ow];
                    }
                }
            }
        }
    }
    dx[i] = acc;
}
";

/// One weight-gradient element per invocation (summing the whole batch), bindings x, dy, dw.
const NAIVE_BACKWARD_WEIGHT: &str = "
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (i >= p.out_ch * p.in_ch * p.kernel * p.kernel) { return; }
    let kw = i % p.kernel; let kh = (i / p.kernel) % p.kernel;
    let ic = (i / (p.kernel * p.kernel)) % p.in_ch; let oc = i / (p.kernel * p.kernel * p.in_ch);
    var acc = 0.0;
    for (var b = 0u; b < p.batch; b++) {
        for (var oh = 0u; oh < p.out_h; oh++) {
            let ih = i32(oh * p.stride + kh) - i32(p.pad_top);
            for (var ow = 0u; ow < p.out_w; ow++) {
                let iw = i32(ow * p.stride + kw) - i32(p.pad_left);
                if (ih >= 0 && ih < i32(p.height) && iw >= 0 && iw < i32(p.width)) {
                    acc += dy[((b * p.out_ch + oc) * p.out_h + oh) * p.out_w + ow]
                        * x[((b * p.in_ch + ic) * p.height + u32(ih)) * p.width + u32(iw)];
                }
            }
        }
    }
    dw[i] = acc;
}
";

fn naive_params(s: &Conv2dShape) -> conv2d::Conv2dParams {
    let (out_h, out_w) = s.out_hw();
    let (pad_top, pad_left) = s.pads();
    conv2d::Conv2dParams {
        batch: s.batch as u32,
        in_ch: s.in_ch as u32,
        out_ch: s.out_ch as u32,
        height: s.height as u32,
        width: s.width as u32,
        out_h: out_h as u32,
        out_w: out_w as u32,
        kernel: s.kernel as u32,
        stride: s.stride as u32,
        pad_top: pad_top as u32,
        pad_left: pad_left as u32,
        chunks: 1,
        batch_per_chunk: s.batch as u32,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    }
}

/// Single-threaded CPU loops for stride-1 'same' convolutions, written so the inner loop is a
/// contiguous row operation LLVM vectorizes.
mod fast_cpu {
    use super::Conv2dShape;

    /// The valid output-column range [lo, hi) for tap column offset kw - pad_left = d.
    fn cols(d: isize, in_w: usize, out_w: usize) -> (usize, usize) {
        let lo = (-d).max(0) as usize;
        let hi = ((in_w as isize - d).min(out_w as isize)).max(0) as usize;
        (lo, hi.max(lo))
    }

    pub fn forward(s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
        let (oh_n, ow_n) = s.out_hw();
        let (pt, pl) = s.pads();
        let (h, wd, k) = (s.height, s.width, s.kernel);
        for n in 0..s.batch {
            for oc in 0..s.out_ch {
                let yo = &mut y[(n * s.out_ch + oc) * oh_n * ow_n..][..oh_n * ow_n];
                yo.fill(b[oc]);
                for ic in 0..s.in_ch {
                    let xi = &x[(n * s.in_ch + ic) * h * wd..][..h * wd];
                    for kh in 0..k {
                        for kw in 0..k {
                            let wv = w[((oc * s.in_ch + ic) * k + kh) * k + kw];
                            let d = kw as isize - pl as isize;
                            let (lo, hi) = cols(d, wd, ow_n);
                            for oh in 0..oh_n {
                                let ih = (oh + kh).wrapping_sub(pt);
                                if ih >= h {
                                    continue;
                                }
                                let yr = &mut yo[oh * ow_n + lo..oh * ow_n + hi];
                                let xs = (ih * wd) as isize + lo as isize + d;
                                let xr = &xi[xs as usize..xs as usize + (hi - lo)];
                                for (a, &v) in yr.iter_mut().zip(xr) {
                                    *a += wv * v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn backward_input(s: &Conv2dShape, dy: &[f32], w: &[f32], dx: &mut [f32]) {
        let (oh_n, ow_n) = s.out_hw();
        let (pt, pl) = s.pads();
        let (h, wd, k) = (s.height, s.width, s.kernel);
        dx.fill(0.0);
        for n in 0..s.batch {
            for ic in 0..s.in_ch {
                let xo = &mut dx[(n * s.in_ch + ic) * h * wd..][..h * wd];
                for oc in 0..s.out_ch {
                    let g = &dy[(n * s.out_ch + oc) * oh_n * ow_n..][..oh_n * ow_n];
                    for kh in 0..k {
                        for kw in 0..k {
                            let wv = w[((oc * s.in_ch + ic) * k + kh) * k + kw];
                            let d = kw as isize - pl as isize;
                            let (lo, hi) = cols(d, wd, ow_n);
                            for oh in 0..oh_n {
                                let ih = (oh + kh).wrapping_sub(pt);
                                if ih >= h {
                                    continue;
                                }
                                let xs = ((ih * wd) as isize + lo as isize + d) as usize;
                                let xr = &mut xo[xs..xs + (hi - lo)];
                                let gr = &g[oh * ow_n + lo..oh * ow_n + hi];
                                for (a, &v) in xr.iter_mut().zip(gr) {
                                    *a += wv * v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Dot product in 8 lanes (a plain f32 sum would not vectorize: no reassociation).
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0.0f32; 8];
        let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail: f32 = ac
            .remainder()
            .iter()
            .zip(bc.remainder())
            .map(|(x, y)| x * y)
            .sum();
        for (x, y) in ac.zip(bc) {
            for l in 0..8 {
                acc[l] += x[l] * y[l];
            }
        }
        acc.iter().sum::<f32>() + tail
    }

    pub fn backward_weight(s: &Conv2dShape, x: &[f32], dy: &[f32], dw: &mut [f32]) {
        let (oh_n, ow_n) = s.out_hw();
        let (pt, pl) = s.pads();
        let (h, wd, k) = (s.height, s.width, s.kernel);
        dw.fill(0.0);
        for n in 0..s.batch {
            for oc in 0..s.out_ch {
                let g = &dy[(n * s.out_ch + oc) * oh_n * ow_n..][..oh_n * ow_n];
                for ic in 0..s.in_ch {
                    let xi = &x[(n * s.in_ch + ic) * h * wd..][..h * wd];
                    for kh in 0..k {
                        for kw in 0..k {
                            let d = kw as isize - pl as isize;
                            let (lo, hi) = cols(d, wd, ow_n);
                            let mut acc = 0.0;
                            for oh in 0..oh_n {
                                let ih = (oh + kh).wrapping_sub(pt);
                                if ih >= h {
                                    continue;
                                }
                                let xs = ((ih * wd) as isize + lo as isize + d) as usize;
                                acc +=
                                    dot(&g[oh * ow_n + lo..oh * ow_n + hi], &xi[xs..xs + hi - lo]);
                            }
                            dw[((oc * s.in_ch + ic) * k + kh) * k + kw] += acc;
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn fast_cpu_loops_match_reference() {
    let mut rng = Rng::new(41);
    let s = shape(2, 3, 5, (9, 11), 3, 1, Padding::Same);
    let x = rng.vec(s.input_len(), -1.0, 1.0);
    let w = rng.vec(s.weight_len(), -1.0, 1.0);
    let b = rng.vec(s.bias_len(), -1.0, 1.0);
    let dy = rng.vec(s.output_len(), -1.0, 1.0);
    let mut y = vec![0.0; s.output_len()];
    let mut dx = vec![0.0; s.input_len()];
    let mut dw = vec![0.0; s.weight_len()];
    fast_cpu::forward(&s, &x, &w, &b, &mut y);
    fast_cpu::backward_input(&s, &dy, &w, &mut dx);
    fast_cpu::backward_weight(&s, &x, &dy, &mut dw);
    // Same sums in another order.
    assert_close(
        "fast forward",
        &y,
        &cpu::conv2d_forward(&s, &x, &w, &b),
        1e-5,
    );
    assert_close(
        "fast dx",
        &dx,
        &cpu::conv2d_backward_input(&s, &dy, &w),
        1e-5,
    );
    assert_close(
        "fast dw",
        &dw,
        &cpu::conv2d_backward_weight(&s, &x, &dy),
        1e-5,
    );
}

fn best_of<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    (0..reps)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
#[ignore = "timing; run by hand with --ignored --nocapture"]
fn timing_vs_naive_kernel_and_cpu_loop() {
    use latentviz::gpu::Timer;
    use latentviz::gpu::workgroups_for;
    use latentviz::ops::launch;
    let gpu = gpu();
    let batch: usize = std::env::var("CONV_TIMING_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let mut rng = Rng::new(51);
    let timer = Timer::new(gpu);
    println!("batch {batch}; seconds per call; ratios > 1 mean the blocked kernel is faster");
    // CONV_TIMING_QUICK=1: the 32 -> 64 layer only, without the (slow) naive kernels.
    let quick = std::env::var("CONV_TIMING_QUICK").is_ok();
    let layers: &[(usize, usize, usize)] = if quick {
        &[(32, 64, 14)]
    } else {
        &[(1, 32, 28), (32, 64, 14), (64, 32, 14), (32, 1, 28)]
    };
    for &(in_ch, out_ch, hw) in layers {
        let s = shape(batch, in_ch, out_ch, (hw, hw), 3, 1, Padding::Same);
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
        let (yb, dxb, dwb) = (
            gpu.storage("y", s.output_len()),
            gpu.storage("dx", s.input_len()),
            gpu.storage("dw", s.weight_len()),
        );
        let p = naive_params(&s);
        let naive_f = launch(
            gpu,
            "naive fwd",
            &format!("{NAIVE_HEADER}{NAIVE_FORWARD}"),
            "main",
            &p,
            &[&xb, &wb, &bb, &yb],
            workgroups_for(s.output_len(), 64),
        )
        .unwrap();
        let naive_i = launch(
            gpu,
            "naive bwd input",
            &format!("{NAIVE_HEADER}{NAIVE_BACKWARD_INPUT}"),
            "main",
            &p,
            &[&dyb, &wb, &dxb],
            workgroups_for(s.input_len(), 64),
        )
        .unwrap();
        let naive_w = launch(
            gpu,
            "naive bwd weight",
            &format!("{NAIVE_HEADER}{NAIVE_BACKWARD_WEIGHT}"),
            "main",
            &p,
            &[&xb, &dyb, &dwb],
            workgroups_for(s.weight_len(), 64),
        )
        .unwrap();
        let fwd = conv2d::forward(gpu, &s, &xb, &wb, &bb, &yb).unwrap();
        let bin = conv2d::backward_input(gpu, &s, &dyb, &wb, &dxb).unwrap();
        let bw = conv2d::backward_weight(gpu, &s, &xb, &dyb, &dwb).unwrap();
        let t = |ds: &[&latentviz::gpu::Dispatch], label: &str| {
            timer.time(label, ds, 3).unwrap().seconds
        };
        let gpu_f = t(&fwd.iter().collect::<Vec<_>>(), "fwd");
        let gpu_i = t(&bin.iter().collect::<Vec<_>>(), "bin");
        let gpu_w = t(&bw.iter().collect::<Vec<_>>(), "bw");
        let (nf, ni, nw) = if quick {
            (f64::NAN, f64::NAN, f64::NAN)
        } else {
            (
                t(&[&naive_f], "nf"),
                t(&[&naive_i], "ni"),
                t(&[&naive_w], "nw"),
            )
        };
        let mut y = vec![0.0; s.output_len()];
        let mut dx = vec![0.0; s.input_len()];
        let mut dw = vec![0.0; s.weight_len()];
        let cf = best_of(3, || fast_cpu::forward(&s, &x, &w, &b, &mut y));
        let ci = best_of(3, || fast_cpu::backward_input(&s, &dy, &w, &mut dx));
        let cw = best_of(3, || fast_cpu::backward_weight(&s, &x, &dy, &mut dw));
        let gflops = s.flops() * 1e-9;
        println!("{in_ch:>2}->{out_ch:<2} {hw}x{hw}:");
        for (name, g, n, c) in [
            ("forward", gpu_f, nf, cf),
            ("bwd input", gpu_i, ni, ci),
            ("bwd weight", gpu_w, nw, cw),
        ] {
            println!(
                "  {name:<10} blocked {g:.4}s ({:.1} GFLOP/s)  naive {n:.4}s  cpu {c:.4}s  vs naive {:.1}x  vs cpu {:.2}x",
                gflops / g,
                n / g,
                c / g
            );
        }
    }
}
