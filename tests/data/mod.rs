//! Data sets and file formats (`src/data/`).
mod download;
mod mnist;
mod npy;
mod parsers;
