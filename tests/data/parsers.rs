//! The file readers under mutated and arbitrary bytes (issue 21, "parsers under arbitrary
//! bytes"): every input gives a value or an error, never a panic. Seeded mutations of valid
//! files (flipped bytes, cut ends, bytes inserted, header fields set to extremes) and random
//! bytes, a few hundred each; no fuzzer is needed to run them.
use std::path::Path;

use latentviz::data::npy;
use latentviz::rng::Rng;

/// Valid files of every kind the readers take, with the reader of each.
type Reader = fn(&Path) -> bool;

fn readers() -> Vec<(&'static str, Vec<u8>, Reader)> {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    npy::write_f32_2d(&p("x.npy"), 7, 3, &[0.25; 21]).unwrap();
    npy::write_labels_i64(&p("l.npy"), &[1, 2, 3, 4]).unwrap();
    let tensors = vec![
        ("a.weight".to_string(), vec![2, 3], vec![0.5f32; 6]),
        ("a.bias".to_string(), vec![2], vec![0.0f32; 2]),
    ];
    latentviz::checkpoint::save(&p("m.safetensors"), &tensors, &[]).unwrap();
    let mut idx = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3];
    idx.extend([7u8; 18]);
    let metrics = b"{\"epoch\":1,\"train_loss\":0.3,\"test_loss\":0.25}\n".to_vec();
    let read = |name: &str| std::fs::read(p(name)).unwrap();
    vec![
        ("npy f32", read("x.npy"), |p| npy::read_f32_2d(p).is_ok()),
        ("npy labels", read("l.npy"), |p| npy::read_labels(p).is_ok()),
        ("safetensors", read("m.safetensors"), |p| {
            latentviz::checkpoint::load(p).is_ok()
        }),
        ("idx", idx.clone(), |p| latentviz::data::read_idx(p).is_ok()),
        ("idx.gz", gzip(&idx), |p| {
            latentviz::data::read_idx(p).is_ok()
        }),
        ("train metrics", metrics, |p| {
            latentviz::app::story::read_train_metrics(p).is_ok()
        }),
    ]
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// One seeded mutation of `bytes`.
fn mutate(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
        }
        1 => v.truncate(rng.below(v.len())),
        2 => {
            let i = rng.below(v.len() + 1);
            let extra: Vec<u8> = (0..1 + rng.below(16))
                .map(|_| rng.below(256) as u8)
                .collect();
            v.splice(i..i, extra);
        }
        3 => {
            // A 4- or 8-byte field in the first 64 bytes set to its largest value.
            let width = if rng.below(2) == 0 { 4 } else { 8 };
            let i = rng.below(v.len().min(64).saturating_sub(width).max(1));
            for b in v.iter_mut().skip(i).take(width) {
                *b = 0xff;
            }
        }
        _ => v = (0..rng.below(96)).map(|_| rng.below(256) as u8).collect(),
    }
    v
}

#[test]
fn mutated_files_give_a_value_or_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(21);
    for (kind, valid, read) in readers() {
        let path = dir.path().join("input");
        std::fs::write(&path, &valid).unwrap();
        assert!(read(&path), "{kind}: the valid file is refused");
        for round in 0..400 {
            let bytes = mutate(&mut rng, &valid);
            std::fs::write(&path, &bytes).unwrap();
            let outcome = std::panic::catch_unwind(|| read(&path));
            assert!(
                outcome.is_ok(),
                "{kind}: round {round} panicked on {} bytes {:02x?}",
                bytes.len(),
                &bytes[..bytes.len().min(64)]
            );
        }
    }
}
