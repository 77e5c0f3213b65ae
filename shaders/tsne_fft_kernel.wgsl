// t-SNE FFT repulsion, step 6: the two kernels sampled on the circulant (periodic) node grid.
//   Node offsets o_d = j_d for j_d <= len/2, j_d - len otherwise (d = x, y),
//   r^2 = h^2 (o_x^2 + o_y^2)
//   K = w + i w^2,  w = 1 / (1 + r^2)
//   Both kernels are real and even, so their DFTs are real: after one complex FFT, the real part
//   is the spectrum of w and the imaginary part that of w^2. len >= 2 nodes makes the circular
//   convolution equal the linear one on the nodes x nodes corner.
// Bindings (group 0): 0 params (uniform FftParams), 1 grid (read Grid), 2 kernel (write
//   vec2<f32>, len^2 row-major).
// One invocation per grid entry. Params mirror `tsne::fft_repulsion::FftParams`.

struct Params {
    n: u32, intervals: u32, nodes: u32, len: u32,
    log2_len: u32, boxes: u32, lines: u32, channels: u32,
    line_stride: u32, elem_stride: u32, chan_stride: u32, valid: u32,
    inverse: u32, ns: u32, line_fast: u32, tw_stride: u32,
}

struct Grid {
    lo: vec2<f32>,
    center: vec2<f32>,
    width: f32,
    h: f32,
    span: f32,
    _pad: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grid: Grid;
@group(0) @binding(2) var<storage, read_write> kernel: array<vec2<f32>>;

fn offset(j: u32) -> f32 {
    return select(f32(j), f32(j) - f32(params.len), j > params.len / 2u);
}

@compute @workgroup_size(256)
fn kernel_grid(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let idx = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (idx >= params.len * params.len) {
        return;
    }
    let o = vec2<f32>(offset(idx & (params.len - 1u)), offset(idx >> params.log2_len)) * grid.h;
    let w = 1.0 / (1.0 + dot(o, o));
    kernel[idx] = vec2<f32>(w, w * w);
}
