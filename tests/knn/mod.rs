//! Nearest-neighbour search (`src/knn/`).
mod clustered;
mod exact;
