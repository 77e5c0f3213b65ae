// t-SNE FFT repulsion, step 10: interpolate the node potentials back to the points and form
// the repulsion sums.
//   Potentials at node g (from the inverse FFT): channel 0 = (phi1, phi2), channel 1 = (phi0, psi),
//   phi_k = sum_nodes w^2 q_k, psi = sum_nodes w q0. For point i in box b with Lagrange weights
//   Lx, Ly (as in tsne_fft_spread): P_i = sum_{tx,ty} Lx_tx Ly_ty P(node 3b + t), then with
//   c = y_i - centre (the spread charges were centred the same way)
//     out[3i + d] = c_d Phi0 - Phi_{1+d}   ~ sum_j w_ij^2 (y_id - y_jd)
//     out[3i + 2] = Psi - 1                ~ sum_{j != i} w_ij   (w_ii = 1 removed)
// Bindings (group 0): 0 params (uniform FftParams), 1 grid (read Grid), 2 positions (read,
//   n x 2 f32), 3 potentials (read vec2<f32>, 2 len^2), 4 out (write f32, n x 3).
// One invocation per point. Params mirror `tsne::fft_repulsion::FftParams`.

struct Params {
    n: u32, intervals: u32, nodes: u32, len: u32,
    inv_ns: f32, boxes: u32, lines: u32, channels: u32,
    line_stride: u32, elem_stride: u32, chan_stride: u32, valid: u32,
    inverse: u32, ns: u32, line_fast: u32, tw_stride: u32,
    gated: u32, out_valid: u32, fused: u32, sub: u32,
}

struct Grid {
    lo: vec2<f32>,
    center: vec2<f32>,
    width: f32,
    h: f32,
    span: f32,
    kernel_dirty: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grid: Grid;
@group(0) @binding(2) var<storage, read> positions: array<f32>;
@group(0) @binding(3) var<storage, read> potentials: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn lagrange(u: f32) -> vec3<f32> {
    return vec3<f32>(4.5 * (u - 0.5) * (u - 5.0 / 6.0),
                     -9.0 * (u - 1.0 / 6.0) * (u - 5.0 / 6.0),
                     4.5 * (u - 1.0 / 6.0) * (u - 0.5));
}

// (phi0, phi1, phi2, psi) at node (gx, gy).
fn node(gx: u32, gy: u32) -> vec4<f32> {
    let idx = gy * params.len + gx;
    let a = potentials[idx];
    let b = potentials[params.len * params.len + idx];
    return vec4<f32>(b.x, a, b.y);
}

// One row (fixed gy) of three nodes weighted by lx.
fn row(gx: u32, gy: u32, lx: vec3<f32>) -> vec4<f32> {
    return lx.x * node(gx, gy) + lx.y * node(gx + 1u, gy) + lx.z * node(gx + 2u, gy);
}

@compute @workgroup_size(256)
fn interpolate(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (i >= params.n) {
        return;
    }
    let y = vec2<f32>(positions[2u * i], positions[2u * i + 1u]);
    let top = f32(params.intervals - 1u);
    let cell = clamp(floor((y - grid.lo) / grid.width), vec2<f32>(0.0), vec2<f32>(top));
    let u = (y - grid.lo) / grid.width - cell;
    let lx = lagrange(u.x);
    let ly = lagrange(u.y);
    let gx = 3u * u32(cell.x);
    let gy = 3u * u32(cell.y);
    let p = ly.x * row(gx, gy, lx) + ly.y * row(gx, gy + 1u, lx) + ly.z * row(gx, gy + 2u, lx);
    let c = y - grid.center;
    out[3u * i] = c.x * p.x - p.y;
    out[3u * i + 1u] = c.y * p.x - p.z;
    out[3u * i + 2u] = p.w - 1.0;
}
