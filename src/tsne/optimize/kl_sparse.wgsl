// t-SNE KL divergence, per-row terms with a sparse P: only the stored entries contribute,
//   kl_rows[i] = sum_{e in row i, p_e > 0} p_e (ln p_e + ln(1 + ||y_i - y_col(e)||^2))
// and KL = sum_i kl_rows[i] + ln(Z) * sum p, with Z from the repulsion sums at the same positions.
// P is read in the sliced-ELL texel layout of gradient_attraction_sparse.wgsl (slices of 64 rows
// sorted by length, four packed entries per texel: column in the low params.col_bits bits, steps
// of the row's scale above them, so p_e = steps * scale; padding has 0 steps and adds nothing),
// and the positions from the texel table gradient_positions_texture.wgsl
// fills (lavapipe fetches texels with vector code, but loads lane-varying storage addresses lane
// by lane). Each row's terms are added in its CSR order.
// Bindings (group 0): 0 params (uniform KlParams), 1 positions (rgba32uint texel table),
//                     2 rows (read, slices * 64 vec2<u32>: row, bits of its scale),
//                     3 slices (read, vec2<u32>: first texel, texels per row),
//                     4 entries (rgba32uint texel table), 5 kl_rows (read_write, n f32).
// One workgroup takes one slice; one invocation computes one row.
// Params are `tsne::optimize::KlParams` (declared from Rust).

// Texel tables: TEXEL_SHIFT is set when the pipeline is made (`TexelTable::constants`);
// `gpu::with_texel_tables` adds texel_at(e) here.
override TEXEL_SHIFT: u32;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var positions: texture_2d<u32>;
@group(0) @binding(2) var<storage, read> rows: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read> slices: array<vec2<u32>>;
@group(0) @binding(4) var entries: texture_2d<u32>;
@group(0) @binding(5) var<storage, read_write> kl_rows: array<f32>;

fn pos(j: u32) -> vec3<f32> {
    return bitcast<vec3<f32>>(textureLoad(positions, texel_at(j), 0).xyz);
}

fn term(yi: vec3<f32>, j: u32, pij: f32) -> f32 {
    let d = yi - pos(j);
    return select(0.0, pij * (log(pij) + log(1.0 + dot(d, d))), pij > 0.0);
}

@compute @workgroup_size(64)
fn kl_sparse(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let s = wg.x + wg.y * nwg.x;
    if (s * 64u >= params.n) { return; }
    let slot = s * 64u + lid;
    let row = rows[slot];
    let i = row.x;
    let yi = pos(i);
    let slice = slices[s];
    let scale = bitcast<f32>(row.y);
    let col_mask = vec4<u32>((1u << params.col_bits) - 1u);
    let col_shift = vec4<u32>(params.col_bits);
    var acc = 0.0;
    var e = slice.x + lid;
    for (var u = 0u; u < slice.y; u++) {
        let q = textureLoad(entries, texel_at(e), 0);
        let j = q & col_mask;
        let v = vec4<f32>(q >> col_shift) * scale;
        acc += term(yi, j.x, v.x);
        acc += term(yi, j.y, v.y);
        acc += term(yi, j.z, v.z);
        acc += term(yi, j.w, v.w);
        e += 64u;
    }
    if (slot >= params.n) { return; }
    kl_rows[i] = acc;
}
