//! The grid mosaic: one image per cell of a rows x cols grid, optionally with seams between
//! neighbouring cells coloured by how far apart their two points are in the original space.

use std::path::Path;

use super::assign::check_assignment;
use super::canvas::{Canvas, WHITE};
use super::{ImageShape, check_images, check_positive, scaled_side, viridis};
use crate::error::{Error, Result};

/// Width of a seam between two cells, in pixels.
pub const SEAM_PX: usize = 3;
const CORNER: [u8; 3] = [40, 40, 40];

/// The features the seams measure distances in: n x `dim` row-major, one row per image.
#[derive(Clone, Copy, Debug)]
pub struct Seams<'a> {
    pub features: &'a [f32],
    pub dim: usize,
}

/// Draw `images[assignment[i]]` in cell i (row-major) of a rows x cols grid, each `scale` times its
/// size. Without seams the tiles touch: the PNG is `cols * w*scale` x `rows * h*scale`. With seams
/// a `SEAM_PX` band separates neighbouring cells (the PNG grows by `(cols-1) * SEAM_PX` and
/// `(rows-1) * SEAM_PX`), coloured by the Euclidean distance of the two points' features, scaled
/// from the smallest to the largest such distance in the figure and drawn with [`viridis`]: dark
/// purple = neighbours that are close in the original space, yellow = far apart (a repeated
/// point next to itself is distance 0).
#[allow(clippy::too_many_arguments)]
pub fn mosaic(
    assignment: &[usize],
    images: &[f32],
    shape: ImageShape,
    rows: usize,
    cols: usize,
    scale: usize,
    seams: Option<Seams<'_>>,
    path: &Path,
) -> Result<()> {
    let op = "mosaic";
    let n = check_images(op, images, shape)?;
    check_positive(op, "rows", rows)?;
    check_positive(op, "cols", cols)?;
    check_positive(op, "scale", scale)?;
    let cells = rows
        .checked_mul(cols)
        .ok_or_else(|| Error::InvalidArgument(format!("{op}: grid too large")))?;
    check_assignment(op, assignment, cells, n)?;
    if let Some(s) = seams {
        check_positive(op, "seams.dim", s.dim)?;
        if s.features.len() != n * s.dim {
            return Err(Error::shape(
                op,
                format!(
                    "seam features hold {} values, {n} images x dim {} = {} needed",
                    s.features.len(),
                    s.dim,
                    n * s.dim
                ),
            ));
        }
        if let Some(i) = s.features.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "{op}: seam feature {i} is {}",
                s.features[i]
            )));
        }
    }
    let (tw, th) = (
        scaled_side(op, shape.width, scale)?,
        scaled_side(op, shape.height, scale)?,
    );
    let seam = if seams.is_some() { SEAM_PX } else { 0 };
    let width = cols * tw + (cols - 1) * seam;
    let height = rows * th + (rows - 1) * seam;
    let mut canvas = Canvas::new(op, width, height, WHITE)?;
    let x_of = |c: usize| c * (tw + seam);
    let y_of = |r: usize| r * (th + seam);
    for (i, &j) in assignment.iter().enumerate() {
        let img = &images[j * shape.len()..(j + 1) * shape.len()];
        canvas.blit(
            img,
            shape,
            x_of(i % cols) as i64,
            y_of(i / cols) as i64,
            tw,
            th,
        );
    }
    if let Some(s) = seams {
        let dist = |a: usize, b: usize| -> f32 {
            let fa = &s.features[a * s.dim..(a + 1) * s.dim];
            let fb = &s.features[b * s.dim..(b + 1) * s.dim];
            fa.iter()
                .zip(fb)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>()
                .sqrt()
        };
        // (distance, x, y, w, h) of every seam: vertical ones between columns, then horizontal.
        let mut bands = Vec::new();
        for r in 0..rows {
            for c in 0..cols.saturating_sub(1) {
                let d = dist(assignment[r * cols + c], assignment[r * cols + c + 1]);
                bands.push((d, x_of(c) + tw, y_of(r), seam, th));
            }
        }
        for r in 0..rows.saturating_sub(1) {
            for c in 0..cols {
                let d = dist(assignment[r * cols + c], assignment[(r + 1) * cols + c]);
                bands.push((d, x_of(c), y_of(r) + th, tw, seam));
            }
        }
        let lo = bands.iter().map(|b| b.0).fold(f32::INFINITY, f32::min);
        let hi = bands.iter().map(|b| b.0).fold(f32::NEG_INFINITY, f32::max);
        for &(d, x, y, w, h) in &bands {
            let t = if hi > lo { (d - lo) / (hi - lo) } else { 0.0 };
            canvas.fill_rect(x as i64, y as i64, w as i64, h as i64, viridis(t));
        }
        for r in 0..rows.saturating_sub(1) {
            for c in 0..cols.saturating_sub(1) {
                canvas.fill_rect(
                    (x_of(c) + tw) as i64,
                    (y_of(r) + th) as i64,
                    seam as i64,
                    seam as i64,
                    CORNER,
                );
            }
        }
    }
    canvas.save(path)
}
