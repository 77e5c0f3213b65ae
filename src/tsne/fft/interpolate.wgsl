// t-SNE FFT repulsion, `interpolate`: interpolate the node potentials back to the points, add the
// exact near-field sums, and form the repulsion sums.
//   Potentials at node g (from the inverse FFT, near field taken out by near.wgsl where
//   near_on): channel 0 = (phi1, phi2), channel 1 = (phi0, psi), phi_k = sum_nodes w^2 q_k,
//   psi = sum_nodes w q0. For the point in sort slot s (point i = sorted_point[s]) of box b, with
//   Lagrange weights Lx, Ly (as in spread.wgsl): P = sum_{tx,ty} Lx_tx Ly_ty P(node 4b + t).
//   Near field (only where near_on(b), the same test as near.wgsl): exact sums over the
//   points j of the 3 x 3 boxes around b, the point itself included (w_ii = 1, no force):
//     f = sum_j w_ij^2 (y_i - y_j),  z = sum_j w_ij.
//   Then with c = y_i - centre (the spread charges were centred the same way)
//     out[3i + d] = c_d Phi0 - Phi_{1+d} + f_d  ~ sum_j w_ij^2 (y_id - y_jd)
//     out[3i + 2] = Psi + z - 1                 ~ sum_{j != i} w_ij   (w_ii = 1 removed: it is in
//                                                 z with the near field on, in Psi without)
// Bindings (group 0): 0 params (uniform FftParams), 1 grid (read Grid), 2 starts (read u32,
//   boxes + 1), 3 sorted_points (rgba32uint texel table from order.wgsl: slot s holds
//   (bits(y_0), bits(y_1), point index, 0), at (s & (2^TEXEL_SHIFT - 1), s >> TEXEL_SHIFT);
//   lavapipe fetches texels with vector code but loads lane-varying storage addresses lane by
//   lane, and the near loop reads one point per lane per step), 4 node_table (rgba32uint texel
//   table from near.wgsl: texel gy * nodes + gx holds the bits of (phi0, phi1, phi2, psi)
//   at node (gx, gy), near field taken out), 5 out (write f32, n x 3, by point index),
//   6 chunk_starts (read u32, boxes + 1: box b's chunks of CHUNK_POINTS = 32 points are
//   chunk_starts[b] .. chunk_starts[b + 1] - 1, from chunks.wgsl + scan.wgsl).
// One workgroup of 8 invocations takes CHUNKS chunks of CHUNK_POINTS (32) points of one box
// each, in turn (workgroup w of G: chunks w, w + G, w + 2G, ...; dispatch: an upper bound on the
// chunks, n / 32 + min(boxes, n), over CHUNKS, folded into y past 65,535; the box of a chunk by
// binary search in chunk_starts): the box's 16 node potentials and the near-field points are the
// same for the whole workgroup, so the loads are uniform (one load for all lanes on lavapipe,
// instead of a gather per lane), and no invocation loops more than CHUNKS * NEAR_CAP times
// (lavapipe caps loops at 65,535 iterations per invocation: a whole box of many chunks in one
// workgroup could pass it).
// Each lane takes four points of the chunk (slots s, s + 8, s + 16, s + 24: named a to d, written
// out, not a loop over an array), so every near-field point loaded (and, with subgroups,
// broadcast) serves four pairs: fewer loads per pair, and still within the registers AVX2 has
// (docs/kernel-notes.md compares one to eight points a lane). 8 lanes fill one SIMD vector on
// lavapipe; a GPU would run these workgroups at a quarter of a warp.
// Launched from interpolate.rs, which declares Params (`FftParams`), Grid (`GridGeometry`),
// CHUNKS, CHUNK_POINTS, NEAR_MIN_WIDTH and NEAR_CAP before this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grid: Grid;
@group(0) @binding(2) var<storage, read> starts: array<u32>;
@group(0) @binding(3) var sorted_points: texture_2d<u32>;
@group(0) @binding(4) var node_table: texture_2d<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> chunk_starts: array<u32>;

// Texel tables: TEXEL_SHIFT is set when the pipeline is made (`TexelTable::constants`);
// `gpu::with_texel_tables` adds texel_at(e) here.
override TEXEL_SHIFT: u32;

// Sort slot s: (bits(y_0), bits(y_1), point index, 0).
fn slot_texel(s: u32) -> vec4<u32> {
    return textureLoad(sorted_points, texel_at(s), 0);
}

fn sorted(s: u32) -> vec2<f32> {
    return bitcast<vec2<f32>>(slot_texel(s).xy);
}

// From Rust: CHUNKS (`CHUNKS_PER_GROUP`), the chunks per workgroup, so the loops of one
// invocation run at most CHUNKS * NEAR_CAP = 32,768 times, under lavapipe's cap; CHUNK_POINTS,
// the points per chunk, four per lane; NEAR_MIN_WIDTH and NEAR_CAP, the near field's switches,
// the same test as near.wgsl's.

// The subgroup near loop's stand-in for lanes past a row's end: w = 1 / (1 + 2e36) adds
// nothing to z (which holds w_ii = 1 or more) and w^2 underflows to 0.
const FAR: vec2<f32> = vec2<f32>(1e18, 1e18);

// Sort slots [x, y) of the points in boxes max(bx, 1) - 1 ..= min(bx + 1, I - 1) of row r.
fn row_slots(bx: u32, r: u32) -> vec2<u32> {
    let first = r * params.intervals + max(bx, 1u) - 1u;
    let last = r * params.intervals + min(bx + 1u, params.intervals - 1u);
    return vec2<u32>(starts[first], starts[last + 1u]);
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

// Lagrange basis on the nodes 1/8, 3/8, 5/8, 7/8 (as spread.wgsl).
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
    let e = gy * params.nodes + gx;
    return bitcast<vec4<f32>>(textureLoad(node_table, texel_at(e), 0));
}

// The interpolated potentials at a point u (box coordinates in [0, 1)^2) of the box whose
// nodes start at (gx, gy). The 16 node loads are the same for all lanes.
fn interp(u: vec2<f32>, gx: u32, gy: u32) -> vec4<f32> {
    let lx = lagrange(u.x);
    let ly = lagrange(u.y);
    return ly.x * (lx.x * node(gx, gy) + lx.y * node(gx + 1u, gy)
                   + lx.z * node(gx + 2u, gy) + lx.w * node(gx + 3u, gy))
        + ly.y * (lx.x * node(gx, gy + 1u) + lx.y * node(gx + 1u, gy + 1u)
                  + lx.z * node(gx + 2u, gy + 1u) + lx.w * node(gx + 3u, gy + 1u))
        + ly.z * (lx.x * node(gx, gy + 2u) + lx.y * node(gx + 1u, gy + 2u)
                  + lx.z * node(gx + 2u, gy + 2u) + lx.w * node(gx + 3u, gy + 2u))
        + ly.w * (lx.x * node(gx, gy + 3u) + lx.y * node(gx + 1u, gy + 3u)
                  + lx.z * node(gx + 2u, gy + 3u) + lx.w * node(gx + 3u, gy + 3u));
}

// One near-field pair: (w^2 (y - yj), w) with w = 1 / (1 + |y - yj|^2).
fn near_term(y: vec2<f32>, yj: vec2<f32>) -> vec3<f32> {
    let d = y - yj;
    let w = 1.0 / (1.0 + dot(d, d));
    return vec3<f32>((w * w) * d, w);
}

// The interpolated far field (phi0, phi1, phi2, psi) at the point y of box (bx, by).
fn far_field(y: vec2<f32>, bx: u32, by: u32) -> vec4<f32> {
    return interp((y - grid.lo) / grid.width - vec2<f32>(f32(bx), f32(by)), 4u * bx, 4u * by);
}

// Write the sums of the point in sort texel `texel`: its far field p plus its near-field sums
// q = (f, z), as the header's out[3i + d] and out[3i + 2].
fn store_point(texel: vec4<u32>, p: vec4<f32>, q: vec3<f32>) {
    let i = texel.z;
    let c = bitcast<vec2<f32>>(texel.xy) - grid.center;
    out[3u * i] = c.x * p.x - p.y + q.x;
    out[3u * i + 1u] = c.y * p.x - p.z + q.y;
    out[3u * i + 2u] = p.w + q.z - 1.0;
}

@compute @workgroup_size(8)
fn interpolate(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) { // entry: end
    // Everything up to the per-point values is the same for the whole workgroup. CHUNKS chunks
    // per workgroup, one after the other (fewer, longer workgroups), strided by the number of
    // workgroups rather than consecutive: lavapipe hands each of its threads one contiguous
    // range of workgroups, and consecutive chunks are neighbouring boxes, so contiguous ranges
    // would split the grid into a top and a bottom part of unequal cost (one thread idle for a
    // third of the stage; docs/kernel-notes.md).
    let chunks = chunk_starts[params.boxes];
    let groups = nwg.x * nwg.y;
    for (var t = 0u; t < CHUNKS; t++) {
    let chunk = (wg.x + wg.y * nwg.x) + t * groups;
    if (chunk >= chunks) {
        break;
    }
    // The box: the largest b with chunk_starts[b] <= chunk (empty boxes share their start with
    // the next box).
    var lo = 0u;
    var hi = params.boxes;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (chunk_starts[mid] <= chunk) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let b = lo;
    let end = starts[b + 1u];
    let s0 = starts[b] + CHUNK_POINTS * (chunk - chunk_starts[b]);
    let bx = b % params.intervals;
    let by = b / params.intervals;
    // Four points per lane: slots s0 + lid, + 8, + 16, + 24, sharing every near-field load.
    let texel_a = slot_texel(min(s0 + lid, end - 1u));
    let texel_b = slot_texel(min(s0 + 8u + lid, end - 1u));
    let texel_c = slot_texel(min(s0 + 16u + lid, end - 1u));
    let texel_d = slot_texel(min(s0 + 24u + lid, end - 1u));
    let ya = bitcast<vec2<f32>>(texel_a.xy);
    let yb = bitcast<vec2<f32>>(texel_b.xy);
    let yc = bitcast<vec2<f32>>(texel_c.xy);
    let yd = bitcast<vec2<f32>>(texel_d.xy);
    let pa = far_field(ya, bx, by);
    let pb = far_field(yb, bx, by);
    let pc = far_field(yc, bx, by);
    let pd = far_field(yd, bx, by);
    // Near-field sums (f, z) of each of the four points.
    var qa = vec3<f32>(0.0);
    var qb = vec3<f32>(0.0);
    var qc = vec3<f32>(0.0);
    var qd = vec3<f32>(0.0);
    if (near_on(bx, by)) {
        for (var r = max(by, 1u) - 1u; r <= min(by + 1u, params.intervals - 1u); r++) {
            let slots = row_slots(bx, r);
            // near loop: begin (interpolate::interpolate_source replaces this loop with one
            // that loads 8 points per step, one per lane, and hands them round by
            // subgroupBroadcast, on adapters with subgroups of exactly 8 lanes)
            for (var j = slots.x; j < slots.y; j++) {
                let yj = sorted(j);
                qa += near_term(ya, yj);
                qb += near_term(yb, yj);
                qc += near_term(yc, yj);
                qd += near_term(yd, yj);
            }
            // near loop: end
        }
    }
    if (s0 + lid < end) {
        store_point(texel_a, pa, qa);
    }
    if (s0 + 8u + lid < end) {
        store_point(texel_b, pb, qb);
    }
    if (s0 + 16u + lid < end) {
        store_point(texel_c, pc, qc);
    }
    if (s0 + 24u + lid < end) {
        store_point(texel_d, pd, qd);
    }
    }
}
