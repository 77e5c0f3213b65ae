//! criterion benchmarks of every kernel at the seed model's shapes (the same cases as
//! `latentviz bench`, which also checks parity), plus one whole training step.
//! Throughput is reported in elements = floating-point operations, so "Gelem/s" reads GFLOP/s.
//! `LATENTVIZ_BENCH_BATCH` sets the batch (default 256; lavapipe is happier with 32).

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use latentviz::app::bench;
use latentviz::gpu::Dispatch;
use latentviz::graph::{Executor, ParamStore, Training};
use latentviz::ops::loss::LossKind;
use latentviz::ops::optim::Optimizer;
use latentviz::{Gpu, model};

fn batch() -> usize {
    std::env::var("LATENTVIZ_BENCH_BATCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

fn kernels(c: &mut Criterion) {
    let gpu = Gpu::new(&Default::default()).expect("an adapter");
    let cases = bench::seed_cases(&gpu, batch(), None).expect("cases");
    for family in [
        "conv2d",
        "dense",
        "maxpool",
        "upsample",
        "activation",
        "loss",
        "optim",
    ] {
        let mut group = c.benchmark_group(family);
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_secs(2));
        for case in cases.iter().filter(|c| c.family == family) {
            let refs: Vec<&Dispatch> = case.dispatches.iter().collect();
            group.throughput(Throughput::Elements(case.flops as u64));
            group.bench_function(&case.name, |b| {
                b.iter(|| gpu.run(&case.name, &refs).expect("kernel runs"))
            });
        }
        group.finish();
    }
}

fn training_step(c: &mut Criterion) {
    let gpu = Gpu::new(&Default::default()).expect("an adapter");
    let batch = batch();
    let built = model::mnist_autoencoder(batch).expect("model");
    let mut store = ParamStore::new(0);
    let training = Training {
        loss: LossKind::BceWithLogits,
        optimizer: Some(Optimizer::rmsprop(1e-3)),
    };
    let mut exec = Executor::new(
        &gpu,
        built.graph.clone(),
        &mut store,
        Some((training, built.output, built.input)),
    )
    .expect("executor");
    let images = latentviz::rng::Rng::new(0).vec(batch * 784, 0.0, 1.0);
    exec.set_input(&gpu, built.input, &images).expect("input");
    let mut group = c.benchmark_group("training step");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(exec.flops() as u64));
    group.bench_function(format!("mnist autoencoder batch {batch}"), |b| {
        b.iter(|| {
            exec.submit_step(&gpu, &[]).expect("step");
            gpu.wait().expect("wait")
        })
    });
    group.finish();
}

criterion_group!(benches, kernels, training_step);
criterion_main!(benches);
