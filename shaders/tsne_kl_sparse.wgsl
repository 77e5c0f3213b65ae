// t-SNE KL divergence, per-row terms with a sparse P: only the stored entries contribute,
//   kl_rows[i] = sum_{e in row i, p_e > 0} p_e (ln p_e + ln(1 + ||y_i - y_col(e)||^2))
// and KL = sum_i kl_rows[i] + ln(Z) * sum p, with Z from the repulsion sums at the same positions.
// P is read in the sliced-ELL texel layout of tsne_attraction_sparse.wgsl (slices of 64 rows
// sorted by length, two entries per texel: (col_2u, col_2u+1, bits(p_2u), bits(p_2u+1)); padding
// has p = 0 and adds nothing), and the positions from the texel table tsne_positions_texture.wgsl
// fills (lavapipe fetches texels with vector code, but loads lane-varying storage addresses lane
// by lane). Each row's terms are added in its CSR order.
// Bindings (group 0): 0 params (uniform KlParams), 1 positions (rgba32uint texel table),
//                     2 perm (read, slices * 64 u32), 3 slices (read, vec2<u32>: offset, pairs),
//                     4 entries (rgba32uint texel table), 5 kl_rows (read_write, n f32).
// One workgroup takes one slice; one invocation computes one row.
// Params mirror `tsne::optimize::KlParams`.

struct Params {
    n: u32,
    lq: u32, // dense P only; unused here
    _pad1: u32,
    _pad2: u32,
}

// Texel tables: `gpu::with_texel_tables` sets TEXEL_SHIFT and adds texel_at(e) here.
const TEXEL_SHIFT: u32 = 12u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var positions: texture_2d<u32>;
@group(0) @binding(2) var<storage, read> perm: array<u32>;
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
    let i = perm[slot];
    let yi = pos(i);
    let slice = slices[s];
    var acc = 0.0;
    var e = slice.x + lid;
    for (var u = 0u; u < slice.y; u++) {
        let q = textureLoad(entries, texel_at(e), 0);
        let v = bitcast<vec2<f32>>(q.zw);
        acc += term(yi, q.x, v.x);
        acc += term(yi, q.y, v.y);
        e += 64u;
    }
    if (slot >= params.n) { return; }
    kl_rows[i] = acc;
}
