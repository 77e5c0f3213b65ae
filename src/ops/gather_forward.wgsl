// Gather rows of a large array, one slice at a time: out[r, c] = src[idx[r] - first_row, c] for the
// rows r whose index idx[r] falls inside this slice [first_row, first_row + slice_rows); other rows
// of `out` are left as they are (another slice's dispatch writes them).
// Large datasets live in several buffers (`gpu::BufferSlices`), each small enough to bind whole.
// Bindings (group 0): 0 params (uniform GatherParams), 1 idx (read, u32 per output row),
//   2 src (read, this slice's rows), 3 out (write, rows x row_len).
// One invocation copies 4 consecutive elements of one output row.
// Params are `ops::gather::GatherParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn gather_rows_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let chunks_per_row = (params.row_len + 3u) / 4u;
    let t = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (t >= params.rows * chunks_per_row) { return; }
    let r = t / chunks_per_row;
    let c0 = (t % chunks_per_row) * 4u;
    let source_row = idx[r];
    if (source_row < params.first_row || source_row >= params.first_row + params.slice_rows) { return; }
    let src_base = (source_row - params.first_row) * params.row_len;
    let out_base = r * params.row_len;
    for (var k = 0u; k < 4u; k++) {
        let c = c0 + k;
        if (c < params.row_len) { out[out_base + c] = src[src_base + c]; }
    }
}
