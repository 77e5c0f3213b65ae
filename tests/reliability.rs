//! Hostile-but-fair inputs (issue 21): special files are written into, not replaced; every
//! output is checked before the work; a failed side output never loses the main result; sizes
//! are refused before anything is allocated; nonsense arguments get a clear error.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::latentviz;
use latentviz::data::npy;

const MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/mnist");

/// A training run of a few seconds: 32 images, one epoch, no progress bar.
const SHORT_TRAIN: [&str; 10] = [
    "train",
    "--data",
    MNIST,
    "--limit",
    "32",
    "--test-limit",
    "32",
    "--batch",
    "16",
    "--quiet",
];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// 40 points in 3-D, two clusters, for short t-SNE runs.
fn small_input(dir: &Path) -> PathBuf {
    let mut rng = latentviz::rng::Rng::new(7);
    let x: Vec<f32> = (0..120)
        .map(|i| rng.normal() as f32 + if i < 60 { 0.0 } else { 5.0 })
        .collect();
    let path = dir.join("x.npy");
    npy::write_f32_2d(&path, 40, 3, &x).unwrap();
    path
}

fn tsne_args<'a>(input: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "tsne",
        "--input",
        input,
        "--out",
        out,
        "--perplexity",
        "5",
        "--iterations",
        "60",
        "--quiet",
    ]
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(ok.success(), "mkfifo {}", path.display());
}

#[cfg(unix)]
fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// Reads a FIFO to its end on another thread.
fn drain(path: &Path) -> std::thread::JoinHandle<Vec<u8>> {
    let path = path.to_path_buf();
    std::thread::spawn(move || std::fs::read(path).unwrap())
}

#[cfg(unix)]
#[test]
fn a_fifo_is_written_into_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let reader = drain(&fifo);
    latentviz::io::write_bytes_atomic(&fifo, b"through the pipe").unwrap();
    assert_eq!(reader.join().unwrap(), b"through the pipe");
    assert!(is_fifo(&fifo), "the FIFO was replaced by a regular file");

    // The command line: the embedding arrives through the FIFO, which stays one.
    let input = small_input(dir.path());
    let reader = drain(&fifo);
    let (ok, err) = latentviz(&tsne_args(s(&input), s(&fifo)));
    assert!(ok, "{err}");
    let bytes = reader.join().unwrap();
    assert!(bytes.starts_with(b"\x93NUMPY"), "{} bytes", bytes.len());
    assert!(is_fifo(&fifo));
    let entries = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(entries, 2, "no temporary file is left beside the FIFO");
}

#[cfg(unix)]
#[test]
fn a_symlink_keeps_pointing_at_the_replaced_file() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.bin");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.path().join("link.bin");
    std::os::unix::fs::symlink("real.bin", &link).unwrap();
    latentviz::io::write_bytes_atomic(&link, b"new").unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(std::fs::read(&real).unwrap(), b"new");

    // A link to a file not there yet creates that file.
    let dangling = dir.path().join("dangling.bin");
    std::os::unix::fs::symlink("created.bin", &dangling).unwrap();
    latentviz::io::write_bytes_atomic(&dangling, b"made").unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("created.bin")).unwrap(),
        b"made"
    );
    assert!(std::fs::symlink_metadata(&dangling).unwrap().is_symlink());
}

#[test]
fn long_file_names_are_written_or_refused_before_work() {
    let dir = tempfile::tempdir().unwrap();
    // 250 bytes: the file system takes it, the temporary name must too.
    let long = dir.path().join(format!("{}.npy", "a".repeat(246)));
    latentviz::io::check_writable(&long).unwrap();
    assert!(!long.exists(), "the check leaves nothing behind");
    latentviz::io::write_bytes_atomic(&long, b"x").unwrap();
    assert_eq!(std::fs::read(&long).unwrap(), b"x");

    let too_long = dir.path().join("b".repeat(256));
    let err = latentviz::io::check_writable(&too_long).unwrap_err();
    assert!(err.to_string().contains("too long"), "{err}");
}

#[test]
fn train_checks_every_output_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let with = |extra: &[&str]| {
        let mut args = SHORT_TRAIN.to_vec();
        args.extend_from_slice(extra);
        latentviz(&args)
    };
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let long = dir.path().join("c".repeat(256));
    for (extra, needle) in [
        (vec!["--out", s(&sub)], "is a directory"),
        (
            vec!["--out", s(&model), "--metrics", s(&sub)],
            "is a directory",
        ),
        (vec!["--out", s(&long)], "too long"),
        (
            vec!["--out", s(&model), "--metrics", s(&model)],
            "both name",
        ),
    ] {
        let (ok, err) = with(&extra);
        assert!(!ok, "{extra:?} was accepted");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(
            !err.contains("epoch 1"),
            "{extra:?}: it trained first: {err}"
        );
        assert!(!model.exists(), "{extra:?}");
    }
}

/// A "full" device (opens, fails every write with no space left) of the test's own: as root a
/// node made in `dir`, so a regression that replaced it would not destroy the system's
/// /dev/full; otherwise /dev/full itself, which a non-root process cannot replace.
#[cfg(unix)]
fn full_device(dir: &Path) -> PathBuf {
    let own = dir.join("full");
    let made = Command::new("mknod")
        .arg(&own)
        .args(["c", "1", "7"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if made {
        own
    } else {
        PathBuf::from("/dev/full")
    }
}

#[cfg(unix)]
#[test]
fn a_failed_metrics_write_keeps_the_model() {
    // A full device takes the open and fails every write: the model is saved anyway.
    let dir = tempfile::tempdir().unwrap();
    let full_path = full_device(dir.path());
    let full = full_path.as_path();
    let model = dir.path().join("m.safetensors");
    let (ok, err) = latentviz(
        &[
            &SHORT_TRAIN[..],
            &["--out", s(&model), "--metrics", s(full)],
        ]
        .concat(),
    );
    assert!(!ok, "the metrics failure must show in the exit code");
    assert!(err.contains(s(full)), "{err}");
    assert!(model.exists(), "the trained model was lost: {err}");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata(full)
            .unwrap()
            .file_type()
            .is_char_device()
    );

    let input = small_input(dir.path());
    let y = dir.path().join("y.npy");
    let mut args = tsne_args(s(&input), s(&y));
    args.extend_from_slice(&["--metrics", s(full)]);
    let (ok, err) = latentviz(&args);
    assert!(!ok);
    assert!(err.contains(s(full)), "{err}");
    assert_eq!(npy::read_f32_2d(&y).unwrap().0, 40, "{err}");
}

#[test]
fn snapshots_of_an_earlier_run_are_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let input = small_input(dir.path());
    let y = dir.path().join("y.npy");
    let snaps = dir.path().join("snaps");
    std::fs::create_dir(&snaps).unwrap();
    std::fs::write(snaps.join("y_00750.npy"), b"an earlier run").unwrap();
    std::fs::write(snaps.join("notes.txt"), b"mine").unwrap();
    let mut args = tsne_args(s(&input), s(&y));
    args.extend_from_slice(&["--snapshots", s(&snaps)]);
    let (ok, err) = latentviz(&args);
    assert!(ok, "{err}");
    let mut names: Vec<String> = std::fs::read_dir(&snaps)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["notes.txt", "y_00050.npy", "y_00060.npy"]);
}

/// An untrained seed autoencoder saved to `dir/m.safetensors`.
fn untrained_model(dir: &Path) -> PathBuf {
    let gpu = latentviz::Gpu::new(&latentviz::GpuOptions::default()).unwrap();
    let mut store = latentviz::graph::ParamStore::new(3);
    latentviz::app::story::encode(&gpu, &mut store, &[0.5; 784]).unwrap();
    latentviz::app::story::decode(&gpu, &mut store, &[0.5; 32]).unwrap();
    let path = dir.join("m.safetensors");
    store.save(&gpu, &path, &[]).unwrap();
    path
}

#[test]
fn figure_sizes_are_refused_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = latentviz::rng::Rng::new(5);
    let y: Vec<f32> = (0..80).map(|_| rng.normal() as f32).collect();
    let emb = dir.path().join("y.npy");
    npy::write_f32_2d(&emb, 40, 2, &y).unwrap();
    let png = dir.path().join("f.png");
    let model = untrained_model(dir.path());
    let mosaic = |rows: &str, cols: &str| {
        latentviz(&[
            "figure",
            "mosaic",
            "--embedding",
            s(&emb),
            "--data",
            MNIST,
            "--rows",
            rows,
            "--cols",
            cols,
            "--out",
            s(&png),
        ])
    };
    for (args, needle) in [
        (mosaic("100000", "100000"), "100000 grid rows"),
        (mosaic("10000", "10000"), "10000 grid rows"),
        (mosaic("10", "600"), "600 grid columns"),
        (
            latentviz(&[
                "figure",
                "reconstructions",
                "--model",
                s(&model),
                "--data",
                MNIST,
                "--count",
                "10001",
                "--out",
                s(&png),
            ]),
            "10001 images per row",
        ),
        (
            latentviz(&[
                "figure",
                "reconstructions",
                "--model",
                s(&model),
                "--data",
                MNIST,
                "--count",
                "500",
                "--out",
                s(&png),
            ]),
            "500 images per row",
        ),
    ] {
        let (ok, err) = args;
        assert!(!ok, "accepted: {err}");
        assert!(err.contains(needle) && err.contains("do not fit"), "{err}");
        assert!(!png.exists());
    }
}

/// Gzip of `bytes` at the fastest level.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// An IDX header for unsigned bytes of the given dimensions, then `data_len` zero bytes.
fn idx_of_zeros(dims: &[u32], data_len: usize) -> Vec<u8> {
    let mut v = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.resize(v.len() + data_len, 0);
    v
}

#[test]
fn gzip_is_read_no_further_than_its_header_allows() {
    let dir = tempfile::tempdir().unwrap();
    // 10 labels, then 200 MB of zeros: the reader stops after the 11th data byte.
    let path = dir.path().join("labels.gz");
    std::fs::write(&path, gzip(&idx_of_zeros(&[10], 200 << 20))).unwrap();
    let err = latentviz::data::read_idx(&path).unwrap_err().to_string();
    assert!(err.contains("go on past the 18 bytes"), "{err}");
}

/// A server that answers every request with `body`, announcing `announce` bytes.
fn serve_forever(body: Vec<u8>, announce: usize) -> String {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let body = std::sync::Arc::new(body);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let body = body.clone();
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut reader = std::io::BufReader::new(stream.try_clone()?);
                let mut line = String::new();
                while reader.read_line(&mut line)? > 2 {
                    line.clear();
                }
                let mut out = stream;
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {announce}\r\nConnection: close\r\n\r\n"
                )?;
                out.write_all(&body)
            });
        }
    });
    base
}

#[test]
fn downloads_stop_at_the_size_mnist_allows() {
    // A gzip bomb behind a real training-images header: refused once the header's size is read.
    let bomb = gzip(&idx_of_zeros(&[60_000, 28, 28], 200 << 20));
    let dir = tempfile::tempdir().unwrap();
    let err = latentviz::data::download_mnist(
        &serve_forever(bomb.clone(), bomb.len()),
        dir.path(),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("go on past the 47040016 bytes"), "{err}");
    // A body (or an announced length) larger than any MNIST file.
    let huge = vec![7u8; 50 << 20];
    let err = latentviz::data::download_mnist(&serve_forever(huge, 50 << 20), dir.path(), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than any MNIST file holds"), "{err}");
    let err =
        latentviz::data::download_mnist(&serve_forever(vec![1; 10], 5 << 30), dir.path(), false)
            .unwrap_err()
            .to_string();
    assert!(err.contains("more than any MNIST file holds"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_the_program_quietly() {
    // `true` exits at once, long before `info` has listed the adapters and prints.
    let bin = env!("CARGO_BIN_EXE_latentviz");
    for command in [
        format!("'{bin}' info | true"),
        format!("'{bin}' --help | true"),
    ] {
        let out = Command::new("sh").arg("-c").arg(&command).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{command}: {err}");
    }
}

#[test]
fn sizes_beyond_the_adapter_get_a_clear_error() {
    let (ok, err) = latentviz(&["bench", "--batch", "100000", "--filter", "relu"]);
    assert!(!ok && !err.contains("panicked"), "{err}");
    // One image past what the adapter binds in enc.conv1's activation (32 × 28 × 28 floats).
    let gpu = latentviz::Gpu::new(&latentviz::GpuOptions::default()).unwrap();
    let batch = (gpu.max_storage_bytes() / (32 * 28 * 28 * 4) + 1).to_string();
    let (ok, err) = latentviz(&["bench", "--batch", &batch, "--filter", "relu"]);
    assert!(!ok, "{err}");
    assert!(err.contains("binds in one buffer"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn an_adapter_number_is_an_index_only() {
    // The only adapter here is 0; "5" used to match a digit in its name.
    let (ok, err) = latentviz(&["--adapter", "5", "info"]);
    assert!(!ok, "{err}");
    assert!(err.contains("no adapter 5"), "{err}");
}

#[test]
fn train_refuses_nonsense_before_loading_anything() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    for (flag, value, needle) in [
        ("--lr", "-1", "--lr must be a positive number"),
        ("--lr", "0", "--lr must be a positive number"),
        ("--lr", "NaN", "--lr must be a positive number"),
        ("--lr", "inf", "--lr must be a positive number"),
        ("--epochs", "0", "--epochs must be at least 1"),
        ("--test-limit", "0", "--test-limit must be at least 1"),
    ] {
        let arg = format!("{flag}={value}");
        let (ok, err) = latentviz(&["train", "--data", "/nonexistent", &arg, "--out", s(&model)]);
        assert!(!ok && err.contains(needle), "{flag} {value}: {err}");
    }
}

#[test]
fn a_model_with_nan_weights_is_named_as_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let good = untrained_model(dir.path());
    let mut tensors = latentviz::checkpoint::load(&good).unwrap();
    tensors[0].2[3] = f32::NAN;
    let bad = dir.path().join("nan.safetensors");
    latentviz::checkpoint::save(&bad, &tensors, &[]).unwrap();
    let z = dir.path().join("z.npy");
    let (ok, err) = latentviz(&[
        "encode",
        "--model",
        s(&bad),
        "--data",
        MNIST,
        "--subset",
        "8",
        "--out",
        s(&z),
    ]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("nan.safetensors") && err.contains("NaN"),
        "{err}"
    );
    assert!(err.contains("damaged"), "{err}");
    assert!(!z.exists());
}

#[test]
fn encode_outputs_may_not_collide_or_be_directories() {
    let dir = tempfile::tempdir().unwrap();
    let model = untrained_model(dir.path());
    let z = dir.path().join("z.npy");
    let encode = |out: &Path, labels: &Path| {
        latentviz(&[
            "encode",
            "--model",
            s(&model),
            "--data",
            MNIST,
            "--subset",
            "8",
            "--out",
            s(out),
            "--labels-out",
            s(labels),
        ])
    };
    let (ok, err) = encode(&z, &z);
    assert!(!ok && err.contains("both name"), "{err}");
    let (ok, err) = encode(&z, dir.path());
    assert!(!ok && err.contains("is a directory"), "{err}");
    assert!(
        !z.exists(),
        "the codes were written before the labels failed"
    );
}

#[test]
fn tsne_refuses_what_it_used_to_bend() {
    let dir = tempfile::tempdir().unwrap();
    let input = small_input(dir.path());
    let y = dir.path().join("y.npy");
    // --subset beyond N.
    let mut args = tsne_args(s(&input), s(&y));
    args.extend_from_slice(&["--subset", "41"]);
    let (ok, err) = latentviz(&args);
    assert!(!ok && err.contains("only 40 points"), "{err}");
    // --labels belongs to --input.
    let labels = dir.path().join("l.npy");
    npy::write_labels_i64(&labels, &[0; 40]).unwrap();
    let (ok, err) = latentviz(&[
        "tsne",
        "--mnist",
        MNIST,
        "--labels",
        s(&labels),
        "--out",
        s(&y),
    ]);
    assert!(!ok && err.contains("--labels"), "{err}");
    // --metrics and --out naming one file.
    let mut args = tsne_args(s(&input), s(&y));
    args.extend_from_slice(&["--metrics", s(&y)]);
    let (ok, err) = latentviz(&args);
    assert!(!ok && err.contains("both name"), "{err}");
    assert!(!y.exists());
    // Too few points for any perplexity, and points without features.
    for (rows, cols, needle) in [
        (3, 2, "3 points are too few"),
        (4, 2, "4 points are too few"),
        (20, 0, "0 features"),
    ] {
        let x = dir.path().join(format!("x{rows}x{cols}.npy"));
        npy::write_f32_2d(&x, rows, cols, &vec![0.5; rows * cols]).unwrap();
        let (ok, err) = latentviz(&["tsne", "--input", s(&x), "--out", s(&y)]);
        assert!(!ok && err.contains(needle), "{rows}x{cols}: {err}");
    }
}

#[test]
fn fft_on_a_handful_of_points_is_finite() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = latentviz::rng::Rng::new(1);
    let x: Vec<f32> = (0..15).map(|_| rng.normal() as f32).collect();
    let input = dir.path().join("x5.npy");
    npy::write_f32_2d(&input, 5, 3, &x).unwrap();
    let y = dir.path().join("y.npy");
    let (ok, err) = latentviz(&[
        "tsne",
        "--input",
        s(&input),
        "--out",
        s(&y),
        "--perplexity",
        "1",
        "--method",
        "fft",
        "--quiet",
    ]);
    assert!(ok, "{err}");
    let (_, _, y) = npy::read_f32_2d(&y).unwrap();
    assert!(y.iter().all(|v| v.is_finite()), "{y:?}");
}

#[test]
fn messages_that_used_to_mislead() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.jsonl");
    let (ok, err) = latentviz(&["bench", "--filter", "no-such-kernel", "--json", s(&json)]);
    assert!(!ok && err.contains("matches no kernel"), "{err}");
    assert!(!json.exists());
    // Every download failing leaves no empty directory behind.
    let target = dir.path().join("mnist");
    let (ok, err) = latentviz(&[
        "data",
        "mnist",
        "--dir",
        s(&target),
        "--url",
        "http://127.0.0.1:9/none",
    ]);
    assert!(!ok, "{err}");
    assert!(!target.exists(), "{err}");
}

#[test]
fn same_inputs_and_seed_write_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let input = small_input(dir.path());
    let run_twice = |name: &str, args: &dyn Fn(&str) -> Vec<String>| {
        let outs: Vec<Vec<u8>> = ["a", "b"]
            .iter()
            .map(|tag| {
                let out = dir.path().join(format!("{tag}_{name}"));
                let args = args(s(&out));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let (ok, err) = latentviz(&args);
                assert!(ok, "{name}: {err}");
                std::fs::read(&out).unwrap()
            })
            .collect();
        assert!(outs[0] == outs[1], "{name}: two runs wrote different bytes");
    };
    let owned = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let model = dir.path().join("a_m.safetensors");
    run_twice("m.safetensors", &|out| {
        owned(&[
            "train",
            "--data",
            MNIST,
            "--limit",
            "64",
            "--test-limit",
            "32",
            "--batch",
            "16",
            "--seed",
            "3",
            "--quiet",
            "--out",
            out,
        ])
    });
    run_twice("z.npy", &|out| {
        owned(&[
            "encode",
            "--model",
            s(&model),
            "--data",
            MNIST,
            "--subset",
            "16",
            "--out",
            out,
        ])
    });
    run_twice("y.npy", &|out| {
        let mut v = owned(&tsne_args(s(&input), out));
        v.extend(owned(&["--seed", "5"]));
        v
    });
    run_twice("rec.png", &|out| {
        owned(&[
            "figure",
            "reconstructions",
            "--model",
            s(&model),
            "--data",
            MNIST,
            "--count",
            "4",
            "--out",
            out,
        ])
    });
}
