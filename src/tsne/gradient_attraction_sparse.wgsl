// t-SNE attraction with a sparse symmetric P:
//   attr[i * DIMS + c] = sum_{j in row i of P} p_ij w_ij (y_i - y_j)_c,  w_ij = 1 / (1 + ||y_i - y_j||^2)
// (unscaled: the update kernel applies the exaggeration). The entries of each row are summed in
// the row's CSR order (ascending j).
// P is read in a sliced-ELL layout built from the CSR by `tsne::gradient::GpuCsr::upload`: rows are
// sorted by length, longest first (rows[slot].x), and cut into slices of 64 consecutive sorted
// rows; slice s stores entries 4u .. 4u + 3 of its r-th row as one texel at texel
// slices[s].x + u * 64 + r, for u < slices[s].y (a quarter of the slice's longest row, rounded up).
// Each entry is one u32 (`EntryPacking`): column j in the low params.col_bits bits, and above them
// p_ij in steps of its row's scale (rows[slot].y, the bits of an f32): the steps are summed and
// the row's sum scaled once at the end. One u32 per entry lets a texel fetch bring four entries
// instead of two; the kernel is bound by its fetches (~11% faster at 70,000 points). Shorter rows
// are padded with (the row itself, 0 steps), which add exactly 0. So a workgroup's 64 invocations
// run the same number of steps (no divergence).
// Entries and positions come from texel tables (texel e at (e & (2^TEXEL_SHIFT - 1),
// e >> TEXEL_SHIFT); see src/gpu/texel.rs): lavapipe fetches texels for all lanes with vector
// code, but loads a lane-varying storage address lane by lane; from storage buffers this kernel
// was 5× slower at 70,000 points.
// Bindings (group 0): 0 params (uniform AttractionParams),
//                     1 positions (rgba32uint texel table: bits of y_i in .xyz, from
//                       gradient_positions_texture.wgsl),
//                     2 rows (read, slices * 64 vec2<u32>: row, bits of its scale; slots past n
//                       hold (n - 1, 0)),
//                     3 slices (read, vec2<u32> per slice: first texel, texels per row),
//                     4 entries (rgba32uint texel table, as above), 5 attr (read_write, n * DIMS f32).
// One workgroup takes one slice; one invocation computes one point.
// DIMS (2 or 3) is declared by the Rust side (`tsne::with_dims`).
// Params are `tsne::gradient::AttractionParams` (declared from Rust).

// Texel tables: TEXEL_SHIFT is set when the pipeline is made (`TexelTable::constants`);
// `gpu::with_texel_tables` adds texel_at(e) here.
override TEXEL_SHIFT: u32;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var positions: texture_2d<u32>;
@group(0) @binding(2) var<storage, read> rows: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read> slices: array<vec2<u32>>;
@group(0) @binding(4) var entries: texture_2d<u32>;
@group(0) @binding(5) var<storage, read_write> attr: array<f32>;

fn pos(j: u32) -> vec3<f32> {
    return bitcast<vec3<f32>>(textureLoad(positions, texel_at(j), 0).xyz);
}

@compute @workgroup_size(64)
fn attraction_sparse(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let s = wg.x + wg.y * nwg.x;
    if (s * 64u >= params.n) { return; }
    let slot = s * 64u + lid;
    let row = rows[slot];
    let i = row.x;
    let yi = pos(i);
    let slice = slices[s];
    let col_mask = vec4<u32>((1u << params.col_bits) - 1u);
    let col_shift = vec4<u32>(params.col_bits);
    var f = vec3<f32>(0.0);
    var e = slice.x + lid;
    for (var u = 0u; u < slice.y; u++) {
        let q = textureLoad(entries, texel_at(e), 0);
        let j = q & col_mask;
        let v = vec4<f32>(q >> col_shift);
        let d0 = yi - pos(j.x);
        let d1 = yi - pos(j.y);
        let d2 = yi - pos(j.z);
        let d3 = yi - pos(j.w);
        f += (v.x / (1.0 + dot(d0, d0))) * d0;
        f += (v.y / (1.0 + dot(d1, d1))) * d1;
        f += (v.z / (1.0 + dot(d2, d2))) * d2;
        f += (v.w / (1.0 + dot(d3, d3))) * d3;
        e += 64u;
    }
    f *= bitcast<f32>(row.y);
    if (slot >= params.n) { return; }
    attr[i * DIMS] = f.x;
    attr[i * DIMS + 1u] = f.y;
    if (DIMS == 3u) { attr[i * DIMS + 2u] = f.z; }
}
