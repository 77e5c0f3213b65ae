// t-SNE k nearest neighbours: per row of a distance block, the k smallest distances to other points.
//   For r < rows, i = row0 + r: knn_index[i * k + t], knn_dist[i * k + t] for t < k hold the t-th
//   nearest j != i by out distance dist[r * n + j], ascending; equal distances keep the smaller j first.
// Bindings (group 0): 0 params (uniform TopkParams), 1 dist (read, rows * n f32),
//                     2 knn_index (read_write, N * k u32), 3 knn_dist (read_write, N * k f32).
// One invocation owns one row: it scans the n distances keeping a sorted list of the best k
// (insertion; a new candidate is tested against the current k-th distance first, so most are
// rejected by one comparison). k <= K_MAX.
// Params mirror `tsne::affinity::TopkParams`.

struct Params {
    n: u32,
    rows: u32,
    row0: u32,
    k: u32,
}

const K_MAX: u32 = 128u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dist: array<f32>;
@group(0) @binding(2) var<storage, read_write> knn_index: array<u32>;
@group(0) @binding(3) var<storage, read_write> knn_dist: array<f32>;

@compute @workgroup_size(64)
fn topk_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let r = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (r >= params.rows) { return; }
    let i = params.row0 + r;
    let k = params.k;
    var best_d: array<f32, K_MAX>;
    var best_j: array<u32, K_MAX>;
    for (var t = 0u; t < k; t++) {
        best_d[t] = 3.0e38;
        best_j[t] = i;
    }
    var worst = 3.0e38;
    let base = r * params.n;
    for (var j = 0u; j < params.n; j++) {
        let d = dist[base + j];
        if (d < worst && j != i) {
            var p = k - 1u;
            while (p > 0u && best_d[p - 1u] > d) {
                best_d[p] = best_d[p - 1u];
                best_j[p] = best_j[p - 1u];
                p--;
            }
            best_d[p] = d;
            best_j[p] = j;
            worst = best_d[k - 1u];
        }
    }
    for (var t = 0u; t < k; t++) {
        knn_index[i * k + t] = best_j[t];
        knn_dist[i * k + t] = best_d[t];
    }
}
