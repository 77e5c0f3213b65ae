//! t-SNE end to end on MNIST (lavapipe-sized), determinism, and the job's input validation.
mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::gpu;
use latentviz::tsne::job::{self, Split, TsneJob};
use latentviz::tsne::{self, Method, TsneConfig, metrics};

const MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/mnist");

fn mnist_test(n: usize) -> (Vec<f32>, Vec<u32>) {
    let dir = tempfile::tempdir().unwrap();
    let mut j = TsneJob::new(dir.path().join("unused.npy"));
    j.mnist = Some(PathBuf::from(MNIST));
    j.split = Split::Test;
    j.subset = Some(n);
    job::load_for_tests(&j).unwrap()
}

/// sklearn 1.9.1, TSNE(method="exact", init="pca", perplexity=30, random_state=0, learning_rate
/// "auto", max_iter 1000) on the first 1,000 MNIST test images, raw 784-D pixels / 255:
///   python3 shared/tools/tsne_reference.py --mnist shared/data/mnist --split test --subset 1000 \
///       --impl sklearn-exact
///   -> "kl": 0.8685567215286231, "knn_accuracy": 0.819 (34 s on 2 cores)
const SKLEARN_EXACT_KL_1000: f32 = 0.868_556_7;

#[test]
fn exact_mnist_1000_matches_sklearn_kl() {
    let gpu = gpu();
    let (x, labels) = mnist_test(1000);
    let config = TsneConfig {
        method: Method::Exact,
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
