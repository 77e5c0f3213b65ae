//! `.npy` reading and writing: round trips, other dtypes and orders NumPy produces, hand-made
//! files laid out byte by byte as NumPy writes them, and broken files.

use std::path::{Path, PathBuf};

use latentviz::Error;
use latentviz::data::npy;
use latentviz::rng::Rng;
use npyz::WriterBuilder;

/// A .npy file exactly as NumPy 1.x writes it: magic, version 1.0, header length, a Python dict
/// literal padded with spaces to a multiple of 64 bytes and ended by '\n', then the data.
fn handmade(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let order = if fortran { "True" } else { "False" };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
    while !(10 + dict.len() + 1).is_multiple_of(64) {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(data);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
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

#[test]
fn f32_round_trip_awkward_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(7);
    for (rows, cols) in [(7, 3), (1, 1), (1, 65), (45, 2), (0, 4)] {
        let data: Vec<f32> = (0..rows * cols).map(|_| rng.range(-1.0, 1.0)).collect();
        let path = dir.path().join(format!("m{rows}x{cols}.npy"));
        npy::write_f32_2d(&path, rows, cols, &data).unwrap();
        let (r, c, back) = npy::read_f32_2d(&path).unwrap();
        assert_eq!((r, c), (rows, cols));
        assert_eq!(back, data, "f32 survives bit for bit");
    }
}

#[test]
fn handmade_c_order_f32_reads_row_major() {
    let dir = tempfile::tempdir().unwrap();
    let values = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let path = write(
        dir.path(),
        "c.npy",
        &handmade("<f4", false, "(2, 3)", &data),
    );
    assert_eq!(npy::read_f32_2d(&path).unwrap(), (2, 3, values.to_vec()));
}

#[test]
fn f64_big_endian_and_fortran_order() {
    let dir = tempfile::tempdir().unwrap();
    // The matrix [[1, 2, 3], [4, 5, 6]] stored column by column, as float64.
    let columns = [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0];
    let data: Vec<u8> = columns.iter().flat_map(|v| v.to_le_bytes()).collect();
    let path = write(dir.path(), "f.npy", &handmade("<f8", true, "(2, 3)", &data));
    assert_eq!(
        npy::read_f32_2d(&path).unwrap(),
        (2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );

    // Big-endian float32, C order.
    let values = [0.5f32, -2.25, 1e-3, 7.0];
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    let path = write(
        dir.path(),
        "be.npy",
        &handmade(">f4", false, "(4, 1)", &data),
    );
    assert_eq!(npy::read_f32_2d(&path).unwrap(), (4, 1, values.to_vec()));

    // float64 written through npyz, values that are not exact in f32: rounded to nearest.
    let path = dir.path().join("f64.npy");
    let v64 = [0.1f64, 1.0 / 3.0, -1e10];
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[1, 3])
        .writer(std::fs::File::create(&path).unwrap())
        .begin_nd()
        .unwrap();
    writer.extend(v64).unwrap();
    writer.finish().unwrap();
    let (_, _, back) = npy::read_f32_2d(&path).unwrap();
    assert_eq!(back, v64.iter().map(|&v| v as f32).collect::<Vec<_>>());
}

#[test]
fn labels_round_trip_through_npyz() {
    let dir = tempfile::tempdir().unwrap();
    let u8_path = dir.path().join("labels_u8.npy");
    npy::write_labels_u8(&u8_path, &[7, 2, 1, 0, 9]).unwrap();
    let file = npyz::NpyFile::new(std::fs::File::open(&u8_path).unwrap()).unwrap();
    assert_eq!(file.shape(), &[5]);
    assert_eq!(file.dtype().descr(), "'|u1'");
    assert_eq!(file.into_vec::<u8>().unwrap(), vec![7, 2, 1, 0, 9]);

    let i64_path = dir.path().join("labels_i64.npy");
    npy::write_labels_i64(&i64_path, &[-1, 0, 1 << 40]).unwrap();
    let file = npyz::NpyFile::new(std::fs::File::open(&i64_path).unwrap()).unwrap();
    assert_eq!(file.shape(), &[3]);
    assert_eq!(file.dtype().descr(), "'<i8'");
    assert_eq!(file.into_vec::<i64>().unwrap(), vec![-1, 0, 1 << 40]);

    // Empty label vectors are valid too.
    npy::write_labels_u8(&u8_path, &[]).unwrap();
    let file = npyz::NpyFile::new(std::fs::File::open(&u8_path).unwrap()).unwrap();
    assert_eq!(file.shape(), &[0]);
}

#[test]
fn wrong_rank_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.npy");
    npy::write_labels_u8(&path, &[1, 2, 3]).unwrap();
    let reason = bad_data_reason(npy::read_f32_2d(&path).unwrap_err(), &path);
    assert_eq!(reason, "expected a 2-D array, got shape [3]");

    let data = vec![0u8; 2 * 2 * 2 * 4];
    let path = write(
        dir.path(),
        "cube.npy",
        &handmade("<f4", false, "(2, 2, 2)", &data),
    );
    let reason = bad_data_reason(npy::read_f32_2d(&path).unwrap_err(), &path);
    assert_eq!(reason, "expected a 2-D array, got shape [2, 2, 2]");
}

#[test]
fn unsupported_dtype_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for (descr, size) in [("<i4", 4), ("|u1", 1), ("<c8", 8), ("<f2", 2)] {
        let path = write(
            dir.path(),
            "x.npy",
            &handmade(descr, false, "(2, 2)", &vec![0u8; 4 * size]),
        );
        let reason = bad_data_reason(npy::read_f32_2d(&path).unwrap_err(), &path);
        assert!(
            reason.contains(&format!("unsupported dtype {descr}")),
            "{descr}: {reason}"
        );
    }
}

#[test]
fn corrupt_and_truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = handmade("<f4", false, "(3, 4)", &[0u8; 48]);

    // Data cut short.
    let path = write(dir.path(), "cut.npy", &good[..good.len() - 5]);
    let reason = bad_data_reason(npy::read_f32_2d(&path).unwrap_err(), &path);
    assert_eq!(
        reason,
        "truncated data: shape [3, 4] (<f4) needs 48 data bytes, the file holds 43"
    );

    // A header claiming an enormous shape must not try to allocate it.
    let path = write(
        dir.path(),
        "huge.npy",
        &handmade("<f4", false, "(4000000000, 4000000000)", &[0u8; 16]),
    );
    let reason = bad_data_reason(npy::read_f32_2d(&path).unwrap_err(), &path);
    assert!(
        reason.starts_with("truncated data: shape [4000000000, 4000000000]"),
        "{reason}"
    );

    // Not an .npy at all, an empty file, a damaged header dict, a header cut in half.
    let mut broken_dict = good.clone();
    broken_dict[12] = b'#';
    let cases: [(&str, &[u8]); 4] = [
        ("text.npy", b"rows,cols\n1,2\n"),
        ("empty.npy", b""),
        ("dict.npy", &broken_dict),
        ("header.npy", &good[..40]),
    ];
    for (name, bytes) in cases {
        let path = write(dir.path(), name, bytes);
        let reason = bad_data_reason(npy::read_f32_2d(&path).unwrap_err(), &path);
        assert!(
            reason.starts_with("not a valid .npy file"),
            "{name}: {reason}"
        );
    }

    // A missing file is an I/O error naming it.
    let missing = dir.path().join("missing.npy");
    match npy::read_f32_2d(&missing).unwrap_err() {
        Error::Io { path, .. } => assert_eq!(path, missing),
        other => panic!("expected Io, got {other}"),
    }
}

#[test]
fn write_checks_length_and_leaves_nothing_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.npy");
    let err = npy::write_f32_2d(&path, 2, 3, &[0.0; 5]).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(
        err.to_string().contains("2x3 needs 6 values, got 5"),
        "{err}"
    );
    assert!(!path.exists());
}

/// Labels of every integer dtype NumPy writes come back as u32; floats, 2-D arrays, negative and
/// huge labels and truncated data are errors naming the file and the problem.
#[test]
fn read_labels_integer_dtypes_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let want = vec![7u32, 0, 9, 3, 255];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("|u1", want.iter().map(|&v| v as u8).collect()),
        ("|i1", vec![7, 0, 9, 3, 0]),
        (
            "<i2",
            want.iter()
                .flat_map(|&v| (v as i16).to_le_bytes())
                .collect(),
        ),
        (
            ">u2",
            want.iter()
                .flat_map(|&v| (v as u16).to_be_bytes())
                .collect(),
        ),
        ("<u4", want.iter().flat_map(|&v| v.to_le_bytes()).collect()),
        (
            "<i4",
            want.iter()
                .flat_map(|&v| (v as i32).to_le_bytes())
                .collect(),
        ),
        (
            "<u8",
            want.iter()
                .flat_map(|&v| u64::from(v).to_le_bytes())
                .collect(),
        ),
        (
            ">i8",
            want.iter()
                .flat_map(|&v| i64::from(v).to_be_bytes())
                .collect(),
        ),
    ];
    for (descr, data) in cases {
        let path = write(dir.path(), "l.npy", &handmade(descr, false, "(5,)", &data));
        let got = npy::read_labels(&path).unwrap();
        let expect = if descr == "|i1" {
            vec![7, 0, 9, 3, 0]
        } else {
            want.clone()
        };
        assert_eq!(got, expect, "{descr}");
    }
    // What write_labels_* produce reads back, empty included.
    let path = dir.path().join("w.npy");
    npy::write_labels_i64(&path, &[4, 1, 1 << 19]).unwrap();
    assert_eq!(npy::read_labels(&path).unwrap(), vec![4, 1, 1 << 19]);
    npy::write_labels_u8(&path, &[]).unwrap();
    assert_eq!(npy::read_labels(&path).unwrap(), Vec::<u32>::new());

    let bad: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "negative",
            handmade(
                "<i4",
                false,
                "(3,)",
                &[1, 0, 0, 0, 255, 255, 255, 255, 2, 0, 0, 0],
            ),
            "label -1 at index 1 is out of range",
        ),
        (
            "huge",
            handmade("<u8", false, "(1,)", &(1u64 << 40).to_le_bytes()),
            "label 1099511627776 at index 0 is out of range",
        ),
        (
            "float",
            handmade("<f4", false, "(2,)", &[0; 8]),
            "unsupported label dtype <f4",
        ),
        (
            "rank",
            handmade("|u1", false, "(2, 2)", &[0; 4]),
            "labels must be 1-D, got shape [2, 2]",
        ),
        (
            "truncated",
            handmade("<i8", false, "(4,)", &[0; 20]),
            "truncated label data",
        ),
        ("garbage", b"not numpy".to_vec(), "not a valid .npy file"),
    ];
    for (name, bytes, expect) in bad {
        let path = write(dir.path(), &format!("{name}.npy"), &bytes);
        let reason = bad_data_reason(npy::read_labels(&path).unwrap_err(), &path);
        assert!(
            reason.contains(expect),
            "{name}: '{reason}' lacks '{expect}'"
        );
    }
}
