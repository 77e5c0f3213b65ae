//! The node-to-node sums as circular convolutions: the kernels sampled on the node grid
//! (`kernel`, only when the node spacing changed), and [`Fft2d`], mixed-radix Stockham FFTs in
//! WGSL (`stockham` plus generated butterflies, `stockham_source`) that transform the kernel,
//! the charges, and the product of their spectra back.

use std::sync::LazyLock;

use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu};
use crate::ops::{check_len, launch};
use crate::wgsl::{WgslStruct, u32_constants, with_structs};

use super::grid::MAX_FFT_LEN;
use super::{FftParams, FftRepulsion, GridGeometry, KernelState, u32_of};

static KERNEL: LazyLock<String> = LazyLock::new(|| {
    with_structs(
        &[
            FftParams::declare("Params"),
            GridGeometry::declare("Grid"),
            KernelState::declare("KernelState"),
        ],
        include_str!("kernel.wgsl"),
    )
});
/// stockham.wgsl, to which `stockham_source` appends an entry point. Its `gate` binding reads
/// the grid buffer as u32 words: `kernel_dirty` is word KERNEL_DIRTY_WORD.
static STOCKHAM: LazyLock<String> = LazyLock::new(|| {
    with_structs(
        &[
            FftParams::declare("Params"),
            u32_constants(&[
                ("WG_Y", FFT_WG_Y),
                (
                    "KERNEL_DIRTY_WORD",
                    std::mem::offset_of!(GridGeometry, kernel_dirty) / 4,
                ),
            ]),
        ],
        include_str!("stockham.wgsl"),
    )
});

/// y workgroups of the kernel's gated dispatches (each invocation loops over y): few, so that a
/// cached kernel costs little, but enough to keep every worker thread busy when it is computed.
const GATED_Y_GROUPS: usize = 4;
/// Workgroup shape of the FFT passes: 64 x FFT_WG_Y (emitted as `WG_Y` into stockham.wgsl).
const FFT_WG_Y: usize = 1;
/// Largest radix of one Stockham pass: one invocation holds a DFT of this many complex values
/// (generated WGSL, see `stockham_source`).
pub(super) const MAX_RADIX: usize = 64;

/// `(a, b, c)` with `len = 2^a 3^b 5^c`, or None when `len` has another prime factor.
fn factor235(len: usize) -> Option<[u32; 3]> {
    if len == 0 {
        return None;
    }
    let mut rest = len;
    let mut e = [0u32; 3];
    for (k, p) in [2, 3, 5].into_iter().enumerate() {
        while rest.is_multiple_of(p) {
            rest /= p;
            e[k] += 1;
        }
    }
    (rest == 1).then_some(e)
}

/// The radices of the passes for `len = 2^a 3^b 5^c` (None for other lengths): the fewest
/// passes of radices up to `MAX_RADIX`, the most even split on ties (the smallest largest
/// radix), largest first. Each pass is one streaming read and write of the grid, the part of an
/// FFT that costs most on lavapipe, so few large radices beat many small ones.
pub fn radices(len: usize) -> Option<Vec<usize>> {
    factor235(len)?;
    fn plan(len: usize) -> Vec<usize> {
        if len <= MAX_RADIX {
            return vec![len];
        }
        (2..=MAX_RADIX)
            .filter(|d| len.is_multiple_of(*d))
            .map(|d| {
                let mut r = plan(len / d);
                r.push(d);
                r.sort_unstable_by(|a, b| b.cmp(a));
                r
            })
            .min_by_key(|r| (r.len(), r[0]))
            .expect("a 5-smooth length has a divisor in 2..=MAX_RADIX")
    }
    Some(plan(len))
}

/// WGSL for one Stockham pass of radix `radix` (2..=`MAX_RADIX`, any product of 2, 3 and 5):
/// stockham.wgsl followed by the generated entry point `fft_radix{radix}` and its
/// butterfly, a DFT of `radix` points unrolled into named values (Cooley-Tukey splits down to
/// DFTs of 2, 3, 4 and 5 points, constant twiddles as literals).
///
/// `pad`, `prune` and `fused` become the WGSL constants PAD (the first pass reads elements past
/// `valid` as zero), PRUNE (the last pass stores no outputs past `out_valid`) and FUSED (the first
/// inverse pass reads the spectra product); each combination is its own pipeline.
pub(super) fn stockham_source(radix: usize, pad: bool, prune: bool, fused: bool) -> String {
    use std::fmt::Write;
    struct Gen {
        code: String,
        next: usize,
    }
    impl Gen {
        fn var(&mut self, expr: String) -> String {
            let v = format!("v{}", self.next);
            self.next += 1;
            let _ = writeln!(self.code, "    let {v} = {expr};");
            v
        }
        // x * w_n^e, w_n = exp(sign 2 pi i / n).
        fn twiddled(&mut self, x: &str, e: usize, n: usize) -> String {
            let e = e % n;
            if e == 0 {
                x.to_string()
            } else if 4 * e == n {
                self.var(format!("rot90({x})"))
            } else if 2 * e == n {
                self.var(format!("-{x}"))
            } else if 4 * e == 3 * n {
                self.var(format!("-rot90({x})"))
            } else {
                let t = std::f64::consts::TAU * e as f64 / n as f64;
                self.var(format!("cmul({x}, tw({:.10}, {:.10}))", t.cos(), t.sin()))
            }
        }
        // DFT of x: X[k] = sum_m x[m] w_n^(m k).
        fn dft(&mut self, x: &[String]) -> Vec<String> {
            let n = x.len();
            let call = |g: &mut Gen, f: &str| {
                let t = g.var(format!("{f}({})", x.join(", ")));
                (0..n).map(|k| format!("{t}.x{k}")).collect()
            };
            match n {
                1 => x.to_vec(),
                2 => vec![
                    self.var(format!("{} + {}", x[0], x[1])),
                    self.var(format!("{} - {}", x[0], x[1])),
                ],
                3 => call(self, "dft3"),
                4 => call(self, "dft4"),
                5 => call(self, "dft5"),
                _ => {
                    // n = a b, m = a m2 + m1, k = k1 + b k2:
                    // X[k1 + b k2] = sum_m1 w_a^(m1 k2) w_n^(m1 k1) Y_m1[k1],
                    // Y_m1 = DFT_b(x[a m2 + m1] over m2).
                    let a = [4, 2, 3, 5]
                        .into_iter()
                        .find(|a| n.is_multiple_of(*a))
                        .expect("n is a product of 2, 3 and 5");
                    let b = n / a;
                    let y: Vec<Vec<String>> = (0..a)
                        .map(|m1| {
                            let sub: Vec<String> =
                                (0..b).map(|m2| x[a * m2 + m1].clone()).collect();
                            self.dft(&sub)
                        })
                        .collect();
                    let mut out = vec![String::new(); n];
                    for k1 in 0..b {
                        let col: Vec<String> = (0..a)
                            .map(|m1| self.twiddled(&y[m1][k1], m1 * k1, n))
                            .collect();
                        for (k2, v) in self.dft(&col).into_iter().enumerate() {
                            out[k1 + b * k2] = v;
                        }
                    }
                    out
                }
            }
        }
    }
    let r = radix;
    let mut g = Gen {
        code: String::new(),
        next: 0,
    };
    let mut src = STOCKHAM.clone();
    let _ = write!(
        src,
        "
const PAD: bool = {pad};
const PRUNE: bool = {prune};
const FUSED: bool = {fused};

@compute @workgroup_size(64, WG_Y)
fn fft_radix{r}(@builtin(global_invocation_id) gid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {{
    if (closed()) {{
        return;
    }}
    for (var y = gid.y; y < y_extent({r}u); y += nwg.y * WG_Y) {{
        let b = butterfly(gid.x, y, gid.z, {r}u);
        if (b.x != NONE) {{
            radix{r}(b.x, b.y);
        }}
    }}
}}

fn radix{r}(base: u32, j: u32) {{
    let s = split(j);
    let q = params.len / {r}u;
    let w1 = twiddle(s.y * params.tw_stride);
"
    );
    // Twiddle powers w^k as products of two lower powers (log2 k roundings deep).
    for k in 2..r {
        let _ = writeln!(src, "    let w{k} = cmul(w{}, w{});", k / 2, k - k / 2);
    }
    let _ = writeln!(src, "    let x0 = load(base, j);");
    for k in 1..r {
        let _ = writeln!(src, "    let x{k} = cmul(load(base, j + {k}u * q), w{k});");
    }
    let x: Vec<String> = (0..r).map(|k| format!("x{k}")).collect();
    let out = g.dft(&x);
    src.push_str(&g.code);
    for (k, v) in out.iter().enumerate() {
        let _ = writeln!(src, "    store(base, s, {r}u, {k}u, {v});");
    }
    src.push_str("}\n");
    src
}

/// Batched 2-D complex FFTs of `len x len` grids (row-major `vec2<f32>`, `channels` grids one
/// after the other), in place, written in WGSL (stockham.wgsl plus generated butterflies:
/// mixed-radix Stockham autosort passes of radices up to `MAX_RADIX`, see [`radices`]), for any
/// `len = 2^a 3^b 5^c` up to [`MAX_FFT_LEN`]. Each axis takes one pass per radix, ping-ponging
/// with a scratch buffer; both axes together take an even number of passes, so the result lands
/// back in the caller's buffer.
pub struct Fft2d {
    pub len: usize,
    /// Most channels one call may transform (the scratch buffer's size).
    pub max_channels: usize,
    radices: Vec<usize>,
    twiddles: wgpu::Buffer,
    scratch: wgpu::Buffer,
}

/// What one axis of passes reads and writes (see [`Fft2d::axis`]).
struct AxisPlan<'a> {
    columns: bool,
    lines: usize,
    /// Elements `>= valid` of the first pass's input are zero.
    valid: usize,
    /// Outputs `>= out_valid` of the last pass are not stored.
    out_valid: usize,
    /// The first pass multiplies `first_src` by this kernel spectrum (fused product).
    fused_kernel: Option<&'a wgpu::Buffer>,
    /// The first pass reads this buffer instead of the current one.
    first_src: Option<&'a wgpu::Buffer>,
    /// Every pass runs only when this grid buffer's `kernel_dirty` is set.
    gate: Option<&'a wgpu::Buffer>,
}

impl Fft2d {
    /// Twiddles exp(-2 pi i k / len), k < len, computed in f64 and uploaded once, and a scratch
    /// grid for `max_channels` channels.
    pub fn new(gpu: &Gpu, len: usize, max_channels: usize) -> Result<Fft2d> {
        let radices = radices(len)
            .filter(|_| (2..=MAX_FFT_LEN).contains(&len))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "FFT length {len} must be a product of 2, 3 and 5 in 2..={MAX_FFT_LEN}"
                ))
            })?;
        let twiddles: Vec<f32> = (0..len.max(4))
            .flat_map(|k| {
                let a = -std::f64::consts::TAU * k as f64 / len as f64;
                [a.cos() as f32, a.sin() as f32]
            })
            .collect();
        Ok(Fft2d {
            len,
            max_channels,
            radices,
            twiddles: gpu.storage_from("fft twiddles", &twiddles),
            scratch: gpu.storage("fft scratch", 2 * max_channels * len * len),
        })
    }

    /// The passes along one axis. `in_data` tracks which buffer holds the current values.
    fn axis(
        &self,
        gpu: &Gpu,
        data: &wgpu::Buffer,
        in_data: &mut bool,
        base: FftParams,
        plan: AxisPlan,
        out: &mut Vec<Dispatch>,
    ) -> Result<()> {
        let len = self.len;
        // Column passes map invocation x to the line: all len columns.
        debug_assert!(!plan.columns || plan.lines == len);
        let mut ns = 1;
        let passes = self.radices.len();
        for (i, &radix) in self.radices.iter().enumerate() {
            let (first, last) = (i == 0, i + 1 == passes);
            let p = FftParams {
                lines: plan.lines as u32,
                line_stride: if plan.columns { 1 } else { len as u32 },
                elem_stride: if plan.columns { len as u32 } else { 1 },
                line_fast: plan.columns as u32,
                valid: if first { plan.valid } else { len } as u32,
                out_valid: if last { plan.out_valid } else { len } as u32,
                ns: ns as u32,
                inv_ns: 1.0 / ns as f32,
                tw_stride: (len / (ns * radix)) as u32,
                gated: plan.gate.is_some() as u32,
                fused: (first && plan.fused_kernel.is_some()) as u32,
                ..base
            };
            let (mut src, dst) = if *in_data {
                (data, &self.scratch)
            } else {
                (&self.scratch, data)
            };
            if first && let Some(s) = plan.first_src {
                src = s;
            }
            let aux = if first {
                plan.fused_kernel.unwrap_or(&self.twiddles)
            } else {
                &self.twiddles
            };
            let gate = plan.gate.unwrap_or(&self.twiddles);
            // One invocation per butterfly; rows: (line, butterfly) pairs flat, 64 along x, the
            // runs of 64 along y; columns: x = line, y = butterfly; z = channel.
            // Gated passes loop over y in a few groups, so a closed gate costs few workgroups.
            let butterflies = len / radix;
            let (x, y) = if plan.columns {
                (plan.lines, butterflies)
            } else {
                (64, (plan.lines * butterflies).div_ceil(64))
            };
            let y = if plan.gate.is_some() {
                y.min(GATED_Y_GROUPS * FFT_WG_Y)
            } else {
                y
            };
            let groups = [
                x.div_ceil(64) as u32,
                y.div_ceil(FFT_WG_Y) as u32,
                base.channels,
            ];
            let entry = format!("fft_radix{radix}");
            let pad = first && plan.valid < len;
            let prune = last && plan.out_valid < len;
            let fused = first && plan.fused_kernel.is_some();
            let variant = format!(
                "{}{}{}",
                if pad { "_pad" } else { "" },
                if prune { "_prune" } else { "" },
                if fused { "_fused" } else { "" }
            );
            let mut d = launch(
                gpu,
                &format!("tsne_fft_stockham_r{radix}{variant}"),
                &stockham_source(radix, pad, prune, fused),
                &entry,
                &p,
                &[&self.twiddles, src, dst, aux, gate],
                groups,
            )?;
            d.label += if plan.columns { " columns" } else { " rows" };
            out.push(d);
            *in_data = !*in_data;
            ns *= radix;
        }
        Ok(())
    }

    fn params(&self, channels: usize, inverse: bool) -> Result<FftParams> {
        let len = self.len as u32;
        Ok(FftParams {
            len,
            channels: u32_of("channels", channels)?,
            chan_stride: len * len,
            inverse: inverse as u32,
            ..Default::default()
        })
    }

    fn check(&self, data: &wgpu::Buffer, channels: usize, used: usize) -> Result<()> {
        if used > self.len || channels > self.max_channels || channels == 0 {
            return Err(Error::shape(
                "fft2d",
                format!(
                    "{used} rows/columns of {channels} channels for a {}-point FFT of at most {} \
                     channels",
                    self.len, self.max_channels
                ),
            ));
        }
        check_len("fft2d", "data", data, 2 * channels * self.len * self.len)
    }

    /// Forward DFT of `channels` grids whose nonzero entries all lie in the `valid x valid`
    /// top-left corner (the rest is read as zero, whatever the buffer holds): rows `< valid`
    /// along x, then every column along y.
    pub fn forward(
        &self,
        gpu: &Gpu,
        data: &wgpu::Buffer,
        channels: usize,
        valid: usize,
    ) -> Result<Vec<Dispatch>> {
        self.forward_gated(gpu, data, channels, valid, None)
    }

    /// `forward`, every pass gated on the `kernel_dirty` flag of `gate` (a grid buffer).
    fn forward_gated(
        &self,
        gpu: &Gpu,
        data: &wgpu::Buffer,
        channels: usize,
        valid: usize,
        gate: Option<&wgpu::Buffer>,
    ) -> Result<Vec<Dispatch>> {
        self.check(data, channels, valid)?;
        let base = self.params(channels, false)?;
        let (mut out, mut in_data) = (Vec::new(), true);
        let (len, rows) = (self.len, false);
        let plan = |columns: bool, lines: usize| AxisPlan {
            columns,
            lines,
            valid,
            out_valid: len,
            fused_kernel: None,
            first_src: None,
            gate,
        };
        self.axis(gpu, data, &mut in_data, base, plan(rows, valid), &mut out)?;
        self.axis(gpu, data, &mut in_data, base, plan(true, len), &mut out)?;
        debug_assert!(
            in_data,
            "an even number of passes ends in the caller's buffer"
        );
        Ok(out)
    }

    /// Inverse DFT without the 1 / len^2 factor: every column along y, then only the rows
    /// `< rows_out` along x (the other rows are left unfinished).
    pub fn inverse(
        &self,
        gpu: &Gpu,
        data: &wgpu::Buffer,
        channels: usize,
        rows_out: usize,
    ) -> Result<Vec<Dispatch>> {
        self.inverse_from(gpu, data, channels, rows_out, self.len, None)
    }

    /// Inverse DFT into `data` of the first `rows_out x cols_out` corner. With `product =
    /// Some((spectra, kernel))` its input is not `data` but the fused product of two charge
    /// spectra (2 channels) and a kernel spectrum (see stockham.wgsl).
    fn inverse_from(
        &self,
        gpu: &Gpu,
        data: &wgpu::Buffer,
        channels: usize,
        rows_out: usize,
        cols_out: usize,
        product: Option<(&wgpu::Buffer, &wgpu::Buffer)>,
    ) -> Result<Vec<Dispatch>> {
        self.check(data, channels, rows_out.max(cols_out))?;
        let base = self.params(channels, true)?;
        // With a product the first pass reads the spectra instead of `data` and writes the
        // scratch buffer as usual, so the passes still end in `data`.
        let (mut out, mut in_data) = (Vec::new(), true);
        let len = self.len;
        let columns = AxisPlan {
            columns: true,
            lines: len,
            valid: len,
            out_valid: rows_out,
            fused_kernel: product.map(|p| p.1),
            first_src: product.map(|p| p.0),
            gate: None,
        };
        self.axis(gpu, data, &mut in_data, base, columns, &mut out)?;
        let rows = AxisPlan {
            columns: false,
            lines: rows_out,
            valid: len,
            out_valid: cols_out,
            fused_kernel: None,
            first_src: None,
            gate: None,
        };
        self.axis(gpu, data, &mut in_data, base, rows, &mut out)?;
        debug_assert!(
            in_data,
            "an even number of passes ends in the caller's buffer"
        );
        Ok(out)
    }
}

/// This stage's kernels as the GPU gets them, by file (for [`super::kernel_sources`]):
/// stockham.wgsl once for every radix `stockham_source` takes and every combination of its
/// flags.
pub(super) fn kernel_sources() -> Vec<(&'static str, String)> {
    let mut out = vec![("src/tsne/fft/kernel.wgsl", KERNEL.to_string())];
    for radix in (2..=MAX_RADIX).filter(|&r| radices(r).is_some()) {
        for flags in 0..8u32 {
            let (pad, prune, fused) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
            out.push((
                "src/tsne/fft/stockham.wgsl",
                stockham_source(radix, pad, prune, fused),
            ));
        }
    }
    out
}

impl FftRepulsion {
    /// The kernel spectrum (recomputed only when the node spacing changed), the charge spectra,
    /// and the potentials: the inverse transform of their product.
    pub(super) fn record_convolution(&self, gpu: &Gpu, p: &FftParams) -> Result<Vec<Dispatch>> {
        let (len, nodes) = (self.fft.len, p.nodes as usize);
        let mut d = vec![launch(
            gpu,
            "tsne_fft_kernel",
            &KERNEL,
            "kernel_grid",
            p,
            &[&self.grid, &self.kernel, &self.state],
            [len.div_ceil(64) as u32, GATED_Y_GROUPS as u32, 1],
        )?];
        d.extend(tagged(
            self.fft
                .forward_gated(gpu, &self.kernel, 1, len, Some(&self.grid))?,
            "kernel",
        ));
        d.extend(tagged(
            self.fft.forward(gpu, &self.charges, 2, nodes)?,
            "charges",
        ));
        d.extend(tagged(
            self.fft.inverse_from(
                gpu,
                &self.potentials,
                2,
                nodes,
                nodes,
                Some((&self.charges, &self.kernel)),
            )?,
            "potentials",
        ));
        Ok(d)
    }
}

/// Appends `[what]` to the labels of FFT dispatches, so profiles tell the transforms apart.
fn tagged(mut d: Vec<Dispatch>, what: &str) -> Vec<Dispatch> {
    for x in &mut d {
        x.label = format!("{} [{what}]", x.label);
    }
    d
}
