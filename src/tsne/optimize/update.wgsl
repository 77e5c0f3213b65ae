// t-SNE gradient step with gains and momentum (as sklearn / bhtsne), per coordinate c of point i:
//   grad = 4 (exaggeration * attr[i][c] - rep[i][c] / Z),     Z = scalars[0]
//   gain = gain + 0.2 where grad * update < 0 (sign changed), else 0.8 * gain; gain >= min_gain
//   update = momentum * update - learning_rate * gain * grad
//   update = update * max_step / |update| where the point's step |update| > max_step
//   y[i][c] = y[i][c] + update (in place; the optimizer recentres once a batch, not every step)
// The cap (openTSNE's and FIt-SNE's max_step_norm) keeps a point whose row of P outweighs its
// step size (a hub that many points list as their nearest neighbour) from being thrown out.
// rep is the repulsion layout [sum_j w_ij^2 (y_i - y_j) (DIMS values), sum_j w_ij] per point.
// Bindings (group 0): 0 params (uniform UpdateParams; values = n * DIMS), 1 y (read_write,
//   n * DIMS), 2 attr (read, n * DIMS), 3 rep (read, n * (DIMS + 1)), 4 scalars (read; [0] = Z),
//   5 gains (read_write, n * DIMS), 6 update (read_write, n * DIMS).
// One invocation updates one point (its step's norm needs all its coordinates).
// DIMS (2 or 3) is declared by the Rust side (`tsne::with_dims`); 2-D runs update_2d.wgsl.
// Params are `tsne::optimize::UpdateParams` (declared from Rust).


@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> attr: array<f32>;
@group(0) @binding(3) var<storage, read> rep: array<f32>;
@group(0) @binding(4) var<storage, read> scalars: array<f32>;
@group(0) @binding(5) var<storage, read_write> gains: array<f32>;
@group(0) @binding(6) var<storage, read_write> update: array<f32>;

@compute @workgroup_size(256)
fn update_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (i * DIMS >= params.values) { return; }
    let z = scalars[0];
    var step: array<f32, DIMS>;
    var norm2 = 0.0;
    for (var c = 0u; c < DIMS; c++) {
        let e = i * DIMS + c;
        let grad = 4.0 * (params.exaggeration * attr[e] - rep[i * (DIMS + 1u) + c] / z);
        let u = update[e];
        let g = max(select(gains[e] * 0.8, gains[e] + 0.2, grad * u < 0.0), params.min_gain);
        gains[e] = g;
        step[c] = params.momentum * u - params.learning_rate * g * grad;
        norm2 += step[c] * step[c];
    }
    let norm = sqrt(norm2);
    let scale = select(1.0, params.max_step / norm, norm > params.max_step);
    for (var c = 0u; c < DIMS; c++) {
        let e = i * DIMS + c;
        update[e] = step[c] * scale;
        y[e] = y[e] + step[c] * scale;
    }
}
