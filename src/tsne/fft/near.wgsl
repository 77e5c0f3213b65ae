// t-SNE FFT repulsion, `near`: take the near field out of the node potentials.
//   The interpolated sums treat every pair of points alike; for a point i and the points j of the
//   3 x 3 boxes around its own (its near field) they are replaced by exact sums
//   (interpolate.wgsl), so their interpolated part must go: for every node a of box B
//     Phi(a) -= sum over the nodes b of the boxes B' with |B' - B| <= 1 (per axis) of
//               K(a - b) q(b),   K = (w^2, w^2, w^2, w) for (phi0, phi1, phi2, psi),
//   the node charges q = (q0, q1, q2) coming only from points in B', so the subtracted term is
//   exactly the interpolated contribution of the near-field points. What is left is smooth at the
//   scale of a box: the interpolation error then no longer grows with the interval width.
//   Only boxes with the near field on (near_on) are touched: the grid is wider than
//   NEAR_MIN_WIDTH (below it plain interpolation is accurate) and the 3 x 3 boxes hold at most
//   NEAR_CAP points (bounds the exact sums; a crowded box falls back to plain interpolation).
//   For node a = 4 B + t and b = 4 B' + s the offset is o = 4 (B - B') + t - s node spacings,
//   w = 1 / (1 + h^2 |o|^2), computed in registers (faster on lavapipe than a table of the 225
//   values loaded with loop-uniform indices; docs/kernel-notes.md).
//   Every box (near field on or not) then copies its 16 nodes' potentials into node_table,
//   texel gy * nodes + gx = bits of (phi0, phi1, phi2, psi), from which the interpolation reads
//   them (lavapipe fetches texels with vector code, but loads even a lane-uniform storage address
//   lane by lane).
// Bindings (group 0): 0 params (uniform FftParams), 1 grid (read Grid), 2 starts (read u32,
//   boxes + 1), 3 node_charges (rgba32uint texel table from spread.wgsl, nodes^2 texels,
//   bits of (q0, q1, q2, 0)), 4 potentials
//   (read_write vec2<f32>, 2 len^2: channel 0 = (phi1, phi2), channel 1 = (phi0, psi)),
//   5 node_table (write-only rgba32uint texel table of nodes^2 texels, texel e at
//   (e & (2^TEXEL_SHIFT - 1), e >> TEXEL_SHIFT)).
// One invocation per box: its 4 x 4 nodes in 16 named vec4 accumulators (phi0, phi1, phi2,
// psi); the charges are read once per box.
// Launched from interpolate.rs, which declares Params (`FftParams`), Grid (`GridGeometry`),
// NEAR_MIN_WIDTH and NEAR_CAP before this file and appends near_boxes.wgsl (near_on, row_slots).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grid: Grid;
@group(0) @binding(2) var<storage, read> starts: array<u32>;
@group(0) @binding(3) var node_charges: texture_2d<u32>;
@group(0) @binding(4) var<storage, read_write> potentials: array<vec2<f32>>;
@group(0) @binding(5) var node_table: texture_storage_2d<rgba32uint, write>;

// Texel tables: TEXEL_SHIFT is set when the pipeline is made (`TexelTable::constants`);
// `gpu::with_texel_tables` adds texel_at(e) here.
override TEXEL_SHIFT: u32;

// (w^2 q0, w^2 q1, w^2 q2, w q0) for kernel value w and charges c.
fn term(w: f32, c: vec4<f32>) -> vec4<f32> {
    return vec4<f32>((w * w) * c.xyz, w * c.x);
}

// Node (gx, gy) less the near-field part a, into the potentials and the node table.
fn take(gx: u32, gy: u32, a: vec4<f32>) {
    let idx = gy * params.len + gx;
    let area = params.len * params.len;
    let p0 = potentials[idx] - a.yz;
    let p1 = potentials[area + idx] - a.xw;
    potentials[idx] = p0;
    potentials[area + idx] = p1;
    let e = gy * params.nodes + gx;
    textureStore(node_table, texel_at(e),
                 bitcast<vec4<u32>>(vec4<f32>(p1.x, p0.x, p0.y, p1.y)));
}

@compute @workgroup_size(64)
fn near_nodes(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let b = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (b >= params.boxes) {
        return;
    }
    let bx = b % params.intervals;
    let by = b / params.intervals;
    // a<ty><tx>: node (4 bx + tx, 4 by + ty).
    var a00 = vec4<f32>(0.0); var a01 = vec4<f32>(0.0); var a02 = vec4<f32>(0.0); var a03 = vec4<f32>(0.0);
    var a10 = vec4<f32>(0.0); var a11 = vec4<f32>(0.0); var a12 = vec4<f32>(0.0); var a13 = vec4<f32>(0.0);
    var a20 = vec4<f32>(0.0); var a21 = vec4<f32>(0.0); var a22 = vec4<f32>(0.0); var a23 = vec4<f32>(0.0);
    var a30 = vec4<f32>(0.0); var a31 = vec4<f32>(0.0); var a32 = vec4<f32>(0.0); var a33 = vec4<f32>(0.0);
    let top = i32(params.intervals) - 1;
    let h2 = grid.h * grid.h;
    let t = vec4<f32>(0.0, 1.0, 2.0, 3.0);
    // Boxes without the near field keep their potentials (zero accumulators).
    if (near_on(bx, by)) {
    // Every neighbour box and node in the same order in all invocations (uniform loops); boxes
    // past the grid's edge read a clamped box with weight 0 instead of branching.
    for (var dy = -1; dy <= 1; dy++) {
        for (var dx = -1; dx <= 1; dx++) {
            let nx = i32(bx) + dx;
            let ny = i32(by) + dy;
            let inside = select(0.0, 1.0, nx >= 0 && ny >= 0 && nx <= top && ny <= top);
            let cx = u32(clamp(nx, 0, top));
            let cy = u32(clamp(ny, 0, top));
            for (var s = 0; s < 16; s++) {
                let sx = s % 4;
                let sy = s / 4;
                let e = (4u * cy + u32(sy)) * params.nodes + 4u * cx + u32(sx);
                let c = inside * bitcast<vec4<f32>>(textureLoad(node_charges, texel_at(e), 0));
                // Offsets a - b of the 4 x 4 target nodes t: o = t - 4 d - s, in node units.
                let ox = t - f32(4 * dx + sx);
                let oy = t - f32(4 * dy + sy);
                let rx = h2 * ox * ox;
                let ry = h2 * oy * oy;
                let w0 = 1.0 / (vec4<f32>(1.0 + ry.x) + rx);
                let w1 = 1.0 / (vec4<f32>(1.0 + ry.y) + rx);
                let w2 = 1.0 / (vec4<f32>(1.0 + ry.z) + rx);
                let w3 = 1.0 / (vec4<f32>(1.0 + ry.w) + rx);
                a00 += term(w0.x, c); a01 += term(w0.y, c); a02 += term(w0.z, c); a03 += term(w0.w, c);
                a10 += term(w1.x, c); a11 += term(w1.y, c); a12 += term(w1.z, c); a13 += term(w1.w, c);
                a20 += term(w2.x, c); a21 += term(w2.y, c); a22 += term(w2.z, c); a23 += term(w2.w, c);
                a30 += term(w3.x, c); a31 += term(w3.y, c); a32 += term(w3.z, c); a33 += term(w3.w, c);
            }
        }
    }
    }
    let gx = 4u * bx;
    let gy = 4u * by;
    take(gx, gy, a00); take(gx + 1u, gy, a01); take(gx + 2u, gy, a02); take(gx + 3u, gy, a03);
    take(gx, gy + 1u, a10); take(gx + 1u, gy + 1u, a11); take(gx + 2u, gy + 1u, a12); take(gx + 3u, gy + 1u, a13);
    take(gx, gy + 2u, a20); take(gx + 1u, gy + 2u, a21); take(gx + 2u, gy + 2u, a22); take(gx + 3u, gy + 2u, a23);
    take(gx, gy + 3u, a30); take(gx + 1u, gy + 3u, a31); take(gx + 2u, gy + 3u, a32); take(gx + 3u, gy + 3u, a33);
}
