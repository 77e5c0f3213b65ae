// t-SNE FFT repulsion, step 8: kernel times charges in the frequency domain, for two kernels and
// three real charge grids packed in two complex channels.
//   Input spectra: A = F[q0 + i q1], B = F[q2] (channels 0 and 1 of `spectra`),
//   K = F[w] + i F[w^2] (both real: the kernels are even), so K1 = K.x, K2 = K.y.
//   The spectrum of the real grid q0 alone is S0(k) = (A(k) + conj(A(-k))) / 2.
//   Output (before the inverse FFT), scaled by 1 / len^2 (the inverse FFT's normalization):
//     channel 0: K2 A                -> after the inverse FFT: w^2*q0 + i w^2*q1
//     channel 1: K2 B + i K1 S0      -> after the inverse FFT: w^2*q2 + i w*q0
//   (* = convolution over the nodes). -k is taken per axis modulo len.
// Bindings (group 0): 0 params (uniform FftParams), 1 spectra (read vec2<f32>, 2 len^2),
//   2 kernel (read vec2<f32>, len^2), 3 products (write vec2<f32>, 2 len^2).
// One invocation per frequency. Params mirror `tsne::fft_repulsion::FftParams`.

struct Params {
    n: u32, intervals: u32, nodes: u32, len: u32,
    log2_len: u32, boxes: u32, lines: u32, channels: u32,
    line_stride: u32, elem_stride: u32, chan_stride: u32, valid: u32,
    inverse: u32, ns: u32, line_fast: u32, tw_stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> spectra: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> kernel: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> products: array<vec2<f32>>;

@compute @workgroup_size(256)
fn multiply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let len = params.len;
    let area = len * len;
    let idx = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (idx >= area) {
        return;
    }
    let kx = idx & (len - 1u);
    let ky = idx >> params.log2_len;
    let neg = (((len - ky) & (len - 1u)) << params.log2_len) + ((len - kx) & (len - 1u));
    let a = spectra[idx];
    let a_neg = spectra[neg];
    let b = spectra[area + idx];
    let k = kernel[idx];
    let scale = 1.0 / f32(area);
    let s0 = 0.5 * vec2<f32>(a.x + a_neg.x, a.y - a_neg.y);
    products[idx] = (k.y * scale) * a;
    // i * s0 = (-s0.y, s0.x)
    products[area + idx] = scale * (k.y * b + k.x * vec2<f32>(-s0.y, s0.x));
}
