// What spread.wgsl and interpolate.wgsl share (appended to both by Rust): the Lagrange basis
// of a box's four nodes on an axis, and the box a chunk of points belongs to.

// Lagrange basis on the nodes 1/8, 3/8, 5/8, 7/8 (denominators -48/512, 16/512, -16/512, 48/512).
fn lagrange(u: f32) -> vec4<f32> {
    let d0 = u - 0.125;
    let d1 = u - 0.375;
    let d2 = u - 0.625;
    let d3 = u - 0.875;
    return vec4<f32>(-d1 * d2 * d3 * (512.0 / 48.0),
                     d0 * d2 * d3 * (512.0 / 16.0),
                     -d0 * d1 * d3 * (512.0 / 16.0),
                     d0 * d1 * d2 * (512.0 / 48.0));
}

// The box of chunk `chunk`: the largest b with chunk_starts[b] <= chunk (empty boxes share their
// start with the next box), by binary search.
fn chunk_box(chunk: u32) -> u32 {
    var lo = 0u;
    var hi = params.boxes;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (chunk_starts[mid] <= chunk) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}
