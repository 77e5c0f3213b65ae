//! The optimization GIF (`figures::animation`, `latentviz figure animation`): one frame per
//! snapshot in the label palette, each frame fitted to its points, and bad inputs refused with
//! nothing written.

use std::path::{Path, PathBuf};

use crate::common::latentviz;
use latentviz::app::figures::{AnimationFrame, TAB10, animation};
use latentviz::data::npy;

/// (frames as palette indices, global palette as RGB triples, width, height).
fn decode(path: &Path) -> (Vec<Vec<u8>>, Vec<[u8; 3]>, usize, usize) {
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::Indexed);
    let mut dec = opts
        .read_info(std::fs::File::open(path).expect("GIF exists"))
        .expect("a GIF");
    let palette = dec
        .global_palette()
        .expect("a global palette")
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    let (w, h) = (dec.width() as usize, dec.height() as usize);
    let mut frames = Vec::new();
    while let Some(f) = dec.read_next_frame().expect("frame decodes") {
        assert_eq!((f.width as usize, f.height as usize), (w, h), "full frames");
        assert!(f.palette.is_none(), "frames use the global palette");
        frames.push(f.buffer.to_vec());
    }
    (frames, palette, w, h)
}

/// Four points at the corners of a square, labels 0 (top left), 1 (top right), 2 (bottom
/// left), 3 (bottom right), scaled by `s`.
fn corners(s: f32) -> Vec<f32> {
    [-1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0]
        .iter()
        .map(|v| v * s)
        .collect()
}

/// The labels whose colour appears in the quadrant (qx, qy) of a frame (0 = left/top).
fn labels_in_quadrant(
    frame: &[u8],
    palette: &[[u8; 3]],
    w: usize,
    h: usize,
    q: (usize, usize),
) -> Vec<usize> {
    let mut found = Vec::new();
    for y in q.1 * h / 2..(q.1 + 1) * h / 2 {
        for x in q.0 * w / 2..(q.0 + 1) * w / 2 {
            let c = palette[frame[y * w + x] as usize];
            if let Some(d) = TAB10.iter().position(|&t| t == c)
                && !found.contains(&d)
            {
                found.push(d);
            }
        }
    }
    found
}

#[test]
fn frames_are_drawn_in_the_label_palette_and_fill_the_picture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.gif");
    // The first frame is 10,000 times smaller than the last: it must still fill the picture.
    let ys = [corners(1e-4), corners(0.5), corners(30.0)];
    let frames: Vec<AnimationFrame> = ys
        .iter()
        .enumerate()
        .map(|(i, y)| AnimationFrame {
            positions: y,
            caption: format!("iteration {}", 50 * (i + 1)),
        })
        .collect();
    let labels = [0u8, 1, 2, 3];
    animation(&frames, Some(&labels), 120, 10, &path).unwrap();

    let (decoded, palette, w, h) = decode(&path);
    assert_eq!(decoded.len(), 3, "a frame per snapshot");
    assert_eq!((w, h), (120, 120));
    for (d, c) in TAB10.iter().enumerate() {
        assert!(palette.contains(c), "label {d}'s colour is in the palette");
    }
    for (k, frame) in decoded.iter().enumerate() {
        for (label, q) in [(0, (0, 0)), (1, (1, 0)), (2, (0, 1)), (3, (1, 1))] {
            assert_eq!(
                labels_in_quadrant(frame, &palette, w, h, q),
                vec![label],
                "frame {k}: quadrant {q:?} holds exactly label {label}'s point"
            );
        }
    }
}

#[test]
fn unlabelled_points_are_grey_and_bad_frames_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.gif");
    let y = corners(1.0);
    let frame = |positions| AnimationFrame {
        positions,
        caption: String::new(),
    };
    animation(&[frame(&y)], None, 64, 10, &path).unwrap();
    let (decoded, palette, _, _) = decode(&path);
    assert!(
        decoded[0]
            .iter()
            .all(|&i| !TAB10.contains(&palette[i as usize]))
    );

    let bad = dir.path().join("bad.gif");
    let short = [0.0f32, 0.0];
    let err = animation(&[frame(&y), frame(&short)], None, 64, 10, &bad).unwrap_err();
    assert!(err.to_string().contains("frame 1 has 1 points"), "{err}");
    let nan = [0.0, f32::NAN, 1.0, 1.0];
    let err = animation(&[frame(&nan)], None, 64, 10, &bad).unwrap_err();
    assert!(err.to_string().contains("non-finite"), "{err}");
    let err = animation(&[frame(&y)], Some(&[0, 1]), 64, 10, &bad).unwrap_err();
    assert!(err.to_string().contains("2 labels for 4 points"), "{err}");
    assert!(!bad.exists());
}

/// A snapshot folder of `n` points at iterations 50, 100, 150.
fn snapshot_dir(root: &Path, n: usize) -> PathBuf {
    let dir = root.join("snaps");
    std::fs::create_dir(&dir).unwrap();
    for (k, it) in [50, 100, 150].into_iter().enumerate() {
        let y: Vec<f32> = (0..2 * n)
            .map(|i| (i as f32).sin() * (k + 1) as f32)
            .collect();
        npy::write_f32_2d(&dir.join(format!("y_{it:05}.npy")), n, 2, &y).unwrap();
    }
    dir
}

#[test]
fn cli_writes_a_frame_per_snapshot_with_kl() {
    let root = tempfile::tempdir().unwrap();
    let snaps = snapshot_dir(root.path(), 40);
    let labels = root.path().join("labels.npy");
    npy::write_labels_u8(
        &labels,
        &(0..40).map(|i| (i % 10) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    let metrics = root.path().join("m.jsonl");
    std::fs::write(
        &metrics,
        "{\"iteration\":50,\"kl\":4.5}\n{\"iteration\":100,\"kl\":3.25}\n",
    )
    .unwrap();
    let out = root.path().join("t.gif");
    let (ok, err) = latentviz(&[
        "figure",
        "animation",
        "--snapshots",
        snaps.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--metrics",
        metrics.to_str().unwrap(),
        "--size",
        "200",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (frames, _, w, _) = decode(&out);
    assert_eq!((frames.len(), w), (3, 200));
}

#[test]
fn cli_bad_inputs_name_the_problem_and_write_nothing() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("t.gif");
    let o = out.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["figure", "animation", "--out", o];
        args.extend_from_slice(extra);
        latentviz(&args)
    };

    let (ok, err) = run(&["--snapshots", "/nonexistent/snaps"]);
    assert!(!ok && err.contains("/nonexistent/snaps"), "{err}");
    assert!(err.contains("does not exist"), "{err}");

    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (ok, err) = run(&["--snapshots", empty.to_str().unwrap()]);
    assert!(!ok && err.contains("no snapshots"), "{err}");

    let snaps = snapshot_dir(root.path(), 40);
    let labels = root.path().join("labels.npy");
    npy::write_labels_u8(&labels, &[1u8; 39]).unwrap();
    let (ok, err) = run(&[
        "--snapshots",
        snaps.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("39 labels for the 40 points"), "{err}");

    npy::write_f32_2d(&snaps.join("y_00200.npy"), 40, 3, &[0.0; 120]).unwrap();
    let (ok, err) = run(&["--snapshots", snaps.to_str().unwrap()]);
    assert!(!ok && err.contains("40 × 3"), "{err}");

    assert!(!out.exists(), "no GIF after a failure");
}
