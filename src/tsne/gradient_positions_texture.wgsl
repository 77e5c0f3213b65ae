// t-SNE positions into a texel table: texel i = (bits(y[i][0]), bits(y[i][1]), bits(y[i][2]) or 0, 0)
// for the kernels that gather positions (the sparse attraction): lavapipe fetches texels with
// vector code but loads lane-varying storage addresses lane by lane (see src/gpu/texel.rs).
// Texel i lies at (i & (2^TEXEL_SHIFT - 1), i >> TEXEL_SHIFT); the Rust side sets TEXEL_SHIFT.
// Bindings (group 0): 0 params (uniform PositionsParams), 1 y (read, n * DIMS f32),
//                     2 positions (write-only storage texture, declared from Rust: rgba32uint,
//                       or rg32uint for DIMS = 2, which keeps the first two channels).
// One invocation per point.
// DIMS (2 or 3) is declared by the Rust side (`tsne::with_dims`).
// Params are `tsne::gradient::PositionsParams` (declared from Rust).

// Texel tables: TEXEL_SHIFT is set when the pipeline is made (`TexelTable::constants`);
// `gpu::with_texel_tables` adds texel_at(e) here.
override TEXEL_SHIFT: u32;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;

@compute @workgroup_size(64)
fn positions_texture(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (i >= params.n) { return; }
    let b = i * DIMS;
    var texel = vec4<u32>(bitcast<u32>(y[b]), bitcast<u32>(y[b + 1u]), 0u, 0u);
    if (DIMS == 3u) { texel.z = bitcast<u32>(y[b + 2u]); }
    textureStore(positions, texel_at(i), texel);
}
