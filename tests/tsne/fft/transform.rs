//! The WGSL and CPU FFTs against a naive DFT.

use crate::common::gpu;
use latentviz::rng::Rng;
use latentviz::tsne::fft::cpu;
use latentviz::tsne::fft::grid;
use latentviz::tsne::fft::transform::Fft2d;

/// Largest |got - want| over the largest |want|, for complex arrays.
fn complex_err(got: &[f32], want: &[[f64; 2]]) -> f64 {
    let scale = want.iter().map(|v| v[0].hypot(v[1])).fold(1e-30, f64::max);
    let err = want
        .iter()
        .enumerate()
        .map(|(i, v)| (got[2 * i] as f64 - v[0]).hypot(got[2 * i + 1] as f64 - v[1]))
        .fold(0.0, f64::max);
    err / scale
}

/// Naive DFT as `cpu::dft`, with the len roots of unity tabulated once (the test's hot loop).
fn dft_tab(data: &[[f64; 2]], roots: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let len = data.len();
    (0..len)
        .map(|k| {
            data.iter().enumerate().fold([0.0, 0.0], |acc, (e, x)| {
                let [c, s] = roots[(e * k) % len];
                [acc[0] + x[0] * c - x[1] * s, acc[1] + x[0] * s + x[1] * c]
            })
        })
        .collect()
}

/// Naive 2-D DFT of a len x len complex grid (row-major): rows, then columns.
fn dft2d(grid: &[[f64; 2]], len: usize, inverse: bool) -> Vec<[f64; 2]> {
    let sign = if inverse { 1.0 } else { -1.0 };
    let roots: Vec<[f64; 2]> = (0..len)
        .map(|k| {
            let a = sign * std::f64::consts::TAU * k as f64 / len as f64;
            [a.cos(), a.sin()]
        })
        .collect();
    // The table matches cpu::dft (checked on one row).
    let row0 = dft_tab(&grid[..len], &roots);
    let want0 = cpu::dft(&grid[..len], inverse);
    assert!(
        row0.iter()
            .zip(&want0)
            .all(|(a, b)| (a[0] - b[0]).abs() + (a[1] - b[1]).abs() < 1e-9 * len as f64)
    );
    let mut out = grid.to_vec();
    for r in 0..len {
        let row = dft_tab(&out[r * len..(r + 1) * len], &roots);
        out[r * len..(r + 1) * len].copy_from_slice(&row);
    }
    for c in 0..len {
        let col: Vec<[f64; 2]> = (0..len).map(|r| out[r * len + c]).collect();
        for (r, v) in dft_tab(&col, &roots).into_iter().enumerate() {
            out[r * len + c] = v;
        }
    }
    out
}

#[test]
fn cpu_fft_matches_dft() {
    let mut rng = Rng::new(10);
    for len in [1, 2, 4, 8, 64, 256] {
        let x: Vec<[f64; 2]> = (0..len).map(|_| [rng.normal(), rng.normal()]).collect();
        for inverse in [false, true] {
            let mut f = x.clone();
            cpu::fft(&mut f, inverse);
            let want = cpu::dft(&x, inverse);
            let err = f
                .iter()
                .zip(&want)
                .map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1]))
                .fold(0.0, f64::max);
            // f64 round-off only.
            assert!(
                err < 1e-9 * len as f64,
                "len {len} inverse {inverse}: {err}"
            );
        }
    }
}

#[test]
fn wgsl_fft_matches_dft() {
    let gpu = gpu();
    let mut rng = Rng::new(11);
    let channels = 2;
    // One pass per axis up to 64 (generated DFTs of 2..64 points, Cooley-Tukey splits into
    // 2, 3, 4, 5), then two: 120 [12, 10], 72 [9, 8], 100 [10, 10].
    for len in [
        2, 3, 4, 5, 6, 8, 10, 12, 16, 30, 32, 45, 60, 64, 120, 72, 100,
    ] {
        let area = len * len;
        // Garbage outside the valid corner: the forward transform must read it as zero.
        let data = rng.vec(2 * channels * area, -1.0, 1.0);
        let fft = Fft2d::new(gpu, len, channels).unwrap();
        for valid in [len, 1, len * 2 / 3 + 1] {
            let buf = gpu.storage_from("fft data", &data);
            let d = fft.forward(gpu, &buf, channels, valid).unwrap();
            gpu.run("fft test", &d.iter().collect::<Vec<_>>()).unwrap();
            let got = gpu.read_f32(&buf).unwrap();
            for c in 0..channels {
                let grid: Vec<[f64; 2]> = (0..area)
                    .map(|i| {
                        let (r, e) = (i / len, i % len);
                        if r < valid && e < valid {
                            let k = 2 * (c * area + i);
                            [data[k] as f64, data[k + 1] as f64]
                        } else {
                            [0.0, 0.0]
                        }
                    })
                    .collect();
                let want = dft2d(&grid, len, false);
                let err = complex_err(&got[2 * c * area..2 * (c + 1) * area], &want);
                // f32 round-off grows like log2(len) ulp of the largest coefficient.
                assert!(
                    err < 2e-6,
                    "len {len} forward valid {valid} channel {c}: {err}"
                );
            }
        }
        // Inverse (unnormalized): only rows < rows_out are finished.
        let rows_out = len / 2 + 1;
        let buf = gpu.storage_from("fft data", &data);
        let d = fft.inverse(gpu, &buf, channels, rows_out.min(len)).unwrap();
        gpu.run("ifft test", &d.iter().collect::<Vec<_>>()).unwrap();
        let got = gpu.read_f32(&buf).unwrap();
        for c in 0..channels {
            let grid: Vec<[f64; 2]> = (0..area)
                .map(|i| {
                    [
                        data[2 * (c * area + i)] as f64,
                        data[2 * (c * area + i) + 1] as f64,
                    ]
                })
                .collect();
            let want = dft2d(&grid, len, true);
            let rows = rows_out.min(len);
            let got_c = &got[2 * c * area..2 * (c * area + rows * len)];
            let err = complex_err(got_c, &want[..rows * len]);
            assert!(err < 2e-6, "len {len} inverse channel {c}: {err}");
        }
    }
}

/// The largest FFT (2048: radix-64 and radix-32 passes per axis) and a long mixed-radix one
/// (1200: 40, 30) with a 3 x 3 nonzero corner, whose 2-D DFT has a closed form of 9 terms
/// per frequency; checked on a sample of frequencies.
#[test]
fn wgsl_fft_longest_lines() {
    let gpu = gpu();
    let mut rng = Rng::new(12);
    for len in [grid::MAX_FFT_LEN, 1200] {
        let mut data = vec![0.0f32; 2 * len * len];
        let corner: Vec<[f64; 2]> = (0..9).map(|_| [rng.normal(), rng.normal()]).collect();
        for (t, v) in corner.iter().enumerate() {
            let i = (t / 3) * len + t % 3;
            data[2 * i] = v[0] as f32;
            data[2 * i + 1] = v[1] as f32;
        }
        let fft = Fft2d::new(gpu, len, 1).unwrap();
        let buf = gpu.storage_from("fft data", &data);
        let d = fft.forward(gpu, &buf, 1, 3).unwrap();
        gpu.run("fft long", &d.iter().collect::<Vec<_>>()).unwrap();
        let got = gpu.read_f32(&buf).unwrap();
        let mut worst = 0.0f64;
        for idx in (0..len * len).step_by(997) {
            let (ky, kx) = (idx / len, idx % len);
            let mut want = [0.0, 0.0];
            for (t, v) in corner.iter().enumerate() {
                let (ey, ex) = (t / 3, t % 3);
                let a = -std::f64::consts::TAU * ((ey * ky) % len + (ex * kx) % len) as f64
                    / len as f64;
                let (c, s) = (a.cos(), a.sin());
                want[0] += v[0] * c - v[1] * s;
                want[1] += v[0] * s + v[1] * c;
            }
            worst =
                worst.max((got[2 * idx] as f64 - want[0]).hypot(got[2 * idx + 1] as f64 - want[1]));
        }
        // |X| <= 9 * max|x| ~ 30; f32 twiddles and 4 passes of round-off.
        assert!(worst < 1e-4, "len {len}: max abs error {worst}");
    }
}
