//! 2-D convolution (NCHW, weight [out_ch, in_ch, k, k], bias [out_ch]) with Keras 'same' or
//! 'valid' padding and any stride: forward, and the gradients for input, weight and bias.
//! Backward results overwrite their buffers; the weight and bias gradients are two-pass gathers
//! (partial sums over chunks of the batch, then a reduce), so no atomics are needed.
//!
//! Three families of kernels compute the passes; [`Conv2dKernel::best`] ([`tune`]) picks one per
//! pass and shape:
//! - [`blocked`]: register-blocked direct kernels, 8 channels x a block of pixels or weight
//!   columns per invocation. Every pass, every shape, every adapter.
//! - [`subgroup`]: each pass as an implicit GEMM on subgroups of exactly 8 lanes, which share
//!   their loads. Runs where the adapter has such subgroups (lavapipe) and the layer has at least
//!   8 channels on the product's column side.
//! - [`few_channels`]: stride-1 layers with 1-4 output channels, every output channel in one
//!   invocation's `vecN` accumulators. Forward pass and weight gradient.
//!
//! The bias gradient has one kernel (backward_bias.wgsl, launched here). [`cpu`] is the plain-loop
//! reference every kernel is tested against; [`naive`] the one-output-per-invocation GPU baseline
//! the benchmark compares them with.

pub mod blocked;
pub mod cpu;
pub mod few_channels;
pub mod naive;
pub mod subgroup;
mod tune;

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};
use wgpu::Buffer;

use super::{check_len, launch};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::activation::{self, Activation};
use crate::wgsl::{WgslStruct, u32_constants, with_structs};
use crate::wgsl_struct;
pub use blocked::weight_grad_chunks;
use blocked::{BACKWARD_WEIGHT, CHANNEL_BLOCK, GROUP};
pub use tune::{Conv2dKernel, Conv2dPass};

/// The bias-gradient kernels (backward_bias.wgsl) with their params, and `act_grad` of the
/// activation fused into the forward pass (the identity's for the plain bias gradient).
fn backward_bias_source(act: Option<Activation>) -> String {
    with_structs(
        &[
            Conv2dParams::declare("Params"),
            u32_constants(&[("GROUP", GROUP as usize)]),
            activation::fused_wgsl(act),
        ],
        include_str!("backward_bias.wgsl"),
    )
}

/// The plain bias-gradient kernels, generated once.
static BACKWARD_BIAS: LazyLock<String> = LazyLock::new(|| backward_bias_source(None));

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Keras 'same': out = ceil(in / stride), padding split with the extra cell at bottom/right.
    Same,
    /// No padding: out = (in - k) / stride + 1.
    Valid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dShape {
    pub batch: usize,
    pub in_ch: usize,
    pub out_ch: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: Padding,
}

wgsl_struct! {
    /// The uniform params of every conv2d kernel (declared to WGSL as `Params`).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct Conv2dParams {
        pub batch: u32,
        pub in_ch: u32,
        pub out_ch: u32,
        pub height: u32,
        pub width: u32,
        pub out_h: u32,
        pub out_w: u32,
        pub kernel: u32,
        pub stride: u32,
        pub pad_top: u32,
        pub pad_left: u32,
        /// Batch chunks of the weight gradient's partial sums (1 elsewhere).
        pub chunks: u32,
        /// Images per chunk; for the few-channel weight gradient, bands of output rows per chunk.
        pub batch_per_chunk: u32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

/// Output size and leading padding along one axis. Never panics: a shape `validate` rejects
/// (stride 0, a 'valid' kernel larger than the input) gives sizes that are merely meaningless.
fn axis(input: usize, kernel: usize, stride: usize, padding: Padding) -> (usize, usize) {
    let stride = stride.max(1);
    match padding {
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = (out.saturating_sub(1) * stride + kernel).saturating_sub(input);
            (out, total / 2)
        }
        Padding::Valid if input < kernel => (0, 0),
        Padding::Valid => ((input - kernel) / stride + 1, 0),
    }
}

impl Conv2dShape {
    /// (out_h, out_w).
    pub fn out_hw(&self) -> (usize, usize) {
        (
            axis(self.height, self.kernel, self.stride, self.padding).0,
            axis(self.width, self.kernel, self.stride, self.padding).0,
        )
    }

    /// (pad_top, pad_left): the padding before the first row and column.
    pub fn pads(&self) -> (usize, usize) {
        (
            axis(self.height, self.kernel, self.stride, self.padding).1,
            axis(self.width, self.kernel, self.stride, self.padding).1,
        )
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.in_ch * self.height * self.width
    }

    pub fn output_len(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.batch * self.out_ch * oh * ow
    }

    pub fn weight_len(&self) -> usize {
        self.out_ch * self.in_ch * self.kernel * self.kernel
    }

    pub fn bias_len(&self) -> usize {
        self.out_ch
    }

    /// Multiply-adds of the forward pass counted as 2 flops (each backward pass does as many).
    pub fn flops(&self) -> f64 {
        2.0 * self.output_len() as f64 * (self.in_ch * self.kernel * self.kernel) as f64
    }

    /// Every size positive, stride >= 1, the kernel fitting a 'valid' input, and every length
    /// indexable by the shaders' u32 arithmetic.
    pub fn validate(&self) -> Result<()> {
        let s = self;
        if s.batch == 0 || s.in_ch == 0 || s.out_ch == 0 || s.height == 0 || s.width == 0 {
            return Err(Error::shape("conv2d", format!("empty shape {s:?}")));
        }
        if s.kernel == 0 || s.stride == 0 {
            return Err(Error::shape(
                "conv2d",
                format!("kernel {} and stride {} must be >= 1", s.kernel, s.stride),
            ));
        }
        if s.padding == Padding::Valid && (s.kernel > s.height || s.kernel > s.width) {
            return Err(Error::shape(
                "conv2d",
                format!(
                    "'valid' kernel {k}x{k} larger than the {}x{} input",
                    s.height,
                    s.width,
                    k = s.kernel
                ),
            ));
        }
        let limit = u32::MAX as usize / 2;
        let (oh, ow) = self.out_hw();
        let too_big = [
            s.input_len(),
            s.output_len(),
            s.weight_len(),
            s.height + 2 * s.kernel,
            s.width + 2 * s.kernel,
            oh * s.stride + s.kernel,
            ow * s.stride + s.kernel,
        ]
        .iter()
        .any(|&n| n > limit);
        let too_big = too_big || s.in_ch.max(s.out_ch) > CHANNEL_BLOCK * 65_535;
        if too_big {
            return Err(Error::shape(
                "conv2d",
                format!("{s:?} exceeds 32-bit indexing"),
            ));
        }
        Ok(())
    }

    /// The kernels' params for this shape, with the weight gradient's batch split.
    fn params(&self, chunks: usize, batch_per_chunk: usize) -> Conv2dParams {
        let (out_h, out_w) = self.out_hw();
        let (pad_top, pad_left) = self.pads();
        Conv2dParams {
            batch: self.batch as u32,
            in_ch: self.in_ch as u32,
            out_ch: self.out_ch as u32,
            height: self.height as u32,
            width: self.width as u32,
            out_h: out_h as u32,
            out_w: out_w as u32,
            kernel: self.kernel as u32,
            stride: self.stride as u32,
            pad_top: pad_top as u32,
            pad_left: pad_left as u32,
            chunks: chunks as u32,
            batch_per_chunk: batch_per_chunk as u32,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        }
    }
}

/// A buffer of `len` f32 must fit one storage binding (128 MiB on lavapipe).
fn check_binding(gpu: &Gpu, op: &str, name: &str, len: usize) -> Result<()> {
    let max = gpu.limits.max_storage_buffer_binding_size as usize / 4;
    if len > max {
        return Err(Error::shape(
            op,
            format!("'{name}' needs {len} values, more than one binding holds ({max})"),
        ));
    }
    Ok(())
}

/// Shape checks shared by every launcher: a valid shape, and each buffer large enough and small
/// enough to be bound whole.
fn check(gpu: &Gpu, op: &str, s: &Conv2dShape, buffers: &[(&str, &Buffer, usize)]) -> Result<()> {
    s.validate()?;
    for &(name, buffer, len) in buffers {
        check_len(op, name, buffer, len)?;
        check_binding(gpu, op, name, len)?;
    }
    Ok(())
}

/// y = conv(x, w) + b, with the fastest kernel the adapter runs ([`Conv2dKernel::best`]).
pub fn forward(
    gpu: &Gpu,
    s: &Conv2dShape,
    x: &Buffer,
    w: &Buffer,
    b: &Buffer,
    y: &Buffer,
) -> Result<Vec<Dispatch>> {
    forward_fused(gpu, s, None, x, w, b, y)
}

/// y = act(conv(x, w) + b) with the activation applied as each output is stored (one write of
/// y; the identity for `None`), with the fastest kernel the adapter runs.
pub fn forward_fused(
    gpu: &Gpu,
    s: &Conv2dShape,
    act: Option<Activation>,
    x: &Buffer,
    w: &Buffer,
    b: &Buffer,
    y: &Buffer,
) -> Result<Vec<Dispatch>> {
    let kernel = Conv2dKernel::best(gpu, s, Conv2dPass::Forward);
    forward_fused_with(gpu, kernel, s, act, x, w, b, y)
}

/// Check that `kernel` runs `pass` of `s` on this adapter.
fn check_kernel(
    gpu: &Gpu,
    op: &str,
    kernel: Conv2dKernel,
    s: &Conv2dShape,
    pass: Conv2dPass,
) -> Result<()> {
    if !kernel.supported(gpu) {
        return Err(Error::InvalidArgument(format!(
            "{op}: kernel {kernel:?} needs subgroups of exactly {} lanes, adapter has {}..{}",
            subgroup::LANES,
            gpu.info.subgroup_min_size,
            gpu.info.subgroup_max_size
        )));
    }
    if !kernel.handles(s, pass) {
        return Err(Error::InvalidArgument(format!(
            "{op}: kernel {kernel:?} does not handle {s:?}"
        )));
    }
    Ok(())
}

/// y = conv(x, w) + b with a chosen kernel family (tests run each).
pub fn forward_with(
    gpu: &Gpu,
    kernel: Conv2dKernel,
    s: &Conv2dShape,
    x: &Buffer,
    w: &Buffer,
    b: &Buffer,
    y: &Buffer,
) -> Result<Vec<Dispatch>> {
    forward_fused_with(gpu, kernel, s, None, x, w, b, y)
}

/// y = act(conv(x, w) + b) with a chosen kernel family.
#[allow(clippy::too_many_arguments)]
pub fn forward_fused_with(
    gpu: &Gpu,
    kernel: Conv2dKernel,
    s: &Conv2dShape,
    act: Option<Activation>,
    x: &Buffer,
    w: &Buffer,
    b: &Buffer,
    y: &Buffer,
) -> Result<Vec<Dispatch>> {
    let op = "conv2d forward";
    check(
        gpu,
        op,
        s,
        &[
            ("x", x, s.input_len()),
            ("w", w, s.weight_len()),
            ("b", b, s.bias_len()),
            ("y", y, s.output_len()),
        ],
    )?;
    check_kernel(gpu, op, kernel, s, Conv2dPass::Forward)?;
    let params = s.params(1, s.batch);
    let buffers = [x, w, b, y];
    let d = match kernel {
        Conv2dKernel::Subgroup => {
            let (repack, wt) =
                subgroup::repack_weights(gpu, op, s, Conv2dPass::Forward, &params, w)?;
            let d = subgroup::launch_tiles(
                gpu,
                op,
                s,
                Conv2dPass::Forward,
                act,
                &params,
                &[x, &wt, b, y],
                1,
            )?;
            return Ok(vec![repack, d.with_flops(s.flops())]);
        }
        Conv2dKernel::FewChannels => few_channels::forward(gpu, op, s, act, &params, &buffers)?,
        Conv2dKernel::Blocked => blocked::forward(gpu, op, s, act, &params, &buffers)?,
    };
    Ok(vec![d.with_flops(s.flops())])
}

/// dx = the gradient of the loss with respect to x, given dy (overwrites dx), with the fastest
/// kernel the adapter runs.
pub fn backward_input(
    gpu: &Gpu,
    s: &Conv2dShape,
    dy: &Buffer,
    w: &Buffer,
    dx: &Buffer,
) -> Result<Vec<Dispatch>> {
    let kernel = Conv2dKernel::best(gpu, s, Conv2dPass::BackwardInput);
    backward_input_with(gpu, kernel, s, dy, w, dx)
}

/// The input gradient with a chosen kernel family.
pub fn backward_input_with(
    gpu: &Gpu,
    kernel: Conv2dKernel,
    s: &Conv2dShape,
    dy: &Buffer,
    w: &Buffer,
    dx: &Buffer,
) -> Result<Vec<Dispatch>> {
    let op = "conv2d backward input";
    check(
        gpu,
        op,
        s,
        &[
            ("dy", dy, s.output_len()),
            ("w", w, s.weight_len()),
            ("dx", dx, s.input_len()),
        ],
    )?;
    check_kernel(gpu, op, kernel, s, Conv2dPass::BackwardInput)?;
    let params = s.params(1, s.batch);
    if kernel == Conv2dKernel::Subgroup {
        let (repack, wt) =
            subgroup::repack_weights(gpu, op, s, Conv2dPass::BackwardInput, &params, w)?;
        let d = subgroup::launch_tiles(
            gpu,
            op,
            s,
            Conv2dPass::BackwardInput,
            None,
            &params,
            &[dy, &wt, dx],
            1,
        )?;
        return Ok(vec![repack, d.with_flops(s.flops())]);
    }
    let d = blocked::backward_input(gpu, op, s, &params, &[dy, w, dx])?;
    Ok(vec![d.with_flops(s.flops())])
}

/// dw = the gradient of the loss with respect to w, given x and dy (overwrites dw). Two
/// dispatches: partial sums over batch chunks into a scratch buffer owned by the dispatches, then
/// their sum.
pub fn backward_weight(
    gpu: &Gpu,
    s: &Conv2dShape,
    x: &Buffer,
    dy: &Buffer,
    dw: &Buffer,
) -> Result<Vec<Dispatch>> {
    let kernel = Conv2dKernel::best(gpu, s, Conv2dPass::BackwardWeight);
    backward_weight_with(gpu, kernel, s, x, dy, dw)
}

/// The weight gradient with a chosen kernel family.
pub fn backward_weight_with(
    gpu: &Gpu,
    kernel: Conv2dKernel,
    s: &Conv2dShape,
    x: &Buffer,
    dy: &Buffer,
    dw: &Buffer,
) -> Result<Vec<Dispatch>> {
    let op = "conv2d backward weight";
    check(
        gpu,
        op,
        s,
        &[
            ("x", x, s.input_len()),
            ("dy", dy, s.output_len()),
            ("dw", dw, s.weight_len()),
        ],
    )?;
    check_kernel(gpu, op, kernel, s, Conv2dPass::BackwardWeight)?;
    let (chunks, batch_per_chunk) = match kernel {
        Conv2dKernel::Subgroup => subgroup::weight_chunks(s),
        Conv2dKernel::FewChannels => few_channels::weight_chunks(s),
        Conv2dKernel::Blocked => weight_grad_chunks(s),
    };
    let partial_len = chunks * s.weight_len();
    check_binding(gpu, op, "partial sums", partial_len)?;
    let partial = gpu.storage(&format!("{op} partial sums"), partial_len);
    let params = s.params(chunks, batch_per_chunk);
    let buffers = [x, dy, &partial, dw];
    let sums = match kernel {
        Conv2dKernel::Subgroup => subgroup::launch_tiles(
            gpu,
            op,
            s,
            Conv2dPass::BackwardWeight,
            None,
            &params,
            &buffers,
            chunks,
        )?,
        Conv2dKernel::FewChannels => {
            few_channels::backward_weight(gpu, op, s, chunks, &params, &buffers)?
        }
        Conv2dKernel::Blocked => blocked::backward_weight(gpu, op, s, chunks, &params, &buffers)?,
    };
    let reduce = launch(
        gpu,
        op,
        &BACKWARD_WEIGHT,
        "conv2d_backward_weight_reduce",
        &params,
        &buffers,
        workgroups_for(s.weight_len(), GROUP),
    )?;
    Ok(vec![sums.with_flops(s.flops()), reduce])
}

/// db = the gradient of the loss with respect to b, given dy (overwrites db). Two dispatches: one
/// sum per (image, channel), then the sum over images.
pub fn backward_bias(
    gpu: &Gpu,
    s: &Conv2dShape,
    dy: &Buffer,
    db: &Buffer,
) -> Result<Vec<Dispatch>> {
    let op = "conv2d backward bias";
    check(
        gpu,
        op,
        s,
        &[("dy", dy, s.output_len()), ("db", db, s.bias_len())],
    )?;
    let partial_len = s.batch * s.out_ch;
    let partial = gpu.storage(&format!("{op} partial sums"), partial_len);
    let params = s.params(1, s.batch);
    let buffers = [dy, &partial, db];
    let sums = launch(
        gpu,
        op,
        &BACKWARD_BIAS,
        "conv2d_backward_bias",
        &params,
        &buffers,
        workgroups_for(partial_len, GROUP),
    )?;
    let reduce = launch(
        gpu,
        op,
        &BACKWARD_BIAS,
        "conv2d_backward_bias_reduce",
        &params,
        &buffers,
        workgroups_for(s.out_ch, GROUP),
    )?;
    Ok(vec![sums, reduce])
}

/// The bias gradient of a conv whose forward pass fused `act` (y = act(conv + bias), given y and
/// dy = the gradient with respect to y): writes dz = dy * act'(y), the gradient with respect to
/// the conv's output that its input and weight gradients then read, and db = the sum of dz over
/// every pixel (overwrites both). Two dispatches, as [`backward_bias`]: the activation's
/// derivative costs no pass of its own.
pub fn backward_bias_act(
    gpu: &Gpu,
    s: &Conv2dShape,
    act: Activation,
    y: &Buffer,
    dy: &Buffer,
    dz: &Buffer,
    db: &Buffer,
) -> Result<Vec<Dispatch>> {
    let op = "conv2d backward bias and activation";
    check(
        gpu,
        op,
        s,
        &[
            ("y", y, s.output_len()),
            ("dy", dy, s.output_len()),
            ("dz", dz, s.output_len()),
            ("db", db, s.bias_len()),
        ],
    )?;
    if !act.grad_from_output() {
        return Err(Error::InvalidArgument(format!(
            "{op}: the derivative of {act:?} cannot be taken from its output alone"
        )));
    }
    let partial_len = s.batch * s.out_ch;
    let partial = gpu.storage(&format!("{op} partial sums"), partial_len);
    let params = s.params(1, s.batch);
    let sums = launch(
        gpu,
        op,
        &backward_bias_source(Some(act)),
        "conv2d_backward_bias_act",
        &params,
        &[dy, &partial, db, y, dz],
        workgroups_for(partial_len, GROUP),
    )?;
    let reduce = launch(
        gpu,
        op,
        &BACKWARD_BIAS,
        "conv2d_backward_bias_reduce",
        &params,
        &[dz, &partial, db],
        workgroups_for(s.out_ch, GROUP),
    )?;
    Ok(vec![sums, reduce])
}

/// This folder's kernel files as the GPU gets them (tests/shaders.rs validates each, the bias
/// gradient with every activation it fuses; the generated kernels are validated there for every
/// variant).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    let fused = [Activation::ELU, Activation::Relu, Activation::Sigmoid];
    let bias = std::iter::once(None).chain(fused.map(Some));
    bias.map(|act| {
        (
            "src/ops/conv2d/backward_bias.wgsl",
            backward_bias_source(act),
        )
    })
    .chain([
        (
            "src/ops/conv2d/naive_forward.wgsl",
            naive::NAIVE_FORWARD.to_string(),
        ),
        (
            "src/ops/conv2d/naive_backward_input.wgsl",
            naive::NAIVE_BACKWARD_INPUT.to_string(),
        ),
        (
            "src/ops/conv2d/naive_backward_weight.wgsl",
            naive::NAIVE_BACKWARD_WEIGHT.to_string(),
        ),
    ])
    .collect()
}
