// t-SNE input distances, one block of rows against every point:
//   out[r * n + j] = ||x_(row0 + r) - x_j||^2      for r < rows, j < n
// computed as sums of squared differences (not |a|^2 + |b|^2 - 2ab), so d_ii is exactly 0 and close
// points keep their digits.
// x holds n rows of `width` vec4 (features zero-padded to a multiple of 4; the padding adds 0).
// Bindings (group 0): 0 params (uniform SqdistParams), 1 x (read, array<vec4<f32>>),
//                     2 out (read_write, rows * n f32).
// One invocation computes a 4 x 4 block (4 rows, 4 columns) with 16 named vec4 accumulators; rows
// and columns past the end are clamped for loading and skipped when writing.
// Params mirror `tsne::affinity::SqdistParams`.

struct Params {
    n: u32,
    rows: u32,
    row0: u32,
    width: u32,
    col_tiles: u32,
    tiles: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn sq(v: vec4<f32>) -> vec4<f32> { return v * v; }
fn total(v: vec4<f32>) -> f32 { return v.x + v.y + v.z + v.w; }

@compute @workgroup_size(64)
fn sqdist_block(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let t = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (t >= params.tiles) { return; }
    let r0 = (t / params.col_tiles) * 4u;
    let c0 = (t % params.col_tiles) * 4u;
    let w = params.width;
    // Global row indices (clamped), column indices (clamped).
    let ra = (params.row0 + min(r0, params.rows - 1u)) * w;
    let rb = (params.row0 + min(r0 + 1u, params.rows - 1u)) * w;
    let rc = (params.row0 + min(r0 + 2u, params.rows - 1u)) * w;
    let rd = (params.row0 + min(r0 + 3u, params.rows - 1u)) * w;
    let ca = min(c0, params.n - 1u) * w;
    let cb = min(c0 + 1u, params.n - 1u) * w;
    let cc = min(c0 + 2u, params.n - 1u) * w;
    let cd = min(c0 + 3u, params.n - 1u) * w;
    var aa = vec4<f32>(0.0); var ab = vec4<f32>(0.0); var ac = vec4<f32>(0.0); var ad = vec4<f32>(0.0);
    var ba = vec4<f32>(0.0); var bb = vec4<f32>(0.0); var bc = vec4<f32>(0.0); var bd = vec4<f32>(0.0);
    var ca_ = vec4<f32>(0.0); var cb_ = vec4<f32>(0.0); var cc_ = vec4<f32>(0.0); var cd_ = vec4<f32>(0.0);
    var da = vec4<f32>(0.0); var db = vec4<f32>(0.0); var dc = vec4<f32>(0.0); var dd = vec4<f32>(0.0);
    for (var f = 0u; f < w; f++) {
        let xa = x[ra + f]; let xb = x[rb + f]; let xc = x[rc + f]; let xd = x[rd + f];
        let ya = x[ca + f]; let yb = x[cb + f]; let yc = x[cc + f]; let yd = x[cd + f];
        aa += sq(xa - ya); ab += sq(xa - yb); ac += sq(xa - yc); ad += sq(xa - yd);
        ba += sq(xb - ya); bb += sq(xb - yb); bc += sq(xb - yc); bd += sq(xb - yd);
        ca_ += sq(xc - ya); cb_ += sq(xc - yb); cc_ += sq(xc - yc); cd_ += sq(xc - yd);
        da += sq(xd - ya); db += sq(xd - yb); dc += sq(xd - yc); dd += sq(xd - yd);
    }
    let rows = array<vec4<f32>, 4>(
        vec4<f32>(total(aa), total(ab), total(ac), total(ad)),
        vec4<f32>(total(ba), total(bb), total(bc), total(bd)),
        vec4<f32>(total(ca_), total(cb_), total(cc_), total(cd_)),
        vec4<f32>(total(da), total(db), total(dc), total(dd)));
    for (var i = 0u; i < 4u; i++) {
        let r = r0 + i;
        if (r >= params.rows) { break; }
        let v = rows[i];
        for (var j = 0u; j < 4u; j++) {
            let c = c0 + j;
            if (c < params.n) { out[r * params.n + c] = v[j]; }
        }
    }
}
