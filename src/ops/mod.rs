//! One module per op: its params struct (declared to WGSL from Rust), shape rule, GPU launchers and a
//! plain-loop CPU reference (`cpu`) with the same names as the WGSL, so the two read side by side.

pub mod activation;
pub mod add;
pub mod conv2d;
pub mod dense;
pub mod gather;
pub mod loss;
pub mod matmul;
pub mod maxpool;
pub mod optim;
pub mod upsample;

use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, PipelineKey};

/// Build a dispatch of `entry` in `source` with `params` in a uniform buffer at binding 0 and
/// `buffers` bound whole at bindings 1, 2, ...
pub fn launch<P: bytemuck::Pod>(
    gpu: &Gpu,
    label: &str,
    source: &str,
    entry: &str,
    params: &P,
    buffers: &[&wgpu::Buffer],
    groups: [u32; 3],
) -> Result<Dispatch> {
    let resources: Vec<wgpu::BindingResource> =
        buffers.iter().map(|b| b.as_entire_binding()).collect();
    launch_bound(gpu, label, source, entry, params, &resources, groups)
}

/// As [`launch`], with any resources (buffers, texture views) at bindings 1, 2, ...
pub fn launch_bound<P: bytemuck::Pod>(
    gpu: &Gpu,
    label: &str,
    source: &str,
    entry: &str,
    params: &P,
    resources: &[wgpu::BindingResource],
    groups: [u32; 3],
) -> Result<Dispatch> {
    launch_specialized(gpu, label, source, entry, &[], params, resources, groups)
}

/// As [`launch_bound`], with the shader's `override` constants set, by name, when its pipeline
/// is made (each set of values is a pipeline of its own).
#[allow(clippy::too_many_arguments)]
pub fn launch_specialized<P: bytemuck::Pod>(
    gpu: &Gpu,
    label: &str,
    source: &str,
    entry: &str,
    constants: &[(&str, f64)],
    params: &P,
    resources: &[wgpu::BindingResource],
    groups: [u32; 3],
) -> Result<Dispatch> {
    let key = constants
        .iter()
        .fold(PipelineKey::text(source, entry), |key, &(name, value)| {
            key.constant(name, value)
        });
    let pipeline = gpu.keyed_pipeline(label, key, || source.to_string())?;
    let uniform = gpu.uniform(&format!("{label} params"), params);
    let mut bound = vec![uniform.as_entire_binding()];
    bound.extend(resources.iter().cloned());
    Ok(Dispatch::new(
        gpu,
        &format!("{label}::{entry}"),
        pipeline,
        &bound,
        groups,
    ))
}

/// Check that `buffer` holds at least `len` f32 values.
pub fn check_len(op: &str, name: &str, buffer: &wgpu::Buffer, len: usize) -> Result<()> {
    if (buffer.size() as usize) < len * 4 {
        return Err(crate::Error::shape(
            op,
            format!(
                "buffer '{name}' holds {} values, {len} needed",
                buffer.size() / 4
            ),
        ));
    }
    Ok(())
}

/// A shape whose smaller side holds `len` values and larger `largest`: not empty, and
/// indexable in u32 with room for one more doubling.
pub(crate) fn check_indexable(
    op: &str,
    shape: &dyn std::fmt::Debug,
    len: usize,
    largest: usize,
) -> Result<()> {
    if len == 0 {
        return Err(crate::Error::shape(op, format!("empty shape {shape:?}")));
    }
    if largest > u32::MAX as usize / 2 {
        return Err(crate::Error::shape(
            op,
            format!("{shape:?} exceeds 32-bit indexing"),
        ));
    }
    Ok(())
}

/// Every op's kernels as the GPU gets them, by file (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    [
        activation::kernel_sources(),
        add::kernel_sources(),
        conv2d::kernel_sources(),
        dense::kernel_sources(),
        gather::kernel_sources(),
        loss::kernel_sources(),
        matmul::kernel_sources(),
        maxpool::kernel_sources(),
        optim::kernel_sources(),
        upsample::kernel_sources(),
    ]
    .concat()
}
