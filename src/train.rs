//! Training on the GPU, an autoencoder or any model on (input, target) pairs: the data set uploaded
//! once, shuffled batches gathered on the GPU, one command buffer per step, the loss read back
//! every few steps.

use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::gpu::{BufferSlices, Gpu};
use crate::graph::{Executor, NodeId, ParamStore, Training};
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

/// "epoch E: train loss …, test loss … (mean image …), S s, R images/s": the progress line the CLI
/// and the examples print.
impl std::fmt::Display for EpochMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "epoch {}: train loss {:.4}, test loss {:.4} (mean image {:.4}), {:.1} s, {:.0} images/s",
            self.epoch,
            self.train_loss,
            self.test_loss,
            self.mean_image_loss,
            self.seconds,
            self.images_per_second
        )
    }
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

/// Input rows and the target rows the model should produce for them, row for row: the inputs
/// are rows of the graph's input node, the targets rows of its output node.
#[derive(Clone, Copy, Debug)]
pub struct Pairs<'a> {
    pub inputs: &'a [f32],
    pub targets: &'a [f32],
}

/// A data set as the trainer sees it: without targets, each input is its own target (the
/// autoencoder), and the loss reads the graph's input node itself.
#[derive(Clone, Copy, Debug)]
struct Rows<'a> {
    inputs: &'a [f32],
    targets: Option<&'a [f32]>,
}

impl<'a> From<Pairs<'a>> for Rows<'a> {
    fn from(p: Pairs<'a>) -> Rows<'a> {
        Rows {
            inputs: p.inputs,
            targets: Some(p.targets),
        }
    }
}

impl<'a> Rows<'a> {
    fn autoencoder(inputs: &'a [f32]) -> Rows<'a> {
        Rows {
            inputs,
            targets: None,
        }
    }

    /// Check that the inputs form rows of `in_len` and the targets (if any) as many rows of
    /// `out_len`; returns the number of rows.
    fn check(&self, what: &str, in_len: usize, out_len: usize) -> Result<usize> {
        let n = check_rows(&format!("{what} inputs"), self.inputs, in_len)?;
        if let Some(y) = self.targets {
            let m = check_rows(&format!("{what} targets"), y, out_len)?;
            if m != n {
                return Err(Error::shape(
                    what,
                    format!("{n} input rows but {m} target rows"),
                ));
            }
        }
        Ok(n)
    }

    /// The rows the loss compares the output with.
    fn loss_targets(&self) -> &'a [f32] {
        self.targets.unwrap_or(self.inputs)
    }
}

/// Append an input node shaped like `built`'s output, to hold the targets; returns its id.
fn add_target(built: &mut Built) -> NodeId {
    let shape = built.graph.shape(built.output).to_vec();
    built.graph.input("target", &shape)
}

/// Run `build`'s graph over `data` in batches of `batch` (the last one smaller), with the loss
/// against the targets when `loss` is given, calling `each(executor, graph, rows)` after each
/// batch's input (and target) is set. One executor per distinct batch size.
fn for_each_batch(
    gpu: &Gpu,
    store: &mut ParamStore,
    build: BuildFn,
    data: Rows<'_>,
    batch: usize,
    loss: Option<LossKind>,
    mut each: impl FnMut(&mut Executor, &Built, usize) -> Result<()>,
) -> Result<usize> {
    let probe = build(1)?;
    let in_len = probe.graph.node(probe.input).len();
    let out_len = probe.graph.node(probe.output).len();
    let n = data.check("model", in_len, out_len)?;
    // Targets other than the input are only uploaded when a loss reads them.
    let targets = data.targets.filter(|_| loss.is_some());
    let batch = batch.clamp(1, n);
    let mut cache: Option<(usize, Executor, Built, Option<NodeId>)> = None;
    for start in (0..n).step_by(batch) {
        let rows = batch.min(n - start);
        if cache.as_ref().map(|c| c.0) != Some(rows) {
            let mut built = build(rows)?;
            let target = targets.map(|_| add_target(&mut built));
            let training = loss.map(|loss| {
                let training = Training {
                    loss,
                    optimizer: None,
                };
                (training, built.output, target.unwrap_or(built.input))
            });
            let exec = Executor::new(gpu, built.graph.clone(), store, training)?;
            cache = Some((rows, exec, built, target));
        }
        let (_, exec, built, target) = cache.as_mut().expect("filled above");
        exec.set_input(
            gpu,
            built.input,
            &data.inputs[start * in_len..(start + rows) * in_len],
        )?;
        if let (Some(id), Some(y)) = (*target, targets) {
            exec.set_input(gpu, id, &y[start * out_len..(start + rows) * out_len])?;
        }
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
    let rows = Rows::autoencoder(data);
    for_each_batch(gpu, store, build, rows, batch, None, |exec, built, _| {
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
    evaluate_rows(gpu, store, build, Rows::autoencoder(images), batch, loss)
}

/// Mean loss of `build`'s outputs for `data.inputs` against `data.targets`, weighting every
/// element equally.
pub fn evaluate_pairs(
    gpu: &Gpu,
    store: &mut ParamStore,
    build: BuildFn,
    data: Pairs<'_>,
    batch: usize,
    loss: LossKind,
) -> Result<f64> {
    evaluate_rows(gpu, store, build, data.into(), batch, loss)
}

fn evaluate_rows(
    gpu: &Gpu,
    store: &mut ParamStore,
    build: BuildFn,
    data: Rows<'_>,
    batch: usize,
    loss: LossKind,
) -> Result<f64> {
    let mut total = 0.0;
    let n = for_each_batch(
        gpu,
        store,
        build,
        data,
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

/// Mean BCE of predicting every target exactly: the lowest BCE any model can reach, above zero
/// where targets lie strictly between 0 and 1 (the colorization's grey background, say).
pub fn bce_floor(targets: &[f32]) -> f64 {
    let total: f64 = targets
        .iter()
        .map(|&t| {
            let t = t as f64;
            let h = |p: f64| if p > 0.0 { -p * p.ln() } else { 0.0 };
            h(t) + h(1.0 - t)
        })
        .sum();
    total / targets.len().max(1) as f64
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
    on_epoch: impl FnMut(&EpochMetrics) -> Result<()>,
) -> Result<Vec<EpochMetrics>> {
    let (train, test) = (Rows::autoencoder(train), Rows::autoencoder(test));
    train_rows(gpu, store, build, train, test, cfg, on_epoch)
}

/// Train `build` to map `train.inputs` to `train.targets` (rows of the graph's output size),
/// evaluating on `test` after every epoch; otherwise as [`train_autoencoder`], which is this with
/// every target equal to its input. Both inputs and targets stay on the GPU and each batch of
/// both is gathered there.
pub fn train_pairs(
    gpu: &Gpu,
    store: &mut ParamStore,
    build: BuildFn,
    train: Pairs<'_>,
    test: Pairs<'_>,
    cfg: &TrainConfig,
    on_epoch: impl FnMut(&EpochMetrics) -> Result<()>,
) -> Result<Vec<EpochMetrics>> {
    train_rows(gpu, store, build, train.into(), test.into(), cfg, on_epoch)
}

fn train_rows(
    gpu: &Gpu,
    store: &mut ParamStore,
    build: BuildFn,
    train: Rows<'_>,
    test: Rows<'_>,
    cfg: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochMetrics) -> Result<()>,
) -> Result<Vec<EpochMetrics>> {
    let mut built = build(cfg.batch.max(1))?;
    let in_len = built.graph.node(built.input).len() / cfg.batch.max(1);
    let out_len = built.graph.node(built.output).len() / cfg.batch.max(1);
    let n = train.check("training", in_len, out_len)?;
    test.check("test", in_len, out_len)?;
    if cfg.batch == 0 || cfg.batch > n {
        return Err(Error::InvalidArgument(format!(
            "batch size {} must be between 1 and the number of training images ({n})",
            cfg.batch
        )));
    }
    let target_len = if train.targets.is_some() {
        out_len
    } else {
        in_len
    };
    let mean = mean_row(train.loss_targets(), target_len);
    let mean_image_loss = constant_prediction_loss(&mean, test.loss_targets(), cfg.loss);

    let target = train.targets.map(|_| add_target(&mut built));
    let training = Training {
        loss: cfg.loss,
        optimizer: Some(cfg.optimizer),
    };
    let mut exec = Executor::new(
        gpu,
        built.graph.clone(),
        store,
        Some((training, built.output, target.unwrap_or(built.input))),
    )?;
    // Each step gathers the batch's rows (and their targets) from the uploaded sets.
    let idx = gpu.storage("batch indices", cfg.batch);
    let inputs = BufferSlices::upload(gpu, "training inputs", train.inputs, in_len, None)?;
    let mut gather = gather::forward(gpu, &inputs, &idx, exec.value(built.input)?, cfg.batch)?;
    if let (Some(id), Some(y)) = (target, train.targets) {
        let targets = BufferSlices::upload(gpu, "training targets", y, out_len, None)?;
        gather.extend(gather::forward(
            gpu,
            &targets,
            &idx,
            exec.value(id)?,
            cfg.batch,
        )?);
    }

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
        let test_loss = evaluate_rows(gpu, store, build, test, cfg.batch, cfg.loss)?;
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
