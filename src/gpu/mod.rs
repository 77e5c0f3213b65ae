//! The GPU runtime: adapter and device, buffers, texel tables, the pipeline cache, dispatch and timing.
//!
//! Every call that touches wgpu's instance, adapter, device, polling or mapping lives in this
//! module, so a wgpu upgrade changes one place.

mod buffer;
mod context;
mod dispatch;
mod pipeline;
mod texel;
mod timing;

pub use buffer::{BufferSlices, read_buffer};
pub use context::{AdapterSummary, GENERIC_KERNELS_ENV, Gpu, GpuOptions, list_adapters};
pub use dispatch::{Dispatch, LOOP_BUDGET, MAX_GROUPS_PER_DIM, workgroups_for};
pub use pipeline::{PipelineKey, ShaderKey};
pub use texel::{TexelTable, with_texel_tables};
pub use timing::{Timer, Timing};
