//! The choice of kernel family for a pass: which families an adapter runs, which shapes each
//! handles, and where each wins.

use super::Conv2dShape;
use super::subgroup::{SG_LANES, SG_MIN_COLS, sg_product};
use super::thin::{THIN_MAX_KERNEL, thin_groups_z};
use crate::gpu::Gpu;

/// Which family of kernels runs a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv2dKernel {
    /// The register-blocked direct kernels in shaders/conv2d_*.wgsl. Work on every adapter.
    Blocked,
    /// Implicit GEMM on subgroups of exactly 8 lanes ([`subgroup_source`]): one workgroup = one
    /// subgroup computes a 64 x 32 tile of the pass written as a matrix product, gathering the
    /// im2col operand on the fly; each lane loads 8 of the tile's 64 gathered values per step and
    /// `subgroupBroadcast` shares them. For stride-1 input gradients only; needs
    /// `Features::SUBGROUP` with subgroup size 8.
    Subgroup,
    /// Generated kernels for thin stride-1 layers ([`thin_forward_source`],
    /// [`thin_weight_source`]): every output channel of a 1-4-channel layer in one invocation's
    /// `vecN` accumulators, over a 2-D block of pixels (forward) or a chunk of output rows (weight
    /// gradient). Forward and weight gradient only; kernels up to 5x5. Work on every adapter.
    Thin,
}

/// The three passes that have subgroup kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv2dPass {
    Forward,
    BackwardInput,
    BackwardWeight,
}

impl Conv2dKernel {
    /// Whether the adapter runs this family at all.
    pub fn supported(self, gpu: &Gpu) -> bool {
        match self {
            Conv2dKernel::Blocked | Conv2dKernel::Thin => true,
            Conv2dKernel::Subgroup => {
                gpu.features.contains(wgpu::Features::SUBGROUP)
                    && gpu.info.subgroup_min_size == SG_LANES
                    && gpu.info.subgroup_max_size == SG_LANES
            }
        }
    }

    /// Whether this family handles `pass` of shape `s` (the blocked one handles everything).
    pub fn handles(self, s: &Conv2dShape, pass: Conv2dPass) -> bool {
        match self {
            Conv2dKernel::Blocked => true,
            Conv2dKernel::Subgroup => {
                let (rows, cols) = sg_product(s, pass);
                match pass {
                    Conv2dPass::Forward => cols >= SG_MIN_COLS,
                    Conv2dPass::BackwardInput => s.stride == 1 && cols >= SG_MIN_COLS,
                    Conv2dPass::BackwardWeight => cols >= SG_MIN_COLS && rows >= 1,
                }
            }
            Conv2dKernel::Thin => {
                s.stride == 1
                    && s.kernel <= THIN_MAX_KERNEL
                    && pass != Conv2dPass::BackwardInput
                    && thin_groups_z(s, pass) <= 65_535
            }
        }
    }

    /// The fastest family this adapter runs for `pass` of shape `s`.
    pub fn best(gpu: &Gpu, s: &Conv2dShape, pass: Conv2dPass) -> Conv2dKernel {
        let thin = Conv2dKernel::Thin;
        if thin_wins(s, pass) && thin.handles(s, pass) {
            return thin;
        }
        let sg = Conv2dKernel::Subgroup;
        if sg.supported(gpu) && sg.handles(s, pass) {
            sg
        } else {
            Conv2dKernel::Blocked
        }
    }
}

/// Where the thin kernels measured faster than the blocked and subgroup ones on lavapipe
/// (`latentviz bench --filter conv2d`): layers with at most 4 output channels.
fn thin_wins(s: &Conv2dShape, pass: Conv2dPass) -> bool {
    match pass {
        Conv2dPass::Forward => s.out_ch <= 4,
        Conv2dPass::BackwardWeight => s.out_ch <= 4,
        Conv2dPass::BackwardInput => false,
    }
}
