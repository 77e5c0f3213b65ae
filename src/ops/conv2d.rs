//! 2-D convolution (NCHW, weight [out_ch, in_ch, k, k], bias [out_ch]) with Keras 'same' or
//! 'valid' padding and any stride: forward, and the gradients for input, weight and bias.
//!
//! Every kernel is register-blocked with named vec4 accumulators: 8 channels (taken from the
//! workgroup id, so weight offsets are uniform) x 16 pixels per invocation for the forward pass
//! and the input gradient, 8 output channels x 8 weight columns for the weight gradient. On
//! lavapipe loads, not arithmetic, bound these kernels, so stride 1 gets kernels that walk a row
//! run and slide along kw (one new load per tap), and layers with at most 2 channels on the
//! blocked side get one-channel-per-workgroup twins instead of a mostly clamped block of 8; the
//! weight gradient has a sliding stride-1 3x3 kernel. The weight and bias gradients are two-pass
//! gathers: partial sums over chunks of the batch, then a reduce; no atomics. Backward results
//! overwrite their buffers.

use bytemuck::{Pod, Zeroable};
use wgpu::Buffer;

use super::{check_len, launch};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};

const FORWARD: &str = include_str!("../../shaders/conv2d_forward.wgsl");
const BACKWARD_INPUT: &str = include_str!("../../shaders/conv2d_backward_input.wgsl");
const BACKWARD_WEIGHT: &str = include_str!("../../shaders/conv2d_backward_weight.wgsl");
const BACKWARD_BIAS: &str = include_str!("../../shaders/conv2d_backward_bias.wgsl");
/// Workgroup size of every conv2d kernel.
const GROUP: u32 = 64;
/// Weight columns per invocation of the general weight gradient (times `CHANNEL_BLOCK` channels).
const WEIGHT_COLUMNS: usize = 8;
/// Input channels per invocation of the stride-1 3x3 weight gradient (times 3 taps times
/// `CHANNEL_BLOCK` channels).
const WEIGHT_K3_IN_CHANNELS: usize = 4;
/// Input channels per invocation of its one-output-channel twin (times 3 taps).
const WEIGHT_K3_IN_CHANNELS_SINGLE: usize = 8;
/// Channels per workgroup of every conv2d kernel (8: two vec4 accumulators per pixel).
const CHANNEL_BLOCK: usize = 8;
/// Pixels per invocation of the general-stride forward and input-gradient kernels (strided by the
/// workgroup size: pixel q + 64 j).
const PIXELS_PER_LANE: usize = 16;
/// Consecutive row pixels per invocation of the stride-1 kernels (`*_s1`).
const ROW_RUN: usize = 16;
/// Up to this many channels, the stride-1 kernels take one channel per workgroup (`*_s1_c1`,
/// `ROW_RUN_SINGLE` pixels per invocation) instead of a mostly clamped block of 8.
const SINGLE_CHANNEL_MAX: usize = 2;
const ROW_RUN_SINGLE: usize = 32;
/// The weight gradient splits the batch into chunks until about this many invocations run.
const WEIGHT_GRAD_INVOCATIONS: usize = 8192;

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

/// Mirrors `Params` in shaders/conv2d_*.wgsl.
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
    pub batch_per_chunk: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
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

/// Workgroups for the forward and input-gradient kernels: (x, y) fold over `lanes` invocations
/// (each a block of pixels), z counts blocks of `CHANNEL_BLOCK` channels (uniform within a
/// workgroup).
fn lanes_by_channel_groups(lanes: usize, channels: usize) -> [u32; 3] {
    let [x, y, _] = workgroups_for(lanes, GROUP);
    [x, y, channels.div_ceil(CHANNEL_BLOCK) as u32]
}

/// As `lanes_by_channel_groups`, one channel per workgroup along z.
fn lanes_by_channel(lanes: usize, channels: usize) -> [u32; 3] {
    let [x, y, _] = workgroups_for(lanes, GROUP);
    [x, y, channels as u32]
}

/// The weight-gradient kernel for `s`, its invocations per batch chunk and per block of output
/// channels, and its workgroup count along z (output-channel blocks): the sliding stride-1 3x3
/// kernels (blocks of input channels x one kernel row; one output channel per workgroup when
/// there are at most `SINGLE_CHANNEL_MAX`), or the general one (blocks of `WEIGHT_COLUMNS` flat
/// [ic, kh, kw] columns).
fn weight_grad_kernel(s: &Conv2dShape) -> (&'static str, usize, usize) {
    let oc_blocks = s.out_ch.div_ceil(CHANNEL_BLOCK);
    if s.stride == 1 && s.kernel == 3 && s.out_ch <= SINGLE_CHANNEL_MAX {
        let lanes = s.in_ch.div_ceil(WEIGHT_K3_IN_CHANNELS_SINGLE) * 3;
        ("conv2d_backward_weight_s1k3_c1", lanes, s.out_ch)
    } else if s.stride == 1 && s.kernel == 3 {
        let lanes = s.in_ch.div_ceil(WEIGHT_K3_IN_CHANNELS) * 3;
        ("conv2d_backward_weight_s1k3", lanes, oc_blocks)
    } else {
        let lanes = (s.in_ch * s.kernel * s.kernel).div_ceil(WEIGHT_COLUMNS);
        ("conv2d_backward_weight", lanes, oc_blocks)
    }
}

/// y = conv(x, w) + b.
pub fn forward(
    gpu: &Gpu,
    s: &Conv2dShape,
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
    let (oh, ow) = s.out_hw();
    let (entry, groups) = if s.stride == 1 && s.out_ch <= SINGLE_CHANNEL_MAX {
        let lanes = s.batch * oh * ow.div_ceil(ROW_RUN_SINGLE);
        ("conv2d_forward_s1_c1", lanes_by_channel(lanes, s.out_ch))
    } else if s.stride == 1 {
        let lanes = s.batch * oh * ow.div_ceil(ROW_RUN);
        (
            "conv2d_forward_s1",
            lanes_by_channel_groups(lanes, s.out_ch),
        )
    } else {
        let lanes = (s.batch * oh * ow).div_ceil(PIXELS_PER_LANE);
        ("conv2d_forward", lanes_by_channel_groups(lanes, s.out_ch))
    };
    let params = s.params(1, s.batch);
    let d = launch(gpu, op, FORWARD, entry, &params, &[x, w, b, y], groups)?;
    Ok(vec![d.with_flops(s.flops())])
}

/// dx = the gradient of the loss with respect to x, given dy (overwrites dx).
pub fn backward_input(
    gpu: &Gpu,
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
    let (entry, groups) = if s.stride == 1 && s.in_ch <= SINGLE_CHANNEL_MAX {
        let lanes = s.batch * s.height * s.width.div_ceil(ROW_RUN_SINGLE);
        (
            "conv2d_backward_input_s1_c1",
            lanes_by_channel(lanes, s.in_ch),
        )
    } else if s.stride == 1 {
        let lanes = s.batch * s.height * s.width.div_ceil(ROW_RUN);
        (
            "conv2d_backward_input_s1",
            lanes_by_channel_groups(lanes, s.in_ch),
        )
    } else {
        let lanes = (s.batch * s.height * s.width).div_ceil(PIXELS_PER_LANE);
        (
            "conv2d_backward_input",
            lanes_by_channel_groups(lanes, s.in_ch),
        )
    };
    let params = s.params(1, s.batch);
    let d = launch(
        gpu,
        op,
        BACKWARD_INPUT,
        entry,
        &params,
        &[dy, w, dx],
        groups,
    )?;
    Ok(vec![d.with_flops(s.flops())])
}

/// How the weight gradient splits the batch: (chunks, images per chunk).
pub fn weight_grad_chunks(s: &Conv2dShape) -> (usize, usize) {
    let (_, lanes, z) = weight_grad_kernel(s);
    let per_chunk = lanes * z;
    let wanted = WEIGHT_GRAD_INVOCATIONS
        .div_ceil(per_chunk)
        .clamp(1, s.batch);
    let batch_per_chunk = s.batch.div_ceil(wanted);
    (s.batch.div_ceil(batch_per_chunk), batch_per_chunk)
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
    let (chunks, batch_per_chunk) = weight_grad_chunks(s);
    let partial_len = chunks * s.weight_len();
    check_binding(gpu, op, "partial sums", partial_len)?;
    let partial = gpu.storage(&format!("{op} partial sums"), partial_len);
    let params = s.params(chunks, batch_per_chunk);
    let buffers = [x, dy, &partial, dw];
    let (entry, lanes_per_chunk, z) = weight_grad_kernel(s);
    let [gx, gy, _] = workgroups_for(chunks * lanes_per_chunk, GROUP);
    let sums = launch(
        gpu,
        op,
        BACKWARD_WEIGHT,
        entry,
        &params,
        &buffers,
        [gx, gy, z as u32],
    )?;
    let reduce = launch(
        gpu,
        op,
        BACKWARD_WEIGHT,
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
        BACKWARD_BIAS,
        "conv2d_backward_bias",
        &params,
        &buffers,
        workgroups_for(partial_len, GROUP),
    )?;
    let reduce = launch(
        gpu,
        op,
        BACKWARD_BIAS,
        "conv2d_backward_bias_reduce",
        &params,
        &buffers,
        workgroups_for(s.out_ch, GROUP),
    )?;
    Ok(vec![sums, reduce])
}

/// Plain-loop references, named as in the WGSL. The f64 versions do the work (and serve the
/// finite-difference checks); the f32 ones convert in and out.
pub mod cpu {
    use super::Conv2dShape;

    fn widen(v: &[f32]) -> Vec<f64> {
        v.iter().map(|&a| a as f64).collect()
    }

    fn narrow(v: Vec<f64>) -> Vec<f32> {
        v.into_iter().map(|a| a as f32).collect()
    }

    /// Calls `f(x_index, y_index, w_index)` for every multiply-add of the forward pass: input
    /// cell, output cell and weight that meet (padding taps skipped).
    fn for_each_tap(s: &Conv2dShape, mut f: impl FnMut(usize, usize, usize)) {
        let (oh_n, ow_n) = s.out_hw();
        let (pt, pl) = s.pads();
        let k = s.kernel;
        for b in 0..s.batch {
            for oc in 0..s.out_ch {
                for oh in 0..oh_n {
                    for ow in 0..ow_n {
                        let yi = ((b * s.out_ch + oc) * oh_n + oh) * ow_n + ow;
                        for ic in 0..s.in_ch {
                            for kh in 0..k {
                                // ih = oh*stride - pad_top + kh, skipped outside the input.
                                let ih = (oh * s.stride + kh).wrapping_sub(pt);
                                if ih >= s.height {
                                    continue;
                                }
                                for kw in 0..k {
                                    let iw = (ow * s.stride + kw).wrapping_sub(pl);
                                    if iw >= s.width {
                                        continue;
                                    }
                                    let xi = ((b * s.in_ch + ic) * s.height + ih) * s.width + iw;
                                    let wi = ((oc * s.in_ch + ic) * k + kh) * k + kw;
                                    f(xi, yi, wi);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn conv2d_forward_f64(s: &Conv2dShape, x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
        let (oh, ow) = s.out_hw();
        let plane = oh * ow;
        let mut y: Vec<f64> = (0..s.output_len())
            .map(|i| b[(i / plane) % s.out_ch])
            .collect();
        for_each_tap(s, |xi, yi, wi| y[yi] += w[wi] * x[xi]);
        y
    }

    /// dx[xi] = sum of w * dy over every tap that reads x[xi] (a scatter here; a gather on the GPU).
    pub fn conv2d_backward_input_f64(s: &Conv2dShape, dy: &[f64], w: &[f64]) -> Vec<f64> {
        let mut dx = vec![0.0; s.input_len()];
        for_each_tap(s, |xi, yi, wi| dx[xi] += w[wi] * dy[yi]);
        dx
    }

    pub fn conv2d_backward_weight_f64(s: &Conv2dShape, x: &[f64], dy: &[f64]) -> Vec<f64> {
        let mut dw = vec![0.0; s.weight_len()];
        for_each_tap(s, |xi, yi, wi| dw[wi] += x[xi] * dy[yi]);
        dw
    }

    pub fn conv2d_backward_bias_f64(s: &Conv2dShape, dy: &[f64]) -> Vec<f64> {
        let (oh, ow) = s.out_hw();
        let plane = oh * ow;
        let mut db = vec![0.0; s.out_ch];
        for (i, &g) in dy.iter().enumerate().take(s.output_len()) {
            db[(i / plane) % s.out_ch] += g;
        }
        db
    }

    pub fn conv2d_forward(s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        narrow(conv2d_forward_f64(s, &widen(x), &widen(w), &widen(b)))
    }

    pub fn conv2d_backward_input(s: &Conv2dShape, dy: &[f32], w: &[f32]) -> Vec<f32> {
        narrow(conv2d_backward_input_f64(s, &widen(dy), &widen(w)))
    }

    pub fn conv2d_backward_weight(s: &Conv2dShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
        narrow(conv2d_backward_weight_f64(s, &widen(x), &widen(dy)))
    }

    pub fn conv2d_backward_bias(s: &Conv2dShape, dy: &[f32]) -> Vec<f32> {
        narrow(conv2d_backward_bias_f64(s, &widen(dy)))
    }
}
