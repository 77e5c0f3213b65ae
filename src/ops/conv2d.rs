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
//!
//! On adapters with subgroups of exactly 8 lanes (lavapipe), [`Conv2dKernel::Subgroup`] runs
//! instead wherever it handles the pass (see [`Conv2dKernel::handles`]): each pass written as a
//! matrix product (an implicit GEMM; the im2col operand is gathered inside the kernel, never
//! stored), with 64x32 tiles per subgroup whose gathered values are shared by `subgroupBroadcast`
//! ([`subgroup_source`]). On Mesa 22.3 lavapipe every lane-varying storage load runs lane by lane,
//! so sharing them made the seed model's 32->64 and 64->32 layers 2.2-2.6x faster than the
//! blocked kernels. The forward and input-gradient passes first repack the weights (one small
//! dispatch) so a lane's 4 output columns are one vec4 load. Layers with fewer than 8 channels
//! on the product's column side keep the blocked kernels, which were 4-5x faster there.
//!
//! Stride-1 layers with at most 4 output channels take [`Conv2dKernel::Thin`] for the forward
//! pass and the weight gradient: kernels generated per kernel size ([`thin_forward_source`],
//! [`thin_weight_source`]) that keep all the layer's output channels in one `vecN` accumulator
//! per pixel or tap (nothing clamped), and reuse each loaded input row for every kernel row that
//! reads it (8x8 pixel blocks forward, bands of 8 output rows for the weight gradient). On
//! lavapipe they ran the colorization model's 32->3 layer 3-4x and the seed model's 32->1 layer
//! 1.5-1.9x faster than the blocked kernels; one-input-channel layers keep the subgroup kernels,
//! which the thin ones did not beat.

use std::fmt::Write;

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

/// `Params` in conv2d_*.wgsl.
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
    /// Images per chunk; for the thin weight gradient, bands of output rows per chunk.
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

/// Which family of kernels runs a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv2dKernel {
    /// The register-blocked direct kernels in shaders/conv2d_*.wgsl. Work on every adapter.
    Blocked,
    /// Implicit GEMM on subgroups of exactly 8 lanes ([`subgroup_source`]): one workgroup = one
    /// subgroup computes a 64 x 32 tile of the pass written as a matrix product, gathering the
    /// im2col operand on the fly; each lane loads 8 of the tile's 64 gathered values per step and
    /// `subgroupBroadcast` shares them. For stride-1 input gradients only; needs
    /// `Features::SUBGROUP` with subgroup size 8.
    Subgroup,
    /// Generated kernels for thin stride-1 layers ([`thin_forward_source`],
    /// [`thin_weight_source`]): every output channel of a 1-4-channel layer in one invocation's
    /// `vecN` accumulators, over a 2-D block of pixels (forward) or a chunk of output rows (weight
    /// gradient). Forward and weight gradient only; kernels up to 5x5. Work on every adapter.
    Thin,
}

/// The three passes that have subgroup kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv2dPass {
    Forward,
    BackwardInput,
    BackwardWeight,
}

/// Rows of the product one subgroup tile computes (8 loads per lane per step).
const SG_ROWS: usize = 64;
/// Rows of the tile for products with at most this many rows (the weight gradient of a layer
/// with one input channel: 9 rows), so most of a 64-row tile is not clamped work.
const SG_ROWS_SMALL: usize = 16;
/// Columns of the product one subgroup tile computes (4 per lane).
const SG_COLS: usize = 32;
const SG_LANES: u32 = 8;
/// The subgroup kernels need at least this many columns (channels on the column side); below
/// it most of a 32-column tile would be clamped, and the blocked one-channel kernels win.
const SG_MIN_COLS: usize = 8;
/// The subgroup weight gradient splits the batch into chunks until about this many tiles run.
const SG_WEIGHT_TILES: usize = 64;

impl Conv2dKernel {
    /// Whether the adapter runs this family at all.
    pub fn supported(self, gpu: &Gpu) -> bool {
        match self {
            Conv2dKernel::Blocked | Conv2dKernel::Thin => true,
            Conv2dKernel::Subgroup => {
                gpu.features.contains(wgpu::Features::SUBGROUP)
                    && gpu.info.subgroup_min_size == SG_LANES
                    && gpu.info.subgroup_max_size == SG_LANES
            }
        }
    }

    /// Whether this family handles `pass` of shape `s` (the blocked one handles everything).
    pub fn handles(self, s: &Conv2dShape, pass: Conv2dPass) -> bool {
        match self {
            Conv2dKernel::Blocked => true,
            Conv2dKernel::Subgroup => {
                let (rows, cols) = sg_product(s, pass);
                match pass {
                    Conv2dPass::Forward => cols >= SG_MIN_COLS,
                    Conv2dPass::BackwardInput => s.stride == 1 && cols >= SG_MIN_COLS,
                    Conv2dPass::BackwardWeight => cols >= SG_MIN_COLS && rows >= 1,
                }
            }
            Conv2dKernel::Thin => {
                s.stride == 1
                    && s.kernel <= THIN_MAX_KERNEL
                    && pass != Conv2dPass::BackwardInput
                    && thin_groups_z(s, pass) <= 65_535
            }
        }
    }

    /// The fastest family this adapter runs for `pass` of shape `s`.
    pub fn best(gpu: &Gpu, s: &Conv2dShape, pass: Conv2dPass) -> Conv2dKernel {
        let thin = Conv2dKernel::Thin;
        if thin_wins(s, pass) && thin.handles(s, pass) {
            return thin;
        }
        let sg = Conv2dKernel::Subgroup;
        if sg.supported(gpu) && sg.handles(s, pass) {
            sg
        } else {
            Conv2dKernel::Blocked
        }
    }
}

/// Where the thin kernels measured faster than the blocked and subgroup ones on lavapipe
/// (`latentviz bench --filter conv2d`): layers with at most 4 output channels.
fn thin_wins(s: &Conv2dShape, pass: Conv2dPass) -> bool {
    match pass {
        Conv2dPass::Forward => s.out_ch <= 4,
        Conv2dPass::BackwardWeight => s.out_ch <= 4,
        Conv2dPass::BackwardInput => false,
    }
}

/// Workgroups along z of the thin kernel of `pass`: output-channel blocks (forward), or input
/// blocks x output blocks (weight gradient).
fn thin_groups_z(s: &Conv2dShape, pass: Conv2dPass) -> usize {
    let oc_blocks = s.out_ch.div_ceil(thin_lanes(s));
    match pass {
        Conv2dPass::BackwardWeight => s.in_ch.div_ceil(thin_weight_in_channels(s)) * oc_blocks,
        _ => oc_blocks,
    }
}

/// Input channels per invocation of the thin weight gradient.
fn thin_weight_in_channels(s: &Conv2dShape) -> usize {
    s.in_ch.min(THIN_WEIGHT_IN_CHANNELS)
}

/// How the thin weight gradient splits the batch * ceil(out_h / `THIN_WEIGHT_ROWS`) bands of
/// output rows: (chunks, bands per chunk).
fn thin_weight_chunks(s: &Conv2dShape) -> (usize, usize) {
    let rows = s.batch * s.out_hw().0.div_ceil(THIN_WEIGHT_ROWS);
    let wanted = THIN_WEIGHT_INVOCATIONS
        .div_ceil(thin_groups_z(s, Conv2dPass::BackwardWeight))
        .clamp(1, rows);
    let per_chunk = rows.div_ceil(wanted);
    (rows.div_ceil(per_chunk), per_chunk)
}

/// (rows, columns) of a pass written as a matrix product: forward [b*oh*ow, out_ch], input
/// gradient [b*h*w, in_ch], weight gradient [in_ch*k*k, out_ch].
fn sg_product(s: &Conv2dShape, pass: Conv2dPass) -> (usize, usize) {
    let (oh, ow) = s.out_hw();
    match pass {
        Conv2dPass::Forward => (s.batch * oh * ow, s.out_ch),
        Conv2dPass::BackwardInput => (s.batch * s.height * s.width, s.in_ch),
        Conv2dPass::BackwardWeight => (s.in_ch * s.kernel * s.kernel, s.out_ch),
    }
}

/// Tiles of the product of `pass`.
fn sg_tiles(s: &Conv2dShape, pass: Conv2dPass) -> usize {
    let (rows, cols) = sg_product(s, pass);
    rows.div_ceil(sg_rows(s, pass)) * cols.div_ceil(SG_COLS)
}

/// Rows of the subgroup tile for `pass` of `s`.
fn sg_rows(s: &Conv2dShape, pass: Conv2dPass) -> usize {
    if sg_product(s, pass).0 <= SG_ROWS_SMALL {
        SG_ROWS_SMALL
    } else {
        SG_ROWS
    }
}

/// How the subgroup weight gradient splits the batch: (chunks, images per chunk).
fn sg_weight_chunks(s: &Conv2dShape) -> (usize, usize) {
    let wanted = SG_WEIGHT_TILES
        .div_ceil(sg_tiles(s, Conv2dPass::BackwardWeight))
        .clamp(1, s.batch);
    let batch_per_chunk = s.batch.div_ceil(wanted);
    (s.batch.div_ceil(batch_per_chunk), batch_per_chunk)
}

/// The entry point of the subgroup kernel of `pass`.
fn sg_entry(pass: Conv2dPass, rows: usize) -> String {
    let name = match pass {
        Conv2dPass::Forward => "conv2d_forward_sg",
        Conv2dPass::BackwardInput => "conv2d_backward_input_sg",
        Conv2dPass::BackwardWeight => "conv2d_backward_weight_sg",
    };
    format!("{name}{rows}")
}

/// The WGSL of the weight repack the subgroup forward and input-gradient kernels read their
/// weights from: wt[tap, c, n] (n padded with zeros to a multiple of 4) where n is the product's
/// column (out_ch forward, in_ch for the input gradient) and c the channel summed over.
pub fn weight_repack_source(pass: Conv2dPass) -> String {
    let (cols, inner, src) = match pass {
        Conv2dPass::BackwardInput => (
            "params.in_ch",
            "params.out_ch",
            "(c * params.in_ch + n) * kk + tap",
        ),
        _ => (
            "params.out_ch",
            "params.in_ch",
            "(n * params.in_ch + c) * kk + tap",
        ),
    };
    format!(
        r#"// Weight repack for the subgroup conv2d kernels (generated by ops::conv2d::weight_repack_source):
//   wt[(tap * C + c) * NP + n] = w[{src}] for n < N, 0 for N <= n < NP,
//   with N = {cols} (the product's columns), C = {inner}, NP = N rounded up to a multiple of 4.
// Bindings (group 0): 0 params (uniform Conv2dParams), 1 w (read, [out_ch, in_ch, k, k]),
//   2 wt (write). One invocation writes one value of wt; (x, y) fold over them.
// Params mirror `ops::conv2d::Conv2dParams`.

struct Params {{
    batch: u32, in_ch: u32, out_ch: u32, height: u32, width: u32, out_h: u32, out_w: u32,
    kernel: u32, stride: u32, pad_top: u32, pad_left: u32, chunks: u32, batch_per_chunk: u32,
    _pad0: u32, _pad1: u32, _pad2: u32,
}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> wt: array<f32>;

@compute @workgroup_size(64)
fn conv2d_weight_repack(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {{
    let kk = params.kernel * params.kernel;
    let cols = {cols};
    let np = (cols + 3u) / 4u * 4u;
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (i >= kk * {inner} * np) {{ return; }}
    let n = min(i % np, cols - 1u);
    let k = i / np;
    let tap = k / {inner};
    let c = k % {inner};
    wt[i] = select(0.0, w[{src}], i % np < cols);
}}
"#
    )
}

/// Repack `w` for the subgroup kernel of `pass` into a new buffer owned by the dispatch.
fn repack_weights(
    gpu: &Gpu,
    op: &str,
    s: &Conv2dShape,
    pass: Conv2dPass,
    params: &Conv2dParams,
    w: &Buffer,
) -> Result<(Dispatch, Buffer)> {
    let (_, cols) = sg_product(s, pass);
    let len = s.kernel * s.kernel * (s.in_ch * s.out_ch / cols) * cols.div_ceil(4) * 4;
    check_binding(gpu, op, "repacked weights", len)?;
    let wt = gpu.storage(&format!("{op} repacked weights"), len);
    let d = launch(
        gpu,
        &format!("{op} repack"),
        &weight_repack_source(pass),
        "conv2d_weight_repack",
        params,
        &[w, &wt],
        workgroups_for(len, GROUP),
    )?;
    Ok((d, wt))
}

/// The whole WGSL of the subgroup (implicit GEMM) kernel of `pass`, generated unrolled into
/// named variables, for tiles of `rows` rows (rounded down to a multiple of 8 in 8..=128; the
/// launchers use 16 and 64). Tests validate it with naga.
pub fn subgroup_source(pass: Conv2dPass, rows: usize) -> String {
    let rows = rows.clamp(8, 128) / 8 * 8;
    let loads = rows / SG_LANES as usize;
    let mut s = String::new();
    let w = &mut s;
    macro_rules! line {
        ($($arg:tt)*) => { writeln!(w, $($arg)*).unwrap() };
    }
    let (math, bindings, product, gather) = match pass {
        Conv2dPass::Forward => (
            "y[b, oc, oh, ow] = bias[oc] + sum_{ic, kh, kw} w[oc, ic, kh, kw] * x[b, ic, oh*stride - pad_top + kh, ow*stride - pad_left + kw]",
            "1 x (read), 2 w (read), 3 bias (read), 4 y (write)",
            "rows = output pixels (b, oh, ow), columns = oc, k = (kh, kw, ic)",
            "x at the tap of each row's pixel, 0 in the padding",
        ),
        Conv2dPass::BackwardInput => (
            "dx[b, ic, ih, iw] = sum_{oc, kh, kw} w[oc, ic, kh, kw] * dy[b, oc, ih + pad_top - kh, iw + pad_left - kw] (stride 1; taps outside dy read 0)",
            "1 dy (read), 2 w (read), 3 dx (write)",
            "rows = input pixels (b, ih, iw), columns = ic, k = (kh, kw, oc)",
            "dy at the flipped tap of each row's pixel, 0 outside",
        ),
        Conv2dPass::BackwardWeight => (
            "partial[chunk, oc, ic, kh, kw] = sum_{b in chunk, oh, ow} dy[b, oc, oh, ow] * x[b, ic, oh*stride - pad_top + kh, ow*stride - pad_left + kw]",
            "1 x (read), 2 dy (read), 3 partial (write, [chunks, out_ch, in_ch, k, k]), 4 dw (unused here; conv2d_backward_weight_reduce sums partial into it)",
            "rows = (ic, kh, kw), columns = oc, k = (b in chunk, oh, ow); workgroup z is the chunk",
            "x at each row's tap of the output pixel, 0 in the padding",
        ),
    };
    line!("// 2-D convolution as an implicit GEMM on subgroups of 8 lanes (generated by");
    line!("// ops::conv2d::subgroup_source; NCHW, weight [out_ch, in_ch, k, k]):");
    line!("//   {math}");
    line!("// Bindings (group 0): 0 params (uniform Conv2dParams), {bindings}.");
    line!("// The pass as a product: {product}.");
    line!(
        "// One workgroup is one subgroup of 8 lanes computing a {rows}x{SG_COLS} tile of the product;"
    );
    line!(
        "// lane l owns columns 4l..4l+4 of the tile in all {rows} rows ({rows} named vec4 accumulators)."
    );
    line!("// Per k step every lane gathers {loads} values ({gather}) for rows");
    line!(
        "// lane + 8j and 4 weights or gradients for its columns; subgroupBroadcast hands the {rows}"
    );
    line!(
        "// gathered values to every lane. On lavapipe each lane-varying storage load is a loop over"
    );
    line!(
        "// the lanes, so sharing loads is what makes this fast. Tail rows and columns are clamped to"
    );
    line!("// the last valid one and not stored. Dispatch: (x, y) fold over tiles (flat index");
    line!("// wg.x + wg.y * nwg.x; row tile major).");
    line!("// Params mirror `ops::conv2d::Conv2dParams`.");
    line!();
    line!("struct Params {{");
    for f in [
        "batch",
        "in_ch",
        "out_ch",
        "height",
        "width",
        "out_h",
        "out_w",
        "kernel",
        "stride",
        "pad_top",
        "pad_left",
        "chunks",
        "batch_per_chunk",
        "_pad0",
        "_pad1",
        "_pad2",
    ] {
        line!("    {f}: u32,");
    }
    line!("}}");
    line!();
    line!("@group(0) @binding(0) var<uniform> params: Params;");
    match pass {
        Conv2dPass::Forward => {
            line!("@group(0) @binding(1) var<storage, read> x: array<f32>;");
            line!("@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;");
            line!("@group(0) @binding(3) var<storage, read> bias: array<f32>;");
            line!("@group(0) @binding(4) var<storage, read_write> y: array<f32>;");
        }
        Conv2dPass::BackwardInput => {
            line!("@group(0) @binding(1) var<storage, read> dy: array<f32>;");
            line!("@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;");
            line!("@group(0) @binding(3) var<storage, read_write> dx: array<f32>;");
        }
        Conv2dPass::BackwardWeight => {
            line!("@group(0) @binding(1) var<storage, read> x: array<f32>;");
            line!("@group(0) @binding(2) var<storage, read> dy: array<f32>;");
            line!("@group(0) @binding(3) var<storage, read_write> partial: array<f32>;");
            line!("@group(0) @binding(4) var<storage, read_write> dw: array<f32>;");
        }
    }
    line!();
    line!("@compute @workgroup_size(8)");
    line!(
        "fn {}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,",
        sg_entry(pass, rows)
    );
    line!("        @builtin(subgroup_invocation_id) lane: u32) {{");
    line!("    let kk = params.kernel * params.kernel;");
    line!("    let hw = params.height * params.width;");
    line!("    let plane = params.out_h * params.out_w;");
    let (m_expr, n_expr) = match pass {
        Conv2dPass::Forward => ("params.batch * plane", "params.out_ch"),
        Conv2dPass::BackwardInput => ("params.batch * hw", "params.in_ch"),
        Conv2dPass::BackwardWeight => {
            line!("    _ = dw[0];");
            ("params.in_ch * kk", "params.out_ch")
        }
    };
    line!("    let mm = {m_expr};");
    line!("    let nn = {n_expr};");
    line!("    let tiles_n = (nn + {}u) / {SG_COLS}u;", SG_COLS - 1);
    line!("    let tile = wg.x + wg.y * nwg.x;");
    line!("    // The same for every lane: the whole subgroup leaves together.");
    line!(
        "    if (tile >= ((mm + {}u) / {rows}u) * tiles_n) {{ return; }}",
        rows - 1
    );
    line!("    let row0 = (tile / tiles_n) * {rows}u;");
    line!("    let col0 = (tile % tiles_n) * {SG_COLS}u + lane * 4u;");
    line!("    let last_m = mm - 1u;");
    line!("    let last_n = nn - 1u;");
    for q in 0..4 {
        line!("    let n{q} = min(col0 + {q}u, last_n);");
    }
    for j in 0..loads {
        line!("    let q{j} = min(row0 + lane + {}u, last_m);", 8 * j);
    }
    for i in 0..rows {
        line!("    var acc{i} = vec4<f32>(0.0);");
    }
    // The broadcast multiply-adds of one k step, given al{j} and bv.
    let fmas = |w: &mut String, indent: &str| {
        for i in 0..rows {
            let (j, l) = (i / 8, i % 8);
            writeln!(
                w,
                "{indent}acc{i} = fma(vec4<f32>(subgroupBroadcast(al{j}, {l}u)), bv, acc{i});"
            )
            .unwrap();
        }
    };
    match pass {
        Conv2dPass::Forward | Conv2dPass::BackwardInput => {
            let fwd = pass == Conv2dPass::Forward;
            // Per row: the image offset of the gathered tensor and the signed coordinates of
            // tap (0, 0).
            for j in 0..loads {
                if fwd {
                    line!("    let p{j} = q{j} % plane;");
                    line!("    let img{j} = (q{j} / plane) * params.in_ch * hw;");
                    line!(
                        "    let r{j} = i32((p{j} / params.out_w) * params.stride) - i32(params.pad_top);"
                    );
                    line!(
                        "    let c{j} = i32((p{j} % params.out_w) * params.stride) - i32(params.pad_left);"
                    );
                } else {
                    line!("    let p{j} = q{j} % hw;");
                    line!("    let img{j} = (q{j} / hw) * params.out_ch * plane;");
                    line!("    let r{j} = i32(p{j} / params.width) + i32(params.pad_top);");
                    line!("    let c{j} = i32(p{j} % params.width) + i32(params.pad_left);");
                }
            }
            let (src, src_w, lim_h, lim_w, src_plane, inner, wcol, wstep) = if fwd {
                // w[n, ic, tap]: column n starts at n * in_ch * kk, ic steps kk.
                (
                    "x",
                    "params.width",
                    "params.height",
                    "params.width",
                    "hw",
                    "params.in_ch",
                    "params.in_ch * kk",
                    "kk",
                )
            } else {
                // w[oc, n, tap]: column n starts at n * kk, oc steps in_ch * kk.
                (
                    "dy",
                    "params.out_w",
                    "params.out_h",
                    "params.out_w",
                    "plane",
                    "params.out_ch",
                    "kk",
                    "params.in_ch * kk",
                )
            };
            let _ = (wcol, wstep);
            line!(
                "    // w repacked by conv2d_weight_repack: [k*k, {inner}, ceil(nn/4)] vec4s, so a lane's"
            );
            line!("    // 4 columns are one load.");
            line!("    let np4 = (nn + 3u) / 4u;");
            line!("    let wcol = min(col0 / 4u, np4 - 1u);");
            line!("    for (var kh = 0u; kh < params.kernel; kh += 1u) {{");
            line!("    for (var kw = 0u; kw < params.kernel; kw += 1u) {{");
            line!("        let tap = kh * params.kernel + kw;");
            let sign = if fwd { "+" } else { "-" };
            for j in 0..loads {
                line!("        let tr{j} = r{j} {sign} i32(kh);");
                line!("        let tc{j} = c{j} {sign} i32(kw);");
                line!(
                    "        let ok{j} = tr{j} >= 0 && tr{j} < i32({lim_h}) && tc{j} >= 0 && tc{j} < i32({lim_w});"
                );
                line!(
                    "        let o{j} = select(0u, img{j} + u32(tr{j}) * {src_w} + u32(tc{j}), ok{j});"
                );
                line!("        let f{j} = select(0.0, 1.0, ok{j});");
            }
            line!("        var so = 0u;");
            line!("        var wo = tap * {inner} * np4 + wcol;");
            line!("        for (var c = 0u; c < {inner}; c += 1u) {{");
            for j in 0..loads {
                line!("            let al{j} = {src}[o{j} + so] * f{j};");
            }
            line!("            let bv = w[wo];");
            fmas(w, "            ");
            line!("            so += {src_plane};");
            line!("            wo += np4;");
            line!("        }}");
            line!("    }}");
            line!("    }}");
            // Store: row q is pixel (b, p) of the output tensor, column n its channel.
            let (dst, dst_plane, dst_ch) = if fwd {
                ("y", "plane", "params.out_ch")
            } else {
                ("dx", "hw", "params.in_ch")
            };
            if fwd {
                line!("    let bv = vec4<f32>(bias[n0], bias[n1], bias[n2], bias[n3]);");
            } else {
                line!("    let bv = vec4<f32>(0.0);");
            }
            for i in 0..rows {
                line!("    if (row0 + {i}u < mm) {{");
                line!("        let q = row0 + {i}u;");
                line!(
                    "        let base = (q / {dst_plane}) * {dst_ch} * {dst_plane} + q % {dst_plane} + col0 * {dst_plane};"
                );
                line!("        let v = acc{i} + bv;");
                line!("        if (col0 < nn) {{ {dst}[base] = v.x; }}");
                line!("        if (col0 + 1u < nn) {{ {dst}[base + {dst_plane}] = v.y; }}");
                line!("        if (col0 + 2u < nn) {{ {dst}[base + 2u * {dst_plane}] = v.z; }}");
                line!("        if (col0 + 3u < nn) {{ {dst}[base + 3u * {dst_plane}] = v.w; }}");
                line!("    }}");
            }
        }
        Conv2dPass::BackwardWeight => {
            // Per row (ic, kh, kw): the channel offset in an image and the tap's signed offset.
            for j in 0..loads {
                line!("    let t{j} = q{j} % kk;");
                line!("    let xc{j} = (q{j} / kk) * hw;");
                line!("    let dr{j} = i32(t{j} / params.kernel) - i32(params.pad_top);");
                line!("    let dc{j} = i32(t{j} % params.kernel) - i32(params.pad_left);");
            }
            line!("    let chunk = wg.z;");
            line!("    let b0 = chunk * params.batch_per_chunk;");
            line!("    let b1 = min(b0 + params.batch_per_chunk, params.batch);");
            line!("    for (var b = b0; b < b1; b += 1u) {{");
            line!("        let ximg = b * params.in_ch * hw;");
            for q in 0..4 {
                line!("        let d{q} = (b * params.out_ch + n{q}) * plane;");
            }
            line!("        for (var oh = 0u; oh < params.out_h; oh += 1u) {{");
            line!("            let ih = i32(oh * params.stride);");
            for j in 0..loads {
                line!("            let tr{j} = ih + dr{j};");
                line!("            let rok{j} = tr{j} >= 0 && tr{j} < i32(params.height);");
                line!("            let ro{j} = ximg + xc{j} + u32(tr{j}) * params.width;");
            }
            line!("            let prow = oh * params.out_w;");
            line!("            for (var ow = 0u; ow < params.out_w; ow += 1u) {{");
            line!("                let iw = i32(ow * params.stride);");
            for j in 0..loads {
                line!("                let tc{j} = iw + dc{j};");
                line!(
                    "                let ok{j} = rok{j} && tc{j} >= 0 && tc{j} < i32(params.width);"
                );
                line!(
                    "                let al{j} = select(0.0, x[select(0u, ro{j} + u32(tc{j}), ok{j})], ok{j});"
                );
            }
            line!("                let pix = prow + ow;");
            line!(
                "                let bv = vec4<f32>(dy[d0 + pix], dy[d1 + pix], dy[d2 + pix], dy[d3 + pix]);"
            );
            fmas(w, "                ");
            line!("            }}");
            line!("        }}");
            line!("    }}");
            // partial[chunk, n, row]: rows are the flat (ic, kh, kw) of dw[n, ...].
            line!("    let out = chunk * nn * mm + col0 * mm;");
            for i in 0..rows {
                line!("    if (row0 + {i}u < mm) {{");
                line!("        let base = out + row0 + {i}u;");
                line!("        if (col0 < nn) {{ partial[base] = acc{i}.x; }}");
                line!("        if (col0 + 1u < nn) {{ partial[base + mm] = acc{i}.y; }}");
                line!("        if (col0 + 2u < nn) {{ partial[base + 2u * mm] = acc{i}.z; }}");
                line!("        if (col0 + 3u < nn) {{ partial[base + 3u * mm] = acc{i}.w; }}");
                line!("    }}");
            }
        }
    }
    line!("}}");
    s
}

/// Output rows x columns per invocation of the thin forward kernel ([`thin_forward_source`]).
const THIN_ROWS: usize = 8;
const THIN_COLS: usize = 8;
/// Input channels per invocation of the thin weight gradient ([`thin_weight_source`]).
const THIN_WEIGHT_IN_CHANNELS: usize = 4;
/// Output rows the thin weight gradient walks together (input rows loaded once feed k of them;
/// 8 measured about 15% faster than 4 on the 32->3 layer).
const THIN_WEIGHT_ROWS: usize = 8;
/// The thin weight gradient splits the bands of `THIN_WEIGHT_ROWS` output rows into chunks until
/// about this many invocations run.
const THIN_WEIGHT_INVOCATIONS: usize = 4096;
/// Largest kernel the thin kernels are generated for (code grows with k squared).
const THIN_MAX_KERNEL: usize = 5;

/// Output channels one thin-kernel invocation carries in its vector accumulators (1..=4): the
/// accumulators are `vec{n}` (plain f32 for one), so a layer with 1-3 output channels does no
/// clamped work.
fn thin_lanes(s: &Conv2dShape) -> usize {
    s.out_ch.min(4)
}

/// The WGSL type of `n` f32 channels.
fn thin_type(n: usize) -> String {
    if n == 1 {
        "f32".into()
    } else {
        format!("vec{n}<f32>")
    }
}

/// A `thin_type(n)` value from `n` scalar expressions `f(0..n)`.
fn thin_value(n: usize, f: impl Fn(usize) -> String) -> String {
    let parts: Vec<String> = (0..n).map(f).collect();
    if n == 1 {
        parts[0].clone()
    } else {
        format!("vec{n}<f32>({})", parts.join(", "))
    }
}

/// The `Params` struct text shared by the generated kernels.
fn params_struct(w: &mut String) {
    w.push_str("struct Params {\n");
    for f in [
        "batch",
        "in_ch",
        "out_ch",
        "height",
        "width",
        "out_h",
        "out_w",
        "kernel",
        "stride",
        "pad_top",
        "pad_left",
        "chunks",
        "batch_per_chunk",
        "_pad0",
        "_pad1",
        "_pad2",
    ] {
        writeln!(w, "    {f}: u32,").unwrap();
    }
    w.push_str("}\n\n");
}

/// Entry point of the thin forward kernel for `k` x `k` kernels and `n` channels per invocation.
fn thin_forward_entry(k: usize, n: usize) -> String {
    format!("conv2d_forward_thin_k{k}_n{n}")
}

/// Entry point of the thin weight gradient.
fn thin_weight_entry(k: usize, n: usize, icb: usize, rows: usize) -> String {
    format!("conv2d_backward_weight_thin_k{k}_n{n}_c{icb}_r{rows}")
}

/// The WGSL of the thin forward kernel (stride 1, `k` x `k` kernel, `n` = 1..=4 output channels
/// per invocation), generated unrolled into named variables. Tests validate it with naga.
pub fn thin_forward_source(k: usize, n: usize) -> String {
    let (rows, cols) = (THIN_ROWS, THIN_COLS);
    let (in_rows, in_cols) = (rows + k - 1, cols + k - 1);
    let ty = thin_type(n);
    let mut s = String::new();
    let w = &mut s;
    macro_rules! line {
        ($($arg:tt)*) => { writeln!(w, $($arg)*).unwrap() };
    }
    line!(
        "// 2-D convolution forward for thin layers (generated by ops::conv2d::thin_forward_source;"
    );
    line!("// NCHW, weight [out_ch, in_ch, k, k], stride 1, k = {k}):");
    line!("//   y[b, oc, oh, ow] = bias[oc] + sum_{{ic, kh, kw}} w[oc, ic, kh, kw]");
    line!(
        "//                       * x[b, ic, oh - pad_top + kh, ow - pad_left + kw]   (0 outside x)"
    );
    line!(
        "// Bindings (group 0): 0 params (uniform Conv2dParams), 1 x (read), 2 w (read), 3 bias (read),"
    );
    line!("//   4 y (write).");
    line!(
        "// For layers with few output channels (1-3: one invocation carries all of them, so nothing"
    );
    line!(
        "// is clamped) or one input channel. One invocation computes a {rows}x{cols} block of output"
    );
    line!(
        "// pixels x {n} output channels ({} named {ty} accumulators). Per input channel it loads the",
        rows * cols
    );
    line!(
        "// {in_rows}x{in_cols} input patch once into named values and feeds each one to up to {} taps",
        k * k
    );
    line!(
        "// ({} lane-varying loads for {} multiply-adds of {ty}); the {} weights are uniform loads.",
        in_rows * in_cols,
        rows * cols * k * k,
        k * k * n
    );
    line!(
        "// Dispatch: (x, y) fold over (b, row block, column block) (flat index wg.x + wg.y * nwg.x,"
    );
    line!(
        "// workgroups of 64); z is the block of {n} output channels (uniform; the tail is clamped and"
    );
    line!("// not stored). Tail lanes, rows and columns are clamped and not stored.");
    line!("// Params mirror `ops::conv2d::Conv2dParams`.");
    line!();
    params_struct(w);
    line!("@group(0) @binding(0) var<uniform> params: Params;");
    line!("@group(0) @binding(1) var<storage, read> x: array<f32>;");
    line!("@group(0) @binding(2) var<storage, read> w: array<f32>;");
    line!("@group(0) @binding(3) var<storage, read> bias: array<f32>;");
    line!("@group(0) @binding(4) var<storage, read_write> y: array<f32>;");
    line!();
    line!("@compute @workgroup_size(64)");
    line!(
        "fn {}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{",
        thin_forward_entry(k, n)
    );
    line!("    let oc = wg.z * {n}u;");
    line!("    let last_oc = params.out_ch - 1u;");
    line!("    let oc_stride = params.in_ch * {}u;", k * k);
    for j in 0..n {
        line!("    let w{j} = min(oc + {j}u, last_oc) * oc_stride;");
    }
    line!("    let cb = (params.out_w + {}u) / {cols}u;", cols - 1);
    line!("    let rb = (params.out_h + {}u) / {rows}u;", rows - 1);
    line!("    let id = (wg.x + wg.y * nwg.x) * 64u + lid;");
    line!("    let last = params.batch * rb * cb - 1u;");
    line!("    let t = min(id, last);");
    line!("    let ow0 = (t % cb) * {cols}u;");
    line!("    let oh0 = ((t / cb) % rb) * {rows}u;");
    line!("    let b = t / (cb * rb);");
    line!("    let hw = params.height * params.width;");
    line!("    let hi = i32(params.height) - 1;");
    line!("    let wi_max = i32(params.width) - 1;");
    for i in 0..in_rows {
        line!("    let r{i} = i32(oh0 + {i}u) - i32(params.pad_top);");
        line!("    let rk{i} = r{i} >= 0 && r{i} <= hi;");
        line!("    let ro{i} = u32(clamp(r{i}, 0, hi)) * params.width;");
    }
    for j in 0..in_cols {
        line!("    let c{j} = i32(ow0 + {j}u) - i32(params.pad_left);");
        line!("    let ck{j} = c{j} >= 0 && c{j} <= wi_max;");
        line!("    let co{j} = u32(clamp(c{j}, 0, wi_max));");
    }
    for r in 0..rows {
        for c in 0..cols {
            line!("    var a{r}_{c} = {ty}(0.0);");
        }
    }
    line!("    var xi = b * params.in_ch * hw;");
    line!("    var wi = 0u;");
    line!("    for (var ic = 0u; ic < params.in_ch; ic++) {{");
    for kh in 0..k {
        for kw in 0..k {
            let tap = kh * k + kw;
            let v = thin_value(n, |j| format!("w[w{j} + wi + {tap}u]"));
            line!("        let k{kh}_{kw} = {v};");
        }
    }
    for i in 0..in_rows {
        line!("        {{");
        for j in 0..in_cols {
            line!("            let v{j} = select(0.0, x[xi + ro{i} + co{j}], rk{i} && ck{j});");
        }
        for kh in 0..k {
            if i < kh || i - kh >= rows {
                continue;
            }
            let r = i - kh;
            for c in 0..cols {
                for kw in 0..k {
                    line!("            a{r}_{c} += k{kh}_{kw} * v{};", c + kw);
                }
            }
        }
        line!("        }}");
    }
    line!("        xi += hw;");
    line!("        wi += {}u;", k * k);
    line!("    }}");
    line!("    if (id > last) {{ return; }}");
    line!(
        "    let bv = {};",
        thin_value(n, |j| format!("bias[min(oc + {j}u, last_oc)]"))
    );
    line!("    let plane = params.out_h * params.out_w;");
    line!("    let nc = params.out_ch - oc;");
    line!("    let base = (b * params.out_ch + oc) * plane;");
    let comp = ["x", "y", "z", "w"];
    for r in 0..rows {
        for c in 0..cols {
            line!("    if (oh0 + {r}u < params.out_h && ow0 + {c}u < params.out_w) {{");
            line!("        let o = base + (oh0 + {r}u) * params.out_w + ow0 + {c}u;");
            line!("        let v = a{r}_{c} + bv;");
            if n == 1 {
                line!("        y[o] = v;");
            } else {
                line!("        y[o] = v.x;");
                for (j, cj) in comp.iter().enumerate().take(n).skip(1) {
                    line!("        if (nc > {j}u) {{ y[o + {j}u * plane] = v.{cj}; }}");
                }
            }
            line!("    }}");
        }
    }
    line!("}}");
    s
}

/// The WGSL of the thin weight gradient's partial sums (stride 1, `k` x `k` kernel, `n` = 1..=4
/// output channels, `icb` input channels and `rows` output rows per step of one invocation).
/// Tests validate it with naga.
pub fn thin_weight_source(k: usize, n: usize, icb: usize, rows: usize) -> String {
    let ty = thin_type(n);
    let in_rows = rows + k - 1;
    let mut s = String::new();
    let w = &mut s;
    macro_rules! line {
        ($($arg:tt)*) => { writeln!(w, $($arg)*).unwrap() };
    }
    line!("// 2-D convolution weight gradient for thin layers, partial sums (generated by");
    line!(
        "// ops::conv2d::thin_weight_source; NCHW, weight [out_ch, in_ch, k, k], stride 1, k = {k}):"
    );
    line!("//   partial[chunk, oc, ic, kh, kw] = sum_{{(b, oh) in chunk, ow}} dy[b, oc, oh, ow]");
    line!(
        "//                                   * x[b, ic, oh - pad_top + kh, ow - pad_left + kw]  (0 outside x)"
    );
    line!(
        "// then conv2d_backward_weight_reduce (shaders/conv2d_backward_weight.wgsl) sums the chunks."
    );
    line!("// Bindings (group 0): 0 params (uniform Conv2dParams), 1 x (read), 2 dy (read),");
    line!("//   3 partial (write, [chunks, out_ch, in_ch, k, k]), 4 dw (unused here).");
    line!(
        "// The output rows are cut into bands of {rows} rows of one image; a chunk is `batch_per_chunk`"
    );
    line!("// consecutive bands (of batch * ceil(out_h / {rows})).");
    line!(
        "// One invocation computes {n} output channels x {icb} input channels x {k}x{k} taps for one"
    );
    line!(
        "// chunk ({} named {ty} accumulators). It walks a band's {rows} output rows together along",
        icb * k * k
    );
    line!(
        "// ow: input row i feeds kernel row kh of output row i - kh, and the {k} taps kw read a window"
    );
    line!(
        "// of {k} cells that slides right with one new load, so per output column {} dy loads and",
        rows * n
    );
    line!(
        "// {} x loads feed {} multiply-adds of {ty}.",
        icb * in_rows,
        icb * k * k * rows
    );
    line!(
        "// Dispatch: (x, y) fold over chunks (flat index wg.x + wg.y * nwg.x, workgroups of 64);"
    );
    line!(
        "// z = input-channel block + blocks * output-channel block (uniform; tails clamped, not stored)."
    );
    line!("// Rows past out_h read dy as 0.");
    line!("// Params mirror `ops::conv2d::Conv2dParams`.");
    line!();
    params_struct(w);
    line!("@group(0) @binding(0) var<uniform> params: Params;");
    line!("@group(0) @binding(1) var<storage, read> x: array<f32>;");
    line!("@group(0) @binding(2) var<storage, read> dy: array<f32>;");
    line!("@group(0) @binding(3) var<storage, read_write> partial: array<f32>;");
    line!("@group(0) @binding(4) var<storage, read_write> dw: array<f32>;");
    line!();
    line!("@compute @workgroup_size(64)");
    line!(
        "fn {}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{",
        thin_weight_entry(k, n, icb, rows)
    );
    line!("    _ = dw[0];");
    line!(
        "    let ic_blocks = (params.in_ch + {}u) / {icb}u;",
        icb - 1
    );
    line!("    let ic0 = (wg.z % ic_blocks) * {icb}u;");
    line!("    let oc = (wg.z / ic_blocks) * {n}u;");
    line!("    let last_ic = params.in_ch - 1u;");
    line!("    let last_oc = params.out_ch - 1u;");
    line!("    let chunk = (wg.x + wg.y * nwg.x) * 64u + lid;");
    line!("    if (chunk >= params.chunks) {{ return; }}");
    line!("    let bands = (params.out_h + {}u) / {rows}u;", rows - 1);
    line!("    let band0 = chunk * params.batch_per_chunk;");
    line!("    let band1 = min(band0 + params.batch_per_chunk, params.batch * bands);");
    line!("    let hw = params.height * params.width;");
    line!("    let hi = i32(params.height) - 1;");
    line!("    let wmax = i32(params.width) - 1;");
    line!("    let pl = i32(params.pad_left);");
    for q in 0..icb {
        for kh in 0..k {
            for kw in 0..k {
                line!("    var a{q}_{kh}_{kw} = {ty}(0.0);");
            }
        }
    }
    line!("    for (var band = band0; band < band1; band++) {{");
    line!("        let oh0 = (band % bands) * {rows}u;");
    line!("        let b = band / bands;");
    for r in 0..rows {
        line!("        let ok{r} = oh0 + {r}u < params.out_h;");
        line!("        let ohc{r} = min(oh0 + {r}u, params.out_h - 1u);");
        for j in 0..n {
            line!(
                "        let d{r}_{j} = ((b * params.out_ch + min(oc + {j}u, last_oc)) * params.out_h + ohc{r}) * params.out_w;"
            );
        }
    }
    for q in 0..icb {
        line!("        let xb{q} = (b * params.in_ch + min(ic0 + {q}u, last_ic)) * hw;");
    }
    for i in 0..in_rows {
        line!("        let r{i} = i32(oh0 + {i}u) - i32(params.pad_top);");
        line!("        let rk{i} = r{i} >= 0 && r{i} <= hi;");
        line!("        let ro{i} = u32(clamp(r{i}, 0, hi)) * params.width;");
    }
    // The window before ow = 0: columns -pad_left + kw for kw < k - 1 sit in slots 1..k.
    for kw in 0..k - 1 {
        line!("        let c{kw} = {kw} - pl;");
        line!("        let ck{kw} = c{kw} >= 0 && c{kw} <= wmax;");
        line!("        let co{kw} = u32(clamp(c{kw}, 0, wmax));");
        for q in 0..icb {
            for i in 0..in_rows {
                line!(
                    "        var v{q}_{i}_{} = select(0.0, x[xb{q} + ro{i} + co{kw}], rk{i} && ck{kw});",
                    kw + 1
                );
            }
        }
    }
    for q in 0..icb {
        for i in 0..in_rows {
            line!("        var v{q}_{i}_0 = 0.0;");
        }
    }
    line!("        for (var ow = 0u; ow < params.out_w; ow++) {{");
    line!("            let c = i32(ow) + {} - pl;", k - 1);
    line!("            let ck = c >= 0 && c <= wmax;");
    line!("            let co = u32(clamp(c, 0, wmax));");
    for q in 0..icb {
        for i in 0..in_rows {
            for kw in 0..k - 1 {
                line!("            v{q}_{i}_{kw} = v{q}_{i}_{};", kw + 1);
            }
            line!(
                "            v{q}_{i}_{} = select(0.0, x[xb{q} + ro{i} + co], rk{i} && ck);",
                k - 1
            );
        }
    }
    for r in 0..rows {
        let g = thin_value(n, |j| format!("dy[d{r}_{j} + ow]"));
        if n == 1 {
            line!("            let g{r} = select(0.0, {g}, ok{r});");
        } else {
            line!("            let g{r} = select({ty}(0.0), {g}, ok{r});");
        }
    }
    for r in 0..rows {
        for q in 0..icb {
            for kh in 0..k {
                for kw in 0..k {
                    line!("            a{q}_{kh}_{kw} += g{r} * v{q}_{}_{kw};", r + kh);
                }
            }
        }
    }
    line!("        }}");
    line!("    }}");
    line!("    let len = params.out_ch * params.in_ch * {}u;", k * k);
    line!("    let out = chunk * len;");
    let comp = ["x", "y", "z", "w"];
    for q in 0..icb {
        line!("    if (ic0 + {q}u <= last_ic) {{");
        for kh in 0..k {
            for kw in 0..k {
                for (j, cj) in comp.iter().enumerate().take(n) {
                    let v = if n == 1 {
                        format!("a{q}_{kh}_{kw}")
                    } else {
                        format!("a{q}_{kh}_{kw}.{cj}")
                    };
                    let guard = if j == 0 {
                        String::new()
                    } else {
                        format!("if (oc + {j}u <= last_oc) ")
                    };
                    line!(
                        "        {guard}{{ partial[out + ((oc + {j}u) * params.in_ch + ic0 + {q}u) * {}u + {}u] = {v}; }}",
                        k * k,
                        kh * k + kw
                    );
                }
            }
        }
        line!("    }}");
    }
    line!("}}");
    s
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
    let kernel = Conv2dKernel::best(gpu, s, Conv2dPass::Forward);
    forward_with(gpu, kernel, s, x, w, b, y)
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
            "{op}: kernel {kernel:?} needs subgroups of exactly {SG_LANES} lanes, adapter has {}..{}",
            gpu.info.subgroup_min_size, gpu.info.subgroup_max_size
        )));
    }
    if !kernel.handles(s, pass) {
        return Err(Error::InvalidArgument(format!(
            "{op}: kernel {kernel:?} does not handle {s:?}"
        )));
    }
    Ok(())
}

/// Launch the subgroup kernel of `pass` over its tiles (z: `z` workgroups, the weight chunks).
fn launch_sg(
    gpu: &Gpu,
    op: &str,
    s: &Conv2dShape,
    pass: Conv2dPass,
    params: &Conv2dParams,
    buffers: &[&Buffer],
    z: usize,
) -> Result<Dispatch> {
    let [gx, gy, _] = workgroups_for(sg_tiles(s, pass), 1);
    let rows = sg_rows(s, pass);
    let source = subgroup_source(pass, rows);
    launch(
        gpu,
        &format!("{op} subgroup"),
        &source,
        &sg_entry(pass, rows),
        params,
        buffers,
        [gx, gy, z as u32],
    )
}

/// y = conv(x, w) + b with a chosen kernel family (tests run both).
pub fn forward_with(
    gpu: &Gpu,
    kernel: Conv2dKernel,
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
    check_kernel(gpu, op, kernel, s, Conv2dPass::Forward)?;
    if kernel == Conv2dKernel::Subgroup {
        let params = s.params(1, s.batch);
        let (repack, wt) = repack_weights(gpu, op, s, Conv2dPass::Forward, &params, w)?;
        let d = launch_sg(gpu, op, s, Conv2dPass::Forward, &params, &[x, &wt, b, y], 1)?;
        return Ok(vec![repack, d.with_flops(s.flops())]);
    }
    let (oh, ow) = s.out_hw();
    if kernel == Conv2dKernel::Thin {
        let n = thin_lanes(s);
        let lanes = s.batch * oh.div_ceil(THIN_ROWS) * ow.div_ceil(THIN_COLS);
        let [gx, gy, _] = workgroups_for(lanes, GROUP);
        let z = thin_groups_z(s, Conv2dPass::Forward) as u32;
        let d = launch(
            gpu,
            &format!("{op} thin"),
            &thin_forward_source(s.kernel, n),
            &thin_forward_entry(s.kernel, n),
            &s.params(1, s.batch),
            &[x, w, b, y],
            [gx, gy, z],
        )?;
        return Ok(vec![d.with_flops(s.flops())]);
    }
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
    if kernel == Conv2dKernel::Subgroup {
        let params = s.params(1, s.batch);
        let (repack, wt) = repack_weights(gpu, op, s, Conv2dPass::BackwardInput, &params, w)?;
        let d = launch_sg(
            gpu,
            op,
            s,
            Conv2dPass::BackwardInput,
            &params,
            &[dy, &wt, dx],
            1,
        )?;
        return Ok(vec![repack, d.with_flops(s.flops())]);
    }
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
    let sg = kernel == Conv2dKernel::Subgroup;
    let thin = kernel == Conv2dKernel::Thin;
    let (chunks, batch_per_chunk) = if sg {
        sg_weight_chunks(s)
    } else if thin {
        thin_weight_chunks(s)
    } else {
        weight_grad_chunks(s)
    };
    let partial_len = chunks * s.weight_len();
    check_binding(gpu, op, "partial sums", partial_len)?;
    let partial = gpu.storage(&format!("{op} partial sums"), partial_len);
    let params = s.params(chunks, batch_per_chunk);
    let buffers = [x, dy, &partial, dw];
    let sums = if sg {
        launch_sg(
            gpu,
            op,
            s,
            Conv2dPass::BackwardWeight,
            &params,
            &buffers,
            chunks,
        )?
    } else if thin {
        let (n, icb) = (thin_lanes(s), thin_weight_in_channels(s));
        let [gx, gy, _] = workgroups_for(chunks, GROUP);
        let z = thin_groups_z(s, Conv2dPass::BackwardWeight) as u32;
        launch(
            gpu,
            &format!("{op} thin"),
            &thin_weight_source(s.kernel, n, icb, THIN_WEIGHT_ROWS),
            &thin_weight_entry(s.kernel, n, icb, THIN_WEIGHT_ROWS),
            &params,
            &buffers,
            [gx, gy, z],
        )?
    } else {
        let (entry, lanes_per_chunk, z) = weight_grad_kernel(s);
        let [gx, gy, _] = workgroups_for(chunks * lanes_per_chunk, GROUP);
        launch(
            gpu,
            op,
            BACKWARD_WEIGHT,
            entry,
            &params,
            &buffers,
            [gx, gy, z as u32],
        )?
    };
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
