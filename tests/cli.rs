//! The command line on bad input: a clear error, a non-zero exit, and no output file.
use std::path::Path;
use std::process::Command;

fn latentviz(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_latentviz"))
        .args(args)
        .output()
        .expect("run latentviz");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

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
