//! The compute pipeline cache, keyed by what a pipeline is built from: its WGSL (the text itself,
//! or a generator and the variant it was given), its entry point and its override constants. Two
//! keys are equal only when the pipelines would be, so variants cannot share a pipeline by mistake;
//! a label only names a pipeline in errors and profiles.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// Where a pipeline's WGSL comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ShaderKey {
    /// The WGSL text: a kernel file, or a generator's output built before the lookup.
    Text(Arc<str>),
    /// A generator (its address) and the variant it is given, for generated kernels looked up
    /// often enough that building their text for each lookup would cost. The generator takes
    /// nothing but the variant, so the variant's `Debug` form names the text completely.
    Generated { generator: usize, variant: String },
}

/// Everything a compute pipeline is built from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PipelineKey {
    pub shader: ShaderKey,
    pub entry: String,
    /// Override constants, by name, as the `f64` bits wgpu takes them in.
    pub constants: Vec<(String, u64)>,
}

impl PipelineKey {
    /// `entry` in the WGSL `source`, with no override constants.
    pub fn text(source: &str, entry: &str) -> PipelineKey {
        PipelineKey {
            shader: ShaderKey::Text(source.into()),
            entry: entry.into(),
            constants: Vec::new(),
        }
    }

    /// `entry` in the WGSL `generate(variant)`.
    pub fn generated<V: Debug>(generate: fn(&V) -> String, variant: &V, entry: &str) -> Self {
        PipelineKey {
            shader: ShaderKey::Generated {
                generator: generate as usize,
                variant: format!("{variant:?}"),
            },
            entry: entry.into(),
            constants: Vec::new(),
        }
    }

    /// The same pipeline with override constant `name` = `value`.
    pub fn constant(mut self, name: &str, value: f64) -> Self {
        self.constants.push((name.into(), value.to_bits()));
        self
    }
}

/// Pipelines compiled on one device.
#[derive(Default)]
pub(super) struct PipelineCache {
    pipelines: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
}

impl PipelineCache {
    /// The pipeline of `key`, compiled from `source()` (the WGSL the key stands for) the first time. Shader and pipeline errors
    /// come back as `Error::Gpu` naming `label` and the entry point.
    pub(super) fn get(
        &self,
        device: &wgpu::Device,
        label: &str,
        key: PipelineKey,
        source: impl FnOnce() -> String,
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        if let Some(p) = self.pipelines.lock().unwrap().get(&key) {
            return Ok(p.clone());
        }
        let name = format!("{label}::{}", key.entry);
        let source = source();
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.as_str().into()),
        });
        let constants: Vec<(&str, f64)> = key
            .constants
            .iter()
            .map(|(name, bits)| (name.as_str(), f64::from_bits(*bits)))
            .collect();
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&name),
            layout: None,
            module: &module,
            entry_point: Some(&key.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                ..Default::default()
            },
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu {
                context: format!("compiling {name}"),
                message: e.to_string(),
            });
        }
        let pipeline = Arc::new(pipeline);
        self.pipelines.lock().unwrap().insert(key, pipeline.clone());
        Ok(pipeline)
    }
}
