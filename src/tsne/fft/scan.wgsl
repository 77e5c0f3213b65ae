// t-SNE FFT repulsion, `scan`: exclusive prefix sum of counts (in the counting sort, of the box
// counts and then of the key counts; after chunks.wgsl, of the chunks per box).
//   starts[b] = sum_{b' < b} counts[b'],  starts[boxes] = n
// (params.boxes is the number of counts: boxes, or the keys of count.wgsl.)
// Bindings (group 0): 0 params (uniform FftParams), 1 counts (read u32, one per box),
//   2 starts (read_write u32, boxes + 1), 3 sums (read_write u32, GROUPS * LANES chunk sums, then
//   GROUPS block offsets).
// Three entry points, one after the other. Workgroup g of GROUPS owns the contiguous block
// g ceil(boxes / GROUPS) .. of boxes, and its invocation t (of LANES) a contiguous chunk of
// ceil(block / LANES) of them:
//   `scan_chunks` (GROUPS workgroups of LANES): sums[LANES g + t] = the sum of chunk (g, t).
//   `scan_offsets` (one workgroup of GROUPS): invocation g totals block g's chunk sums, then
//     sums[GROUPS LANES + g] = the sum of the block totals before g.
//   `scan_counts` (GROUPS workgroups of LANES): each invocation starts from its block's offset
//     plus the chunk sums before it in the block and writes the running starts of its chunk; the
//     last invocation of the last workgroup writes starts[boxes].
// Many small workgroups, so that every one of lavapipe's threads works (one workgroup runs on one
// thread; docs/kernel-notes.md has the times), and counts are read twice in all, as a single-pass
// scan reads them.
// Integer sums: the same in every run whatever order the workgroups run in.
// Launched from sort.rs, which declares Params (`FftParams`), LANES and GROUPS (`SCAN_LANES`,
// `SCAN_GROUPS`) before this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read_write> starts: array<u32>;
@group(0) @binding(3) var<storage, read_write> sums: array<u32>;

// From Rust: LANES, the invocations per workgroup of `scan_chunks` and `scan_counts`; GROUPS,
// their workgroups and the size of `scan_offsets`' one workgroup.

// Boxes [x, y) of invocation lid's chunk of block g.
fn chunk_of(g: u32, lid: u32) -> vec2<u32> {
    let block = (params.boxes + GROUPS - 1u) / GROUPS;
    let block_end = min((g + 1u) * block, params.boxes);
    let chunk = (block + LANES - 1u) / LANES;
    let first = min(g * block + lid * chunk, block_end);
    return vec2<u32>(first, min(first + chunk, block_end));
}

@compute @workgroup_size(LANES)
fn scan_chunks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    _ = starts[0];
    let c = chunk_of(wg.x, lid);
    var total = 0u;
    for (var b = c.x; b < c.y; b++) {
        total += counts[b];
    }
    sums[wg.x * LANES + lid] = total;
}

var<workgroup> block_total: array<u32, GROUPS>;

@compute @workgroup_size(GROUPS)
fn scan_offsets(@builtin(local_invocation_index) lid: u32) {
    _ = params.boxes;
    _ = counts[0];
    _ = starts[0];
    var total = 0u;
    for (var t = 0u; t < LANES; t++) {
        total += sums[lid * LANES + t];
    }
    block_total[lid] = total;
    workgroupBarrier();
    var offset = 0u;
    for (var h = 0u; h < lid; h++) {
        offset += block_total[h];
    }
    sums[GROUPS * LANES + lid] = offset;
}

@compute @workgroup_size(LANES)
fn scan_counts(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wg.x;
    let c = chunk_of(g, lid);
    var running = sums[GROUPS * LANES + g];
    for (var t = 0u; t < lid; t++) {
        running += sums[g * LANES + t];
    }
    for (var b = c.x; b < c.y; b++) {
        starts[b] = running;
        running += counts[b];
    }
    if (g == GROUPS - 1u && lid == LANES - 1u) {
        starts[params.boxes] = running;
    }
}
