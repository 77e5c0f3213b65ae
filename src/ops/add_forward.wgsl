// Elementwise add (gradient fan-in): out = a + b.
// Bindings (group 0): 0 params (uniform AddParams), 1 a (read), 2 b (read), 3 out (write; a
//   different buffer from a and b).
// One invocation computes 4 consecutive elements; groups folded into y past 65,535.
// Params are `ops::add::AddParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const PER_INVOCATION: u32 = 4u;

@compute @workgroup_size(256)
fn add_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let start = ((wg.x + wg.y * nwg.x) * 256u + lid) * PER_INVOCATION;
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let i = start + k;
        if (i < params.len) { out[i] = a[i] + b[i]; }
    }
}
