//! MNIST/IDX reading: the real test and training sets, small generated IDX files (raw and
//! gzipped), and every kind of broken input, each of which must be a clear error, not a panic.

use std::io::Write;
use std::path::{Path, PathBuf};

use latentviz::Error;
use latentviz::data::mnist::{self, Mnist, Split, TEST_IMAGES, TEST_LABELS};

const REAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/mnist");

/// IDX bytes: magic 00 00, data type, number of dims, big-endian dims, then `data`.
fn idx(dtype: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, dtype, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Three 2×5 images; pixel k (counting through all images) is 2k, except the last, 255.
fn small_images() -> Vec<u8> {
    let pixels: Vec<u8> = (0..30)
        .map(|i| if i == 29 { 255 } else { i as u8 * 2 })
        .collect();
    idx(0x08, &[3, 2, 5], &pixels)
}

/// Labels 3, 0, 9.
fn small_labels() -> Vec<u8> {
    idx(0x08, &[3], &[3, 0, 9])
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Writes the test split files into a fresh tempdir (gzipped when asked) and returns it.
fn split_dir(images: &[u8], labels: &[u8], gz: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if gz {
        write(dir.path(), &format!("{TEST_IMAGES}.gz"), &gzip(images));
        write(dir.path(), &format!("{TEST_LABELS}.gz"), &gzip(labels));
    } else {
        write(dir.path(), TEST_IMAGES, images);
        write(dir.path(), TEST_LABELS, labels);
    }
    dir
}

fn bad_data_reason(err: Error, file: &Path) -> String {
    match err {
        Error::BadData { path, reason } => {
            assert_eq!(path, file, "error names the wrong file: {reason}");
            reason
        }
        other => panic!("expected BadData for {}, got: {other}", file.display()),
    }
}

fn histogram(labels: &[u8]) -> [usize; 10] {
    let mut h = [0; 10];
    for &l in labels {
        h[l as usize] += 1;
    }
    h
}

#[test]
fn real_test_split() {
    let m = mnist::load(Path::new(REAL), Split::Test).unwrap();
    assert_eq!(m.len(), 10_000);
    assert_eq!((m.rows, m.cols), (28, 28));
    assert_eq!(m.images.len(), 10_000 * 784);
    assert_eq!(m.image(9_999).len(), 784);
    assert_eq!(m.labels[0], 7, "first test digit is a 7");
    // The published class counts of the MNIST test set.
    assert_eq!(
        histogram(&m.labels),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let (min, max) = m
        .images
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert_eq!((min, max), (0.0, 1.0));
    // Mostly background: the mean intensity of MNIST is about 0.13.
    let mean = m.images.iter().map(|&v| v as f64).sum::<f64>() / m.images.len() as f64;
    assert!((0.12..0.14).contains(&mean), "mean pixel {mean}");
}

#[test]
fn real_train_and_all_splits() {
    let train = mnist::load(Path::new(REAL), Split::Train).unwrap();
    assert_eq!(train.len(), 60_000);
    assert_eq!(train.labels[0], 5, "first training digit is a 5");
    assert_eq!(
        histogram(&train.labels),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    let all = mnist::load(Path::new(REAL), Split::All).unwrap();
    assert_eq!(all.len(), 70_000);
    assert_eq!(all.labels[59_999], train.labels[59_999]);
    assert_eq!(
        all.labels[60_000], 7,
        "test images follow the training images"
    );
    assert_eq!(all.image(123), train.image(123));
}

#[test]
fn small_raw_and_gzipped_files_read_the_same() {
    for gz in [false, true] {
        let dir = split_dir(&small_images(), &small_labels(), gz);
        let m = mnist::load(dir.path(), Split::Test).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!((m.rows, m.cols), (2, 5));
        assert_eq!(m.labels, vec![3, 0, 9]);
        assert_eq!(m.image(0)[1], 2.0 / 255.0);
        assert_eq!(m.image(2)[9], 1.0);
        assert_eq!(m.image(1)[0], 20.0 / 255.0);
    }
}

#[test]
fn gz_is_preferred_and_raw_is_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    // Raw images, gzipped labels: each is found under its own name.
    write(dir.path(), TEST_IMAGES, &small_images());
    write(
        dir.path(),
        &format!("{TEST_LABELS}.gz"),
        &gzip(&small_labels()),
    );
    // A raw labels file that disagrees: the .gz one must win.
    write(dir.path(), TEST_LABELS, &idx(0x08, &[3], &[1, 1, 1]));
    let m = mnist::load(dir.path(), Split::Test).unwrap();
    assert_eq!(m.labels, vec![3, 0, 9]);
}

#[test]
fn read_idx_returns_dims_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "x.idx",
        &gzip(&idx(0x08, &[2, 3], &[1, 2, 3, 4, 5, 6])),
    );
    let (dims, data) = mnist::read_idx(&path).unwrap();
    assert_eq!(dims, vec![2, 3]);
    assert_eq!(data, vec![1, 2, 3, 4, 5, 6]);
}

#[test]
fn subset_and_concat() {
    let dir = split_dir(&small_images(), &small_labels(), false);
    let m = mnist::load(dir.path(), Split::Test).unwrap();
    let s = m.subset(2);
    assert_eq!(s.len(), 2);
    assert_eq!(s.labels, vec![3, 0]);
    assert_eq!(s.image(1), m.image(1));
    assert_eq!(m.subset(100), m, "subset clamps to the length");
    assert!(m.subset(0).is_empty());

    let c = Mnist::concat(&m, &s).unwrap();
    assert_eq!(c.len(), 5);
    assert_eq!(c.labels, vec![3, 0, 9, 3, 0]);
    assert_eq!(c.image(4), m.image(1));

    let other = Mnist {
        images: vec![0.0; 4],
        labels: vec![1],
        rows: 2,
        cols: 2,
    };
    let err = Mnist::concat(&m, &other).unwrap_err();
    assert!(err.to_string().contains("2x5 and 2x2"), "{err}");
}

#[test]
fn missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = mnist::load(&missing, Split::Test).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Io { .. }), "{msg}");
    assert!(
        msg.contains("nope") && msg.contains("does not exist"),
        "{msg}"
    );
    assert!(msg.contains("latentviz data mnist"), "{msg}");
}

#[test]
fn missing_file_names_what_was_tried() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), TEST_IMAGES, &small_images());
    let err = mnist::load(dir.path(), Split::Test).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&format!("{TEST_LABELS}.gz")), "{msg}");
    assert!(msg.contains(&format!("and {TEST_LABELS}")), "{msg}");
    assert!(msg.contains("latentviz data mnist"), "{msg}");
    // Train files are absent too.
    let err = mnist::load(dir.path(), Split::Train).unwrap_err();
    assert!(
        err.to_string().contains("train-images-idx3-ubyte.gz"),
        "{err}"
    );
}

#[test]
fn bad_magic() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "x", b"PK\x03\x04 this is a zip, not IDX");
    let reason = bad_data_reason(mnist::read_idx(&path).unwrap_err(), &path);
    assert!(reason.contains("bad magic number 50 4b 03 04"), "{reason}");
    // Too short for any header.
    let path = write(dir.path(), "y", &[0, 0]);
    let reason = bad_data_reason(mnist::read_idx(&path).unwrap_err(), &path);
    assert!(reason.contains("too short"), "{reason}");
}

#[test]
fn wrong_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "f32.idx", &idx(0x0D, &[1], &[0, 0, 0, 0]));
    let reason = bad_data_reason(mnist::read_idx(&path).unwrap_err(), &path);
    assert!(reason.contains("0x0d (32-bit float)"), "{reason}");
    assert!(reason.contains("not supported"), "{reason}");
}

#[test]
fn truncated_data_raw_and_gz() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = small_images();
    bytes.truncate(bytes.len() - 7);
    for (name, content) in [("raw", bytes.clone()), ("gz", gzip(&bytes))] {
        let path = write(dir.path(), name, &content);
        let reason = bad_data_reason(mnist::read_idx(&path).unwrap_err(), &path);
        assert!(
            reason.contains(
                "truncated data: dimensions [3, 2, 5] need 30 data bytes, the file holds 23"
            ),
            "{name}: {reason}"
        );
    }
    // A header cut inside the dimensions.
    let path = write(dir.path(), "hdr", &small_images()[..9]);
    let reason = bad_data_reason(mnist::read_idx(&path).unwrap_err(), &path);
    assert!(reason.contains("truncated IDX header"), "{reason}");
    // Extra bytes after the data are as wrong as missing ones.
    let mut long = small_labels();
    long.push(4);
    let path = write(dir.path(), "long", &long);
    let reason = bad_data_reason(mnist::read_idx(&path).unwrap_err(), &path);
    assert!(
        reason.contains("1 unexpected bytes after the data"),
        "{reason}"
    );
}

#[test]
fn corrupt_and_cut_gzip() {
    let dir = tempfile::tempdir().unwrap();
    // Real data, so the deflate stream is long enough to damage in the middle.
    let real = std::fs::read(Path::new(REAL).join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let mut flipped = real.clone();
    let mid = flipped.len() / 2;
    for b in &mut flipped[mid..mid + 16] {
        *b ^= 0xA5;
    }
    let cut = &real[..real.len() / 2];
    for (name, content) in [("flipped.gz", &flipped[..]), ("cut.gz", cut)] {
        let path = write(dir.path(), name, content);
        let reason = bad_data_reason(mnist::read_idx(&path).unwrap_err(), &path);
        assert!(reason.contains("corrupt gzip data"), "{name}: {reason}");
    }
}

#[test]
fn image_label_count_mismatch() {
    let dir = split_dir(&small_images(), &idx(0x08, &[2], &[1, 2]), true);
    let images = dir.path().join(format!("{TEST_IMAGES}.gz"));
    let reason = bad_data_reason(mnist::load(dir.path(), Split::Test).unwrap_err(), &images);
    assert!(reason.contains("holds 3 images but"), "{reason}");
    assert!(reason.contains("holds 2 labels"), "{reason}");
}

#[test]
fn wrong_rank_and_bad_labels() {
    // Images declared as 2-D.
    let dir = split_dir(&idx(0x08, &[3, 10], &[0; 30]), &small_labels(), false);
    let images = dir.path().join(TEST_IMAGES);
    let reason = bad_data_reason(mnist::load(dir.path(), Split::Test).unwrap_err(), &images);
    assert!(reason.contains("expected 3 dimensions"), "{reason}");
    // A label that is not a digit.
    let dir = split_dir(&small_images(), &idx(0x08, &[3], &[1, 12, 3]), false);
    let labels = dir.path().join(TEST_LABELS);
    let reason = bad_data_reason(mnist::load(dir.path(), Split::Test).unwrap_err(), &labels);
    assert!(reason.contains("label 12 at index 1"), "{reason}");
}
