//! Squared distances of a block of rows to every point: register-blocked (sqdist.wgsl), or with
//! subgroups of 8 lanes 64-row tiles whose row values are shared by `subgroupBroadcast`
//! (sqdist_sg.wgsl plus a generated entry point); and the points' feature-major upload they read.

use std::sync::LazyLock;

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::LOOP_BUDGET;
use crate::gpu::{Dispatch, Gpu, workgroups_for};
use crate::ops::{check_len, launch};
use crate::wgsl::WgslStruct;
use crate::wgsl_line;
use crate::wgsl_struct;

pub(crate) static SQDIST: LazyLock<String> =
    LazyLock::new(|| SqdistParams::as_params_of(include_str!("sqdist.wgsl")));
pub(crate) static SQDIST_SG: LazyLock<String> =
    LazyLock::new(|| SqdistParams::as_params_of(include_str!("sqdist_sg.wgsl")));
/// Rows of one subgroup tile of the subgroup distance kernel (the fastest of 8 to 64).
pub const SQDIST_TILE_ROWS: usize = 64;

wgsl_struct! {
    /// `Params` in sqdist.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Pod, Zeroable)]
    pub struct SqdistParams {
        pub n: u32,
        pub rows: u32,
        pub row0: u32,
        pub d: u32,
        pub nq: u32,
        pub col_groups: u32,
        pub groups: u32,
        /// Row stride of the output block (n, or n_pad for kNN blocks).
        pub ld: u32,
    }
}

/// Points on the GPU, feature-major: d rows of n_pad values (n_pad = n rounded up to a multiple of
/// 16, the padding points 0), so that the distance kernel's column loads are contiguous.
pub struct Points {
    pub buffer: wgpu::Buffer,
    pub n: usize,
    pub d: usize,
    pub n_pad: usize,
}

/// Upload n × d points (row-major) transposed; fails when they do not fit one storage binding.
pub fn upload_points(gpu: &Gpu, x: &[f32], n: usize, d: usize) -> Result<Points> {
    if x.len() != n * d || n == 0 || d == 0 {
        return Err(Error::shape(
            "kNN points",
            format!("{} values are not {n} × {d}", x.len()),
        ));
    }
    if d > LOOP_BUDGET {
        return Err(Error::InvalidArgument(format!(
            "{d} features: the distance kernel takes at most {}",
            LOOP_BUDGET
        )));
    }
    let n_pad = n.div_ceil(16) * 16;
    let bytes = (n_pad * d * 4) as u64;
    if bytes > gpu.limits.max_storage_buffer_binding_size {
        return Err(Error::InvalidArgument(format!(
            "{n} points × {d} features ({bytes} bytes) exceed one storage binding ({} bytes); \
             reduce them with PCA first (--pca 50)",
            gpu.limits.max_storage_buffer_binding_size
        )));
    }
    let mut xt = vec![0f32; n_pad * d];
    for i in 0..n {
        for f in 0..d {
            xt[f * n_pad + i] = x[i * d + f];
        }
    }
    Ok(Points {
        buffer: gpu.storage_from("kNN points", &xt),
        n,
        d,
        n_pad,
    })
}

/// Squared distances of rows row0..row0+rows (row0 a multiple of 16) to all n points into `out`
/// (rows × ld, ld ≥ n; columns past n, up to n_pad, may be written too when ld ≥ n_pad).
/// Uses the subgroup kernel where the adapter has subgroups of 8 lanes.
pub fn sqdist_block(
    gpu: &Gpu,
    points: &Points,
    row0: usize,
    rows: usize,
    ld: usize,
    out: &wgpu::Buffer,
) -> Result<Dispatch> {
    let n = points.n;
    if rows == 0 || row0 + rows > n || !row0.is_multiple_of(16) || ld < n {
        return Err(Error::shape(
            "kNN sqdist",
            format!(
                "rows {row0}..{} of {n} points (the first a multiple of 16), row stride {ld}",
                row0 + rows
            ),
        ));
    }
    check_len("kNN sqdist", "out", out, rows * ld)?;
    let nq = points.n_pad / 4;
    let flops = (3 * rows * n * points.d) as f64;
    if gpu.subgroups_of_8() {
        // Vector stores write whole quads, up to n_pad: only when the rows are that long.
        let vec_store = ld.is_multiple_of(4) && ld >= points.n_pad;
        let col_groups = nq.div_ceil(8);
        let tr = SQDIST_TILE_ROWS;
        let groups = rows.div_ceil(tr) * col_groups;
        let params = SqdistParams {
            n: n as u32,
            rows: rows as u32,
            row0: row0 as u32,
            d: points.d as u32,
            nq: nq as u32,
            col_groups: col_groups as u32,
            groups: groups as u32,
            ld: ld as u32,
        };
        let label = format!("kNN sqdist sg{tr} vec{}", vec_store as u8);
        return launch(
            gpu,
            &label,
            &sqdist_sg_source(tr, vec_store),
            "sqdist_block_sg",
            &params,
            &[&points.buffer, &points.buffer, out],
            workgroups_for(groups, 1),
        )
        .map(|d| d.with_flops(flops));
    }
    let col_groups = nq.div_ceil(64);
    let groups = rows.div_ceil(16) * col_groups;
    let params = SqdistParams {
        n: n as u32,
        rows: rows as u32,
        row0: row0 as u32,
        d: points.d as u32,
        nq: nq as u32,
        col_groups: col_groups as u32,
        groups: groups as u32,
        ld: ld as u32,
    };
    launch(
        gpu,
        "kNN sqdist",
        &SQDIST,
        "sqdist_block",
        &params,
        &[&points.buffer, out],
        workgroups_for(groups, 1),
    )
    .map(|d| d.with_flops(flops))
}

/// The whole subgroup distance kernel: sqdist_sg.wgsl plus the generated entry point for
/// tiles of `tile_rows` rows (a multiple of 8). Names: r0 the tile's first row (within the
/// block), cq this lane's column quad, g{j} the global point whose row value lane loads for tile
/// rows lane + 8j, acc{i} row i's 4 distances.
pub fn sqdist_sg_source(tile_rows: usize, vec_store: bool) -> String {
    let loads = tile_rows / 8;
    let mut s = SQDIST_SG.to_string();
    let w = &mut s;
    if vec_store {
        wgsl_line!(
            w,
            "@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

fn store(r: u32, cq: u32, v: vec4<f32>) {{
    if (r >= params.rows || cq >= params.nq) {{ return; }}
    out[(r * params.ld) / 4u + cq] = v;
}}"
        );
    } else {
        wgsl_line!(
            w,
            "@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn store(r: u32, cq: u32, v: vec4<f32>) {{
    if (r >= params.rows) {{ return; }}
    let base = r * params.ld;
    let c = cq * 4u;
    if (c < params.n) {{ out[base + c] = v.x; }}
    if (c + 1u < params.n) {{ out[base + c + 1u] = v.y; }}
    if (c + 2u < params.n) {{ out[base + c + 2u] = v.z; }}
    if (c + 3u < params.n) {{ out[base + c + 3u] = v.w; }}
}}"
        );
    }
    wgsl_line!(
        w,
        "
// Generated by knn::distances::sqdist_sg_source: {tile_rows}-row tiles.
@compute @workgroup_size(8)
fn sqdist_block_sg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(subgroup_invocation_id) lane: u32) {{
    let tile = wg.x + wg.y * nwg.x;
    // The same for every lane: the whole subgroup leaves together.
    if (tile >= params.groups) {{ return; }}
    let r0 = (tile / params.col_groups) * {tile_rows}u;
    let cq = (tile % params.col_groups) * 8u + lane;
    let cq_load = min(cq, params.nq - 1u);
    let last = params.row0 + params.rows - 1u;
    let n_pad = params.nq * 4u;"
    );
    for j in 0..loads {
        wgsl_line!(
            w,
            "    let g{j} = min(params.row0 + r0 + lane + {}u, last);",
            8 * j
        );
    }
    for i in 0..tile_rows {
        wgsl_line!(w, "    var acc{i} = vec4<f32>(0.0);");
    }
    wgsl_line!(
        w,
        "    for (var f = 0u; f < params.d; f++) {{
        let col = xt[f * params.nq + cq_load];
        let base = f * n_pad;"
    );
    for j in 0..loads {
        wgsl_line!(w, "        let a{j} = xs[base + g{j}];");
    }
    for i in 0..tile_rows {
        let (j, l) = (i / 8, i % 8);
        wgsl_line!(
            w,
            "        let e{i} = vec4<f32>(subgroupBroadcast(a{j}, {l}u)) - col;
        acc{i} = fma(e{i}, e{i}, acc{i});"
        );
    }
    wgsl_line!(w, "    }}");
    for i in 0..tile_rows {
        wgsl_line!(w, "    store(r0 + {i}u, cq, acc{i});");
    }
    wgsl_line!(w, "}}");
    s
}
