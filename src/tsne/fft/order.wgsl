// t-SNE FFT repulsion, `order`: order the points of each sort key by point index (the counting
// sort's last pass, after scatter.wgsl), so the float sums of the spread and the interpolation
// run in the same order every run.
//   stable(i) = #{ j in key(i) : j < i }   (counted over the key's slice of slot_point)
//   sorted_points texel key_starts[key(i)] + stable(i) = (bits(y_i0), bits(y_i1), i, 0)
// The point indices in a key are distinct, so stable(i) is a permutation of 0 .. count - 1 and
// equals the rank a sequential stable counting sort gives. Cost: the sum over keys of count^2
// compares; keys are hashes of the point index within their box (count.wgsl), ~1.5
// points each however crowded the layout.
// Bindings (group 0): 0 params (uniform FftParams), 1 positions (read, n x 2 f32), 2 point_key
//   (read u32), 3 key_starts (read u32, keys + 1), 4 slot_point (rgba32uint texel table, index
//   in .x, from scatter.wgsl), 5 sorted_points (write-only rgba32uint texel table, texel s at
//   (s & (2^TEXEL_SHIFT - 1), s >> TEXEL_SHIFT): the spread and the interpolation
//   read the sorted points from it, since lavapipe fetches texels with vector code but loads
//   lane-varying storage addresses lane by lane; see src/gpu/texel.rs).
// One invocation per point; the compare loop is branch-free.
// Launched from sort.rs, which declares Params (`FftParams`) before this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> positions: array<f32>;
@group(0) @binding(2) var<storage, read> point_key: array<u32>;
@group(0) @binding(3) var<storage, read> key_starts: array<u32>;
@group(0) @binding(4) var slot_point: texture_2d<u32>;
@group(0) @binding(5) var sorted_points: texture_storage_2d<rgba32uint, write>;

// Texel tables: TEXEL_SHIFT is set when the pipeline is made (`TexelTable::constants`);
// `gpu::with_texel_tables` adds texel_at(e) here.
override TEXEL_SHIFT: u32;

@compute @workgroup_size(256)
fn order_points(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (i >= params.n) {
        return;
    }
    let k = point_key[i];
    let first = key_starts[k];
    let end = key_starts[k + 1u];
    var before = 0u;
    for (var s = first; s < end; s++) {
        before += select(0u, 1u, textureLoad(slot_point, texel_at(s), 0).x < i);
    }
    let slot = first + before;
    textureStore(sorted_points, texel_at(slot),
                 vec4<u32>(bitcast<u32>(positions[2u * i]), bitcast<u32>(positions[2u * i + 1u]), i, 0u));
}
