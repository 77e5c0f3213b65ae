//! Training the autoencoder on the GPU: the dataset uploaded once, shuffled batches gathered on
//! the GPU, one command buffer per step, the loss read back every few steps.

use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::gpu::{BufferSlices, Gpu};
use crate::graph::{Executor, ParamStore, Training};
use crate::model::Built;
use crate::ops::gather;
use crate::ops::loss::LossKind;
use crate::ops::optim::Optimizer;
use crate::rng::Rng;

/// Builds the model's graph for a given batch size.
pub type BuildFn = fn(usize) -> Result<Built>;

#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch: usize,
    pub optimizer: Optimizer,
    pub loss: LossKind,
    pub seed: u64,
    /// Read the loss back every this many steps (a NaN is caught at the next read).
    pub loss_every: usize,
    pub progress: bool,
}

/// One line of `--metrics`.
#[derive(Clone, Debug, Serialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub test_loss: f64,
    /// The test loss of always predicting the mean training image.
    pub mean_image_loss: f64,
    pub seconds: f64,
    pub images_per_second: f64,
}

fn check_rows(what: &str, data: &[f32], row_len: usize) -> Result<usize> {
    if row_len == 0 || !data.len().is_multiple_of(row_len) || data.is_empty() {
        return Err(Error::shape(
            what,
            format!("{} values do not form rows of {row_len}", data.len()),
        ));
    }
    Ok(data.len() / row_len)
}

/// Run `build`'s graph over the rows of `data` in batches of `batch` (the last one smaller),
/// with the loss against the input when `loss` is given, calling `each(executor, graph, rows)`
/// after each batch's input is set. One executor per distinct batch size.
fn for_each_batch(
    gpu: &Gpu,
    store: &mut ParamStore,
    build: BuildFn,
    data: &[f32],
    batch: usize,
    loss: Option<LossKind>,
    mut each: impl FnMut(&mut Executor, &Built, usize) -> Result<()>,
) -> Result<usize> {
    let probe = build(1)?;
    let row_len = probe.graph.node(probe.input).len();
    let n = check_rows("model input", data, row_len)?;
    let batch = batch.clamp(1, n);
    let mut cache: Option<(usize, Executor, Built)> = None;
    for start in (0..n).step_by(batch) {
        let rows = batch.min(n - start);
        if cache.as_ref().map(|c| c.0) != Some(rows) {
            let built = build(rows)?;
            let training = loss.map(|loss| {
                let training = Training {
                    loss,
                    optimizer: None,
                };
                (training, built.output, built.input)
            });
            let exec = Executor::new(gpu, built.graph.clone(), store, training)?;
            cache = Some((rows, exec, built));
        }
        let (_, exec, built) = cache.as_mut().expect("filled above");
        exec.set_input(
            gpu,
            built.input,
            &data[start * row_len..(start + rows) * row_len],
        )?;
        each(exec, built, rows)?;
    }
    Ok(n)
}

/// Run `build`'s graph over every row of `data` in batches and return the outputs, concatenated.
pub fn infer(
    gpu: &Gpu,
    store: &mut ParamStore,
    build: BuildFn,
    data: &[f32],
    batch: usize,
) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for_each_batch(gpu, store, build, data, batch, None, |exec, built, _| {
        gpu.run("inference", &exec.dispatches(&[]))?;
        out.extend(exec.read(gpu, built.output)?);
        Ok(())
    })?;
    Ok(out)
}

/// Mean loss of the autoencoder over `images` (target = input), weighting every element equally.
pub fn evaluate(
    gpu: &Gpu,
    store: &mut ParamStore,
    build: BuildFn,
    images: &[f32],
    batch: usize,
    loss: LossKind,
) -> Result<f64> {
    let mut total = 0.0;
    let n = for_each_batch(
        gpu,
        store,
        build,
        images,
        batch,
        Some(loss),
        |exec, _, rows| {
            exec.submit_step(gpu, &[])?;
            let (sum, _) = exec.take_loss(gpu)?;
            total += sum * rows as f64;
            Ok(())
        },
    )?;
    Ok(total / n as f64)
}

/// Mean per-element loss of predicting `mean` for every row of `images`, in f64.
pub fn constant_prediction_loss(mean: &[f32], images: &[f32], loss: LossKind) -> f64 {
    let eps = 1e-7f64;
    let mut total = 0.0;
    for row in images.chunks(mean.len()) {
        for (&p, &t) in mean.iter().zip(row) {
            let (p, t) = (p as f64, t as f64);
            total += match loss {
                LossKind::BceWithLogits => {
                    let p = p.clamp(eps, 1.0 - eps);
                    -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
                }
                LossKind::Mse => (p - t) * (p - t),
            };
        }
    }
    total / images.len() as f64
}

/// Mean row of `images`.
pub fn mean_row(images: &[f32], row_len: usize) -> Vec<f32> {
    let mut mean = vec![0f64; row_len];
    let n = images.len() / row_len;
    for row in images.chunks(row_len) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean.iter().map(|&m| (m / n as f64) as f32).collect()
}

/// Train the autoencoder `build` on `train` images (rows of the graph's input size), evaluating on
/// `test` after every epoch. Incomplete last batches are skipped (a different remainder each epoch,
/// since the order is reshuffled). `on_epoch` sees each epoch's metrics as they come.
pub fn train_autoencoder(
    gpu: &Gpu,
    store: &mut ParamStore,
    build: BuildFn,
    train: &[f32],
    test: &[f32],
    cfg: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochMetrics) -> Result<()>,
) -> Result<Vec<EpochMetrics>> {
    let built = build(cfg.batch.max(1))?;
    let row_len = built.graph.node(built.input).len() / cfg.batch.max(1);
    let n = check_rows("training images", train, row_len)?;
    check_rows("test images", test, row_len)?;
    if cfg.batch == 0 || cfg.batch > n {
        return Err(Error::InvalidArgument(format!(
            "batch size {} must be between 1 and the number of training images ({n})",
            cfg.batch
        )));
    }
    let mean = mean_row(train, row_len);
    let mean_image_loss = constant_prediction_loss(&mean, test, cfg.loss);

    let dataset = BufferSlices::upload(gpu, "training images", train, row_len, None)?;
    let training = Training {
        loss: cfg.loss,
        optimizer: Some(cfg.optimizer),
    };
    let mut exec = Executor::new(
        gpu,
        built.graph.clone(),
        store,
        Some((training, built.output, built.input)),
    )?;
    let idx = gpu.storage("batch indices", cfg.batch);
    let gather = gather::forward(gpu, &dataset, &idx, exec.value(built.input), cfg.batch)?;

    let steps = n / cfg.batch;
    let loss_every = cfg.loss_every.max(1);
    let mut rng = Rng::new(cfg.seed);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut history = Vec::new();
    for epoch in 1..=cfg.epochs {
        let start = Instant::now();
        rng.shuffle(&mut order);
        let bar = progress_bar(cfg.progress, (steps * cfg.batch) as u64, epoch, cfg.epochs);
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        for step in 0..steps {
            gpu.write(&idx, &order[step * cfg.batch..(step + 1) * cfg.batch]);
            exec.submit_step(gpu, &gather)?;
            if (step + 1) % loss_every == 0 || step + 1 == steps {
                let (sum, count) = exec.take_loss(gpu)?;
                if !sum.is_finite() {
                    bar.abandon();
                    return Err(Error::NonFinite(format!(
                        "training loss became {sum} in epoch {epoch} at step {} of {steps} \
                         (the loss is read every {loss_every} steps: it went bad in steps {}..={})",
                        step + 1,
                        (step + 1).saturating_sub(count.max(1)) + 1,
                        step + 1
                    )));
                }
                loss_sum += sum;
                batches += count;
                bar.set_message(format!("loss {:.4}", loss_sum / batches.max(1) as f64));
            }
            bar.inc(cfg.batch as u64);
        }
        bar.finish_and_clear();
        let train_seconds = start.elapsed().as_secs_f64();
        let test_loss = evaluate(gpu, store, build, test, cfg.batch, cfg.loss)?;
        if !test_loss.is_finite() {
            return Err(Error::NonFinite(format!(
                "test loss is {test_loss} after epoch {epoch}"
            )));
        }
        let m = EpochMetrics {
            epoch,
            train_loss: loss_sum / batches.max(1) as f64,
            test_loss,
            mean_image_loss,
            seconds: start.elapsed().as_secs_f64(),
            images_per_second: (steps * cfg.batch) as f64 / train_seconds,
        };
        on_epoch(&m)?;
        history.push(m);
    }
    Ok(history)
}

fn progress_bar(show: bool, len: u64, epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} images  {per_sec}  {msg}  eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}
