//! Where a training step's time goes: every dispatch of the seed model's step timed on its own.

use crate::error::Result;
use crate::gpu::{Gpu, Timer};
use crate::graph::{ExecOptions, Executor, ParamStore, Training};
use crate::model;
use crate::ops::loss::LossKind;
use crate::ops::optim::Optimizer;

/// One dispatch's share of a step.
#[derive(Clone, Debug)]
pub struct DispatchTime {
    pub label: String,
    pub seconds: f64,
    pub flops: f64,
}

/// Time each dispatch of one training step of the MNIST autoencoder at `batch` (its graph fused
/// or not, as `options` say), and the whole step recorded as one command buffer. Returns (per
/// dispatch, whole step seconds).
pub fn profile_mnist_step(
    gpu: &Gpu,
    batch: usize,
    reps: usize,
    options: ExecOptions,
) -> Result<(Vec<DispatchTime>, f64)> {
    let built = model::mnist_autoencoder(batch)?;
    let mut store = ParamStore::new(0);
    let training = Training {
        loss: LossKind::BceWithLogits,
        optimizer: Some(Optimizer::rmsprop(1e-3)),
    };
    let exec = Executor::with_options(
        gpu,
        built.graph.clone(),
        &mut store,
        Some((training, built.output, built.input)),
        options,
    )?;
    let input = crate::rng::Rng::new(0).vec(batch * 784, 0.0, 1.0);
    exec.set_input(gpu, built.input, &input)?;
    let timer = Timer::new(gpu);
    let all = exec.dispatches(&[]);
    let whole = timer.time("step", &all, reps)?.seconds;
    let mut out = Vec::new();
    for d in &all {
        let t = timer.time(&d.label, &[*d], reps)?;
        out.push(DispatchTime {
            label: d.label.clone(),
            seconds: t.seconds,
            flops: d.flops,
        });
    }
    Ok((out, whole))
}
