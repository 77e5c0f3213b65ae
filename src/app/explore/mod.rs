//! `latentviz explore`: one self-contained HTML page (no network; it opens from `file://`) to
//! explore an embedding: every point drawn with WebGL2 (Canvas 2D where WebGL is missing), its
//! image, label and 10 nearest neighbours in the original space, selections exported as CSV or
//! JSON, and the optimization replayed from the snapshots.
//!
//! The page's source is `page/` (HTML, CSS, JS), embedded at build time; the data goes into it as
//! one JSON object whose arrays are base64 little-endian typed arrays, and the thumbnails as PNG
//! sprite atlases of at most [`ATLAS_SIDE`]² px each (WebGL2 guarantees textures of 2048²).

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::app::figures::{ImageShape, TAB10};
use crate::app::snapshots::{self, Snapshots};
use crate::data::{mnist, npy};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::knn;

const PAGE_HTML: &str = include_str!("page/index.html");
const PAGE_CSS: &str = include_str!("page/explorer.css");
const PAGE_JS: &str = include_str!("page/explorer.js");

/// Side of one thumbnail atlas texture, in pixels.
pub const ATLAS_SIDE: usize = 2048;
/// Thumbnails larger than this are downscaled to it (their longer side).
pub const MAX_THUMB: usize = 32;
/// Neighbours shown for a clicked point.
pub const NEIGHBOURS: usize = 10;
/// From this many points the neighbours come from the clustered kNN search (as in `tsne`).
const CLUSTERED_FROM: usize = 20_000;

/// Everything the page shows; only `positions` is required.
#[derive(Clone, Debug, Default)]
pub struct PageData {
    pub title: String,
    /// n × 2 row-major: the final embedding.
    pub positions: Vec<f32>,
    /// One class per point (shown as its number).
    pub labels: Option<Vec<u32>>,
    /// n images of `shape`, CHW, in [0, 1].
    pub images: Option<(Vec<f32>, ImageShape)>,
    pub snapshots: Option<Snapshots>,
    /// (iteration, KL) from the metrics.
    pub kl: Vec<(usize, f32)>,
    /// n × k neighbour indices in the original space, nearest first.
    pub neighbours: Option<(usize, Vec<u32>)>,
}

/// What `latentviz explore` reads.
#[derive(Clone, Debug, Default)]
pub struct ExploreJob {
    /// The embedding, N × 2 .npy.
    pub embedding: PathBuf,
    /// MNIST folder whose `split` images (the first `subset`) were embedded.
    pub mnist: Option<PathBuf>,
    pub split: Option<mnist::Split>,
    pub subset: Option<usize>,
    /// Or the images as N×H×W / N×C×H×W .npy.
    pub images: Option<PathBuf>,
    pub labels: Option<PathBuf>,
    pub snapshots: Option<PathBuf>,
    pub metrics: Option<PathBuf>,
    /// The vectors the embedding was made from, N × D (default: the images' pixels).
    pub vectors: Option<PathBuf>,
    pub title: Option<String>,
    pub out: PathBuf,
}

/// Loads and checks everything the job names, finds the neighbours, writes the page.
pub fn run(gpu: &Gpu, job: &ExploreJob) -> Result<PageData> {
    crate::io::check_writable(&job.out)?;
    let (n, d, positions) = npy::read_f32_2d(&job.embedding)?;
    if d != 2 {
        return Err(Error::bad_data(
            &job.embedding,
            format!("a {n} × {d} embedding; the explorer draws N × 2 embeddings"),
        ));
    }
    snapshots::check_finite(&job.embedding, &positions)?;
    let rows = |what: &str, path: &Path, m: usize| -> Result<()> {
        if m != n {
            return Err(Error::bad_data(
                path,
                format!(
                    "{m} {what} for the {n} rows of the embedding {}",
                    job.embedding.display()
                ),
            ));
        }
        Ok(())
    };
    let mut labels = None;
    let images = match (&job.mnist, &job.images) {
        (Some(dir), None) => {
            // The embedding is of the first N images of the split (N = --subset, or its rows).
            let set = mnist::load(dir, job.split.unwrap_or(mnist::Split::Test))?;
            if set.len() < n {
                rows("images", dir, set.len())?;
            }
            let set = set.subset(job.subset.unwrap_or(n));
            rows("images", dir, set.len())?;
            labels = Some(set.labels.iter().map(|&l| u32::from(l)).collect());
            Some((set.images, ImageShape::grey(set.rows, set.cols)))
        }
        (None, Some(path)) => {
            let ([m, c, h, w], mut values) = npy::read_images(path)?;
            let m = job.subset.map_or(m, |s| s.min(m));
            values.truncate(m * c * h * w);
            rows("images", path, m)?;
            if c != 1 && c != 3 {
                return Err(Error::bad_data(
                    path,
                    format!("images with {c} channels; expected 1 (grey) or 3 (RGB)"),
                ));
            }
            Some((values, ImageShape::new(c, h, w)))
        }
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(Error::InvalidArgument(
                "give at most one of --mnist DIR and --images X.npy".into(),
            ));
        }
    };
    if let Some(path) = &job.labels {
        let l = npy::read_labels(path)?;
        rows("labels", path, l.len())?;
        labels = Some(l);
    }
    let snaps = match &job.snapshots {
        Some(dir) => {
            let s = snapshots::read(dir)?;
            rows("points in each snapshot", dir, s.n)?;
            Some(s)
        }
        None => None,
    };
    let kl = match &job.metrics {
        Some(path) => snapshots::read_kl(path)?,
        None => Vec::new(),
    };
    let vectors = match (&job.vectors, &images) {
        (Some(path), _) => {
            let (m, dv, x) = npy::read_f32_2d(path)?;
            rows("vectors", path, m)?;
            if let Some(i) = x.iter().position(|v| !v.is_finite()) {
                return Err(Error::bad_data(
                    path,
                    format!("row {} has a non-finite value", i / dv),
                ));
            }
            Some((x, dv))
        }
        (None, Some((pixels, shape))) => Some((pixels.clone(), shape.len())),
        (None, None) => None,
    };
    let neighbours = match vectors {
        Some((x, dv)) if n > 1 => Some(neighbours(gpu, &x, n, dv)?),
        _ => None,
    };
    let data = PageData {
        title: job.title.clone().unwrap_or_else(|| {
            job.embedding
                .file_name()
                .map_or("embedding".into(), |s| s.to_string_lossy().into_owned())
        }),
        positions,
        labels,
        images,
        snapshots: snaps,
        kl,
        neighbours,
    };
    write_page(&job.out, &data)?;
    Ok(data)
}

/// The exact search in the input space is kept up to this many n² · d multiply-adds (35,000
/// MNIST images in pixel space, about a minute on two CPU cores); past it, wide inputs are
/// searched in their first [`WIDE_PCA`] principal components, as `latentviz tsne` searches them.
const EXACT_BUDGET: f64 = 1e12;
/// Features above which an input is wide, and the components it is searched in past the budget.
const WIDE_FEATURES: usize = 100;
const WIDE_PCA: usize = 50;

/// The `NEIGHBOURS` nearest neighbours (fewer when n is small) of every row of x (n × d), by the
/// crate's kNN: exact, or clustered from 20,000 points where the adapter runs it. Wide inputs
/// past [`EXACT_BUDGET`] (all 70,000 MNIST images: ~4 minutes of exact search on two CPU cores)
/// are searched in their first 50 principal components: about 85% of the neighbours stay the
/// same on MNIST, and the search takes seconds.
pub fn neighbours(gpu: &Gpu, x: &[f32], n: usize, d: usize) -> Result<(usize, Vec<u32>)> {
    neighbours_within(gpu, x, n, d, EXACT_BUDGET)
}

/// [`neighbours`] with another budget for the exact search (for tests).
pub fn neighbours_within(
    gpu: &Gpu,
    x: &[f32],
    n: usize,
    d: usize,
    budget: f64,
) -> Result<(usize, Vec<u32>)> {
    if d > WIDE_FEATURES && (n * n) as f64 * d as f64 > budget {
        eprintln!(
            "explore: neighbours of {n} points in the first {WIDE_PCA} principal components of \
             their {d} features (the exact search would take n² · d = {:.1e} steps)",
            (n * n) as f64 * d as f64
        );
        let reduced = crate::pca::pca(gpu, x, n, d, WIDE_PCA, 0)?.projected;
        return neighbours_in(gpu, &reduced, n, WIDE_PCA);
    }
    neighbours_in(gpu, x, n, d)
}

fn neighbours_in(gpu: &Gpu, x: &[f32], n: usize, d: usize) -> Result<(usize, Vec<u32>)> {
    let k = NEIGHBOURS.min(n - 1);
    let method = if n >= CLUSTERED_FROM && knn::clustered::supported(gpu, d) {
        knn::Method::Clustered(knn::ClusteredSearch::default())
    } else {
        knn::Method::Exact
    };
    let found = knn::search(gpu, x, n, d, k, &method)?;
    Ok((k, found.index))
}

/// Checks the data (shapes, finite values, label range) and writes the page atomically.
pub fn write_page(path: &Path, data: &PageData) -> Result<()> {
    let json = page_json(data)?;
    // The JSON sits in a <script> element: no "</script>" may appear in it.
    let json = json.replace('<', "\\u003c");
    let css = format!("<style>\n{PAGE_CSS}</style>");
    let script = format!(
        "<script id=\"latentviz-data\" type=\"application/json\">{json}</script>\n<script>\n{PAGE_JS}</script>"
    );
    let html = PAGE_HTML
        .replace("<!--STYLE-->", &css)
        .replace("<!--TITLE-->", &html_escape(&data.title))
        .replace("<!--SCRIPT-->", &script);
    crate::io::write_atomic(path, |w| {
        w.write_all(html.as_bytes()).map_err(|e| Error::io(path, e))
    })
}

/// The page's data object (see page/explorer.js, `decodeData`).
fn page_json(data: &PageData) -> Result<String> {
    const OP: &str = "explore";
    let n = data.positions.len() / 2;
    if n == 0 || data.positions.len() != 2 * n {
        return Err(Error::shape(
            OP,
            format!("{} position values are not N × 2", data.positions.len()),
        ));
    }
    if let Some(i) = data.positions.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "{OP}: point {} has a non-finite coordinate ({})",
            i / 2,
            data.positions[i]
        )));
    }
    let mut obj = serde_json::json!({
        "title": data.title,
        "n": n,
        "positions": b64_f32(&data.positions),
        "tab10": TAB10,
    });
    if let Some(l) = &data.labels {
        if l.len() != n {
            return Err(Error::shape(
                OP,
                format!("{} labels for {n} points", l.len()),
            ));
        }
        if let Some(&big) = l.iter().find(|&&v| v > 255) {
            return Err(Error::InvalidArgument(format!(
                "{OP}: label {big} is above 255 (the page colours up to 256 classes)"
            )));
        }
        let bytes: Vec<u8> = l.iter().map(|&v| v as u8).collect();
        obj["labels"] = B64.encode(&bytes).into();
    }
    if let Some((pixels, shape)) = &data.images {
        let m = crate::app::figures::check_images(OP, pixels, *shape)?;
        if m != n {
            return Err(Error::shape(OP, format!("{m} images for {n} points")));
        }
        obj["thumbs"] = atlases(pixels, *shape, n)?;
    }
    if let Some(s) = &data.snapshots {
        if s.n != n {
            return Err(Error::shape(
                OP,
                format!("snapshots of {} points for {n} points", s.n),
            ));
        }
        let frames: Vec<serde_json::Value> = s
            .iterations
            .iter()
            .zip(&s.positions)
            .map(|(&it, y)| {
                let (lo, hi, q) = quantize(y);
                serde_json::json!({
                    "iteration": it,
                    "kl": snapshots::kl_at(&data.kl, it),
                    "lo": lo,
                    "hi": hi,
                    "q": B64.encode(q),
                })
            })
            .collect();
        obj["frames"] = frames.into();
        let last = data.kl.last().map(|&(it, kl)| serde_json::json!([it, kl]));
        obj["final"] = last.unwrap_or(serde_json::Value::Null);
    }
    if let Some((k, idx)) = &data.neighbours {
        if idx.len() != n * k {
            return Err(Error::shape(
                OP,
                format!("{} neighbour indices for {n} points × {k}", idx.len()),
            ));
        }
        if let Some(&bad) = idx.iter().find(|&&j| j as usize >= n) {
            return Err(Error::InvalidArgument(format!(
                "{OP}: neighbour index {bad} is out of range for {n} points"
            )));
        }
        obj["k"] = (*k).into();
        let bytes: Vec<u8> = idx.iter().flat_map(|j| j.to_le_bytes()).collect();
        obj["neighbours"] = B64.encode(bytes).into();
    }
    serde_json::to_string(&obj).map_err(|e| Error::InvalidArgument(format!("{OP}: {e}")))
}

/// f32 values as base64 of their little-endian bytes (the page reads them as a Float32Array).
fn b64_f32(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    B64.encode(bytes)
}

/// Snapshot positions as u16 steps between the per-axis bounds, little-endian bytes (half the
/// bytes of f32; a step is 1/65,535 of the frame's extent, far below a pixel).
fn quantize(y: &[f32]) -> ([f32; 2], [f32; 2], Vec<u8>) {
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for p in y.chunks_exact(2) {
        for a in 0..2 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    let q = y
        .iter()
        .enumerate()
        .flat_map(|(i, &v)| {
            let (l, h) = (lo[i % 2], hi[i % 2]);
            let step = if h > l {
                ((v - l) / (h - l) * 65535.0).round() as u16
            } else {
                0
            };
            step.to_le_bytes()
        })
        .collect();
    (lo, hi, q)
}

/// The thumbnails as PNG atlases: tiles row-major, `per_page` tiles to a page, point i on page
/// i / per_page. Grey images stay grey (the page tints them by label), RGB ones are RGB.
fn atlases(pixels: &[f32], shape: ImageShape, n: usize) -> Result<serde_json::Value> {
    let long = shape.height.max(shape.width);
    let (th, tw) = if long > MAX_THUMB {
        (
            (shape.height * MAX_THUMB).div_ceil(long),
            (shape.width * MAX_THUMB).div_ceil(long),
        )
    } else {
        (shape.height, shape.width)
    };
    let cols = ATLAS_SIDE / tw;
    let per_page = cols * (ATLAS_SIDE / th);
    let grey = shape.channels == 1;
    let mut pages = Vec::new();
    for first in (0..n).step_by(per_page) {
        let count = per_page.min(n - first);
        let (w, h) = (cols * tw, count.div_ceil(cols) * th);
        let ch = if grey { 1 } else { 3 };
        let mut img = vec![0u8; w * h * ch];
        for t in 0..count {
            let one = &pixels[(first + t) * shape.len()..(first + t + 1) * shape.len()];
            let tile = if (th, tw) == (shape.height, shape.width) {
                one.to_vec()
            } else {
                crate::app::figures::resample(one, shape, tw, th)
            };
            let (x0, y0) = ((t % cols) * tw, (t / cols) * th);
            for y in 0..th {
                for x in 0..tw {
                    for c in 0..ch {
                        let v = tile[c * th * tw + y * tw + x];
                        img[((y0 + y) * w + x0 + x) * ch + c] =
                            (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                    }
                }
            }
        }
        let mut png = Vec::new();
        let colour = if grey {
            image::ExtendedColorType::L8
        } else {
            image::ExtendedColorType::Rgb8
        };
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut png),
            &img,
            w as u32,
            h as u32,
            colour,
        )
        .map_err(|e| Error::InvalidArgument(format!("explore: thumbnail atlas: {e}")))?;
        pages.push(format!("data:image/png;base64,{}", B64.encode(&png)));
    }
    Ok(serde_json::json!({
        "w": tw,
        "h": th,
        "cols": cols,
        "perPage": per_page,
        "grey": grey,
        "pages": pages,
    }))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
