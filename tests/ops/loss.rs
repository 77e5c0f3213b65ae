//! Losses: GPU forward (two-stage reduction, running sum) and backward against the f64 CPU
//! reference, stability at extreme logits, and the CPU gradients against central differences.

use crate::common::gpu;
use latentviz::ops::loss::{self, LossKind, cpu};
use latentviz::rng::Rng;

const KINDS: [LossKind; 2] = [LossKind::BceWithLogits, LossKind::Mse];

/// Predictions for `kind`: logits in [-12, 12] for BCE (with a few extreme ones), outputs in
/// [0, 1] for MSE; targets in [0, 1].
fn inputs(kind: LossKind, len: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut p = match kind {
        LossKind::BceWithLogits => rng.vec(len, -12.0, 12.0),
        LossKind::Mse => rng.vec(len, 0.0, 1.0),
    };
    if kind == LossKind::BceWithLogits {
        for (i, v) in p.iter_mut().enumerate().step_by(97) {
            *v = if i % 2 == 0 { 80.0 } else { -80.0 };
        }
    }
    (p, rng.vec(len, 0.0, 1.0))
}

/// max |got - want| / max |want|: gradients are all ~1/len, so an error relative to the largest
/// one is the meaningful scale.
fn scaled_err(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    assert!(got.iter().all(|v| v.is_finite()), "non-finite gradient");
    let scale = want
        .iter()
        .fold(0.0f64, |m, &w| m.max(w.abs() as f64))
        .max(f64::MIN_POSITIVE);
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w as f64).abs())
        .fold(0.0, f64::max)
        / scale
}

#[test]
fn forward_accumulates_the_batch_mean() {
    let gpu = gpu();
    // 1 element; 8,776 (5 partial sums, not a multiple of 256); 300,001 (147 partial sums).
    for len in [1, 45 * 65 * 3 + 1, 300_001] {
        for kind in KINDS {
            let (p, t) = inputs(kind, len, len as u64);
            let (pb, tb) = (gpu.storage_from("p", &p), gpu.storage_from("t", &t));
            let acc = gpu.storage("acc", 2);
            let ds = loss::forward(gpu, kind, len, &pb, &tb, &acc).unwrap();
            let refs: Vec<_> = ds.iter().collect();
            let want = cpu::loss_forward(kind, &p, &t);
            // Two steps recorded once and run twice: the running sum holds two means.
            gpu.run("loss step 1", &refs).unwrap();
            gpu.run("loss step 2", &refs).unwrap();
            let got = gpu.read_f32(&acc).unwrap();
            // f32 partial sums of up to 300,001 terms by trees: ~1e-6 relative; the +-80 logits
            // contribute exactly 80 or 0 plus < 1e-34.
            let what = format!("{kind:?} len {len}");
            assert_eq!(got[1], 2.0, "{what}: batch count");
            assert!(
                ((got[0] as f64 / 2.0) - want).abs() <= 2e-6 * want.abs().max(1e-3),
                "{what}: {} vs {want}",
                got[0] / 2.0
            );
            // Zeroing with a write starts a new running sum.
            gpu.write(&acc, &[0.0f32, 0.0]);
            gpu.run("loss step 3", &refs).unwrap();
            let got = gpu.read_f32(&acc).unwrap();
            assert_eq!(got[1], 1.0, "{what}: count after reset");
            assert!(
                (got[0] as f64 - want).abs() <= 2e-6 * want.abs().max(1e-3),
                "{what}: after reset"
            );
        }
    }
}

#[test]
fn backward_matches_cpu() {
    let gpu = gpu();
    for len in [1, 45 * 65 * 3 + 1] {
        for kind in KINDS {
            let (p, t) = inputs(kind, len, 7 + len as u64);
            let (pb, tb) = (gpu.storage_from("p", &p), gpu.storage_from("t", &t));
            let grad = gpu.storage_from("grad", &vec![5.0f32; len]);
            let d = loss::backward(gpu, kind, len, &pb, &tb, &grad).unwrap();
            gpu.run("loss backward", &[&d]).unwrap();
            let want = cpu::loss_backward(kind, &p, &t);
            // sigmoid through exp in f32 against f64: a few ulp of the largest gradient.
            let err = scaled_err(&gpu.read_f32(&grad).unwrap()[..len], &want);
            assert!(err < 1e-6, "{kind:?} len {len}: scaled error {err}");
        }
    }
}

#[test]
fn bce_is_stable_at_extreme_logits() {
    let gpu = gpu();
    // Logits far past where exp overflows f32 (88.7), each with targets 0, 1 and 0.5.
    let logits = [-100.0f32, -80.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 80.0, 100.0];
    let mut p = Vec::new();
    let mut t = Vec::new();
    for &z in &logits {
        for target in [0.0f32, 1.0, 0.5] {
            p.push(z);
            t.push(target);
        }
    }
    let len = p.len();
    let kind = LossKind::BceWithLogits;
    let (pb, tb) = (gpu.storage_from("p", &p), gpu.storage_from("t", &t));
    let acc = gpu.storage("acc", 2);
    let grad = gpu.storage("grad", len);
    let mut ds = loss::forward(gpu, kind, len, &pb, &tb, &acc).unwrap();
    ds.push(loss::backward(gpu, kind, len, &pb, &tb, &grad).unwrap());
    gpu.run("extreme bce", &ds.iter().collect::<Vec<_>>())
        .unwrap();
    let got = gpu.read_f32(&acc).unwrap()[0] as f64;
    let want = cpu::loss_forward(kind, &p, &t);
    assert!(
        got.is_finite() && (got - want).abs() < 1e-6 * want,
        "mean {got} vs f64 {want}"
    );
    let g = gpu.read_f32(&grad).unwrap();
    let err = scaled_err(&g, &cpu::loss_backward(kind, &p, &t));
    assert!(err < 1e-6, "gradient scaled error {err}");
    // Each single element too: the loss at z = +-100 is the f64 value, not inf or NaN.
    for (i, (&z, &target)) in p.iter().zip(&t).enumerate() {
        let one = gpu.storage("acc1", 2);
        let (zb, tb1) = (
            gpu.storage_from("z", &[z]),
            gpu.storage_from("t", &[target]),
        );
        let ds = loss::forward(gpu, kind, 1, &zb, &tb1, &one).unwrap();
        gpu.run("one bce", &ds.iter().collect::<Vec<_>>()).unwrap();
        let l = gpu.read_f32(&one).unwrap()[0] as f64;
        let want = cpu::loss_f64(kind, z as f64, target as f64);
        // log1p keeps tiny losses (9.4e-14 at z = -30, t = 0) accurate instead of rounding them
        // to 0. Vulkan lets exp(x) be off by 3 + 2|x| ulp (63 ulp ~ 4e-6 at |x| = 30).
        assert!(
            l.is_finite() && (l - want).abs() <= 1e-5 * want + 1e-30,
            "element {i}: z {z} t {target}: {l} vs {want}"
        );
    }
}

#[test]
fn cpu_gradients_match_finite_differences() {
    for kind in KINDS {
        let len = 50;
        let (p, t) = inputs(kind, len, 99);
        // Keep BCE logits moderate so the central difference is well conditioned.
        let p: Vec<f32> = p.iter().map(|v| v.clamp(-8.0, 8.0)).collect();
        let g = cpu::loss_backward(kind, &p, &t);
        let h = 1e-5;
        for i in 0..len {
            let (pi, ti) = (p[i] as f64, t[i] as f64);
            // d(mean)/dp_i = dl_i/dp_i / len.
            let fd = (cpu::loss_f64(kind, pi + h, ti) - cpu::loss_f64(kind, pi - h, ti))
                / (2.0 * h)
                / len as f64;
            assert!(
                (fd - g[i] as f64).abs() < 1e-6 * (fd.abs() + 1e-3),
                "{kind:?} [{i}] fd {fd} vs {}",
                g[i]
            );
        }
    }
}

#[test]
fn bad_inputs_are_rejected() {
    let gpu = gpu();
    let small = gpu.storage("small", 3);
    let big = gpu.storage("big", 10);
    let acc1 = gpu.storage("acc", 1);
    let acc = gpu.storage("acc", 2);
    assert!(loss::forward(gpu, LossKind::Mse, 10, &big, &big, &acc).is_ok());
    assert!(loss::forward(gpu, LossKind::Mse, 10, &small, &big, &acc).is_err());
    assert!(loss::forward(gpu, LossKind::Mse, 10, &big, &big, &acc1).is_err());
    assert!(loss::forward(gpu, LossKind::Mse, 0, &big, &big, &acc).is_err());
    assert!(loss::backward(gpu, LossKind::BceWithLogits, 10, &big, &big, &small).is_err());
}
