// k nearest neighbours: per row of a distance block, the k smallest distances to other points.
//   For r < rows, i = row0 + r: knn_index[i * k + t], knn_dist[i * k + t] for t < k hold the t-th
//   nearest j != i by distance dist[r * ld + j] (j < n), ascending; equal distances keep the smaller
//   j first (the order is by the pair (distance, j)).
// Bindings (group 0): 0 params (uniform TopkParams), 1 dist (read, rows * ld f32 read as vec4;
//                     ld a multiple of 4), 2 knn_index (read_write, N * k u32),
//                     3 knn_dist (read_write, N * k f32),
//                     4 scratch (read_write, rows * CAPACITY vec2<u32>: candidate bits and j).
// One invocation owns one row. `topk_rows` scans the columns [col0, col1) (col0 a multiple of 4)
// four at a time, keeping the best k seen so far as a binary MAX-heap on (distance, j) in its own
// rows of the outputs; the current worst (the root) is held in a register, so a quad with nothing
// below it costs one load and one comparison, and a candidate costs one sift-down (at most
// log2(k) + 1 levels) instead of shifting a sorted list. Candidates are first collected per batch
// of BATCH_QUADS quads into the row's scratch and then inserted together: lavapipe runs 8 rows in
// one SIMD vector, and sifting each row's candidates as they come would run the 8 rows' sift-downs
// one after another. The first dispatch (first = 1) fills the
// heap with sentinels (3e38, 0xffffffff). `topk_sort` then heap-sorts each row into ascending
// order. One dispatch per column chunk: lavapipe stops an invocation after 65,535 loop iterations
// in all, and a quad costs at most
// 1 + 4 (levels + 3) of them (see `knn::topk::topk_rows`).
// Params are `knn::topk::TopkParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dist: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> knn_index: array<u32>;
@group(0) @binding(3) var<storage, read_write> knn_dist: array<f32>;
@group(0) @binding(4) var<storage, read_write> scratch: array<vec2<u32>>;

// Quads scanned per batch: CAPACITY (declared from Rust) candidates, 4 per quad.
const BATCH_QUADS: u32 = CAPACITY / 4u;

@compute @workgroup_size(64)
fn topk_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    _ = scratch[0];
    let r = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (r >= params.rows) { return; }
    let i = params.row0 + r;
    let k = params.k;
    let out = i * k;
    if (params.first == 1u) {
        for (var t = 0u; t < k; t++) {
            knn_dist[out + t] = 3.0e38;
            knn_index[out + t] = 0xffffffffu;
        }
    }
    var worst = knn_dist[out];
    let base = (r * params.ld) / 4u;
    let sbase = r * CAPACITY;
    let q1 = (params.col1 + 3u) / 4u;
    for (var q0 = params.col0 / 4u; q0 < q1; q0 += BATCH_QUADS) {
        // Collect this batch's candidates (below the worst as of the batch start) ...
        var count = 0u;
        let qe = min(q0 + BATCH_QUADS, q1);
        for (var q = q0; q < qe; q++) {
            let v = dist[base + q];
            if (any(v < vec4<f32>(worst))) {
                for (var c = 0u; c < 4u; c++) {
                    let j = q * 4u + c;
                    let d = v[c];
                    if (d < worst && j != i && j < params.col1) {
                        scratch[sbase + count] = vec2<u32>(bitcast<u32>(d), j);
                        count++;
                    }
                }
            }
        }
        // ... then insert them, in column order: every row of the subgroup sifts at the same time.
        // Columns arrive in ascending j, so a tie with the worst never displaces it.
        for (var t = 0u; t < count; t++) {
            let e = scratch[sbase + t];
            let d = bitcast<f32>(e.x);
            if (d < worst) {
                sift_down(out, k, 0u, d, e.y);
                worst = knn_dist[out];
            }
        }
    }
}

@compute @workgroup_size(64)
fn topk_sort(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    _ = dist[0];
    _ = scratch[0];
    let r = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (r >= params.rows) { return; }
    let out = (params.row0 + r) * params.k;
    // Heap sort: move the root (the worst left) to the end, shrink, sift the displaced entry down.
    for (var end = params.k - 1u; end > 0u; end--) {
        let d = knn_dist[out + end];
        let j = knn_index[out + end];
        knn_dist[out + end] = knn_dist[out];
        knn_index[out + end] = knn_index[out];
        sift_down(out, end, 0u, d, j);
    }
}
