//! The small dense problems of subspace iteration, on the CPU in f64: H = Vᵀ S V, Gram–Schmidt,
//! and the symmetric eigensolver.

/// H = Vᵀ W (kp × kp) for V, W dp × kp row-major, symmetrized.
pub(super) fn rayleigh(v: &[f64], w: &[f64], dp: usize, kp: usize) -> Vec<f64> {
    let mut h = vec![0f64; kp * kp];
    for r in 0..dp {
        let (vr, wr) = (&v[r * kp..(r + 1) * kp], &w[r * kp..(r + 1) * kp]);
        for a in 0..kp {
            for b in 0..kp {
                h[a * kp + b] += vr[a] * wr[b];
            }
        }
    }
    for a in 0..kp {
        for b in 0..a {
            let m = 0.5 * (h[a * kp + b] + h[b * kp + a]);
            h[a * kp + b] = m;
            h[b * kp + a] = m;
        }
    }
    h
}

/// Modified Gram–Schmidt on the columns of a row-major rows × cols matrix. Columns that vanish
/// (rank deficiency) are replaced by unit vectors orthogonal to the rest.
pub(super) fn orthonormalize(m: &mut [f64], rows: usize, cols: usize) {
    for c in 0..cols {
        // Twice, so the rounding of the first pass is projected out too.
        project_out_earlier(m, rows, cols, c);
        project_out_earlier(m, rows, cols, c);
        if divide_by_norm(m, rows, cols, c, 1e-12) {
            continue;
        }
        // Try the coordinate axes until one survives orthogonalization.
        for axis in 0..rows {
            for r in 0..rows {
                m[r * cols + c] = if r == axis { 1.0 } else { 0.0 };
            }
            project_out_earlier(m, rows, cols, c);
            if divide_by_norm(m, rows, cols, c, 1e-6) {
                break;
            }
        }
    }
}

/// Column c −= its projections on columns 0..c, one after another.
fn project_out_earlier(m: &mut [f64], rows: usize, cols: usize, c: usize) {
    for p in 0..c {
        let dot: f64 = (0..rows).map(|r| m[r * cols + c] * m[r * cols + p]).sum();
        for r in 0..rows {
            m[r * cols + c] -= dot * m[r * cols + p];
        }
    }
}

/// Column c /= its norm when the norm is above `floor`; false (column unchanged) otherwise.
fn divide_by_norm(m: &mut [f64], rows: usize, cols: usize, c: usize, floor: f64) -> bool {
    let norm = (0..rows)
        .map(|r| m[r * cols + c].powi(2))
        .sum::<f64>()
        .sqrt();
    if norm > floor {
        for r in 0..rows {
            m[r * cols + c] /= norm;
        }
        true
    } else {
        false
    }
}

/// Eigenvalues and eigenvectors (columns of the row-major result) of a symmetric matrix by cyclic
/// Jacobi rotations.
pub(super) fn jacobi_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        let scale: f64 = (0..n)
            .map(|i| a[i * n + i].powi(2))
            .sum::<f64>()
            .max(1e-300);
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}
