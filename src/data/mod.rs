//! Data sets and array files: MNIST (IDX, raw or gzipped) with a verified downloader, the
//! generated shapes the colorization autoencoder learns to paint, and 2-D `.npy` arrays for
//! exchanging embeddings and labels with NumPy.

pub mod colorization;
pub mod download;
pub mod mnist;
pub mod npy;

pub use download::{DEFAULT_MIRROR, default_cache_dir, download_mnist};
pub use mnist::{Mnist, Split, load, read_idx};
