//! latentviz: make the latent space of neural networks visible.
//!
//! Every computation runs as a hand-written WGSL compute kernel through wgpu; every kernel has a
//! plain-loop CPU reference in `ops` that the tests hold it against.

pub mod error;
pub mod gpu;
pub mod ops;
pub mod rng;
pub mod tsne;

pub use error::{Error, Result};
pub use gpu::{Gpu, GpuOptions};
