// t-SNE FFT repulsion, step 3: exclusive prefix sum of the box counts (counting sort, part 2).
//   starts[b] = sum_{b' < b} counts[b'],  starts[boxes] = n
// ("Box" here is the sort key, a sub-box: see tsne_fft_count.wgsl; params.boxes counts keys.)
// Bindings (group 0): 0 params (uniform FftParams), 1 counts (read u32, one per box),
//   2 starts (read_write u32, boxes + 1).
// ONE workgroup of 256 invocations: invocation t owns a contiguous chunk of ceil(boxes / 256)
// boxes; it sums its chunk, the 256 chunk sums are scanned in workgroup memory (Hillis-Steele),
// then each invocation writes the running starts of its chunk.
// Params mirror `tsne::fft_repulsion::FftParams`.

struct Params {
    n: u32, intervals: u32, nodes: u32, len: u32,
    inv_ns: f32, boxes: u32, lines: u32, channels: u32,
    line_stride: u32, elem_stride: u32, chan_stride: u32, valid: u32,
    inverse: u32, ns: u32, line_fast: u32, tw_stride: u32,
    gated: u32, out_valid: u32, fused: u32, sub: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read_write> starts: array<u32>;

const GROUP: u32 = 256u;
var<workgroup> partial: array<u32, GROUP>;

@compute @workgroup_size(256)
fn scan_counts(@builtin(local_invocation_index) lid: u32) {
    let chunk = (params.boxes + GROUP - 1u) / GROUP;
    let first = min(lid * chunk, params.boxes);
    let last = min(first + chunk, params.boxes);
    var total = 0u;
    for (var b = first; b < last; b++) {
        total += counts[b];
    }
    partial[lid] = total;
    workgroupBarrier();
    // Inclusive Hillis-Steele scan of the chunk sums.
    for (var offset = 1u; offset < GROUP; offset = offset * 2u) {
        var add = 0u;
        if (lid >= offset) {
            add = partial[lid - offset];
        }
        workgroupBarrier();
        partial[lid] += add;
        workgroupBarrier();
    }
    var running = partial[lid] - total;
    for (var b = first; b < last; b++) {
        starts[b] = running;
        running += counts[b];
    }
    if (lid == GROUP - 1u) {
        starts[params.boxes] = partial[GROUP - 1u];
    }
}
