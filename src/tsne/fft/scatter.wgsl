// t-SNE FFT repulsion, `scatter`: put each point's index in its key's slot (the counting sort's
// placement by provisional rank; order.wgsl then makes the order stable).
//   slot_point[key_starts[key(i)] + rank(i)] = i
// rank(i) comes from atomics, so which slot of its key a point takes varies between runs; the set
// of points in each key's slice key_starts[k] .. key_starts[k + 1] does not. order.wgsl
// then places the positions by point index within each slice (a stable order, same every run).
// (The keys are count.wgsl's.)
// Bindings (group 0): 0 params (uniform FftParams), 1 point_key (read u32), 2 point_rank (read
//   u32), 3 key_starts (read u32, keys + 1), 4 slot_point (write-only rgba32uint texel table of n
//   texels, slot s at (s & (2^TEXEL_SHIFT - 1), s >> TEXEL_SHIFT), the point index in .x: the
//   ordering pass reads it lane by lane otherwise; see src/gpu/texel.rs).
// One invocation per point. Launched from sort.rs, which declares Params (`FftParams`) before
// this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> point_key: array<u32>;
@group(0) @binding(2) var<storage, read> point_rank: array<u32>;
@group(0) @binding(3) var<storage, read> key_starts: array<u32>;
@group(0) @binding(4) var slot_point: texture_storage_2d<rgba32uint, write>;

// Texel tables: TEXEL_SHIFT is set when the pipeline is made (`TexelTable::constants`);
// `gpu::with_texel_tables` adds texel_at(e) here.
override TEXEL_SHIFT: u32;

@compute @workgroup_size(256)
fn scatter_points(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (i >= params.n) {
        return;
    }
    let s = key_starts[point_key[i]] + point_rank[i];
    textureStore(slot_point, texel_at(s), vec4<u32>(i, 0u, 0u, 0u));
}
