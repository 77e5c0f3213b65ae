//! The graph runtime: build a model as a list of nodes (inputs, parameters, ops), infer shapes as
//! nodes are added, then hand it to an [`Executor`] that allocates every buffer once, prepares
//! every dispatch once and records a whole training step into one command buffer.
//!
//! Before preparing, the executor rewrites the graph through the fusion pass ([`fuse`]), which
//! folds patterns such as a convolution and its activation into one node computed by one kernel
//! (switched off with [`ExecOptions`]).
//!
//! Parameters live in a [`ParamStore`], outside any graph, keyed by name: several graphs built
//! with the same names (an encoder, a decoder, the autoencoder; one per batch size) share one set
//! of weights.

pub mod cpu;
mod exec;
mod fuse;
mod params;

pub use exec::{ExecOptions, Executor, Training};
pub use fuse::fuse;
pub use params::{Init, ParamStore};

use crate::error::{Error, Result};
use crate::ops::activation::Activation;
use crate::ops::conv2d::Padding;

pub type NodeId = usize;

/// What a node computes. Conv2d and Dense take [x, weight, bias] as inputs.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Fed by the caller each step.
    Input,
    /// A trainable tensor from the ParamStore, created with `init` if new.
    Param {
        init: Init,
    },
    Conv2d {
        kernel: usize,
        stride: usize,
        padding: Padding,
        /// An activation applied in the same kernel as each output is stored: set by the fusion
        /// pass ([`fuse`]), `None` from [`Graph::conv2d`].
        act: Option<Activation>,
    },
    Dense,
    MaxPool2,
    Upsample2,
    Act(Activation),
    /// A view of its input with another shape (same buffer).
    Reshape,
    /// A node the fusion pass folded into node `into`, which computes it inside its kernel and
    /// never stores it: it has no inputs and no value of its own.
    Fused {
        into: NodeId,
    },
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<NodeId>,
    /// Full shape, batch first for activations: [B, C, H, W] or [B, F].
    pub shape: Vec<usize>,
}

impl Node {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A model under construction. Nodes are appended in topological order.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
}

fn show(shape: &[usize]) -> String {
    format!("{shape:?}")
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    pub fn shape(&self, id: NodeId) -> &[usize] {
        &self.nodes[id].shape
    }

    fn push(&mut self, name: &str, op: Op, inputs: Vec<NodeId>, shape: Vec<usize>) -> NodeId {
        self.nodes.push(Node {
            name: name.to_string(),
            op,
            inputs,
            shape,
        });
        self.nodes.len() - 1
    }

    /// A tensor the caller feeds each step.
    pub fn input(&mut self, name: &str, shape: &[usize]) -> NodeId {
        self.push(name, Op::Input, vec![], shape.to_vec())
    }

    /// A trainable tensor, shared by name through the ParamStore.
    pub fn param(&mut self, name: &str, shape: &[usize], init: Init) -> NodeId {
        self.push(name, Op::Param { init }, vec![], shape.to_vec())
    }

    fn expect_rank(&self, op: &str, x: NodeId, rank: usize) -> Result<&[usize]> {
        let s = self.shape(x);
        if s.len() != rank {
            return Err(Error::shape(
                op,
                format!(
                    "input '{}' has shape {}, expected rank {rank}",
                    self.nodes[x].name,
                    show(s)
                ),
            ));
        }
        Ok(s)
    }

    /// 2-D convolution over an NCHW input, with its own weight [out, in, k, k] and bias [out].
    pub fn conv2d(
        &mut self,
        name: &str,
        x: NodeId,
        out_ch: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
    ) -> Result<NodeId> {
        let s = self.expect_rank(name, x, 4)?.to_vec();
        let shape = crate::ops::conv2d::Conv2dShape {
            batch: s[0],
            in_ch: s[1],
            out_ch,
            height: s[2],
            width: s[3],
            kernel,
            stride,
            padding,
        };
        shape
            .validate()
            .map_err(|e| Error::shape(name, e.to_string()))?;
        let (oh, ow) = shape.out_hw();
        let fan_in = s[1] * kernel * kernel;
        let fan_out = out_ch * kernel * kernel;
        let w = self.param(
            &format!("{name}.weight"),
            &[out_ch, s[1], kernel, kernel],
            Init::GlorotUniform { fan_in, fan_out },
        );
        let b = self.param(&format!("{name}.bias"), &[out_ch], Init::Zeros);
        Ok(self.push(
            name,
            Op::Conv2d {
                kernel,
                stride,
                padding,
                act: None,
            },
            vec![x, w, b],
            vec![s[0], out_ch, oh, ow],
        ))
    }

    /// y = x W + b with W [inputs, outputs].
    pub fn dense(&mut self, name: &str, x: NodeId, outputs: usize) -> Result<NodeId> {
        let s = self.expect_rank(name, x, 2)?.to_vec();
        let w = self.param(
            &format!("{name}.weight"),
            &[s[1], outputs],
            Init::GlorotUniform {
                fan_in: s[1],
                fan_out: outputs,
            },
        );
        let b = self.param(&format!("{name}.bias"), &[outputs], Init::Zeros);
        Ok(self.push(name, Op::Dense, vec![x, w, b], vec![s[0], outputs]))
    }

    /// 2×2 max-pooling, stride 2, Keras 'same' rounding (ceil) for odd sizes.
    pub fn maxpool2(&mut self, name: &str, x: NodeId) -> Result<NodeId> {
        let s = self.expect_rank(name, x, 4)?.to_vec();
        let shape = vec![s[0], s[1], s[2].div_ceil(2), s[3].div_ceil(2)];
        Ok(self.push(name, Op::MaxPool2, vec![x], shape))
    }

    /// Nearest-neighbour upsampling ×2.
    pub fn upsample2(&mut self, name: &str, x: NodeId) -> Result<NodeId> {
        let s = self.expect_rank(name, x, 4)?.to_vec();
        let shape = vec![s[0], s[1], s[2] * 2, s[3] * 2];
        Ok(self.push(name, Op::Upsample2, vec![x], shape))
    }

    pub fn act(&mut self, name: &str, x: NodeId, act: Activation) -> NodeId {
        let shape = self.shape(x).to_vec();
        self.push(name, Op::Act(act), vec![x], shape)
    }

    /// A view with another shape; the element count must match.
    pub fn reshape(&mut self, name: &str, x: NodeId, shape: &[usize]) -> Result<NodeId> {
        let from = self.shape(x);
        if from.iter().product::<usize>() != shape.iter().product::<usize>() {
            return Err(Error::shape(
                name,
                format!(
                    "cannot reshape {} ({} values) to {} ({} values)",
                    show(from),
                    from.iter().product::<usize>(),
                    show(shape),
                    shape.iter().product::<usize>()
                ),
            ));
        }
        Ok(self.push(name, Op::Reshape, vec![x], shape.to_vec()))
    }

    /// [B, ...] to [B, rest].
    pub fn flatten(&mut self, name: &str, x: NodeId) -> Result<NodeId> {
        let s = self.shape(x);
        let shape = [s[0], s[1..].iter().product()];
        self.reshape(name, x, &shape)
    }

    /// How many nodes read each node.
    pub fn consumers(&self) -> Vec<Vec<NodeId>> {
        let mut out = vec![Vec::new(); self.nodes.len()];
        for (id, n) in self.nodes.iter().enumerate() {
            for &i in &n.inputs {
                out[i].push(id);
            }
        }
        out
    }

    /// The parameter nodes, in order.
    pub fn params(&self) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&i| matches!(self.nodes[i].op, Op::Param { .. }))
            .collect()
    }
}
