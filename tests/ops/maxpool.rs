//! Max-pooling 2x2 stride 2: GPU vs CPU parity (values, argmax, gradient) on odd and awkward
//! shapes, Keras 'same' rounding, tie order, and the CPU backward against finite differences.

use crate::common::{assert_close, gpu};
use latentviz::ops::maxpool::{self, PoolShape, cpu};
use latentviz::rng::Rng;

fn pool(batch: usize, channels: usize, height: usize, width: usize) -> PoolShape {
    PoolShape {
        batch,
        channels,
        height,
        width,
    }
}

/// Distinct values in [-1, 1) in random order, so every window has one maximum.
fn distinct(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n).map(|i| -1.0 + 2.0 * i as f32 / n as f32).collect();
    rng.shuffle(&mut v);
    v
}

#[test]
fn shape_rounds_up_like_keras_same() {
    assert_eq!(pool(1, 1, 28, 28).out_hw(), (14, 14));
    assert_eq!(pool(1, 1, 7, 7).out_hw(), (4, 4));
    assert_eq!(pool(2, 3, 45, 65).out_hw(), (23, 33));
    assert_eq!(pool(2, 3, 45, 65).output_len(), 2 * 3 * 23 * 33);
    assert_eq!(pool(1, 1, 1, 1).out_hw(), (1, 1));
    assert!(pool(0, 1, 4, 4).validate().is_err());
}

#[test]
fn cpu_forward_by_hand() {
    // One 3x3 plane: windows {0,1,3,4}, {2,5}, {6,7}, {8}; the padded cells are ignored, so a
    // negative edge window keeps its negative maximum (no zero from padding).
    let s = pool(1, 1, 3, 3);
    let x = [1.0, 5.0, -3.0, 2.0, 4.0, -2.0, -7.0, -6.0, -9.0];
    let (y, arg) = cpu::maxpool_forward(&s, &x);
    assert_eq!(y, vec![5.0, -2.0, -6.0, -9.0]);
    assert_eq!(arg, vec![1, 5, 7, 8]);
    // Ties: the first maximum in window order wins.
    let s = pool(1, 1, 2, 2);
    let (_, arg) = cpu::maxpool_forward(&s, &[3.0, 3.0, 3.0, 3.0]);
    assert_eq!(arg, vec![0]);
    let (_, arg) = cpu::maxpool_forward(&s, &[1.0, 3.0, 3.0, 3.0]);
    assert_eq!(arg, vec![1]);
}

#[test]
fn gpu_matches_cpu() {
    let gpu = gpu();
    let mut rng = Rng::new(21);
    for s in [
        pool(2, 3, 45, 65),
        pool(1, 1, 7, 7),
        pool(1, 2, 1, 5),
        pool(3, 5, 28, 28),
        pool(1, 1, 1, 1),
        pool(2, 1, 6, 3),
    ] {
        let x = distinct(&mut rng, s.input_len());
        let dy = rng.vec(s.output_len(), -1.0, 1.0);
        let xb = gpu.storage_from("x", &x);
        let yb = gpu.storage("y", s.output_len());
        let ab = gpu.storage("argmax", s.output_len());
        let dyb = gpu.storage_from("dy", &dy);
        // Garbage in dx: the backward pass must overwrite it everywhere.
        let dxb = gpu.storage_from("dx", &vec![7.0f32; s.input_len()]);
        let f = maxpool::forward(gpu, &s, &xb, &yb, &ab).unwrap();
        let b = maxpool::backward(gpu, &s, &ab, &dyb, &dxb).unwrap();
        gpu.run("maxpool test", &[&f, &b]).unwrap();
        let (y_cpu, arg_cpu) = cpu::maxpool_forward(&s, &x);
        let dx_cpu = cpu::maxpool_backward(&s, &arg_cpu, &dy);
        // Selection and routing only: no arithmetic, so exact.
        assert_eq!(
            gpu.read_f32(&yb).unwrap()[..s.output_len()],
            y_cpu[..],
            "{s:?} y"
        );
        assert_eq!(
            gpu.read::<u32>(&ab, 0, s.output_len()).unwrap(),
            arg_cpu,
            "{s:?} argmax"
        );
        assert_close(
            &format!("{s:?} dx"),
            &gpu.read_f32(&dxb).unwrap()[..s.input_len()],
            &dx_cpu,
            0.0,
        );
    }
}

#[test]
fn gpu_breaks_ties_like_cpu() {
    let gpu = gpu();
    // Whole windows of equal values, and pairs of equal maxima in every position pair.
    let s = pool(1, 1, 4, 6);
    let x = [
        2.0, 2.0, 0.0, 5.0, 1.0, 5.0, //
        2.0, 2.0, 0.0, 5.0, 5.0, 0.0, //
        0.0, 1.0, 9.0, 0.0, 3.0, 1.0, //
        1.0, 0.0, 9.0, 9.0, 1.0, 3.0,
    ];
    let xb = gpu.storage_from("x", &x);
    let yb = gpu.storage("y", s.output_len());
    let ab = gpu.storage("argmax", s.output_len());
    let f = maxpool::forward(gpu, &s, &xb, &yb, &ab).unwrap();
    gpu.run("maxpool ties", &[&f]).unwrap();
    let (_, arg_cpu) = cpu::maxpool_forward(&s, &x);
    // Windows: all equal -> 0; top-right = bottom-right -> 3; top-right = bottom-left -> 5;
    // top-right = bottom-left -> 13; three equal -> 14; top-left = bottom-right -> 16.
    assert_eq!(arg_cpu, vec![0, 3, 5, 13, 14, 16]);
    assert_eq!(gpu.read::<u32>(&ab, 0, s.output_len()).unwrap(), arg_cpu);
}

#[test]
fn bad_buffers_are_errors() {
    let gpu = gpu();
    let s = pool(2, 3, 5, 5);
    let x = gpu.storage("x", s.input_len());
    let y = gpu.storage("y", s.output_len());
    let a = gpu.storage("argmax", s.output_len());
    let short = gpu.storage("short", s.output_len() - 1);
    assert!(maxpool::forward(gpu, &s, &x, &y, &a).is_ok());
    assert!(maxpool::forward(gpu, &s, &x, &short, &a).is_err());
    assert!(maxpool::forward(gpu, &s, &x, &y, &short).is_err());
    assert!(maxpool::backward(gpu, &s, &a, &y, &short).is_err());
    assert!(maxpool::forward(gpu, &pool(0, 3, 5, 5), &x, &y, &a).is_err());
}

/// With distinct inputs max-pooling is locally linear: L = sum(y * r) has dL/dx = backward(r),
/// which central differences (h well below the gap between values) reproduce.
#[test]
fn cpu_backward_matches_finite_differences() {
    let mut rng = Rng::new(22);
    let s = pool(2, 2, 5, 7);
    let mut x = distinct(&mut rng, s.input_len());
    let r = rng.vec(s.output_len(), -1.0, 1.0);
    let (_, arg) = cpu::maxpool_forward(&s, &x);
    let dx = cpu::maxpool_backward(&s, &arg, &r);
    // Values are 2/140 apart; h = 1e-3 never changes which one is largest.
    let h = 1e-3f32;
    let loss = |x: &[f32]| -> f64 {
        let (y, _) = cpu::maxpool_forward(&s, x);
        y.iter().zip(&r).map(|(a, b)| *a as f64 * *b as f64).sum()
    };
    for i in 0..x.len() {
        let keep = x[i];
        x[i] = keep + h;
        let up = loss(&x);
        x[i] = keep - h;
        let down = loss(&x);
        x[i] = keep;
        // The step itself is rounded to f32 (x near 1 has ulp 6e-8, relative to h: 1e-4).
        let fd = (up - down) / (2.0 * h as f64);
        assert!(
            (fd - dx[i] as f64).abs() < 1e-3,
            "dx[{i}]: fd {fd} vs {}",
            dx[i]
        );
    }
}
