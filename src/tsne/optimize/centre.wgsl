// t-SNE recentring, in place: y[i][c] = y[i][c] - mean_c, with mean_c = scalars[mean_slot + c]
// (written by the sum just before). Translation changes neither P, Q nor the gradient, so the
// optimizer recentres once a batch of iterations, only to keep the embedding from drifting.
// Bindings (group 0): 0 params (uniform CentreParams), 1 scalars (read),
//                     2 y (read_write, n * DIMS).
// One invocation per coordinate, index i * DIMS + c.
// DIMS (2 or 3) is declared by the Rust side (`tsne::with_dims`).
// Params are `tsne::optimize::CentreParams` (declared from Rust).


@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> scalars: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn centre(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let e = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (e >= params.values) { return; }
    y[e] = y[e] - scalars[params.mean_slot + e % DIMS];
}
