//! GPU timing: timestamp queries around a compute pass where the adapter has them, wall-clock
//! time around submit-and-wait where it does not.

use std::time::Instant;

use super::{Dispatch, Gpu};
use crate::error::Result;

/// Times repeated launches of a list of dispatches.
pub struct Timer<'a> {
    gpu: &'a Gpu,
}

/// What one timing measured.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Seconds per repetition.
    pub seconds: f64,
    /// True when measured by timestamp queries on the GPU.
    pub gpu_timestamps: bool,
}

impl<'a> Timer<'a> {
    pub fn new(gpu: &'a Gpu) -> Timer<'a> {
        Timer { gpu }
    }

    /// Run `dispatches` once to warm up, then `reps` times inside one pass, and return the mean
    /// seconds per repetition.
    pub fn time(&self, label: &str, dispatches: &[&Dispatch], reps: usize) -> Result<Timing> {
        let gpu = self.gpu;
        let reps = reps.max(1);
        gpu.run(label, dispatches)?;
        if gpu.has_timestamps() {
            let queries = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some(label),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            let resolved = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let mut encoder = gpu.encoder(label);
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(label),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: &queries,
                        beginning_of_pass_write_index: Some(0),
                        end_of_pass_write_index: Some(1),
                    }),
                });
                for _ in 0..reps {
                    for d in dispatches {
                        d.record(&mut pass);
                    }
                }
            }
            encoder.resolve_query_set(&queries, 0..2, &resolved, 0);
            gpu.submit_and_wait(encoder.finish(), label)?;
            let ticks: Vec<u64> = gpu.read(&resolved, 0, 2)?;
            let period = gpu.queue.get_timestamp_period() as f64;
            let seconds = ticks[1].saturating_sub(ticks[0]) as f64 * period * 1e-9;
            // Some drivers report zeros; fall through to wall time then.
            if seconds > 0.0 {
                return Ok(Timing {
                    seconds: seconds / reps as f64,
                    gpu_timestamps: true,
                });
            }
        }
        let start = Instant::now();
        let mut encoder = gpu.encoder(label);
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes: None,
            });
            for _ in 0..reps {
                for d in dispatches {
                    d.record(&mut pass);
                }
            }
        }
        gpu.submit_and_wait(encoder.finish(), label)?;
        Ok(Timing {
            seconds: start.elapsed().as_secs_f64() / reps as f64,
            gpu_timestamps: false,
        })
    }
}
