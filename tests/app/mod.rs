//! Figures and the MNIST story (`src/app/`).
mod figures;
mod story;
