//! Kernel benchmarks: parity against the CPU reference first, then time and GFLOP/s, with the
//! baselines measured in the same run.

pub mod baseline;
pub mod step;
