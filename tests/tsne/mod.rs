//! t-SNE (`src/tsne/`): each stage against its CPU twin, then whole runs.
mod affinity;
mod datasets;
mod end_to_end;
mod fft;
mod gradient;
mod metrics;
mod optimize;
mod real_data;

use latentviz::rng::Rng;

/// Rows of a random conditional P (each sums to 1, zero diagonal), n × n.
pub fn random_conditional(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut c = rng.vec(n * n, 0.0, 1.0);
    for i in 0..n {
        c[i * n + i] = 0.0;
        let s: f32 = c[i * n..(i + 1) * n].iter().sum();
        for v in &mut c[i * n..(i + 1) * n] {
            *v /= s;
        }
    }
    c
}

pub fn random_csr(rng: &mut Rng, n: usize) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut row_ptr = vec![0u32];
    let (mut col, mut val) = (Vec::new(), Vec::new());
    for i in 0..n {
        // Rows of 0 to 6 entries, some empty.
        let len = rng.below(7);
        let mut cols: Vec<u32> = (0..len)
            .map(|_| rng.below(n) as u32)
            .filter(|&j| j as usize != i)
            .collect();
        cols.sort();
        cols.dedup();
        for j in cols {
            col.push(j);
            val.push(rng.range(0.0, 0.01));
        }
        row_ptr.push(col.len() as u32);
    }
    (row_ptr, col, val)
}
