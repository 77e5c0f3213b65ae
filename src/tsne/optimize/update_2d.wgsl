// t-SNE gradient step for 2-D embeddings, one point per invocation: the same step as
// update.wgsl (gains +0.2 / x0.8 floored at min_gain, momentum, y moved in place), per
// coordinate c of point i:
//   grad = 4 (exaggeration * attr[i][c] - rep[i][c] / Z),     Z = scalars[0]
//   gain = gain + 0.2 where grad * update < 0 (sign changed), else 0.8 * gain; gain >= min_gain
//   update = momentum * update - learning_rate * gain * grad
//   update = update * max_step / |update| where the point's step |update| > max_step
//   y[i][c] = y[i][c] + update
// The cap (openTSNE's and FIt-SNE's max_step_norm) keeps a point whose row of P outweighs its
// step size (a hub that many points list as their nearest neighbour) from being thrown out.
// Why a 2-D kernel: lavapipe loads and stores lane-varying storage addresses lane by lane, so a
// point's two coordinates as one vec2 cost one access where update.wgsl's one invocation
// per coordinate costs two.
// Bindings (group 0): 0 params (uniform UpdateParams; values = 2n), 1 y (read_write, n vec2),
//   2 attr (read, n vec2), 3 rep (read, 3n f32: [sum_j w_ij^2 (y_i - y_j) (2 values),
//   sum_j w_ij] per point), 4 scalars (read; [0] = Z), 5 gains (read_write, n vec2),
//   6 update (read_write, n vec2).
// Params are `tsne::optimize::UpdateParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> y: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> attr: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> rep: array<f32>;
@group(0) @binding(4) var<storage, read> scalars: array<f32>;
@group(0) @binding(5) var<storage, read_write> gains: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read_write> update: array<vec2<f32>>;

@compute @workgroup_size(256)
fn update_step_2d(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (2u * i >= params.values) { return; }
    let z = scalars[0];
    let force = vec2<f32>(rep[3u * i], rep[3u * i + 1u]);
    let grad = 4.0 * (params.exaggeration * attr[i] - force / z);
    let u = update[i];
    let gain = gains[i];
    let g = max(select(gain * 0.8, gain + 0.2, grad * u < vec2<f32>(0.0)), vec2<f32>(params.min_gain));
    let step = params.momentum * u - params.learning_rate * g * grad;
    let norm = length(step);
    let u_next = select(step, step * (params.max_step / norm), norm > params.max_step);
    gains[i] = g;
    update[i] = u_next;
    y[i] = y[i] + u_next;
}
