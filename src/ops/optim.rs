//! Optimizers: RMSprop (Keras defaults) and Adam, updating parameters in place on the GPU.
//!
//! A training step is recorded once and submitted many times, but Adam's bias correction changes
//! with the step t. So the hyper-parameters live in one uniform buffer per optimizer
//! ([`OptimHyper`]), owned by the caller and rewritten with one `queue.write_buffer` before each
//! submit; every parameter tensor's dispatch binds that shared buffer plus a small uniform of its
//! own holding its length ([`UpdateParams`]).
//!
//! ```ignore
//! let hyper = gpu.uniform("adam hyper", &opt.hyper(1));
//! let d = optim::update(gpu, &opt, &hyper, len, &param, &grad, &[&m, &v])?;
//! for t in 1..=steps { gpu.write(&hyper, &[opt.hyper(t)]); gpu.run("step", &[&d])?; }
//! ```

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use super::check_len;
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::wgsl::{WgslStruct, with_structs};
use crate::wgsl_struct;

static RMSPROP: LazyLock<String> = LazyLock::new(|| {
    with_structs(
        &[OptimHyper::declare("Hyper"), UpdateParams::declare("Size")],
        include_str!("optim_rmsprop.wgsl"),
    )
});
static ADAM: LazyLock<String> = LazyLock::new(|| {
    with_structs(
        &[OptimHyper::declare("Hyper"), UpdateParams::declare("Size")],
        include_str!("optim_adam.wgsl"),
    )
});
const GROUP: u32 = 256;

wgsl_struct! {
    /// Hyper-parameters of one step, shared by all of an optimizer's dispatches: `Hyper` in
    /// optim_rmsprop.wgsl and optim_adam.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
    pub struct OptimHyper {
        pub lr: f32,
        /// RMSprop's rho, or Adam's beta1.
        pub rho_or_beta1: f32,
        /// Adam's beta2 (unused by RMSprop).
        pub beta2: f32,
        pub eps: f32,
        /// 1 - beta1^t (Adam; 1 for RMSprop).
        pub bias1: f32,
        /// 1 - beta2^t (Adam; 1 for RMSprop).
        pub bias2: f32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

wgsl_struct! {
    /// The per-dispatch part: how many elements this parameter tensor has: `Size` in the
    /// update shaders.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct UpdateParams {
        pub len: u32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// ms = rho ms + (1 - rho) g^2;  p -= lr g / (sqrt(ms) + eps).
    RmsProp { lr: f32, rho: f32, eps: f32 },
    /// m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr mhat / (sqrt(vhat) + eps).
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
    },
}

impl Optimizer {
    /// RMSprop with Keras' defaults: rho 0.9, eps 1e-7.
    pub fn rmsprop(lr: f32) -> Optimizer {
        Optimizer::RmsProp {
            lr,
            rho: 0.9,
            eps: 1e-7,
        }
    }

    /// Adam with Keras' defaults: beta1 0.9, beta2 0.999, eps 1e-7.
    pub fn adam(lr: f32) -> Optimizer {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        }
    }

    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::RmsProp { lr, .. } | Optimizer::Adam { lr, .. } => lr,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Optimizer::RmsProp { .. } => "rmsprop_update",
            Optimizer::Adam { .. } => "adam_update",
        }
    }

    /// The uniform contents for update number `step` (counted from 1; 0 is treated as 1).
    pub fn hyper(&self, step: u64) -> OptimHyper {
        match *self {
            Optimizer::RmsProp { lr, rho, eps } => OptimHyper {
                lr,
                rho_or_beta1: rho,
                beta2: 0.0,
                eps,
                bias1: 1.0,
                bias2: 1.0,
                _pad0: 0,
                _pad1: 0,
            },
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let t = step.clamp(1, i32::MAX as u64) as i32;
                OptimHyper {
                    lr,
                    rho_or_beta1: beta1,
                    beta2,
                    eps,
                    bias1: (1.0 - (beta1 as f64).powi(t)) as f32,
                    bias2: (1.0 - (beta2 as f64).powi(t)) as f32,
                    _pad0: 0,
                    _pad1: 0,
                }
            }
        }
    }

    /// State buffers per parameter tensor: 1 (RMSprop: ms) or 2 (Adam: m, v), zeroed at the start.
    pub fn state_buffers(&self) -> usize {
        match self {
            Optimizer::RmsProp { .. } => 1,
            Optimizer::Adam { .. } => 2,
        }
    }
}

/// Update `len` elements of `param` in place from `grad`, reading the step's hyper-parameters from
/// the caller's uniform buffer `hyper` (an [`OptimHyper`]) and keeping the optimizer's state in
/// `state` ([`Optimizer::state_buffers`] buffers of `len` values).
pub fn update(
    gpu: &Gpu,
    opt: &Optimizer,
    hyper: &wgpu::Buffer,
    len: usize,
    param: &wgpu::Buffer,
    grad: &wgpu::Buffer,
    state: &[&wgpu::Buffer],
) -> Result<Dispatch> {
    let op = opt.name();
    if len == 0 || len > u32::MAX as usize {
        return Err(Error::shape(
            op,
            format!("length must be in 1..2^32, got {len}"),
        ));
    }
    if state.len() != opt.state_buffers() {
        return Err(Error::InvalidArgument(format!(
            "{op}: {} state buffers given, {} needed",
            state.len(),
            opt.state_buffers()
        )));
    }
    let hyper_bytes = std::mem::size_of::<OptimHyper>() as u64;
    if !hyper.usage().contains(wgpu::BufferUsages::UNIFORM) || hyper.size() < hyper_bytes {
        return Err(Error::InvalidArgument(format!(
            "{op}: the hyper buffer must be a uniform of at least {hyper_bytes} bytes (Gpu::uniform)"
        )));
    }
    check_len(op, "param", param, len)?;
    check_len(op, "grad", grad, len)?;
    for (i, s) in state.iter().enumerate() {
        check_len(op, &format!("state {i}"), s, len)?;
    }
    let source = match opt {
        Optimizer::RmsProp { .. } => &RMSPROP,
        Optimizer::Adam { .. } => &ADAM,
    };
    let pipeline = gpu.pipeline(op, source, op)?;
    let size = gpu.uniform(
        &format!("{op} size"),
        &UpdateParams {
            len: len as u32,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        },
    );
    let mut resources = vec![
        hyper.as_entire_binding(),
        size.as_entire_binding(),
        param.as_entire_binding(),
        grad.as_entire_binding(),
    ];
    resources.extend(state.iter().map(|s| s.as_entire_binding()));
    let groups = workgroups_for(len, GROUP);
    Ok(Dispatch::new(gpu, op, pipeline, &resources, groups))
}

/// This module's kernels as the GPU gets them, by file (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("src/ops/optim_rmsprop.wgsl", RMSPROP.to_string()),
        ("src/ops/optim_adam.wgsl", ADAM.to_string()),
    ]
}

/// Plain-loop references, named as in the WGSL, in the same f32 operation order.
pub mod cpu {
    use super::OptimHyper;

    pub fn rmsprop_update(h: &OptimHyper, param: &mut [f32], grad: &[f32], ms: &mut [f32]) {
        let rho = h.rho_or_beta1;
        for i in 0..param.len() {
            let g = grad[i];
            let s = rho * ms[i] + (1.0 - rho) * g * g;
            ms[i] = s;
            param[i] -= h.lr * g / (s.sqrt() + h.eps);
        }
    }

    pub fn adam_update(
        h: &OptimHyper,
        param: &mut [f32],
        grad: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) {
        let (beta1, beta2) = (h.rho_or_beta1, h.beta2);
        for i in 0..param.len() {
            let g = grad[i];
            let mi = beta1 * m[i] + (1.0 - beta1) * g;
            let vi = beta2 * v[i] + (1.0 - beta2) * g * g;
            m[i] = mi;
            v[i] = vi;
            let mhat = mi / h.bias1;
            let vhat = vi / h.bias2;
            param[i] -= h.lr * mhat / (vhat.sqrt() + h.eps);
        }
    }
}
