//! Matmul: every transpose variant of the register-blocked kernel and the naive kernel against
//! the CPU triple loop, on shapes that are not multiples of the 8x8 block or of 4.

use crate::common::{assert_close, gpu};
use latentviz::ops::matmul::{self, MatmulKernel, MatmulShape, cpu};
use latentviz::rng::Rng;

/// (m, n, k): single elements, primes, k below and above the unroll of 4, exact multiples of 8,
/// more rows than one 64-row tile and more columns than one 32-column tile.
const SHAPES: [(usize, usize, usize); 9] = [
    (1, 1, 1),
    (45, 65, 37),
    (13, 7, 129),
    (70, 9, 5),
    (8, 16, 8),
    (17, 33, 4),
    (3, 130, 2),
    (139, 35, 6),
    (64, 32, 3),
];

const KERNELS: [MatmulKernel; 3] = [
    MatmulKernel::Blocked8x8,
    MatmulKernel::Subgroup32,
    MatmulKernel::Subgroup64,
];

/// The kernels this adapter runs (the subgroup kernels need subgroups of 8 lanes).
fn kernels() -> Vec<MatmulKernel> {
    let kernels: Vec<MatmulKernel> = KERNELS.into_iter().filter(|k| k.supported(gpu())).collect();
    if gpu().is_cpu() && !kernels.contains(&MatmulKernel::Subgroup32) {
        eprintln!("note: this CPU adapter lacks 8-lane subgroups; only Blocked8x8 is tested");
    }
    kernels
}

fn shapes() -> impl Iterator<Item = MatmulShape> {
    SHAPES.into_iter().flat_map(|(m, n, k)| {
        [(false, false), (false, true), (true, false), (true, true)].map(|(ta, tb)| MatmulShape {
            m,
            n,
            k,
            transpose_a: ta,
            transpose_b: tb,
        })
    })
}

const SENTINEL: f32 = 12345.0;

#[test]
fn blocked_and_naive_match_cpu_in_every_transpose_variant() {
    let gpu = gpu();
    let mut rng = Rng::new(11);
    for s in shapes() {
        let a = rng.vec(s.a_len(), -1.0, 1.0);
        let b = rng.vec(s.b_len(), -1.0, 1.0);
        let bias = rng.vec(s.n, -1.0, 1.0);
        let ab = gpu.storage_from("a", &a);
        let bb = gpu.storage_from("b", &b);
        let biasb = gpu.storage_from("bias", &bias);
        for with_bias in [false, true] {
            let bias_buf = with_bias.then_some(&biasb);
            let bias_cpu = with_bias.then_some(&bias[..]);
            // C has 7 extra values holding a sentinel: nothing may be written past m * n.
            let init = vec![SENTINEL; s.c_len() + 7];
            let mut outputs = Vec::new();
            let mut dispatches = Vec::new();
            for kernel in kernels() {
                let c = gpu.storage_from("c", &init);
                dispatches
                    .push(matmul::forward_with(gpu, kernel, &s, &ab, &bb, bias_buf, &c).unwrap());
                outputs.push((format!("{kernel:?}"), c));
            }
            let c = gpu.storage_from("c naive", &init);
            dispatches.push(matmul::naive(gpu, &s, &ab, &bb, bias_buf, &c).unwrap());
            outputs.push(("naive".to_string(), c));
            gpu.run("matmul test", &dispatches.iter().collect::<Vec<_>>())
                .unwrap();
            let want = cpu::matmul(&s, &a, &b, bias_cpu);
            let what = format!("{s:?} bias {with_bias}");
            for (name, buf) in &outputs {
                let got = gpu.read_f32(buf).unwrap();
                assert!(
                    got[s.c_len()..].iter().all(|&v| v == SENTINEL),
                    "{name} {what}: wrote past C"
                );
                // Sums of at most 129 products of values in [-1, 1], summed in another order
                // (and with fma) than the CPU loop: a few ulp per term.
                assert_close(&format!("{name} {what}"), &got[..s.c_len()], &want, 1e-5);
            }
            // The vectorized CPU loop is the speed baseline; it must compute the same thing.
            assert_close(
                &format!("matmul_fast {what}"),
                &cpu::matmul_fast(&s, &a, &b, bias_cpu),
                &want,
                1e-5,
            );
        }
    }
}

#[test]
fn dense_sized_products_match_cpu() {
    // The seed model's shapes: batch 256, 3136 -> 32 forward, and the weight gradient.
    let gpu = gpu();
    let mut rng = Rng::new(12);
    for s in [
        MatmulShape::new(256, 32, 3136),
        MatmulShape {
            transpose_a: true,
            ..MatmulShape::new(3136, 32, 256)
        },
        MatmulShape {
            transpose_b: true,
            ..MatmulShape::new(256, 3136, 32)
        },
    ] {
        let a = rng.vec(s.a_len(), -1.0, 1.0);
        let b = rng.vec(s.b_len(), -1.0, 1.0);
        let ab = gpu.storage_from("a", &a);
        let bb = gpu.storage_from("b", &b);
        let want = cpu::matmul_fast(&s, &a, &b, None);
        for kernel in kernels() {
            let cb = gpu.storage("c", s.c_len());
            let d = matmul::forward_with(gpu, kernel, &s, &ab, &bb, None, &cb).unwrap();
            gpu.run("matmul dense sizes", &[&d]).unwrap();
            // Sums of up to 3136 products (magnitude ~sqrt(3136)/3 ~ 19): f32 rounding in a
            // different summation order differs by ~1e-5 of the result's scale.
            assert_close(
                &format!("{kernel:?} {s:?}"),
                &gpu.read_f32(&cb).unwrap(),
                &want,
                1e-4,
            );
        }
    }
}

#[test]
fn generated_kernels_validate_with_naga() {
    for (kernel, ta, tb) in KERNELS.into_iter().flat_map(|k| {
        [
            (k, false, false),
            (k, false, true),
            (k, true, false),
            (k, true, true),
        ]
    }) {
        {
            let source = matmul::kernel_source(kernel, ta, tb);
            crate::common::assert_valid_wgsl(&format!("{kernel:?} ta {ta} tb {tb}"), &source);
        }
    }
}

#[test]
fn lavapipe_gets_the_subgroup_kernel() {
    // The subgroup kernels are the fast path on lavapipe (8-lane subgroups); make sure a change
    // of wgpu or Mesa that loses them shows up here instead of as a silent slowdown.
    let gpu = gpu();
    if gpu.info.name.contains("llvmpipe") {
        let s = MatmulShape::new(256, 32, 3136);
        assert_eq!(MatmulKernel::best(gpu, &s), MatmulKernel::Subgroup64);
        assert_eq!(
            MatmulKernel::best(gpu, &MatmulShape::new(16, 32, 3)),
            MatmulKernel::Subgroup32
        );
    }
}

#[test]
fn bad_shapes_are_rejected_before_dispatch() {
    let gpu = gpu();
    let a = gpu.storage("a", 6);
    let b = gpu.storage("b", 6);
    let c = gpu.storage("c", 4);
    let ok = MatmulShape::new(2, 2, 3);
    assert!(matmul::forward(gpu, &ok, &a, &b, None, &c).is_ok());
    // C too small for 3x2.
    assert!(matmul::forward(gpu, &MatmulShape::new(3, 2, 2), &a, &b, None, &c).is_err());
    // A too small for 2x4.
    assert!(matmul::forward(gpu, &MatmulShape::new(2, 2, 4), &a, &b, None, &c).is_err());
    // Empty dimension.
    assert!(matmul::naive(gpu, &MatmulShape::new(0, 2, 3), &a, &b, None, &c).is_err());
    // Bias shorter than n.
    let bias = gpu.storage("bias", 1);
    let wide = MatmulShape::new(1, 4, 1);
    assert!(matmul::forward(gpu, &wide, &a, &b, Some(&bias), &c).is_err());
}
