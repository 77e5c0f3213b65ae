// t-SNE perplexity calibration, in place: per row i, squared distances d_ij become p_{j|i}.
//   p_{j|i} = exp(-beta_i (d_ij - dmin_i)) / sum_k exp(-beta_i (d_ik - dmin_i))   (k != i)
//   H_i = ln(S) + beta_i * sum_j (d_ij - dmin_i) p_{j|i}  (natural log; S the sum above)
// beta_i found by bisection (start 1; double / halve until bracketed, then midpoints) until
// |H_i - ln(perplexity)| <= tol or max_steps steps. Subtracting dmin_i changes nothing but the
// range of exp. beta stops doubling at beta_max: a row with more ties at dmin_i than the
// perplexity (copies of a point) never gets its entropy down to ln(perplexity), and its p_{j|i}
// is then uniform over the ties (exp(-beta_max d) is 0 for every d not at dmin_i).
// Rows are `len` entries long, row i at [i * len, (i + 1) * len). With skip_diag = 1 (dense rows of
// all N points) entry i of row i is the point itself: it is excluded and set to 0.
// lavapipe stops an invocation after 65,535 loop iterations in all, and a step costs `len`, so the
// bisection is split over several dispatches that keep their state per row in `state`
// (8 f32: beta, lo, hi, dmin, has_lo, has_hi, done, steps taken):
//   start = 1: dmin and the initial state, then `steps` steps;  start = 0: `steps` more steps;
//   finish = 1: no steps; write p_{j|i} from the final beta.
// Bindings (group 0): 0 params (uniform PerplexityParams), 1 rows (read_write, in: d, out: p),
//                     2 state (read_write, 8 f32 per row).
// One invocation calibrates one row.
// Params are `tsne::affinity::PerplexityParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> rows: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;

@compute @workgroup_size(64)
fn perplexity_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (i >= params.rows) { return; }
    let base = i * params.len;
    let st = i * 8u;
    // The excluded entry: i itself for dense rows, none (len) for neighbour lists.
    let self_j = select(params.len, i, params.skip_diag == 1u);
    if (params.start == 1u) {
        var m = 3.0e38;
        for (var j = 0u; j < params.len; j++) {
            m = min(m, select(rows[base + j], 3.0e38, j == self_j));
        }
        state[st] = 1.0;
        state[st + 1u] = 0.0;
        state[st + 2u] = 0.0;
        state[st + 3u] = m;
        state[st + 4u] = 0.0;
        state[st + 5u] = 0.0;
        state[st + 6u] = 0.0;
        state[st + 7u] = 0.0;
    }
    var beta = state[st];
    var lo = state[st + 1u];
    var hi = state[st + 2u];
    let dmin = state[st + 3u];
    var has_lo = state[st + 4u] > 0.5;
    var has_hi = state[st + 5u] > 0.5;
    var done = state[st + 6u] > 0.5;
    var taken = state[st + 7u];
    if (params.finish == 1u) {
        var s = 0.0;
        for (var j = 0u; j < params.len; j++) {
            s += select(exp(-beta * (rows[base + j] - dmin)), 0.0, j == self_j);
        }
        for (var j = 0u; j < params.len; j++) {
            let e = select(exp(-beta * (rows[base + j] - dmin)), 0.0, j == self_j);
            rows[base + j] = e / s;
        }
        return;
    }
    for (var step = 0u; step < params.steps; step++) {
        if (done) { break; }
        var s = 0.0;
        var sd = 0.0;
        for (var j = 0u; j < params.len; j++) {
            let d = rows[base + j] - dmin;
            let e = select(exp(-beta * d), 0.0, j == self_j);
            s += e;
            sd += d * e;
        }
        taken += 1.0;
        let h = log(s) + beta * sd / s;
        let diff = h - params.log_perplexity;
        if (abs(diff) <= params.tol) {
            done = true;
            break;
        }
        if (diff > 0.0) {
            if (beta >= params.beta_max) {
                done = true;
                break;
            }
            lo = beta;
            has_lo = true;
            beta = min(select(beta * 2.0, 0.5 * (beta + hi), has_hi), params.beta_max);
        } else {
            hi = beta;
            has_hi = true;
            beta = select(beta * 0.5, 0.5 * (beta + lo), has_lo);
        }
    }
    state[st] = beta;
    state[st + 1u] = lo;
    state[st + 2u] = hi;
    state[st + 4u] = select(0.0, 1.0, has_lo);
    state[st + 5u] = select(0.0, 1.0, has_hi);
    state[st + 6u] = select(0.0, 1.0, done);
    state[st + 7u] = taken;
}
