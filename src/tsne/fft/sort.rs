//! The counting sort of the points into boxes (`count`, `scan`, `scatter`, `order`): box counts
//! and their prefix sum, then within each box by a key hashed from the point index, each point
//! index to a slot of its key, then each position to the slot its index's rank within the key
//! gives. Integer atomics decide only provisional slots, so the final order, and every float sum
//! after it, is the same in every run.

use std::sync::LazyLock;

use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, with_texel_tables, workgroups_for};
use crate::ops::{launch, launch_specialized};
use crate::wgsl::{WgslStruct, u32_constants, with_structs};

use super::{FftParams, FftRepulsion, GridGeometry};

static COUNT: LazyLock<String> = LazyLock::new(|| {
    with_structs(
        &[FftParams::declare("Params"), GridGeometry::declare("Grid")],
        include_str!("count.wgsl"),
    )
});
static SCAN: LazyLock<String> = LazyLock::new(|| {
    with_structs(
        &[
            FftParams::declare("Params"),
            u32_constants(&[("LANES", SCAN_LANES), ("GROUPS", SCAN_GROUPS)]),
        ],
        include_str!("scan.wgsl"),
    )
});
static SCATTER: LazyLock<String> = LazyLock::new(|| {
    with_structs(
        &[FftParams::declare("Params")],
        include_str!("scatter.wgsl"),
    )
});
static ORDER: LazyLock<String> =
    LazyLock::new(|| with_structs(&[FftParams::declare("Params")], include_str!("order.wgsl")));

/// Workgroups of the scan passes (`GROUPS` in scan.wgsl), small ones of [`SCAN_LANES`]
/// invocations, as the bounding-box fold's (`grid::BBOX_GROUPS`): one workgroup runs on one of
/// lavapipe's threads (docs/kernel-notes.md).
pub(super) const SCAN_GROUPS: usize = 64;
/// Invocations per workgroup of the scan passes (`LANES` in scan.wgsl; emitted there).
pub(super) const SCAN_LANES: usize = 8;

/// This stage's kernels as the GPU gets them, by file (for [`super::kernel_sources`]).
pub(super) fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("src/tsne/fft/count.wgsl", COUNT.to_string()),
        ("src/tsne/fft/scan.wgsl", SCAN.to_string()),
        ("src/tsne/fft/scatter.wgsl", SCATTER.to_string()),
        ("src/tsne/fft/order.wgsl", ORDER.to_string()),
    ]
}

impl FftRepulsion {
    /// The points sorted by box, then by hashed key, then by index, into `sorted_points`, with
    /// each box's slots in `starts`.
    pub(super) fn record_sort(
        &self,
        gpu: &Gpu,
        positions: &wgpu::Buffer,
        p: &FftParams,
    ) -> Result<Vec<Dispatch>> {
        let (n, boxes, keys) = (self.n, p.boxes as usize, p.keys as usize);
        let per_point = workgroups_for(n, 256);
        // The scan of the key counts: its `boxes` counts keys.
        let per_key = FftParams {
            boxes: keys as u32,
            ..*p
        };
        let counting = [
            positions,
            &self.grid,
            &self.box_counts,
            &self.key_counts,
            &self.starts,
            &self.point_key,
            &self.point_rank,
        ];
        let count = |entry: &str, groups: [u32; 3]| {
            launch(gpu, "tsne_fft_count", &COUNT, entry, p, &counting, groups)
        };
        let mut d = vec![
            count("clear_counts", workgroups_for(keys.max(boxes), 256))?,
            count("count_boxes", per_point)?,
        ];
        d.extend(scan(
            gpu,
            p,
            &self.box_counts,
            &self.starts,
            &self.partials,
        )?);
        d.push(count("count_keys", per_point)?);
        d.extend(scan(
            gpu,
            &per_key,
            &self.key_counts,
            &self.key_starts,
            &self.partials,
        )?);
        d.extend([
            launch_specialized(
                gpu,
                "tsne_fft_scatter",
                &with_texel_tables(&SCATTER),
                "scatter_points",
                &self.slot_point.constants(),
                p,
                &[
                    self.point_key.as_entire_binding(),
                    self.point_rank.as_entire_binding(),
                    self.key_starts.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&self.slot_point.view),
                ],
                per_point,
            )?,
            launch_specialized(
                gpu,
                "tsne_fft_order",
                &with_texel_tables(&ORDER),
                "order_points",
                &self.sorted_points.constants(),
                p,
                &[
                    positions.as_entire_binding(),
                    self.point_key.as_entire_binding(),
                    self.key_starts.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&self.slot_point.view),
                    wgpu::BindingResource::TextureView(&self.sorted_points.view),
                ],
                per_point,
            )?,
        ]);
        Ok(d)
    }
}

/// The exclusive prefix sum `starts` (`p.boxes + 1` u32) of `counts` (`p.boxes` u32): the three
/// passes of scan.wgsl, with `sums` (at least SCAN_GROUPS * (SCAN_LANES + 1) u32) for
/// their partial sums.
pub(super) fn scan(
    gpu: &Gpu,
    p: &FftParams,
    counts: &wgpu::Buffer,
    starts: &wgpu::Buffer,
    sums: &wgpu::Buffer,
) -> Result<Vec<Dispatch>> {
    [
        ("scan_chunks", SCAN_GROUPS),
        ("scan_offsets", 1),
        ("scan_counts", SCAN_GROUPS),
    ]
    .into_iter()
    .map(|(entry, groups)| {
        let bound = [counts, starts, sums];
        launch(
            gpu,
            "tsne_fft_scan",
            &SCAN,
            entry,
            p,
            &bound,
            [groups as u32, 1, 1],
        )
    })
    .collect()
}
