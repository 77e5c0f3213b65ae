//! Matrix multiply C[M,N] = op(A)[M,K] * op(B)[K,N] (+ bias[N] on every row), row-major, with
//! transpose flags for A and B. Dense layers use it for their forward pass and both backward
//! passes (dx = dy W^T, dW = x^T dy).
//!
//! Two register-blocked kernels, both generated here per transpose variant and appended to the
//! fixed part in matmul_forward.wgsl ([`kernel_source`] returns the whole text, so tests
//! validate it with naga): [`MatmulKernel::Blocked8x8`] (an 8x8 block of C per invocation in 16
//! named vec4 accumulators, for any adapter) and the subgroup kernels (a 32- or 64-row tile per
//! 8-lane subgroup, op(A) shared by `subgroupBroadcast`), which are several times faster on
//! lavapipe. [`forward_upper`] runs only the tiles on or above the diagonal (for a symmetric C
//! such as Aᵀ A). [`naive`] (one output per invocation) and [`cpu::matmul_fast`] (an i-k-j loop the
//! compiler vectorizes) are the baselines they are measured against.

use std::sync::LazyLock;

use std::fmt::Write;

use bytemuck::{Pod, Zeroable};

use super::{check_len, launch};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::wgsl::WgslStruct;
use crate::wgsl_line;
use crate::wgsl_struct;

static FORWARD_COMMON: LazyLock<String> =
    LazyLock::new(|| MatmulParams::as_params_of_group(include_str!("matmul_forward.wgsl"), GROUP));
static NAIVE: LazyLock<String> =
    LazyLock::new(|| MatmulParams::as_params_of(include_str!("matmul_naive.wgsl")));
/// Rows and columns of C one invocation of the fast kernel computes.
pub const BLOCK: usize = 8;
const GROUP: u32 = 64;
/// Columns of C one subgroup of the subgroup kernels computes (4 per lane).
pub const SG_COLS: usize = 32;
/// The subgroup size the subgroup kernel is written for.
const SUBGROUP: u32 = 8;
const NAIVE_GROUP: u32 = 256;

/// The sizes of one product: op(A) is [m, k], op(B) is [k, n], C is [m, n]. With `transpose_a`
/// A is stored [k, m]; with `transpose_b` B is stored [n, k].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulShape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub transpose_a: bool,
    pub transpose_b: bool,
}

impl MatmulShape {
    /// C = A B without transposes.
    pub fn new(m: usize, n: usize, k: usize) -> MatmulShape {
        MatmulShape {
            m,
            n,
            k,
            transpose_a: false,
            transpose_b: false,
        }
    }

    pub fn a_len(&self) -> usize {
        self.m * self.k
    }
    pub fn b_len(&self) -> usize {
        self.k * self.n
    }
    pub fn c_len(&self) -> usize {
        self.m * self.n
    }
    /// Multiply-adds count two flops each.
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }

    fn check(&self, op: &str) -> Result<()> {
        if self.m == 0 || self.n == 0 || self.k == 0 {
            return Err(Error::shape(
                op,
                format!("every size must be positive, got {self:?}"),
            ));
        }
        // Indices are u32 in WGSL.
        let largest = self.a_len().max(self.b_len()).max(self.c_len());
        if largest > u32::MAX as usize {
            return Err(Error::shape(
                op,
                format!("{self:?} has more than 2^32 elements"),
            ));
        }
        Ok(())
    }

    fn params(&self, (tile_m, tile_n): (usize, usize), has_bias: bool) -> MatmulParams {
        let blocks_n = self.n.div_ceil(tile_n);
        MatmulParams {
            upper: 0,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
            m: self.m as u32,
            n: self.n as u32,
            k: self.k as u32,
            has_bias: has_bias as u32,
            transpose_a: self.transpose_a as u32,
            transpose_b: self.transpose_b as u32,
            blocks_n: blocks_n as u32,
            blocks: (self.m.div_ceil(tile_m) * blocks_n) as u32,
        }
    }
}

wgsl_struct! {
    /// `Params` in matmul_forward.wgsl and matmul_naive.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct MatmulParams {
        pub m: u32,
        pub n: u32,
        pub k: u32,
        pub has_bias: u32,
        pub transpose_a: u32,
        pub transpose_b: u32,
        pub blocks_n: u32,
        pub blocks: u32,
        /// 1: only the blocks (tiles) of C on or above the diagonal run, `blocks` of them, listed row
        /// block by row block; C below is left unchanged ([`forward_upper`]).
        pub upper: u32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

/// Check the buffers against the shape; returns the bias dummy to bind when there is no bias.
fn check_buffers(
    gpu: &Gpu,
    op: &str,
    s: &MatmulShape,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    bias: Option<&wgpu::Buffer>,
    c: &wgpu::Buffer,
) -> Result<Option<wgpu::Buffer>> {
    s.check(op)?;
    check_len(op, "a", a, s.a_len())?;
    check_len(op, "b", b, s.b_len())?;
    check_len(op, "c", c, s.c_len())?;
    match bias {
        Some(bias) => {
            check_len(op, "bias", bias, s.n)?;
            Ok(None)
        }
        None => Ok(Some(gpu.storage(&format!("{op} no bias"), 1))),
    }
}

/// Which register-blocked kernel runs a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulKernel {
    /// One invocation per 8x8 block of C, 64 invocations per workgroup. Works everywhere.
    Blocked8x8,
    /// One subgroup of exactly 8 lanes per 32x32 tile of C: every lane owns 4 columns of all 32
    /// rows; the 32 values of op(A) a k step needs are loaded once per subgroup (4 per lane) and
    /// shared with `subgroupBroadcast`. On lavapipe, where every storage read is a loop over the 8
    /// lanes (Mesa 22.3), this issues 4x fewer reads per multiply-add than `Blocked8x8`. Needs `Features::SUBGROUP` and a fixed subgroup
    /// size of 8.
    Subgroup32,
    /// As `Subgroup32` with 64-row tiles (64 named vec4 accumulators per lane): half the reads of
    /// op(B) per multiply-add again; for products with at least 64 rows. (128-row tiles were no
    /// faster and compile far slower.)
    Subgroup64,
}

impl MatmulKernel {
    /// The fastest kernel this adapter runs for a product of shape `s`.
    pub fn best(gpu: &Gpu, s: &MatmulShape) -> MatmulKernel {
        if !MatmulKernel::Subgroup32.supported(gpu) {
            MatmulKernel::Blocked8x8
        } else if s.m >= 64 {
            MatmulKernel::Subgroup64
        } else {
            MatmulKernel::Subgroup32
        }
    }

    pub fn supported(self, gpu: &Gpu) -> bool {
        match self {
            MatmulKernel::Blocked8x8 => true,
            MatmulKernel::Subgroup32 | MatmulKernel::Subgroup64 => {
                gpu.features.contains(wgpu::Features::SUBGROUP)
                    && gpu.info.subgroup_min_size == SUBGROUP
                    && gpu.info.subgroup_max_size == SUBGROUP
            }
        }
    }

    /// Rows and columns of C one tile (an invocation or a subgroup) computes.
    fn tile(self) -> (usize, usize) {
        match self {
            MatmulKernel::Blocked8x8 => (BLOCK, BLOCK),
            MatmulKernel::Subgroup32 => (32, SG_COLS),
            MatmulKernel::Subgroup64 => (64, SG_COLS),
        }
    }

    /// Tiles per workgroup.
    fn group(self) -> u32 {
        match self {
            MatmulKernel::Blocked8x8 => GROUP,
            _ => 1,
        }
    }

    /// The entry point for one transpose variant.
    pub fn entry(self, transpose_a: bool, transpose_b: bool) -> String {
        let kernel = match self {
            MatmulKernel::Blocked8x8 => "matmul",
            MatmulKernel::Subgroup32 => "matmul_sg32",
            MatmulKernel::Subgroup64 => "matmul_sg64",
        };
        let t = |x: bool| if x { 't' } else { 'n' };
        format!("{kernel}_{}{}", t(transpose_a), t(transpose_b))
    }
}

/// The register-blocked product, with the fastest kernel the adapter runs ([`MatmulKernel::best`]).
pub fn forward(
    gpu: &Gpu,
    s: &MatmulShape,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    bias: Option<&wgpu::Buffer>,
    c: &wgpu::Buffer,
) -> Result<Dispatch> {
    forward_with(gpu, MatmulKernel::best(gpu, s), s, a, b, bias, c)
}

/// The register-blocked product with a chosen kernel (tests run both).
pub fn forward_with(
    gpu: &Gpu,
    kernel: MatmulKernel,
    s: &MatmulShape,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    bias: Option<&wgpu::Buffer>,
    c: &wgpu::Buffer,
) -> Result<Dispatch> {
    blocked(gpu, kernel, s, a, b, bias, c, false)
}

/// The product on and above the diagonal only, for a symmetric C such as Aᵀ A: the kernel's
/// blocks (tiles) of C that lie wholly below the diagonal (every row index greater than every
/// column index) are not dispatched and C there is left as it was. Every C[i, j] with j ≥ i is
/// written (and some below the diagonal, in tiles that straddle it), so mirroring the strict lower
/// triangle at any granularity from the upper one completes C. For m = n = 784 the 64 × 32 tiles
/// of `Subgroup64` run 169 of 325 tiles, 54% of C ([`upper_outputs`], which the dispatch's flop
/// count follows). Only the tiles that run are dispatched, all of equal work: lavapipe hands each
/// thread an equal run of consecutive workgroups, so skipping tiles by returning early would leave
/// one thread most of the work.
pub fn forward_upper(
    gpu: &Gpu,
    kernel: MatmulKernel,
    s: &MatmulShape,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    c: &wgpu::Buffer,
) -> Result<Dispatch> {
    blocked(gpu, kernel, s, a, b, None, c, true)
}

/// How many values of C (m × n) `forward_upper` writes with this kernel: those in its tiles on or
/// above the diagonal, clipped to C.
pub fn upper_outputs(kernel: MatmulKernel, s: &MatmulShape) -> usize {
    let (tm, tn) = kernel.tile();
    (0..s.m.div_ceil(tm))
        .map(|r| {
            // Column tiles c wholly left of row tile r's first row ((c + 1) tn ≤ r tm) are skipped.
            let first_col = (r * tm / tn) * tn;
            tm.min(s.m - r * tm) * s.n.saturating_sub(first_col)
        })
        .sum()
}

/// How many of the kernel's tiles of C (m × n) lie on or above the diagonal: row tile r runs its
/// column tiles from (r · tm) / tn on (`block_rc` in matmul_forward.wgsl).
fn upper_tiles(kernel: MatmulKernel, s: &MatmulShape) -> usize {
    let (tm, tn) = kernel.tile();
    let blocks_n = s.n.div_ceil(tn);
    (0..s.m.div_ceil(tm))
        .map(|r| blocks_n - (r * tm / tn).min(blocks_n))
        .sum()
}

#[allow(clippy::too_many_arguments)]
fn blocked(
    gpu: &Gpu,
    kernel: MatmulKernel,
    s: &MatmulShape,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    bias: Option<&wgpu::Buffer>,
    c: &wgpu::Buffer,
    upper: bool,
) -> Result<Dispatch> {
    let entry = kernel.entry(s.transpose_a, s.transpose_b);
    if !kernel.supported(gpu) {
        return Err(Error::InvalidArgument(format!(
            "{entry}: kernel {kernel:?} needs subgroups of exactly {SUBGROUP} lanes, adapter has {}..{}",
            gpu.info.subgroup_min_size, gpu.info.subgroup_max_size
        )));
    }
    let dummy = check_buffers(gpu, &entry, s, a, b, bias, c)?;
    let bias = bias.or(dummy.as_ref()).expect("bias or its dummy");
    let mut params = s.params(kernel.tile(), dummy.is_none());
    if upper {
        params.upper = 1;
        params.blocks = upper_tiles(kernel, s) as u32;
    }
    let groups = workgroups_for(params.blocks as usize, kernel.group());
    let source = kernel_source(kernel, s.transpose_a, s.transpose_b);
    let d = launch(
        gpu,
        &entry,
        &source,
        &entry,
        &params,
        &[a, b, bias, c],
        groups,
    )?;
    let flops = if upper {
        2.0 * upper_outputs(kernel, s) as f64 * s.k as f64
    } else {
        s.flops()
    };
    Ok(d.with_flops(flops))
}

/// The one-output-per-invocation product, kept as the baseline for speed comparisons.
pub fn naive(
    gpu: &Gpu,
    s: &MatmulShape,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    bias: Option<&wgpu::Buffer>,
    c: &wgpu::Buffer,
) -> Result<Dispatch> {
    let op = "matmul_naive";
    let dummy = check_buffers(gpu, op, s, a, b, bias, c)?;
    let bias = bias.or(dummy.as_ref()).expect("bias or its dummy");
    let params = s.params((1, 1), dummy.is_none());
    let groups = workgroups_for(s.c_len(), NAIVE_GROUP);
    Ok(launch(gpu, op, &NAIVE, op, &params, &[a, b, bias, c], groups)?.with_flops(s.flops()))
}

/// The full WGSL of a register-blocked kernel for one transpose variant: the fixed part from
/// matmul_forward.wgsl followed by the generated entry point.
pub fn kernel_source(kernel: MatmulKernel, transpose_a: bool, transpose_b: bool) -> String {
    let name = kernel.entry(transpose_a, transpose_b);
    let mut s = FORWARD_COMMON.clone();
    s.push_str(&match kernel {
        MatmulKernel::Blocked8x8 => entry_point(&name, transpose_a, transpose_b),
        _ => subgroup_entry_point(&name, kernel.tile().0, transpose_a, transpose_b),
    });
    s
}

/// Generate the unrolled entry point. Names in the generated code:
///   r0, c0       first row and column of this invocation's block
///   m{i}, n{j}   clamped row i and column j (i, j in 0..8), so reads never leave the arrays
///   arow{i}      m{i} * K: where row i of A starts (A not transposed)
///   bcol{j}      n{j} * K: where column j of op(B) starts in B (B transposed)
///   acc{i}_{h}   C[r0+i, c0+4h .. c0+4h+4], h in 0..2
fn entry_point(name: &str, ta: bool, tb: bool) -> String {
    let b8 = 0..BLOCK;
    let mut s = String::new();
    let w = &mut s;
    wgsl_line!(
        w,
        "
// Generated by ops::matmul::entry_point: A {}, B {}.
@compute @workgroup_size(GROUP)
fn {name}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {{
    let block = (wg.x + wg.y * nwg.x) * GROUP + lid;
    if (block >= params.blocks) {{ return; }}
    let rc = block_rc(block, BLOCK, BLOCK);
    let r0 = rc.x * BLOCK;
    let c0 = rc.y * BLOCK;
    let last_m = params.m - 1u;
    let last_n = params.n - 1u;
    let kk = params.k;",
        if ta {
            "transposed (stored [K,M])"
        } else {
            "stored [M,K]"
        },
        if tb {
            "transposed (stored [N,K])"
        } else {
            "stored [K,N]"
        }
    );
    for i in b8.clone() {
        wgsl_line!(w, "    let m{i} = min(r0 + {i}u, last_m);");
    }
    for j in b8.clone() {
        wgsl_line!(w, "    let n{j} = min(c0 + {j}u, last_n);");
    }
    if !ta {
        for i in b8.clone() {
            wgsl_line!(w, "    let arow{i} = m{i} * kk;");
        }
    }
    if tb {
        for j in b8.clone() {
            wgsl_line!(w, "    let bcol{j} = n{j} * kk;");
        }
    }
    for i in b8.clone() {
        wgsl_line!(
            w,
            "    var acc{i}_0 = vec4<f32>(0.0);
    var acc{i}_1 = vec4<f32>(0.0);"
        );
    }
    // One step of the k loop at index expression `k`.
    let step = |w: &mut String, k: &str| {
        let mut line = |t: String| writeln!(w, "{t}").unwrap();
        line("        {".into());
        if ta {
            line(format!("            let ka = ({k}) * params.m;"));
        }
        if !tb {
            line(format!("            let kb = ({k}) * params.n;"));
        }
        for i in 0..BLOCK {
            let idx = if ta {
                format!("ka + m{i}")
            } else {
                format!("arow{i} + {k}")
            };
            line(format!("            let a{i} = a[{idx}];"));
        }
        for h in 0..2 {
            let idx: Vec<String> = (0..4)
                .map(|q| {
                    let j = 4 * h + q;
                    if tb {
                        format!("b[bcol{j} + {k}]")
                    } else {
                        format!("b[kb + n{j}]")
                    }
                })
                .collect();
            line(format!(
                "            let b{h} = vec4<f32>({});",
                idx.join(", ")
            ));
        }
        for i in 0..BLOCK {
            for h in 0..2 {
                line(format!(
                    "            acc{i}_{h} = fma(vec4<f32>(a{i}), b{h}, acc{i}_{h});"
                ));
            }
        }
        line("        }".into());
    };
    wgsl_line!(
        w,
        "    // Main loop, unrolled by 4, then the remaining 0-3 steps.
    let k4 = kk & ~3u;
    var k = 0u;
    for (; k < k4; k += 4u) {{"
    );
    step(w, "k");
    step(w, "k + 1u");
    step(w, "k + 2u");
    step(w, "k + 3u");
    wgsl_line!(
        w,
        "    }}
    for (; k < kk; k += 1u) {{"
    );
    step(w, "k");
    wgsl_line!(
        w,
        "    }}
    let bias0 = bias4(n0, n1, n2, n3);
    let bias1 = bias4(n4, n5, n6, n7);"
    );
    for i in b8 {
        wgsl_line!(
            w,
            "    if (r0 + {i}u < params.m) {{
        store4(r0 + {i}u, c0, acc{i}_0 + bias0);
        store4(r0 + {i}u, c0 + 4u, acc{i}_1 + bias1);
    }}"
        );
    }
    wgsl_line!(w, "}}");
    s
}

/// Generate a subgroup entry point (one workgroup = one subgroup of 8 lanes = one tile of `rows`
/// x 32). Names in the generated code:
///   r0           first row of the tile
///   c0           first of this lane's 4 columns (the tile's first column + 4 * lane)
///   ml{j}        clamped row r0 + lane + 8j (j in 0..rows/8): the rows whose op(A) values this lane
///                loads, then broadcasts to the other lanes
///   n{q}         clamped column c0 + q (q in 0..4)
///   arow{j}      ml{j} * K (A not transposed); bcol{q}: n{q} * K (B transposed)
///   acc{i}       C[r0 + i, c0 .. c0+4], i in 0..rows
fn subgroup_entry_point(name: &str, rows: usize, ta: bool, tb: bool) -> String {
    let loads = rows / SUBGROUP as usize;
    let mut s = String::new();
    let w = &mut s;
    wgsl_line!(
        w,
        "
// Generated by ops::matmul::subgroup_entry_point: A {}, B {}.
// One workgroup is one subgroup of 8 lanes computing a {rows}x32 tile of C; lane l owns
// columns 4l..4l+4 of the tile in all {rows} rows. Per k: each lane loads {loads} values of
// op(A) and 4 of op(B); subgroupBroadcast shares the {rows} values of op(A) with every lane.
@compute @workgroup_size(8)
fn {name}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_invocation_id) lane: u32) {{
    let tile = wg.x + wg.y * nwg.x;
    // The same for every lane: the whole subgroup leaves together.
    if (tile >= params.blocks) {{ return; }}
    let rc = block_rc(tile, {rows}u, {SG_COLS}u);
    let r0 = rc.x * {rows}u;
    let c0 = rc.y * {SG_COLS}u + lane * 4u;
    let last_m = params.m - 1u;
    let last_n = params.n - 1u;
    let kk = params.k;",
        if ta {
            "transposed (stored [K,M])"
        } else {
            "stored [M,K]"
        },
        if tb {
            "transposed (stored [N,K])"
        } else {
            "stored [K,N]"
        }
    );
    for j in 0..loads {
        wgsl_line!(
            w,
            "    let ml{j} = min(r0 + lane + {}u, last_m);",
            SUBGROUP as usize * j
        );
    }
    for q in 0..4 {
        wgsl_line!(w, "    let n{q} = min(c0 + {q}u, last_n);");
    }
    if !ta {
        for j in 0..loads {
            wgsl_line!(w, "    let arow{j} = ml{j} * kk;");
        }
    }
    if tb {
        for q in 0..4 {
            wgsl_line!(w, "    let bcol{q} = n{q} * kk;");
        }
    }
    for i in 0..rows {
        wgsl_line!(w, "    var acc{i} = vec4<f32>(0.0);");
    }
    let step = |w: &mut String, k: &str| {
        let mut line = |t: String| writeln!(w, "{t}").unwrap();
        line("        {".into());
        if ta {
            line(format!("            let ka = ({k}) * params.m;"));
        }
        for j in 0..loads {
            let idx = if ta {
                format!("ka + ml{j}")
            } else {
                format!("arow{j} + {k}")
            };
            line(format!("            let al{j} = a[{idx}];"));
        }
        let idx: Vec<String> = (0..4)
            .map(|q| {
                if tb {
                    format!("b[bcol{q} + {k}]")
                } else {
                    format!("b[kb + n{q}]")
                }
            })
            .collect();
        if !tb {
            line(format!("            let kb = ({k}) * params.n;"));
        }
        line(format!(
            "            let bv = vec4<f32>({});",
            idx.join(", ")
        ));
        for i in 0..rows {
            let (j, l) = (i / SUBGROUP as usize, i % SUBGROUP as usize);
            line(format!(
                "            acc{i} = fma(vec4<f32>(subgroupBroadcast(al{j}, {l}u)), bv, acc{i});"
            ));
        }
        line("        }".into());
    };
    // Not unrolled: the body already holds `rows` vec4 FMAs, so the loop costs little; unrolling
    // by 4 quadrupled the code for at most ~10% on lavapipe.
    wgsl_line!(w, "    for (var k = 0u; k < kk; k += 1u) {{");
    step(w, "k");
    wgsl_line!(
        w,
        "    }}
    let bias0 = bias4(n0, n1, n2, n3);"
    );
    for i in 0..rows {
        wgsl_line!(
            w,
            "    if (r0 + {i}u < params.m) {{ store4(r0 + {i}u, c0, acc{i} + bias0); }}"
        );
    }
    wgsl_line!(w, "}}");
    s
}

/// This module's kernels as the GPU gets them, by file (tests/shaders.rs validates each).
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("src/ops/matmul_forward.wgsl", FORWARD_COMMON.to_string()),
        ("src/ops/matmul_naive.wgsl", NAIVE.to_string()),
    ]
}

/// Plain-loop references, named as in the WGSL.
pub mod cpu {
    use super::MatmulShape;

    /// op(A)[i, k] for A stored as the shape says.
    fn a_at(s: &MatmulShape, a: &[f32], i: usize, k: usize) -> f32 {
        if s.transpose_a {
            a[k * s.m + i]
        } else {
            a[i * s.k + k]
        }
    }

    /// op(B)[k, j] for B stored as the shape says.
    fn b_at(s: &MatmulShape, b: &[f32], k: usize, j: usize) -> f32 {
        if s.transpose_b {
            b[j * s.k + k]
        } else {
            b[k * s.n + j]
        }
    }

    /// C[i, j] = sum_k op(A)[i, k] op(B)[k, j] (+ bias[j]): the textbook triple loop.
    pub fn matmul(s: &MatmulShape, a: &[f32], b: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let mut c = vec![0.0f32; s.m * s.n];
        for i in 0..s.m {
            for j in 0..s.n {
                let mut sum = 0.0f32;
                for k in 0..s.k {
                    sum += a_at(s, a, i, k) * b_at(s, b, k, j);
                }
                c[i * s.n + j] = sum + bias.map_or(0.0, |b| b[j]);
            }
        }
        c
    }

    /// The same product as a cache-friendly single-threaded loop in i-k-j order, whose inner loop
    /// (a row of C += a scalar times a row of op(B)) the compiler vectorizes. Transposed operands
    /// are first copied into row-major op(A) / op(B): O(n^2) next to the O(n^3) product.
    pub fn matmul_fast(s: &MatmulShape, a: &[f32], b: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let (m, n, kk) = (s.m, s.n, s.k);
        let a_t;
        let a = if s.transpose_a {
            a_t = transpose(a, kk, m);
            &a_t[..]
        } else {
            &a[..m * kk]
        };
        let b_t;
        let b = if s.transpose_b {
            b_t = transpose(b, n, kk);
            &b_t[..]
        } else {
            &b[..kk * n]
        };
        let mut c = vec![0.0f32; m * n];
        for (c_row, a_row) in c.chunks_exact_mut(n).zip(a.chunks_exact(kk)) {
            if let Some(bias) = bias {
                c_row.copy_from_slice(&bias[..n]);
            }
            for (&aik, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
                for (cij, &bkj) in c_row.iter_mut().zip(b_row) {
                    *cij += aik * bkj;
                }
            }
        }
        c
    }

    /// The transpose of a row-major [rows, cols] array.
    pub fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut t = vec![0.0f32; rows * cols];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = x[r * cols + c];
            }
        }
        t
    }
}
