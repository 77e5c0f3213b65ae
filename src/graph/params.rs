//! Named trainable tensors on the GPU, shared by every graph built with the same names.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::rng::Rng;

/// How a new parameter is filled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Zeros,
    /// Keras' default: uniform in ±sqrt(6 / (fan_in + fan_out)).
    GlorotUniform {
        fan_in: usize,
        fan_out: usize,
    },
    /// He normal: N(0, 2 / fan_in).
    HeNormal {
        fan_in: usize,
    },
}

impl Init {
    /// Values for a tensor of `len` elements, from `rng`.
    pub fn values(self, len: usize, rng: &mut Rng) -> Vec<f32> {
        match self {
            Init::Zeros => vec![0.0; len],
            Init::GlorotUniform { fan_in, fan_out } => {
                let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                rng.vec(len, -limit, limit)
            }
            Init::HeNormal { fan_in } => {
                let std = (2.0 / fan_in as f64).sqrt();
                (0..len).map(|_| (rng.normal() * std) as f32).collect()
            }
        }
    }
}

/// One trainable tensor: its value, its gradient, and the optimizer's state.
pub struct Param {
    pub shape: Vec<usize>,
    pub value: wgpu::Buffer,
    pub grad: wgpu::Buffer,
    pub state: Vec<wgpu::Buffer>,
}

impl Param {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parameters by name, ordered by name so saved files and reports are stable.
pub struct ParamStore {
    pub seed: u64,
    pub params: BTreeMap<String, Param>,
}

/// FNV-1a, so each parameter's initial values depend on the seed and its name only, not on the
/// order graphs are built in.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl ParamStore {
    pub fn new(seed: u64) -> ParamStore {
        ParamStore {
            seed,
            params: BTreeMap::new(),
        }
    }

    /// The parameter `name`, created with `init` if it does not exist yet; its shape must match.
    pub fn get_or_create(
        &mut self,
        gpu: &Gpu,
        name: &str,
        shape: &[usize],
        init: Init,
    ) -> Result<&Param> {
        if let Some(p) = self.params.get(name) {
            if p.shape != shape {
                return Err(Error::shape(
                    name,
                    format!(
                        "parameter exists with shape {:?}, graph wants {shape:?}",
                        p.shape
                    ),
                ));
            }
        } else {
            let len: usize = shape.iter().product();
            let mut rng = Rng::new(self.seed ^ name_hash(name));
            let values = init.values(len, &mut rng);
            let param = Param {
                shape: shape.to_vec(),
                value: gpu.storage_from(name, &values),
                grad: gpu.storage(&format!("{name}.grad"), len),
                state: Vec::new(),
            };
            self.params.insert(name.to_string(), param);
        }
        Ok(&self.params[name])
    }

    pub fn get(&self, name: &str) -> Option<&Param> {
        self.params.get(name)
    }

    /// Make sure every parameter has `count` optimizer-state buffers (zeroed when new).
    pub fn ensure_state(&mut self, gpu: &Gpu, count: usize) {
        for (name, p) in self.params.iter_mut() {
            while p.state.len() < count {
                let i = p.state.len();
                p.state
                    .push(gpu.storage(&format!("{name}.state{i}"), p.len()));
            }
        }
    }

    /// Read every parameter back: (name, shape, values).
    pub fn read_all(&self, gpu: &Gpu) -> Result<Vec<crate::checkpoint::NamedTensor>> {
        self.params
            .iter()
            .map(|(name, p)| {
                Ok((
                    name.clone(),
                    p.shape.clone(),
                    gpu.read(&p.value, 0, p.len())?,
                ))
            })
            .collect()
    }

    /// Save every parameter to a safetensors file (atomically).
    pub fn save(&self, gpu: &Gpu, path: &Path, metadata: &[(String, String)]) -> Result<()> {
        crate::checkpoint::save(path, &self.read_all(gpu)?, metadata)
    }

    /// Load parameters from a safetensors file into a store whose graphs were already built:
    /// every parameter the store holds must be in the file with the same shape, and the file may
    /// hold nothing else (a model of another architecture is an error naming the difference).
    pub fn load(&mut self, gpu: &Gpu, path: &Path) -> Result<()> {
        let tensors = crate::checkpoint::load(path)?;
        let mut seen = std::collections::BTreeSet::new();
        for (name, shape, values) in &tensors {
            let Some(p) = self.params.get(name) else {
                return Err(Error::bad_data(
                    path,
                    format!(
                        "tensor '{name}' is not a parameter of this model (wrong architecture?)"
                    ),
                ));
            };
            if &p.shape != shape {
                return Err(Error::bad_data(
                    path,
                    format!(
                        "tensor '{name}' has shape {shape:?}, this model's is {:?} (wrong architecture?)",
                        p.shape
                    ),
                ));
            }
            // A diverged run's NaN would only show later, in codes or figures that blame their
            // own input: name the model now.
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(Error::bad_data(
                    path,
                    format!(
                        "tensor '{name}' holds {} at index {i}: the model is damaged (a diverged \
                         training run?) and cannot be used",
                        values[i]
                    ),
                ));
            }
            seen.insert(name.clone());
        }
        if let Some(missing) = self.params.keys().find(|k| !seen.contains(*k)) {
            return Err(Error::bad_data(
                path,
                format!("parameter '{missing}' is missing (wrong architecture?)"),
            ));
        }
        for (name, _, values) in &tensors {
            gpu.write(&self.params[name].value, values);
        }
        gpu.wait()
    }
}
