//! The application on top of the engine: the MNIST latent-space story and its figures, the kernel
//! benchmarks, and the t-SNE job (files in, files out) behind `latentviz tsne`. The engine
//! (`gpu`, `ops`, `graph`, `knn`, `pca`, `tsne`) knows nothing of these.

pub mod bench;
pub mod explore;
pub mod figures;
pub mod snapshots;
pub mod story;
pub mod tsne_job;
