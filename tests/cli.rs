//! The command line on bad input: a clear error, a non-zero exit, and no output file.
use crate::common::latentviz;
use std::path::Path;
use std::process::Command;

const MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/mnist");

#[test]
fn missing_data_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    let (ok, err) = latentviz(&[
        "train",
        "--data",
        "/nonexistent/mnist",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/mnist"), "{err}");
    assert!(!out.exists());
}

#[test]
fn unwritable_output_fails_before_training() {
    let (ok, err) = latentviz(&[
        "train",
        "--data",
        MNIST,
        "--limit",
        "64",
        "--out",
        "/nonexistent-dir/m.safetensors",
    ]);
    assert!(!ok);
    assert!(err.contains("/nonexistent-dir"), "{err}");
    assert!(!err.contains("epoch 1:"), "it trained first: {err}");
}

#[test]
fn corrupt_idx_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(Path::new(MNIST).join(name), dir.path().join(name)).unwrap();
    }
    // Cut the training images short: the header still promises 60,000.
    let images = dir.path().join("train-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&images).unwrap();
    std::fs::write(&images, &bytes[..bytes.len() / 2]).unwrap();
    let out = dir.path().join("m.safetensors");
    let (ok, err) = latentviz(&[
        "train",
        "--data",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("train-images-idx3-ubyte"), "{err}");
    assert!(!out.exists());
}

#[test]
fn tsne_learning_rate_and_early_stop_reach_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("y.npy");
    let metrics = dir.path().join("m.jsonl");
    let (out_s, metrics_s) = (out.to_str().unwrap(), metrics.to_str().unwrap());
    // 100 MNIST test images with the given options; the metrics' last line.
    let tsne = |options: &[&str]| {
        let mut args = vec![
            "tsne",
            "--mnist",
            MNIST,
            "--subset",
            "100",
            "--perplexity",
            "10",
            "--quiet",
            "--out",
            out_s,
            "--metrics",
            metrics_s,
        ];
        args.extend_from_slice(options);
        let (ok, err) = latentviz(&args);
        let last = std::fs::read_to_string(&metrics)
            .ok()
            .and_then(|m| m.lines().last().map(String::from));
        (ok, err, last)
    };
    let (ok, err, _) = tsne(&["--learning-rate=-5"]);
    assert!(!ok);
    assert!(err.contains("auto, sklearn or a positive number"), "{err}");
    assert!(!out.exists() && !metrics.exists());
    let (ok, err, last) = tsne(&["--iterations", "60", "--learning-rate", "20"]);
    assert!(ok, "{err}");
    let last = last.unwrap();
    assert!(
        last.contains("\"learning_rate\":20.0") && last.contains("\"learning_rate_early\":20.0"),
        "{last}"
    );
    assert!(err.contains("learning rate 20.0 then 20.0"), "{err}");
    // An early stop: the summary line counts the iterations run. After exaggeration (250) the
    // checks at 300 and 350 are the first pair; the KL cannot fall by half between them.
    let (ok, err, last) = tsne(&["--early-stop", "0.5"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("early stop after 350 of 750 iterations"),
        "{err}"
    );
    let last = last.unwrap();
    assert!(last.contains("\"iteration\":350"), "{last}");
}

#[test]
fn no_adapter_says_what_to_install() {
    // No adapter can exist for a backend this platform lacks (DX12 off Windows, Metal off Apple).
    let backend = if cfg!(windows) { "metal" } else { "dx12" };
    let out = Command::new(env!("CARGO_BIN_EXE_latentviz"))
        .arg("info")
        .env("WGPU_BACKEND", backend)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no GPU adapter") && err.contains("mesa-vulkan-drivers"),
        "{err}"
    );
}

#[test]
fn trains_saves_and_writes_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    let metrics = dir.path().join("metrics.jsonl");
    let (ok, err) = latentviz(&[
        "train",
        "--data",
        MNIST,
        "--limit",
        "128",
        "--test-limit",
        "64",
        "--batch",
        "32",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--metrics",
        metrics.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let line = std::fs::read_to_string(&metrics).unwrap();
    let m: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    for key in [
        "epoch",
        "train_loss",
        "test_loss",
        "mean_image_loss",
        "seconds",
    ] {
        assert!(m.get(key).is_some(), "metrics lack {key}: {line}");
    }
    let tensors = latentviz::checkpoint::load(&out).unwrap();
    assert_eq!(tensors.len(), 12, "6 layers × (weight, bias)");
}

/// Files `latentviz figure` reads: an untrained model, a 40-point embedding of the first 40 test
/// images, their latent-code stand-ins, train and t-SNE metrics.
struct FigureInputs {
    dir: tempfile::TempDir,
}

impl FigureInputs {
    fn new() -> FigureInputs {
        use latentviz::data::npy;
        let dir = tempfile::tempdir().unwrap();
        let gpu = latentviz::Gpu::new(&latentviz::GpuOptions::default()).unwrap();
        let mut store = latentviz::graph::ParamStore::new(3);
        latentviz::app::story::encode(&gpu, &mut store, &[0.5; 784]).unwrap();
        latentviz::app::story::decode(&gpu, &mut store, &[0.5; 32]).unwrap();
        store
            .save(&gpu, &dir.path().join("m.safetensors"), &[])
            .unwrap();
        let mut rng = latentviz::rng::Rng::new(5);
        let y: Vec<f32> = (0..80).map(|_| rng.normal() as f32).collect();
        npy::write_f32_2d(&dir.path().join("y.npy"), 40, 2, &y).unwrap();
        let mut nan = y.clone();
        nan[21] = f32::NAN;
        npy::write_f32_2d(&dir.path().join("nan.npy"), 40, 2, &nan).unwrap();
        let f: Vec<f32> = (0..40 * 32).map(|_| rng.uniform() as f32).collect();
        npy::write_f32_2d(&dir.path().join("codes.npy"), 40, 32, &f).unwrap();
        std::fs::write(
            dir.path().join("train.jsonl"),
            "{\"epoch\":1,\"train_loss\":0.3,\"test_loss\":0.25}\n\
             {\"epoch\":2,\"train_loss\":0.2,\"test_loss\":0.18}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("tsne.jsonl"),
            "{\"iteration\":50,\"kl\":3.5,\"seconds\":0.1}\n\
             {\"final\":true,\"iteration\":100,\"kl\":1.25,\"n\":40}\n",
        )
        .unwrap();
        FigureInputs { dir }
    }
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
}

#[test]
fn figure_writes_every_kind() {
    let f = FigureInputs::new();
    let (model, y) = (f.path("m.safetensors"), f.path("y.npy"));
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("preview", vec![]),
        (
            "reconstructions",
            vec![
                "--model".into(),
                model.clone(),
                "--count".into(),
                "3".into(),
            ],
        ),
        (
            "tsne",
            vec![
                "--embedding".into(),
                y.clone(),
                "--style".into(),
                "points".into(),
                "--space".into(),
                "pixel space".into(),
                "--tsne-metrics".into(),
                f.path("tsne.jsonl"),
                "--size".into(),
                "400".into(),
            ],
        ),
        (
            "tsne",
            vec![
                "--embedding".into(),
                y.clone(),
                "--subset".into(),
                "40".into(),
                "--style".into(),
                "images".into(),
                "--size".into(),
                "400".into(),
            ],
        ),
        (
            "interpolation",
            vec![
                "--model".into(),
                model.clone(),
                "--from".into(),
                "3".into(),
                "--to".into(),
                "4".into(),
                "--steps".into(),
                "5".into(),
            ],
        ),
        (
            "arithmetic",
            vec![
                "--model".into(),
                model.clone(),
                "--triple".into(),
                "0,1,2".into(),
                "--triple".into(),
                "3,4,5".into(),
            ],
        ),
        (
            "mosaic",
            vec![
                "--embedding".into(),
                y.clone(),
                "--mode".into(),
                "one-to-one".into(),
                "--rows".into(),
                "5".into(),
                "--cols".into(),
                "6".into(),
                "--seams".into(),
            ],
        ),
        (
            "mosaic",
            vec![
                "--embedding".into(),
                y.clone(),
                "--seams".into(),
                "--features".into(),
                f.path("codes.npy"),
            ],
        ),
        (
            "feature-maps",
            vec![
                "--model".into(),
                model.clone(),
                "--index".into(),
                "2".into(),
                "--layer".into(),
                "enc.conv2".into(),
            ],
        ),
        ("curves", vec!["--metrics".into(), f.path("train.jsonl")]),
    ];
    for (i, (kind, extra)) in cases.iter().enumerate() {
        let out = f.path(&format!("{i}-{kind}.png"));
        let mut args = vec!["figure", kind, "--data", MNIST, "--out", &out];
        if *kind == "curves" {
            args.drain(2..4);
        }
        args.extend(extra.iter().map(String::as_str));
        let (ok, err) = latentviz(&args);
        assert!(ok, "figure {kind} {extra:?}: {err}");
        let img = image::open(&out).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(img.width() > 50 && img.height() > 50, "{kind}");
    }
    // The mosaic without --rows is a ⌊√40⌋ = 6 square, seams included.
    let img = image::open(f.path("7-mosaic.png")).unwrap();
    assert_eq!(img.width(), 6 * 28 + 5 * 3);
}

#[test]
fn figure_errors_name_the_problem_and_write_nothing() {
    let f = FigureInputs::new();
    let out = f.path("bad.png");
    let bad_model = f.path("bad.safetensors");
    let mut tensors =
        latentviz::checkpoint::load(std::path::Path::new(&f.path("m.safetensors"))).unwrap();
    tensors.retain(|t| t.0 != "enc.conv2.bias");
    latentviz::checkpoint::save(std::path::Path::new(&bad_model), &tensors, &[]).unwrap();
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        // The embedding has 40 rows, not 30.
        (
            vec![
                "tsne".into(),
                "--embedding".into(),
                f.path("y.npy"),
                "--subset".into(),
                "30".into(),
            ],
            vec!["40 rows", "--subset is 30"],
        ),
        (
            vec!["mosaic".into(), "--embedding".into(), f.path("nan.npy")],
            vec!["point 10", "NaN"],
        ),
        (
            vec!["interpolation".into(), "--model".into(), bad_model.clone()],
            vec!["bad.safetensors", "enc.conv2.bias", "architecture"],
        ),
        (
            vec!["curves".into(), "--metrics".into(), f.path("tsne.jsonl")],
            vec!["tsne.jsonl", "no epochs"],
        ),
        (
            vec![
                "feature-maps".into(),
                "--model".into(),
                f.path("m.safetensors"),
                "--index".into(),
                "99999".into(),
            ],
            vec!["--index", "99999", "out of range"],
        ),
    ];
    for (extra, wants) in cases {
        let mut args = vec!["figure", extra[0].as_str()];
        if extra[0] != "curves" {
            args.extend(["--data", MNIST]);
        }
        args.extend(["--out", &out]);
        args.extend(extra[1..].iter().map(String::as_str));
        let (ok, err) = latentviz(&args);
        assert!(!ok, "{args:?} succeeded");
        for w in wants {
            assert!(err.contains(w), "{args:?}: '{w}' not in: {err}");
        }
        assert!(!Path::new(&out).exists(), "{args:?} wrote {out}");
    }
}

#[test]
fn encode_writes_codes_and_labels() {
    use latentviz::data::{mnist, npy};
    let f = FigureInputs::new();
    let (codes, labels) = (f.path("z.npy"), f.path("l.npy"));
    let model = f.path("m.safetensors");
    let args = |subset: &str, model: &str| {
        vec![
            "encode".to_string(),
            "--model".into(),
            model.into(),
            "--data".into(),
            MNIST.into(),
            "--subset".into(),
            subset.into(),
            "--out".into(),
            codes.clone(),
            "--labels-out".into(),
            labels.clone(),
        ]
    };
    let run = |a: Vec<String>| latentviz(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (ok, err) = run(args("7", &model));
    assert!(ok, "{err}");
    let (n, d, z) = npy::read_f32_2d(Path::new(&codes)).unwrap();
    assert_eq!((n, d), (7, 32));
    // The CLI's codes are the library's encoder output for the same images.
    let test = mnist::load(Path::new(MNIST), mnist::Split::Test).unwrap();
    let gpu = latentviz::Gpu::new(&latentviz::GpuOptions::default()).unwrap();
    let mut store = latentviz::app::story::load_model(&gpu, Path::new(&model)).unwrap();
    let want = latentviz::app::story::encode(&gpu, &mut store, &test.images[..7 * 784]).unwrap();
    assert_eq!(z, want);
    let l = npy::read_labels(Path::new(&labels)).unwrap();
    let want_labels: Vec<u32> = test.labels[..7].iter().map(|&v| v as u32).collect();
    assert_eq!(l, want_labels);

    // Bad input: nothing written.
    std::fs::remove_file(&codes).unwrap();
    std::fs::remove_file(&labels).unwrap();
    let (ok, err) = run(args("20000", &model));
    assert!(!ok && err.contains("20000"), "{err}");
    let (ok, err) = run(args("7", &f.path("y.npy")));
    assert!(!ok && err.contains("y.npy"), "{err}");
    assert!(!Path::new(&codes).exists() && !Path::new(&labels).exists());
}
