//! Gathering a shuffled batch from a dataset split over several buffers.

use crate::common::gpu;
use latentviz::gpu::BufferSlices;
use latentviz::ops::gather::{self, cpu};
use latentviz::rng::Rng;

#[test]
fn gather_across_slices_matches_cpu() {
    let gpu = gpu();
    let (rows, row_len) = (97, 29);
    let mut rng = Rng::new(3);
    let data = rng.vec(rows * row_len, -1.0, 1.0);
    // A tiny binding limit forces 97 rows into many slices (10 rows each), as 60,000 MNIST images are
    // split on a real device.
    let slices = BufferSlices::upload(gpu, "dataset", &data, row_len, Some(10 * 29 * 4)).unwrap();
    assert_eq!(slices.slices.len(), 10);
    let mut order: Vec<u32> = (0..rows as u32).collect();
    rng.shuffle(&mut order);
    let batch = &order[..45];
    let idx = gpu.storage_from("idx", batch);
    let out = gpu.storage("batch", batch.len() * row_len);
    let dispatches = gather::forward(gpu, &slices, &idx, &out, batch.len()).unwrap();
    let refs: Vec<_> = dispatches.iter().collect();
    gpu.run("gather", &refs).unwrap();
    let got = gpu.read_f32(&out).unwrap();
    assert_eq!(got, cpu::gather_rows_forward(&data, row_len, batch));
}

#[test]
fn too_small_output_is_a_shape_error() {
    let gpu = gpu();
    let slices = BufferSlices::upload(gpu, "d", &[0.0; 12], 4, None).unwrap();
    let idx = gpu.storage_from("idx", &[0u32, 1, 2]);
    let out = gpu.storage("out", 5);
    let err = gather::forward(gpu, &slices, &idx, &out, 3).err().unwrap();
    assert!(err.to_string().contains("gather_rows"), "{err}");
}
