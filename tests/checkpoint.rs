//! Checkpoints: safetensors round trips with metadata, bad input to `save`, and damaged files.

use std::path::Path;

use latentviz::Error;
use latentviz::checkpoint::{self, NamedTensor};
use latentviz::rng::Rng;

fn tensors(rng: &mut Rng) -> Vec<NamedTensor> {
    let mut t = |name: &str, shape: Vec<usize>| -> NamedTensor {
        let n = shape.iter().product();
        let data = (0..n).map(|_| rng.range(-1.0, 1.0)).collect();
        (name.to_string(), shape, data)
    };
    vec![
        t("encoder.conv1.weight", vec![8, 1, 3, 3]),
        t("encoder.conv1.bias", vec![8]),
        t("decoder.fc.weight", vec![5, 7]),
        t("scalar", vec![]),
        t("empty", vec![0, 3]),
    ]
}

fn sorted(mut t: Vec<NamedTensor>) -> Vec<NamedTensor> {
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

#[test]
fn round_trip_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let saved = tensors(&mut Rng::new(3));
    let meta = vec![
        ("model".to_string(), "conv-ae".to_string()),
        ("epoch".to_string(), "12".to_string()),
    ];
    checkpoint::save(&path, &saved, &meta).unwrap();

    let loaded = checkpoint::load(&path).unwrap();
    assert_eq!(loaded, sorted(saved.clone()), "bit-exact, sorted by name");
    let mut want_meta = meta.clone();
    want_meta.sort();
    assert_eq!(checkpoint::metadata(&path).unwrap(), want_meta);
    let c = checkpoint::load_with_metadata(&path).unwrap();
    assert_eq!((c.tensors, c.metadata), (sorted(saved), want_meta));

    // No metadata at all; saving over the old file replaces it.
    let one = vec![("w".to_string(), vec![2], vec![1.5, -0.0])];
    checkpoint::save(&path, &one, &[]).unwrap();
    assert_eq!(checkpoint::load(&path).unwrap(), one);
    assert!(checkpoint::metadata(&path).unwrap().is_empty());
    // Atomic write: nothing but the checkpoint in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn save_rejects_bad_input_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let wrong_len = vec![("w".to_string(), vec![2, 3], vec![0.0; 5])];
    let err = checkpoint::save(&path, &wrong_len, &[]).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("'w' has shape [2, 3] but 5 values"),
        "{err}"
    );

    let twice = vec![
        ("w".to_string(), vec![1], vec![0.0]),
        ("w".to_string(), vec![1], vec![1.0]),
    ];
    let err = checkpoint::save(&path, &twice, &[]).unwrap_err();
    assert!(err.to_string().contains("'w' appears twice"), "{err}");
    assert!(!path.exists());
}

fn expect_bad_data(path: &Path) -> String {
    match checkpoint::load(path).unwrap_err() {
        Error::BadData { path: p, reason } => {
            assert_eq!(p, path);
            reason
        }
        other => panic!("expected BadData, got {other}"),
    }
}

#[test]
fn truncated_and_corrupt_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    checkpoint::save(&path, &tensors(&mut Rng::new(5)), &[]).unwrap();
    let good = std::fs::read(&path).unwrap();

    // Cut in the data, in the header, and before the header length.
    for cut in [good.len() - 4, good.len() / 2, 40, 5, 0] {
        let p = dir.path().join(format!("cut{cut}.safetensors"));
        std::fs::write(&p, &good[..cut]).unwrap();
        let reason = expect_bad_data(&p);
        assert!(
            reason.starts_with("not a valid safetensors checkpoint (truncated or corrupt"),
            "cut at {cut}: {reason}"
        );
    }

    // A header length that points far past the end of the file.
    let mut huge = good.clone();
    huge[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let p = dir.path().join("huge.safetensors");
    std::fs::write(&p, &huge).unwrap();
    expect_bad_data(&p);

    // Damaged JSON in the header.
    let mut json = good.clone();
    json[8] = b'[';
    let p = dir.path().join("json.safetensors");
    std::fs::write(&p, &json).unwrap();
    expect_bad_data(&p);

    // A valid file holding a non-f32 tensor.
    let bytes = [1u8, 2, 3, 4];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::U8, vec![4], &bytes).unwrap();
    let u8_file = safetensors::serialize([("ids", view)], None).unwrap();
    let p = dir.path().join("u8.safetensors");
    std::fs::write(&p, &u8_file).unwrap();
    let reason = expect_bad_data(&p);
    assert!(reason.contains("tensor 'ids' has dtype U8"), "{reason}");

    // A missing file is an I/O error naming it.
    let missing = dir.path().join("none.safetensors");
    match checkpoint::load(&missing).unwrap_err() {
        Error::Io { path, .. } => assert_eq!(path, missing),
        other => panic!("expected Io, got {other}"),
    }
}

/// The same tensors and metadata give the same bytes in every process: the header's keys are
/// sorted (safetensors itself writes the metadata in a `HashMap`'s order, which changes from
/// process to process, so the file is checked against its sorted form, not against a second save).
#[test]
fn saved_header_is_sorted_and_the_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let tensors = vec![
        ("z.bias".to_string(), vec![2], vec![1.0, 2.0]),
        ("a.weight".to_string(), vec![1, 2], vec![3.0, 4.0]),
    ];
    let metadata: Vec<(String, String)> = ["seed", "model", "epochs", "b", "a", "c"]
        .iter()
        .map(|k| (k.to_string(), format!("value of {k}")))
        .collect();
    checkpoint::save(&path, &tensors, &metadata).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + len]).unwrap();
    let position = |key: &str| header.find(&format!("\"{key}\"")).unwrap();
    let meta_keys = ["a", "b", "c", "epochs", "model", "seed"];
    for pair in meta_keys.windows(2) {
        assert!(position(pair[0]) < position(pair[1]), "{header}");
    }
    assert!(position("__metadata__") < position("a.weight"), "{header}");
    assert!(position("a.weight") < position("z.bias"), "{header}");
    let loaded = checkpoint::load_with_metadata(&path).unwrap();
    assert_eq!(loaded.tensors.len(), 2);
    assert_eq!(loaded.metadata.len(), 6);
    let mut want = metadata.clone();
    want.sort();
    assert_eq!(loaded.metadata, want);
}
