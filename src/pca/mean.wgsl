// PCA centring, two entry points over x = rows x width vec4 (features padded to a multiple of 4):
//   column_mean:   mean[c] = (accumulate ? mean[c] : 0) + scale * sum_r x[r][c]   (scale = 1 / N)
//                  (accumulate lets a matrix kept in several buffer slices be summed slice by slice)
//   subtract_mean: x[r][c] -= mean[c]
// Bindings (group 0): 0 params (uniform MeanParams), 1 x (read_write, array<vec4<f32>>),
//                     2 mean (read_write, width vec4).
// column_mean: one invocation per vec4 column; subtract_mean: one invocation per vec4 of x.
// Params are `pca::mean::MeanParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> mean: array<vec4<f32>>;

@compute @workgroup_size(64)
fn column_mean(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let c = (wg.x + wg.y * nwg.x) * 64u + lid;
    if (c >= params.width) { return; }
    var acc = vec4<f32>(0.0);
    for (var r = 0u; r < params.rows; r++) {
        acc += x[r * params.width + c];
    }
    mean[c] = select(vec4<f32>(0.0), mean[c], params.accumulate == 1u) + params.scale * acc;
}

@compute @workgroup_size(256)
fn subtract_mean(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let e = (wg.x + wg.y * nwg.x) * 256u + lid;
    if (e >= params.rows * params.width) { return; }
    x[e] = x[e] - mean[e % params.width];
}
