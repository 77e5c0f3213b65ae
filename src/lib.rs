//! latentviz: make the latent space of neural networks visible.
//!
//! Every computation runs as a hand-written WGSL compute kernel through wgpu; every kernel has a
//! plain-loop CPU reference in `ops` that the tests hold it against.

pub mod app;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod gpu;
pub mod graph;
pub mod io;
pub mod knn;
pub mod model;
pub mod ops;
pub mod pca;
pub mod rng;
pub mod train;
pub mod tsne;
pub mod wgsl;

pub use error::{Error, Result};
pub use gpu::{Gpu, GpuOptions};
