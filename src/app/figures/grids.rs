//! Image grids: a plain grid, original | reconstruction pairs, and captioned rows of images
//! (interpolations, latent arithmetic, colorization results).

use std::path::Path;

use super::canvas::{Canvas, MID_GREY, TEXT, WHITE, fit_text, line_height, text_width};
use super::{ImageRef, ImageShape, check_images, check_positive, scaled_side};
use crate::error::{Error, Result};

/// White space between tiles, in pixels.
pub const GAP: usize = 2;
/// Extra space between two original | reconstruction pairs.
const PAIR_GAP: usize = 8;
/// Caption font size.
const CAPTION_PX: f32 = 14.0;

fn scaled(op: &str, shape: ImageShape, scale: usize) -> Result<(usize, usize)> {
    Ok((
        scaled_side(op, shape.width, scale)?,
        scaled_side(op, shape.height, scale)?,
    ))
}

/// A grid of `n` images, `cols` per row (fewer if n < cols), each drawn `scale` times its size,
/// on white with `GAP` px between and around tiles. The PNG is
/// `c * w*scale + (c+1) * GAP` wide and `r * h*scale + (r+1) * GAP` high, with c = min(cols, n),
/// r = ceil(n / c). Image i sits in row i / c, column i % c.
pub fn image_grid(
    images: &[f32],
    shape: ImageShape,
    cols: usize,
    scale: usize,
    path: &Path,
) -> Result<()> {
    let op = "image_grid";
    let n = check_images(op, images, shape)?;
    check_positive(op, "cols", cols)?;
    let (tw, th) = scaled(op, shape, scale)?;
    let c = cols.min(n);
    let r = n.div_ceil(c);
    let mut canvas = Canvas::new(op, c * tw + (c + 1) * GAP, r * th + (r + 1) * GAP, WHITE)?;
    for (i, img) in images.chunks_exact(shape.len()).enumerate() {
        let x = GAP + (i % c) * (tw + GAP);
        let y = GAP + (i / c) * (th + GAP);
        canvas.blit(img, shape, x as i64, y as i64, tw, th);
    }
    canvas.save(path)
}

/// Original | reconstruction pairs: pair i is in row i % rows, pair column i / rows, the original
/// on the left, its reconstruction right next to it; a header names the two columns of each pair.
/// The PNG is `2*GAP + p * (2*w*scale + GAP) + (p-1) * 8` wide, with p = ceil(n / rows) pair
/// columns, and `header + r * h*scale + (r+1) * GAP` high (r = min(rows, n)).
pub fn pairs_grid(
    originals: &[f32],
    reconstructions: &[f32],
    shape: ImageShape,
    rows: usize,
    scale: usize,
    path: &Path,
) -> Result<()> {
    let op = "pairs_grid";
    let n = check_images(op, originals, shape)?;
    let m = check_images(op, reconstructions, shape)?;
    if n != m {
        return Err(Error::shape(
            op,
            format!("{n} originals but {m} reconstructions"),
        ));
    }
    check_positive(op, "rows", rows)?;
    let (tw, th) = scaled(op, shape, scale)?;
    let r = rows.min(n);
    let p = n.div_ceil(r);
    let header = pairs_header_height();
    let width = 2 * GAP + p * (2 * tw + GAP) + (p - 1) * PAIR_GAP;
    let height = header + r * th + (r + 1) * GAP;
    let mut canvas = Canvas::new(op, width, height, WHITE)?;
    // Caption both columns of each pair, at one size, if both fit in the tile width.
    let names = ["original", "recon."];
    let fits = [
        fit_text(names[0], pairs_caption_px(), 7.0, tw as f32)?,
        fit_text(names[1], pairs_caption_px(), 7.0, tw as f32)?,
    ];
    if let [Some(a), Some(b)] = fits {
        for (k, name) in names.iter().enumerate() {
            for j in 0..p {
                let x = GAP + j * (2 * tw + GAP + PAIR_GAP) + k * (tw + GAP);
                canvas.text_centred((x + tw / 2) as f32, 2.0, a.min(b), name, TEXT)?;
            }
        }
    }
    let pairs = originals
        .chunks_exact(shape.len())
        .zip(reconstructions.chunks_exact(shape.len()));
    for (i, (orig, rec)) in pairs.enumerate() {
        let x = GAP + (i / r) * (2 * tw + GAP + PAIR_GAP);
        let y = header + GAP + (i % r) * (th + GAP);
        canvas.blit(orig, shape, x as i64, y as i64, tw, th);
        canvas.blit(rec, shape, (x + tw + GAP) as i64, y as i64, tw, th);
    }
    canvas.save(path)
}

fn pairs_caption_px() -> f32 {
    12.0
}

/// Height of the caption band above [`pairs_grid`]'s tiles.
pub fn pairs_header_height() -> usize {
    line_height(pairs_caption_px()).map_or(14, |h| h.ceil() as usize + 4)
}

/// Rows of images, each row its own list (rows may differ in length and images in shape, e.g. a
/// grey input next to RGB outputs). Every image sits centred in a cell as large as the largest
/// image times `scale`. Optional captions: one per row, drawn left of the row, and one per column
/// (as many as the longest row), drawn above the columns, e.g. "A", "B", "C", "A+B", "A+B−C".
pub fn rows_strip(
    rows: &[Vec<ImageRef<'_>>],
    scale: usize,
    row_labels: Option<&[&str]>,
    col_labels: Option<&[&str]>,
    path: &Path,
) -> Result<()> {
    let op = "rows_strip";
    check_positive(op, "scale", scale)?;
    if rows.is_empty() {
        return Err(Error::InvalidArgument(format!("{op}: no rows given")));
    }
    let mut cell_w = 0;
    let mut cell_h = 0;
    for (r, row) in rows.iter().enumerate() {
        if row.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{op}: row {r} has no images"
            )));
        }
        for img in row {
            let n = check_images(op, img.pixels, img.shape)?;
            if n != 1 {
                return Err(Error::shape(
                    op,
                    format!("row {r}: an ImageRef holds {n} images, expected exactly one"),
                ));
            }
            cell_w = cell_w.max(scaled_side(op, img.shape.width, scale)?);
            cell_h = cell_h.max(scaled_side(op, img.shape.height, scale)?);
        }
    }
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    if let Some(l) = row_labels
        && l.len() != rows.len()
    {
        return Err(Error::shape(
            op,
            format!("{} row labels for {} rows", l.len(), rows.len()),
        ));
    }
    if let Some(l) = col_labels
        && l.len() != ncols
    {
        return Err(Error::shape(
            op,
            format!("{} column labels for {ncols} columns", l.len()),
        ));
    }
    let pad = 6.0;
    let left = match row_labels {
        Some(labels) => {
            let mut w: f32 = 0.0;
            for l in labels {
                w = w.max(text_width(l, CAPTION_PX)?);
            }
            (w + 2.0 * pad).ceil() as usize
        }
        None => 0,
    };
    let top = match col_labels {
        Some(_) => (line_height(CAPTION_PX)? + pad).ceil() as usize,
        None => 0,
    };
    let width = left + ncols * cell_w + (ncols + 1) * GAP;
    let height = top + rows.len() * cell_h + (rows.len() + 1) * GAP;
    let mut canvas = Canvas::new(op, width, height, WHITE)?;
    let cell_x = |c: usize| left + GAP + c * (cell_w + GAP);
    let cell_y = |r: usize| top + GAP + r * (cell_h + GAP);
    if let Some(labels) = col_labels {
        for (c, l) in labels.iter().enumerate() {
            let size = fit_text(l, CAPTION_PX, 8.0, (cell_w + GAP) as f32)?.unwrap_or(8.0);
            canvas.text_centred((cell_x(c) + cell_w / 2) as f32, pad / 2.0, size, l, TEXT)?;
        }
    }
    let lh = line_height(CAPTION_PX)?;
    for (r, row) in rows.iter().enumerate() {
        if let Some(labels) = row_labels {
            let y = cell_y(r) as f32 + (cell_h as f32 - lh) / 2.0;
            canvas.text(pad, y.round(), CAPTION_PX, labels[r], TEXT)?;
        }
        for (c, img) in row.iter().enumerate() {
            let (w, h) = (img.shape.width * scale, img.shape.height * scale);
            let x = cell_x(c) + (cell_w - w) / 2;
            let y = cell_y(r) + (cell_h - h) / 2;
            if w < cell_w || h < cell_h {
                canvas.outline_rect(
                    cell_x(c) as i64,
                    cell_y(r) as i64,
                    cell_w as i64,
                    cell_h as i64,
                    MID_GREY,
                );
            }
            canvas.blit(img.pixels, img.shape, x as i64, y as i64, w, h);
        }
    }
    canvas.save(path)
}
