//! Dense layer: GPU vs CPU for forward and all three gradients (including the seed model's
//! shapes), and the CPU gradients against central differences in f64.

use crate::common::{assert_close, gpu};
use latentviz::ops::dense::{self, DenseShape, cpu};
use latentviz::rng::Rng;

fn shape(batch: usize, inputs: usize, outputs: usize) -> DenseShape {
    DenseShape {
        batch,
        inputs,
        outputs,
    }
}

const SENTINEL: f32 = 777.0;

#[test]
fn gpu_matches_cpu_forward_and_gradients() {
    let gpu = gpu();
    let mut rng = Rng::new(21);
    // Batch 1, odd sizes, more rows than one tile, and the seed model's 3136 <-> 32 at batch 256.
    for s in [
        shape(1, 5, 3),
        shape(7, 45, 13),
        shape(67, 9, 70),
        shape(256, 3136, 32),
        shape(256, 32, 3136),
    ] {
        let x = rng.vec(s.x_len(), -1.0, 1.0);
        let w = rng.vec(s.w_len(), -0.1, 0.1);
        let b = rng.vec(s.b_len(), -1.0, 1.0);
        let dy = rng.vec(s.y_len(), -1.0, 1.0);
        let (xb, wb, bb, dyb) = (
            gpu.storage_from("x", &x),
            gpu.storage_from("w", &w),
            gpu.storage_from("b", &b),
            gpu.storage_from("dy", &dy),
        );
        // Outputs start as garbage: gradients are written, not accumulated.
        let yb = gpu.storage_from("y", &vec![SENTINEL; s.y_len()]);
        let dxb = gpu.storage_from("dx", &vec![SENTINEL; s.x_len()]);
        let dwb = gpu.storage_from("dw", &vec![SENTINEL; s.w_len()]);
        let dbb = gpu.storage_from("db", &vec![SENTINEL; s.b_len()]);
        let mut ds = dense::forward(gpu, &s, &xb, &wb, &bb, &yb).unwrap();
        ds.extend(dense::backward_input(gpu, &s, &dyb, &wb, &dxb).unwrap());
        ds.extend(dense::backward_weight(gpu, &s, &xb, &dyb, &dwb).unwrap());
        ds.extend(dense::backward_bias(gpu, &s, &dyb, &dbb).unwrap());
        gpu.run("dense test", &ds.iter().collect::<Vec<_>>())
            .unwrap();
        // f32 sums of up to 3136 terms in a different order than the CPU loops; |y| stays below
        // ~10, |dW| below ~sqrt(256) * 0.6: relative 1e-4 covers the rounding.
        let tol = 1e-4;
        let what = format!("{s:?}");
        assert_close(
            &format!("forward {what}"),
            &gpu.read_f32(&yb).unwrap(),
            &cpu::dense_forward(&s, &x, &w, &b),
            tol,
        );
        assert_close(
            &format!("dx {what}"),
            &gpu.read_f32(&dxb).unwrap(),
            &cpu::dense_backward_input(&s, &dy, &w),
            tol,
        );
        assert_close(
            &format!("dW {what}"),
            &gpu.read_f32(&dwb).unwrap(),
            &cpu::dense_backward_weight(&s, &x, &dy),
            tol,
        );
        assert_close(
            &format!("db {what}"),
            &gpu.read_f32(&dbb).unwrap(),
            &cpu::dense_backward_bias(&s, &dy),
            tol,
        );
    }
}

/// L = sum_{b,j} y[b,j] r[b,j] in f64 for y = x W + bias, so dL/dy = r.
fn loss_f64(s: &DenseShape, x: &[f64], w: &[f64], bias: &[f64], r: &[f32]) -> f64 {
    let mut total = 0.0;
    for b in 0..s.batch {
        for j in 0..s.outputs {
            let mut y = bias[j];
            for i in 0..s.inputs {
                y += x[b * s.inputs + i] * w[i * s.outputs + j];
            }
            total += y * r[b * s.outputs + j] as f64;
        }
    }
    total
}

#[test]
fn cpu_gradients_match_finite_differences() {
    let s = shape(3, 5, 4);
    let mut rng = Rng::new(22);
    let x = rng.vec(s.x_len(), -1.0, 1.0);
    let w = rng.vec(s.w_len(), -1.0, 1.0);
    let b = rng.vec(s.b_len(), -1.0, 1.0);
    let r = rng.vec(s.y_len(), -1.0, 1.0);
    let dx = cpu::dense_backward_input(&s, &r, &w);
    let dw = cpu::dense_backward_weight(&s, &x, &r);
    let db = cpu::dense_backward_bias(&s, &r);
    let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
    let (x64, w64, b64) = (f64s(&x), f64s(&w), f64s(&b));
    let h = 1e-6;
    // Central difference of L along one coordinate of one of the three inputs.
    let fd = |which: usize, i: usize| {
        let mut args = [x64.clone(), w64.clone(), b64.clone()];
        args[which][i] += h;
        let up = loss_f64(&s, &args[0], &args[1], &args[2], &r);
        args[which][i] -= 2.0 * h;
        let down = loss_f64(&s, &args[0], &args[1], &args[2], &r);
        (up - down) / (2.0 * h)
    };
    // L is linear in each input, so the difference is exact up to f64 rounding (~1e-10); the
    // analytic gradients are f32 sums of a few terms (~1e-7).
    for (which, name, grad) in [(0, "dx", &dx), (1, "dW", &dw), (2, "db", &db)] {
        for (i, &g) in grad.iter().enumerate() {
            let want = fd(which, i);
            assert!(
                (want - g as f64).abs() < 1e-5 * (1.0 + want.abs()),
                "{name}[{i}]: fd {want} vs {g}"
            );
        }
    }
}

#[test]
fn bad_shapes_are_rejected() {
    let gpu = gpu();
    let s = shape(2, 3, 4);
    let small = gpu.storage("small", 5);
    let ok = gpu.storage("ok", 12);
    let bias = gpu.storage("bias", 4);
    // x needs 6, w needs 12, y needs 8.
    assert!(dense::forward(gpu, &s, &ok, &ok, &bias, &ok).is_ok());
    assert!(dense::forward(gpu, &s, &small, &small, &bias, &ok).is_err());
    assert!(dense::backward_bias(gpu, &s, &small, &bias).is_err());
    assert!(dense::backward_weight(gpu, &shape(0, 3, 4), &ok, &ok, &ok).is_err());
    assert!(dense::backward_input(gpu, &s, &ok, &small, &ok).is_err());
}

#[test]
fn sizes_and_flops() {
    let s = shape(256, 3136, 32);
    assert_eq!(
        (s.x_len(), s.y_len(), s.w_len(), s.b_len()),
        (256 * 3136, 256 * 32, 3136 * 32, 32)
    );
    assert_eq!(s.flops(), 2.0 * 256.0 * 3136.0 * 32.0);
}
