//! The choice of kernel family for a pass: which families an adapter runs, which shapes each
//! handles, and which is fastest where several do.

use super::{Conv2dShape, few_channels, subgroup};
use crate::gpu::Gpu;

/// Which family of kernels runs a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv2dKernel {
    /// The register-blocked direct kernels ([`super::blocked`]). Handle every pass of every
    /// shape; work on every adapter.
    Blocked,
    /// Implicit GEMM on subgroups of exactly 8 lanes ([`super::subgroup`]): one workgroup = one
    /// subgroup computes a 64 x 32 tile of the pass written as a matrix product, gathering the
    /// im2col operand on the fly; each lane loads 8 of the tile's 64 gathered values per step and
    /// `subgroupBroadcast` shares them. Needs `Features::SUBGROUP` with subgroup size 8, at least
    /// 8 channels on the product's column side, and stride 1 for the input gradient.
    Subgroup,
    /// Generated kernels for stride-1 layers with 1-4 output channels
    /// ([`super::few_channels`]): every output channel in one invocation's `vecN` accumulators,
    /// over a 2-D block of pixels (forward) or a band of output rows (weight gradient). Forward
    /// and weight gradient only; kernels up to 5x5. Work on every adapter.
    FewChannels,
}

/// The passes a kernel family may run.
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
            Conv2dKernel::Blocked | Conv2dKernel::FewChannels => true,
            Conv2dKernel::Subgroup => {
                gpu.features.contains(wgpu::Features::SUBGROUP)
                    && gpu.info.subgroup_min_size == subgroup::LANES
                    && gpu.info.subgroup_max_size == subgroup::LANES
            }
        }
    }

    /// Whether this family handles `pass` of shape `s` (the blocked one handles everything).
    pub fn handles(self, s: &Conv2dShape, pass: Conv2dPass) -> bool {
        match self {
            Conv2dKernel::Blocked => true,
            Conv2dKernel::Subgroup => {
                let (rows, cols) = subgroup::product(s, pass);
                let min_cols = subgroup::MIN_COLS;
                match pass {
                    Conv2dPass::Forward => cols >= min_cols,
                    Conv2dPass::BackwardInput => s.stride == 1 && cols >= min_cols,
                    Conv2dPass::BackwardWeight => cols >= min_cols && rows >= 1,
                }
            }
            Conv2dKernel::FewChannels => {
                s.stride == 1
                    && s.kernel <= few_channels::MAX_KERNEL
                    && pass != Conv2dPass::BackwardInput
                    && few_channels::groups_z(s, pass) <= 65_535
            }
        }
    }

    /// The fastest family this adapter runs for `pass` of shape `s`.
    pub fn best(gpu: &Gpu, s: &Conv2dShape, pass: Conv2dPass) -> Conv2dKernel {
        let few = Conv2dKernel::FewChannels;
        if few_channels_wins(s, pass) && few.handles(s, pass) {
            return few;
        }
        let sg = Conv2dKernel::Subgroup;
        if sg.supported(gpu) && sg.handles(s, pass) {
            sg
        } else {
            Conv2dKernel::Blocked
        }
    }
}

/// Where the few-channel kernels measured faster than the blocked and subgroup ones
/// (`latentviz bench --filter conv2d`): the forward pass and weight gradient of layers whose
/// output channels all fit one invocation.
fn few_channels_wins(s: &Conv2dShape, pass: Conv2dPass) -> bool {
    match pass {
        Conv2dPass::Forward | Conv2dPass::BackwardWeight => s.out_ch <= few_channels::MAX_CHANNELS,
        Conv2dPass::BackwardInput => false,
    }
}
