// Losses, forward, stage 2 of 2: add the mean loss of this batch to a running sum.
//   acc[0] += (sum of partial[0..partials]) * inv_len   (inv_len = 1 / len: the batch mean)
//   acc[1] += 1                                         (batches summed so far)
// The caller reads acc every k steps to get the mean loss (acc[0] / acc[1]) and zeroes it.
// Bindings (group 0): 0 params (uniform LossParams), 1 partial (read), 2 acc (read_write, 2 f32).
// A single workgroup of 256: each invocation sums a strided share of the partials, a tree in
// workgroup memory sums those, invocation 0 updates acc. No atomics. Params are
// `ops::loss::LossParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;

var<workgroup> sums: array<f32, GROUP>;

@compute @workgroup_size(GROUP)
fn loss_reduce(@builtin(local_invocation_index) lid: u32) {
    var own = 0.0;
    for (var i = lid; i < params.partials; i += GROUP) {
        own += partial[i];
    }
    sums[lid] = own;
    workgroupBarrier();
    for (var width = GROUP / 2u; width > 0u; width /= 2u) {
        if (lid < width) {
            sums[lid] += sums[lid + width];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        acc[0] += sums[0] * params.inv_len;
        acc[1] += 1.0;
    }
}
