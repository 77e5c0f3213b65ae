//! Grid sizing: the grids a span asks for.

use crate::common::gpu;
use latentviz::tsne::fft::grid;
use latentviz::tsne::fft::transform;
use latentviz::tsne::fft::{self, FftRepulsion};

#[test]
fn span_hint_picks_fft_friendly_grids() {
    // Radix plans: the fewest passes of radices <= 64, the most even split.
    assert_eq!(transform::radices(2048), Some(vec![64, 32]));
    assert_eq!(transform::radices(1080), Some(vec![36, 30]));
    assert_eq!(transform::radices(1200), Some(vec![40, 30]));
    assert_eq!(transform::radices(64), Some(vec![64]));
    assert_eq!(transform::radices(7), None);
    // The least work (len^2 * passes) among lengths of factors 2, 3, 5 at or above the need.
    assert_eq!(grid::fft_len_for(1068, 2048), 1080);
    assert_eq!(grid::fft_len_for(1100, 2048), 1125);
    assert_eq!(grid::fft_len_for(3000, 2048), 2048);
    assert_eq!(grid::fft_len_for(3000, 2047), 2025);
    // At least 8 intervals, sqrt(n / 16) and 0.2 intervals per unit of span; 8 intervals <= len.
    assert_eq!(grid::grid_for(10, 0.0), (64, 8));
    assert_eq!(grid::grid_for(10, 60.0), (96, 12));
    assert_eq!(grid::grid_for(10, f32::NAN), (64, 8));
    assert_eq!(grid::grid_for(10, 1e6), (2048, 256));
    assert_eq!(grid::grid_for(14_400, 0.0), (240, 30));
    assert_eq!(grid::grid_for(16 * 50 * 50, 0.0), (400, 50));
    for n in [10usize, 1_000, 10_000, 70_000, 1_000_000] {
        for span in [0.0f32, 7.0, 33.3, 61.0, 99.0, 140.0, 300.0, 500.0, 2000.0] {
            let (len, intervals) = grid::grid_for(n, span);
            assert!(transform::radices(len).is_some() && 8 * intervals <= len);
            assert!(intervals >= 8 && 16 * intervals * intervals >= n.min(16 * 256 * 256));
            assert!(
                intervals as f32 >= 0.2 * span || len == 2048,
                "n {n} span {span}: {intervals} intervals"
            );
            let (smaller, _) = grid::grid_for(n, span * 0.8);
            assert!(smaller <= len);
        }
    }
    // Measured: the cheapest of plain interpolation (width <= 0.7) and the near-field grids
    // (boxes wider than 0.8, holding at most about NEAR_TARGET = 1536 points in the busiest
    // neighbourhood), by len^2 + PAIR_COST (0.0015) * pairs.
    let measured = |span, width, max_near, pairs| {
        grid::grid_for_measured(
            fft::Measured {
                span,
                width,
                max_near,
                pairs,
            },
            2048,
        )
    };
    // Wide and sparse (a late 10,000-point MNIST embedding): few pairs, so the widest boxes
    // (4.7 * sqrt(1536 / 300) = 10.6 units: 18 intervals), no floor per unit of span.
    assert_eq!(measured(187.0, 4.7, 300, 2_000_000), (144, 18));
    // Wide and crowded (70,000 points, iteration 700): the widest boxes (31 intervals) would
    // cost 256^2 + 0.0015 * 70 M pairs; 36 intervals cost less (288^2 + 0.0015 * 52 M).
    assert_eq!(measured(155.4, 4.75, 1364, 62_829_056), (288, 36));
    // Denser: narrower boxes for about 1536 points per neighbourhood (6144 at width 2 -> 1).
    let (_, intervals) = measured(100.0, 2.0, 6144, 1_000_000);
    assert!((100..=110).contains(&intervals), "{intervals}");
    // Small and dense (70,000 points early on): plain interpolation, width <= 0.7.
    let (_, intervals) = measured(26.4, 0.81, 4000, 70_000_000);
    assert!(26.4 / intervals as f32 <= 0.7, "{intervals}");
    // Wide and dense: plain would need a grid past the longest FFT, so the near field.
    let (len, intervals) = measured(400.0, 2.0, 6144, 100_000_000);
    assert!(
        400.0 / intervals as f32 > 0.8 && len <= 2048,
        "{len} {intervals}"
    );
    // Nothing measured: the span alone (at least 8, 0.2 per unit).
    assert_eq!(measured(100.0, 0.0, 0, 0), (160, 20));
    assert_eq!(measured(f32::NAN, f32::NAN, 100, 100), (64, 8));
    let gpu = gpu();
    let mut rep = FftRepulsion::new(gpu, 10, 2).unwrap();
    assert_eq!((rep.fft_len(), rep.intervals()), (64, 8));
    assert_eq!(rep.min_width(), 0.0);
    // Nothing has run, so nothing is measured: `refresh` keeps the grid.
    assert!(!rep.refresh(gpu).unwrap());
    assert_eq!((rep.fft_len(), rep.intervals()), (64, 8));
    assert!(!rep.set_span_hint(gpu, 40.0).unwrap());
    // The width floor: 10% slack over span / intervals.
    assert!((rep.min_width() - 1.1 * 40.0 / 8.0).abs() < 1e-6);
    assert!(rep.set_span_hint(gpu, 250.0).unwrap());
    assert_eq!((rep.fft_len(), rep.intervals()), (400, 50));
    // Hysteresis: 265 wants 53 intervals; 50 are within 10% and the length is not oversized,
    // so the grid stays, with the floor 10% over 265 / 50.
    assert!(!rep.set_span_hint(gpu, 265.0).unwrap());
    assert_eq!((rep.fft_len(), rep.intervals()), (400, 50));
    assert!((rep.min_width() - 1.1 * 265.0 / 50.0).abs() < 1e-5);
    // 125 wants 25 intervals: the current length is too long.
    assert!(rep.set_span_hint(gpu, 125.0).unwrap());
    assert_eq!((rep.fft_len(), rep.intervals()), (200, 25));
    assert!(rep.set_span_hint(gpu, 500.0).unwrap());
    assert_eq!(rep.intervals(), 100);
    // A cap shrinks the grid now and bounds later hints.
    assert!(rep.set_max_fft_len(gpu, 512).unwrap());
    assert_eq!(rep.fft_len(), 512);
    assert!(!rep.set_span_hint(gpu, 750.0).unwrap());
    assert!(rep.set_max_fft_len(gpu, 7).is_err());
    assert!(rep.set_max_fft_len(gpu, 4096).is_err());
    assert!(!rep.set_max_fft_len(gpu, 2048).unwrap());
    assert!(rep.set_span_hint(gpu, 750.0).unwrap());
    assert_eq!((rep.fft_len(), rep.intervals()), grid::grid_for(10, 750.0));
    // A cap that is no FFT length: the longest length below it.
    assert!(rep.set_max_fft_len(gpu, 1000).unwrap());
    assert_eq!(rep.fft_len(), 1000);
    assert!(rep.set_max_fft_len(gpu, 999).unwrap());
    assert_eq!(rep.fft_len(), 972);
}
