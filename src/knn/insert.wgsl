// Exact kNN: insert a chunk's candidates (from scan.wgsl) into each row's heap.
//   For r < rows, i = row0 + r: knn_index[i * k ..], knn_dist[i * k ..] hold a binary MAX-heap on
//   (distance, j) of the k smallest pairs (d_ij, j), j != i (when exclude_self = 1: rows and
//   columns are the same points; 0 when the columns are other points, e.g. centroids), seen so far; equal distances
//   rank the smaller j first, as the CPU reference's sort does.
// Bindings (group 0): 0 params (uniform KnnInsertParams), 1 count (read_write, rows u32),
//   2 cand (read_write, rows * cap vec2<u32>: (distance bits, j); reordered in place, the next
//   chunk's scan overwrites it), 3 knn_index (read_write, N * k u32), 4 knn_dist (read_write,
//   N * k f32).
// One invocation owns one row: on the first chunk (first = 1) it first bounds the k smallest
// distances: tau = the lowest of 16 equal steps over the candidates' distance range [lo, hi] at
// or under which at least k candidates lie (two passes: lo and hi, then the 16 counts in vector
// registers), so every pair of the k smallest has d <= tau and the rest are skipped; it builds
// the heap from its first k candidates at or under tau (sentinels (3e38, 0xffffffff) where there
// are fewer) by one heapify. With unbounded candidates ~94 of a block's 255 own-cluster pairs
// replaced the root after the first k, each a sift; at or under tau about 255 / 16 remain. Then
// it inserts
// its other candidates (count[r] in all, at most cap), each below the root replacing it and
// sifting down (at most log2(k) + 1 levels), and resets count[r] to 0 for the next chunk.
// The candidates go in batches of BATCH: first the ones that beat the current root are moved,
// in order, to the front of the batch's slots (a candidate that does not beat the root never
// will: the root only shrinks), then those kept are inserted (each checked again against the
// root). The 8 lanes of a SIMD vector run one row each, and a sift runs for all of them when
// one lane needs it: filtering first lines the sifts of the lanes up, instead of each lane's
// rare replacement costing all eight a sift. Loop iterations per invocation: under
// k (levels + 2) + cap (levels + 6), kept under lavapipe's cap by the launcher
// (`knn::insert::knn_chunk_cap`). `topk_sort` in topk.wgsl sorts the heaps at the end.
// Params are `knn::insert::KnnInsertParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> count: array<u32>;
@group(0) @binding(2) var<storage, read_write> cand: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> knn_index: array<u32>;
@group(0) @binding(4) var<storage, read_write> knn_dist: array<f32>;

// Candidates filtered against the root per batch (see the header).
const BATCH: u32 = 16u;

@compute @workgroup_size(64)
fn knn_insert(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let r = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (r >= params.rows) { return; }
    let i = params.row0 + r;
    let k = params.k;
    let out = i * k;
    let len = min(count[r], params.cap);
    count[r] = 0u;
    let base = r * params.cap;
    var t = 0u;
    if (params.first == 1u) {
        // tau (see the header): the range of the row's candidates, then how many lie at or under
        // each of 16 equal steps through it (the last step is hi itself).
        var lo = 3.0e38;
        var hi = 0.0;
        var real = 0u;
        for (var u = 0u; u < len; u++) {
            let e = cand[base + u];
            if (params.exclude_self == 1u && e.y == i) { continue; }
            let d = bitcast<f32>(e.x);
            lo = min(lo, d);
            hi = max(hi, d);
            real++;
        }
        var tau = 3.0e38;
        if (real > k) {
            let step = (hi - lo) / 16.0;
            let e0 = lo + step * vec4<f32>(1.0, 2.0, 3.0, 4.0);
            let e1 = lo + step * vec4<f32>(5.0, 6.0, 7.0, 8.0);
            let e2 = lo + step * vec4<f32>(9.0, 10.0, 11.0, 12.0);
            let e3 = lo + step * vec4<f32>(13.0, 14.0, 15.0, 16.0);
            var c0 = vec4<u32>(0u);
            var c1 = vec4<u32>(0u);
            var c2 = vec4<u32>(0u);
            var c3 = vec4<u32>(0u);
            for (var u = 0u; u < len; u++) {
                let e = cand[base + u];
                if (params.exclude_self == 1u && e.y == i) { continue; }
                let d = vec4<f32>(bitcast<f32>(e.x));
                c0 += vec4<u32>(d <= e0);
                c1 += vec4<u32>(d <= e1);
                c2 += vec4<u32>(d <= e2);
                c3 += vec4<u32>(d <= e3);
            }
            // The first step holding k, from the top down (counts grow with the step); hi
            // when none below it does.
            tau = hi;
            let ks = vec4<u32>(k);
            let edges = array<vec4<f32>, 4>(e3, e2, e1, e0);
            let counts = array<vec4<u32>, 4>(c3, c2, c1, c0);
            for (var q = 0u; q < 4u; q++) {
                let ok = counts[q] >= ks;
                let edge = edges[q];
                if (ok.w) { tau = edge.w; }
                if (ok.z) { tau = edge.z; }
                if (ok.y) { tau = edge.y; }
                if (ok.x) { tau = edge.x; }
            }
        }
        // The first k candidates at or under tau go in as they come, sentinels (3e38,
        // 0xffffffff) fill the rest, and one heapify orders them: about a third of the sifting of
        // inserting them one by one into a heap of sentinels.
        var filled = 0u;
        loop {
            if (t >= len || filled >= k) { break; }
            let e = cand[base + t];
            t++;
            if (params.exclude_self == 1u && e.y == i) { continue; }
            if (bitcast<f32>(e.x) > tau) { continue; }
            knn_dist[out + filled] = bitcast<f32>(e.x);
            knn_index[out + filled] = e.y;
            filled++;
        }
        for (var s = filled; s < k; s++) {
            knn_dist[out + s] = 3.0e38;
            knn_index[out + s] = 0xffffffffu;
        }
        for (var h = k / 2u; h > 0u; h--) {
            sift_down(out, k, h - 1u, knn_dist[out + h - 1u], knn_index[out + h - 1u]);
        }
    }
    var worst_d = knn_dist[out];
    var worst_j = knn_index[out];
    loop {
        if (t >= len) { break; }
        let end = min(t + BATCH, len);
        // Keep the batch's candidates that beat the root, in order, at slots t .. kept - 1.
        var kept = t;
        for (var u = t; u < end; u++) {
            let e = cand[base + u];
            if ((params.exclude_self == 0u || e.y != i)
                && worse(worst_d, worst_j, bitcast<f32>(e.x), e.y)) {
                cand[base + kept] = e;
                kept++;
            }
        }
        for (var u = t; u < kept; u++) {
            let e = cand[base + u];
            let d = bitcast<f32>(e.x);
            if (worse(worst_d, worst_j, d, e.y)) {
                sift_down(out, k, 0u, d, e.y);
                worst_d = knn_dist[out];
                worst_j = knn_index[out];
            }
        }
        t = end;
    }
}
