//! Figures: pure functions of plain data, each writing one PNG (the optimization animation: one
//! GIF) headless and atomically (through `io::write_bytes_atomic`; on error nothing is left
//! behind, and bad input is rejected before
//! anything touches the disk).
//!
//! Conventions shared by every function here:
//! - images are `&[f32]` in [0, 1] (values outside are clamped), stored one after another, each
//!   CHW with an [`ImageShape`] (1 channel = grey, 3 = RGB planar);
//! - embeddings are `&[f32]` n x 2 row-major, drawn with y pointing up;
//! - labels are digits 0-9, drawn with matplotlib's tab10 palette ([`TAB10`]);
//! - text is DejaVu Sans, embedded in the binary (no system fonts needed).

mod animation;
mod assign;
mod canvas;
mod curves;
mod grids;
mod maps;
mod mosaic;
mod scatter;

pub use animation::{AnimationFrame, animation};
pub use assign::{
    cell_centre, grid_assign_nearest, grid_assign_one_to_one, grid_cost, grid_positions,
};
pub(crate) use canvas::resample;
pub use curves::{CURVES_H, CURVES_W, loss_curves};
pub use grids::{GAP, image_grid, pairs_grid, pairs_header_height, rows_strip};
pub use maps::feature_maps;
pub use mosaic::{SEAM_PX, Seams, mosaic};
pub use scatter::{Rect, TITLE_H, image_scatter, layout, scatter, scatter_area};

use crate::error::{Error, Result};

/// matplotlib's tab10 colours; digit `d` is drawn in `TAB10[d]`.
pub const TAB10: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// The shape of one image: channels (1 = grey, 3 = RGB planar), height, width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl ImageShape {
    pub fn new(channels: usize, height: usize, width: usize) -> ImageShape {
        ImageShape {
            channels,
            height,
            width,
        }
    }
    pub fn grey(height: usize, width: usize) -> ImageShape {
        ImageShape::new(1, height, width)
    }
    pub fn rgb(height: usize, width: usize) -> ImageShape {
        ImageShape::new(3, height, width)
    }
    /// Values in one image.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One image of its own shape, for figures that mix grey and colour images in one row.
#[derive(Clone, Copy, Debug)]
pub struct ImageRef<'a> {
    pub pixels: &'a [f32],
    pub shape: ImageShape,
}

impl<'a> ImageRef<'a> {
    /// Split a run of images of one shape into one `ImageRef` per image.
    pub fn split(images: &'a [f32], shape: ImageShape) -> Result<Vec<ImageRef<'a>>> {
        check_images("ImageRef::split", images, shape)?;
        Ok(images
            .chunks_exact(shape.len())
            .map(|pixels| ImageRef { pixels, shape })
            .collect())
    }
}

/// Check a run of images; returns how many there are (at least one).
pub(crate) fn check_images(op: &str, images: &[f32], shape: ImageShape) -> Result<usize> {
    if shape.channels != 1 && shape.channels != 3 {
        return Err(Error::InvalidArgument(format!(
            "{op}: images must have 1 (grey) or 3 (RGB) channels, got {}",
            shape.channels
        )));
    }
    if shape.height == 0 || shape.width == 0 {
        return Err(Error::InvalidArgument(format!(
            "{op}: image shape {}x{} has no pixels",
            shape.height, shape.width
        )));
    }
    if images.is_empty() {
        return Err(Error::InvalidArgument(format!("{op}: no images given")));
    }
    if !images.len().is_multiple_of(shape.len()) {
        return Err(Error::shape(
            op,
            format!(
                "{} values are not a whole number of {}x{}x{} images",
                images.len(),
                shape.channels,
                shape.height,
                shape.width
            ),
        ));
    }
    if let Some(i) = images.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "{op}: image value {i} is {}",
            images[i]
        )));
    }
    Ok(images.len() / shape.len())
}

/// Check an n x 2 embedding; returns n (at least one).
pub(crate) fn check_embedding(op: &str, embedding: &[f32]) -> Result<usize> {
    if embedding.is_empty() {
        return Err(Error::InvalidArgument(format!("{op}: empty embedding")));
    }
    if !embedding.len().is_multiple_of(2) {
        return Err(Error::shape(
            op,
            format!("embedding has {} values, not n x 2", embedding.len()),
        ));
    }
    if let Some(i) = embedding.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "{op}: embedding point {} has a non-finite coordinate ({})",
            i / 2,
            embedding[i]
        )));
    }
    Ok(embedding.len() / 2)
}

/// Check labels against n points; each must be a digit 0-9.
pub(crate) fn check_labels(op: &str, labels: &[u8], n: usize) -> Result<()> {
    if labels.len() != n {
        return Err(Error::shape(
            op,
            format!("{} labels for {n} points", labels.len()),
        ));
    }
    if let Some(&l) = labels.iter().find(|&&l| l > 9) {
        return Err(Error::InvalidArgument(format!(
            "{op}: label {l} is not a digit 0-9"
        )));
    }
    Ok(())
}

pub(crate) fn check_positive(op: &str, name: &str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(Error::InvalidArgument(format!(
            "{op}: {name} must be at least 1"
        )));
    }
    Ok(())
}

/// `side * scale` as a tile size in pixels, refused when it would not fit in a figure.
pub(crate) fn scaled_side(op: &str, side: usize, scale: usize) -> Result<usize> {
    check_positive(op, "scale", scale)?;
    side.checked_mul(scale)
        .filter(|&v| v <= canvas::MAX_SIDE)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{op}: {side} px x scale {scale} exceeds the largest figure side ({})",
                canvas::MAX_SIDE
            ))
        })
}

/// Refuses `count` tiles of `tile_px` pixels side by side before any work or allocation: the
/// tiles alone would make the figure longer than [`canvas::MAX_SIDE`]. `what` names them.
pub(crate) fn check_tiles_fit(op: &str, what: &str, count: usize, tile_px: usize) -> Result<()> {
    let most = canvas::MAX_SIDE / tile_px.max(1);
    if count > most {
        return Err(Error::InvalidArgument(format!(
            "{op}: {count} {what} ({tile_px} px each) do not fit in a figure, whose side is at \
             most {} px: at most {most}",
            canvas::MAX_SIDE
        )));
    }
    Ok(())
}

/// viridis-like colour map on [0, 1] (linear between five of viridis' colours): dark purple for 0,
/// yellow for 1.
pub fn viridis(t: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f32;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    [0, 1, 2].map(|k| (a[k] + (b[k] - a[k]) * f).round() as u8)
}
