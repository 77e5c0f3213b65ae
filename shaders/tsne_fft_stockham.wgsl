// t-SNE FFT repulsion: one pass of a Stockham autosort FFT (radix 2, 4 or 8) over many lines of
// a strided array; a full transform of length len = product of the radices takes one pass per
// radix, ping-ponging between two buffers, and ends in natural order.
//   Pass with radix R and ns = product of the radices of the earlier passes, butterfly j < len/R:
//     v_r = x[j + r len/R] * exp(-+ 2 pi i r (j mod ns) / (ns R)),  r < R
//     V = DFT_R(v)   (sign: - forward, + inverse; no 1/len scaling)
//     y[(j / ns) ns R + (j mod ns) + r ns] = V_r
//   Zero padding: in the first pass (valid < len) elements e >= valid are read as zero.
//   Line l < lines of channel c (the dispatch's z), element e at
//   c * chan_stride + l * line_stride + e * elem_stride (rows: line_stride = len, elem_stride = 1;
//   columns: line_stride = 1, elem_stride = len).
// No workgroup memory and no barriers: each pass is one streaming read and write of the grid.
// (A one-workgroup-per-line radix-2 FFT in workgroup memory, with a barrier per stage, ran 2-3x
// slower on lavapipe.) Integer divisions are avoided: every size but `lines` is a power of two.
// Bindings (group 0): 0 params (uniform FftParams), 1 twiddles (read vec2<f32>, len entries
//   exp(-2 pi i k / len), computed in f64 on the CPU), 2 src (read vec2<f32>), 3 dst (write).
// One invocation computes one radix-R butterfly (R named inputs and outputs). Consecutive
// invocations take consecutive butterflies of a line (line_fast = 0: rows) or the same butterfly
// of consecutive lines (line_fast = 1: columns), so both read contiguous memory.
// Entry points: fft_radix2, fft_radix4, fft_radix8. Params mirror `tsne::fft_repulsion::FftParams`.

struct Params {
    n: u32, intervals: u32, nodes: u32, len: u32,
    log2_len: u32, boxes: u32, lines: u32, channels: u32,
    line_stride: u32, elem_stride: u32, chan_stride: u32, valid: u32,
    inverse: u32, ns: u32, line_fast: u32, tw_stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> twiddles: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> src: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec2<f32>>;

const NONE: u32 = 0xffffffffu;
const SQRT_HALF: f32 = 0.70710678118654752;

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

// (line base offset, butterfly j) of invocation `flat` of channel `c`; base = NONE past the end.
// Every size here is a power of two except `lines` for rows, so shifts and masks replace the
// integer divisions (which CPU drivers scalarize).
fn butterfly(flat: u32, c: u32, log2_radix: u32) -> vec2<u32> {
    let log2_per_line = params.log2_len - log2_radix;
    if (flat >= params.lines << log2_per_line) {
        return vec2<u32>(NONE, 0u);
    }
    var l = flat >> log2_per_line;
    var j = flat & ((1u << log2_per_line) - 1u);
    if (params.line_fast != 0u) {
        // Columns: lines == len.
        l = flat & (params.len - 1u);
        j = flat >> params.log2_len;
    }
    return vec2<u32>(c * params.chan_stride + l * params.line_stride, j);
}

// Input element e of the line at `base` (zero past `valid`).
fn load(base: u32, e: u32) -> vec2<f32> {
    if (e >= params.valid) {
        return vec2<f32>(0.0);
    }
    return src[base + e * params.elem_stride];
}

// Twiddle exp(-+ 2 pi i k / len) (conjugated for the inverse). Only w^1 comes from the table;
// the powers w^r are products (a few ulp), saving R - 2 table reads per butterfly.
fn twiddle(k: u32) -> vec2<f32> {
    let t = twiddles[k];
    return vec2<f32>(t.x, select(t.y, -t.y, params.inverse != 0u));
}

// Output r of butterfly j: element (j / ns) ns R + (j mod ns) + r ns, ns a power of two.
fn store(base: u32, j: u32, radix: u32, r: u32, v: vec2<f32>) {
    let low = j & (params.ns - 1u);
    let e = (j - low) * radix + low + r * params.ns;
    dst[base + e * params.elem_stride] = v;
}

// Twiddle index of butterfly j: (j mod ns) len / (ns R); input r takes its r-th power.
fn twiddle_index(j: u32) -> u32 {
    return (j & (params.ns - 1u)) * params.tw_stride;
}

struct C4 {
    x0: vec2<f32>,
    x1: vec2<f32>,
    x2: vec2<f32>,
    x3: vec2<f32>,
}

fn dft4(a0: vec2<f32>, a1: vec2<f32>, a2: vec2<f32>, a3: vec2<f32>) -> C4 {
    let t0 = a0 + a2;
    let t1 = a0 - a2;
    let t2 = a1 + a3;
    let t3 = rot90(a1 - a3);
    return C4(t0 + t2, t1 + t3, t0 - t2, t1 - t3);
}

fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * 256u + lid;
}
// The channel is the dispatch's z coordinate: wg.z.

@compute @workgroup_size(256)
fn fft_radix2(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let b = butterfly(flat_index(wg, nwg, lid), wg.z, 1u);
    if (b.x == NONE) {
        return;
    }
    let base = b.x;
    let j = b.y;
    let q = params.len / 2u;
    let w1 = twiddle(twiddle_index(j));
    let v0 = load(base, j);
    let v1 = cmul(load(base, j + q), w1);
    store(base, j, 2u, 0u, v0 + v1);
    store(base, j, 2u, 1u, v0 - v1);
}

@compute @workgroup_size(256)
fn fft_radix4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let b = butterfly(flat_index(wg, nwg, lid), wg.z, 2u);
    if (b.x == NONE) {
        return;
    }
    let base = b.x;
    let j = b.y;
    let q = params.len / 4u;
    let w1 = twiddle(twiddle_index(j));
    let w2 = cmul(w1, w1);
    let w3 = cmul(w2, w1);
    let x = dft4(load(base, j), cmul(load(base, j + q), w1), cmul(load(base, j + 2u * q), w2),
                 cmul(load(base, j + 3u * q), w3));
    store(base, j, 4u, 0u, x.x0);
    store(base, j, 4u, 1u, x.x1);
    store(base, j, 4u, 2u, x.x2);
    store(base, j, 4u, 3u, x.x3);
}

@compute @workgroup_size(256)
fn fft_radix8(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let b = butterfly(flat_index(wg, nwg, lid), wg.z, 3u);
    if (b.x == NONE) {
        return;
    }
    let base = b.x;
    let j = b.y;
    let q = params.len / 8u;
    let w1 = twiddle(twiddle_index(j));
    let w2 = cmul(w1, w1);
    let w3 = cmul(w2, w1);
    let w4 = cmul(w2, w2);
    let w5 = cmul(w4, w1);
    let w6 = cmul(w3, w3);
    let w7 = cmul(w4, w3);
    // DFT-8 as two DFT-4 (even and odd inputs) and one radix-2 combine with w8^k.
    let e = dft4(load(base, j), cmul(load(base, j + 2u * q), w2),
                 cmul(load(base, j + 4u * q), w4), cmul(load(base, j + 6u * q), w6));
    let o = dft4(cmul(load(base, j + q), w1), cmul(load(base, j + 3u * q), w3),
                 cmul(load(base, j + 5u * q), w5), cmul(load(base, j + 7u * q), w7));
    let sg = direction();
    let o1 = cmul(o.x1, vec2<f32>(SQRT_HALF, sg * SQRT_HALF));
    let o2 = rot90(o.x2);
    let o3 = cmul(o.x3, vec2<f32>(-SQRT_HALF, sg * SQRT_HALF));
    store(base, j, 8u, 0u, e.x0 + o.x0);
    store(base, j, 8u, 4u, e.x0 - o.x0);
    store(base, j, 8u, 1u, e.x1 + o1);
    store(base, j, 8u, 5u, e.x1 - o1);
    store(base, j, 8u, 2u, e.x2 + o2);
    store(base, j, 8u, 6u, e.x2 - o2);
    store(base, j, 8u, 3u, e.x3 + o3);
    store(base, j, 8u, 7u, e.x3 - o3);
}
