//! The MNIST story's figures on tiny inputs (a few real MNIST test images, an untrained model):
//! each writes a PNG of the expected size with real content; bad input is a clear error and
//! writes nothing; a model file of another architecture is refused naming the tensor.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use latentviz::Error;
use latentviz::app::figures::GAP;
use latentviz::app::story::{self, GridMode, TsneInfo};
use latentviz::data::mnist::{self, Mnist, Split};
use latentviz::graph::ParamStore;
use latentviz::rng::Rng;

const MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/mnist");
const PIXELS: usize = 28 * 28;

/// The first 40 test images.
fn test_images() -> &'static Mnist {
    static SET: OnceLock<Mnist> = OnceLock::new();
    SET.get_or_init(|| {
        mnist::load(Path::new(MNIST), Split::Test)
            .expect("MNIST in ../shared/data/mnist")
            .subset(40)
    })
}

/// An untrained model (its parameters created by a first use): enough to check shapes and
/// plumbing, and the figures draw whatever it decodes.
fn store() -> ParamStore {
    let mut store = ParamStore::new(7);
    story::encode(
        crate::common::gpu(),
        &mut store,
        &test_images().images[..PIXELS],
    )
    .unwrap();
    story::decode(crate::common::gpu(), &mut store, &[0.5; 32]).unwrap();
    store
}

fn load(path: &Path) -> image::RgbImage {
    image::open(path).expect("PNG readable").to_rgb8()
}

/// Pixels that are not white, and distinct colours: a drawn figure has many of both.
fn content(img: &image::RgbImage) -> (usize, usize) {
    let inked = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    (inked, colours.len())
}

fn assert_drawn(path: &Path, min_colours: usize) -> image::RgbImage {
    let img = load(path);
    let (inked, colours) = content(&img);
    let total = (img.width() * img.height()) as usize;
    assert!(
        inked > total / 50 && colours >= min_colours,
        "{}: {inked} of {total} pixels inked, {colours} colours",
        path.display()
    );
    img
}

/// A random n x 2 embedding.
fn embedding(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..2 * n).map(|_| rng.normal() as f32).collect()
}

fn out(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn preview_is_a_2x2_grid_of_the_first_four_images() {
    let dir = tempfile::tempdir().unwrap();
    let path = out(&dir, "preview.png");
    story::preview(&test_images().images, &path).unwrap();
    let img = assert_drawn(&path, 50);
    let side = 2 * 84 + 3 * GAP;
    assert_eq!(img.dimensions(), (side as u32, side as u32));
    // Tile 1 (top right) is image 1 at 3x: compare every pixel.
    let im1 = test_images().image(1);
    for y in 0..84 {
        for x in 0..84 {
            let v = (im1[(y / 3) * 28 + x / 3] * 255.0).round() as u8;
            let p = img.get_pixel((2 * GAP + 84 + x) as u32, (GAP + y) as u32).0;
            assert_eq!(p, [v, v, v], "tile 1 pixel ({x}, {y})");
        }
    }
}

#[test]
fn reconstructions_show_four_labelled_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = out(&dir, "rec.png");
    let gpu = crate::common::gpu();
    let mut store = store();
    let set = test_images();
    story::reconstructions(
        gpu,
        &mut store,
        &set.images[..5 * PIXELS],
        &set.images[10 * PIXELS..13 * PIXELS],
        &path,
    )
    .unwrap();
    let img = assert_drawn(&path, 50);
    assert_eq!(img.height() as usize, 4 * 84 + 5 * GAP);
    assert!(
        img.width() as usize > 5 * 84 + 6 * GAP,
        "{:?}",
        img.dimensions()
    );
}

#[test]
fn tsne_figures_draw_points_and_thumbnails_with_a_full_title() {
    let dir = tempfile::tempdir().unwrap();
    let set = test_images();
    let y = embedding(40, 1);
    let acc = story::knn10(&y, &set.labels).unwrap();
    assert!((0.0..=1.0).contains(&acc));
    let info = TsneInfo {
        space: "latent space".into(),
        perplexity: Some(30.0),
        kl: Some(1.2345),
        knn_accuracy: Some(acc),
    };
    let title = story::tsne_title(&info, 12_345);
    assert!(
        title.starts_with(
            "t-SNE of latent space: N = 12,345, perplexity 30, KL 1.235, 10-NN accuracy"
        ),
        "{title}"
    );
    let points = out(&dir, "points.png");
    story::tsne_scatter(&y, &set.labels, 400, &title, &points).unwrap();
    let img = assert_drawn(&points, 10);
    assert_eq!(img.dimensions(), (400, 400));
    // Every digit's tab10 colour is in the legend.
    for c in latentviz::app::figures::TAB10 {
        assert!(img.pixels().any(|p| p.0 == c), "colour {c:?} missing");
    }
    let images = out(&dir, "images.png");
    story::tsne_image_scatter(&y, &set.images, &set.labels, 400, 24, &title, &images).unwrap();
    let img = assert_drawn(&images, 50);
    assert_eq!(img.dimensions(), (400, 400));
}

#[test]
fn interpolation_and_arithmetic_strips() {
    let dir = tempfile::tempdir().unwrap();
    let gpu = crate::common::gpu();
    let mut store = store();
    let set = test_images();
    let path = out(&dir, "interp.png");
    story::interpolation(gpu, &mut store, set.image(0), set.image(1), 7, &path).unwrap();
    let img = assert_drawn(&path, 50);
    assert!(img.width() as usize > 7 * 84 + 8 * GAP);
    assert!(img.height() as usize > 2 * 84 + 3 * GAP);

    let path = out(&dir, "arith.png");
    let n = 2;
    story::arithmetic(
        gpu,
        &mut store,
        &set.images[..n * PIXELS],
        &set.images[n * PIXELS..2 * n * PIXELS],
        &set.images[2 * n * PIXELS..3 * n * PIXELS],
        &path,
    )
    .unwrap();
    let img = assert_drawn(&path, 50);
    assert_eq!(img.width() as usize, 5 * 84 + 6 * GAP);
    assert!(img.height() as usize > n * 84 + (n + 1) * GAP);

    // One step cannot interpolate; mismatched triples are refused; nothing is written.
    let bad = out(&dir, "bad.png");
    let e = story::interpolation(gpu, &mut store, set.image(0), set.image(1), 1, &bad);
    assert!(
        matches!(e, Err(Error::InvalidArgument(ref m)) if m.contains("steps")),
        "{e:?}"
    );
    let e = story::arithmetic(
        gpu,
        &mut store,
        &set.images[..2 * PIXELS],
        &set.images[..2 * PIXELS],
        &set.images[..PIXELS],
        &bad,
    );
    assert!(matches!(e, Err(Error::Shape { .. })), "{e:?}");
    assert!(!bad.exists());
}

#[test]
fn grid_mosaics_fill_every_cell() {
    let dir = tempfile::tempdir().unwrap();
    let set = test_images();
    let y = embedding(40, 2);
    for (mode, rows, cols) in [(GridMode::Nearest, 7, 9), (GridMode::OneToOne, 5, 8)] {
        let plain = out(&dir, "plain.png");
        story::grid_mosaic(&y, &set.images, rows, cols, mode, None, &plain).unwrap();
        let img = assert_drawn(&plain, 50);
        assert_eq!(img.dimensions(), ((cols * 28) as u32, (rows * 28) as u32));
        let seams = out(&dir, "seams.png");
        story::grid_mosaic(
            &y,
            &set.images,
            rows,
            cols,
            mode,
            Some((&set.images, PIXELS)),
            &seams,
        )
        .unwrap();
        let img = assert_drawn(&seams, 50);
        assert_eq!(
            img.dimensions(),
            (
                (cols * 28 + (cols - 1) * 3) as u32,
                (rows * 28 + (rows - 1) * 3) as u32
            )
        );
    }
    // One-to-one needs as many points as cells.
    let bad = out(&dir, "bad.png");
    let e = story::grid_mosaic(&y, &set.images, 7, 7, GridMode::OneToOne, None, &bad);
    assert!(matches!(e, Err(Error::InvalidArgument(_))), "{e:?}");
    assert!(!bad.exists());
}

#[test]
fn feature_maps_read_every_conv_layer() {
    let dir = tempfile::tempdir().unwrap();
    let gpu = crate::common::gpu();
    let mut store = store();
    let image = test_images().image(3);
    let maps = story::conv_activations(gpu, &mut store, image).unwrap();
    let shapes: Vec<(&str, usize, usize, usize)> = maps
        .iter()
        .map(|m| (m.layer.as_str(), m.channels, m.height, m.width))
        .collect();
    assert_eq!(
        shapes,
        [
            ("enc.conv1", 32, 28, 28),
            ("enc.conv2", 64, 14, 14),
            ("dec.conv1", 32, 14, 14),
            ("dec.conv2", 1, 28, 28),
        ]
    );
    // ELU outputs are > -1; the last layer's sigmoid output is the reconstruction itself.
    assert!(maps[0].values.iter().all(|&v| v > -1.0));
    let rec = story::reconstruct(gpu, &mut store, image).unwrap();
    assert_eq!(maps[3].values, rec);
    for m in &maps {
        assert_eq!(m.values.len(), m.channels * m.height * m.width);
        let path = out(&dir, &format!("{}.png", m.layer));
        story::feature_maps_figure(m, &path).unwrap();
        assert_drawn(&path, 20);
    }
    let bad = out(&dir, "bad.png");
    let e = story::feature_maps(gpu, &mut store, image, "enc.conv9", &bad);
    assert!(
        matches!(e, Err(Error::InvalidArgument(ref m)) if m.contains("enc.conv9") && m.contains("dec.conv2")),
        "{e:?}"
    );
    assert!(!bad.exists());
}

#[test]
fn training_curves_from_metrics_lines() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = out(&dir, "m.jsonl");
    std::fs::write(
        &metrics,
        "{\"epoch\":1,\"train_loss\":0.3,\"test_loss\":0.25,\"seconds\":1.0}\n\
         {\"epoch\":2,\"train_loss\":0.2,\"test_loss\":0.18,\"seconds\":1.0}\n\
         {\"epoch\":3,\"train_loss\":0.15,\"test_loss\":0.16,\"seconds\":1.0}\n",
    )
    .unwrap();
    let curves = story::read_train_metrics(&metrics).unwrap();
    assert_eq!(curves.train, [0.3, 0.2, 0.15]);
    assert_eq!(curves.test, [0.25, 0.18, 0.16]);
    let path = out(&dir, "curves.png");
    story::training_curves(&curves, "loss", &path).unwrap();
    let img = assert_drawn(&path, 10);
    assert_eq!(
        img.dimensions(),
        (
            latentviz::app::figures::CURVES_W as u32,
            latentviz::app::figures::CURVES_H as u32
        )
    );

    // A metrics file without epochs (here: a t-SNE metrics file) is refused, naming the file.
    let tsne = out(&dir, "tsne.jsonl");
    std::fs::write(&tsne, "{\"iteration\":50,\"kl\":3.2,\"seconds\":0.5}\n").unwrap();
    match story::read_train_metrics(&tsne) {
        Err(Error::BadData { path, reason }) => {
            assert_eq!(path, tsne);
            assert!(reason.contains("no epochs"), "{reason}");
        }
        other => panic!("expected BadData, got {other:?}"),
    }
    let empty = out(&dir, "empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        story::read_train_metrics(&empty),
        Err(Error::BadData { .. })
    ));
}

#[test]
fn bad_inputs_are_clear_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let set = test_images();
    let bad = out(&dir, "bad.png");
    let y = embedding(40, 3);

    // Embedding and image counts differ.
    let e = story::tsne_image_scatter(&y[..60], &set.images, &set.labels[..30], 400, 24, "t", &bad);
    match e {
        Err(Error::Shape { op, detail }) => {
            assert!(op.contains("tsne"), "{op}");
            assert!(
                detail.contains("30 points") && detail.contains("40 images"),
                "{detail}"
            );
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    let e = story::grid_mosaic(&y[..60], &set.images, 3, 3, GridMode::Nearest, None, &bad);
    assert!(matches!(e, Err(Error::Shape { .. })), "{e:?}");
    let e = story::tsne_scatter(&y, &set.labels[..39], 400, "t", &bad);
    assert!(matches!(e, Err(Error::Shape { .. })), "{e:?}");

    // Empty input.
    let e = story::preview(&[], &bad);
    assert!(
        matches!(e, Err(Error::InvalidArgument(ref m)) if m.contains("no images")),
        "{e:?}"
    );
    let e = story::tsne_scatter(&[], &[], 400, "t", &bad);
    assert!(
        matches!(e, Err(Error::InvalidArgument(ref m)) if m.contains("empty")),
        "{e:?}"
    );

    // NaN in an embedding: named by point.
    let mut nan = y.clone();
    nan[2 * 17 + 1] = f32::NAN;
    for e in [
        story::tsne_scatter(&nan, &set.labels, 400, "t", &bad),
        story::tsne_image_scatter(&nan, &set.images, &set.labels, 400, 24, "t", &bad),
        story::grid_mosaic(&nan, &set.images, 4, 4, GridMode::Nearest, None, &bad),
        story::knn10(&nan, &set.labels).map(|_| ()),
    ] {
        assert!(
            matches!(e, Err(Error::NonFinite(ref m)) if m.contains("point 17")),
            "{e:?}"
        );
    }
    assert!(!bad.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "stray files"
    );
}

#[test]
fn model_files_round_trip_and_other_architectures_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let gpu = crate::common::gpu();
    let mut store = store();
    let path = out(&dir, "m.safetensors");
    store.save(gpu, &path, &[]).unwrap();
    let mut loaded = story::load_model(gpu, &path).unwrap();
    let image = &test_images().images[..3 * PIXELS];
    assert_eq!(
        story::encode(gpu, &mut loaded, image).unwrap(),
        story::encode(gpu, &mut store, image).unwrap(),
        "the loaded model encodes exactly as the saved one"
    );

    let tensors = store.read_all(gpu).unwrap();
    // A tensor missing.
    let missing = out(&dir, "missing.safetensors");
    let fewer: Vec<_> = tensors
        .iter()
        .filter(|t| t.0 != "dec.conv1.weight")
        .cloned()
        .collect();
    assert_eq!(
        fewer.len(),
        tensors.len() - 1,
        "the model has dec.conv1.weight"
    );
    latentviz::checkpoint::save(&missing, &fewer, &[]).unwrap();
    // A tensor of another shape (a 16-D latent code).
    let reshaped = out(&dir, "reshaped.safetensors");
    let other: Vec<_> = tensors
        .iter()
        .map(|(name, shape, values)| {
            if name == "enc.dense.weight" {
                let shape = vec![shape[0], 16];
                let n = shape.iter().product();
                (name.clone(), shape, vec![0.0; n])
            } else {
                (name.clone(), shape.clone(), values.clone())
            }
        })
        .collect();
    latentviz::checkpoint::save(&reshaped, &other, &[]).unwrap();
    for (file, tensor) in [
        (&missing, "dec.conv1.weight"),
        (&reshaped, "enc.dense.weight"),
    ] {
        match story::load_model(gpu, file) {
            Err(Error::BadData { path, reason }) => {
                assert_eq!(&path, file);
                assert!(
                    reason.contains(tensor) && reason.contains("architecture"),
                    "{reason}"
                );
                let shown = Error::BadData { path, reason }.to_string();
                assert!(shown.contains("MNIST autoencoder"), "{shown}");
            }
            Err(other) => panic!("expected BadData for {}, got {other}", file.display()),
            Ok(_) => panic!("{} loaded", file.display()),
        }
    }
}
