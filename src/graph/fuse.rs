//! The fusion pass: rewrites patterns of any graph built with the [`Graph`] API into fused nodes,
//! each computed by one kernel, so that a value passed between the pattern's ops is neither
//! written to memory nor read back. Node ids stay as they were: the fused node takes the id,
//! name and value of the pattern's last node, and the nodes folded into it become
//! [`Op::Fused`], with no value of their own.
//!
//! The patterns:
//! - a convolution and the activation that is its only consumer become one convolution whose
//!   kernel adds the bias and applies the activation as it stores each output
//!   (`ops::conv2d::forward_fused`). Its backward pass takes the activation's derivative, through
//!   the stored output, inside the bias-gradient pass (`ops::conv2d::backward_bias_act`), so
//!   neither the forward nor the backward pass of the activation runs on its own. Activations
//!   whose derivative cannot be taken from the output ([`Activation::grad_from_output`]) stay
//!   apart.

use super::{Graph, NodeId, Op};
use crate::ops::activation::Activation;

/// `graph` with every pattern the module lists fused, leaving unfused the nodes in `keep`
/// (values a caller reads: the logits a BCE loss takes, say).
pub fn fuse(graph: &Graph, keep: &[NodeId]) -> Graph {
    let mut out = graph.clone();
    let consumers = graph.consumers();
    for (id, node) in graph.nodes.iter().enumerate() {
        let Op::Act(act) = node.op else { continue };
        let conv = node.inputs[0];
        if let Some(fused) = conv_act(graph, conv, act, &consumers[conv], keep) {
            out.nodes[id].op = fused;
            out.nodes[id].inputs = graph.nodes[conv].inputs.clone();
            out.nodes[conv].op = Op::Fused { into: id };
            out.nodes[conv].inputs.clear();
        }
    }
    out
}

/// The fused op of convolution `conv` followed by `act`, when they may be fused: the conv has no
/// activation yet, the act node is its only consumer, and its value need not be kept.
fn conv_act(
    graph: &Graph,
    conv: NodeId,
    act: Activation,
    consumers: &[NodeId],
    keep: &[NodeId],
) -> Option<Op> {
    let Op::Conv2d {
        kernel,
        stride,
        padding,
        act: None,
    } = graph.nodes[conv].op
    else {
        return None;
    };
    let fusable = consumers.len() == 1 && !keep.contains(&conv) && act.grad_from_output();
    fusable.then_some(Op::Conv2d {
        kernel,
        stride,
        padding,
        act: Some(act),
    })
}
