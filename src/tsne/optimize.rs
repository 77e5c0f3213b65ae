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

use std::sync::LazyLock;

use std::time::Instant;

use bytemuck::{Pod, Zeroable};

use super::affinity::{DenseP, SparseP, dense_ld};
use super::gradient::{self, GpuCsr, PositionTexture, check_dims};
use super::{CHECK_EVERY, LearningRates, Progress, TsneConfig, with_dims};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::{check_len, launch};
use crate::wgsl::{WgslStruct, u32_constants, with_structs};
use crate::wgsl_struct;

static UPDATE: LazyLock<String> =
    LazyLock::new(|| UpdateParams::as_params_of(include_str!("optimize_update.wgsl")));
static UPDATE_2D: LazyLock<String> =
    LazyLock::new(|| UpdateParams::as_params_of(include_str!("optimize_update_2d.wgsl")));
static REDUCE: LazyLock<String> = LazyLock::new(|| {
    with_structs(
        &[
            ReduceParams::declare("Params"),
            u32_constants(&[("PARTS", SUM_PARTS)]),
        ],
        include_str!("optimize_reduce.wgsl"),
    )
});
static CENTRE: LazyLock<String> =
    LazyLock::new(|| CentreParams::as_params_of(include_str!("optimize_centre.wgsl")));
static KL_DENSE: LazyLock<String> =
    LazyLock::new(|| KlParams::as_params_of(include_str!("optimize_kl_dense.wgsl")));
static KL_SPARSE: LazyLock<String> =
    LazyLock::new(|| KlParams::as_params_of(include_str!("optimize_kl_sparse.wgsl")));

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

wgsl_struct! {
    /// `Params` in optimize_update.wgsl and optimize_update_2d.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct UpdateParams {
        pub values: u32,
        pub exaggeration: f32,
        pub momentum: f32,
        pub learning_rate: f32,
        pub min_gain: f32,
        pub max_step: f32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

/// What the update step does in one phase of the optimization.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The factor on the attraction (α during early exaggeration, else 1).
    pub exaggeration: f32,
    pub momentum: f32,
    pub learning_rate: f32,
    /// The longest step a point takes (the norm of its update); infinity for no cap.
    pub max_step: f32,
}

/// The whole run's steps: early exaggeration, the two phases' step sizes and the cap on a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub early_exaggeration: f32,
    pub learning_rates: LearningRates,
    /// See [`Step::max_step`].
    pub max_step: f32,
}

impl Schedule {
    /// Exaggeration and step sizes with the default cap [`MAX_STEP`].
    pub fn new(early_exaggeration: f32, learning_rates: impl Into<LearningRates>) -> Schedule {
        Schedule {
            early_exaggeration,
            learning_rates: learning_rates.into(),
            max_step: MAX_STEP,
        }
    }

    /// The step of each phase: exaggerated with momentum 0.5, or not with momentum 0.8.
    pub fn step(&self, early: bool) -> Step {
        let (exaggeration, momentum, learning_rate) = if early {
            (
                self.early_exaggeration,
                MOMENTUM_EARLY,
                self.learning_rates.early,
            )
        } else {
            (1.0, MOMENTUM_LATE, self.learning_rates.late)
        };
        Step {
            exaggeration,
            momentum,
            learning_rate,
            max_step: self.max_step,
        }
    }
}

wgsl_struct! {
    /// `Params` in optimize_reduce.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct ReduceParams {
        pub count: u32,
        pub stride: u32,
        pub offset: u32,
        pub slot: u32,
        pub scale: f32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

wgsl_struct! {
    /// `Params` in optimize_centre.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct CentreParams {
        pub values: u32,
        pub mean_slot: u32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

/// `Params` in optimize_kl_dense.wgsl and optimize_kl_sparse.wgsl: the attraction kernels' layout
/// (`n`, `lq`), so the dense KL terms share their launcher, [`gradient::dense_p_rows`].
pub type KlParams = gradient::AttractionParams;

/// The buffers one gradient step reads and writes (all n × dims except `rep`, n × (dims + 1)).
pub struct StepBuffers<'a> {
    pub y: &'a wgpu::Buffer,
    pub attr: &'a wgpu::Buffer,
    pub rep: &'a wgpu::Buffer,
    pub scalars: &'a wgpu::Buffer,
    pub gains: &'a wgpu::Buffer,
    pub update: &'a wgpu::Buffer,
}

/// One gradient step with gains and momentum (Z read from scalars[0]), each point's update capped
/// at `step.max_step`, y updated in place; one point per invocation.
pub fn update_step(
    gpu: &Gpu,
    b: &StepBuffers,
    n: usize,
    dims: usize,
    step: Step,
) -> Result<Dispatch> {
    check_dims(dims)?;
    let values = n * dims;
    for (name, buf) in [
        ("y", b.y),
        ("attr", b.attr),
        ("gains", b.gains),
        ("update", b.update),
    ] {
        check_len("tsne update", name, buf, values)?;
    }
    check_len("tsne update", "rep", b.rep, n * (dims + 1))?;
    check_len("tsne update", "scalars", b.scalars, 1)?;
    if step.max_step.is_nan() || step.max_step <= 0.0 {
        return Err(Error::InvalidArgument(format!(
            "the longest step must be positive, not {}",
            step.max_step
        )));
    }
    let params = UpdateParams {
        values: values as u32,
        exaggeration: step.exaggeration,
        momentum: step.momentum,
        learning_rate: step.learning_rate,
        min_gain: MIN_GAIN,
        max_step: step.max_step.min(f32::MAX),
        _pad1: 0,
        _pad2: 0,
    };
    let buffers = [b.y, b.attr, b.rep, b.scalars, b.gains, b.update];
    if dims == 2 {
        // One point per invocation (see optimize_update_2d.wgsl).
        return launch(
            gpu,
            "tsne update 2d",
            &UPDATE_2D,
            "update_step_2d",
            &params,
            &buffers,
            workgroups_for(n, 256),
        );
    }
    launch(
        gpu,
        &format!("tsne update {dims}d"),
        &with_dims(&UPDATE, dims),
        "update_step",
        &params,
        &buffers,
        workgroups_for(n, 256),
    )
}

impl ReduceParams {
    fn new(count: usize, stride: usize, offset: usize, slot: usize, scale: f32) -> Self {
        ReduceParams {
            count: count as u32,
            stride: stride as u32,
            offset: offset as u32,
            slot: slot as u32,
            scale,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        }
    }
}

/// The checks both reductions make: something to sum, at most one dispatch row of sums, each
/// invocation's loop (over `count / lanes` values) under lavapipe's cap, and `x` long enough.
fn check_reduce(
    x: &wgpu::Buffer,
    count: usize,
    stride: usize,
    offset: usize,
    sums: usize,
    lanes: usize,
) -> Result<()> {
    if sums == 0 || count == 0 {
        return Err(Error::shape("tsne reduce", "nothing to sum"));
    }
    if count.div_ceil(lanes) > crate::gpu::LOOP_BUDGET
        || sums > crate::gpu::MAX_GROUPS_PER_DIM as usize
    {
        return Err(Error::InvalidArgument(format!(
            "tsne reduce: {sums} sums of {count} values exceed one dispatch"
        )));
    }
    check_len(
        "tsne reduce",
        "x",
        x,
        offset + sums - 1 + (count - 1) * stride + 1,
    )
}

/// `sums` deterministic sums: out[slot + s] = scale · Σ_{t<count} x[offset + s + t·stride].
#[allow(clippy::too_many_arguments)]
pub fn strided_sum(
    gpu: &Gpu,
    x: &wgpu::Buffer,
    out: &wgpu::Buffer,
    count: usize,
    stride: usize,
    offset: usize,
    sums: usize,
    slot: usize,
    scale: f32,
) -> Result<Dispatch> {
    check_reduce(x, count, stride, offset, sums, 256)?;
    check_len("tsne reduce", "out", out, slot + sums)?;
    let params = ReduceParams::new(count, stride, offset, slot, scale);
    launch(
        gpu,
        "tsne reduce",
        &REDUCE,
        "strided_sum",
        &params,
        &[x, out],
        [sums as u32, 1, 1],
    )
}

/// Parts of a [`split_sum`] (`PARTS` in optimize_reduce.wgsl).
pub const SUM_PARTS: usize = 64;

/// The sums of [`strided_sum`] in two levels when they are long (more than 16 values per part):
/// `strided_parts` adds [`SUM_PARTS`] contiguous shares of each sum in as many small workgroups
/// (into `parts`, at least SUM_PARTS · sums f32), then `strided_sum` adds the parts. One
/// workgroup runs on one of lavapipe's threads, so a single one per sum would leave the other
/// idle. Deterministic either way (fixed order). Short sums are one `strided_sum`.
#[allow(clippy::too_many_arguments)]
pub fn split_sum(
    gpu: &Gpu,
    x: &wgpu::Buffer,
    parts: &wgpu::Buffer,
    out: &wgpu::Buffer,
    count: usize,
    stride: usize,
    offset: usize,
    sums: usize,
    slot: usize,
    scale: f32,
) -> Result<Vec<Dispatch>> {
    if count <= 16 * SUM_PARTS {
        return Ok(vec![strided_sum(
            gpu, x, out, count, stride, offset, sums, slot, scale,
        )?]);
    }
    check_reduce(x, count, stride, offset, sums, SUM_PARTS * 8)?;
    check_len("tsne reduce", "parts", parts, SUM_PARTS * sums)?;
    let params = ReduceParams::new(count, stride, offset, 0, 1.0);
    let first = launch(
        gpu,
        "tsne reduce",
        &REDUCE,
        "strided_parts",
        &params,
        &[x, parts],
        [SUM_PARTS as u32, sums as u32, 1],
    )?;
    let second = strided_sum(gpu, parts, out, SUM_PARTS, sums, 0, sums, slot, scale)?;
    Ok(vec![first, second])
}

/// y = y − mean, in place (mean at scalars[mean_slot..]).
pub fn centre(
    gpu: &Gpu,
    scalars: &wgpu::Buffer,
    y: &wgpu::Buffer,
    n: usize,
    dims: usize,
    mean_slot: usize,
) -> Result<Dispatch> {
    check_dims(dims)?;
    check_len("tsne centre", "y", y, n * dims)?;
    check_len("tsne centre", "scalars", scalars, mean_slot + dims)?;
    let params = CentreParams {
        values: (n * dims) as u32,
        mean_slot: mean_slot as u32,
        _pad0: 0,
        _pad1: 0,
    };
    launch(
        gpu,
        &format!("tsne centre {dims}d"),
        &with_dims(&CENTRE, dims),
        "centre",
        &params,
        &[scalars, y],
        workgroups_for(n * dims, 256),
    )
}

/// Per-row KL terms Σ_j p_ij (ln p_ij + ln(1 + d_ij²)) with a dense symmetric P.
pub fn kl_rows_dense(
    gpu: &Gpu,
    y: &wgpu::Buffer,
    p: &DenseP,
    kl_rows: &wgpu::Buffer,
    dims: usize,
) -> Result<Dispatch> {
    gradient::dense_p_rows(
        gpu,
        "tsne kl",
        &KL_DENSE,
        "kl_dense",
        y,
        p,
        ("kl_rows", kl_rows, p.n),
        dims,
    )
}

/// Per-row KL terms over the stored entries of a sparse P.
pub fn kl_rows_sparse(
    gpu: &Gpu,
    y: &PositionTexture,
    p: &GpuCsr,
    kl_rows: &wgpu::Buffer,
) -> Result<Dispatch> {
    let params = KlParams {
        n: p.n as u32,
        lq: 0,
        col_bits: p.packing.col_bits,
        _pad2: 0,
    };
    gradient::launch_sliced(
        gpu,
        "tsne kl sparse",
        &KL_SPARSE,
        "kl_sparse",
        &params,
        y,
        p,
        kl_rows,
        1,
    )
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
        let z_sum = split_sum(
            gpu,
            &rep,
            &parts,
            &scalars,
            n,
            dims + 1,
            dims,
            1,
            SLOT_Z,
            1.0,
        )?;
        let z_check = split_sum(
            gpu,
            &rep,
            &parts,
            &scalars,
            n,
            dims + 1,
            dims,
            1,
            SLOT_Z_CHECK,
            1.0,
        )?;
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

/// A point order in which a sparse P's neighbours sit close together: breadth-first over the
/// graph of P (from the lowest unvisited point, neighbours in column order), so each point's
/// neighbours are mostly labelled near it. Deterministic; a permutation of 0..n.
pub fn locality_order(p: &SparseP) -> Vec<u32> {
    let n = p.n;
    let mut seen = vec![false; n];
    let mut order = Vec::with_capacity(n);
    for start in 0..n {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut head = order.len();
        order.push(start as u32);
        while head < order.len() {
            let i = order[head] as usize;
            head += 1;
            for &j in &p.col[p.row_ptr[i] as usize..p.row_ptr[i + 1] as usize] {
                if !seen[j as usize] {
                    seen[j as usize] = true;
                    order.push(j);
                }
            }
        }
    }
    order
}

/// Bits per axis of the grid [`hilbert_order`] quantizes positions to.
const HILBERT_BITS: u32 = 16;

/// The points along a Hilbert curve through their first two coordinates (each quantized to
/// 2^16 steps over the layout's bounding box; ties, and non-finite coordinates, by index).
/// Points close in the layout get close labels. Deterministic; a permutation of 0..n.
pub fn hilbert_order(y: &[f32], n: usize, dims: usize) -> Vec<u32> {
    let coord = |i: usize, c: usize| {
        let v = if c < dims { y[i * dims + c] } else { 0.0 };
        if v.is_finite() { v } else { 0.0 }
    };
    let mut low = [f32::INFINITY; 2];
    let mut high = [f32::NEG_INFINITY; 2];
    for i in 0..n {
        for c in 0..2 {
            low[c] = low[c].min(coord(i, c));
            high[c] = high[c].max(coord(i, c));
        }
    }
    let side = (high[0] - low[0]).max(high[1] - low[1]);
    let steps = ((1u32 << HILBERT_BITS) - 1) as f32;
    let scale = if side > 0.0 { steps / side } else { 0.0 };
    let cell = |i: usize, c: usize| (((coord(i, c) - low[c]) * scale) as u32).min(steps as u32);
    let mut keyed: Vec<(u64, u32)> = (0..n)
        .map(|i| (hilbert_index(cell(i, 0), cell(i, 1)), i as u32))
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Position of cell (x, y) of the 2^HILBERT_BITS-sided grid along the Hilbert curve: per level,
/// from the coarsest, the quadrant's rank, then (x, y) turned into the quadrant's frame.
fn hilbert_index(mut x: u32, mut y: u32) -> u64 {
    let mut d = 0u64;
    let mut s = 1u32 << (HILBERT_BITS - 1);
    while s > 0 {
        let rx = u32::from(x & s != 0);
        let ry = u32::from(y & s != 0);
        d += u64::from(s) * u64::from(s) * u64::from((3 * rx) ^ ry);
        if ry == 0 {
            if rx == 1 {
                // Reflect within the quadrant (only the bits below s matter from here on).
                x = (s - 1).wrapping_sub(x) & (s - 1);
                y = (s - 1).wrapping_sub(y) & (s - 1);
            }
            std::mem::swap(&mut x, &mut y);
        }
        s >>= 1;
    }
    d
}

/// Rows [`gather_span`] takes whole before it samples evenly spaced ones.
pub const SPAN_ROWS: usize = 8192;

/// How far apart, in labels, the attraction's gathers land under `order`: the median over P's
/// entries (i, j) of |rank(i) − rank(j)| (over a sample of rows past [`SPAN_ROWS`]). At 70,000
/// MNIST points a span of ~2,000 labels (16 KiB of 2-D positions) keeps the gathers in a core's L1
/// cache; ~6,500 does not.
pub fn gather_span(p: &SparseP, order: &[u32]) -> u32 {
    let mut rank = vec![0u32; p.n];
    for (t, &i) in order.iter().enumerate() {
        rank[i as usize] = t as u32;
    }
    // Every row up to SPAN_ROWS rows, then evenly spaced rows: the median of a sample of
    // ~1 M entries decides between two orders whose medians differ by a factor of ~3.
    let stride = p.n.div_ceil(SPAN_ROWS).max(1);
    let mut spans: Vec<u32> = Vec::with_capacity(p.col.len() / stride + 1);
    for i in (0..p.n).step_by(stride) {
        for &j in &p.col[p.row_ptr[i] as usize..p.row_ptr[i + 1] as usize] {
            spans.push(rank[i].abs_diff(rank[j as usize]));
        }
    }
    if spans.is_empty() {
        return 0;
    }
    let middle = spans.len() / 2;
    *spans.select_nth_unstable(middle).1
}

/// The order the optimizer labels the points in: the Hilbert order of the starting layout `y0`
/// when its gathers span fewer labels than the breadth-first [`locality_order`]'s, else that.
/// A PCA start already places most neighbours near each other (see docs/kernel-notes.md); a
/// random start does not, and the graph order wins.
pub fn attraction_order(p: &SparseP, y0: &[f32], dims: usize) -> Vec<u32> {
    let graph = locality_order(p);
    let layout = hilbert_order(y0, p.n, dims);
    if gather_span(p, &layout) < gather_span(p, &graph) {
        layout
    } else {
        graph
    }
}

/// P with point order[t] renamed t (rows moved, columns renamed and kept ascending).
pub fn relabel(p: &SparseP, order: &[u32]) -> SparseP {
    let mut rank = vec![0u32; p.n];
    for (t, &i) in order.iter().enumerate() {
        rank[i as usize] = t as u32;
    }
    let mut row_ptr = Vec::with_capacity(p.n + 1);
    let mut col = Vec::with_capacity(p.col.len());
    let mut val = Vec::with_capacity(p.val.len());
    row_ptr.push(0u32);
    let mut row: Vec<(u32, f32)> = Vec::new();
    for &i in order {
        let i = i as usize;
        let range = p.row_ptr[i] as usize..p.row_ptr[i + 1] as usize;
        row.clear();
        row.extend(
            p.col[range.clone()]
                .iter()
                .map(|&j| rank[j as usize])
                .zip(p.val[range].iter().copied()),
        );
        // Columns are distinct: an unstable sort gives the one order.
        row.sort_unstable_by_key(|e| e.0);
        col.extend(row.iter().map(|e| e.0));
        val.extend(row.iter().map(|e| e.1));
        row_ptr.push(col.len() as u32);
    }
    SparseP {
        n: p.n,
        row_ptr,
        col,
        val,
    }
}

/// Rows order[0], order[1], ... of y (rows of `dims` values).
fn gather_rows(y: &[f32], order: &[u32], dims: usize) -> Vec<f32> {
    order
        .iter()
        .flat_map(|&i| {
            y[i as usize * dims..(i as usize + 1) * dims]
                .iter()
                .copied()
        })
        .collect()
}

/// How many iterations the optimizer records into one command buffer. The repulsion grid is
/// re-sized between batches from what the last one measured; while the map grows fast (after
/// early exaggeration 20,000 text embeddings spread from 3 to 50 units in 50 iterations) a grid
/// sized at the batch's start is soon far too coarse for its plain interpolation, the forces go
/// wrong and the run ends at a poor KL. So a batch after which the grid had to change is followed
/// by one a quarter as long (down to one iteration), and one after which it still fitted by one
/// twice as long, up to [`CHECK_EVERY`]. Each phase starts with a batch of one iteration (the
/// late phase's step size is the early one times the exaggeration). Batches end at every check
/// and at the phase's end; the schedule depends only on what the runs measure, so it is the same
/// every run.
#[derive(Clone, Debug)]
pub struct Batches {
    len: usize,
    exaggerated: usize,
    total: usize,
}

impl Batches {
    /// Batches for `total` iterations of which the first `exaggerated` are exaggerated.
    pub fn new(exaggerated: usize, total: usize) -> Batches {
        Batches {
            len: 1,
            exaggerated: exaggerated.min(total),
            total,
        }
    }

    /// Where the batch that starts at iteration `t` ends.
    pub fn end(&mut self, t: usize) -> usize {
        if t == 0 || t == self.exaggerated {
            self.len = 1;
        }
        let phase_end = if t < self.exaggerated {
            self.exaggerated
        } else {
            self.total
        };
        let check = (t / CHECK_EVERY + 1) * CHECK_EVERY;
        (t + self.len).min(check).min(phase_end)
    }

    /// After a batch: whether the repulsion grid had to change.
    pub fn after(&mut self, grid_changed: bool) {
        self.len = if grid_changed {
            (self.len / 4).max(1)
        } else {
            (self.len * 2).min(CHECK_EVERY)
        };
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
        ("src/tsne/optimize_update.wgsl", with_dims(&UPDATE, 2)),
        ("src/tsne/optimize_update_2d.wgsl", UPDATE_2D.to_string()),
        ("src/tsne/optimize_reduce.wgsl", REDUCE.to_string()),
        ("src/tsne/optimize_centre.wgsl", with_dims(&CENTRE, 2)),
        ("src/tsne/optimize_kl_dense.wgsl", with_dims(&KL_DENSE, 2)),
        ("src/tsne/optimize_kl_sparse.wgsl", KL_SPARSE.to_string()),
    ]
}

/// Plain-loop references, named as in the WGSL, and the whole optimizer on the CPU (dense P) for
/// end-to-end parity on small N.
pub mod cpu {
    /// One gain/momentum step, each point's update capped at `step.max_step`; returns the new
    /// positions and updates `gains` and `update` in place.
    #[allow(clippy::too_many_arguments)]
    pub fn update_step(
        y: &[f32],
        attr: &[f32],
        rep: &[f32],
        z: f32,
        gains: &mut [f32],
        update: &mut [f32],
        dims: usize,
        step: super::Step,
        min_gain: f32,
    ) -> Vec<f32> {
        let mut y_new = vec![0f32; y.len()];
        for i in 0..y.len() / dims {
            let mut u = [0f32; 3];
            for c in 0..dims {
                let e = i * dims + c;
                let grad = 4.0 * (step.exaggeration * attr[e] - rep[i * (dims + 1) + c] / z);
                let g = if grad * update[e] < 0.0 {
                    gains[e] + 0.2
                } else {
                    gains[e] * 0.8
                }
                .max(min_gain);
                gains[e] = g;
                u[c] = step.momentum * update[e] - step.learning_rate * g * grad;
            }
            let norm = u[..dims].iter().map(|v| v * v).sum::<f32>().sqrt();
            let scale = if norm > step.max_step {
                step.max_step / norm
            } else {
                1.0
            };
            for (c, uc) in u[..dims].iter().enumerate() {
                let e = i * dims + c;
                update[e] = uc * scale;
                y_new[e] = y[e] + uc * scale;
            }
        }
        y_new
    }

    /// scale · Σ_{t<count} x[offset + t·stride] (f64 accumulation).
    pub fn strided_sum(x: &[f32], count: usize, stride: usize, offset: usize, scale: f32) -> f32 {
        let s: f64 = (0..count).map(|t| x[offset + t * stride] as f64).sum();
        (s * scale as f64) as f32
    }

    /// y − mean.
    pub fn centre(y: &[f32], mean: &[f32], dims: usize) -> Vec<f32> {
        y.iter()
            .enumerate()
            .map(|(e, v)| v - mean[e % dims])
            .collect()
    }

    fn log1p_d2(y: &[f32], dims: usize, i: usize, j: usize) -> f64 {
        let r2: f64 = (0..dims)
            .map(|c| (y[i * dims + c] as f64 - y[j * dims + c] as f64).powi(2))
            .sum();
        (1.0 + r2).ln()
    }

    /// Σ_j p_ij (ln p_ij + ln(1 + d_ij²)) per row, dense P.
    pub fn kl_dense(y: &[f32], p: &[f32], n: usize, dims: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                (0..n)
                    .filter(|&j| p[i * n + j] > 0.0)
                    .map(|j| {
                        let pij = p[i * n + j] as f64;
                        pij * (pij.ln() + log1p_d2(y, dims, i, j))
                    })
                    .sum::<f64>() as f32
            })
            .collect()
    }

    /// The same over the stored entries of a CSR P.
    pub fn kl_sparse(
        y: &[f32],
        row_ptr: &[u32],
        col: &[u32],
        val: &[f32],
        dims: usize,
    ) -> Vec<f32> {
        (0..row_ptr.len() - 1)
            .map(|i| {
                (row_ptr[i] as usize..row_ptr[i + 1] as usize)
                    .filter(|&e| val[e] > 0.0)
                    .map(|e| {
                        let pij = val[e] as f64;
                        pij * (pij.ln() + log1p_d2(y, dims, i, col[e] as usize))
                    })
                    .sum::<f64>() as f32
            })
            .collect()
    }

    /// The whole optimizer with a dense P: same schedule, gains, step cap, reset and recentring
    /// (at the end of each batch, [`super::Batches`]) as the GPU.
    pub fn optimize_dense(
        p: &[f32],
        y0: &[f32],
        n: usize,
        dims: usize,
        iterations: usize,
        exaggeration_iterations: usize,
        schedule: &super::Schedule,
    ) -> Vec<f32> {
        use super::super::gradient::cpu as g;
        let mut y = y0.to_vec();
        let mut gains = vec![1f32; n * dims];
        let mut update = vec![0f32; n * dims];
        let exaggerated = exaggeration_iterations.min(iterations);
        // The exact repulsion never changes a grid.
        let mut batches = super::Batches::new(exaggerated, iterations);
        let mut batch_end = 0;
        for t in 0..iterations {
            if t == batch_end {
                if t > 0 {
                    batches.after(false);
                }
                batch_end = batches.end(t);
            }
            if t == exaggeration_iterations && t > 0 {
                gains.fill(1.0);
                update.fill(0.0);
            }
            let early = t < exaggeration_iterations;
            let rep = g::repulsion_exact(&y, n, dims);
            let z = strided_sum(&rep, n, dims + 1, dims, 1.0);
            let attr = g::attraction_dense(&y, p, n, dims);
            y = update_step(
                &y,
                &attr,
                &rep,
                z,
                &mut gains,
                &mut update,
                dims,
                schedule.step(early),
                super::MIN_GAIN,
            );
            // Recentred at the end of each batch, as the GPU run does.
            if t + 1 == batch_end {
                let mean: Vec<f32> = (0..dims)
                    .map(|c| strided_sum(&y, n, dims, c, 1.0 / n as f32))
                    .collect();
                y = centre(&y, &mean, dims);
            }
        }
        y
    }
}
