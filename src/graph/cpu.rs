//! The graph evaluated with the ops' CPU references: the twin the executor is tested against.

use std::collections::BTreeMap;

use super::{Graph, NodeId, Op};
use crate::error::{Error, Result};
use crate::ops::{activation, conv2d, dense, maxpool, upsample};

/// Every node's value, computed on the CPU from `inputs` (by node id) and `params` (by name).
pub fn forward(
    graph: &Graph,
    inputs: &[(NodeId, Vec<f32>)],
    params: &BTreeMap<String, Vec<f32>>,
) -> Result<Vec<Vec<f32>>> {
    let mut values: Vec<Vec<f32>> = Vec::with_capacity(graph.nodes.len());
    for (id, node) in graph.nodes.iter().enumerate() {
        let x = node.inputs.first().map(|&i| values[i].as_slice());
        let v = match &node.op {
            Op::Input => inputs
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!("no value for input '{}'", node.name))
                })?,
            Op::Param { .. } => params.get(&node.name).cloned().ok_or_else(|| {
                Error::InvalidArgument(format!("no value for parameter '{}'", node.name))
            })?,
            Op::Reshape => x.unwrap().to_vec(),
            Op::Conv2d {
                kernel,
                stride,
                padding,
                act,
            } => {
                let xs = graph.shape(node.inputs[0]);
                let s = conv2d::Conv2dShape {
                    batch: xs[0],
                    in_ch: xs[1],
                    out_ch: node.shape[1],
                    height: xs[2],
                    width: xs[3],
                    kernel: *kernel,
                    stride: *stride,
                    padding: *padding,
                };
                let y = conv2d::cpu::conv2d_forward(
                    &s,
                    x.unwrap(),
                    &values[node.inputs[1]],
                    &values[node.inputs[2]],
                );
                match act {
                    Some(a) => activation::cpu::activation_forward(*a, &y),
                    None => y,
                }
            }
            Op::Dense => {
                let xs = graph.shape(node.inputs[0]);
                let s = dense::DenseShape {
                    batch: xs[0],
                    inputs: xs[1],
                    outputs: node.shape[1],
                };
                dense::cpu::dense_forward(
                    &s,
                    x.unwrap(),
                    &values[node.inputs[1]],
                    &values[node.inputs[2]],
                )
            }
            Op::MaxPool2 => {
                let xs = graph.shape(node.inputs[0]);
                let s = maxpool::PoolShape {
                    batch: xs[0],
                    channels: xs[1],
                    height: xs[2],
                    width: xs[3],
                };
                maxpool::cpu::maxpool_forward(&s, x.unwrap()).0
            }
            Op::Upsample2 => {
                let xs = graph.shape(node.inputs[0]);
                let s = upsample::UpsampleShape {
                    batch: xs[0],
                    channels: xs[1],
                    height: xs[2],
                    width: xs[3],
                };
                upsample::cpu::upsample_forward(&s, x.unwrap())
            }
            Op::Act(a) => activation::cpu::activation_forward(*a, x.unwrap()),
            // Computed inside the node it was fused into; no value of its own.
            Op::Fused { .. } => Vec::new(),
        };
        values.push(v);
    }
    Ok(values)
}
