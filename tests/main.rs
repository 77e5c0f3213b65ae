//! The integration tests, one binary whose modules mirror `src/`: the tests of `src/ops/conv2d/`
//! are in `tests/ops/conv2d.rs`, those of `src/tsne/fft/` in `tests/tsne/fft/`. Every GPU test
//! shares the adapter `common::gpu()` opens once.
mod common;

mod app;
mod checkpoint;
mod cli;
mod data;
mod graph;
mod knn;
mod model;
mod ops;
mod pca;
mod reliability;
mod shaders;
mod train;
mod tsne;
mod wgsl;
