//! t-SNE on the GPU: input affinities (dense exact P or a sparse kNN P), PCA (for reduction and
//! initialization), the gradient (attraction dense/sparse, exact O(N²) repulsion, or FFT-interpolated
//! repulsion plugged in through [`optimize::RepulsionBackend`]), and the optimizer loop, all as WGSL
//! kernels. Every kernel has a plain-loop CPU twin in its module's `cpu`.
//!
//! The formulas follow /shared/TSNE_NOTES.md (sklearn's conventions: natural-log perplexity, gains
//! +0.2 / ×0.8 floored at 0.01, momentum 0.5 then 0.8, exaggeration 12 for 250 iterations) with
//! openTSNE's defaults for the rest: 750 iterations, learning rate N / exaggeration per phase
//! ([`LearningRate::Auto`]), each point's step capped at 5 units ([`optimize::MAX_STEP`]).

pub mod affinity;
pub mod fft;
pub mod gradient;
pub mod init;
pub mod metrics;
pub mod optimize;

use std::time::Instant;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::{knn, pca};

/// How the affinities and the repulsion are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Dense P over all pairs and exact O(N²) repulsion (N ≤ [`DENSE_MAX_N`]).
    Exact,
    /// Sparse kNN P (k = ⌊3·perplexity⌋) and FFT-interpolated repulsion.
    Fft,
    /// Sparse kNN P with exact O(N²) repulsion: what `Auto` uses for 3-D embeddings of more than
    /// [`AUTO_EXACT_MAX_N`] points (the FFT repulsion is 2-D only).
    SparseExact,
    /// `Exact` up to [`AUTO_EXACT_MAX_N`] points, beyond it `Fft` in 2-D and `SparseExact` in 3-D.
    Auto,
}

/// Largest N for a dense P: n² f32 must fit one storage binding (and two such arrays in memory).
pub const DENSE_MAX_N: usize = 5_000;
/// `Method::Auto` picks the exact method up to this many points.
pub const AUTO_EXACT_MAX_N: usize = 1_000;

/// How the sparse path finds each point's k nearest neighbours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnnSearch {
    /// Brute force over all pairs on the GPU: exact.
    Exact,
    /// Over k-means clusters, each block of points scanning only the clusters near it
    /// ([`knn::clustered`]): approximate (recall 0.98 on PCA-50 MNIST), several times faster at
    /// 70,000 points.
    Clustered,
    /// `Clustered` from [`AUTO_CLUSTERED_MIN_N`] points where the adapter runs it, else `Exact`.
    Auto,
}

/// `KnnSearch::Auto` clusters from this many points on (at 10,000 the two take the same time).
pub const AUTO_CLUSTERED_MIN_N: usize = 20_000;

/// How the embedding starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// The first `dims` principal components, scaled so the first has standard deviation 1e-4.
    Pca,
    /// N(0, (1e-4)²) from the seed.
    Random,
}

/// Everything `fit` needs besides the data.
#[derive(Clone, Debug)]
pub struct TsneConfig {
    pub perplexity: f32,
    pub iterations: usize,
    pub seed: u64,
    /// Embedding dimension: 2 or 3.
    pub dims: usize,
    pub method: Method,
    /// The kNN search of the sparse path.
    pub knn: KnnSearch,
    /// Reduce the input to this many principal components first (None: use the input as is).
    pub pca: Option<usize>,
    pub init: Init,
    /// The step size of each phase ([`LearningRate::Auto`]: openTSNE's convention).
    pub learning_rate: LearningRate,
    pub early_exaggeration: f32,
    pub exaggeration_iterations: usize,
    /// The longest step a point may take in one iteration (openTSNE's `max_step_norm`; default
    /// [`optimize::MAX_STEP`]); None: no cap.
    pub max_step: Option<f32>,
    /// Early stop: after early exaggeration, stop at the first check (every [`CHECK_EVERY`]
    /// iterations) where the KL fell by less than this fraction of its value at the check
    /// before (say 0.005). None: run every iteration.
    pub early_stop: Option<f32>,
    /// Read the positions back at every check (every 50 iterations) for `Progress::positions`.
    pub snapshot_positions: bool,
}

impl Default for TsneConfig {
    fn default() -> Self {
        TsneConfig {
            perplexity: 30.0,
            iterations: 750,
            seed: 0,
            dims: 2,
            method: Method::Auto,
            knn: KnnSearch::Auto,
            pca: None,
            init: Init::Pca,
            learning_rate: LearningRate::Auto,
            early_exaggeration: 12.0,
            exaggeration_iterations: 250,
            max_step: Some(optimize::MAX_STEP),
            early_stop: None,
            snapshot_positions: false,
        }
    }
}

/// Iterations between KL checks (and progress reports, snapshots, metrics lines).
pub const CHECK_EVERY: usize = 50;

/// Reported to the caller at every check.
pub struct Progress<'a> {
    /// Gradient steps done so far.
    pub iteration: usize,
    /// KL(P‖Q) (sparse P: over the stored entries), measured in the last iteration of the batch
    /// at the positions it started from, as openTSNE reports it; at the end of the run, of the
    /// final positions.
    pub kl: f32,
    /// Seconds since the optimization started.
    pub seconds: f64,
    /// The current positions (n × dims), when `snapshot_positions` is set.
    pub positions: Option<&'a [f32]>,
}

/// Wall-clock seconds per phase of `fit`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PhaseTimes {
    pub pca_s: f64,
    /// kNN search (0 for a dense P).
    pub knn_s: f64,
    /// Distances (dense), perplexity calibration, symmetrization.
    pub affinity_s: f64,
    pub init_s: f64,
    pub optimize_s: f64,
}

/// The result of `fit`.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// n × dims, row-major.
    pub y: Vec<f32>,
    pub n: usize,
    pub dims: usize,
    /// Final KL(P‖Q).
    pub kl: f32,
    /// (iteration, KL) at every check.
    pub kl_history: Vec<(usize, f32)>,
    /// Gradient steps taken: `iterations`, or fewer after an early stop.
    pub iterations: usize,
    pub times: PhaseTimes,
    pub learning_rates: LearningRates,
    /// The method actually used (Auto resolved).
    pub method: Method,
    /// The kNN search actually used (Auto resolved); None for a dense P.
    pub knn: Option<KnnSearch>,
}

/// The concrete choices `fit` makes for `n` points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub sparse: bool,
    pub fft: bool,
    pub method: Method,
}

/// Resolve `Method::Auto` and check the choice is possible for `n` points in `dims` dimensions.
/// The FFT-interpolated repulsion is 2-D only; 3-D embeddings of many points use sparse P with
/// exact repulsion.
pub fn plan(method: Method, n: usize, dims: usize) -> Result<Plan> {
    if method == Method::Fft && dims != 2 {
        return Err(Error::InvalidArgument(format!(
            "the FFT method computes 2-D embeddings only, not {dims}-D; use --method auto or exact"
        )));
    }
    let resolved = match method {
        Method::Auto if n <= AUTO_EXACT_MAX_N => Method::Exact,
        Method::Auto if dims == 2 => Method::Fft,
        Method::Auto => Method::SparseExact,
        m => m,
    };
    match resolved {
        Method::Exact if n > DENSE_MAX_N => Err(Error::InvalidArgument(format!(
            "the exact method keeps an n × n matrix and takes at most {DENSE_MAX_N} points, not {n}; \
             use --method auto or fft"
        ))),
        m => Ok(Plan {
            sparse: m != Method::Exact,
            fft: m == Method::Fft,
            method: m,
        }),
    }
}

/// The t-SNE kernels Rust completes from their files, as the GPU gets them (tests/shaders.rs
/// validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    [
        affinity::kernel_sources(),
        fft::kernel_sources(),
        optimize::kernel_sources(),
        gradient::kernel_sources(),
    ]
    .concat()
}

/// kNN neighbours per point for a perplexity: min(n − 1, ⌊3·perplexity⌋).
pub fn neighbours_for(perplexity: f32, n: usize) -> usize {
    ((3.0 * perplexity).floor() as usize)
        .min(n.saturating_sub(1))
        .max(1)
}

/// sklearn's learning rate "auto": max(N / early_exaggeration / 4, 50).
pub fn auto_learning_rate(n: usize, early_exaggeration: f32) -> f32 {
    (n as f32 / early_exaggeration / 4.0).max(50.0)
}

/// How the step size of the gradient descent is chosen. Our gradient is sklearn's (with the
/// factor 4 of the t-SNE gradient, 4 sum_j (p_ij - q_ij) w_ij (y_i - y_j)); openTSNE's and
/// FIt-SNE's lacks the 4, so their rate r is r / 4 here.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LearningRate {
    /// openTSNE's "auto" (Belkina et al. 2019): N / exaggeration in each phase, that is
    /// N / (4 · early_exaggeration) during early exaggeration and N / 4 after it, at least 50
    /// (sklearn's floor). The larger late rate reaches a given KL in fewer iterations: on the
    /// 70,000 MNIST images KL 2.813 at iteration 750 (openTSNE's own: 2.821) against 2.900 with
    /// sklearn's rate, and 2.718 against 2.763 at 1,000.
    Auto,
    /// sklearn's "auto": max(N / early_exaggeration / 4, 50) in both phases.
    Sklearn,
    /// This rate in both phases.
    Fixed(f32),
}

/// The step sizes of the two phases.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LearningRates {
    /// During early exaggeration.
    pub early: f32,
    /// After it.
    pub late: f32,
}

impl LearningRates {
    /// One rate for both phases.
    pub fn constant(rate: f32) -> Self {
        LearningRates {
            early: rate,
            late: rate,
        }
    }
}

impl From<f32> for LearningRates {
    fn from(rate: f32) -> Self {
        LearningRates::constant(rate)
    }
}

impl LearningRate {
    /// A fixed rate must be a positive number.
    pub fn check(self) -> std::result::Result<(), String> {
        match self {
            LearningRate::Fixed(rate) if !(rate.is_finite() && rate > 0.0) => {
                Err(format!("learning rate must be positive, not {rate}"))
            }
            _ => Ok(()),
        }
    }

    /// The rates for `n` points.
    pub fn rates(self, n: usize, early_exaggeration: f32) -> LearningRates {
        match self {
            LearningRate::Auto => LearningRates {
                early: auto_learning_rate(n, early_exaggeration),
                late: auto_learning_rate(n, 1.0),
            },
            LearningRate::Sklearn => {
                LearningRates::constant(auto_learning_rate(n, early_exaggeration))
            }
            LearningRate::Fixed(rate) => LearningRates::constant(rate),
        }
    }
}

impl std::str::FromStr for LearningRate {
    type Err = String;

    /// "auto", "sklearn" or a positive number.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(LearningRate::Auto),
            "sklearn" => Ok(LearningRate::Sklearn),
            _ => s
                .parse::<f32>()
                .ok()
                .map(LearningRate::Fixed)
                .filter(|rate| rate.check().is_ok())
                .ok_or_else(|| {
                    format!("learning rate must be auto, sklearn or a positive number, not {s:?}")
                }),
        }
    }
}

/// Check the configuration against the data before anything runs.
pub fn validate(x: &[f32], n: usize, d: usize, config: &TsneConfig) -> Result<()> {
    if n < 2 {
        return Err(Error::InvalidArgument(format!(
            "t-SNE needs at least 2 points, got {n}"
        )));
    }
    if d == 0 {
        return Err(Error::InvalidArgument(format!(
            "the input's {n} points have 0 features: there is nothing to embed"
        )));
    }
    if x.len() != n * d {
        return Err(Error::shape(
            "tsne",
            format!("{} values are not {n} points × {d} features", x.len()),
        ));
    }
    if let Some(bad) = (0..n).find(|&i| x[i * d..(i + 1) * d].iter().any(|v| !v.is_finite())) {
        let count = (0..n)
            .filter(|&i| x[i * d..(i + 1) * d].iter().any(|v| !v.is_finite()))
            .count();
        return Err(Error::InvalidArgument(format!(
            "row {bad} holds NaN or infinity ({count} such rows in all)"
        )));
    }
    if !(config.dims == 2 || config.dims == 3) {
        return Err(Error::InvalidArgument(format!(
            "embedding dimension must be 2 or 3, not {}",
            config.dims
        )));
    }
    let p = config.perplexity;
    if !(p.is_finite() && p >= 1.0) {
        return Err(Error::InvalidArgument(format!(
            "perplexity must be at least 1, not {p}"
        )));
    }
    // Rule: 3·perplexity < N − 1, so the kNN rows (3·perplexity neighbours) leave points out and a
    // row's entropy can reach ln(perplexity). With perplexity ≥ 1 that takes 5 points.
    if n < 5 {
        return Err(Error::InvalidArgument(format!(
            "{n} points are too few for t-SNE: the perplexity must be at least 1 and \
             3 × perplexity < N − 1, which takes at least 5 points"
        )));
    }
    if 3.0 * p >= (n - 1) as f32 {
        return Err(Error::InvalidArgument(format!(
            "perplexity {p} is too large for {n} points: need 3 × perplexity < N − 1 (at most {:.2})",
            ((n - 1) as f32 / 3.0 - 0.01).max(0.0)
        )));
    }
    if let Some(k) = config.pca
        && (k == 0 || k > d)
    {
        return Err(Error::InvalidArgument(format!(
            "PCA to {k} dimensions is impossible for {d} features"
        )));
    }
    if let Some(step) = config.max_step
        && !(step.is_finite() && step > 0.0)
    {
        return Err(Error::InvalidArgument(format!(
            "the longest step must be a positive number, not {step}"
        )));
    }
    if config.iterations == 0 {
        return Err(Error::InvalidArgument(
            "iterations must be at least 1".into(),
        ));
    }
    if let Some(tol) = config.early_stop
        && !(tol.is_finite() && tol >= 0.0)
    {
        return Err(Error::InvalidArgument(format!(
            "early stop must be a fraction >= 0, not {tol}"
        )));
    }
    config
        .learning_rate
        .check()
        .map_err(Error::InvalidArgument)?;
    let plan = plan(config.method, n, config.dims)?;
    if plan.sparse && neighbours_for(p, n) > knn::K_MAX {
        return Err(Error::InvalidArgument(format!(
            "perplexity {p} needs {} neighbours; the kNN path keeps at most {} (perplexity ≤ {:.0}); \
             use --method exact for small N",
            neighbours_for(p, n),
            knn::K_MAX,
            knn::K_MAX as f32 / 3.0
        )));
    }
    Ok(())
}

/// Embed `x` (n × d, row-major) with t-SNE.
pub fn fit(gpu: &Gpu, x: &[f32], n: usize, d: usize, config: &TsneConfig) -> Result<Embedding> {
    fit_with(gpu, x, n, d, config, &mut |_| Ok(()))
}

/// `fit`, calling `observer` at every check (every 50 iterations and at the end).
pub fn fit_with(
    gpu: &Gpu,
    x: &[f32],
    n: usize,
    d: usize,
    config: &TsneConfig,
    observer: &mut dyn FnMut(&Progress) -> Result<()>,
) -> Result<Embedding> {
    validate(x, n, d, config)?;
    let plan = plan(config.method, n, config.dims)?;
    let mut times = PhaseTimes::default();

    // 1. The input scaled into f32's comfortable range, then optional PCA reduction (on the
    //    GPU); the t-SNE input is then n × width.
    let t = Instant::now();
    let x = scaled_input(x);
    let (data, width) = match config.pca {
        Some(k) if k < d => (pca::pca(gpu, &x, n, d, k, config.seed)?.projected, k),
        _ => (x.into_owned(), d),
    };
    times.pca_s = t.elapsed().as_secs_f64();

    // 2. Affinities.
    let mut knn_search = None;
    let affinities = if plan.sparse {
        let t = Instant::now();
        let k = neighbours_for(config.perplexity, n);
        let search = resolve_knn(gpu, config.knn, n, width);
        knn_search = Some(search);
        let method = if search == KnnSearch::Clustered {
            knn::Method::Clustered(knn::ClusteredSearch {
                seed: config.seed,
                ..Default::default()
            })
        } else {
            knn::Method::Exact
        };
        let knn = knn::search(gpu, &data, n, width, k, &method)?;
        times.knn_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let p = affinity::sparse_p(gpu, &knn, config.perplexity)?;
        times.affinity_s = t.elapsed().as_secs_f64();
        optimize::Affinities::Sparse(p)
    } else {
        let t = Instant::now();
        let p = affinity::dense_p(gpu, &data, n, width, config.perplexity)?;
        times.affinity_s = t.elapsed().as_secs_f64();
        optimize::Affinities::Dense(p)
    };

    // 3. Initial positions.
    let t = Instant::now();
    let y0 = match config.init {
        // Data reduced by PCA already lies on its principal axes.
        Init::Pca if width < d => init::projected_init(&data, n, width, config.dims, config.seed),
        Init::Pca => init::pca_init(gpu, &data, n, width, config.dims, config.seed)?,
        Init::Random => init::random_init(n, config.dims, config.seed),
    };
    times.init_s = t.elapsed().as_secs_f64();

    // 4. Optimize.
    let t = Instant::now();
    let learning_rates = config.learning_rate.rates(n, config.early_exaggeration);
    let schedule = optimize::Schedule {
        max_step: config.max_step.unwrap_or(f32::INFINITY),
        ..optimize::Schedule::new(config.early_exaggeration, learning_rates)
    };
    let result = optimize::optimize(
        gpu,
        &affinities,
        &y0,
        n,
        config,
        &schedule,
        plan.fft,
        observer,
    )?;
    times.optimize_s = t.elapsed().as_secs_f64();
    Ok(Embedding {
        y: result.y,
        n,
        dims: config.dims,
        kl: result.kl,
        kl_history: result.kl_history,
        iterations: result.iterations,
        times,
        learning_rates,
        method: plan.method,
        knn: knn_search,
    })
}

/// The power of two that brings the input's largest |value| into (0.5, 1] (1 for an input of
/// zeros, and for pixels in [0, 1]). t-SNE does not depend on the input's scale (each row's β adapts to its distances),
/// but f32 squared distances overflow from values of ~1e19 and vanish below ~1e-19; a power of
/// two scales every value exactly and keeps zeros zero (which PCA skips).
pub fn input_scale(x: &[f32]) -> f64 {
    let largest = x
        .iter()
        .filter(|v| v.is_finite())
        .fold(0f32, |m, v| m.max(v.abs()));
    if largest == 0.0 {
        return 1.0;
    }
    // largest = m · 2^e with m in (0.5, 1].
    let e = (largest as f64).log2().ceil() as i32;
    2f64.powi(-e)
}

/// `x` times [`input_scale`] (borrowed when that is 1, as for pixels in [0, 1]).
fn scaled_input(x: &[f32]) -> std::borrow::Cow<'_, [f32]> {
    let scale = input_scale(x);
    if scale == 1.0 {
        std::borrow::Cow::Borrowed(x)
    } else {
        std::borrow::Cow::Owned(x.iter().map(|&v| (v as f64 * scale) as f32).collect())
    }
}

/// The kNN search `fit` runs for `n` points of `d` features.
pub fn resolve_knn(gpu: &Gpu, search: KnnSearch, n: usize, d: usize) -> KnnSearch {
    match search {
        KnnSearch::Auto if n >= AUTO_CLUSTERED_MIN_N && knn::clustered::supported(gpu, d) => {
            KnnSearch::Clustered
        }
        KnnSearch::Auto => KnnSearch::Exact,
        chosen => chosen,
    }
}

/// `source` with `const DIMS: u32` declared: the embedding's dimensions (2 or 3).
pub(crate) fn with_dims(source: &str, dims: usize) -> String {
    crate::wgsl::u32_constants(&[("DIMS", dims)]) + source
}
