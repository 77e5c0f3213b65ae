//! Figures: every function writes a PNG of the documented size whose pixels are where they should
//! be; the grid assignments are exact; bad input fails with a clear error and writes nothing.

mod animation;

use std::path::{Path, PathBuf};

use latentviz::Error;
use latentviz::app::figures::*;
use latentviz::rng::Rng;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn load(path: &Path) -> image::RgbImage {
    image::open(path).expect("PNG readable").to_rgb8()
}

fn px(img: &image::RgbImage, x: f32, y: f32) -> [u8; 3] {
    img.get_pixel(x as u32, y as u32).0
}

/// Number of pixels that are neither white nor `bg`, i.e. something was drawn.
fn inked(img: &image::RgbImage) -> usize {
    img.pixels().filter(|p| p.0 != [255, 255, 255]).count()
}

/// Files in `dir` (to check that failures leave nothing behind).
fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

fn grey(v: f32) -> [u8; 3] {
    let b = (v * 255.0).round() as u8;
    [b, b, b]
}

/// `n` grey images of shape h x w, image i filled with the constant (i + 1) / (n + 1).
fn constant_images(n: usize, h: usize, w: usize) -> Vec<f32> {
    (0..n)
        .flat_map(|i| std::iter::repeat_n((i + 1) as f32 / (n + 1) as f32, h * w))
        .collect()
}

#[test]
fn image_grid_places_tiles_row_major() {
    let dir = tmp();
    let path = dir.path().join("grid.png");
    let (h, w, scale) = (4, 5, 3);
    let images = constant_images(3, h, w);
    image_grid(&images, ImageShape::grey(h, w), 2, scale, &path).unwrap();
    let img = load(&path);
    let (tw, th) = (w * scale, h * scale);
    assert_eq!(
        img.dimensions(),
        ((2 * tw + 3 * GAP) as u32, (2 * th + 3 * GAP) as u32)
    );
    for i in 0..3 {
        let x = GAP + (i % 2) * (tw + GAP) + tw / 2;
        let y = GAP + (i / 2) * (th + GAP) + th / 2;
        assert_eq!(
            px(&img, x as f32, y as f32),
            grey((i + 1) as f32 / 4.0),
            "tile {i}"
        );
    }
    // The fourth cell is empty, gaps are white.
    let empty = (GAP + tw + GAP + tw / 2, GAP + th + GAP + th / 2);
    assert_eq!(px(&img, empty.0 as f32, empty.1 as f32), [255, 255, 255]);
    assert_eq!(px(&img, 0.0, 0.0), [255, 255, 255]);
    assert!(
        files(dir.path()).len() == 1,
        "no temporary file left: {:?}",
        files(dir.path())
    );

    // RGB planar: a pure red image stays red; an out-of-range value is clamped.
    let rgb: Vec<f32> = [vec![1.5; 4], vec![0.0; 4], vec![-1.0; 4]].concat();
    let path = dir.path().join("rgb.png");
    image_grid(&rgb, ImageShape::rgb(2, 2), 4, 1, &path).unwrap();
    let img = load(&path);
    assert_eq!(img.dimensions(), (2 + 2 * GAP as u32, 2 + 2 * GAP as u32));
    assert_eq!(px(&img, GAP as f32, GAP as f32), [255, 0, 0]);
}

#[test]
fn pairs_grid_puts_reconstruction_right_of_original() {
    let dir = tmp();
    let path = dir.path().join("pairs.png");
    let (h, w, scale) = (6, 4, 2);
    let orig = constant_images(3, h, w);
    let recon: Vec<f32> = orig.iter().map(|v| 1.0 - v).collect();
    pairs_grid(&orig, &recon, ImageShape::grey(h, w), 2, scale, &path).unwrap();
    let img = load(&path);
    let (tw, th) = (w * scale, h * scale);
    let header = pairs_header_height();
    // 3 pairs in 2 rows: 2 pair columns.
    let width = 2 * GAP + 2 * (2 * tw + GAP) + 8;
    assert_eq!(
        img.dimensions(),
        (width as u32, (header + 2 * th + 3 * GAP) as u32)
    );
    for i in 0..3 {
        let x = GAP + (i / 2) * (2 * tw + GAP + 8);
        let y = header + GAP + (i % 2) * (th + GAP) + th / 2;
        let v = (i + 1) as f32 / 4.0;
        assert_eq!(
            px(&img, (x + tw / 2) as f32, y as f32),
            grey(v),
            "original {i}"
        );
        assert_eq!(
            px(&img, (x + tw + GAP + tw / 2) as f32, y as f32),
            grey(1.0 - v),
            "recon {i}"
        );
    }
}

#[test]
fn rows_strip_mixes_grey_and_rgb_with_captions() {
    let dir = tmp();
    let path = dir.path().join("strip.png");
    let g = vec![1.0f32; 8 * 8];
    let red: Vec<f32> = [vec![1.0; 64], vec![0.0; 64], vec![0.0; 64]].concat();
    let small = vec![0.0f32; 4 * 4];
    let row0 = vec![
        ImageRef {
            pixels: &g,
            shape: ImageShape::grey(8, 8),
        },
        ImageRef {
            pixels: &red,
            shape: ImageShape::rgb(8, 8),
        },
        ImageRef {
            pixels: &small,
            shape: ImageShape::grey(4, 4),
        },
    ];
    let row1 = ImageRef::split(&g, ImageShape::grey(8, 8)).unwrap();
    rows_strip(
        &[row0.clone(), row1],
        3,
        Some(&["input", "B"]),
        Some(&["A", "A+B", "A+B−C"]),
        &path,
    )
    .unwrap();
    let img = load(&path);
    let (w, h) = img.dimensions();
    // Captions take room on the left and on top; the cells are 24 px.
    assert!(
        w as usize > 3 * 24 + 4 * GAP + 20 && h as usize > 2 * 24 + 3 * GAP + 10,
        "{w}x{h}"
    );
    let right = w as f32 - GAP as f32 - 1.0;
    let bottom = h as f32 - GAP as f32 - 1.0;
    // Last column of row 0: a 12 px black image centred in a 24 px cell.
    let (cx, cy) = (right - 12.0, bottom - 24.0 - GAP as f32 - 12.0);
    assert_eq!(px(&img, cx, cy), [0, 0, 0]);
    // Middle column of row 0 is red; the first cell of row 1 is white image content.
    assert_eq!(px(&img, cx - 24.0 - GAP as f32, cy), [255, 0, 0]);
    // Text was drawn: dark pixels left of the first cell and above the cells.
    let left_ink = (0..w.min(30))
        .flat_map(|x| (0..h).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128)
        .count();
    assert!(left_ink > 10, "row captions drawn ({left_ink} dark pixels)");

    // Wrong caption counts are shape errors.
    let err = rows_strip(
        &[row0],
        3,
        Some(&["a", "b"]),
        None,
        &dir.path().join("x.png"),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(!dir.path().join("x.png").exists());
}

#[test]
fn layout_keeps_aspect_and_points_up() {
    let area = Rect {
        x: 10.0,
        y: 20.0,
        w: 200.0,
        h: 100.0,
    };
    // x spans 4, y spans 1: x limits the scale to (200 - 2*5) / 4.
    let emb = [0.0, 0.0, 4.0, 1.0, 2.0, 0.5];
    let p = layout(&emb, area, 5.0).unwrap();
    let s = 190.0 / 4.0;
    assert!((p[0].0 - 15.0).abs() < 1e-4 && (p[1].0 - 205.0).abs() < 1e-4);
    // Same scale on y, centred, y up: point 1 is above point 0 by s.
    assert!(((p[0].1 - p[1].1) - s).abs() < 1e-4);
    assert!(
        (p[2].0 - 110.0).abs() < 1e-4 && (p[2].1 - 70.0).abs() < 1e-4,
        "{:?}",
        p[2]
    );
    // One point sits in the middle.
    let p = layout(&[3.0, -7.0], area, 5.0).unwrap();
    assert_eq!(p, vec![(110.0, 70.0)]);
    // No room left is an error, not a panic.
    assert!(layout(&emb, area, 60.0).is_err());
}

#[test]
fn image_scatter_draws_tinted_thumbnails_at_scaled_coordinates() {
    let dir = tmp();
    let path = dir.path().join("iscatter.png");
    let (canvas, thumb) = (300, 20);
    let emb = [0.0, 0.0, 10.0, 0.0, 5.0, 8.0, 2.0, 6.0];
    let labels = [3u8, 7, 0, 9];
    // Grey images: all-ones strokes, so each thumbnail is a solid square of its digit colour.
    let images = vec![1.0f32; 4 * 28 * 28];
    image_scatter(
        &emb,
        &images,
        ImageShape::grey(28, 28),
        Some(&labels),
        canvas,
        thumb,
        "N=4, KL 0.5",
        &path,
    )
    .unwrap();
    let img = load(&path);
    assert_eq!(img.dimensions(), (canvas as u32, canvas as u32));
    let pos = layout(&emb, scatter_area(canvas, false), thumb as f32 / 2.0 + 2.0).unwrap();
    for (i, &(x, y)) in pos.iter().enumerate() {
        let want = TAB10[labels[i] as usize];
        assert_eq!(px(&img, x, y), want, "centre of point {i}");
        assert_eq!(px(&img, x - 8.0, y + 8.0), want, "inside thumbnail {i}");
        let out = if x + 13.0 < canvas as f32 {
            x + 13.0
        } else {
            x - 13.0
        };
        assert_eq!(
            px(&img, out, y),
            [255, 255, 255],
            "just outside thumbnail {i}"
        );
    }
    // Extreme points touch the margin: point 0 left, point 1 right, point 2 top.
    assert!((pos[0].0 - 12.0).abs() < 1e-3 && (pos[1].0 - (canvas as f32 - 12.0)).abs() < 1e-3);
    // The title is drawn in the band above.
    let title_ink = (0..canvas as u32)
        .flat_map(|x| (0..TITLE_H as u32).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 100)
        .count();
    assert!(title_ink > 20, "title drawn ({title_ink} dark pixels)");

    // Without labels, strokes are black ink; a half-grey stroke is half ink on white.
    let path = dir.path().join("nolab.png");
    let half = vec![0.5f32; 2 * 28 * 28];
    image_scatter(
        &emb[..4],
        &half,
        ImageShape::grey(28, 28),
        None,
        canvas,
        thumb,
        "",
        &path,
    )
    .unwrap();
    let img = load(&path);
    let pos = layout(&emb[..4], scatter_area(canvas, false), 12.0).unwrap();
    assert_eq!(px(&img, pos[0].0, pos[0].1), [128, 128, 128]);

    // RGB thumbnails are pasted as they are.
    let path = dir.path().join("rgb.png");
    let blue: Vec<f32> = [vec![0.0; 16], vec![0.0; 16], vec![1.0; 16]].concat();
    image_scatter(
        &[1.0, 2.0],
        &blue,
        ImageShape::rgb(4, 4),
        Some(&[5]),
        canvas,
        thumb,
        "rgb",
        &path,
    )
    .unwrap();
    let img = load(&path);
    assert_eq!(px(&img, 150.0, 165.0), [0, 0, 255]);
}

#[test]
fn scatter_colours_points_by_digit_with_legend() {
    let dir = tmp();
    let path = dir.path().join("scatter.png");
    let canvas = 320;
    let emb = [0.0, 0.0, 1.0, 1.0, 2.0, 0.0, 1.0, -1.0];
    let labels = [1u8, 2, 8, 4];
    scatter(&emb, Some(&labels), canvas, "scatter, N=4", &path).unwrap();
    let img = load(&path);
    assert_eq!(img.dimensions(), (canvas as u32, canvas as u32));
    let pos = layout(&emb, scatter_area(canvas, true), 10.0).unwrap();
    for (i, &(x, y)) in pos.iter().enumerate() {
        assert_eq!(px(&img, x, y), TAB10[labels[i] as usize], "point {i}");
    }
    // The legend column shows all ten digit colours.
    let legend: Vec<[u8; 3]> = img
        .enumerate_pixels()
        .filter(|(x, _, _)| *x as f32 >= scatter_area(canvas, true).w)
        .map(|(_, _, p)| p.0)
        .collect();
    for (d, c) in TAB10.iter().enumerate() {
        assert!(legend.contains(c), "legend entry {d}");
    }
    // Without labels: no legend, all points tab10 blue, using the full width.
    let path = dir.path().join("plain.png");
    scatter(&emb, None, canvas, "", &path).unwrap();
    let img = load(&path);
    let pos = layout(&emb, scatter_area(canvas, false), 10.0).unwrap();
    for &(x, y) in &pos {
        assert_eq!(px(&img, x, y), TAB10[0]);
    }
}

/// Greedy assignment: each cell in turn takes the nearest point still free.
fn greedy(emb: &[f32], rows: usize, cols: usize) -> Vec<usize> {
    let pos = grid_positions(emb).unwrap();
    let mut free = vec![true; pos.len()];
    (0..rows * cols)
        .map(|i| {
            let c = cell_centre(i / cols, i % cols, rows, cols);
            let d = |j: usize| (pos[j].0 - c.0).powi(2) + (pos[j].1 - c.1).powi(2);
            let j = (0..pos.len())
                .filter(|&j| free[j])
                .min_by(|&a, &b| d(a).total_cmp(&d(b)))
                .unwrap();
            free[j] = false;
            j
        })
        .collect()
}

#[test]
fn one_to_one_is_a_permutation_no_worse_than_greedy() {
    let mut rng = Rng::new(11);
    for (rows, cols, n) in [(6, 6, 36), (5, 7, 35), (1, 1, 1), (4, 5, 31)] {
        let emb: Vec<f32> = (0..n)
            .flat_map(|_| [rng.normal() as f32, rng.normal() as f32 * 3.0])
            .collect();
        let a = grid_assign_one_to_one(&emb, rows, cols).unwrap();
        assert_eq!(a.len(), rows * cols);
        let mut seen = vec![false; n];
        for &j in &a {
            assert!(
                j < n && !seen[j],
                "{rows}x{cols}: point {j} repeated or out of range"
            );
            seen[j] = true;
        }
        let g = greedy(&emb, rows, cols);
        let (opt, gc) = (
            grid_cost(&emb, rows, cols, &a).unwrap(),
            grid_cost(&emb, rows, cols, &g).unwrap(),
        );
        // Tolerance: the two sums differ only by rounding if greedy happens to be optimal.
        assert!(
            opt <= gc + 1e-12,
            "{rows}x{cols}: optimal {opt} > greedy {gc}"
        );
    }
}

/// All permutations of 0..n (Heap's algorithm).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn heap(k: usize, a: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if k == 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..k {
            heap(k - 1, a, out);
            if k.is_multiple_of(2) {
                a.swap(i, k - 1)
            } else {
                a.swap(0, k - 1)
            }
        }
    }
    let mut out = Vec::new();
    heap(n, &mut (0..n).collect(), &mut out);
    out
}

#[test]
fn one_to_one_matches_brute_force_on_8_points() {
    let perms = permutations(8);
    assert_eq!(perms.len(), 40320);
    for seed in 0..5 {
        let mut rng = Rng::new(100 + seed);
        let emb = rng.vec(16, -1.0, 1.0);
        let (rows, cols) = (2, 4);
        let a = grid_assign_one_to_one(&emb, rows, cols).unwrap();
        let cost = grid_cost(&emb, rows, cols, &a).unwrap();
        let best = perms
            .iter()
            .map(|p| grid_cost(&emb, rows, cols, p).unwrap())
            .fold(f64::INFINITY, f64::min);
        // Tolerance: f64 sums of 8 terms of size ~1.
        assert!(
            (cost - best).abs() < 1e-12,
            "seed {seed}: {cost} vs brute force {best}"
        );
    }
}

#[test]
fn one_to_one_with_more_points_picks_the_best_subset() {
    // 3 cells; 5 points: three sit exactly on the cell centres, two far off in a corner region.
    // After normalization the first three are the only zero-cost choice.
    let emb = [0.0, 0.0, 1.0 / 6.0, 0.5, 0.5, 0.5, 5.0 / 6.0, 0.5, 1.0, 1.0];
    let a = grid_assign_one_to_one(&emb, 1, 3).unwrap();
    assert_eq!(a, vec![1, 2, 3]);
    assert!(grid_cost(&emb, 1, 3, &a).unwrap() < 1e-12);
    // Random subset case: distinct and no worse than greedy.
    let mut rng = Rng::new(5);
    let emb = rng.vec(2 * 50, -3.0, 3.0);
    let a = grid_assign_one_to_one(&emb, 4, 6).unwrap();
    let mut s = a.clone();
    s.sort();
    s.dedup();
    assert_eq!(s.len(), 24);
    assert!(
        grid_cost(&emb, 4, 6, &a).unwrap()
            <= grid_cost(&emb, 4, 6, &greedy(&emb, 4, 6)).unwrap() + 1e-12
    );
    // Too few points is a clear error.
    let err = grid_assign_one_to_one(&emb[..10], 4, 6).unwrap_err();
    assert!(err.to_string().contains("cannot fill"), "{err}");
}

#[test]
fn nearest_fill_picks_the_true_nearest_point() {
    let mut rng = Rng::new(3);
    let emb = rng.vec(2 * 40, -5.0, 5.0);
    let (rows, cols) = (7, 9);
    let a = grid_assign_nearest(&emb, rows, cols).unwrap();
    let pos = grid_positions(&emb).unwrap();
    assert_eq!(a.len(), rows * cols);
    for (i, &j) in a.iter().enumerate() {
        let c = cell_centre(i / cols, i % cols, rows, cols);
        let d = |k: usize| (pos[k].0 - c.0).powi(2) + (pos[k].1 - c.1).powi(2);
        for k in 0..pos.len() {
            assert!(
                d(j) <= d(k),
                "cell {i}: point {j} at {} but point {k} at {}",
                d(j),
                d(k)
            );
        }
    }
    // Corners: the top-left cell takes the point with min x / max y when it is alone there.
    let emb = [0.0, 1.0, 1.0, 0.0, 0.5, 0.5];
    assert_eq!(
        grid_assign_nearest(&emb, 3, 3).unwrap(),
        vec![0, 2, 2, 2, 2, 2, 2, 2, 1]
    );
}

#[test]
fn mosaic_draws_cells_and_coloured_seams() {
    let dir = tmp();
    let (h, w) = (3, 4);
    let images = constant_images(4, h, w);
    let shape = ImageShape::grey(h, w);
    // 2 x 2 grid; point 3 is far from the others in feature space.
    let features = [0.0, 0.0, 0.1, 0.0, 0.0, 0.1, 10.0, 10.0];
    let assignment = [0, 1, 2, 3];
    let path = dir.path().join("mosaic.png");
    mosaic(
        &assignment,
        &images,
        shape,
        2,
        2,
        2,
        Some(Seams {
            features: &features,
            dim: 2,
        }),
        &path,
    )
    .unwrap();
    let img = load(&path);
    let (tw, th) = (w * 2, h * 2);
    assert_eq!(
        img.dimensions(),
        ((2 * tw + SEAM_PX) as u32, (2 * th + SEAM_PX) as u32)
    );
    for i in 0..4 {
        let x = (i % 2) * (tw + SEAM_PX) + tw / 2;
        let y = (i / 2) * (th + SEAM_PX) + th / 2;
        assert_eq!(
            px(&img, x as f32, y as f32),
            grey((i + 1) as f32 / 5.0),
            "cell {i}"
        );
    }
    // Seams: 0|1 (0.1 apart) and 0-2 (0.1 apart) are the closest, 2|3 and 1-3 the farthest.
    let vseam = |r: usize| px(&img, (tw + 1) as f32, (r * (th + SEAM_PX) + th / 2) as f32);
    let hseam = |c: usize| px(&img, (c * (tw + SEAM_PX) + tw / 2) as f32, (th + 1) as f32);
    assert_eq!(vseam(0), viridis(0.0));
    assert_eq!(hseam(0), viridis(0.0));
    assert_eq!(vseam(1), viridis(1.0));
    assert_eq!(hseam(1), viridis(1.0));

    // Without seams, tiles touch; a nearest fill may repeat points.
    let path = dir.path().join("plain.png");
    mosaic(&[2, 2, 0], &images, shape, 1, 3, 1, None, &path).unwrap();
    let img = load(&path);
    assert_eq!(img.dimensions(), (3 * w as u32, h as u32));
    assert_eq!(px(&img, 0.0, 0.0), grey(3.0 / 5.0));
    assert_eq!(px(&img, (2 * w) as f32, 0.0), grey(1.0 / 5.0));

    // An assignment naming a missing image is rejected.
    let err = mosaic(
        &[0, 9, 0],
        &images,
        shape,
        1,
        3,
        1,
        None,
        &dir.path().join("bad.png"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("point 9"), "{err}");
}

#[test]
fn feature_maps_normalize_each_channel() {
    let dir = tmp();
    let path = dir.path().join("maps.png");
    let (c, h, w, scale) = (5, 3, 4, 3);
    // Channel k ramps from k to k + 100^k: very different ranges, each must span black..white.
    let maps: Vec<f32> = (0..c)
        .flat_map(|k| {
            (0..h * w)
                .map(move |i| k as f32 + 100f32.powi(k as i32) * i as f32 / (h * w - 1) as f32)
        })
        .collect();
    feature_maps(&maps, c, h, w, 3, scale, "maps", &path).unwrap();
    let img = load(&path);
    let (tw, th) = (w * scale, h * scale);
    let grid_w = 3 * tw + 4 * GAP;
    assert_eq!(img.dimensions().1 as usize, TITLE_H + 2 * th + 3 * GAP);
    let width = img.dimensions().0 as usize;
    assert!(width >= grid_w);
    let x0 = (width - grid_w) / 2;
    for k in 0..c {
        let x = x0 + GAP + (k % 3) * (tw + GAP);
        let y = TITLE_H + GAP + (k / 3) * (th + GAP);
        assert_eq!(
            px(&img, x as f32, y as f32),
            [0, 0, 0],
            "channel {k} minimum"
        );
        assert_eq!(
            px(&img, (x + tw - 1) as f32, (y + th - 1) as f32),
            [255, 255, 255],
            "channel {k} maximum"
        );
    }
    // The title is drawn.
    assert!(inked(&img) > c * tw * th, "title and tiles drawn");
    let err = feature_maps(&maps[1..], c, h, w, 3, 1, "", &dir.path().join("x.png")).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}

#[test]
fn loss_curves_draw_both_series_and_legend() {
    let dir = tmp();
    let path = dir.path().join("loss.png");
    let train = [0.5, 0.3, 0.2, 0.15, 0.12];
    let test = [0.55, 0.35, 0.26, 0.22];
    loss_curves(&train, &test, "MSE", &path).unwrap();
    let img = load(&path);
    assert_eq!(img.dimensions(), (CURVES_W as u32, CURVES_H as u32));
    let count = |c: [u8; 3]| img.pixels().filter(|p| p.0 == c).count();
    assert!(count(TAB10[0]) > 100, "train curve drawn");
    assert!(count(TAB10[1]) > 100, "test curve drawn");
    assert!(count([0, 0, 0]) > 300, "axes drawn");
    // A single epoch and a constant curve still work.
    loss_curves(&[0.1], &[], "one", &dir.path().join("one.png")).unwrap();
    loss_curves(
        &[2.0, 2.0, 2.0],
        &[2.0, 2.0, 2.0],
        "flat",
        &dir.path().join("flat.png"),
    )
    .unwrap();
    let err = loss_curves(&[0.1, f64::NAN], &[], "", &dir.path().join("nan.png")).unwrap_err();
    assert!(err.to_string().contains("epoch 2"), "{err}");
    assert!(loss_curves(&[], &[], "", &dir.path().join("none.png")).is_err());
    assert_eq!(files(dir.path()).len(), 3);
}

#[test]
fn bad_input_errors_and_writes_nothing() {
    let dir = tmp();
    let p = dir.path().join("out.png");
    let shape = ImageShape::grey(2, 2);
    let images = vec![0.5f32; 3 * 4];
    let emb = [0.0f32, 0.0, 1.0, 1.0, 2.0, 0.0];

    let err = image_scatter(&emb[..4], &images, shape, None, 200, 10, "", &p).unwrap_err();
    assert!(
        err.to_string().contains("2 embedding points but 3 images"),
        "{err}"
    );
    let err = image_scatter(&[], &[], shape, None, 200, 10, "", &p).unwrap_err();
    assert!(err.to_string().contains("empty embedding"), "{err}");
    let err = image_grid(&[], shape, 2, 1, &p).unwrap_err();
    assert!(err.to_string().contains("no images"), "{err}");
    let nan = [0.0f32, 0.0, f32::NAN, 1.0, 2.0, 0.0];
    let err = image_scatter(&nan, &images, shape, None, 200, 10, "", &p).unwrap_err();
    assert!(err.to_string().contains("point 1"), "{err}");
    assert!(scatter(&nan, None, 200, "", &p).is_err());
    assert!(grid_assign_one_to_one(&nan, 1, 3).is_err());
    assert!(grid_assign_nearest(&nan, 1, 3).is_err());
    let err = scatter(&emb, Some(&[1, 2, 10]), 200, "", &p).unwrap_err();
    assert!(err.to_string().contains("label 10"), "{err}");
    let err = scatter(&emb, Some(&[1, 2]), 200, "", &p).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let err = image_grid(&images[..5], shape, 2, 1, &p).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(image_grid(&images, ImageShape::new(2, 2, 1), 2, 1, &p).is_err());
    assert!(image_grid(&images, shape, 0, 1, &p).is_err());
    assert!(pairs_grid(&images, &images[..8], shape, 1, 1, &p).is_err());
    assert!(grid_assign_nearest(&emb, 0, 3).is_err());
    // Absurd sizes are refused, not overflowed or allocated.
    let err = image_grid(&images, shape, 2, usize::MAX, &p).unwrap_err();
    assert!(err.to_string().contains("exceeds"), "{err}");
    assert!(mosaic(&[0], &images, shape, 1, 1, usize::MAX / 2, None, &p).is_err());
    assert!(feature_maps(&images, 3, 2, 2, 1, usize::MAX, "", &p).is_err());
    assert!(image_grid(&images, shape, 1, 9000, &p).is_err());
    assert!(scatter(&emb, None, 1 << 20, "", &p).is_err());
    assert!(
        files(dir.path()).is_empty(),
        "nothing written: {:?}",
        files(dir.path())
    );

    // Unwritable path: a folder that does not exist. The error names the path; nothing is left.
    let missing = dir.path().join("no/such/dir/out.png");
    let err = image_grid(&images, shape, 2, 1, &missing).unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("no/such/dir"),
        "{err}"
    );
    // The target is a directory: the rename fails and the temporary file is removed.
    let as_dir = dir.path().join("taken.png");
    std::fs::create_dir(&as_dir).unwrap();
    assert!(matches!(
        scatter(&emb, None, 200, "", &as_dir).unwrap_err(),
        Error::Io { .. }
    ));
    assert_eq!(
        files(dir.path()),
        vec![as_dir.clone()],
        "only the pre-existing folder remains"
    );
}

#[test]
fn saving_replaces_an_existing_file_atomically() {
    let dir = tmp();
    let p = dir.path().join("fig.png");
    std::fs::write(&p, b"old").unwrap();
    image_grid(&[1.0; 4], ImageShape::grey(2, 2), 1, 1, &p).unwrap();
    assert_eq!(
        load(&p).dimensions(),
        (2 + 2 * GAP as u32, 2 + 2 * GAP as u32)
    );
    assert_eq!(files(dir.path()), vec![p]);
}

#[test]
fn shapes_dataset_is_seeded_and_consistent() {
    use latentviz::data::colorization::{BACKGROUND, SIDE, generate};
    let (x, y) = generate(6, 42);
    let plane = SIDE * SIDE;
    assert_eq!((x.len(), y.len()), (6 * plane, 6 * 3 * plane));
    assert_eq!(
        generate(6, 42),
        (x.clone(), y.clone()),
        "same seed, same data"
    );
    assert_ne!(generate(6, 43).0, x, "another seed, other data");
    let (mut red, mut blue) = (0, 0);
    for i in 0..6 {
        for p in 0..plane {
            let rgb = [0, 1, 2].map(|k| y[i * 3 * plane + k * plane + p]);
            let v = x[i * plane + p];
            if rgb == [1.0, 0.0, 0.0] {
                red += 1;
            } else if rgb == [0.0, 0.0, 1.0] {
                blue += 1;
            } else {
                assert_eq!(
                    rgb, [BACKGROUND; 3],
                    "image {i} pixel {p}: only grey, red, blue"
                );
                assert_eq!(v, BACKGROUND, "background is grey in the input");
                continue;
            }
            assert_eq!(v, 1.0, "shapes are white in the input");
        }
    }
    // Both kinds occur; at least one 25 x 25 shape's worth of pixels per image.
    assert!(
        red > 0 && blue > 0 && red + blue >= 6 * 25 * 25 / 2,
        "red {red}, blue {blue}"
    );
    assert_eq!(generate(0, 1), (vec![], vec![]));
}
