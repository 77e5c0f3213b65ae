//! t-SNE end to end on MNIST (lavapipe-sized), determinism, and the job's input validation.

use std::path::PathBuf;
use std::time::Instant;

use crate::common::gpu;
use latentviz::app::tsne_job::{self, Split, TsneJob};
use latentviz::tsne::{self, KnnSearch, LearningRate, LearningRates, Method, TsneConfig, metrics};

const MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/mnist");

fn mnist_test(n: usize) -> (Vec<f32>, Vec<u32>) {
    let dir = tempfile::tempdir().unwrap();
    let mut j = TsneJob::new(dir.path().join("unused.npy"));
    j.mnist = Some(PathBuf::from(MNIST));
    j.split = Split::Test;
    j.subset = Some(n);
    tsne_job::load_for_tests(&j).unwrap()
}

/// sklearn 1.9.1, TSNE(method="exact", init="pca", perplexity=30, random_state=0, learning_rate
/// "auto", max_iter 1000) on the first 1,000 MNIST test images, raw 784-D pixels / 255:
///   python3 shared/tools/tsne_reference.py --mnist shared/data/mnist --split test --subset 1000 \
///       --impl sklearn-exact
///   -> "kl": 0.8685567215286231, "knn_accuracy": 0.819 (34 s on 2 cores)
/// latentviz (exact, no PCA, same settings) on lavapipe: KL 0.8718 (+0.4 %), 10-NN 0.846, 22 s
/// (affinity 2.7 s, PCA init 1.5 s, 1000 iterations 17.7 s) on a lightly loaded 2-core machine.
const SKLEARN_EXACT_KL_1000: f32 = 0.868_556_7;

#[test]
fn exact_mnist_1000_matches_sklearn_kl() {
    let gpu = gpu();
    let (x, labels) = mnist_test(1000);
    // sklearn's settings, its learning rate included (our default is openTSNE's).
    let config = TsneConfig {
        method: Method::Exact,
        learning_rate: LearningRate::Sklearn,
        iterations: 1000,
        ..TsneConfig::default()
    };
    let t = Instant::now();
    let e = tsne::fit(gpu, &x, 1000, 784, &config).unwrap();
    let acc = metrics::knn_accuracy(&e.y, 1000, 2, &labels, 10).unwrap();
    eprintln!(
        "exact N=1000: KL {} (sklearn {SKLEARN_EXACT_KL_1000}), knn {acc}, {:.1} s, {:?}, history {:?}",
        e.kl,
        t.elapsed().as_secs_f64(),
        e.times,
        e.kl_history
    );
    let rel = (e.kl - SKLEARN_EXACT_KL_1000).abs() / SKLEARN_EXACT_KL_1000;
    assert!(
        rel <= 0.05,
        "KL {} vs sklearn {SKLEARN_EXACT_KL_1000}: {rel}",
        e.kl
    );
}

/// The learning-rate conventions: openTSNE's N / exaggeration per phase (in sklearn's gradient
/// scale, N / 48 then N / 4), sklearn's max(N / 48, 50) throughout, or a fixed rate; parsed from
/// the CLI's words.
#[test]
fn learning_rate_conventions() {
    let rates = |r: LearningRate, n| r.rates(n, 12.0);
    assert_eq!(
        rates(LearningRate::Auto, 70_000),
        LearningRates {
            early: 70_000.0 / 48.0,
            late: 17_500.0
        }
    );
    assert_eq!(
        rates(LearningRate::Sklearn, 70_000),
        LearningRates::constant(70_000.0 / 48.0)
    );
    // sklearn's floor of 50 holds for both phases of small N.
    assert_eq!(
        rates(LearningRate::Auto, 100),
        LearningRates::constant(50.0)
    );
    assert_eq!(
        rates(LearningRate::Fixed(200.0), 70_000),
        LearningRates::constant(200.0)
    );
    assert_eq!("auto".parse(), Ok(LearningRate::Auto));
    assert_eq!("sklearn".parse(), Ok(LearningRate::Sklearn));
    assert_eq!("12.5".parse(), Ok(LearningRate::Fixed(12.5)));
    for bad in ["0", "-3", "nan", "inf", "fast", ""] {
        let err = bad.parse::<LearningRate>().unwrap_err();
        assert!(
            err.contains("auto, sklearn or a positive number"),
            "{bad}: {err}"
        );
    }
}

/// Early stop: the rule on KL histories, then a run that stops once the KL falls by less than 2%
/// over 50 iterations, at the first check where it does, after exaggeration only.
#[test]
fn early_stop_ends_the_run_when_the_kl_stalls() {
    use latentviz::tsne::optimize::stalled;
    let h = [(250, 4.0), (300, 2.0), (350, 1.99)];
    assert!(stalled(&h, 250, Some(0.01)));
    assert!(!stalled(&h, 250, Some(0.001)));
    assert!(!stalled(&h, 250, None));
    // Both checks must be past exaggeration: the one at 300 is not when it lasts 350.
    assert!(!stalled(&h, 350, Some(0.5)) && stalled(&h, 300, Some(0.5)));
    // A KL that rises has stalled too.
    assert!(stalled(&[(300, 2.0), (350, 2.1)], 250, Some(0.0)));
    assert!(!stalled(&[(300, 2.0)], 250, Some(0.5)));

    let gpu = gpu();
    let (x, _) = mnist_test(300);
    let tol = 0.02;
    let config = TsneConfig {
        method: Method::Exact,
        early_stop: Some(tol),
        ..TsneConfig::default()
    };
    let e = tsne::fit(gpu, &x, 300, 784, &config).unwrap();
    eprintln!("early stop at {}: {:?}", e.iterations, e.kl_history);
    assert!(e.iterations < config.iterations, "{:?}", e.kl_history);
    assert_eq!(e.kl_history.last().unwrap().0, e.iterations);
    let after: Vec<f32> = e
        .kl_history
        .iter()
        .filter(|h| h.0 >= 250)
        .map(|h| h.1)
        .collect();
    let (last, rest) = after.split_last().unwrap();
    assert!(rest.last().unwrap() - last < tol * rest.last().unwrap());
    for w in rest.windows(2) {
        assert!(
            w[0] - w[1] >= tol * w[0],
            "should have stopped: {:?}",
            e.kl_history
        );
    }
    // Nonsense tolerances are refused.
    for bad in [-0.1, f32::NAN] {
        let config = TsneConfig {
            early_stop: Some(bad),
            ..config.clone()
        };
        let err = tsne::fit(gpu, &x, 300, 784, &config)
            .unwrap_err()
            .to_string();
        assert!(err.contains("early stop"), "{err}");
    }
}

/// Per-kernel times (run by hand: `TSNE_N=2000 cargo test --test suite kernel_times --
/// --ignored --nocapture`).
#[test]
#[ignore]
fn kernel_times() {
    use latentviz::gpu::Timer;
    use latentviz::knn;
    use latentviz::tsne::{affinity, gradient, optimize};
    let gpu = gpu();
    let n: usize = std::env::var("TSNE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let (x, _) = mnist_test(n);
    let timer = Timer::new(gpu);
    let pts = knn::distances::upload_points(gpu, &x, n, 784).unwrap();
    let dist = gpu.storage("d", n * n);
    let k = knn::distances::sqdist_block(gpu, &pts, 0, n, n, &dist).unwrap();
    eprintln!("sqdist 784-D {:?}", timer.time("sqdist", &[&k], 1).unwrap());
    let t = Instant::now();
    let p = affinity::dense_p(gpu, &x, n, 784, 30.0).unwrap();
    eprintln!("dense P {:.3} s", t.elapsed().as_secs_f64());
    let y = gpu.storage_from("y", &latentviz::rng::Rng::new(1).vec(n * 2, -5.0, 5.0));
    let rep = gpu.storage("rep", n * 3);
    let r = gradient::repulsion(gpu, &y, &rep, n, 2).unwrap();
    eprintln!("repulsion {:?}", timer.time("rep", &[&r], 5).unwrap());
    let attr = gpu.storage("attr", n * 2);
    let a = gradient::attraction_dense(gpu, &y, &p, &attr, 2).unwrap();
    eprintln!(
        "attraction dense {:?}",
        timer.time("attr", &[&a], 5).unwrap()
    );
    let rows = gpu.storage("rows", n);
    let kl = optimize::kl_rows_dense(gpu, &y, &p, &rows, 2).unwrap();
    eprintln!("kl dense {:?}", timer.time("kl", &[&kl], 2).unwrap());
}

/// A .npy file with any header, for the validation tests.
fn npy_bytes(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A float32 .npy the job wrote: ((rows, cols), data), and its dtype must be '<f4'.
fn read_npy_f32(path: &std::path::Path) -> ((usize, usize), Vec<f32>) {
    let file = npyz::NpyFile::new(std::fs::File::open(path).unwrap()).unwrap();
    assert_eq!(file.dtype().descr(), "'<f4'", "{}", path.display());
    let (rows, cols, data) = latentviz::data::npy::read_f32_2d(path).unwrap();
    ((rows, cols), data)
}

/// Bad inputs fail with a clear error before anything is written.
#[test]
fn job_rejects_bad_input_and_writes_nothing() {
    let gpu = gpu();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = latentviz::rng::Rng::new(3);
    let good: Vec<f32> = rng.vec(60 * 4, -1.0, 1.0);
    let mut with_nan = good.clone();
    with_nan[3 * 4 + 2] = f32::NAN;
    with_nan[7 * 4] = f32::INFINITY;
    let truncated = {
        let mut b = npy_bytes("<f4", "(60, 4)", &f32_bytes(&good));
        b.truncate(b.len() - 5);
        b
    };
    let cases: Vec<(&str, Vec<u8>, f32, &str)> = vec![
        (
            "nan",
            npy_bytes("<f4", "(60, 4)", &f32_bytes(&with_nan)),
            5.0,
            "row 3",
        ),
        (
            "one_row",
            npy_bytes("<f4", "(1, 4)", &f32_bytes(&good[..4])),
            5.0,
            "at least 2 points",
        ),
        (
            "perplexity",
            npy_bytes("<f4", "(60, 4)", &f32_bytes(&good)),
            30.0,
            "too large for 60 points",
        ),
        (
            "rank",
            npy_bytes("<f4", "(240,)", &f32_bytes(&good)),
            5.0,
            "2-D",
        ),
        (
            "dtype",
            npy_bytes("<i4", "(60, 4)", &f32_bytes(&good)),
            5.0,
            "dtype",
        ),
        ("truncated", truncated, 5.0, "truncated"),
        (
            "garbage",
            b"this is not a numpy file at all".to_vec(),
            5.0,
            "not a valid .npy",
        ),
    ];
    for (name, bytes, perplexity, expect) in cases {
        let input = dir.path().join(format!("{name}.npy"));
        std::fs::write(&input, bytes).unwrap();
        let mut j = TsneJob::new(dir.path().join(format!("{name}_y.npy")));
        j.input = Some(input);
        j.perplexity = perplexity;
        j.iterations = 50;
        j.metrics = Some(dir.path().join(format!("{name}_metrics.jsonl")));
        j.snapshots = Some(dir.path().join(format!("{name}_snaps")));
        let err = tsne_job::run(gpu, &j).expect_err(name).to_string();
        assert!(
            err.contains(expect),
            "{name}: error '{err}' lacks '{expect}'"
        );
        assert!(!j.out.exists(), "{name}: output written");
        assert!(
            !j.metrics.as_ref().unwrap().exists(),
            "{name}: metrics written"
        );
        assert!(
            !j.snapshots.as_ref().unwrap().exists(),
            "{name}: snapshot folder made"
        );
    }
    // A learning rate that is not positive: caught before anything is written.
    let input = dir.path().join("good.npy");
    std::fs::write(&input, npy_bytes("<f4", "(60, 4)", &f32_bytes(&good))).unwrap();
    let mut j = TsneJob::new(dir.path().join("rate_y.npy"));
    j.input = Some(input);
    j.perplexity = 5.0;
    j.learning_rate = LearningRate::Fixed(-1.0);
    let err = tsne_job::run(gpu, &j).unwrap_err().to_string();
    assert!(err.contains("learning rate must be positive"), "{err}");
    assert!(!j.out.exists());
    // Corrupt MNIST: a gzip file that is not gzip inside.
    let mnist = dir.path().join("mnist");
    std::fs::create_dir(&mnist).unwrap();
    for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::write(mnist.join(f), [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
    }
    let mut j = TsneJob::new(dir.path().join("mnist_y.npy"));
    j.mnist = Some(mnist);
    let err = tsne_job::run(gpu, &j).unwrap_err().to_string();
    assert!(err.contains("gzip"), "corrupt MNIST: {err}");
    assert!(!j.out.exists());
    // Neither or both sources.
    let j = TsneJob::new(dir.path().join("none.npy"));
    assert!(
        tsne_job::run(gpu, &j)
            .unwrap_err()
            .to_string()
            .contains("exactly one")
    );
}

/// The same seed on the same adapter gives the same embedding, bit for bit; both affinity paths.
#[test]
fn same_seed_same_embedding() {
    let gpu = gpu();
    let (x, _) = mnist_test(150);
    for method in [Method::Exact, Method::SparseExact] {
        let config = TsneConfig {
            method,
            iterations: 300,
            perplexity: 10.0,
            init: tsne::Init::Random,
            pca: Some(20),
            seed: 5,
            ..TsneConfig::default()
        };
        let a = tsne::fit(gpu, &x, 150, 784, &config).unwrap();
        let b = tsne::fit(gpu, &x, 150, 784, &config).unwrap();
        assert_eq!(a.y, b.y, "{method:?}: same seed, different embedding");
        assert_eq!(a.kl_history, b.kl_history);
        let c = tsne::fit(gpu, &x, 150, 784, &TsneConfig { seed: 6, ..config }).unwrap();
        assert_ne!(a.y, c.y, "{method:?}: the seed is ignored");
    }
}

/// The job on 2,000 MNIST test images: PCA to 50 (the default for 784 features), sparse kNN P,
/// exact repulsion; writes Y.npy, metrics lines and snapshots.
#[test]
fn sparse_mnist_2000_job_knn_accuracy() {
    let gpu = gpu();
    let dir = tempfile::tempdir().unwrap();
    let mut j = mnist_2000_job(dir.path(), Method::SparseExact);
    j.snapshots = Some(dir.path().join("snaps"));
    let report = tsne_job::run(gpu, &j).unwrap();
    eprintln!("sparse N=2000: {report:?}");
    // sklearn's Barnes-Hut TSNE on the same 2,000 images reaches 0.864 (tsne_reference.py
    // --subset 2000 --impl sklearn).
    let acc = report.knn_accuracy.unwrap();
    assert!(acc >= 0.85, "10-NN accuracy {acc}");
    let (shape, y) = read_npy_f32(&j.out);
    assert_eq!(shape, (2000, 2));
    assert_eq!(y.len(), 4000);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(j.metrics.as_ref().unwrap())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), ITERATIONS_2000 / 50 + 1);
    assert_eq!(lines[0]["iteration"], 50);
    let last = lines.last().unwrap();
    for key in [
        "pca_s",
        "knn_s",
        "affinity_s",
        "optimize_s",
        "knn_accuracy",
        "kl",
        "perplexity",
    ] {
        assert!(
            last.get(key).is_some(),
            "final metrics line lacks {key}: {last}"
        );
    }
    let snaps = std::fs::read_dir(j.snapshots.as_ref().unwrap())
        .unwrap()
        .count();
    assert_eq!(snaps, ITERATIONS_2000 / 50);
    let (_, final_snap) = read_npy_f32(
        &j.snapshots
            .as_ref()
            .unwrap()
            .join(format!("y_{ITERATIONS_2000:05}.npy")),
    );
    assert_eq!(final_snap, y, "the last snapshot is the output");
}

/// The job with the clustered kNN search asked for on 2,000 MNIST test images (8 k-means clusters):
/// the report and the metrics name it, and the embedding separates the digits as the exact
/// search's does (>= 0.85, the bound of the test above).
#[test]
fn clustered_knn_job_reports_its_search() {
    let gpu = gpu();
    let dir = tempfile::tempdir().unwrap();
    let mut j = mnist_2000_job(dir.path(), Method::Fft);
    j.knn = KnnSearch::Clustered;
    let report = tsne_job::run(gpu, &j).unwrap();
    assert_eq!(report.knn, Some(KnnSearch::Clustered));
    let acc = report.knn_accuracy.unwrap();
    assert!(acc >= 0.85, "10-NN accuracy {acc}");
    let text = std::fs::read_to_string(j.metrics.as_ref().unwrap()).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["knn"], "clustered", "{last}");
    // The default at 2,000 points is the exact search.
    j.knn = KnnSearch::Auto;
    j.iterations = 50;
    assert_eq!(tsne_job::run(gpu, &j).unwrap().knn, Some(KnnSearch::Exact));
}

/// 500 iterations (250 exaggerated + 250) already separate the digits (0.8765 here; 1000 give
/// 0.8745 in 32 s of optimization on lavapipe), and keep this test near 20 s.
const ITERATIONS_2000: usize = 500;

/// A job on the first 2,000 MNIST test images with `method`, ITERATIONS_2000 iterations, its
/// embedding and metrics in `dir`.
fn mnist_2000_job(dir: &std::path::Path, method: Method) -> TsneJob {
    let mut j = TsneJob::new(dir.join("y.npy"));
    j.mnist = Some(PathBuf::from(MNIST));
    j.subset = Some(2000);
    j.method = method;
    j.iterations = ITERATIONS_2000;
    j.metrics = Some(dir.join("metrics.jsonl"));
    j
}

/// Phase times of the job on MNIST test images (run by hand:
/// `TSNE_N=5000 TSNE_ITERATIONS=100 TSNE_METHOD=sparse cargo test --test suite phase_times --
/// --ignored --nocapture`).
#[test]
#[ignore]
fn phase_times() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let dir = tempfile::tempdir().unwrap();
    let mut j = TsneJob::new(dir.path().join("y.npy"));
    j.mnist = Some(PathBuf::from(MNIST));
    j.subset = Some(env("TSNE_N", 1000));
    j.iterations = env("TSNE_ITERATIONS", 1000);
    j.method = match std::env::var("TSNE_METHOD").as_deref() {
        Ok("exact") => Method::Exact,
        Ok("sparse") => Method::SparseExact,
        _ => Method::Auto,
    };
    if std::env::var("TSNE_NO_PCA").is_ok() {
        j.pca = Some(0);
    }
    let r = tsne_job::run(gpu(), &j).unwrap();
    eprintln!(
        "N={} {:?} its={} pca={:?}: load {:.1} s, pca {:.1} s, knn {:.1} s, affinity {:.1} s, init {:.1} s, optimize {:.1} s ({:.1} ms/it), kl {:.4}, knn_acc {:?}, total {:.1} s",
        r.n,
        r.method,
        j.iterations,
        r.pca_dims,
        r.load_s,
        r.pca_s,
        r.knn_s,
        r.affinity_s,
        r.init_s,
        r.optimize_s,
        r.optimize_s / j.iterations as f64 * 1e3,
        r.kl,
        r.knn_accuracy,
        r.total_s
    );
}

/// 3-D embeddings run the same kernels with DIMS = 3: KL falls and the result is finite.
#[test]
fn three_d_embedding_runs_both_paths() {
    let gpu = gpu();
    let (x, _) = mnist_test(200);
    for method in [Method::Exact, Method::SparseExact] {
        let config = TsneConfig {
            method,
            dims: 3,
            iterations: 400,
            perplexity: 15.0,
            pca: Some(30),
            ..TsneConfig::default()
        };
        let e = tsne::fit(gpu, &x, 200, 784, &config).unwrap();
        assert_eq!(e.y.len(), 600);
        assert!(e.y.iter().all(|v| v.is_finite()));
        let first_after = e.kl_history.iter().find(|h| h.0 == 300).unwrap().1;
        assert!(
            e.kl < first_after,
            "{method:?}: KL {} did not fall from {first_after}",
            e.kl
        );
        // Recentred every step.
        for c in 0..3 {
            let mean: f32 = (0..200).map(|i| e.y[i * 3 + c]).sum::<f32>() / 200.0;
            assert!(mean.abs() < 1e-3, "{method:?}: mean of axis {c} is {mean}");
        }
    }
}

/// FFT-interpolated repulsion against the exact repulsion, same sparse P and settings: the 10-NN
/// accuracies agree within 0.02. The issue asks for 5,000 points and 1,000 iterations; on lavapipe
/// the FFT path costs ~130 ms per iteration at N = 2,000 early on (more as the grid grows with the
/// span), so this runs N = 2,000 and 300 iterations (250 exaggerated): measured on a loaded
/// 2-core machine 35 s FFT (30 s optimizing) + 15 s exact (9 s), both 10-NN 0.8625, KL 1.848. The full size, by hand (minutes on lavapipe):
///   TSNE_N=5000 TSNE_ITERATIONS=1000 cargo test --test suite fft_matches_sparse_exact
#[test]
fn fft_matches_sparse_exact_knn_accuracy() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (n, iterations) = (env("TSNE_N", 2000), env("TSNE_ITERATIONS", 300));
    let gpu = gpu();
    let (x, labels) = mnist_test(n);
    let mut acc = Vec::new();
    for method in [Method::Fft, Method::SparseExact] {
        let config = TsneConfig {
            method,
            iterations,
            pca: Some(50),
            ..TsneConfig::default()
        };
        let t = Instant::now();
        let e = tsne::fit(gpu, &x, n, 784, &config).unwrap();
        let a = metrics::knn_accuracy(&e.y, n, 2, &labels, 10).unwrap();
        eprintln!(
            "{method:?} N={n} its={iterations}: KL {}, 10-NN {a}, {:.1} s ({:.1} s optimizing)",
            e.kl,
            t.elapsed().as_secs_f64(),
            e.times.optimize_s
        );
        assert_eq!(e.method, method);
        acc.push(a);
    }
    assert!(
        (acc[0] - acc[1]).abs() <= 0.02,
        "10-NN accuracy: FFT {} vs exact repulsion {}",
        acc[0],
        acc[1]
    );
    // Not a trivially equal pair: both embeddings separate the digits.
    assert!(acc[1] >= 0.8, "exact repulsion 10-NN accuracy {}", acc[1]);
}
