//! `latentviz info`: the adapters, and the chosen one's backend, type, limits and features.

use anyhow::Result;

use latentviz::{Gpu, GpuOptions};

pub fn run(options: &GpuOptions) -> Result<()> {
    println!("adapters:");
    for a in latentviz::gpu::list_adapters() {
        println!(
            "  {}: {} [{}, {}] {}",
            a.index, a.name, a.backend, a.device_type, a.driver
        );
    }
    let gpu = Gpu::new(options)?;
    println!("chosen: {}", gpu.describe());
    println!("  backend: {:?}", gpu.info.backend);
    println!("  device type: {:?}", gpu.info.device_type);
    println!("  driver: {} {}", gpu.info.driver, gpu.info.driver_info);
    println!("  features: {:?}", gpu.features);
    let l = &gpu.limits;
    println!("  limits:");
    println!("    max_buffer_size: {}", l.max_buffer_size);
    println!(
        "    max_storage_buffer_binding_size: {}",
        l.max_storage_buffer_binding_size
    );
    println!(
        "    max_storage_buffers_per_shader_stage: {}",
        l.max_storage_buffers_per_shader_stage
    );
    println!(
        "    max_compute_workgroup_storage_size: {}",
        l.max_compute_workgroup_storage_size
    );
    println!(
        "    max_compute_invocations_per_workgroup: {}",
        l.max_compute_invocations_per_workgroup
    );
    println!(
        "    max_compute_workgroups_per_dimension: {}",
        l.max_compute_workgroups_per_dimension
    );
    Ok(())
}
