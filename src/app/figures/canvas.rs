//! An RGB8 raster with the few drawing primitives the figures need (rectangles, anti-aliased
//! lines and discs, image blits with area resampling, text), and the atomic PNG writer.

use std::path::Path;
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};

use super::ImageShape;
use crate::error::{Error, Result};

/// An 8-bit sRGB colour.
pub type Rgb = [u8; 3];

pub const WHITE: Rgb = [255, 255, 255];
pub const BLACK: Rgb = [0, 0, 0];
pub const TEXT: Rgb = [20, 20, 20];
pub const LIGHT_GREY: Rgb = [225, 225, 225];
pub const MID_GREY: Rgb = [150, 150, 150];

/// The largest canvas side we agree to allocate (a typo'd size should not ask for gigabytes).
pub const MAX_SIDE: usize = 16_384;

/// DejaVu Sans (Bitstream Vera licence, see assets/DejaVuSans-LICENSE.txt), embedded so that text
/// renders identically on every machine with no system fonts.
static FONT_BYTES: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");

fn font() -> Result<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).ok())
        .as_ref()
        .ok_or_else(|| Error::bad_data("assets/DejaVuSans.ttf", "embedded font does not parse"))
}

/// Width in pixels of `text` set at `size` px.
pub fn text_width(text: &str, size: f32) -> Result<f32> {
    let f = font()?.as_scaled(PxScale::from(size));
    let mut w = 0.0;
    let mut prev = None;
    for ch in text.chars() {
        let id = f.glyph_id(ch);
        if let Some(p) = prev {
            w += f.kern(p, id);
        }
        w += f.h_advance(id);
        prev = Some(id);
    }
    Ok(w)
}

/// Height of a line of text at `size` px (ascent - descent).
pub fn line_height(size: f32) -> Result<f32> {
    let f = font()?.as_scaled(PxScale::from(size));
    Ok(f.ascent() - f.descent())
}

/// The largest size <= `size` (and >= `min`) at which `text` fits in `width` px, if any.
pub fn fit_text(text: &str, size: f32, min: f32, width: f32) -> Result<Option<f32>> {
    let w = text_width(text, size)?;
    if w <= width {
        return Ok(Some(size));
    }
    let s = size * width / w;
    Ok((s >= min).then_some(s.floor()))
}

#[derive(Clone, Debug)]
pub struct Canvas {
    pub w: usize,
    pub h: usize,
    pub px: Vec<u8>,
}

impl Canvas {
    pub fn new(op: &str, w: usize, h: usize, bg: Rgb) -> Result<Canvas> {
        if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
            return Err(Error::InvalidArgument(format!(
                "{op}: figure would be {w}x{h} px; each side must be in 1..={MAX_SIDE}"
            )));
        }
        let mut px = vec![0u8; w * h * 3];
        for p in px.chunks_exact_mut(3) {
            p.copy_from_slice(&bg);
        }
        Ok(Canvas { w, h, px })
    }

    /// The colour at (x, y); white outside the canvas.
    pub fn get(&self, x: usize, y: usize) -> Rgb {
        if x >= self.w || y >= self.h {
            return WHITE;
        }
        let i = (y * self.w + x) * 3;
        [self.px[i], self.px[i + 1], self.px[i + 2]]
    }

    fn index(&self, x: i64, y: i64) -> Option<usize> {
        (x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h)
            .then(|| (y as usize * self.w + x as usize) * 3)
    }

    pub fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if let Some(i) = self.index(x, y) {
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    /// Paint `c` over the pixel with opacity `alpha` in [0, 1].
    pub fn blend(&mut self, x: i64, y: i64, c: Rgb, alpha: f32) {
        let a = alpha.clamp(0.0, 1.0);
        if a <= 0.0 {
            return;
        }
        if let Some(i) = self.index(x, y) {
            for (dst, &src) in self.px[i..i + 3].iter_mut().zip(&c) {
                let old = *dst as f32;
                *dst = (old + (src as f32 - old) * a).round() as u8;
            }
        }
    }

    pub fn fill_rect(&mut self, x0: i64, y0: i64, w: i64, h: i64, c: Rgb) {
        for y in y0.max(0)..(y0 + h).min(self.h as i64) {
            for x in x0.max(0)..(x0 + w).min(self.w as i64) {
                self.set(x, y, c);
            }
        }
    }

    /// A one-pixel rectangle outline.
    pub fn outline_rect(&mut self, x0: i64, y0: i64, w: i64, h: i64, c: Rgb) {
        self.fill_rect(x0, y0, w, 1, c);
        self.fill_rect(x0, y0 + h - 1, w, 1, c);
        self.fill_rect(x0, y0, 1, h, c);
        self.fill_rect(x0 + w - 1, y0, 1, h, c);
    }

    /// An anti-aliased filled disc, drawn with opacity `alpha`.
    pub fn disc(&mut self, cx: f32, cy: f32, r: f32, c: Rgb, alpha: f32) {
        let (x0, x1) = ((cx - r - 1.0).floor() as i64, (cx + r + 1.0).ceil() as i64);
        let (y0, y1) = ((cy - r - 1.0).floor() as i64, (cy + r + 1.0).ceil() as i64);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                let cover = (r + 0.5 - d).clamp(0.0, 1.0);
                self.blend(x, y, c, cover * alpha);
            }
        }
    }

    /// An anti-aliased line segment of the given width (pixel coverage from the distance of each
    /// pixel centre to the segment).
    pub fn line(&mut self, a: (f32, f32), b: (f32, f32), width: f32, c: Rgb) {
        let half = width / 2.0;
        let (x0, x1) = (a.0.min(b.0) - half - 1.0, a.0.max(b.0) + half + 1.0);
        let (y0, y1) = (a.1.min(b.1) - half - 1.0, a.1.max(b.1) + half + 1.0);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        for y in y0.floor() as i64..=y1.ceil() as i64 {
            for x in x0.floor() as i64..=x1.ceil() as i64 {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let t = if len2 > 0.0 {
                    (((px - a.0) * dx + (py - a.1) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let d = ((px - a.0 - t * dx).powi(2) + (py - a.1 - t * dy).powi(2)).sqrt();
                let cover = (half + 0.5 - d).clamp(0.0, 1.0);
                self.blend(x, y, c, cover);
            }
        }
    }

    /// Draw `text` with its top-left corner at (x, y); returns the advance width.
    pub fn text(&mut self, x: f32, y: f32, size: f32, text: &str, c: Rgb) -> Result<f32> {
        let f = font()?.as_scaled(PxScale::from(size));
        let baseline = y + f.ascent();
        let mut caret = x;
        let mut prev = None;
        for ch in text.chars() {
            let id = f.glyph_id(ch);
            if let Some(p) = prev {
                caret += f.kern(p, id);
            }
            let glyph = id.with_scale_and_position(size, ab_glyph::point(caret, baseline));
            caret += f.h_advance(id);
            prev = Some(id);
            if let Some(outlined) = f.outline_glyph(glyph) {
                let bounds = outlined.px_bounds();
                outlined.draw(|gx, gy, cover| {
                    self.blend(
                        bounds.min.x as i64 + gx as i64,
                        bounds.min.y as i64 + gy as i64,
                        c,
                        cover,
                    );
                });
            }
        }
        Ok(caret - x)
    }

    /// Draw `text` horizontally centred on `cx`, top at `y`.
    pub fn text_centred(&mut self, cx: f32, y: f32, size: f32, text: &str, c: Rgb) -> Result<()> {
        let w = text_width(text, size)?;
        self.text((cx - w / 2.0).round(), y, size, text, c)?;
        Ok(())
    }

    /// Draw one image (CHW, values in [0, 1]) resampled to `out_w` x `out_h` px at (x0, y0),
    /// opaque: grey images as grey, RGB images as colour.
    pub fn blit(
        &mut self,
        img: &[f32],
        shape: ImageShape,
        x0: i64,
        y0: i64,
        out_w: usize,
        out_h: usize,
    ) {
        let planes = resample(img, shape, out_w, out_h);
        let plane = out_w * out_h;
        for y in 0..out_h {
            for x in 0..out_w {
                let i = y * out_w + x;
                let c = if shape.channels == 1 {
                    let v = to_u8(planes[i]);
                    [v, v, v]
                } else {
                    [
                        to_u8(planes[i]),
                        to_u8(planes[plane + i]),
                        to_u8(planes[2 * plane + i]),
                    ]
                };
                self.set(x0 + x as i64, y0 + y as i64, c);
            }
        }
    }

    /// Draw one grey image as ink of colour `tint` whose opacity is the pixel value: value 1 paints
    /// `tint`, value 0 leaves what is underneath.
    #[allow(clippy::too_many_arguments)]
    pub fn blit_ink(
        &mut self,
        img: &[f32],
        shape: ImageShape,
        x0: i64,
        y0: i64,
        out_w: usize,
        out_h: usize,
        tint: Rgb,
    ) {
        let plane = resample(img, shape, out_w, out_h);
        for y in 0..out_h {
            for x in 0..out_w {
                self.blend(x0 + x as i64, y0 + y as i64, tint, plane[y * out_w + x]);
            }
        }
    }

    /// Write the canvas as a PNG atomically (`io::write_bytes_atomic`): on any error `path` is
    /// left as it was.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut png = Vec::new();
        {
            use image::ImageEncoder;
            let enc = image::codecs::png::PngEncoder::new(&mut png);
            enc.write_image(
                &self.px,
                self.w as u32,
                self.h as u32,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
        }
        crate::io::write_bytes_atomic(path, &png)
    }
}

fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Area resampling of each channel of a CHW image to `out_w` x `out_h`: every output pixel is the
/// average of the source area it covers (exact nearest-pixel copies for integer upscaling).
pub fn resample(img: &[f32], shape: ImageShape, out_w: usize, out_h: usize) -> Vec<f32> {
    let (h, w) = (shape.height, shape.width);
    let wx = weights(w, out_w);
    let wy = weights(h, out_h);
    let mut out = vec![0.0f32; shape.channels * out_w * out_h];
    let mut rows = vec![0.0f32; h * out_w];
    for c in 0..shape.channels {
        let src = &img[c * h * w..(c + 1) * h * w];
        // Along x.
        for y in 0..h {
            for (ox, taps) in wx.iter().enumerate() {
                rows[y * out_w + ox] = taps.iter().map(|&(i, wt)| src[y * w + i] * wt).sum();
            }
        }
        // Along y.
        let dst = &mut out[c * out_w * out_h..(c + 1) * out_w * out_h];
        for (oy, taps) in wy.iter().enumerate() {
            for ox in 0..out_w {
                dst[oy * out_w + ox] = taps.iter().map(|&(i, wt)| rows[i * out_w + ox] * wt).sum();
            }
        }
    }
    out
}

/// For each of `m` output pixels, the source pixels (of `n`) it overlaps and their weights.
fn weights(n: usize, m: usize) -> Vec<Vec<(usize, f32)>> {
    let s = n as f64 / m as f64;
    (0..m)
        .map(|o| {
            let (a, b) = (o as f64 * s, (o + 1) as f64 * s);
            let mut taps = Vec::new();
            let mut i = a.floor() as usize;
            while (i as f64) < b && i < n {
                let overlap = (b.min(i as f64 + 1.0) - a.max(i as f64)).max(0.0);
                if overlap > 1e-9 {
                    taps.push((i, (overlap / s) as f32));
                }
                i += 1;
            }
            taps
        })
        .collect()
}
