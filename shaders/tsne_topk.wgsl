// t-SNE k nearest neighbours: per row of a distance block, the k smallest distances to other points.
//   For r < rows, i = row0 + r: knn_index[i * k + t], knn_dist[i * k + t] for t < k hold the t-th
//   nearest j != i by out distance dist[r * n + j], ascending; equal distances keep the smaller j first.
// Bindings (group 0): 0 params (uniform TopkParams), 1 dist (read, rows * n f32),
//                     2 knn_index (read_write, N * k u32), 3 knn_dist (read_write, N * k f32).
// The columns are scanned in chunks [col0, col1), one dispatch each (first = 1 for the first chunk
// clears the lists): lavapipe stops an invocation after 65,535 loop iterations in all, and a chunk
// of c columns costs at most c (k + 1) of them.
// One invocation owns one row: it scans the chunk's distances keeping a sorted list of the best k in its
// output rows (insertion; a new candidate is tested against the current k-th distance, held in a
// register, first, so most are rejected by one comparison). k <= K_MAX.
// Params mirror `tsne::affinity::TopkParams`.

struct Params {
    n: u32,
    rows: u32,
    row0: u32,
    k: u32,
    col0: u32,
    col1: u32,
    first: u32,
    _pad0: u32,
}

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
    // The sorted list lives in the invocation's own rows of the outputs (no private array: large
    // per-invocation arrays misbehaved on lavapipe).
    let out = i * k;
    if (params.first == 1u) {
        for (var t = 0u; t < k; t++) {
            knn_dist[out + t] = 3.0e38;
            knn_index[out + t] = i;
        }
    }
    var worst = knn_dist[out + k - 1u];
    let base = r * params.n;
    for (var j = params.col0; j < params.col1; j++) {
        let d = dist[base + j];
        if (d < worst && j != i) {
            var p = k - 1u;
            while (p > 0u && knn_dist[out + p - 1u] > d) {
                knn_dist[out + p] = knn_dist[out + p - 1u];
                knn_index[out + p] = knn_index[out + p - 1u];
                p--;
            }
            knn_dist[out + p] = d;
            knn_index[out + p] = j;
            worst = knn_dist[out + k - 1u];
        }
    }
}
