// t-SNE FFT repulsion: radix-2 complex FFT of many lines of a strided array (one axis of a 2-D FFT).
//   X[k] = sum_{e < valid} x[e] exp(-+ 2 pi i e k / len),  k < len  (sign: - forward, + inverse;
//   no 1/len scaling here), with x[e] = 0 for valid <= e < len (zero padding never stored).
//   Line l of `lines * channels`: channel c = l / lines, j = l % lines, element e at
//   c * chan_stride + j * line_stride + e * elem_stride (rows: line_stride = len, elem_stride = 1;
//   columns: line_stride = 1, elem_stride = len). Transformed in place.
// Iterative Cooley-Tukey, decimation in time: load in bit-reversed order into workgroup memory,
// log2(len) butterfly stages separated by barriers, store in natural order. Twiddles
// exp(-2 pi i k / len), k < len / 2, come precomputed (f64 on the CPU) in `twiddles`.
// Bindings (group 0): 0 params (uniform FftParams), 1 twiddles (read vec2<f32>, len / 2),
//   2 data (read_write vec2<f32>).
// ONE WORKGROUP per line (256 invocations, each doing len / 512 butterflies per stage);
// len <= MAX_LEN = 2048 (16 KiB of workgroup memory, WebGPU's guaranteed minimum).
// Params mirror `tsne::fft_repulsion::FftParams`.

struct Params {
    n: u32, intervals: u32, nodes: u32, len: u32,
    log2_len: u32, boxes: u32, lines: u32, channels: u32,
    line_stride: u32, elem_stride: u32, chan_stride: u32, valid: u32,
    inverse: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> twiddles: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> data: array<vec2<f32>>;

const GROUP: u32 = 256u;
const MAX_LEN: u32 = 2048u;
var<workgroup> line: array<vec2<f32>, MAX_LEN>;

fn cmul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

@compute @workgroup_size(256)
fn fft_lines(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let l = wg.x + wg.y * nwg.x;
    if (l >= params.lines * params.channels) {
        return;
    }
    let len = params.len;
    let base = (l / params.lines) * params.chan_stride + (l % params.lines) * params.line_stride;
    let shift = 32u - params.log2_len;
    for (var e = lid; e < len; e += GROUP) {
        var v = vec2<f32>(0.0);
        if (e < params.valid) {
            v = data[base + e * params.elem_stride];
        }
        line[reverseBits(e) >> shift] = v;
    }
    workgroupBarrier();
    // Conjugate twiddles for the inverse transform.
    let conj = select(1.0, -1.0, params.inverse != 0u);
    for (var s = 1u; s <= params.log2_len; s++) {
        let half = 1u << (s - 1u);
        let tw_step = len >> s;
        for (var b = lid; b < len / 2u; b += GROUP) {
            let k = b & (half - 1u);
            let i0 = ((b >> (s - 1u)) << s) + k;
            let i1 = i0 + half;
            let tw = twiddles[k * tw_step] * vec2<f32>(1.0, conj);
            let t = cmul(tw, line[i1]);
            let u = line[i0];
            line[i0] = u + t;
            line[i1] = u - t;
        }
        workgroupBarrier();
    }
    for (var e = lid; e < len; e += GROUP) {
        data[base + e * params.elem_stride] = line[e];
    }
}
