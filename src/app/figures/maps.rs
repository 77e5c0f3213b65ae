//! Feature maps of one conv layer for one input: one tile per channel, each normalized to its own
//! range, under a title.

use std::path::Path;

use super::canvas::{Canvas, TEXT, WHITE, fit_text, line_height, text_width};
use super::grids::GAP;
use super::scatter::TITLE_H;
use super::{ImageShape, check_images, check_positive, scaled_side};
use crate::error::{Error, Result};

const TITLE_PX: f32 = 16.0;

/// `maps` is channels x h x w (one input's activations). Channel k is drawn in grey, its minimum
/// black and maximum white (a constant channel is all black), `scale` times its size, in a grid of
/// `cols` tiles per row (fewer if there are fewer channels), row-major by channel, `GAP` px apart
/// on white, below a `TITLE_H` px band holding `title`. The PNG is
/// `max(c * w*scale + (c+1) * GAP, title width + 16)` wide (the grid centred) and
/// `TITLE_H + r * h*scale + (r+1) * GAP` high, with c = min(cols, channels), r = ceil(channels / c).
#[allow(clippy::too_many_arguments)]
pub fn feature_maps(
    maps: &[f32],
    channels: usize,
    h: usize,
    w: usize,
    cols: usize,
    scale: usize,
    title: &str,
    path: &Path,
) -> Result<()> {
    let op = "feature_maps";
    check_positive(op, "channels", channels)?;
    check_positive(op, "cols", cols)?;
    check_positive(op, "scale", scale)?;
    let plane = ImageShape::grey(h, w);
    // Checks h, w > 0, finiteness, and that the values are whole planes.
    let got = check_images(op, maps, plane)?;
    if got != channels {
        return Err(Error::shape(
            op,
            format!(
                "{} values are {got} planes of {h}x{w}, expected {channels}",
                maps.len()
            ),
        ));
    }
    let (tw, th) = (scaled_side(op, w, scale)?, scaled_side(op, h, scale)?);
    let c = cols.min(channels);
    let r = channels.div_ceil(c);
    let grid_w = c * tw + (c + 1) * GAP;
    let title_w = text_width(title, TITLE_PX)?.ceil() as usize + 16;
    let width = grid_w.max(title_w);
    let height = TITLE_H + r * th + (r + 1) * GAP;
    let mut canvas = Canvas::new(op, width, height, WHITE)?;
    let size = fit_text(title, TITLE_PX, 8.0, width as f32 - 8.0)?.unwrap_or(8.0);
    let ty = ((TITLE_H as f32 - line_height(size)?) / 2.0).round();
    canvas.text_centred(width as f32 / 2.0, ty, size, title, TEXT)?;
    let x0 = (width - grid_w) / 2;
    let mut norm = vec![0.0f32; h * w];
    for (k, m) in maps.chunks_exact(h * w).enumerate() {
        let lo = m.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for (o, &v) in norm.iter_mut().zip(m) {
            *o = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
        }
        let x = x0 + GAP + (k % c) * (tw + GAP);
        let y = TITLE_H + GAP + (k / c) * (th + GAP);
        canvas.blit(&norm, plane, x as i64, y as i64, tw, th);
    }
    canvas.save(path)
}
