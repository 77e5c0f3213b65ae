//! Per-epoch loss curves: train and test loss against epoch, with axes, ticks and a legend.

use std::path::Path;

use super::TAB10;
use super::canvas::{BLACK, Canvas, LIGHT_GREY, TEXT, WHITE, line_height, text_width};
use crate::error::{Error, Result};

/// Size of the loss-curve PNG.
pub const CURVES_W: usize = 720;
pub const CURVES_H: usize = 440;
const LEFT: f32 = 76.0;
const RIGHT: f32 = 24.0;
const TOP: f32 = 44.0;
const BOTTOM: f32 = 54.0;
const TICK_PX: f32 = 12.0;

/// A "nice" step (1, 2 or 5 times a power of ten) near `raw`.
fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let n = if f < 1.5 {
        1.0
    } else if f < 3.5 {
        2.0
    } else if f < 7.5 {
        5.0
    } else {
        10.0
    };
    n * mag
}

/// Tick values from `lo` to `hi` at multiples of `step`.
fn ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

fn tick_label(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    if v != 0.0 && (decimals > 5 || v.abs() >= 1e6) {
        format!("{v:.1e}")
    } else {
        format!("{v:.decimals$}")
    }
}

/// Train loss (tab10 blue) and test loss (tab10 orange) per epoch, epoch 1 first, on a white
/// `CURVES_W` x `CURVES_H` PNG with the title on top, a y axis fitted to the data (linear, nice
/// 1-2-5 ticks, light grid lines), integer epoch ticks and a legend in the corner of the plot it hides least of (upper
/// right when free). Either
/// list may be empty (that curve and its legend entry are left out), not both; the lists may
/// differ in length.
pub fn loss_curves(train: &[f64], test: &[f64], title: &str, path: &Path) -> Result<()> {
    let op = "loss_curves";
    if train.is_empty() && test.is_empty() {
        return Err(Error::InvalidArgument(format!("{op}: no losses given")));
    }
    for (name, s) in [("train", train), ("test", test)] {
        if let Some(i) = s.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "{op}: {name} loss at epoch {} is {}",
                i + 1,
                s[i]
            )));
        }
    }
    let epochs = train.len().max(test.len());
    let (w, h) = (CURVES_W as f32, CURVES_H as f32);
    let mut canvas = Canvas::new(op, CURVES_W, CURVES_H, WHITE)?;
    let (px0, px1, py0, py1) = (LEFT, w - RIGHT, TOP, h - BOTTOM);

    // Data ranges, padded so that markers do not sit on the frame.
    let all = train.iter().chain(test).copied();
    let lo = all.clone().fold(f64::INFINITY, f64::min);
    let hi = all.fold(f64::NEG_INFINITY, f64::max);
    let pad = if hi > lo {
        0.06 * (hi - lo)
    } else {
        (hi.abs() * 0.1).max(1e-3)
    };
    let (ylo, yhi) = (lo - pad, hi + pad);
    let xpad = if epochs > 1 {
        0.03 * (epochs - 1) as f64
    } else {
        0.5
    };
    let (xlo, xhi) = (1.0 - xpad, epochs as f64 + xpad);
    let sx = |e: f64| px0 + ((e - xlo) / (xhi - xlo)) as f32 * (px1 - px0);
    let sy = |v: f64| py1 - ((v - ylo) / (yhi - ylo)) as f32 * (py1 - py0);

    // Title.
    let th = line_height(16.0)?;
    canvas.text_centred(w / 2.0, ((TOP - th) / 2.0).round(), 16.0, title, TEXT)?;

    // Y grid, ticks and labels.
    let lh = line_height(TICK_PX)?;
    let ystep = nice_step((yhi - ylo) / 5.0);
    for v in ticks(ylo, yhi, ystep) {
        let y = sy(v).round() + 0.5;
        canvas.line((px0, y), (px1, y), 1.0, LIGHT_GREY);
        canvas.line((px0 - 5.0, y), (px0 + 0.5, y), 1.0, BLACK);
        let label = tick_label(v, ystep);
        let tw = text_width(&label, TICK_PX)?;
        canvas.text(
            (px0 - 8.0 - tw).round(),
            (y - lh / 2.0).round(),
            TICK_PX,
            &label,
            TEXT,
        )?;
    }
    // X ticks at whole epochs.
    let xstep = nice_step((epochs as f64 / 8.0).max(1.0)).max(1.0);
    for e in ticks(1.0, epochs as f64, xstep) {
        let x = sx(e).round() + 0.5;
        canvas.line((x, py1), (x, py1 + 5.0), 1.0, BLACK);
        canvas.text_centred(x, py1 + 7.0, TICK_PX, &format!("{e:.0}"), TEXT)?;
    }
    // Axes and axis names.
    canvas.fill_rect(px0 as i64, py0 as i64, 1, (py1 - py0) as i64 + 1, BLACK);
    canvas.fill_rect(px0 as i64, py1 as i64, (px1 - px0) as i64, 1, BLACK);
    canvas.text_centred((px0 + px1) / 2.0, py1 + 9.0 + lh, 13.0, "epoch", TEXT)?;
    canvas.text(8.0, py0 - lh - 6.0, 13.0, "loss", TEXT)?;

    // Curves.
    let markers = epochs <= 60;
    let series = [("train", train, TAB10[0]), ("test", test, TAB10[1])];
    for (_, s, c) in series {
        let pts: Vec<(f32, f32)> = s
            .iter()
            .enumerate()
            .map(|(i, &v)| (sx(i as f64 + 1.0), sy(v)))
            .collect();
        for p in pts.windows(2) {
            canvas.line(p[0], p[1], 2.0, c);
        }
        if markers || pts.len() == 1 {
            for &(x, y) in &pts {
                canvas.disc(x, y, 3.0, c, 1.0);
            }
        }
    }

    // Legend, upper right.
    let shown: Vec<_> = series.iter().filter(|s| !s.1.is_empty()).collect();
    let entry_h = lh + 6.0;
    let box_w = 30.0 + text_width("train", TICK_PX)? + 18.0;
    let box_h = shown.len() as f32 * entry_h + 8.0;
    // The corner whose box covers the fewest curve pixels, upper right first.
    let corners = [
        (px1 - box_w - 8.0, py0 + 8.0),
        (px1 - box_w - 8.0, py1 - box_h - 8.0),
        (px0 + 8.0, py0 + 8.0),
        (px0 + 8.0, py1 - box_h - 8.0),
    ];
    let covered = |(x, y): (f32, f32)| {
        let mut count = 0;
        for yy in y as usize..(y + box_h) as usize {
            for xx in x as usize..(x + box_w) as usize {
                let p = canvas.get(xx, yy);
                count += usize::from(p != WHITE && p != LIGHT_GREY);
            }
        }
        count
    };
    let (bx, by) = corners
        .into_iter()
        .map(|(x, y)| (x.round(), y.round()))
        .min_by_key(|&c| covered(c))
        .unwrap_or((px1 - box_w - 8.0, py0 + 8.0));
    canvas.fill_rect(bx as i64, by as i64, box_w as i64, box_h as i64, WHITE);
    canvas.outline_rect(bx as i64, by as i64, box_w as i64, box_h as i64, LIGHT_GREY);
    for (k, (name, _, c)) in shown.iter().enumerate() {
        let y = by + 4.0 + k as f32 * entry_h + entry_h / 2.0;
        canvas.line((bx + 8.0, y), (bx + 30.0, y), 2.0, *c);
        canvas.disc(bx + 19.0, y, 3.0, *c, 1.0);
        canvas.text(bx + 36.0, (y - lh / 2.0).round(), TICK_PX, name, TEXT)?;
    }
    canvas.save(path)
}
