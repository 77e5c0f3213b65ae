// t-SNE FFT repulsion, `kernel`: the two kernels sampled on the circulant (periodic) node grid,
// only when the node spacing changed (grid.kernel_dirty); otherwise the kernel spectrum of an
// earlier call is still valid and this kernel (like the gated FFT passes after it) does nothing.
//   Node offsets o_d = j_d for j_d <= len/2, j_d - len otherwise (d = x, y),
//   r^2 = h^2 (o_x^2 + o_y^2)
//   K = (w + i w^2) / len^2,  w = 1 / (1 + r^2)   (1 / len^2: the inverse FFT's normalization)
//   Both kernels are real and even, so their DFTs are real: after one complex FFT, the real part
//   is the spectrum of w and the imaginary part that of w^2. len >= 2 nodes makes the circular
//   convolution equal the linear one on the nodes x nodes corner.
//   Invocation (0, 0) records state.kernel_width = grid.width (read by the next call's bbox).
// Bindings (group 0): 0 params (uniform FftParams), 1 grid (read Grid), 2 kernel (write
//   vec2<f32>, len^2 row-major), 3 state (read_write, KernelState).
// One invocation per column (x) and a share of the rows (a few workgroups along y, each
// invocation looping over rows y, y + num_workgroups.y, ...): few workgroups when the kernel is
// cached. Launched from transform.rs, which declares Params (`FftParams`), Grid (`GridGeometry`)
// and KernelState before this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grid: Grid;
@group(0) @binding(2) var<storage, read_write> kernel: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> state: KernelState;

fn offset(j: u32) -> f32 {
    return select(f32(j), f32(j) - f32(params.len), j > params.len / 2u);
}

@compute @workgroup_size(64)
fn kernel_grid(@builtin(global_invocation_id) gid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
    if (grid.kernel_dirty == 0u || gid.x >= params.len) {
        return;
    }
    let scale = 1.0 / (f32(params.len) * f32(params.len));
    for (var row = gid.y; row < params.len; row += nwg.y) {
        let o = vec2<f32>(offset(gid.x), offset(row)) * grid.h;
        let w = 1.0 / (1.0 + dot(o, o));
        kernel[row * params.len + gid.x] = scale * vec2<f32>(w, w * w);
    }
    if (gid.x == 0u && gid.y == 0u) {
        state.kernel_width = grid.width;
    }
}
