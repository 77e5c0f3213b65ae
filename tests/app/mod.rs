//! Figures and the MNIST story (`src/app/`).
mod explore;
mod figures;
mod story;
