//! Elementwise activations: ELU (alpha 1 by default), ReLU, sigmoid; forward and backward.

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use super::{check_len, launch};
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::wgsl::WgslStruct;
use crate::{wgsl_line, wgsl_struct};

static FORWARD: LazyLock<String> =
    LazyLock::new(|| ActivationParams::as_params_of(include_str!("activation_forward.wgsl")));
static BACKWARD: LazyLock<String> =
    LazyLock::new(|| ActivationParams::as_params_of(include_str!("activation_backward.wgsl")));
const GROUP: u32 = 256;
const PER_INVOCATION: usize = 4;

wgsl_struct! {
    /// `Params` in activation_forward.wgsl and activation_backward.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct ActivationParams {
        pub len: u32,
        pub alpha: f32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Elu { alpha: f32 },
    Relu,
    Sigmoid,
}

impl Activation {
    pub const ELU: Activation = Activation::Elu { alpha: 1.0 };

    fn name(self) -> &'static str {
        match self {
            Activation::Elu { .. } => "elu",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
        }
    }

    /// Whether f'(x) can be written through the output y alone, as kernels that fuse the
    /// activation into the op before it need (they never store x): true for ReLU, the sigmoid and
    /// ELU with alpha > 0, where y > 0 exactly when x > 0.
    pub fn grad_from_output(self) -> bool {
        match self {
            Activation::Elu { alpha } => alpha > 0.0,
            Activation::Relu | Activation::Sigmoid => true,
        }
    }

    fn params(self, len: usize) -> ActivationParams {
        let alpha = match self {
            Activation::Elu { alpha } => alpha,
            _ => 0.0,
        };
        ActivationParams {
            len: len as u32,
            alpha,
            _pad0: 0,
            _pad1: 0,
        }
    }
}

fn groups(len: usize) -> [u32; 3] {
    workgroups_for(len.div_ceil(PER_INVOCATION), GROUP)
}

/// y = f(x) over `len` elements.
pub fn forward(
    gpu: &Gpu,
    act: Activation,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    len: usize,
) -> Result<Dispatch> {
    let op = act.name();
    check_len(op, "x", x, len)?;
    check_len(op, "y", y, len)?;
    let entry = format!("{op}_forward");
    launch(
        gpu,
        op,
        &FORWARD,
        &entry,
        &act.params(len),
        &[x, y],
        groups(len),
    )
}

/// dx = dy * f'(x), reading the forward input x and output y.
pub fn backward(
    gpu: &Gpu,
    act: Activation,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    dy: &wgpu::Buffer,
    dx: &wgpu::Buffer,
    len: usize,
) -> Result<Dispatch> {
    let op = act.name();
    for (name, b) in [("x", x), ("y", y), ("dy", dy), ("dx", dx)] {
        check_len(op, name, b, len)?;
    }
    let entry = format!("{op}_backward");
    let label = format!("{op} backward");
    launch(
        gpu,
        &label,
        &BACKWARD,
        &entry,
        &act.params(len),
        &[x, y, dy, dx],
        groups(len),
    )
}

/// WGSL for kernels that fuse an activation into the op before it: `fn act(v: f32) -> f32`
/// (f of a pre-activation value; the identity for `None`), `fn act4(v: vec4<f32>) -> vec4<f32>`
/// (the same per component) and `fn act_grad(y: f32) -> f32` (f' written through the output y, as
/// [`cpu::activation_grad_from_output`]; 1 for `None`). ELU's alpha is a constant of the text.
/// The fusing op checks [`Activation::grad_from_output`] before using `act_grad`.
pub fn fused_wgsl(act: Option<Activation>) -> String {
    let (alpha, body, grad) = match act {
        None => (None, "return v;", "1.0"),
        Some(Activation::Elu { alpha }) => (
            Some(alpha),
            "return select(ALPHA * (exp(v) - 1.0), v, v > 0.0);",
            "select(y + ALPHA, 1.0, y > 0.0)",
        ),
        Some(Activation::Relu) => (None, "return max(v, 0.0);", "select(0.0, 1.0, y > 0.0)"),
        // Split by sign so exp never overflows, as sigmoid_forward does.
        Some(Activation::Sigmoid) => (
            None,
            "let e = exp(-abs(v));\n    return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);",
            "y * (1.0 - y)",
        ),
    };
    let mut w = String::new();
    if let Some(alpha) = alpha {
        w.push_str(&crate::wgsl::f32_constants(&[("ALPHA", alpha)]));
    }
    let name = act.map_or("identity", Activation::name);
    wgsl_line!(
        w,
        "// The fused activation ({name}) and its derivative through its output y.
fn act(v: f32) -> f32 {{
    {body}
}}

fn act4(v: vec4<f32>) -> vec4<f32> {{
    return vec4<f32>(act(v.x), act(v.y), act(v.z), act(v.w));
}}

fn act_grad(y: f32) -> f32 {{
    return {grad};
}}
"
    );
    w
}

/// This module's kernels as the GPU gets them, by file (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("src/ops/activation_forward.wgsl", FORWARD.to_string()),
        ("src/ops/activation_backward.wgsl", BACKWARD.to_string()),
    ]
}

/// Plain-loop references, named as in the WGSL.
pub mod cpu {
    use super::Activation;

    pub fn activation_forward(act: Activation, x: &[f32]) -> Vec<f32> {
        x.iter()
            .map(|&v| match act {
                Activation::Elu { alpha } => {
                    if v > 0.0 {
                        v
                    } else {
                        alpha * (v.exp() - 1.0)
                    }
                }
                Activation::Relu => v.max(0.0),
                Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
            })
            .collect()
    }

    pub fn activation_backward(act: Activation, x: &[f32], y: &[f32], dy: &[f32]) -> Vec<f32> {
        (0..x.len())
            .map(|i| match act {
                Activation::Elu { alpha } => dy[i] * if x[i] > 0.0 { 1.0 } else { y[i] + alpha },
                Activation::Relu => {
                    if x[i] > 0.0 {
                        dy[i]
                    } else {
                        0.0
                    }
                }
                Activation::Sigmoid => dy[i] * y[i] * (1.0 - y[i]),
            })
            .collect()
    }

    /// dx = dy * f'(x) written through the output y alone, as the kernels that fuse the
    /// activation into the op before it compute it (valid where [`Activation::grad_from_output`]).
    pub fn activation_grad_from_output(act: Activation, y: &[f32], dy: &[f32]) -> Vec<f32> {
        y.iter()
            .zip(dy)
            .map(|(&y, &dy)| match act {
                Activation::Elu { alpha } => dy * if y > 0.0 { 1.0 } else { y + alpha },
                Activation::Relu => {
                    if y > 0.0 {
                        dy
                    } else {
                        0.0
                    }
                }
                Activation::Sigmoid => dy * y * (1.0 - y),
            })
            .collect()
    }

    /// The same forward pass in f64, for finite-difference checks of `activation_backward`.
    pub fn activation_f64(act: Activation, v: f64) -> f64 {
        match act {
            Activation::Elu { alpha } => {
                if v > 0.0 {
                    v
                } else {
                    alpha as f64 * (v.exp() - 1.0)
                }
            }
            Activation::Relu => v.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        }
    }
}
