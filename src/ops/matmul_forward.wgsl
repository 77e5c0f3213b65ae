// Matmul, register-blocked: C[M,N] = op(A)[M,K] * op(B)[K,N] (+ bias[N] added to every row).
//   All arrays row-major. op(A) = A stored [M,K], or A^T with A stored [K,M] (transpose_a);
//   op(B) = B stored [K,N], or B^T with B stored [N,K] (transpose_b).
// Bindings (group 0): 0 params (uniform MatmulParams), 1 a (read), 2 b (read),
//   3 bias (read; a 1-element dummy when has_bias == 0), 4 c (write).
// Two kernel shapes share this file (src/ops/matmul.rs picks one per adapter):
// - matmul_{nn,nt,tn,tt}: one invocation computes an 8x8 block of C (rows r0..r0+8, columns
//   c0..c0+8) held in 16 NAMED vec4 accumulators `acc{row}_{half}`. Each k step loads 8 values of
//   op(A) and two vec4 of op(B) and does 16 vec4 FMAs. Workgroups of 64 invocations walk a flat
//   list of blocks (`block_rc`: row block = block / blocks_n, column block = block % blocks_n).
// - matmul_sg{32,64}_{nn,nt,tn,tt}: one workgroup is one subgroup of 8 lanes computing a 32- or
//   64-row x 32-column tile; lane l owns columns 4l..4l+4 of every row (accumulators `acc{row}`).
//   Each k step every lane loads rows/8 values of op(A) and 4 of op(B), and subgroupBroadcast
//   hands each op(A) value to all 8 lanes: on lavapipe every storage read is a loop over the
//   lanes, so reading once per subgroup instead of once per lane is what makes it fast.
//   blocks_n / blocks then count tiles. Needs subgroups of exactly 8 lanes.
// Rows and columns past the edge are CLAMPED to the last row/column, so every read is in bounds
// without a branch in the hot loop; their results are simply not stored. K needs no padding: the
// loop runs k = 0..K exactly. Workgroup counts fold into y past 65,535.
// With upper != 0 (ops::matmul::forward_upper, for a symmetric C = A^T A) only the blocks or
// tiles not wholly below the diagonal run (`block_rc` lists them), leaving C below unchanged;
// every C[i, j] with j >= i is still written.
//
// This file is the fixed part of the kernels. src/ops/matmul.rs appends one generated entry
// point (`kernel_source`): writing dozens of accumulators and their FMAs by hand for every
// variant is where typos hide, and a loop over a local array would be 5x slower (see
// KERNEL_SPEED.md). Params are `ops::matmul::MatmulParams` (declared from Rust).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const BLOCK: u32 = 8u;

// The bias for columns j0..j0+4 (clamped indices), or zeros without a bias.
fn bias4(j0: u32, j1: u32, j2: u32, j3: u32) -> vec4<f32> {
    if (params.has_bias == 0u) {
        return vec4<f32>(0.0);
    }
    return vec4<f32>(bias[j0], bias[j1], bias[j2], bias[j3]);
}

// Row and column block (tile) of flat block index t, for blocks of tm rows x tn columns: row-major
// over all blocks; with params.upper != 0 over only those on or above the diagonal, row block r
// holding column blocks (r * tm) / tn .. blocks_n (a loop over the row blocks, once per block).
fn block_rc(t: u32, tm: u32, tn: u32) -> vec2<u32> {
    if (params.upper == 0u) {
        return vec2<u32>(t / params.blocks_n, t % params.blocks_n);
    }
    let row_blocks = (params.m + tm - 1u) / tm;
    var rest = t;
    var r = 0u;
    var first = 0u;
    loop {
        first = min((r * tm) / tn, params.blocks_n);
        if (rest < params.blocks_n - first || r + 1u >= row_blocks) { break; }
        rest -= params.blocks_n - first;
        r += 1u;
    }
    return vec2<u32>(r, first + rest);
}

// Store the four values of `v` to C[row, col0..col0+4], skipping columns past n.
fn store4(row: u32, col0: u32, v: vec4<f32>) {
    let base = row * params.n + col0;
    if (col0 < params.n) { c[base] = v.x; }
    if (col0 + 1u < params.n) { c[base + 1u] = v.y; }
    if (col0 + 2u < params.n) { c[base + 2u] = v.z; }
    if (col0 + 3u < params.n) { c[base + 3u] = v.w; }
}
