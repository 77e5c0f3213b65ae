//! The t-SNE optimizer, wholly on the GPU: per iteration repulsion sums, Z by a deterministic
//! reduction, attraction, the gains/momentum step, and recentring; up to 50 iterations are recorded
//! into one command buffer and the CPU reads back only Z and the KL sum at each check (and the
//! positions when snapshots are asked for).
//!
//! Schedule (sklearn's): early exaggeration α for the first `exaggeration_iterations` with momentum
//! 0.5, then α = 1 and momentum 0.8; gains +0.2 / ×0.8 floored at 0.01. As in sklearn, which runs the
//! two phases as two separate gradient-descent calls, the gains and the update are reset (to 1 and 0)
//! when exaggeration ends. As in openTSNE, each point's step is capped ([`MAX_STEP`]). Iterations
//! run in batches recorded into one command buffer each, shorter while the FFT grid must follow a
//! fast-changing map ([`Batches`]).
//!
//! [`Optimizer`] holds the buffers and prepared dispatches (a run, `benches/tsne.rs` and
//! `dev/profile/profile_tsne.rs` replay the same ones). With a sparse P it relabels the points along
//! a Hilbert curve through the starting layout or breadth-first over P's graph, whichever keeps
//! neighbours' labels closer ([`attraction_order`]), so the attraction's gathers stay in cache;
//! positions go in and come out in the input's order.
//!
//! Repulsion comes from a [`RepulsionBackend`]: [`ExactRepulsion`] (O(N²)) or the FFT-interpolated
//! one (`fft_backend`).

pub mod cpu;
mod kl;
mod order;
mod reduce;
mod schedule;
mod step;

pub use kl::{KlParams, kl_rows_dense, kl_rows_sparse};
pub use order::{SPAN_ROWS, attraction_order, gather_span, hilbert_order, locality_order, relabel};
pub use reduce::{CentreParams, ReduceParams, SUM_PARTS, centre, split_sum, strided_sum};
pub use schedule::{Batches, Schedule, Step};
pub use step::{StepBuffers, UpdateParams, update_step};

use std::time::Instant;

use super::affinity::{DenseP, SparseP, dense_ld};
use super::gradient::{self, GpuCsr, PositionTexture, check_dims};
use super::{CHECK_EVERY, Progress, TsneConfig, with_dims};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu};
use order::gather_rows;

/// Smallest gain.
pub const MIN_GAIN: f32 = 0.01;
/// Longest step a point takes in one iteration by default (the norm of its update), as
/// openTSNE's and FIt-SNE's `max_step_norm`: without it a point that many others list as their
/// nearest neighbour (a hub, common in text embeddings) overshoots by the factor N·Σ_j p_ij and
/// can be thrown out of the map, and the run diverges.
pub const MAX_STEP: f32 = 5.0;
/// Momentum during / after early exaggeration.
pub const MOMENTUM_EARLY: f32 = 0.5;
pub const MOMENTUM_LATE: f32 = 0.8;

/// Slots of the small scalars buffer.
pub const SLOT_Z: usize = 0;
pub const SLOT_MEAN: usize = 1;
pub const SLOT_Z_CHECK: usize = 4;
pub const SLOT_KL: usize = 5;
pub const SLOT_P_SUM: usize = 6;
const SCALARS: usize = 8;

/// Computes the repulsion sums of the positions into `out`: per point
/// [Σ_j w_ij² (y_i − y_j) (dims values), Σ_{j≠i} w_ij], dims + 1 f32.
///
/// `record` is called once per buffer pair; its dispatches are replayed every iteration, so they
/// must read the positions at run time (no CPU-side state derived from them at record time).
pub trait RepulsionBackend {
    fn record(
        &mut self,
        gpu: &Gpu,
        positions: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Vec<Dispatch>>;

    /// Called between batches of iterations (every `CHECK_EVERY` at most): adapt to how the
    /// embedding has grown. Returns true when the dispatches must be recorded again.
    fn refresh(&mut self, _gpu: &Gpu) -> Result<bool> {
        Ok(false)
    }
}

/// Exact O(N²) repulsion (`gradient::repulsion`).
pub struct ExactRepulsion {
    pub n: usize,
    pub dims: usize,
}

impl RepulsionBackend for ExactRepulsion {
    fn record(
        &mut self,
        gpu: &Gpu,
        positions: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Vec<Dispatch>> {
        Ok(vec![gradient::repulsion(
            gpu, positions, out, self.n, self.dims,
        )?])
    }
}

/// FFT-accelerated interpolation (FIt-SNE). The number of grid intervals follows the embedding's
/// span and density, read back between batches of iterations; the box itself is recomputed on
/// the GPU at every iteration.
impl RepulsionBackend for super::fft::FftRepulsion {
    fn record(
        &mut self,
        gpu: &Gpu,
        positions: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Vec<Dispatch>> {
        super::fft::FftRepulsion::record(self, gpu, positions, out)
    }

    fn refresh(&mut self, gpu: &Gpu) -> Result<bool> {
        super::fft::FftRepulsion::refresh(self, gpu)
    }
}

fn fft_backend(gpu: &Gpu, n: usize, dims: usize, y0: &[f32]) -> Result<Box<dyn RepulsionBackend>> {
    Ok(Box::new(super::fft::FftRepulsion::for_positions(
        gpu, n, dims, y0,
    )?))
}

/// The input affinities the optimizer uses.
pub enum Affinities {
    Dense(DenseP),
    Sparse(SparseP),
}

/// What the optimizer returns.
pub struct OptimizeResult {
    pub y: Vec<f32>,
    pub kl: f32,
    pub kl_history: Vec<(usize, f32)>,
    /// Gradient steps taken (fewer than configured after an early stop).
    pub iterations: usize,
}

/// Where a batch of iterations measures KL(P‖Q) (`Optimizer::run_iterations`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KlCheck {
    /// Not at all.
    Skip,
    /// In the batch's last iteration, from that iteration's own repulsion sums: the KL of the
    /// positions it starts from (openTSNE reports its KL the same way), for the cost of the KL
    /// terms alone (a check after the batch would repeat the repulsion).
    LastStep,
    /// After the batch, at the positions it ends with (a repulsion of its own).
    End,
}

/// The optimizer's buffers and prepared dispatches: everything one run records, so that a run, a
/// benchmark and a profile replay the same kernels.
pub struct Optimizer {
    pub n: usize,
    pub dims: usize,
    /// Positions in the optimizer's point order (see `order`); read them with `positions`.
    pub y: wgpu::Buffer,
    /// Internal point t is input point order[t] (a sparse P is relabelled by [`attraction_order`]
    /// so that neighbours sit close in memory; identity for a dense P).
    pub order: Vec<u32>,
    pub rep: wgpu::Buffer,
    pub attr: wgpu::Buffer,
    ones: wgpu::Buffer,
    pub gains: wgpu::Buffer,
    pub update: wgpu::Buffer,
    pub scalars: wgpu::Buffer,
    pub kl_rows: wgpu::Buffer,
    backend: Box<dyn RepulsionBackend>,
    repulsion: Vec<Dispatch>,
    attraction: Dispatch,
    kl: Dispatch,
    z_sum: Vec<Dispatch>,
    z_check: Vec<Dispatch>,
    kl_sum: Vec<Dispatch>,
    early: Dispatch,
    late: Dispatch,
    mean: Vec<Dispatch>,
    /// The parts of the long sums (Z, KL, mean), SUM_PARTS · dims f32.
    _parts: wgpu::Buffer,
    recentre: Dispatch,
    /// Σ p (for KL = Σ rows + ln Z · Σ p).
    p_sum: f64,
    // Keeps the sparse P alive for the dispatches that bind it.
    _csr: Option<GpuCsr>,
    /// The positions texture the sparse attraction gathers from (refilled before it each step).
    positions: Option<PositionTexture>,
}

impl Optimizer {
    /// Upload `y0` (n × dims) and prepare every dispatch.
    pub fn new(
        gpu: &Gpu,
        affinities: &Affinities,
        y0: &[f32],
        n: usize,
        dims: usize,
        schedule: &Schedule,
        fft: bool,
    ) -> Result<Optimizer> {
        check_dims(dims)?;
        if y0.len() != n * dims {
            return Err(Error::shape(
                "tsne optimize",
                format!(
                    "initial positions hold {} values, not {n} × {dims}",
                    y0.len()
                ),
            ));
        }
        let values = n * dims;
        // A sparse P is relabelled so that each point's neighbours sit close in memory: the
        // attraction gathers their positions, and at 70,000 points the positions outgrow a
        // core's L1 cache (see `attraction_order`).
        let (order, relabelled) = match affinities {
            Affinities::Sparse(p) if p.n == n => {
                let order = attraction_order(p, y0, dims);
                let q = relabel(p, &order);
                (order, Some(q))
            }
            _ => ((0..n as u32).collect::<Vec<u32>>(), None),
        };
        let y_start = gather_rows(y0, &order, dims);
        let y = gpu.storage_from("tsne y", &y_start);
        let rep = gpu.storage("tsne repulsion", n * (dims + 1));
        let attr = gpu.storage("tsne attraction", values);
        let ones_host = vec![1f32; values];
        let ones = gpu.storage_from("tsne ones", &ones_host);
        let gains = gpu.storage_from("tsne gains", &ones_host);
        let update = gpu.storage("tsne update", values);
        let scalars = gpu.storage("tsne scalars", SCALARS);
        let kl_rows = gpu.storage("tsne kl rows", n);

        let mut backend: Box<dyn RepulsionBackend> = if fft {
            fft_backend(gpu, n, dims, &y_start)?
        } else {
            Box::new(ExactRepulsion { n, dims })
        };
        let repulsion = backend.record(gpu, &y, &rep)?;

        let mut csr = None;
        let mut positions = None;
        let (attraction, kl, p_sum) = match affinities {
            Affinities::Dense(p) => {
                if p.n != n {
                    return Err(Error::shape(
                        "tsne optimize",
                        format!("P is {0} × {0}, positions are for {n} points", p.n),
                    ));
                }
                // Column sums (one workgroup each) into the KL scratch, then their sum: one
                // strided sum over all n² entries would pass lavapipe's loop cap.
                let columns = strided_sum(gpu, &p.p, &kl_rows, n, dense_ld(n), 0, n, 0, 1.0)?;
                let sum = strided_sum(gpu, &kl_rows, &scalars, n, 1, 0, 1, SLOT_P_SUM, 1.0)?;
                gpu.run("tsne P sum", &[&columns, &sum])?;
                let p_sum: Vec<f32> = gpu.read(&scalars, SLOT_P_SUM, 1)?;
                (
                    gradient::attraction_dense(gpu, &y, p, &attr, dims)?,
                    kl_rows_dense(gpu, &y, p, &kl_rows, dims)?,
                    p_sum[0] as f64,
                )
            }
            Affinities::Sparse(p) => {
                if p.n != n {
                    return Err(Error::shape(
                        "tsne optimize",
                        format!("P has {} rows, positions are for {n} points", p.n),
                    ));
                }
                let p = relabelled.as_ref().unwrap_or(p);
                let gpu_p = GpuCsr::upload(gpu, p)?;
                let texture = PositionTexture::new(gpu, &y, n, dims)?;
                let out = (
                    gradient::attraction_sparse(gpu, &texture, &gpu_p, &attr)?,
                    kl_rows_sparse(gpu, &texture, &gpu_p, &kl_rows)?,
                    gpu_p.stored_sum,
                );
                csr = Some(gpu_p);
                positions = Some(texture);
                out
            }
        };
        let parts = gpu.storage("tsne sum parts", SUM_PARTS * dims);
        // Z, the last of each point's dims + 1 repulsion sums, into a scalar slot.
        let z_into = |slot| split_sum(gpu, &rep, &parts, &scalars, n, dims + 1, dims, 1, slot, 1.0);
        let z_sum = z_into(SLOT_Z)?;
        let z_check = z_into(SLOT_Z_CHECK)?;
        let kl_sum = split_sum(gpu, &kl_rows, &parts, &scalars, n, 1, 0, 1, SLOT_KL, 1.0)?;
        let step = StepBuffers {
            y: &y,
            attr: &attr,
            rep: &rep,
            scalars: &scalars,
            gains: &gains,
            update: &update,
        };
        let early = update_step(gpu, &step, n, dims, schedule.step(true))?;
        let late = update_step(gpu, &step, n, dims, schedule.step(false))?;
        let mean = split_sum(
            gpu,
            &y,
            &parts,
            &scalars,
            n,
            dims,
            0,
            dims,
            SLOT_MEAN,
            1.0 / n as f32,
        )?;
        let recentre = centre(gpu, &scalars, &y, n, dims, SLOT_MEAN)?;
        Ok(Optimizer {
            n,
            dims,
            y,
            order,
            rep,
            attr,
            ones,
            gains,
            update,
            scalars,
            kl_rows,
            backend,
            repulsion,
            attraction,
            kl,
            z_sum,
            z_check,
            kl_sum,
            early,
            late,
            mean,
            _parts: parts,
            recentre,
            p_sum,
            _csr: csr,
            positions,
        })
    }

    /// One gradient step's dispatches, in order (`early`: with exaggeration and momentum 0.5).
    pub fn iteration(&self, early: bool) -> Vec<&Dispatch> {
        let step = if early { &self.early } else { &self.late };
        self.repulsion
            .iter()
            .chain(&self.z_sum)
            .chain(self.positions.iter().map(|p| &p.fill))
            .chain([&self.attraction, step])
            .collect()
    }

    /// Recentring: the mean, then y − mean. No force depends on a translation, so a batch of
    /// iterations recentres once, at its end, only to keep the embedding from drifting.
    pub fn recentring(&self) -> Vec<&Dispatch> {
        self.mean.iter().chain([&self.recentre]).collect()
    }

    /// One gradient step that also measures KL(P‖Q) at the positions it starts from: its own
    /// repulsion sums give Z, and the per-row terms gather at the positions its attraction does
    /// (the last iteration of a batch with [`KlCheck::LastStep`]).
    pub fn iteration_checked(&self, early: bool) -> Vec<&Dispatch> {
        let step = if early { &self.early } else { &self.late };
        self.repulsion
            .iter()
            .chain(&self.z_sum)
            .chain(&self.z_check)
            .chain(self.positions.iter().map(|p| &p.fill))
            .chain([&self.attraction, &self.kl])
            .chain(&self.kl_sum)
            .chain([step])
            .collect()
    }

    /// The dispatches of a KL check (repulsion for Z, then the per-row terms and their sums).
    pub fn check(&self) -> Vec<&Dispatch> {
        self.repulsion
            .iter()
            .chain(&self.z_check)
            .chain(self.positions.iter().map(|p| &p.fill))
            .chain([&self.kl])
            .chain(&self.kl_sum)
            .collect()
    }

    /// Let the repulsion backend adapt to the embedding's current span (re-recording its
    /// dispatches when it asks to); what a run does between batches of iterations. Returns
    /// whether the backend changed its grid (the batch before ran on one that no longer fit).
    pub fn refresh(&mut self, gpu: &Gpu) -> Result<bool> {
        let changed = self.backend.refresh(gpu)?;
        if changed {
            self.repulsion = self.backend.record(gpu, &self.y, &self.rep)?;
        }
        Ok(changed)
    }

    /// Size the repulsion grid for the positions `y` (n × dims) as a run would, from what two
    /// single iterations starting at `y` measure (each followed by `refresh`), and leave the
    /// positions at `y`: the iteration benchmarks and profiles then time the grid a run uses.
    pub fn size_grid_for(&mut self, gpu: &Gpu, y: &[f32]) -> Result<()> {
        for _ in 0..2 {
            self.set_positions(gpu, y)?;
            self.run_iterations(gpu, 1, false, false, KlCheck::Skip)?;
            self.refresh(gpu)?;
        }
        self.set_positions(gpu, y)
    }

    /// Replace the positions (n × dims) on the GPU.
    pub fn set_positions(&self, gpu: &Gpu, y: &[f32]) -> Result<()> {
        if y.len() != self.n * self.dims {
            return Err(Error::shape(
                "tsne optimize",
                format!("{} positions are not {} × {}", y.len(), self.n, self.dims),
            ));
        }
        let y = gather_rows(y, &self.order, self.dims);
        gpu.queue.write_buffer(&self.y, 0, bytemuck::cast_slice(&y));
        Ok(())
    }

    /// The current positions (n × dims) in the input's point order.
    pub fn positions(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        let dims = self.dims;
        let internal: Vec<f32> = gpu.read(&self.y, 0, self.n * dims)?;
        let mut out = vec![0f32; internal.len()];
        for (t, &i) in self.order.iter().enumerate() {
            let i = i as usize;
            out[i * dims..(i + 1) * dims].copy_from_slice(&internal[t * dims..(t + 1) * dims]);
        }
        Ok(out)
    }

    /// Record `count` iterations (all in one exaggeration phase; `reset` first restores the
    /// gains and clears the update, as sklearn's second descent starts), the recentring and the
    /// KL check `check` asks for into one command buffer; submit and wait.
    pub fn run_iterations(
        &self,
        gpu: &Gpu,
        count: usize,
        early: bool,
        reset: bool,
        check: KlCheck,
    ) -> Result<()> {
        let mut encoder = gpu.encoder("tsne optimize");
        if reset {
            encoder.copy_buffer_to_buffer(
                &self.ones,
                0,
                &self.gains,
                0,
                (self.n * self.dims * 4) as u64,
            );
            encoder.clear_buffer(&self.update, 0, None);
        }
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("tsne iterations"),
                timestamp_writes: None,
            });
            let one = self.iteration(early);
            let checked = check == KlCheck::LastStep && count > 0;
            for t in 0..count {
                let step = if checked && t + 1 == count {
                    self.iteration_checked(early)
                } else {
                    one.clone()
                };
                for d in step {
                    d.record(&mut pass);
                }
            }
            for d in self.recentring() {
                d.record(&mut pass);
            }
            if check == KlCheck::End || (check == KlCheck::LastStep && count == 0) {
                for d in self.check() {
                    d.record(&mut pass);
                }
            }
        }
        gpu.submit_and_wait(encoder.finish(), "tsne optimize")
    }

    /// KL(P‖Q) from the sums the last check left in the scalars buffer.
    pub fn read_kl(&self, gpu: &Gpu) -> Result<(f64, f32)> {
        let s: Vec<f32> = gpu.read(&self.scalars, 0, SCALARS)?;
        let z = s[SLOT_Z_CHECK];
        Ok((s[SLOT_KL] as f64 + (z as f64).ln() * self.p_sum, z))
    }
}

/// Run the optimization from `y0` (n × dims); calls `observer` at every check.
#[allow(clippy::too_many_arguments)]
pub fn optimize(
    gpu: &Gpu,
    affinities: &Affinities,
    y0: &[f32],
    n: usize,
    config: &TsneConfig,
    schedule: &Schedule,
    fft: bool,
    observer: &mut dyn FnMut(&Progress) -> Result<()>,
) -> Result<OptimizeResult> {
    let dims = config.dims;
    let mut opt = Optimizer::new(gpu, affinities, y0, n, dims, schedule, fft)?;
    let total = config.iterations;
    let exaggerated = config.exaggeration_iterations.min(total);
    let start = Instant::now();
    let mut history = Vec::new();
    let mut batches = Batches::new(exaggerated, total);
    let mut t = 0;
    while t < total {
        let end = batches.end(t);
        let check = end.is_multiple_of(CHECK_EVERY) || end == total;
        // Exaggeration ends: sklearn starts its second descent with fresh gains and update.
        let reset = t == exaggerated && t > 0;
        // Checks measure KL in the batch's last step; the run's end measures the positions it
        // returns.
        let kind = match (check, end == total) {
            (false, _) => KlCheck::Skip,
            (true, false) => KlCheck::LastStep,
            (true, true) => KlCheck::End,
        };
        opt.run_iterations(gpu, end - t, t < exaggerated, reset, kind)?;
        t = end;
        batches.after(opt.refresh(gpu)?);
        if check {
            let (value, z) = opt.read_kl(gpu)?;
            if !value.is_finite() {
                return Err(Error::NonFinite(format!(
                    "t-SNE KL divergence at iteration {t} is {value} (Z = {z}); \
                     try a smaller learning rate"
                )));
            }
            history.push((t, value as f32));
            let positions = if config.snapshot_positions {
                Some(opt.positions(gpu)?)
            } else {
                None
            };
            observer(&Progress {
                iteration: t,
                kl: value as f32,
                seconds: start.elapsed().as_secs_f64(),
                positions: positions.as_deref(),
            })?;
            if stalled(&history, exaggerated, config.early_stop) {
                break;
            }
        }
    }
    let mut kl = history.last().map_or(f32::NAN, |h| h.1);
    if t < total && !history.is_empty() {
        // Stopped early at a check made in a batch's last step: the KL of the positions returned.
        opt.run_iterations(gpu, 0, false, false, KlCheck::End)?;
        kl = opt.read_kl(gpu)?.0 as f32;
    }
    let y_out: Vec<f32> = opt.positions(gpu)?;
    if let Some(bad) = y_out.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!(
            "t-SNE position of point {} is not finite",
            bad / dims
        )));
    }
    Ok(OptimizeResult {
        y: y_out,
        kl,
        kl_history: history,
        iterations: t,
    })
}

/// The early-stop rule: the last two checks both after early exaggeration (`exaggerated`
/// iterations), and the KL fell between them by less than `tolerance` of the earlier value.
pub fn stalled(history: &[(usize, f32)], exaggerated: usize, tolerance: Option<f32>) -> bool {
    match (tolerance, history) {
        (Some(tol), [.., (before, kl_before), (_, kl)]) if *before >= exaggerated => {
            kl_before - kl < tol * kl_before
        }
        _ => false,
    }
}

/// This module's kernels as the GPU gets them, by file (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("src/tsne/optimize/update.wgsl", with_dims(&step::UPDATE, 2)),
        (
            "src/tsne/optimize/update_2d.wgsl",
            step::UPDATE_2D.to_string(),
        ),
        ("src/tsne/optimize/reduce.wgsl", reduce::REDUCE.to_string()),
        (
            "src/tsne/optimize/centre.wgsl",
            with_dims(&reduce::CENTRE, 2),
        ),
        (
            "src/tsne/optimize/kl_dense.wgsl",
            with_dims(&kl::KL_DENSE, 2),
        ),
        (
            "src/tsne/optimize/kl_sparse.wgsl",
            kl::KL_SPARSE.to_string(),
        ),
    ]
}
