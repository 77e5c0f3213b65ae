//! Elementwise add: GPU vs CPU, and argument checks.

use crate::common::gpu;
use latentviz::ops::add::{self, cpu};
use latentviz::rng::Rng;

#[test]
fn gpu_matches_cpu() {
    let gpu = gpu();
    let mut rng = Rng::new(41);
    // 1 element, and a length that is not a multiple of 4 or of the workgroup.
    for len in [1, 45 * 65 * 3 + 1] {
        let a = rng.vec(len, -1.0, 1.0);
        let b = rng.vec(len, -1.0, 1.0);
        let (ab, bb) = (gpu.storage_from("a", &a), gpu.storage_from("b", &b));
        // One value past the end holds a sentinel that must survive.
        let out = gpu.storage_from("out", &vec![9.0f32; len + 1]);
        let d = add::forward(gpu, len, &ab, &bb, &out).unwrap();
        gpu.run("add", &[&d]).unwrap();
        let got = gpu.read_f32(&out).unwrap();
        // One correctly rounded f32 addition on both sides: bit-identical.
        assert_eq!(&got[..len], &cpu::add_forward(&a, &b)[..], "len {len}");
        assert_eq!(got[len], 9.0, "wrote past the end");
    }
}

#[test]
fn bad_arguments_are_rejected() {
    let gpu = gpu();
    let a = gpu.storage("a", 4);
    let b = gpu.storage("b", 4);
    let out = gpu.storage("out", 4);
    assert!(add::forward(gpu, 4, &a, &b, &out).is_ok());
    assert!(add::forward(gpu, 5, &a, &b, &out).is_err());
    assert!(add::forward(gpu, 4, &a, &b, &a).is_err());
}
