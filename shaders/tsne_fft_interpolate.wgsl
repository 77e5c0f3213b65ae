// t-SNE FFT repulsion, step 10: interpolate the node potentials back to the points, add the exact
// near-field sums, and form the repulsion sums.
//   Potentials at node g (from the inverse FFT, near field taken out by tsne_fft_near.wgsl where
//   near_on): channel 0 = (phi1, phi2), channel 1 = (phi0, psi), phi_k = sum_nodes w^2 q_k,
//   psi = sum_nodes w q0. For the point in sort slot s (point i = sorted_point[s]) in box b with
//   Lagrange weights Lx, Ly (as in tsne_fft_spread): P = sum_{tx,ty} Lx_tx Ly_ty P(node 4b + t).
//   Near field (only where near_on(b), the same test as tsne_fft_near): exact sums over the
//   points j of the 3 x 3 boxes around b, the point itself included (w_ii = 1, no force):
//     f = sum_j w_ij^2 (y_i - y_j),  z = sum_j w_ij.
//   Then with c = y_i - centre (the spread charges were centred the same way)
//     out[3i + d] = c_d Phi0 - Phi_{1+d} + f_d  ~ sum_j w_ij^2 (y_id - y_jd)
//     out[3i + 2] = Psi + z - 1                 ~ sum_{j != i} w_ij   (w_ii = 1 removed: it is in
//                                                 z with the near field on, in Psi without)
// Bindings (group 0): 0 params (uniform FftParams), 1 grid (read Grid), 2 starts (read u32,
//   keys + 1), 3 sorted (read vec2<f32>, n), 4 sorted_point (read u32, n), 5 potentials (read
//   vec2<f32>, 2 len^2), 6 out (write f32, n x 3, by point index).
// One invocation per sort slot: neighbouring invocations share boxes, so their near-field loops
// read the same slices. Params mirror `tsne::fft_repulsion::FftParams`.

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
@group(0) @binding(2) var<storage, read> starts: array<u32>;
@group(0) @binding(3) var<storage, read> sorted: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read> sorted_point: array<u32>;
@group(0) @binding(5) var<storage, read> potentials: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

// Mirrors `fft_repulsion::NEAR_MIN_WIDTH` and `NEAR_CAP` (the same in tsne_fft_near.wgsl).
const NEAR_MIN_WIDTH: f32 = 0.8;
const NEAR_CAP: u32 = 4096u;

// Sort slots [x, y) of the points in boxes max(bx, 1) - 1 ..= min(bx + 1, I - 1) of row r.
fn row_slots(bx: u32, r: u32) -> vec2<u32> {
    let keys = params.sub * params.sub;
    let first = r * params.intervals + max(bx, 1u) - 1u;
    let last = r * params.intervals + min(bx + 1u, params.intervals - 1u);
    return vec2<u32>(starts[first * keys], starts[(last + 1u) * keys]);
}

fn near_on(bx: u32, by: u32) -> bool {
    if (!(grid.width > NEAR_MIN_WIDTH)) {
        return false;
    }
    var count = 0u;
    for (var r = max(by, 1u) - 1u; r <= min(by + 1u, params.intervals - 1u); r++) {
        let s = row_slots(bx, r);
        count += s.y - s.x;
    }
    return count <= NEAR_CAP;
}

// Lagrange basis on the nodes 1/8, 3/8, 5/8, 7/8 (as tsne_fft_spread.wgsl).
fn lagrange(u: f32) -> vec4<f32> {
    let d0 = u - 0.125;
    let d1 = u - 0.375;
    let d2 = u - 0.625;
    let d3 = u - 0.875;
    return vec4<f32>(-d1 * d2 * d3 * (512.0 / 48.0),
                     d0 * d2 * d3 * (512.0 / 16.0),
                     -d0 * d1 * d3 * (512.0 / 16.0),
                     d0 * d1 * d2 * (512.0 / 48.0));
}

// (phi0, phi1, phi2, psi) at node (gx, gy).
fn node(gx: u32, gy: u32) -> vec4<f32> {
    let idx = gy * params.len + gx;
    let a = potentials[idx];
    let b = potentials[params.len * params.len + idx];
    return vec4<f32>(b.x, a, b.y);
}

// One row (fixed gy) of four nodes weighted by lx.
fn row(gx: u32, gy: u32, lx: vec4<f32>) -> vec4<f32> {
    return lx.x * node(gx, gy) + lx.y * node(gx + 1u, gy) + lx.z * node(gx + 2u, gy)
        + lx.w * node(gx + 3u, gy);
}

@compute @workgroup_size(256)
fn interpolate(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let s = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (s >= params.n) {
        return;
    }
    let i = sorted_point[s];
    let y = sorted[s];
    let top = f32(params.intervals - 1u);
    let t = (y - grid.lo) / grid.width;
    let cell = clamp(floor(t), vec2<f32>(0.0), vec2<f32>(top));
    let u = t - cell;
    let lx = lagrange(u.x);
    let ly = lagrange(u.y);
    let bx = u32(cell.x);
    let by = u32(cell.y);
    let gx = 4u * bx;
    let gy = 4u * by;
    let p = ly.x * row(gx, gy, lx) + ly.y * row(gx, gy + 1u, lx) + ly.z * row(gx, gy + 2u, lx)
        + ly.w * row(gx, gy + 3u, lx);
    var f = vec2<f32>(0.0);
    var z = 0.0;
    if (near_on(bx, by)) {
        for (var r = max(by, 1u) - 1u; r <= min(by + 1u, params.intervals - 1u); r++) {
            let slots = row_slots(bx, r);
            for (var j = slots.x; j < slots.y; j++) {
                let d = y - sorted[j];
                let w = 1.0 / (1.0 + dot(d, d));
                z += w;
                f += (w * w) * d;
            }
        }
    }
    let c = y - grid.center;
    out[3u * i] = c.x * p.x - p.y + f.x;
    out[3u * i + 1u] = c.y * p.x - p.z + f.y;
    out[3u * i + 2u] = p.w + z - 1.0;
}
