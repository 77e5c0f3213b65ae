//! Prepared dispatches: a pipeline, its bind group and a workgroup count, recorded many times.

use std::sync::Arc;

use super::Gpu;
use crate::error::Result;

/// wgpu's (and WebGPU's) limit on workgroups along one dispatch dimension.
pub const MAX_GROUPS_PER_DIM: u32 = 65_535;

/// Workgroup counts for `invocations` threads in groups of `group_size`, folded into y when x
/// would pass 65,535. Shaders rebuild the flat index as `wg.x + wg.y * num_workgroups.x`, and guard
/// against the few extra groups the fold adds.
pub fn workgroups_for(invocations: usize, group_size: u32) -> [u32; 3] {
    let groups = invocations.div_ceil(group_size as usize).max(1);
    if groups <= MAX_GROUPS_PER_DIM as usize {
        [groups as u32, 1, 1]
    } else {
        let y = groups.div_ceil(MAX_GROUPS_PER_DIM as usize);
        [MAX_GROUPS_PER_DIM, y as u32, 1]
    }
}

/// One kernel launch with its buffers bound, ready to be recorded into any compute pass.
pub struct Dispatch {
    pub label: String,
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    pub groups: [u32; 3],
    /// Floating-point operations one launch performs (for GFLOP/s reports; 0 when not counted).
    pub flops: f64,
}

impl Dispatch {
    /// Bind `resources` to bindings 0, 1, 2... of group 0 of `pipeline`.
    pub fn new(
        gpu: &Gpu,
        label: &str,
        pipeline: Arc<wgpu::ComputePipeline>,
        resources: &[wgpu::BindingResource],
        groups: [u32; 3],
    ) -> Dispatch {
        let layout = pipeline.get_bind_group_layout(0);
        let entries: Vec<wgpu::BindGroupEntry> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: r.clone(),
            })
            .collect();
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &layout,
            entries: &entries,
        });
        Dispatch {
            label: label.to_string(),
            pipeline,
            bind_group,
            groups,
            flops: 0.0,
        }
    }

    pub fn with_flops(mut self, flops: f64) -> Dispatch {
        self.flops = flops;
        self
    }

    /// Record this launch into an open compute pass.
    pub fn record(&self, pass: &mut wgpu::ComputePass) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.groups[0], self.groups[1], self.groups[2]);
    }
}

impl Gpu {
    /// Record `dispatches` in order into one compute pass, submit, and wait.
    pub fn run(&self, label: &str, dispatches: &[&Dispatch]) -> Result<()> {
        let mut encoder = self.encoder(label);
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes: None,
            });
            for d in dispatches {
                d.record(&mut pass);
            }
        }
        self.submit_and_wait(encoder.finish(), label)
    }
}

/// Loop iterations one kernel invocation may run. Mesa's lavapipe (gallivm) stops an invocation
/// after 65,535 loop iterations in all its loops together and carries on silently, so every kernel
/// bounds its loops below this (splitting work over dispatches where needed).
pub const LOOP_BUDGET: usize = 60_000;
