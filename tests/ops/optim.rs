//! Optimizers: several GPU steps against the CPU twins (one hyper-parameter buffer per optimizer,
//! rewritten before each step), the first step against its closed form, Keras defaults.

use crate::common::{assert_close, gpu};
use latentviz::ops::optim::{self, Optimizer, cpu};
use latentviz::rng::Rng;

/// Run `steps` updates of two parameter tensors (odd sizes, one over several workgroups) that
/// share one hyper buffer, with a fresh gradient and a new learning rate every step; compare with
/// the CPU after every step.
fn run_steps(make: fn(f32) -> Optimizer, steps: u64) {
    let gpu = gpu();
    let mut rng = Rng::new(31);
    let hyper = gpu.uniform("hyper", &make(1e-3).hyper(1));
    let lens = [1, 45 * 65 + 3];
    let mut params: Vec<Vec<f32>> = lens.iter().map(|&n| rng.vec(n, -1.0, 1.0)).collect();
    let mut states: Vec<Vec<Vec<f32>>> = lens
        .iter()
        .map(|&n| vec![vec![0.0; n]; make(1e-3).state_buffers()])
        .collect();
    let param_bufs: Vec<_> = params
        .iter()
        .map(|p| gpu.storage_from("param", p))
        .collect();
    let grad_bufs: Vec<_> = lens.iter().map(|&n| gpu.storage("grad", n)).collect();
    let state_bufs: Vec<Vec<_>> = states
        .iter()
        .map(|s| s.iter().map(|v| gpu.storage_from("state", v)).collect())
        .collect();
    let dispatches: Vec<_> = (0..lens.len())
        .map(|i| {
            let state: Vec<&wgpu::Buffer> = state_bufs[i].iter().collect();
            optim::update(
                gpu,
                &make(1e-3),
                &hyper,
                lens[i],
                &param_bufs[i],
                &grad_bufs[i],
                &state,
            )
            .unwrap()
        })
        .collect();
    for step in 1..=steps {
        let opt = make(1e-3 * step as f32);
        let h = opt.hyper(step);
        // One write per optimizer and step, whatever the number of tensors.
        gpu.write(&hyper, &[h]);
        let mut grads = Vec::new();
        for (i, &n) in lens.iter().enumerate() {
            let g = rng.vec(n, -1.0, 1.0);
            gpu.write(&grad_bufs[i], &g);
            grads.push(g);
        }
        gpu.run("optim step", &dispatches.iter().collect::<Vec<_>>())
            .unwrap();
        for i in 0..lens.len() {
            match opt {
                Optimizer::RmsProp { .. } => {
                    cpu::rmsprop_update(&h, &mut params[i], &grads[i], &mut states[i][0])
                }
                Optimizer::Adam { .. } => {
                    let (m, v) = states[i].split_at_mut(1);
                    cpu::adam_update(&h, &mut params[i], &grads[i], &mut m[0], &mut v[0])
                }
            }
            // Same f32 operations in the same order; sqrt and division may differ by an ulp.
            let what = format!("{opt:?} step {step} tensor {i}");
            assert_close(
                &what,
                &gpu.read_f32(&param_bufs[i]).unwrap(),
                &params[i],
                1e-6,
            );
            for (s, buf) in states[i].iter().zip(&state_bufs[i]) {
                assert_close(
                    &format!("{what} state"),
                    &gpu.read_f32(buf).unwrap(),
                    s,
                    1e-6,
                );
            }
        }
    }
}

#[test]
fn rmsprop_gpu_matches_cpu_over_steps() {
    run_steps(Optimizer::rmsprop, 4);
}

#[test]
fn adam_gpu_matches_cpu_over_steps() {
    run_steps(Optimizer::adam, 5);
}

#[test]
fn first_step_matches_closed_form() {
    // From zero state the first step is p -= lr * g / (sqrt(0.1) |g| + eps) for RMSprop and
    // p -= lr * sign(g) (up to eps) for Adam, whose bias correction undoes the zero start.
    let gpu = gpu();
    let g = [0.5f32, -2.0, 1e-3];
    let lr = 0.01f32;
    for opt in [Optimizer::rmsprop(lr), Optimizer::adam(lr)] {
        let hyper = gpu.uniform("hyper", &opt.hyper(1));
        let p = gpu.storage_from("p", &[0.0f32; 3]);
        let gb = gpu.storage_from("g", &g);
        let states: Vec<_> = (0..opt.state_buffers())
            .map(|_| gpu.storage("s", 3))
            .collect();
        let refs: Vec<&wgpu::Buffer> = states.iter().collect();
        let d = optim::update(gpu, &opt, &hyper, 3, &p, &gb, &refs).unwrap();
        gpu.run("first step", &[&d]).unwrap();
        let got = gpu.read_f32(&p).unwrap();
        for (i, &gi) in g.iter().enumerate() {
            let gi = gi as f64;
            let want = match opt {
                Optimizer::RmsProp { .. } => -(lr as f64) * gi / (0.1f64.sqrt() * gi.abs() + 1e-7),
                Optimizer::Adam { .. } => -(lr as f64) * gi / (gi.abs() + 1e-7),
            };
            // f32 arithmetic on values of order 1e-2: relative 1e-5.
            assert!(
                (got[i] as f64 - want).abs() < 1e-5 * want.abs(),
                "{opt:?} [{i}]: {} vs {want}",
                got[i]
            );
        }
    }
}

#[test]
fn keras_defaults_and_hyper_values() {
    assert_eq!(
        Optimizer::rmsprop(0.001),
        Optimizer::RmsProp {
            lr: 0.001,
            rho: 0.9,
            eps: 1e-7
        }
    );
    assert_eq!(
        Optimizer::adam(0.001),
        Optimizer::Adam {
            lr: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7
        }
    );
    assert_eq!(Optimizer::rmsprop(0.1).state_buffers(), 1);
    assert_eq!(Optimizer::adam(0.1).state_buffers(), 2);
    let h = Optimizer::adam(0.5).hyper(2);
    assert_eq!(
        (h.lr, h.rho_or_beta1, h.beta2, h.eps),
        (0.5, 0.9, 0.999, 1e-7)
    );
    // 1 - beta^t from the f32 betas the shader sees (0.999f32 is 0.99900001...).
    let bias = |beta: f32, t: i32| (1.0 - (beta as f64).powi(t)) as f32;
    assert_eq!((h.bias1, h.bias2), (bias(0.9, 2), bias(0.999, 2)), "{h:?}");
    assert!(
        (h.bias1 - 0.19).abs() < 1e-6 && (h.bias2 - 0.001999).abs() < 1e-7,
        "{h:?}"
    );
    // Step 0 is treated as step 1 (no division by a zero bias correction).
    assert_eq!(Optimizer::adam(0.5).hyper(0), Optimizer::adam(0.5).hyper(1));
    let r = Optimizer::rmsprop(0.5).hyper(7);
    assert_eq!((r.bias1, r.bias2), (1.0, 1.0));
}

#[test]
fn bad_arguments_are_rejected() {
    let gpu = gpu();
    let opt = Optimizer::adam(0.1);
    let hyper = gpu.uniform("hyper", &opt.hyper(1));
    let buf = gpu.storage("b", 8);
    let small = gpu.storage("small", 2);
    assert!(optim::update(gpu, &opt, &hyper, 8, &buf, &buf, &[&small, &small]).is_err());
    // Wrong number of state buffers for the optimizer.
    let p = gpu.storage("p", 8);
    let g = gpu.storage("g", 8);
    let (m, v) = (gpu.storage("m", 8), gpu.storage("v", 8));
    assert!(optim::update(gpu, &opt, &hyper, 8, &p, &g, &[&m, &v]).is_ok());
    assert!(optim::update(gpu, &opt, &hyper, 8, &p, &g, &[&m]).is_err());
    // The hyper buffer must be a uniform.
    assert!(optim::update(gpu, &opt, &buf, 8, &p, &g, &[&m, &v]).is_err());
    assert!(optim::update(gpu, &opt, &hyper, 0, &p, &g, &[&m, &v]).is_err());
}
