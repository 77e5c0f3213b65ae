// t-SNE FFT repulsion, `stockham`: one pass of a mixed-radix Stockham autosort FFT (radix R = any
// product of 2, 3 and 5 up to 64) over many lines of a strided array; a full transform of length
// len = product of the radices takes one pass per radix, ping-ponging between two buffers, and
// ends in natural order.
//   Pass with radix R and ns = product of the radices of the earlier passes, butterfly j < len/R:
//     v_r = x[j + r len/R] * exp(-+ 2 pi i r (j mod ns) / (ns R)),  r < R
//     V = DFT_R(v)   (sign: - forward, + inverse; no 1/len scaling)
//     y[(j / ns) ns R + (j mod ns) + r ns] = V_r
//   Zero padding: in the first pass (valid < len) elements e >= valid are read as zero.
//   Pruned output: outputs e >= out_valid are not stored (the caller never reads them).
//   Fused product (fused = 1, the first pass of the inverse transform): the input is the product
//   of the charge spectra (src) and the kernel spectrum (aux, scaled by 1 / len^2 already):
//     channel 0: x = K.y * src          (K.y = F[w^2], real; src = F[q1 + i q2])
//     channel 1: x = (K.y + i K.x) src  (K.x = F[w],   real; src = F[q0])
//   so the inverse gives w^2*q1 + i w^2*q2 and w^2*q0 + i w*q0 (* = convolution).
//   Gate (gated = 1): the pass does nothing unless the grid says the kernel changed
//   (gate[KERNEL_DIRTY_WORD] = Grid.kernel_dirty, written by bbox.wgsl), so a cached kernel
//   spectrum costs one flag read per invocation.
//   Line l < lines of channel c (the dispatch's z), element e at
//   c * chan_stride + l * line_stride + e * elem_stride (rows: line_stride = len, elem_stride = 1;
//   columns: line_stride = 1, elem_stride = len).
// No workgroup memory and no barriers: each pass is one streaming read and write of the grid.
// j / ns uses an exact float reciprocal (j < 2048, see `split`), so no integer division.
// Bindings (group 0): 0 params (uniform FftParams), 1 twiddles (read vec2<f32>, len entries
//   exp(-2 pi i k / len), computed in f64 on the CPU), 2 src (read vec2<f32>), 3 dst (write),
//   4 aux (read vec2<f32>: the kernel spectrum when fused, else any buffer), 5 gate (read u32,
//   the grid buffer when gated, else any buffer of >= 8 u32).
// One invocation computes one radix-R butterfly (R named inputs and outputs, a DFT-R unrolled by
// `transform::stockham_source`, which appends the entry point to this file) per y it visits.
// Invocation ids: rows (line_fast = 0): the (line, butterfly j) pairs in order, 64 per y;
// columns (line_fast = 1): x = line, y = j; z = channel. Consecutive invocations read
// contiguous memory either way.
// Entry point: fft_radixR (generated). Launched from transform.rs, which declares Params
// (`FftParams`), WG_Y and KERNEL_DIRTY_WORD before this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> twiddles: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> src: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read> aux: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read> gate: array<u32>;

const NONE: u32 = 0xffffffffu;
// Workgroup shape: 64 along x (contiguous memory), WG_Y along y (declared from
// `transform::FFT_WG_Y`).
const SQRT_HALF: f32 = 0.70710678118654752;
const SIN_60: f32 = 0.86602540378443865;
const C1_5: f32 = 0.30901699437494742;   // cos(2 pi / 5)
const C2_5: f32 = -0.80901699437494742;  // cos(4 pi / 5)
const S1_5: f32 = 0.95105651629515357;   // sin(2 pi / 5)
const S2_5: f32 = 0.58778525229247313;   // sin(4 pi / 5)

fn cmul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

// -1 forward, +1 inverse.
fn direction() -> f32 {
    return select(-1.0, 1.0, params.inverse != 0u);
}

// z * exp(sign * i pi / 2) = z * (0, sign)
fn rot90(z: vec2<f32>) -> vec2<f32> {
    let s = direction();
    return vec2<f32>(-s * z.y, s * z.x);
}

// The gate: true when this pass is gated and the kernel spectrum is up to date.
fn closed() -> bool {
    return params.gated != 0u && gate[KERNEL_DIRTY_WORD] == 0u;
}

// Extent of the dispatch's y axis: for columns the butterflies per line; for rows the
// (line, butterfly) pairs in runs of 64 (x < 64: one group along x). Gated passes are
// dispatched with few y groups and loop over y (a closed gate then costs few workgroups); the
// others have one y group per y and run the loop once.
fn y_extent(radix: u32) -> u32 {
    let butterflies = params.len / radix;
    return select((params.lines * butterflies + 63u) / 64u, butterflies, params.line_fast != 0u);
}

// (line base offset, butterfly j) of invocation (x, y, z); base = NONE past the end.
// Columns: x = line, y = butterfly. Rows: pair f = 64 y + x, line f / (len / radix), butterfly
// the rest, so the lanes of a subgroup take consecutive butterflies of a line whatever its
// number of butterflies (with x = butterfly, rows of 16 butterflies left 3 of 4 lanes idle).
// The quotient comes from an f32 division: f < 2^22, and (f + 1/2) / b is at least 1 / (2 b)
// from an integer, far more than the rounding moves it, so the floor is exact.
fn butterfly(x: u32, y: u32, z: u32, radix: u32) -> vec2<u32> {
    var l = x;
    var j = y;
    if (params.line_fast == 0u) {
        let butterflies = params.len / radix;
        let f = y * 64u + x;
        l = u32(floor((f32(f) + 0.5) / f32(butterflies)));
        j = f - l * butterflies;
    }
    if (l >= params.lines || j * radix >= params.len) {
        return vec2<u32>(NONE, 0u);
    }
    return vec2<u32>(z * params.chan_stride + l * params.line_stride, j);
}

// Input element e of the line at `base` (zero past `valid`; the spectra product when fused).
// PAD, PRUNE and FUSED are constants generated with the entry point (one pipeline per
// variant), so passes without zero padding, pruning or the product carry no branches for them.
fn load(base: u32, e: u32) -> vec2<f32> {
    if (PAD && e >= params.valid) {
        return vec2<f32>(0.0);
    }
    let idx = base + e * params.elem_stride;
    let x = src[idx];
    if (!FUSED) {
        return x;
    }
    if (idx < params.chan_stride) {
        return aux[idx].y * x;
    }
    let k = aux[idx - params.chan_stride];
    return cmul(vec2<f32>(k.y, k.x), x);
}

// Twiddle exp(-+ 2 pi i k / len) (conjugated for the inverse). Only w^1 comes from the table;
// the powers w^r are products (a few ulp), saving R - 2 table reads per butterfly.
fn twiddle(k: u32) -> vec2<f32> {
    let t = twiddles[k];
    return vec2<f32>(t.x, select(t.y, -t.y, params.inverse != 0u));
}

// (j / ns, j mod ns). j < len <= 2048: (j + 1/2) / ns is at least 1 / (2 ns) from an integer,
// and f32 rounding moves it by < j 2^-22, far less, so the floor is exact.
fn split(j: u32) -> vec2<u32> {
    let hi = u32(floor((f32(j) + 0.5) * params.inv_ns));
    return vec2<u32>(hi, j - hi * params.ns);
}

// Output r of butterfly j (split s): element s.x ns R + s.y + r ns; skipped past out_valid.
fn store(base: u32, s: vec2<u32>, radix: u32, r: u32, v: vec2<f32>) {
    let e = (s.x * radix + r) * params.ns + s.y;
    if (!PRUNE || e < params.out_valid) {
        dst[base + e * params.elem_stride] = v;
    }
}

struct C4 {
    x0: vec2<f32>,
    x1: vec2<f32>,
    x2: vec2<f32>,
    x3: vec2<f32>,
}

struct C3 {
    x0: vec2<f32>,
    x1: vec2<f32>,
    x2: vec2<f32>,
}

fn dft3(a0: vec2<f32>, a1: vec2<f32>, a2: vec2<f32>) -> C3 {
    let t1 = a1 + a2;
    let t2 = a0 - 0.5 * t1;
    let t3 = SIN_60 * rot90(a1 - a2);
    return C3(a0 + t1, t2 + t3, t2 - t3);
}

fn dft4(a0: vec2<f32>, a1: vec2<f32>, a2: vec2<f32>, a3: vec2<f32>) -> C4 {
    let t0 = a0 + a2;
    let t1 = a0 - a2;
    let t2 = a1 + a3;
    let t3 = rot90(a1 - a3);
    return C4(t0 + t2, t1 + t3, t0 - t2, t1 - t3);
}

struct C5 {
    x0: vec2<f32>,
    x1: vec2<f32>,
    x2: vec2<f32>,
    x3: vec2<f32>,
    x4: vec2<f32>,
}

// DFT-5: t1 = a1 + a4, t2 = a2 + a3, t3 = a1 - a4, t4 = a2 - a3,
//   X0 = a0 + t1 + t2, X1,4 = m1 +- i s n1, X2,3 = m2 +- i s n2 with
//   m1 = a0 + c1 t1 + c2 t2, m2 = a0 + c2 t1 + c1 t2, n1 = s1 t3 + s2 t4, n2 = s2 t3 - s1 t4
//   (c_k = cos(2 pi k / 5), s_k = sin(2 pi k / 5), s = the direction).
fn dft5(a0: vec2<f32>, a1: vec2<f32>, a2: vec2<f32>, a3: vec2<f32>, a4: vec2<f32>) -> C5 {
    let t1 = a1 + a4;
    let t2 = a2 + a3;
    let t3 = a1 - a4;
    let t4 = a2 - a3;
    let m1 = a0 + C1_5 * t1 + C2_5 * t2;
    let m2 = a0 + C2_5 * t1 + C1_5 * t2;
    let n1 = rot90(S1_5 * t3 + S2_5 * t4);
    let n2 = rot90(S2_5 * t3 - S1_5 * t4);
    return C5(a0 + t1 + t2, m1 + n1, m2 + n2, m2 - n2, m1 - n1);
}

// Constant twiddle exp(sign i theta) from (cos theta, sin theta).
fn tw(c: f32, s: f32) -> vec2<f32> {
    return vec2<f32>(c, direction() * s);
}

// ---- Generated by `tsne::fft::transform::stockham_source(R)`: the entry point fft_radixR and
// its butterfly radixR(base, j) follow. ----
