//! Instance, adapter choice and device creation, plus the pipeline cache that lives with the device.

use std::sync::{Arc, Mutex};

use super::pipeline::{PipelineCache, PipelineKey};

use crate::error::{Error, Result};

/// How to pick an adapter.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// An adapter index (as listed by `latentviz info`) or a case-insensitive part of its name.
    /// Falls back to the `LATENTVIZ_ADAPTER` environment variable, then to the best adapter.
    pub adapter: Option<String>,
}

/// What `latentviz info` prints about one adapter.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
}

/// The device, its queue and everything created once per device.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    pipelines: PipelineCache,
    /// Errors wgpu raised outside an error scope (validation inside a submitted pass, say).
    uncaptured: Arc<Mutex<Vec<String>>>,
    /// Set by [`GENERIC_KERNELS_ENV`]: no subgroup kernels and no CPU-tuned variants.
    generic_kernels: bool,
}

/// Set to anything but empty or `0`, this environment variable makes every launcher pick the
/// kernels a GPU without 8-lane subgroups gets (the SUBGROUP feature is not requested and the
/// lavapipe-tuned variants are off), so CI on lavapipe checks those against their CPU twins too.
pub const GENERIC_KERNELS_ENV: &str = "LATENTVIZ_GENERIC_KERNELS";

fn instance() -> wgpu::Instance {
    // WGPU_BACKEND, WGPU_ADAPTER_NAME and friends are read here.
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

fn backends() -> wgpu::Backends {
    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all())
}

/// Every adapter the instance sees, in wgpu's order; `index` is what `--adapter` takes.
pub fn list_adapters() -> Vec<AdapterSummary> {
    let adapters = pollster::block_on(instance().enumerate_adapters(backends()));
    adapters
        .iter()
        .enumerate()
        .map(|(index, a)| summarize(index, &a.get_info()))
        .collect()
}

fn summarize(index: usize, info: &wgpu::AdapterInfo) -> AdapterSummary {
    AdapterSummary {
        index,
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
    }
}

/// Higher is better: a real GPU before a CPU rasterizer, Vulkan/Metal/DX12 before OpenGL.
fn preference(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let device = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 1,
        wgpu::DeviceType::Cpu => 0,
    };
    let backend = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 1,
        _ => 0,
    };
    (device, backend)
}

impl Gpu {
    /// Open the best adapter (or the one `options` names) with its full limits and every
    /// optional feature latentviz can use.
    pub fn new(options: &GpuOptions) -> Result<Gpu> {
        let instance = instance();
        let adapters = pollster::block_on(instance.enumerate_adapters(backends()));
        if adapters.is_empty() {
            let backend = std::env::var("WGPU_BACKEND").unwrap_or_else(|_| "any".into());
            return Err(Error::NoAdapter(format!("backends: {backend}")));
        }
        let selector = options
            .adapter
            .clone()
            .or_else(|| std::env::var("LATENTVIZ_ADAPTER").ok())
            .filter(|s| !s.is_empty());
        let adapter = match selector {
            Some(sel) => {
                // A number is an index only: "5" must not match a digit in an adapter's name.
                let found = match sel.parse::<usize>() {
                    Ok(i) => adapters.get(i),
                    Err(_) => adapters.iter().find(|a| {
                        a.get_info()
                            .name
                            .to_lowercase()
                            .contains(&sel.to_lowercase())
                    }),
                };
                found.ok_or_else(|| {
                    let names: Vec<String> = adapters
                        .iter()
                        .enumerate()
                        .map(|(i, a)| format!("{i}: {}", a.get_info().name))
                        .collect();
                    let what = match sel.parse::<usize>() {
                        Ok(i) => format!("no adapter {i}"),
                        Err(_) => format!("no adapter's name contains '{sel}'"),
                    };
                    Error::InvalidArgument(format!(
                        "--adapter / LATENTVIZ_ADAPTER: {what}; the adapters are {} \
                         (`latentviz info` lists them)",
                        names.join(", ")
                    ))
                })?
            }
            None => adapters
                .iter()
                .max_by_key(|a| preference(&a.get_info()))
                .expect("non-empty"),
        };
        Self::open(adapter)
    }

    fn open(adapter: &wgpu::Adapter) -> Result<Gpu> {
        let info = adapter.get_info();
        let wanted = wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
            | wgpu::Features::SUBGROUP
            | wgpu::Features::SHADER_F16;
        let generic_kernels =
            std::env::var(GENERIC_KERNELS_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
        let mut features = adapter.features() & wanted;
        if generic_kernels {
            features.remove(wgpu::Features::SUBGROUP);
        }
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("latentviz"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::RequestDevice {
            adapter: info.name.clone(),
            reason: e.to_string(),
        })?;
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap().push(e.to_string());
        }));
        Ok(Gpu {
            device,
            queue,
            info,
            limits,
            features,
            pipelines: PipelineCache::default(),
            uncaptured,
            generic_kernels,
        })
    }

    /// True when the adapter runs subgroups of exactly 8 lanes (what the subgroup kernels assume).
    pub fn subgroups_of_8(&self) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP)
            && self.info.subgroup_min_size == 8
            && self.info.subgroup_max_size == 8
    }

    /// A one-line description: name, backend, device type.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }

    /// True when this adapter runs on the CPU (lavapipe, llvmpipe, WARP...).
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
            || self.info.name.to_lowercase().contains("llvmpipe")
    }

    /// True when kernel variants tuned for a CPU adapter may be picked: on a CPU adapter, unless
    /// [`GENERIC_KERNELS_ENV`] asks for the generic ones.
    pub fn cpu_tuned(&self) -> bool {
        self.is_cpu() && !self.generic_kernels
    }

    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// The compute pipeline for `entry` in the WGSL `source`, compiled once and cached (keyed by
    /// the text and entry; `label` names it in errors and profiles).
    pub fn pipeline(
        &self,
        label: &str,
        source: &str,
        entry: &str,
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        self.pipelines.get(
            &self.device,
            label,
            PipelineKey::text(source, entry),
            || source.to_string(),
        )
    }

    /// The compute pipeline for `entry` in the WGSL `generate(variant)`, generating the text only
    /// when this variant is not cached yet (for generated kernels launched thousands of times).
    pub fn generated_pipeline<V: std::fmt::Debug>(
        &self,
        label: &str,
        generate: fn(&V) -> String,
        variant: &V,
        entry: &str,
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        let key = PipelineKey::generated(generate, variant, entry);
        self.pipelines
            .get(&self.device, label, key, || generate(variant))
    }

    /// The compute pipeline for any [`PipelineKey`] (override constants included); `source`
    /// builds the text of a generated key when it is not cached yet.
    pub fn keyed_pipeline(
        &self,
        label: &str,
        key: PipelineKey,
        source: impl FnOnce() -> String,
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        self.pipelines.get(&self.device, label, key, source)
    }

    /// Submit recorded work and wait for it; reports any GPU error raised meanwhile.
    pub fn submit_and_wait(&self, commands: wgpu::CommandBuffer, context: &str) -> Result<()> {
        let index = self.queue.submit([commands]);
        self.check(context)?;
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| Error::Gpu {
                context: context.to_string(),
                message: e.to_string(),
            })?;
        self.check(context)
    }

    /// Return the first error wgpu raised outside a scope since the last check.
    pub fn check(&self, context: &str) -> Result<()> {
        let mut errors = self.uncaptured.lock().unwrap();
        if errors.is_empty() {
            return Ok(());
        }
        let message = errors.join("; ");
        errors.clear();
        Err(Error::Gpu {
            context: context.to_string(),
            message,
        })
    }

    /// Wait for all submitted work.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu {
                context: "waiting for the queue".into(),
                message: e.to_string(),
            })?;
        self.check("waiting for the queue")
    }

    pub fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }
}
