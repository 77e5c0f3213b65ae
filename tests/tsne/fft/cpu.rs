//! The CPU interpolation against the exact O(N^2) sums.

use super::{blob_layout, errors, run_gpu, uniform_layout};
use crate::common::gpu;
use latentviz::rng::Rng;
use latentviz::tsne::fft::grid::{self, NODES_PER_INTERVAL};
use latentviz::tsne::fft::{FftRepulsion, cpu};

#[test]
fn cpu_interpolation_matches_exact() {
    let mut rng = Rng::new(20);
    // (layout, dims, intervals): widths of 1.5 to 2 (near field on, exact near sums) and 0.4
    // (plain interpolation), in 1-D, 2-D and 3-D.
    let cases = [
        (
            "uniform 1-D, width 1.5",
            uniform_layout(&mut rng, 800, 1, 30.0),
            1,
            40,
        ),
        (
            "uniform 2-D, width 2",
            uniform_layout(&mut rng, 1200, 2, 20.0),
            2,
            20,
        ),
        (
            "blobs 2-D, width ~0.4",
            blob_layout(&mut rng, 1500, 2, 6, 15.0, 1.5),
            2,
            80,
        ),
        (
            "blobs 2-D, width ~1.7",
            blob_layout(&mut rng, 1500, 2, 6, 15.0, 1.5),
            2,
            20,
        ),
        (
            "blobs 3-D, width ~1",
            blob_layout(&mut rng, 500, 3, 4, 2.0, 0.5),
            3,
            5,
        ),
    ];
    for (name, y, dims, intervals) in cases {
        let n = y.len() / dims;
        let exact = cpu::repulsion_exact(&y, n, dims);
        let approx = cpu::repulsion_interpolated(&y, n, dims, intervals);
        let (ef, ez, ez_total) = errors(&approx, &exact, dims);
        println!("{name}: force {ef:.2e}, Z_i {ez:.2e}, Z {ez_total:.2e}");
        // p = 4 Lagrange interpolation, near field exact above width 0.8: ~0.3% at most.
        assert!(
            ef < 1e-2 && ez < 1e-2 && ez_total < 1e-2,
            "{name}: {ef} {ez} {ez_total}"
        );
    }
}

/// The FFT convolution on the node grid equals the direct node-to-node sums (the circulant
/// embedding has no wrap-around), in 1-D, 2-D and 3-D.
#[test]
fn cpu_node_potentials_match_direct_sums() {
    let mut rng = Rng::new(25);
    for (dims, intervals) in [(1, 7), (2, 5), (3, 3)] {
        let n = 60;
        let y = rng.vec(n * dims, -4.0, 4.0);
        let grid = cpu::bbox(&y, n, dims, intervals);
        let charges = cpu::spread(&y, n, &grid);
        let got = cpu::node_potentials(&charges, &grid);
        let m = grid.nodes();
        let nodes = m.pow(dims as u32);
        let coords = |node: usize| -> Vec<f64> {
            (0..dims)
                .map(|d| ((node / m.pow(d as u32)) % m) as f64)
                .collect()
        };
        let box_of = |node: usize| -> Vec<usize> {
            coords(node)
                .iter()
                .map(|&g| g as usize / NODES_PER_INTERVAL)
                .collect()
        };
        // Largest relative difference of `got` from the direct node-to-node sums over the nodes
        // b that `counted(a, b)` admits.
        let worst_against_direct = |got: &[f64], counted: &dyn Fn(usize, usize) -> bool| {
            let mut worst = 0.0f64;
            for a in 0..nodes {
                let mut want = vec![0.0; dims + 2];
                for b in (0..nodes).filter(|&b| counted(a, b)) {
                    let r2: f64 = coords(a)
                        .iter()
                        .zip(coords(b))
                        .map(|(x, z)| ((x - z) * grid.h).powi(2))
                        .sum();
                    let w = 1.0 / (1.0 + r2);
                    for k in 0..=dims {
                        want[k] += w * w * charges[b * (dims + 1) + k];
                    }
                    want[dims + 1] += w * charges[b * (dims + 1)];
                }
                for k in 0..dims + 2 {
                    worst = worst
                        .max((got[a * (dims + 2) + k] - want[k]).abs() / (1.0 + want[k].abs()));
                }
            }
            worst
        };
        // f64 FFT round-off only.
        let worst = worst_against_direct(&got, &|_, _| true);
        assert!(worst < 1e-10, "{dims}-D: {worst}");

        // Without the near field: the sums over the nodes of the boxes that are not neighbours.
        let near = vec![true; grid.intervals.pow(dims as u32)];
        let far = cpu::far_potentials(&charges, &got, &grid, &near);
        let worst = worst_against_direct(&far, &|a, b| {
            !box_of(a)
                .iter()
                .zip(box_of(b))
                .all(|(&x, z)| x.abs_diff(z) <= 1)
        });
        assert!(worst < 1e-10, "{dims}-D far field: {worst}");
    }
}

/// `measure` on the CPU counts what a GPU run at the same positions measures (the grid the
/// first refresh would size from), and `for_positions` starts on the grid `grid_for_measured`
/// picks from it.
#[test]
fn cpu_measure_matches_what_a_gpu_run_measures() {
    let gpu = gpu();
    let mut rng = Rng::new(44);
    for (len, scale) in [(64, 1.0), (144, 20.0), (64, 1e-5)] {
        let mut y = blob_layout(&mut rng, 1500, 2, 3, 4.0 * scale, 0.5 * scale);
        y.extend(uniform_layout(&mut rng, 700, 2, 30.0 * scale));
        let n = y.len() / 2;
        let mut rep = FftRepulsion::with_fft_len(gpu, n, 2, len).unwrap();
        run_gpu(gpu, &mut rep, &y);
        let got = rep.measured(gpu).unwrap();
        let want = grid::measure(&y, n, rep.intervals());
        assert_eq!(got.max_near, want.max_near, "len {len}, scale {scale}");
        let boxes = (rep.intervals() * rep.intervals()) as u64;
        assert!(
            got.pairs >= want.pairs && got.pairs < want.pairs + boxes * 256,
            "pairs {} vs {}",
            got.pairs,
            want.pairs
        );
        assert!(
            (got.span - want.span).abs() <= 1e-5 * want.span,
            "{got:?} vs {want:?}"
        );
        assert!(
            (got.width - want.width).abs() <= 1e-5 * want.width,
            "{got:?} vs {want:?}"
        );

        let started = FftRepulsion::for_positions(gpu, n, 2, &y).unwrap();
        let first = grid::measure(&y, n, grid::grid_for(n, grid::DEFAULT_SPAN).1);
        let (len, intervals) = grid::grid_for_measured(first, grid::MAX_FFT_LEN);
        assert_eq!((started.fft_len(), started.intervals()), (len, intervals));
    }
}
