//! Every op against its CPU twin, and CPU backward passes against finite differences (`src/ops/`).
mod activation;
mod add;
mod conv2d;
mod dense;
mod gather;
mod loss;
mod matmul;
mod maxpool;
mod optim;
mod upsample;
