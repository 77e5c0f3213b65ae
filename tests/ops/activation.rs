//! Activations: GPU vs CPU parity, CPU backward vs central differences.

use crate::common::{assert_close, gpu};
use latentviz::ops::activation::{self, Activation, cpu};
use latentviz::rng::Rng;

const ACTS: [Activation; 3] = [Activation::ELU, Activation::Relu, Activation::Sigmoid];

#[test]
fn gpu_matches_cpu_forward_and_backward() {
    let gpu = gpu();
    // 45 * 65 * 3 + 1: not a multiple of the workgroup size or of 4.
    let n = 45 * 65 * 3 + 1;
    let mut rng = Rng::new(1);
    // Spread past the sigmoid's saturation to exercise the stable branch.
    let x: Vec<f32> = rng.vec(n, -30.0, 30.0);
    let dy = rng.vec(n, -1.0, 1.0);
    for act in ACTS {
        let xb = gpu.storage_from("x", &x);
        let yb = gpu.storage("y", n);
        let dyb = gpu.storage_from("dy", &dy);
        let dxb = gpu.storage("dx", n);
        let f = activation::forward(gpu, act, &xb, &yb, n).unwrap();
        let b = activation::backward(gpu, act, &xb, &yb, &dyb, &dxb, n).unwrap();
        gpu.run("activation test", &[&f, &b]).unwrap();
        let y_cpu = cpu::activation_forward(act, &x);
        let dx_cpu = cpu::activation_backward(act, &x, &y_cpu, &dy);
        // exp differs by a few ulp between GPU and CPU libm.
        assert_close(
            &format!("{act:?} forward"),
            &gpu.read_f32(&yb).unwrap()[..n],
            &y_cpu,
            1e-5,
        );
        assert_close(
            &format!("{act:?} backward"),
            &gpu.read_f32(&dxb).unwrap()[..n],
            &dx_cpu,
            1e-5,
        );
    }
}

#[test]
fn cpu_backward_matches_finite_differences() {
    let mut rng = Rng::new(2);
    // Points kept away from the kink at 0, where ELU and ReLU have no derivative.
    let x: Vec<f32> = (0..200)
        .map(|_| {
            let v = rng.range(0.05, 3.0);
            if rng.uniform() < 0.5 { -v } else { v }
        })
        .collect();
    let ones = vec![1.0f32; x.len()];
    for act in ACTS {
        let y = cpu::activation_forward(act, &x);
        let dx = cpu::activation_backward(act, &x, &y, &ones);
        let h = 1e-5;
        for (i, &xi) in x.iter().enumerate() {
            let xi = xi as f64;
            let fd =
                (cpu::activation_f64(act, xi + h) - cpu::activation_f64(act, xi - h)) / (2.0 * h);
            assert!(
                (fd - dx[i] as f64).abs() < 1e-4 * (1.0 + fd.abs()),
                "{act:?} at {xi}: fd {fd} vs {}",
                dx[i]
            );
        }
    }
}
