//! The MNIST latent-space story, figure by figure: a preview of the data, reconstructions, t-SNE
//! of pixel space and of latent space (as image scatter and as labelled points), interpolation and
//! arithmetic in latent space, grid mosaics of an embedding, the conv layers' feature maps, and the
//! training curves.
//!
//! Every function takes data already loaded (a `Gpu` and a `ParamStore` where the model is needed)
//! and writes one PNG through [`crate::app::figures`], atomically: all input is checked first, and on
//! any error nothing is written. `latentviz figure <kind>` and `examples/mnist_latent.rs` are thin
//! wrappers around these.
//!
//! Images are MNIST's: 28 × 28 grey, values in [0, 1], one after another ([`MNIST_SHAPE`]).
//! Embeddings are n × 2 row-major f32; labels are digits 0-9.

use std::path::Path;

use crate::app::figures::{self, ImageRef, ImageShape, Seams};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::graph::{Executor, Op, ParamStore};
use crate::model::{self, MNIST_LATENT, MNIST_SIDE};
use crate::train;

/// The shape of one MNIST image.
pub const MNIST_SHAPE: ImageShape = ImageShape {
    channels: 1,
    height: MNIST_SIDE,
    width: MNIST_SIDE,
};

/// Pixels in one MNIST image.
const PIXELS: usize = MNIST_SIDE * MNIST_SIDE;

/// Batch size for inference (encoder, decoder, autoencoder).
const INFER_BATCH: usize = 256;

/// Images drawn `SCALE` times their size in the preview, strips and reconstructions.
const SCALE: usize = 3;

/// The conv layers whose activations [`feature_maps`] draws: (layer, node after its activation).
pub const CONV_LAYERS: [(&str, &str); 4] = [
    ("enc.conv1", "enc.conv1.elu"),
    ("enc.conv2", "enc.conv2.elu"),
    ("dec.conv1", "dec.conv1.elu"),
    ("dec.conv2", "dec.conv2.sigmoid"),
];

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// Number of MNIST images in `images` (at least one, all values finite).
fn count_images(op: &str, what: &str, images: &[f32]) -> Result<usize> {
    if images.is_empty() {
        return Err(Error::InvalidArgument(format!("{op}: no {what} given")));
    }
    if !images.len().is_multiple_of(PIXELS) {
        return Err(Error::shape(
            op,
            format!(
                "{what}: {} values are not a whole number of 28x28 images",
                images.len()
            ),
        ));
    }
    if let Some(i) = images.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "{op}: {what}: pixel {} of image {} is {}",
            i % PIXELS,
            i / PIXELS,
            images[i]
        )));
    }
    Ok(images.len() / PIXELS)
}

/// Number of points in an n × 2 embedding (at least one, no NaN or infinity).
fn count_points(op: &str, embedding: &[f32]) -> Result<usize> {
    if embedding.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{op}: the embedding is empty"
        )));
    }
    if !embedding.len().is_multiple_of(2) {
        return Err(Error::shape(
            op,
            format!("the embedding has {} values, not n x 2", embedding.len()),
        ));
    }
    if let Some(i) = embedding.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!(
            "{op}: embedding point {} has coordinate {} = {}",
            i / 2,
            i % 2,
            embedding[i]
        )));
    }
    Ok(embedding.len() / 2)
}

fn same_count(op: &str, points: usize, what: &str, count: usize) -> Result<()> {
    if points != count {
        return Err(Error::shape(
            op,
            format!(
                "the embedding has {points} points but {count} {what} were given \
                 (the embedding must be of exactly these images, in order)"
            ),
        ));
    }
    Ok(())
}

fn check_labels(op: &str, labels: &[u8], n: usize) -> Result<()> {
    same_count(op, n, "labels", labels.len())?;
    if let Some(&l) = labels.iter().find(|&&l| l > 9) {
        return Err(Error::InvalidArgument(format!(
            "{op}: label {l} is not a digit 0-9"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// Load a `latentviz train` model file into a new store holding the MNIST autoencoder's
/// parameters. A file of another architecture (a tensor missing, extra or of another shape) is
/// `Error::BadData` naming the file and the tensor.
pub fn load_model(gpu: &Gpu, path: &Path) -> Result<ParamStore> {
    let mut store = ParamStore::new(0);
    let built = model::mnist_autoencoder(1)?;
    for id in built.graph.params() {
        let node = built.graph.node(id);
        if let Op::Param { init } = node.op {
            store.get_or_create(gpu, &node.name, &node.shape, init)?;
        }
    }
    store.load(gpu, path).map_err(|e| match e {
        Error::BadData { path, reason } => Error::BadData {
            path,
            reason: format!("not a latentviz MNIST autoencoder model: {reason}"),
        },
        other => other,
    })?;
    Ok(store)
}

/// Latent codes (n × 32, after the encoder's ELU) of MNIST images.
pub fn encode(gpu: &Gpu, store: &mut ParamStore, images: &[f32]) -> Result<Vec<f32>> {
    count_images("encode", "images", images)?;
    train::infer(gpu, store, model::mnist_encoder_graph, images, INFER_BATCH)
}

/// Images decoded from latent codes (n × 32).
pub fn decode(gpu: &Gpu, store: &mut ParamStore, codes: &[f32]) -> Result<Vec<f32>> {
    if codes.is_empty() || !codes.len().is_multiple_of(MNIST_LATENT) {
        return Err(Error::shape(
            "decode",
            format!(
                "{} values are not a whole number of {MNIST_LATENT}-D codes",
                codes.len()
            ),
        ));
    }
    train::infer(gpu, store, model::mnist_decoder_graph, codes, INFER_BATCH)
}

/// The autoencoder's reconstructions of MNIST images.
pub fn reconstruct(gpu: &Gpu, store: &mut ParamStore, images: &[f32]) -> Result<Vec<f32>> {
    count_images("reconstruct", "images", images)?;
    train::infer(gpu, store, model::mnist_autoencoder, images, INFER_BATCH)
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

/// The first 4 images (fewer if fewer are given) in a 2 × 2 grid, 3× size.
pub fn preview(images: &[f32], path: &Path) -> Result<()> {
    let n = count_images("preview", "images", images)?.min(4);
    figures::image_grid(&images[..n * PIXELS], MNIST_SHAPE, 2, SCALE, path)
}

/// Originals with their reconstructions right below them: a row of training images, a row of
/// their reconstructions, a row of test images and a row of theirs, each row labelled on the left
/// (`train` and `test` may differ in count).
pub fn reconstructions(
    gpu: &Gpu,
    store: &mut ParamStore,
    train: &[f32],
    test: &[f32],
    path: &Path,
) -> Result<()> {
    let op = "reconstructions";
    let n_train = count_images(op, "training images", train)?;
    let n_test = count_images(op, "test images", test)?;
    let tile = MNIST_SIDE * SCALE;
    figures::check_tiles_fit(op, "images per row", n_train.max(n_test), tile)?;
    let rec_train = reconstruct(gpu, store, train)?;
    let rec_test = reconstruct(gpu, store, test)?;
    let rows = vec![
        ImageRef::split(train, MNIST_SHAPE)?,
        ImageRef::split(&rec_train, MNIST_SHAPE)?,
        ImageRef::split(test, MNIST_SHAPE)?,
        ImageRef::split(&rec_test, MNIST_SHAPE)?,
    ];
    figures::rows_strip(
        &rows,
        SCALE,
        Some(&["train", "recon.", "test", "recon."]),
        None,
        path,
    )
}

/// What a t-SNE figure's title says besides the number of points.
#[derive(Clone, Debug, Default)]
pub struct TsneInfo {
    /// "pixel space", "latent space", ...
    pub space: String,
    pub perplexity: Option<f32>,
    /// Final KL(P‖Q) of the embedding.
    pub kl: Option<f32>,
    /// Leave-one-out 10-NN label accuracy in the embedding.
    pub knn_accuracy: Option<f32>,
}

/// "t-SNE of latent space: N = 1,000, perplexity 30, KL 1.234, 10-NN accuracy 0.912" (the parts
/// that are known).
pub fn tsne_title(info: &TsneInfo, n: usize) -> String {
    let mut t = if info.space.is_empty() {
        "t-SNE".to_string()
    } else {
        format!("t-SNE of {}", info.space)
    };
    t.push_str(&format!(": N = {}", thousands(n)));
    if let Some(p) = info.perplexity {
        t.push_str(&format!(", perplexity {p}"));
    }
    if let Some(kl) = info.kl {
        t.push_str(&format!(", KL {kl:.3}"));
    }
    if let Some(a) = info.knn_accuracy {
        t.push_str(&format!(", 10-NN accuracy {a:.3}"));
    }
    t
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Leave-one-out 10-NN label accuracy of an n × 2 embedding (n must be above 10).
pub fn knn10(embedding: &[f32], labels: &[u8]) -> Result<f32> {
    let op = "knn10";
    let n = count_points(op, embedding)?;
    check_labels(op, labels, n)?;
    let l: Vec<u32> = labels.iter().map(|&v| u32::from(v)).collect();
    crate::tsne::metrics::knn_accuracy(embedding, n, 2, &l, 10)
}

/// Every point of the embedding drawn as its own image, tinted by its digit, on a `canvas_px`
/// square PNG with `title` on top.
pub fn tsne_image_scatter(
    embedding: &[f32],
    images: &[f32],
    labels: &[u8],
    canvas_px: usize,
    thumb_px: usize,
    title: &str,
    path: &Path,
) -> Result<()> {
    let op = "tsne image scatter";
    let n = count_points(op, embedding)?;
    same_count(op, n, "images", count_images(op, "images", images)?)?;
    check_labels(op, labels, n)?;
    figures::image_scatter(
        embedding,
        images,
        MNIST_SHAPE,
        Some(labels),
        canvas_px,
        thumb_px,
        title,
        path,
    )
}

/// The embedding as points coloured by digit with a legend, on a `canvas_px` square PNG.
pub fn tsne_scatter(
    embedding: &[f32],
    labels: &[u8],
    canvas_px: usize,
    title: &str,
    path: &Path,
) -> Result<()> {
    let op = "tsne scatter";
    let n = count_points(op, embedding)?;
    check_labels(op, labels, n)?;
    figures::scatter(embedding, Some(labels), canvas_px, title, path)
}

/// `steps` evenly spaced t in [0, 1] (t = 0 and t = 1 included).
fn steps_t(steps: usize) -> Vec<f32> {
    (0..steps).map(|i| i as f32 / (steps - 1) as f32).collect()
}

/// Two images `a` and `b` (one image each): a row of pixel blends (1 − t)·a + t·b and a row of
/// decoded latent interpolations decode((1 − t)·enc(a) + t·enc(b)), `steps` columns (≥ 2).
pub fn interpolation(
    gpu: &Gpu,
    store: &mut ParamStore,
    a: &[f32],
    b: &[f32],
    steps: usize,
    path: &Path,
) -> Result<()> {
    let op = "interpolation";
    for (what, img) in [("image A", a), ("image B", b)] {
        let n = count_images(op, what, img)?;
        if n != 1 {
            return Err(Error::shape(op, format!("{what} holds {n} images, not 1")));
        }
    }
    if !(2..=64).contains(&steps) {
        return Err(Error::InvalidArgument(format!(
            "{op}: steps must be in 2..=64, got {steps}"
        )));
    }
    let ts = steps_t(steps);
    let blends: Vec<f32> = ts
        .iter()
        .flat_map(|&t| a.iter().zip(b).map(move |(&x, &y)| (1.0 - t) * x + t * y))
        .collect();
    let mut ab = a.to_vec();
    ab.extend_from_slice(b);
    let z = encode(gpu, store, &ab)?;
    let (za, zb) = z.split_at(MNIST_LATENT);
    let codes: Vec<f32> = ts
        .iter()
        .flat_map(|&t| za.iter().zip(zb).map(move |(&x, &y)| (1.0 - t) * x + t * y))
        .collect();
    let decoded = decode(gpu, store, &codes)?;
    let rows = vec![
        ImageRef::split(&blends, MNIST_SHAPE)?,
        ImageRef::split(&decoded, MNIST_SHAPE)?,
    ];
    let labels: Vec<String> = ts.iter().map(|t| format!("{t:.2}")).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    figures::rows_strip(
        &rows,
        SCALE,
        Some(&["pixels", "latent"]),
        Some(&labels),
        path,
    )
}

/// Latent arithmetic, one row per triple: A, B, C, decode(enc(A) + enc(B)),
/// decode(enc(A) + enc(B) − enc(C)). `a`, `b` and `c` hold the same number of images.
pub fn arithmetic(
    gpu: &Gpu,
    store: &mut ParamStore,
    a: &[f32],
    b: &[f32],
    c: &[f32],
    path: &Path,
) -> Result<()> {
    let op = "arithmetic";
    let n = count_images(op, "images A", a)?;
    for (what, img) in [("images B", b), ("images C", c)] {
        let m = count_images(op, what, img)?;
        if m != n {
            return Err(Error::shape(op, format!("{n} images A but {m} {what}")));
        }
    }
    figures::check_tiles_fit(op, "rows", n, MNIST_SIDE * SCALE)?;
    let mut abc = a.to_vec();
    abc.extend_from_slice(b);
    abc.extend_from_slice(c);
    let z = encode(gpu, store, &abc)?;
    let l = n * MNIST_LATENT;
    let (za, zb, zc) = (&z[..l], &z[l..2 * l], &z[2 * l..]);
    let mut codes: Vec<f32> = za.iter().zip(zb).map(|(x, y)| x + y).collect();
    codes.extend(za.iter().zip(zb).zip(zc).map(|((x, y), w)| x + y - w));
    let decoded = decode(gpu, store, &codes)?;
    let (sum, diff) = decoded.split_at(n * PIXELS);
    let (a, b, c, sum, diff) = (
        ImageRef::split(a, MNIST_SHAPE)?,
        ImageRef::split(b, MNIST_SHAPE)?,
        ImageRef::split(c, MNIST_SHAPE)?,
        ImageRef::split(sum, MNIST_SHAPE)?,
        ImageRef::split(diff, MNIST_SHAPE)?,
    );
    let rows: Vec<Vec<ImageRef>> = (0..n)
        .map(|i| vec![a[i], b[i], c[i], sum[i], diff[i]])
        .collect();
    figures::rows_strip(
        &rows,
        SCALE,
        None,
        Some(&["A", "B", "C", "dec(A+B)", "dec(A+B−C)"]),
        path,
    )
}

/// How embedded points are snapped to the cells of a grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridMode {
    /// Every cell shows the point nearest its centre (points may repeat or be left out).
    Nearest,
    /// An exact minimum-cost one-to-one assignment (needs at least rows × cols points).
    OneToOne,
}

/// The embedding snapped to a full `rows` × `cols` grid of its images (1× size). With
/// `seam_features` (n × dim, e.g. the pixels or the latent codes of the same images) the seams
/// between neighbouring cells are coloured by the distance of their two images in that space:
/// dark = close, yellow = far.
pub fn grid_mosaic(
    embedding: &[f32],
    images: &[f32],
    rows: usize,
    cols: usize,
    mode: GridMode,
    seam_features: Option<(&[f32], usize)>,
    path: &Path,
) -> Result<()> {
    let op = "grid mosaic";
    let n = count_points(op, embedding)?;
    // The grid's cells (and the assignment's memory) follow from rows × cols: refuse a figure
    // too large to draw before assigning anything.
    let tile = MNIST_SIDE
        + if seam_features.is_some() {
            figures::SEAM_PX
        } else {
            0
        };
    figures::check_tiles_fit(op, "grid rows", rows, tile)?;
    figures::check_tiles_fit(op, "grid columns", cols, tile)?;
    same_count(op, n, "images", count_images(op, "images", images)?)?;
    if let Some((f, dim)) = seam_features
        && (dim == 0 || f.len() != n * dim)
    {
        return Err(Error::shape(
            op,
            format!(
                "seam features hold {} values, not {n} points x {dim}",
                f.len()
            ),
        ));
    }
    let assignment = match mode {
        GridMode::Nearest => figures::grid_assign_nearest(embedding, rows, cols)?,
        GridMode::OneToOne => figures::grid_assign_one_to_one(embedding, rows, cols)?,
    };
    let seams = seam_features.map(|(features, dim)| Seams { features, dim });
    figures::mosaic(&assignment, images, MNIST_SHAPE, rows, cols, 1, seams, path)
}

/// One conv layer's activations for one input: channels × height × width.
#[derive(Clone, Debug)]
pub struct LayerMaps {
    /// The layer, e.g. "enc.conv1".
    pub layer: String,
    /// The node read, e.g. "enc.conv1.elu".
    pub node: String,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub values: Vec<f32>,
}

/// The activations (after each layer's activation function) of every layer in [`CONV_LAYERS`]
/// for one image, from one run of the autoencoder.
pub fn conv_activations(
    gpu: &Gpu,
    store: &mut ParamStore,
    image: &[f32],
) -> Result<Vec<LayerMaps>> {
    let op = "feature maps";
    let n = count_images(op, "image", image)?;
    if n != 1 {
        return Err(Error::shape(op, format!("{n} images given, not 1")));
    }
    let built = model::mnist_autoencoder(1)?;
    let exec = Executor::new(gpu, built.graph.clone(), store, None)?;
    exec.set_input(gpu, built.input, image)?;
    gpu.run("feature maps", &exec.dispatches(&[]))?;
    CONV_LAYERS
        .iter()
        .map(|&(layer, node)| {
            let id = built
                .graph
                .nodes
                .iter()
                .position(|x| x.name == node)
                .ok_or_else(|| Error::shape(op, format!("the model has no node '{node}'")))?;
            let s = built.graph.shape(id).to_vec();
            let [_, c, h, w] = s[..] else {
                return Err(Error::shape(
                    op,
                    format!("'{node}' has shape {s:?}, not NCHW"),
                ));
            };
            Ok(LayerMaps {
                layer: layer.to_string(),
                node: node.to_string(),
                channels: c,
                height: h,
                width: w,
                values: exec.read(gpu, id)?,
            })
        })
        .collect()
}

/// One layer's maps as a figure: one tile per channel, each normalized to its own range.
pub fn feature_maps_figure(maps: &LayerMaps, path: &Path) -> Result<()> {
    let act = maps.node.rsplit('.').next().unwrap_or("");
    let act = match act {
        "elu" => "ELU".to_string(),
        a => a.to_string(),
    };
    let title = format!(
        "{} after {act}: {} channel{} of {}x{}",
        maps.layer,
        maps.channels,
        if maps.channels == 1 { "" } else { "s" },
        maps.height,
        maps.width
    );
    // Keep the tiles near 56 px whatever the layer's resolution (a lone channel twice that).
    let tile = if maps.channels == 1 { 112 } else { 56 };
    let scale = (tile / maps.height.max(1)).max(1);
    figures::feature_maps(
        &maps.values,
        maps.channels,
        maps.height,
        maps.width,
        8,
        scale,
        &title,
        path,
    )
}

/// The activations of conv layer `layer` (one of [`CONV_LAYERS`]' names) for one image.
pub fn feature_maps(
    gpu: &Gpu,
    store: &mut ParamStore,
    image: &[f32],
    layer: &str,
    path: &Path,
) -> Result<()> {
    if !CONV_LAYERS.iter().any(|&(l, _)| l == layer) {
        let names: Vec<&str> = CONV_LAYERS.iter().map(|l| l.0).collect();
        return Err(Error::InvalidArgument(format!(
            "feature maps: no conv layer '{layer}' (the layers are {})",
            names.join(", ")
        )));
    }
    let all = conv_activations(gpu, store, image)?;
    let maps = all
        .iter()
        .find(|m| m.layer == layer)
        .expect("every CONV_LAYERS entry is read");
    feature_maps_figure(maps, path)
}

/// Train and test loss per epoch, as read from `latentviz train --metrics`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainCurves {
    pub train: Vec<f64>,
    pub test: Vec<f64>,
}

/// Parse `latentviz train --metrics` JSON lines: one object per epoch with `epoch`, `train_loss`
/// and `test_loss`. Lines without `epoch` are skipped; a file with no epoch line, a line that is
/// not JSON, or epochs out of order are `Error::BadData` naming the file.
pub fn read_train_metrics(path: &Path) -> Result<TrainCurves> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut curves = TrainCurves::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::bad_data(path, format!("line {} is not JSON: {e}", i + 1)))?;
        let Some(epoch) = v.get("epoch").and_then(|e| e.as_u64()) else {
            continue;
        };
        let expected = curves.train.len().max(curves.test.len()) as u64 + 1;
        if epoch != expected {
            return Err(Error::bad_data(
                path,
                format!("line {}: epoch {epoch}, expected epoch {expected}", i + 1),
            ));
        }
        let field = |k: &str| -> Result<f64> {
            v.get(k)
                .and_then(|x| x.as_f64())
                .ok_or_else(|| Error::bad_data(path, format!("line {}: no number '{k}'", i + 1)))
        };
        curves.train.push(field("train_loss")?);
        curves.test.push(field("test_loss")?);
    }
    if curves.train.is_empty() {
        return Err(Error::bad_data(
            path,
            "no epochs: expected JSON lines with epoch, train_loss and test_loss \
             (as `latentviz train --metrics` writes)",
        ));
    }
    Ok(curves)
}

/// Train and test loss against epoch.
pub fn training_curves(curves: &TrainCurves, title: &str, path: &Path) -> Result<()> {
    if curves.train.is_empty() && curves.test.is_empty() {
        return Err(Error::InvalidArgument(
            "training curves: no epochs given".into(),
        ));
    }
    figures::loss_curves(&curves.train, &curves.test, title, path)
}
