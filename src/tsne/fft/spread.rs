//! Charges onto nodes: the chunks of [`CHUNK_POINTS`] points each box holds (`chunks`, also the
//! interpolation's work items and the near-field statistics a refresh reads), then each box's
//! charges gathered onto its 4 x 4 Lagrange nodes (`spread`), chunk by chunk, with no float
//! atomics.

use std::sync::LazyLock;

use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, with_texel_tables, workgroups_for};
use crate::ops::{launch, launch_specialized};
use crate::wgsl::{WgslStruct, u32_constants, with_structs};

use super::{FftParams, FftRepulsion, GridGeometry, sort::scan};

static CHUNKS: LazyLock<String> = LazyLock::new(|| {
    with_structs(
        &[
            FftParams::declare("Params"),
            u32_constants(&[
                ("CHUNK_POINTS", CHUNK_POINTS),
                ("PAIR_UNIT", 1 << PAIRS_SHIFT),
            ]),
        ],
        include_str!("chunks.wgsl"),
    )
});
static SPREAD: LazyLock<String> = LazyLock::new(|| {
    with_structs(
        &[
            FftParams::declare("Params"),
            GridGeometry::declare("Grid"),
            u32_constants(&[("CHUNK_POINTS", CHUNK_POINTS)]),
        ],
        &[include_str!("spread.wgsl"), include_str!("nodes.wgsl")].concat(),
    )
});

/// chunks.wgsl sums the near-field pairs in units of 2^PAIRS_SHIFT (a u32 then holds
/// 2^40 pairs: a million points with a million neighbours each).
pub(super) const PAIRS_SHIFT: u32 = 8;
/// Points per chunk (`CHUNK_POINTS` in chunks.wgsl, spread.wgsl and interpolate.wgsl), four per
/// lane of an interpolation workgroup's 8: each near-field point one step loads serves four pairs
/// (docs/kernel-notes.md compares other counts).
pub(super) const CHUNK_POINTS: usize = 32;

/// An upper bound on the chunks of [`CHUNK_POINTS`] points n points make in `boxes` boxes: every
/// point, and one partial chunk per box.
pub(super) fn max_chunks(n: usize, boxes: usize) -> usize {
    n.div_ceil(CHUNK_POINTS) + boxes.min(n)
}

/// This stage's kernels as the GPU gets them, by file (for [`super::kernel_sources`]).
pub(super) fn kernel_sources() -> Vec<(&'static str, String)> {
    vec![
        ("src/tsne/fft/chunks.wgsl", CHUNKS.to_string()),
        ("src/tsne/fft/spread.wgsl", SPREAD.to_string()),
        ("src/tsne/fft/nodes.wgsl", SPREAD.to_string()),
    ]
}

impl FftRepulsion {
    /// The chunks of each box and their starts, then the node charges into `charges` (the FFT
    /// input) and `node_charges` (kept for the near field).
    pub(super) fn record_spread(&self, gpu: &Gpu, p: &FftParams) -> Result<Vec<Dispatch>> {
        let (n, boxes) = (self.n, p.boxes as usize);
        // The chunks of CHUNK_POINTS points per box: the spread's and the interpolation's work items.
        let mut d = vec![launch(
            gpu,
            "tsne_fft_chunks",
            &CHUNKS,
            "box_chunks",
            p,
            &[&self.starts, &self.chunks, &self.stats],
            workgroups_for(boxes, 256),
        )?];
        d.extend(scan(
            gpu,
            p,
            &self.chunks,
            &self.chunk_starts,
            &self.partials,
        )?);
        let spread_bindings = [
            self.grid.as_entire_binding(),
            self.starts.as_entire_binding(),
            wgpu::BindingResource::TextureView(&self.sorted_points.view),
            self.charges.as_entire_binding(),
            wgpu::BindingResource::TextureView(&self.node_charges.view),
            self.chunk_starts.as_entire_binding(),
            self.spread_parts.as_entire_binding(),
        ];
        let spread = with_texel_tables(&SPREAD);
        let constants = self.node_charges.constants();
        d.extend([
            launch_specialized(
                gpu,
                "tsne_fft_spread",
                &spread,
                "spread_chunks",
                &constants,
                p,
                &spread_bindings,
                workgroups_for(max_chunks(n, boxes), 64),
            )?,
            launch_specialized(
                gpu,
                "tsne_fft_spread",
                &spread,
                "spread",
                &constants,
                p,
                &spread_bindings,
                workgroups_for(boxes, 64),
            )?,
        ]);
        Ok(d)
    }
}
