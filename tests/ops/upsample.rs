//! Nearest upsampling x2: GPU vs CPU parity forward and backward on awkward shapes, and the CPU
//! backward against finite differences.

use crate::common::{assert_close, gpu};
use latentviz::ops::upsample::{self, UpsampleShape, cpu};
use latentviz::rng::Rng;

fn up(batch: usize, channels: usize, height: usize, width: usize) -> UpsampleShape {
    UpsampleShape {
        batch,
        channels,
        height,
        width,
    }
}

#[test]
fn cpu_forward_by_hand() {
    let s = up(1, 1, 2, 3);
    assert_eq!(s.out_hw(), (4, 6));
    assert_eq!(s.output_len(), 24);
    let y = cpu::upsample_forward(&s, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    #[rustfmt::skip]
    let want = vec![
        1.0, 1.0, 2.0, 2.0, 3.0, 3.0,
        1.0, 1.0, 2.0, 2.0, 3.0, 3.0,
        4.0, 4.0, 5.0, 5.0, 6.0, 6.0,
        4.0, 4.0, 5.0, 5.0, 6.0, 6.0,
    ];
    assert_eq!(y, want);
    let dx = cpu::upsample_backward(&s, &(0..24).map(|i| i as f32).collect::<Vec<_>>());
    // Block sums: 0+1+6+7, 2+3+8+9, ...
    assert_eq!(dx, vec![14.0, 22.0, 30.0, 62.0, 70.0, 78.0]);
}

#[test]
fn gpu_matches_cpu() {
    let gpu = gpu();
    let mut rng = Rng::new(31);
    for s in [
        up(2, 3, 45, 65),
        up(1, 1, 1, 1),
        up(3, 5, 7, 7),
        up(1, 2, 14, 13),
    ] {
        let x = rng.vec(s.input_len(), -1.0, 1.0);
        let dy = rng.vec(s.output_len(), -1.0, 1.0);
        let xb = gpu.storage_from("x", &x);
        let yb = gpu.storage("y", s.output_len());
        let dyb = gpu.storage_from("dy", &dy);
        let dxb = gpu.storage_from("dx", &vec![7.0f32; s.input_len()]);
        let f = upsample::forward(gpu, &s, &xb, &yb).unwrap();
        let b = upsample::backward(gpu, &s, &dyb, &dxb).unwrap();
        gpu.run("upsample test", &[&f, &b]).unwrap();
        // Forward copies: exact.
        assert_eq!(
            gpu.read_f32(&yb).unwrap()[..s.output_len()],
            cpu::upsample_forward(&s, &x)[..]
        );
        // Four-term sums, summed in a different order than the CPU: a few ulp.
        assert_close(
            &format!("{s:?} dx"),
            &gpu.read_f32(&dxb).unwrap()[..s.input_len()],
            &cpu::upsample_backward(&s, &dy),
            1e-6,
        );
    }
}

#[test]
fn bad_buffers_are_errors() {
    let gpu = gpu();
    let s = up(2, 3, 5, 4);
    let x = gpu.storage("x", s.input_len());
    let y = gpu.storage("y", s.output_len());
    let short = gpu.storage("short", s.output_len() - 1);
    assert!(upsample::forward(gpu, &s, &x, &y).is_ok());
    assert!(upsample::forward(gpu, &s, &x, &short).is_err());
    assert!(upsample::backward(gpu, &s, &short, &x).is_err());
    assert!(upsample::forward(gpu, &up(1, 0, 5, 4), &x, &y).is_err());
}

/// L = sum(y * r) is linear in x, so central differences give dL/dx exactly up to rounding.
#[test]
fn cpu_backward_matches_finite_differences() {
    let mut rng = Rng::new(32);
    let s = up(2, 2, 3, 5);
    let mut x = rng.vec(s.input_len(), -1.0, 1.0);
    let r = rng.vec(s.output_len(), -1.0, 1.0);
    let dx = cpu::upsample_backward(&s, &r);
    let loss = |x: &[f32]| -> f64 {
        let y = cpu::upsample_forward(&s, x);
        y.iter().zip(&r).map(|(a, b)| *a as f64 * *b as f64).sum()
    };
    let h = 1e-2f32;
    for i in 0..x.len() {
        let keep = x[i];
        x[i] = keep + h;
        let upv = loss(&x);
        x[i] = keep - h;
        let down = loss(&x);
        x[i] = keep;
        // The perturbed x is rounded to f32: relative error of the step ~ 1e-7 / 1e-2.
        let fd = (upv - down) / (2.0 * h as f64);
        assert!(
            (fd - dx[i] as f64).abs() < 1e-4,
            "dx[{i}]: fd {fd} vs {}",
            dx[i]
        );
    }
}
