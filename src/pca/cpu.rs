//! Plain-loop references, named as in the WGSL.

/// Column means of x (rows × cols).
pub fn column_mean(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols)
        .map(|c| ((0..rows).map(|r| x[r * cols + c] as f64).sum::<f64>() / rows as f64) as f32)
        .collect()
}

/// x − mean, row by row.
pub fn subtract_mean(x: &[f32], mean: &[f32], cols: usize) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(e, v)| v - mean[e % cols])
        .collect()
}

/// Aᵀ B for A rows × ca, B rows × cb.
pub fn gram(a: &[f32], b: &[f32], rows: usize, ca: usize, cb: usize) -> Vec<f32> {
    let mut out = vec![0f32; ca * cb];
    for i in 0..ca {
        for j in 0..cb {
            out[i * cb + j] = (0..rows)
                .map(|r| a[r * ca + i] as f64 * b[r * cb + j] as f64)
                .sum::<f64>() as f32;
        }
    }
    out
}

/// X V for X rows × cx, V cx × cv.
pub fn project(x: &[f32], v: &[f32], rows: usize, cx: usize, cv: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * cv];
    for r in 0..rows {
        for c in 0..cv {
            out[r * cv + c] = (0..cx)
                .map(|f| x[r * cx + f] as f64 * v[f * cv + c] as f64)
                .sum::<f64>() as f32;
        }
    }
    out
}
