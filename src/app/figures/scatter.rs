//! Scatter plots of a 2-D embedding: points coloured by digit with a legend, and the "image
//! scatter" that draws every point as its own thumbnail.

use std::path::Path;

use super::canvas::{Canvas, LIGHT_GREY, Rgb, TEXT, WHITE, fit_text};
use super::{ImageShape, TAB10, check_embedding, check_images, check_labels};
use crate::error::{Error, Result};

/// Height of the title band at the top of both scatter figures.
pub const TITLE_H: usize = 30;
/// Width of the legend column on the right of [`scatter`] (when labels are given).
const LEGEND_W: usize = 56;
const TITLE_PX: f32 = 16.0;

/// A rectangle in pixels: top-left corner and size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// Where the points of a `canvas_px` x `canvas_px` scatter figure go: everything below the title
/// band, less the legend column when there is one. [`image_scatter`] uses `legend = false`.
pub fn scatter_area(canvas_px: usize, legend: bool) -> Rect {
    let legend_w = if legend { LEGEND_W } else { 0 };
    Rect {
        x: 0.0,
        y: TITLE_H as f32,
        w: canvas_px.saturating_sub(legend_w) as f32,
        h: canvas_px.saturating_sub(TITLE_H) as f32,
    }
}

/// Map an n x 2 embedding into `area`, keeping `margin` px free on every side: one scale for
/// both axes (t-SNE's geometry is not stretched), the point cloud centred, y pointing up.
/// Returns the pixel position of each point (the centre of its marker or thumbnail).
pub fn layout(embedding: &[f32], area: Rect, margin: f32) -> Result<Vec<(f32, f32)>> {
    let n = check_embedding("layout", embedding)?;
    let (iw, ih) = (area.w - 2.0 * margin, area.h - 2.0 * margin);
    if !(iw > 0.0 && ih > 0.0) {
        return Err(Error::InvalidArgument(format!(
            "layout: a margin of {margin} px leaves no room in a {}x{} px area",
            area.w, area.h
        )));
    }
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for p in embedding.chunks_exact(2) {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let (rx, ry) = ((hi[0] - lo[0]) as f64, (hi[1] - lo[1]) as f64);
    // One scale for both axes; a cloud of identical points lands in the middle.
    let s = match (rx > 0.0, ry > 0.0) {
        (true, true) => (iw as f64 / rx).min(ih as f64 / ry),
        (true, false) => iw as f64 / rx,
        (false, true) => ih as f64 / ry,
        (false, false) => 0.0,
    };
    let (mx, my) = (
        (lo[0] as f64 + hi[0] as f64) / 2.0,
        (lo[1] as f64 + hi[1] as f64) / 2.0,
    );
    let (cx, cy) = (
        area.x as f64 + area.w as f64 / 2.0,
        area.y as f64 + area.h as f64 / 2.0,
    );
    let mut out = Vec::with_capacity(n);
    for p in embedding.chunks_exact(2) {
        let x = cx + (p[0] as f64 - mx) * s;
        let y = cy - (p[1] as f64 - my) * s;
        out.push((x as f32, y as f32));
    }
    Ok(out)
}

fn draw_title(canvas: &mut Canvas, title: &str) -> Result<()> {
    let room = canvas.w as f32 - 12.0;
    let size = fit_text(title, TITLE_PX, 8.0, room)?.unwrap_or(8.0);
    let y = ((TITLE_H as f32 - super::canvas::line_height(size)?) / 2.0).round();
    canvas.text_centred(canvas.w as f32 / 2.0, y, size, title, TEXT)
}

fn check_canvas(op: &str, canvas_px: usize) -> Result<()> {
    if canvas_px < TITLE_H + LEGEND_W + 32 {
        return Err(Error::InvalidArgument(format!(
            "{op}: canvas_px {canvas_px} is too small (at least {})",
            TITLE_H + LEGEND_W + 32
        )));
    }
    Ok(())
}

/// Every point drawn as its own `thumb_px` x `thumb_px` thumbnail, centred on its [`layout`]
/// position in `scatter_area(canvas_px, false)` with a margin of `thumb_px / 2 + 2`, on a white
/// `canvas_px` x `canvas_px` image with `title` centred in the band at the top.
///
/// Grey images are drawn as ink: the stroke value is the opacity of the point's digit colour
/// (`TAB10[label]`, or black without labels), so white-on-black MNIST digits become coloured
/// strokes on white and overlapping thumbnails stay readable. RGB images are pasted opaque.
/// Points are drawn in the order given (later ones on top).
#[allow(clippy::too_many_arguments)]
pub fn image_scatter(
    embedding: &[f32],
    images: &[f32],
    shape: ImageShape,
    labels: Option<&[u8]>,
    canvas_px: usize,
    thumb_px: usize,
    title: &str,
    path: &Path,
) -> Result<()> {
    let op = "image_scatter";
    let n = check_embedding(op, embedding)?;
    let m = check_images(op, images, shape)?;
    if n != m {
        return Err(Error::shape(
            op,
            format!("{n} embedding points but {m} images"),
        ));
    }
    if let Some(l) = labels {
        check_labels(op, l, n)?;
    }
    check_canvas(op, canvas_px)?;
    if thumb_px == 0 || thumb_px > canvas_px / 4 {
        return Err(Error::InvalidArgument(format!(
            "{op}: thumb_px {thumb_px} must be in 1..={} for a {canvas_px} px canvas",
            canvas_px / 4
        )));
    }
    let pos = layout(
        embedding,
        scatter_area(canvas_px, false),
        thumb_px as f32 / 2.0 + 2.0,
    )?;
    let mut canvas = Canvas::new(op, canvas_px, canvas_px, WHITE)?;
    draw_title(&mut canvas, title)?;
    let half = thumb_px as f32 / 2.0;
    for (i, (img, &(x, y))) in images.chunks_exact(shape.len()).zip(&pos).enumerate() {
        let (x0, y0) = ((x - half).round() as i64, (y - half).round() as i64);
        if shape.channels == 1 {
            let tint: Rgb = labels.map_or([0, 0, 0], |l| TAB10[l[i] as usize]);
            canvas.blit_ink(img, shape, x0, y0, thumb_px, thumb_px, tint);
        } else {
            canvas.blit(img, shape, x0, y0, thumb_px, thumb_px);
        }
    }
    canvas.save(path)
}

/// Points coloured by digit (`TAB10[label]`; tab10 blue for all without labels) on a white
/// `canvas_px` x `canvas_px` image: title band on top, a legend of the ten digits on the right
/// when labels are given, points placed by [`layout`] in `scatter_area(canvas_px, labels.is_some())`
/// with a 10 px margin. Marker size and opacity shrink as n grows (opaque below 500 points).
pub fn scatter(
    embedding: &[f32],
    labels: Option<&[u8]>,
    canvas_px: usize,
    title: &str,
    path: &Path,
) -> Result<()> {
    let op = "scatter";
    let n = check_embedding(op, embedding)?;
    if let Some(l) = labels {
        check_labels(op, l, n)?;
    }
    check_canvas(op, canvas_px)?;
    let area = scatter_area(canvas_px, labels.is_some());
    let pos = layout(embedding, area, 10.0)?;
    let mut canvas = Canvas::new(op, canvas_px, canvas_px, WHITE)?;
    draw_title(&mut canvas, title)?;
    canvas.outline_rect(
        area.x as i64 + 2,
        area.y as i64,
        area.w as i64 - 4,
        area.h as i64 - 2,
        LIGHT_GREY,
    );
    let (r, alpha) = match n {
        0..500 => (3.5, 1.0),
        500..5000 => (2.5, 0.8),
        5000..30000 => (1.6, 0.7),
        _ => (1.1, 0.6),
    };
    for (i, &(x, y)) in pos.iter().enumerate() {
        let c = labels.map_or(TAB10[0], |l| TAB10[l[i] as usize]);
        canvas.disc(x, y, r, c, alpha);
    }
    if labels.is_some() {
        let x = area.w + 14.0;
        let step = ((area.h - 20.0) / 10.0).min(22.0);
        for (d, c) in TAB10.iter().enumerate() {
            let y = area.y + 14.0 + d as f32 * step;
            canvas.disc(x, y, 5.0, *c, 1.0);
            canvas.text(x + 11.0, y - 8.0, 14.0, &d.to_string(), TEXT)?;
        }
    }
    canvas.save(path)
}
