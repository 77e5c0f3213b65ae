// t-SNE FFT repulsion, `spread`: spread the charges of the points onto the interpolation nodes.
//   Node (gx, gy), g = 4 b + t, sits at grid.lo + (g + 1/2) h and belongs to box (bx, by) only, so
//   q_k(node) = sum over points j in box b of  L_tx(u_jx) L_ty(u_jy) c_k(j),
//   c(j) = [1, y_jx - centre_x, y_jy - centre_y]   (centred: less cancellation in f32 later),
//   u = (y - grid.lo) / width - b in [0, 1), Lagrange basis on the p = 4 nodes 1/8, 3/8, 5/8, 7/8:
//   L_t(u) = prod_{s != t} (u - x_s) / (x_t - x_s), x_t = (2t + 1) / 8.
//   A gather over the points of the box (in the order of the sort, count.wgsl to
//   order.wgsl, the same every run): no float atomics, and the same summation order every run.
// Output: the zero-padded FFT input, two complex channels of len x len (row-major, row = gy):
//   channel 0 = q1 + i q2, channel 1 = q0 + i 0. Only the nodes x nodes corner is written; the
//   FFT passes read everything outside it as zero. The same charges also go to node_charges
//   ((q0, q1, q2, 0) at gy * nodes + gx), which the FFT does not overwrite: the near-field pass
//   (near.wgsl) reads them after the transforms.
// Bindings (group 0): 0 params (uniform FftParams), 1 grid (read Grid), 2 starts (read u32,
//   boxes + 1: box b's points are sort slots starts[b] .. starts[b + 1] - 1), 3 sorted_points
//   (rgba32uint texel table from order.wgsl: slot s holds (bits(y_0), bits(y_1), point index, 0); lavapipe fetches
//   texels with vector code but loads lane-varying storage addresses lane by lane), 4 charges
//   (write vec2<f32>, 2 len^2), 5 node_charges (write-only rgba32uint texel table, nodes^2
//   texels: the bits of (q0, q1, q2, 0) at texel gy * nodes + gx, at (e & (2^TEXEL_SHIFT - 1),
//   e >> TEXEL_SHIFT); the near-field pass gathers them, which runs lane by lane from storage),
//   6 chunk_starts (read u32, boxes + 1: box b's chunks of CHUNK_POINTS = 32 points are
//   chunk_starts[b] .. chunk_starts[b + 1] - 1, from chunks.wgsl + scan.wgsl),
//   7 parts (read_write vec4<f32>, 12 per chunk: its 16 nodes' (q0, q1, q2), packed).
// Two entry points, so that no lane walks a whole crowded box (early exaggeration packs
// thousands of points into a few boxes, and a lane per box left the others of its SIMD vector
// idle; docs/kernel-notes.md):
//   spread_chunks: one invocation per chunk of 32 points sums their charges on the box's 4 x 4
//     nodes (16 named vec3 accumulators) into parts[12 chunk ..];
//   spread: one invocation per box adds its chunks' parts in chunk order (the same summation
//     order every run) and stores the node charges.
// Launched from spread.rs, which declares Params (`FftParams`), Grid (`GridGeometry`) and
// CHUNK_POINTS before this file and appends nodes.wgsl (lagrange, chunk_box).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grid: Grid;
@group(0) @binding(2) var<storage, read> starts: array<u32>;
@group(0) @binding(3) var sorted_points: texture_2d<u32>;
@group(0) @binding(4) var<storage, read_write> charges: array<vec2<f32>>;
@group(0) @binding(5) var node_charges: texture_storage_2d<rgba32uint, write>;
@group(0) @binding(6) var<storage, read> chunk_starts: array<u32>;
@group(0) @binding(7) var<storage, read_write> parts: array<vec4<f32>>;

// Texel tables: TEXEL_SHIFT is set when the pipeline is made (`TexelTable::constants`);
// `gpu::with_texel_tables` adds texel_at(e) here.
override TEXEL_SHIFT: u32;

fn store(gx: u32, gy: u32, q: vec3<f32>) {
    let idx = gy * params.len + gx;
    charges[idx] = q.yz;
    charges[params.len * params.len + idx] = vec2<f32>(q.x, 0.0);
    let e = gy * params.nodes + gx;
    textureStore(node_charges, texel_at(e), bitcast<vec4<u32>>(vec4<f32>(q, 0.0)));
}

@compute @workgroup_size(64)
fn spread_chunks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    // Both entry points bind the same resources.
    _ = charges[0];
    _ = textureDimensions(node_charges);
    let chunk = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (chunk >= chunk_starts[params.boxes]) {
        return;
    }
    let b = chunk_box(chunk);
    let bx = b % params.intervals;
    let by = b / params.intervals;
    let cell = vec2<f32>(f32(bx), f32(by));
    // a<ty><tx>: node (4 bx + tx, 4 by + ty).
    var a00 = vec3<f32>(0.0); var a01 = vec3<f32>(0.0); var a02 = vec3<f32>(0.0); var a03 = vec3<f32>(0.0);
    var a10 = vec3<f32>(0.0); var a11 = vec3<f32>(0.0); var a12 = vec3<f32>(0.0); var a13 = vec3<f32>(0.0);
    var a20 = vec3<f32>(0.0); var a21 = vec3<f32>(0.0); var a22 = vec3<f32>(0.0); var a23 = vec3<f32>(0.0);
    var a30 = vec3<f32>(0.0); var a31 = vec3<f32>(0.0); var a32 = vec3<f32>(0.0); var a33 = vec3<f32>(0.0);
    let s0 = starts[b] + CHUNK_POINTS * (chunk - chunk_starts[b]);
    let end = min(s0 + CHUNK_POINTS, starts[b + 1u]);
    for (var j = s0; j < end; j++) {
        let y = bitcast<vec2<f32>>(textureLoad(sorted_points, texel_at(j), 0).xy);
        let u = (y - grid.lo) / grid.width - cell;
        let lx = lagrange(u.x);
        let ly = lagrange(u.y);
        let c = vec3<f32>(1.0, y - grid.center);
        let c0 = ly.x * c; let c1 = ly.y * c; let c2 = ly.z * c; let c3 = ly.w * c;
        a00 += lx.x * c0; a01 += lx.y * c0; a02 += lx.z * c0; a03 += lx.w * c0;
        a10 += lx.x * c1; a11 += lx.y * c1; a12 += lx.z * c1; a13 += lx.w * c1;
        a20 += lx.x * c2; a21 += lx.y * c2; a22 += lx.z * c2; a23 += lx.w * c2;
        a30 += lx.x * c3; a31 += lx.y * c3; a32 += lx.z * c3; a33 += lx.w * c3;
    }
    // 16 vec3 as 12 vec4, node by node (row ty, then tx).
    let o = 12u * chunk;
    parts[o] = vec4<f32>(a00, a01.x);
    parts[o + 1u] = vec4<f32>(a01.yz, a02.xy);
    parts[o + 2u] = vec4<f32>(a02.z, a03);
    parts[o + 3u] = vec4<f32>(a10, a11.x);
    parts[o + 4u] = vec4<f32>(a11.yz, a12.xy);
    parts[o + 5u] = vec4<f32>(a12.z, a13);
    parts[o + 6u] = vec4<f32>(a20, a21.x);
    parts[o + 7u] = vec4<f32>(a21.yz, a22.xy);
    parts[o + 8u] = vec4<f32>(a22.z, a23);
    parts[o + 9u] = vec4<f32>(a30, a31.x);
    parts[o + 10u] = vec4<f32>(a31.yz, a32.xy);
    parts[o + 11u] = vec4<f32>(a32.z, a33);
}

@compute @workgroup_size(64)
fn spread(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    // Both entry points bind the same resources.
    _ = grid.width;
    _ = starts[0];
    _ = textureLoad(sorted_points, vec2<u32>(0u, 0u), 0);
    let b = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (b >= params.boxes) {
        return;
    }
    var p0 = vec4<f32>(0.0); var p1 = vec4<f32>(0.0); var p2 = vec4<f32>(0.0);
    var p3 = vec4<f32>(0.0); var p4 = vec4<f32>(0.0); var p5 = vec4<f32>(0.0);
    var p6 = vec4<f32>(0.0); var p7 = vec4<f32>(0.0); var p8 = vec4<f32>(0.0);
    var p9 = vec4<f32>(0.0); var p10 = vec4<f32>(0.0); var p11 = vec4<f32>(0.0);
    for (var c = chunk_starts[b]; c < chunk_starts[b + 1u]; c++) {
        let o = 12u * c;
        p0 += parts[o]; p1 += parts[o + 1u]; p2 += parts[o + 2u]; p3 += parts[o + 3u];
        p4 += parts[o + 4u]; p5 += parts[o + 5u]; p6 += parts[o + 6u]; p7 += parts[o + 7u];
        p8 += parts[o + 8u]; p9 += parts[o + 9u]; p10 += parts[o + 10u]; p11 += parts[o + 11u];
    }
    let gx = 4u * (b % params.intervals);
    let gy = 4u * (b / params.intervals);
    store(gx, gy, p0.xyz); store(gx + 1u, gy, vec3<f32>(p0.w, p1.xy));
    store(gx + 2u, gy, vec3<f32>(p1.zw, p2.x)); store(gx + 3u, gy, p2.yzw);
    store(gx, gy + 1u, p3.xyz); store(gx + 1u, gy + 1u, vec3<f32>(p3.w, p4.xy));
    store(gx + 2u, gy + 1u, vec3<f32>(p4.zw, p5.x)); store(gx + 3u, gy + 1u, p5.yzw);
    store(gx, gy + 2u, p6.xyz); store(gx + 1u, gy + 2u, vec3<f32>(p6.w, p7.xy));
    store(gx + 2u, gy + 2u, vec3<f32>(p7.zw, p8.x)); store(gx + 3u, gy + 2u, p8.yzw);
    store(gx, gy + 3u, p9.xyz); store(gx + 1u, gy + 3u, vec3<f32>(p9.w, p10.xy));
    store(gx + 2u, gy + 3u, vec3<f32>(p10.zw, p11.x)); store(gx + 3u, gy + 3u, p11.yzw);
}
