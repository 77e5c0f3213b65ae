// What near.wgsl and interpolate.wgsl share (appended to both by Rust): which boxes sum their
// near field exactly, and where the points of a row of neighbouring boxes lie in the sort.
// The near field is on where the grid is wider than NEAR_MIN_WIDTH and the 3 x 3 boxes hold at
// most NEAR_CAP points (both declared from Rust).

// Sort slots [x, y) of the points in boxes max(bx, 1) - 1 ..= min(bx + 1, I - 1) of row r:
// consecutive boxes of a row are one contiguous slice of the sort.
fn row_slots(bx: u32, r: u32) -> vec2<u32> {
    let first = r * params.intervals + max(bx, 1u) - 1u;
    let last = r * params.intervals + min(bx + 1u, params.intervals - 1u);
    return vec2<u32>(starts[first], starts[last + 1u]);
}

fn near_on(bx: u32, by: u32) -> bool {
    if (!(grid.width > NEAR_MIN_WIDTH)) {
        return false;
    }
    var count = 0u;
    for (var r = max(by, 1u) - 1u; r <= min(by + 1u, params.intervals - 1u); r++) {
        let s = row_slots(bx, r);
        count += s.y - s.x;
    }
    return count <= NEAR_CAP;
}
