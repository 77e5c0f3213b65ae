//! t-SNE next to openTSNE on every kind of data `../shared/tools/tsne_datasets.py` makes (Gaussian
//! clusters far apart, exact and near copies, text-like embeddings, heavy tails, a swiss roll), at
//! CI size: each embeds with the defaults, and its KL and 10-NN accuracy are close to openTSNE's
//! on the same data (`../shared/tools/tsne_reference.py --impl opentsne`, run here).
//!
//! Needs a Python with numpy, scikit-learn and openTSNE: `LATENTVIZ_PYTHON`, else `python3`.
//! `bash .ci/run` makes one (`pip install numpy scikit-learn openTSNE==1.0.4` into a venv).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::gpu;
use latentviz::app::tsne_job::{self, TsneJob};

const TOOLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/tools");
/// Points per data set: enough for the FFT path and for openTSNE's defaults to settle, small
/// enough for CI (openTSNE takes ~5 s on one core, we ~3 s).
const N: usize = 3000;

fn python() -> String {
    let python = std::env::var("LATENTVIZ_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import numpy, sklearn, openTSNE"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{python} cannot import numpy, scikit-learn and openTSNE: run `bash .ci/run`, or set \
         LATENTVIZ_PYTHON to a Python that has them (pip install numpy scikit-learn openTSNE==1.0.4)"
    );
    python
}

fn run_python(python: &str, args: &[&str]) -> String {
    let out = Command::new(python).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{python} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The number after `"key": ` in a JSON line.
fn field(json: &str, key: &str) -> f64 {
    let at = json
        .find(&format!("\"{key}\": "))
        .unwrap_or_else(|| panic!("no {key} in {json}"));
    let rest = &json[at + key.len() + 4..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end].trim().parse().unwrap()
}

/// Make `kind` (extra arguments `more`), embed it with openTSNE and with `latentviz tsne`'s
/// defaults, and compare. Inputs of more than 100 features go through PCA to 50 first on both
/// sides (our default; openTSNE's P would otherwise come from other distances).
fn compare(kind: &str, more: &[&str]) {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let n = N.to_string();
    let mut args = vec![
        format!("{TOOLS}/tsne_datasets.py"),
        "--kind".into(),
        kind.into(),
        "--n".into(),
        n,
        "--out".into(),
        data.into(),
    ];
    args.extend(more.iter().map(|s| s.to_string()));
    run_python(
        &python,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let x = Path::new(data).join("X.npy");
    let y = Path::new(data).join("y.npy");
    let (_, d, _) = latentviz::data::npy::read_f32_2d(&x).unwrap();
    let pca = tsne_job::pca_dims(None, d).unwrap_or(0).to_string();
    let reference = run_python(
        &python,
        &[
            &format!("{TOOLS}/tsne_reference.py"),
            "--input",
            x.to_str().unwrap(),
            "--labels",
            y.to_str().unwrap(),
            "--impl",
            "opentsne",
            "--threads",
            "1",
            "--pca",
            &pca,
        ],
    );
    let (their_kl, their_acc) = (field(&reference, "kl"), field(&reference, "knn_accuracy"));

    let mut j = TsneJob::new(dir.path().join("Y.npy"));
    j.input = Some(PathBuf::from(&x));
    j.labels = Some(PathBuf::from(&y));
    let r = tsne_job::run(gpu(), &j).unwrap();
    let (kl, acc) = (r.kl as f64, r.knn_accuracy.unwrap() as f64);
    eprintln!(
        "{kind} {more:?}: KL {kl:.4} (openTSNE {their_kl:.4}), 10-NN accuracy {acc:.4} \
         (openTSNE {their_acc:.4}), {:.1} s",
        r.total_s
    );
    assert!(
        kl <= their_kl * 1.03,
        "{kind}: KL {kl} against openTSNE's {their_kl}"
    );
    assert!(
        acc >= their_acc - 0.02,
        "{kind}: 10-NN accuracy {acc} against openTSNE's {their_acc}"
    );
}

#[test]
fn far_apart_clusters_embed_like_opentsne() {
    compare("mixture", &["--spread", "6"]);
}

#[test]
fn copies_embed_like_opentsne() {
    compare("duplicates", &[]);
}

#[test]
fn text_like_embeddings_embed_like_opentsne() {
    compare("embeddings", &["--dims", "384"]);
}

#[test]
fn heavy_tails_embed_like_opentsne() {
    compare("tails", &[]);
}

#[test]
fn a_swiss_roll_embeds_like_opentsne() {
    compare("swissroll", &[]);
}
