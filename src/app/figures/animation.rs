//! The t-SNE optimization as an animated GIF: one frame per snapshot, drawn straight in palette
//! indices (white, the ten label colours, grey for unlabelled points, a ramp for the caption),
//! so no frame is colour-quantised. Each frame is fitted to its own points, so the early frames
//! (a small cloud) fill the picture as the late ones do.

use std::path::Path;

use super::canvas::{Canvas, TEXT, WHITE};
use super::{TAB10, check_embedding, check_labels};
use crate::error::{Error, Result};

/// Palette index of the background.
pub const BG: u8 = 0;
/// Palette index of label `d`'s colour is `LABEL0 + d`.
pub const LABEL0: u8 = 1;
/// Palette index of points without a label.
pub const UNLABELLED: u8 = 11;
/// Palette indices `RAMP0..RAMP0 + RAMP_LEVELS` blend from white to the caption colour.
const RAMP0: u8 = 12;
const RAMP_LEVELS: u8 = 8;
/// Colour of points without a label.
const POINT_GREY: [u8; 3] = [90, 90, 90];
/// Height of the caption band at the top of every frame.
const CAPTION_H: usize = 24;
const CAPTION_PX: f32 = 15.0;
/// Free pixels around the points.
const MARGIN: f32 = 8.0;

/// The GIF's global palette, 32 RGB entries (indices above are unused, white).
pub fn palette() -> Vec<u8> {
    let mut p = [[255u8; 3]; 32];
    p[BG as usize] = WHITE;
    for (d, c) in TAB10.iter().enumerate() {
        p[LABEL0 as usize + d] = *c;
    }
    p[UNLABELLED as usize] = POINT_GREY;
    for k in 0..RAMP_LEVELS {
        p[(RAMP0 + k) as usize] = ramp(k);
    }
    p.concat()
}

/// Ramp level k: white blended towards the caption colour by (k + 1) / RAMP_LEVELS.
fn ramp(k: u8) -> [u8; 3] {
    let a = (k + 1) as f32 / RAMP_LEVELS as f32;
    [0, 1, 2].map(|i| (WHITE[i] as f32 + (TEXT[i] as f32 - WHITE[i] as f32) * a).round() as u8)
}

/// One frame: n × 2 positions and the caption above them.
pub struct AnimationFrame<'a> {
    pub positions: &'a [f32],
    pub caption: String,
}

/// Writes the frames as a looping GIF of `size` × `size` px, `delay_cs` hundredths of a second a
/// frame (the last one held four times as long). Points are coloured by `labels` (digits 0-9)
/// or grey without. Nothing is written unless every frame is valid.
pub fn animation(
    frames: &[AnimationFrame<'_>],
    labels: Option<&[u8]>,
    size: usize,
    delay_cs: u16,
    path: &Path,
) -> Result<()> {
    const OP: &str = "animation";
    let Some(first) = frames.first() else {
        return Err(Error::InvalidArgument(format!("{OP}: no frames given")));
    };
    let n = check_embedding(OP, first.positions)?;
    for (i, f) in frames.iter().enumerate() {
        let m = check_embedding(OP, f.positions)?;
        if m != n {
            return Err(Error::shape(
                OP,
                format!("frame {i} has {m} points, frame 0 has {n}"),
            ));
        }
    }
    if let Some(l) = labels {
        check_labels(OP, l, n)?;
    }
    if !(CAPTION_H + 2 * MARGIN as usize + 16..=u16::MAX as usize).contains(&size) {
        return Err(Error::InvalidArgument(format!(
            "{OP}: a side of {size} px is outside {}..={}",
            CAPTION_H + 2 * MARGIN as usize + 16,
            u16::MAX
        )));
    }
    if delay_cs == 0 {
        return Err(Error::InvalidArgument(format!(
            "{OP}: the frame delay must be at least 1 (hundredth of a second)"
        )));
    }
    // A disc of about a quarter of the spacing of n points spread over the frame.
    let radius = (size as f32 / (n as f32).sqrt() * 0.25).clamp(0.8, 4.0);
    let colour = |i: usize| labels.map_or(UNLABELLED, |l| LABEL0 + l[i]);
    let mut indexed = Vec::with_capacity(frames.len());
    for f in frames {
        let mut px = vec![BG; size * size];
        caption(&mut px, size, &f.caption)?;
        let area = super::Rect {
            x: 0.0,
            y: CAPTION_H as f32,
            w: size as f32,
            h: (size - CAPTION_H) as f32,
        };
        for (i, &(x, y)) in super::layout(f.positions, area, MARGIN)?.iter().enumerate() {
            disc(&mut px, size, x, y, radius, colour(i));
        }
        indexed.push(px);
    }

    let side = size as u16;
    crate::io::write_atomic(path, |w| {
        let gif_err = |e: gif::EncodingError| Error::io(path, std::io::Error::other(e));
        let mut enc = gif::Encoder::new(w, side, side, &palette()).map_err(gif_err)?;
        enc.set_repeat(gif::Repeat::Infinite).map_err(gif_err)?;
        let last = indexed.len() - 1;
        for (k, px) in indexed.into_iter().enumerate() {
            let mut frame = gif::Frame::from_indexed_pixels(side, side, px, None);
            frame.delay = if k == last {
                delay_cs.saturating_mul(4)
            } else {
                delay_cs
            };
            enc.write_frame(&frame).map_err(gif_err)?;
        }
        // Writes the trailer; dropping the encoder would do it too but lose its error.
        enc.into_inner().map_err(gif_err)?;
        Ok(())
    })
}

/// A hard-edged disc: every pixel whose centre lies within `r` of (cx, cy), at least the one
/// under the centre.
fn disc(px: &mut [u8], size: usize, cx: f32, cy: f32, r: f32, c: u8) {
    let (x0, x1) = ((cx - r).floor() as i64, (cx + r).ceil() as i64);
    let (y0, y1) = ((cy - r).floor() as i64, (cy + r).ceil() as i64);
    let mut set = |x: i64, y: i64| {
        if (0..size as i64).contains(&x) && (0..size as i64).contains(&y) {
            px[y as usize * size + x as usize] = c;
        }
    };
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            if dx * dx + dy * dy <= r * r {
                set(x, y);
            }
        }
    }
    set(cx.floor() as i64, cy.floor() as i64);
}

/// The caption, centred in the top band: drawn anti-aliased on white, each pixel then mapped to
/// its step of the white-to-text ramp.
fn caption(px: &mut [u8], size: usize, text: &str) -> Result<()> {
    let mut band = Canvas::new("animation caption", size, CAPTION_H, WHITE)?;
    band.text_centred(size as f32 / 2.0, 4.0, CAPTION_PX, text, TEXT)?;
    let span = WHITE[0] as f32 - TEXT[0] as f32;
    for y in 0..CAPTION_H {
        for x in 0..size {
            let a = (WHITE[0] as f32 - band.get(x, y)[0] as f32) / span;
            let k = (a * RAMP_LEVELS as f32).round() as i32 - 1;
            if k >= 0 {
                px[y * size + x] = RAMP0 + (k as u8).min(RAMP_LEVELS - 1);
            }
        }
    }
    Ok(())
}
