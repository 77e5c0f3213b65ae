// The binary MAX-heaps on (distance, j) that the kNN kernels keep per row in knn_index /
// knn_dist (which the including kernel declares): insert.wgsl and topk.wgsl append this file.

// (da, ja) is worse (larger) than (db, jb).
fn worse(da: f32, ja: u32, db: f32, jb: u32) -> bool {
    return da > db || (da == db && ja > jb);
}

// Put (d, j) at position start of the heap knn[out .. out + len) and sift it down.
fn sift_down(out: u32, len: u32, start: u32, d: f32, j: u32) {
    var p = start;
    loop {
        let l = 2u * p + 1u;
        if (l >= len) { break; }
        var c = l;
        var cd = knn_dist[out + l];
        var ci = knn_index[out + l];
        if (l + 1u < len) {
            let rd = knn_dist[out + l + 1u];
            let ri = knn_index[out + l + 1u];
            if (worse(rd, ri, cd, ci)) { c = l + 1u; cd = rd; ci = ri; }
        }
        if (!worse(cd, ci, d, j)) { break; }
        knn_dist[out + p] = cd;
        knn_index[out + p] = ci;
        p = c;
    }
    knn_dist[out + p] = d;
    knn_index[out + p] = j;
}
