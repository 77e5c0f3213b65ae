//! Turning a graph into prepared dispatches: buffers allocated once, reverse-mode gradients,
//! one command buffer per training step.

use super::{Graph, NodeId, Op, ParamStore};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu};
use crate::ops::activation::{self, Activation};
use crate::ops::loss::{self, LossKind};
use crate::ops::optim::{self, Optimizer};
use crate::ops::{add, conv2d, dense, maxpool, upsample};

/// What a training executor does after the forward pass.
#[derive(Clone, Copy, Debug)]
pub struct Training {
    pub loss: LossKind,
    pub optimizer: Option<Optimizer>,
}

/// A graph ready to run: every buffer allocated, every dispatch prepared.
pub struct Executor {
    pub graph: Graph,
    /// The buffer holding each node's value (a reshape shares its input's).
    values: Vec<wgpu::Buffer>,
    forward: Vec<Dispatch>,
    /// Loss forward, then (when training) loss backward, the backward pass and the updates.
    loss_and_backward: Vec<Dispatch>,
    /// Two f32: the running sum of batch losses and the number of batches since the last read.
    loss_acc: Option<wgpu::Buffer>,
    hyper: Option<(wgpu::Buffer, Optimizer)>,
    step: u64,
}

fn conv_shape(graph: &Graph, n: NodeId) -> conv2d::Conv2dShape {
    let node = graph.node(n);
    let x = graph.shape(node.inputs[0]);
    let Op::Conv2d {
        kernel,
        stride,
        padding,
    } = node.op
    else {
        unreachable!("conv_shape of a non-conv node")
    };
    conv2d::Conv2dShape {
        batch: x[0],
        in_ch: x[1],
        out_ch: node.shape[1],
        height: x[2],
        width: x[3],
        kernel,
        stride,
        padding,
    }
}

fn dense_shape(graph: &Graph, n: NodeId) -> dense::DenseShape {
    let node = graph.node(n);
    let x = graph.shape(node.inputs[0]);
    dense::DenseShape {
        batch: x[0],
        inputs: x[1],
        outputs: node.shape[1],
    }
}

fn pool_shape(graph: &Graph, x: NodeId) -> maxpool::PoolShape {
    let s = graph.shape(x);
    maxpool::PoolShape {
        batch: s[0],
        channels: s[1],
        height: s[2],
        width: s[3],
    }
}

fn upsample_shape(graph: &Graph, x: NodeId) -> upsample::UpsampleShape {
    let s = graph.shape(x);
    upsample::UpsampleShape {
        batch: s[0],
        channels: s[1],
        height: s[2],
        width: s[3],
    }
}

impl Executor {
    /// Prepare `graph` for running. Parameters are taken from (or created in) `store`.
    /// With `training`, `output` is compared with `target` by the loss; with an optimizer, each
    /// step also runs the backward pass and updates every parameter.
    pub fn new(
        gpu: &Gpu,
        graph: Graph,
        store: &mut ParamStore,
        training: Option<(Training, NodeId, NodeId)>,
    ) -> Result<Executor> {
        let n_nodes = graph.nodes.len();
        for node in &graph.nodes {
            let what = format!("{} of shape {:?}", node.name, node.shape);
            gpu.check_storage_bytes(&what, node.len() as u64 * 4)?;
        }
        // Values: parameters from the store, reshapes alias their input, the rest are fresh.
        let mut values: Vec<wgpu::Buffer> = Vec::with_capacity(n_nodes);
        for (id, node) in graph.nodes.iter().enumerate() {
            let buffer = match &node.op {
                Op::Param { init } => store
                    .get_or_create(gpu, &node.name, &node.shape, *init)?
                    .value
                    .clone(),
                Op::Reshape => values[node.inputs[0]].clone(),
                _ => gpu.storage(&format!("{} (node {id})", node.name), node.len()),
            };
            values.push(buffer);
        }

        let mut forward = Vec::new();
        let mut argmax: Vec<Option<wgpu::Buffer>> = vec![None; n_nodes];
        for (id, node) in graph.nodes.iter().enumerate() {
            let x = node.inputs.first().copied();
            match &node.op {
                Op::Input | Op::Param { .. } | Op::Reshape => {}
                Op::Conv2d { .. } => {
                    let s = conv_shape(&graph, id);
                    let [xi, w, b] = [node.inputs[0], node.inputs[1], node.inputs[2]];
                    forward.extend(conv2d::forward(
                        gpu,
                        &s,
                        &values[xi],
                        &values[w],
                        &values[b],
                        &values[id],
                    )?);
                }
                Op::Dense => {
                    let s = dense_shape(&graph, id);
                    let [xi, w, b] = [node.inputs[0], node.inputs[1], node.inputs[2]];
                    forward.extend(dense::forward(
                        gpu,
                        &s,
                        &values[xi],
                        &values[w],
                        &values[b],
                        &values[id],
                    )?);
                }
                Op::MaxPool2 => {
                    let xi = x.unwrap();
                    let s = pool_shape(&graph, xi);
                    let idx = gpu.storage(&format!("{} argmax", node.name), node.len());
                    forward.push(maxpool::forward(gpu, &s, &values[xi], &values[id], &idx)?);
                    argmax[id] = Some(idx);
                }
                Op::Upsample2 => {
                    let xi = x.unwrap();
                    let s = upsample_shape(&graph, xi);
                    forward.push(upsample::forward(gpu, &s, &values[xi], &values[id])?);
                }
                Op::Act(a) => {
                    let xi = x.unwrap();
                    forward.push(activation::forward(
                        gpu,
                        *a,
                        &values[xi],
                        &values[id],
                        node.len(),
                    )?);
                }
            }
        }

        let mut exec = Executor {
            graph,
            values,
            forward,
            loss_and_backward: Vec::new(),
            loss_acc: None,
            hyper: None,
            step: 0,
        };
        if let Some((training, output, target)) = training {
            exec.prepare_training(gpu, store, training, output, target, &argmax)?;
        }
        Ok(exec)
    }

    fn prepare_training(
        &mut self,
        gpu: &Gpu,
        store: &mut ParamStore,
        training: Training,
        output: NodeId,
        target: NodeId,
        argmax: &[Option<wgpu::Buffer>],
    ) -> Result<()> {
        let graph = &self.graph;
        let values = &self.values;
        let out_shape = graph.shape(output);
        if graph.shape(target) != out_shape {
            return Err(Error::shape(
                "loss",
                format!(
                    "output '{}' has shape {:?}, target '{}' has shape {:?}",
                    graph.node(output).name,
                    out_shape,
                    graph.node(target).name,
                    graph.shape(target)
                ),
            ));
        }
        let len = graph.node(output).len();
        // BCE is computed from the logits for numerical stability: the output must be a sigmoid,
        // whose input holds the logits, and the loss gradient goes straight to those logits.
        let (prediction, fused_sigmoid) = match training.loss {
            LossKind::BceWithLogits => match graph.node(output).op {
                Op::Act(Activation::Sigmoid) => (graph.node(output).inputs[0], true),
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "BCE loss needs a sigmoid output; '{}' is {:?}",
                        graph.node(output).name,
                        graph.node(output).op
                    )));
                }
            },
            LossKind::Mse => (output, false),
        };
        let acc = gpu.storage("loss accumulator", 2);
        let mut plan = loss::forward(
            gpu,
            training.loss,
            len,
            &values[prediction],
            &values[target],
            &acc,
        )?;
        self.loss_acc = Some(acc);

        let Some(optimizer) = training.optimizer else {
            self.loss_and_backward = plan;
            return Ok(());
        };

        // Which nodes need a gradient: parameters and everything computed from them.
        let n_nodes = graph.nodes.len();
        let mut requires = vec![false; n_nodes];
        for (id, node) in graph.nodes.iter().enumerate() {
            requires[id] =
                matches!(node.op, Op::Param { .. }) || node.inputs.iter().any(|&i| requires[i]);
        }
        let consumers = graph.consumers();
        // The node whose gradient the loss writes (the logits when the sigmoid is fused).
        let loss_node = prediction;
        let skipped = if fused_sigmoid { Some(output) } else { None };

        // Gradient buffers: parameters use the store's, reshapes alias their input's.
        let mut grads: Vec<Option<wgpu::Buffer>> = vec![None; n_nodes];
        for (id, node) in graph.nodes.iter().enumerate() {
            if !requires[id] || Some(id) == skipped {
                continue;
            }
            grads[id] = Some(match &node.op {
                Op::Param { .. } => store.get(&node.name).expect("created above").grad.clone(),
                Op::Reshape => {
                    let input = node.inputs[0];
                    if consumers[input].len() > 1 {
                        return Err(Error::InvalidArgument(format!(
                            "reshape '{}' of a node with several consumers is not supported in training",
                            node.name
                        )));
                    }
                    match &grads[input] {
                        Some(g) => g.clone(),
                        None => gpu.storage(&format!("{} grad", node.name), node.len()),
                    }
                }
                _ => gpu.storage(&format!("{} grad", node.name), node.len()),
            });
        }
        // Where consumer `c` writes its contribution to the gradient of `n`: straight into n's
        // gradient when c is n's only consumer, else into its own buffer, summed before n's turn.
        let mut slots: std::collections::HashMap<(NodeId, NodeId), wgpu::Buffer> =
            Default::default();
        for (n, cs) in consumers.iter().enumerate() {
            let Some(g) = &grads[n] else { continue };
            if cs.len() == 1 {
                slots.insert((n, cs[0]), g.clone());
            } else {
                for &c in cs {
                    let buf = gpu.storage(
                        &format!("{} grad from {}", graph.node(n).name, graph.node(c).name),
                        graph.node(n).len(),
                    );
                    slots.insert((n, c), buf);
                }
            }
        }
        let slot = |n: NodeId, c: NodeId| -> Option<&wgpu::Buffer> {
            if requires[n] {
                slots.get(&(n, c))
            } else {
                None
            }
        };

        // The loss gradient.
        let loss_grad = match skipped {
            Some(sig) => slot(loss_node, sig).expect("logits need a gradient"),
            None => grads[loss_node].as_ref().expect("output needs a gradient"),
        };
        plan.push(loss::backward(
            gpu,
            training.loss,
            len,
            &values[prediction],
            &values[target],
            loss_grad,
        )?);

        // Reverse mode: each node, once all its consumers have written their contributions.
        for id in (0..n_nodes).rev() {
            if !requires[id] || Some(id) == skipped {
                continue;
            }
            let node = graph.node(id);
            let dy = grads[id].as_ref().expect("gradient allocated");
            let cs = &consumers[id];
            if cs.len() > 1 {
                // Sum the contributions: out = c0 + c1, then out = out' + c2 via fresh temporaries
                // (a dispatch may not read and write one buffer).
                let mut acc = slots[&(id, cs[0])].clone();
                for (k, &c) in cs.iter().enumerate().skip(1) {
                    let out = if k + 1 == cs.len() {
                        dy.clone()
                    } else {
                        gpu.storage("grad partial sum", node.len())
                    };
                    plan.push(add::forward(gpu, node.len(), &acc, &slots[&(id, c)], &out)?);
                    acc = out;
                }
            }
            match &node.op {
                Op::Input | Op::Param { .. } | Op::Reshape => {}
                Op::Conv2d { .. } => {
                    let s = conv_shape(graph, id);
                    let [x, w, b] = [node.inputs[0], node.inputs[1], node.inputs[2]];
                    if let Some(dx) = slot(x, id) {
                        plan.extend(conv2d::backward_input(gpu, &s, dy, &values[w], dx)?);
                    }
                    if let Some(dw) = slot(w, id) {
                        plan.extend(conv2d::backward_weight(gpu, &s, &values[x], dy, dw)?);
                    }
                    if let Some(db) = slot(b, id) {
                        plan.extend(conv2d::backward_bias(gpu, &s, dy, db)?);
                    }
                }
                Op::Dense => {
                    let s = dense_shape(graph, id);
                    let [x, w, b] = [node.inputs[0], node.inputs[1], node.inputs[2]];
                    if let Some(dx) = slot(x, id) {
                        plan.extend(dense::backward_input(gpu, &s, dy, &values[w], dx)?);
                    }
                    if let Some(dw) = slot(w, id) {
                        plan.extend(dense::backward_weight(gpu, &s, &values[x], dy, dw)?);
                    }
                    if let Some(db) = slot(b, id) {
                        plan.extend(dense::backward_bias(gpu, &s, dy, db)?);
                    }
                }
                Op::MaxPool2 => {
                    let x = node.inputs[0];
                    if let Some(dx) = slot(x, id) {
                        let idx = argmax[id].as_ref().expect("argmax from forward");
                        plan.push(maxpool::backward(gpu, &pool_shape(graph, x), idx, dy, dx)?);
                    }
                }
                Op::Upsample2 => {
                    let x = node.inputs[0];
                    if let Some(dx) = slot(x, id) {
                        plan.push(upsample::backward(gpu, &upsample_shape(graph, x), dy, dx)?);
                    }
                }
                Op::Act(a) => {
                    let x = node.inputs[0];
                    if let Some(dx) = slot(x, id) {
                        plan.push(activation::backward(
                            gpu,
                            *a,
                            &values[x],
                            &values[id],
                            dy,
                            dx,
                            node.len(),
                        )?);
                    }
                }
            }
        }

        // One update per parameter of this graph.
        store.ensure_state(gpu, optimizer.state_buffers());
        let hyper = gpu.uniform("optimizer hyper-parameters", &optimizer.hyper(1));
        for id in graph.params() {
            let p = store.get(&graph.node(id).name).expect("created above");
            let state: Vec<&wgpu::Buffer> = p.state.iter().collect();
            plan.push(optim::update(
                gpu,
                &optimizer,
                &hyper,
                p.len(),
                &p.value,
                &p.grad,
                &state,
            )?);
        }
        self.hyper = Some((hyper, optimizer));
        self.loss_and_backward = plan;
        Ok(())
    }

    /// The buffer holding node `id`'s value.
    pub fn value(&self, id: NodeId) -> &wgpu::Buffer {
        &self.values[id]
    }

    /// Upload `data` as the value of input node `id`.
    pub fn set_input(&self, gpu: &Gpu, id: NodeId, data: &[f32]) -> Result<()> {
        let node = self.graph.node(id);
        if data.len() != node.len() {
            return Err(Error::shape(
                &node.name,
                format!(
                    "input has {} values, shape {:?} needs {}",
                    data.len(),
                    node.shape,
                    node.len()
                ),
            ));
        }
        gpu.write(&self.values[id], data);
        Ok(())
    }

    /// Read node `id`'s value back.
    pub fn read(&self, gpu: &Gpu, id: NodeId) -> Result<Vec<f32>> {
        gpu.read(&self.values[id], 0, self.graph.node(id).len())
    }

    /// Every dispatch of one step, in order, after `before` (e.g. the batch gather).
    pub fn dispatches<'a>(&'a self, before: &'a [Dispatch]) -> Vec<&'a Dispatch> {
        before
            .iter()
            .chain(&self.forward)
            .chain(&self.loss_and_backward)
            .collect()
    }

    /// Record one whole step (`before`, forward, loss, backward, updates) into one command buffer
    /// and submit it without waiting.
    pub fn submit_step(&mut self, gpu: &Gpu, before: &[Dispatch]) -> Result<()> {
        if let Some((hyper, opt)) = &self.hyper {
            self.step += 1;
            gpu.write(hyper, &[opt.hyper(self.step)]);
        }
        let mut encoder = gpu.encoder("step");
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("step"),
                timestamp_writes: None,
            });
            for d in self.dispatches(before) {
                d.record(&mut pass);
            }
        }
        gpu.queue.submit([encoder.finish()]);
        gpu.check("training step")
    }

    /// Read and reset the loss accumulator: (sum of batch losses, number of batches).
    pub fn take_loss(&self, gpu: &Gpu) -> Result<(f64, usize)> {
        let acc = self
            .loss_acc
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("this executor computes no loss".into()))?;
        let v: Vec<f32> = gpu.read(acc, 0, 2)?;
        gpu.write(acc, &[0.0f32, 0.0]);
        Ok((v[0] as f64, v[1].round() as usize))
    }

    /// Total floating-point operations of one step's dispatches (where counted).
    pub fn flops(&self) -> f64 {
        self.dispatches(&[]).iter().map(|d| d.flops).sum()
    }
}
