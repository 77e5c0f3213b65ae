//! `latentviz figure <kind>`: one figure of the MNIST latent-space story from saved files (model,
//! embedding, metrics), drawn by `latentviz::app::story`. One Args struct and one function a kind.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};

use latentviz::app::story;
use latentviz::data::mnist::{self, Split};
use latentviz::{Gpu, GpuOptions};

use super::args::{DataArg, ImageSplit};

#[derive(Subcommand)]
pub enum FigureKind {
    /// The first 4 training images in a 2×2 grid.
    Preview(PreviewArgs),
    /// Training and test images above their reconstructions.
    Reconstructions(ReconstructionsArgs),
    /// A t-SNE embedding of MNIST images (from `latentviz tsne`) as points or as images.
    Tsne(TsneFigureArgs),
    /// Pixel blends and decoded latent interpolations between two test images.
    Interpolation(InterpolationArgs),
    /// A, B, C, decode(A+B), decode(A+B−C) in latent space, one row per triple.
    Arithmetic(ArithmeticArgs),
    /// An embedding snapped to a full grid of its images.
    Mosaic(MosaicArgs),
    /// One conv layer's activations for one image, a tile per channel.
    FeatureMaps(FeatureMapsArgs),
    /// Train and test loss per epoch from `latentviz train --metrics`.
    Curves(CurvesArgs),
    /// The t-SNE optimization as an animated GIF, a frame per `latentviz tsne --snapshots` file.
    Animation(AnimationArgs),
}

impl FigureKind {
    /// The PNG this figure goes to.
    fn out(&self) -> &Path {
        match self {
            FigureKind::Preview(a) => &a.out,
            FigureKind::Reconstructions(a) => &a.out,
            FigureKind::Tsne(a) => &a.out,
            FigureKind::Interpolation(a) => &a.out,
            FigureKind::Arithmetic(a) => &a.out,
            FigureKind::Mosaic(a) => &a.out,
            FigureKind::FeatureMaps(a) => &a.out,
            FigureKind::Curves(a) => &a.out,
            FigureKind::Animation(a) => &a.out,
        }
    }
}

pub fn run(options: &GpuOptions, kind: FigureKind) -> Result<()> {
    let out = kind.out().to_path_buf();
    latentviz::io::check_writable(&out)?;
    match kind {
        FigureKind::Preview(a) => preview(a),
        FigureKind::Reconstructions(a) => reconstructions(options, a),
        FigureKind::Tsne(a) => tsne(a),
        FigureKind::Interpolation(a) => interpolation(options, a),
        FigureKind::Arithmetic(a) => arithmetic(options, a),
        FigureKind::Mosaic(a) => mosaic(a),
        FigureKind::FeatureMaps(a) => feature_maps(options, a),
        FigureKind::Curves(a) => curves(a),
        FigureKind::Animation(a) => animation(a),
    }?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    data: DataArg,
    #[arg(long, value_enum, default_value_t = ImageSplit::Train)]
    split: ImageSplit,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
}

fn preview(a: PreviewArgs) -> Result<()> {
    let set = a.data.load(a.split.split())?;
    story::preview(&set.images, &a.out)?;
    Ok(())
}

#[derive(clap::Args)]
pub struct ReconstructionsArgs {
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArg,
    /// Images per row (the first N of each split).
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
}

fn reconstructions(options: &GpuOptions, a: ReconstructionsArgs) -> Result<()> {
    if a.count == 0 {
        bail!("--count must be at least 1");
    }
    let train_set = a.data.load(Split::Train)?.subset(a.count);
    let test_set = a.data.load(Split::Test)?.subset(a.count);
    let gpu = Gpu::new(options)?;
    let mut store = story::load_model(&gpu, &a.model)?;
    story::reconstructions(
        &gpu,
        &mut store,
        &train_set.images,
        &test_set.images,
        &a.out,
    )?;
    Ok(())
}

/// An embedding and the MNIST images it embeds (`figure tsne` and `figure mosaic`).
#[derive(clap::Args)]
pub struct EmbeddedImages {
    /// The embedding (N × 2 .npy) of the first N images of --split.
    #[arg(long)]
    embedding: PathBuf,
    #[command(flatten)]
    data: DataArg,
    #[arg(long, value_enum, default_value_t = ImageSplit::Test)]
    split: ImageSplit,
    /// The number of images embedded (must equal the embedding's rows; default: its rows).
    #[arg(long)]
    subset: Option<usize>,
}

impl EmbeddedImages {
    /// The embedding and its images: the first N of the split, N = its rows.
    fn load(&self) -> Result<(Vec<f32>, mnist::Mnist)> {
        let embedding = &self.embedding;
        let (n, d, y) = latentviz::data::npy::read_f32_2d(embedding)?;
        if d != 2 {
            bail!("{}: a {n} × {d} array, expected N × 2", embedding.display());
        }
        let set = self.data.load(self.split.split())?;
        let want = self.subset.unwrap_or(n);
        if want != n {
            bail!(
                "{} has {n} rows but --subset is {want}: the embedding must be of the first --subset images",
                embedding.display()
            );
        }
        if n > set.len() {
            bail!(
                "{} has {n} rows but the split has only {} images",
                embedding.display(),
                set.len()
            );
        }
        Ok((y, set.subset(n)))
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TsneStyle {
    /// Points coloured by digit, with a legend.
    Points,
    /// Every point drawn as its own image, tinted by digit.
    Images,
}

#[derive(clap::Args)]
pub struct TsneFigureArgs {
    #[command(flatten)]
    embedded: EmbeddedImages,
    #[arg(long, value_enum, default_value_t = TsneStyle::Points)]
    style: TsneStyle,
    /// What was embedded, for the title, e.g. "pixel space" or "latent space".
    #[arg(long, default_value = "")]
    space: String,
    /// `latentviz tsne --metrics` output: the title takes KL (and perplexity) from it.
    #[arg(long)]
    tsne_metrics: Option<PathBuf>,
    /// Perplexity for the title when --tsne-metrics does not record it.
    #[arg(long)]
    perplexity: Option<f32>,
    /// Side of the square PNG in pixels.
    #[arg(long, default_value_t = 1200)]
    size: usize,
    /// Side of each thumbnail (--style images).
    #[arg(long, default_value_t = 24)]
    thumb: usize,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
}

fn tsne(a: TsneFigureArgs) -> Result<()> {
    let (y, set) = a.embedded.load()?;
    let (kl, p) = match &a.tsne_metrics {
        Some(path) => read_tsne_metrics(path)?,
        None => (None, None),
    };
    let knn = if set.len() > 10 {
        Some(story::knn10(&y, &set.labels)?)
    } else {
        None
    };
    let info = story::TsneInfo {
        space: a.space,
        perplexity: p.or(a.perplexity),
        kl,
        knn_accuracy: knn,
    };
    let title = story::tsne_title(&info, set.len());
    match a.style {
        TsneStyle::Points => story::tsne_scatter(&y, &set.labels, a.size, &title, &a.out)?,
        TsneStyle::Images => story::tsne_image_scatter(
            &y,
            &set.images,
            &set.labels,
            a.size,
            a.thumb,
            &title,
            &a.out,
        )?,
    }
    Ok(())
}

/// KL and perplexity from `latentviz tsne --metrics` (its final line, else its last KL).
fn read_tsne_metrics(path: &Path) -> Result<(Option<f32>, Option<f32>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (mut kl, mut perplexity) = (None, None);
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}: line {} is not JSON", path.display(), i + 1))?;
        if let Some(k) = v.get("kl").and_then(|k| k.as_f64()) {
            kl = Some(k as f32);
        }
        if let Some(p) = v.get("perplexity").and_then(|p| p.as_f64()) {
            perplexity = Some(p as f32);
        }
    }
    if kl.is_none() {
        bail!(
            "{}: no \"kl\" in any line (expected `latentviz tsne --metrics` output)",
            path.display()
        );
    }
    Ok((kl, perplexity))
}

#[derive(clap::Args)]
pub struct InterpolationArgs {
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArg,
    #[arg(long, value_enum, default_value_t = ImageSplit::Test)]
    split: ImageSplit,
    /// Index of the first image.
    #[arg(long, default_value_t = 0)]
    from: usize,
    /// Index of the second image.
    #[arg(long, default_value_t = 1)]
    to: usize,
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
}

fn interpolation(options: &GpuOptions, a: InterpolationArgs) -> Result<()> {
    let set = a.data.load(a.split.split())?;
    let (from, to) = (pick(&set, a.from, "--from")?, pick(&set, a.to, "--to")?);
    let gpu = Gpu::new(options)?;
    let mut store = story::load_model(&gpu, &a.model)?;
    story::interpolation(&gpu, &mut store, from, to, a.steps, &a.out)?;
    Ok(())
}

#[derive(clap::Args)]
pub struct ArithmeticArgs {
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArg,
    #[arg(long, value_enum, default_value_t = ImageSplit::Test)]
    split: ImageSplit,
    /// Index triples A,B,C (repeat for more rows), e.g. --triple 0,1,2.
    #[arg(long = "triple", value_parser = parse_triple, required = true)]
    triples: Vec<[usize; 3]>,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
}

/// "A,B,C": three image indices.
fn parse_triple(s: &str) -> std::result::Result<[usize; 3], String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|x| x.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("'{s}': {e}"))?;
    <[usize; 3]>::try_from(v).map_err(|_| format!("'{s}' is not three indices A,B,C"))
}

fn arithmetic(options: &GpuOptions, a: ArithmeticArgs) -> Result<()> {
    let set = a.data.load(a.split.split())?;
    let (mut first, mut second, mut third) = (Vec::new(), Vec::new(), Vec::new());
    for t in &a.triples {
        first.extend_from_slice(pick(&set, t[0], "--triple")?);
        second.extend_from_slice(pick(&set, t[1], "--triple")?);
        third.extend_from_slice(pick(&set, t[2], "--triple")?);
    }
    let gpu = Gpu::new(options)?;
    let mut store = story::load_model(&gpu, &a.model)?;
    story::arithmetic(&gpu, &mut store, &first, &second, &third, &a.out)?;
    Ok(())
}

#[derive(Clone, Copy, ValueEnum)]
pub enum MosaicMode {
    /// Every cell shows the point nearest its centre.
    Nearest,
    /// Exact one-to-one assignment of points to cells.
    OneToOne,
}

#[derive(clap::Args)]
pub struct MosaicArgs {
    #[command(flatten)]
    embedded: EmbeddedImages,
    #[arg(long, value_enum, default_value_t = MosaicMode::Nearest)]
    mode: MosaicMode,
    /// Grid rows (default: ⌊√N⌋, at most 40).
    #[arg(long)]
    rows: Option<usize>,
    /// Grid columns (default: as many as rows).
    #[arg(long)]
    cols: Option<usize>,
    /// Colour the seams between cells by the distance of their images in feature space.
    #[arg(long)]
    seams: bool,
    /// Features for --seams (N × D .npy, e.g. latent codes); default: the pixels.
    #[arg(long, requires = "seams")]
    features: Option<PathBuf>,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
}

fn mosaic(a: MosaicArgs) -> Result<()> {
    let (y, set) = a.embedded.load()?;
    let side = ((set.len() as f64).sqrt().floor() as usize).clamp(1, 40);
    let rows = a.rows.unwrap_or(side);
    let cols = a.cols.unwrap_or(rows);
    let loaded;
    let seam_features = match (a.seams, &a.features) {
        (false, _) => None,
        (true, None) => Some((&set.images[..], set.pixels())),
        (true, Some(path)) => {
            let (n, d, f) = latentviz::data::npy::read_f32_2d(path)?;
            if n != set.len() {
                bail!(
                    "{} has {n} rows but the embedding has {}",
                    path.display(),
                    set.len()
                );
            }
            loaded = f;
            Some((&loaded[..], d))
        }
    };
    let mode = match a.mode {
        MosaicMode::Nearest => story::GridMode::Nearest,
        MosaicMode::OneToOne => story::GridMode::OneToOne,
    };
    story::grid_mosaic(&y, &set.images, rows, cols, mode, seam_features, &a.out)?;
    Ok(())
}

#[derive(clap::Args)]
pub struct FeatureMapsArgs {
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArg,
    #[arg(long, value_enum, default_value_t = ImageSplit::Test)]
    split: ImageSplit,
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// enc.conv1, enc.conv2, dec.conv1 or dec.conv2.
    #[arg(long, default_value = "enc.conv1")]
    layer: String,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
}

fn feature_maps(options: &GpuOptions, a: FeatureMapsArgs) -> Result<()> {
    let set = a.data.load(a.split.split())?;
    let image = pick(&set, a.index, "--index")?;
    let gpu = Gpu::new(options)?;
    let mut store = story::load_model(&gpu, &a.model)?;
    story::feature_maps(&gpu, &mut store, image, &a.layer, &a.out)?;
    Ok(())
}

#[derive(clap::Args)]
pub struct CurvesArgs {
    #[arg(long)]
    metrics: PathBuf,
    #[arg(long, default_value = "MNIST autoencoder: loss per epoch")]
    title: String,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
}

fn curves(a: CurvesArgs) -> Result<()> {
    let curves = story::read_train_metrics(&a.metrics)?;
    story::training_curves(&curves, &a.title, &a.out)?;
    Ok(())
}

#[derive(clap::Args)]
pub struct AnimationArgs {
    /// The folder `latentviz tsne --snapshots` wrote (y_00050.npy, ...).
    #[arg(long)]
    snapshots: PathBuf,
    /// Digit labels (1-D integer .npy, 0-9) of the embedded points, for the colours.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// `latentviz tsne --metrics` output: each frame's caption shows its KL.
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Side of the square GIF in pixels.
    #[arg(long, default_value_t = 480)]
    size: usize,
    /// Hundredths of a second each frame is shown (the last one four times as long).
    #[arg(long, default_value_t = 12)]
    delay: u16,
    /// Where to write the GIF.
    #[arg(long)]
    out: PathBuf,
}

fn animation(a: AnimationArgs) -> Result<()> {
    use latentviz::app::figures::{self, AnimationFrame};
    use latentviz::app::snapshots;
    let snaps = snapshots::read(&a.snapshots)?;
    let labels = match &a.labels {
        Some(path) => {
            let l = latentviz::data::npy::read_labels(path)?;
            if l.len() != snaps.n {
                bail!(
                    "{}: {} labels for the {} points of the snapshots in {}",
                    path.display(),
                    l.len(),
                    snaps.n,
                    a.snapshots.display()
                );
            }
            if let Some(bad) = l.iter().find(|&&v| v > 9) {
                bail!("{}: label {bad} is not a digit 0-9", path.display());
            }
            Some(l.iter().map(|&v| v as u8).collect::<Vec<u8>>())
        }
        None => None,
    };
    let kl = match &a.metrics {
        Some(path) => snapshots::read_kl(path)?,
        None => Vec::new(),
    };
    let frames: Vec<AnimationFrame> = snaps
        .iterations
        .iter()
        .zip(&snaps.positions)
        .map(|(&it, y)| AnimationFrame {
            positions: y,
            caption: match snapshots::kl_at(&kl, it) {
                Some(v) => format!("t-SNE iteration {it}   KL {v:.3}"),
                None => format!("t-SNE iteration {it}"),
            },
        })
        .collect();
    figures::animation(&frames, labels.as_deref(), a.size, a.delay, &a.out)?;
    Ok(())
}

/// Image `i` of `set`, or an error naming the index and the size of the split.
fn pick<'a>(set: &'a mnist::Mnist, i: usize, what: &str) -> Result<&'a [f32]> {
    if i >= set.len() {
        bail!(
            "{what} index {i} is out of range: the split has {} images",
            set.len()
        );
    }
    Ok(set.image(i))
}
