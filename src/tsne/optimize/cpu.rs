//! Plain-loop references, named as in the WGSL, and the whole optimizer on the CPU (dense P) for
//! end-to-end parity on small N.

/// One gain/momentum step, each point's update capped at `step.max_step`; returns the new
/// positions and updates `gains` and `update` in place.
#[allow(clippy::too_many_arguments)]
pub fn update_step(
    y: &[f32],
    attr: &[f32],
    rep: &[f32],
    z: f32,
    gains: &mut [f32],
    update: &mut [f32],
    dims: usize,
    step: super::Step,
    min_gain: f32,
) -> Vec<f32> {
    let mut y_new = vec![0f32; y.len()];
    for i in 0..y.len() / dims {
        let mut u = [0f32; 3];
        for c in 0..dims {
            let e = i * dims + c;
            let grad = 4.0 * (step.exaggeration * attr[e] - rep[i * (dims + 1) + c] / z);
            let g = if grad * update[e] < 0.0 {
                gains[e] + 0.2
            } else {
                gains[e] * 0.8
            }
            .max(min_gain);
            gains[e] = g;
            u[c] = step.momentum * update[e] - step.learning_rate * g * grad;
        }
        let norm = u[..dims].iter().map(|v| v * v).sum::<f32>().sqrt();
        let scale = if norm > step.max_step {
            step.max_step / norm
        } else {
            1.0
        };
        for (c, uc) in u[..dims].iter().enumerate() {
            let e = i * dims + c;
            update[e] = uc * scale;
            y_new[e] = y[e] + uc * scale;
        }
    }
    y_new
}

/// scale · Σ_{t<count} x[offset + t·stride] (f64 accumulation).
pub fn strided_sum(x: &[f32], count: usize, stride: usize, offset: usize, scale: f32) -> f32 {
    let s: f64 = (0..count).map(|t| x[offset + t * stride] as f64).sum();
    (s * scale as f64) as f32
}

/// y − mean.
pub fn centre(y: &[f32], mean: &[f32], dims: usize) -> Vec<f32> {
    y.iter()
        .enumerate()
        .map(|(e, v)| v - mean[e % dims])
        .collect()
}

fn log1p_d2(y: &[f32], dims: usize, i: usize, j: usize) -> f64 {
    let r2: f64 = (0..dims)
        .map(|c| (y[i * dims + c] as f64 - y[j * dims + c] as f64).powi(2))
        .sum();
    (1.0 + r2).ln()
}

/// Σ_j p_ij (ln p_ij + ln(1 + d_ij²)) per row, dense P.
pub fn kl_dense(y: &[f32], p: &[f32], n: usize, dims: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            (0..n)
                .filter(|&j| p[i * n + j] > 0.0)
                .map(|j| {
                    let pij = p[i * n + j] as f64;
                    pij * (pij.ln() + log1p_d2(y, dims, i, j))
                })
                .sum::<f64>() as f32
        })
        .collect()
}

/// The same over the stored entries of a CSR P.
pub fn kl_sparse(y: &[f32], row_ptr: &[u32], col: &[u32], val: &[f32], dims: usize) -> Vec<f32> {
    (0..row_ptr.len() - 1)
        .map(|i| {
            (row_ptr[i] as usize..row_ptr[i + 1] as usize)
                .filter(|&e| val[e] > 0.0)
                .map(|e| {
                    let pij = val[e] as f64;
                    pij * (pij.ln() + log1p_d2(y, dims, i, col[e] as usize))
                })
                .sum::<f64>() as f32
        })
        .collect()
}

/// The whole optimizer with a dense P: same schedule, gains, step cap, reset and recentring
/// (at the end of each batch, [`super::Batches`]) as the GPU.
pub fn optimize_dense(
    p: &[f32],
    y0: &[f32],
    n: usize,
    dims: usize,
    iterations: usize,
    exaggeration_iterations: usize,
    schedule: &super::Schedule,
) -> Vec<f32> {
    use super::super::gradient::cpu as g;
    let mut y = y0.to_vec();
    let mut gains = vec![1f32; n * dims];
    let mut update = vec![0f32; n * dims];
    let exaggerated = exaggeration_iterations.min(iterations);
    // The exact repulsion never changes a grid.
    let mut batches = super::Batches::new(exaggerated, iterations);
    let mut batch_end = 0;
    for t in 0..iterations {
        if t == batch_end {
            if t > 0 {
                batches.after(false);
            }
            batch_end = batches.end(t);
        }
        if t == exaggeration_iterations && t > 0 {
            gains.fill(1.0);
            update.fill(0.0);
        }
        let early = t < exaggeration_iterations;
        let rep = g::repulsion_exact(&y, n, dims);
        let z = strided_sum(&rep, n, dims + 1, dims, 1.0);
        let attr = g::attraction_dense(&y, p, n, dims);
        y = update_step(
            &y,
            &attr,
            &rep,
            z,
            &mut gains,
            &mut update,
            dims,
            schedule.step(early),
            super::MIN_GAIN,
        );
        // Recentred at the end of each batch, as the GPU run does.
        if t + 1 == batch_end {
            let mean: Vec<f32> = (0..dims)
                .map(|c| strided_sum(&y, n, dims, c, 1.0 / n as f32))
                .collect();
            y = centre(&y, &mean, dims);
        }
    }
    y
}
