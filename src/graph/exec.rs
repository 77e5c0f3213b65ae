//! Turning a graph into prepared dispatches: buffers allocated once, reverse-mode gradients,
//! one command buffer per training step.

use super::{Graph, NodeId, Op, ParamStore, fuse};
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

/// How an executor prepares its graph.
#[derive(Clone, Copy, Debug)]
pub struct ExecOptions {
    /// Rewrite the graph through the fusion pass ([`fuse`]) first. The values of the nodes it
    /// folds away (a convolution's output before its activation) are then not stored.
    pub fuse: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions { fuse: true }
    }
}

/// A graph ready to run: every buffer allocated, every dispatch prepared.
pub struct Executor {
    /// The graph as run: after the fusion pass, when it is on.
    pub graph: Graph,
    /// The buffer holding each node's value (a reshape shares its input's; nodes folded into a
    /// fused node have none).
    values: Vec<Option<wgpu::Buffer>>,
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
        ..
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

/// The node the loss reads, and whether that is the input of a sigmoid `output` the loss folds
/// in. BCE is computed from the logits for numerical stability: the output must be a sigmoid,
/// whose input holds the logits, and the loss gradient goes straight to those logits.
fn loss_input(graph: &Graph, loss: LossKind, output: NodeId) -> Result<(NodeId, bool)> {
    match loss {
        LossKind::BceWithLogits => match graph.node(output).op {
            Op::Act(Activation::Sigmoid) => Ok((graph.node(output).inputs[0], true)),
            _ => Err(Error::InvalidArgument(format!(
                "BCE loss needs a sigmoid output; '{}' is {:?}",
                graph.node(output).name,
                graph.node(output).op
            ))),
        },
        LossKind::Mse => Ok((output, false)),
    }
}

impl Executor {
    /// Prepare `graph` for running, fused ([`ExecOptions::default`]). Parameters are taken from
    /// (or created in) `store`. With `training`, `output` is compared with `target` by the loss;
    /// with an optimizer, each step also runs the backward pass and updates every parameter.
    pub fn new(
        gpu: &Gpu,
        graph: Graph,
        store: &mut ParamStore,
        training: Option<(Training, NodeId, NodeId)>,
    ) -> Result<Executor> {
        Executor::with_options(gpu, graph, store, training, ExecOptions::default())
    }

    /// As [`Executor::new`], with the fusion pass on or off.
    pub fn with_options(
        gpu: &Gpu,
        graph: Graph,
        store: &mut ParamStore,
        training: Option<(Training, NodeId, NodeId)>,
        options: ExecOptions,
    ) -> Result<Executor> {
        let graph = match (options.fuse, training) {
            (false, _) => graph,
            (true, None) => fuse(&graph, &[]),
            // The node the loss reads keeps its value.
            (true, Some((t, output, _))) => fuse(&graph, &[loss_input(&graph, t.loss, output)?.0]),
        };
        let n_nodes = graph.nodes.len();
        for node in &graph.nodes {
            let what = format!("{} of shape {:?}", node.name, node.shape);
            gpu.check_storage_bytes(&what, node.len() as u64 * 4)?;
        }
        // Values: parameters from the store, reshapes alias their input, fused-away nodes have
        // none, the rest are fresh.
        let mut values: Vec<Option<wgpu::Buffer>> = Vec::with_capacity(n_nodes);
        for (id, node) in graph.nodes.iter().enumerate() {
            let buffer = match &node.op {
                Op::Param { init } => Some(
                    store
                        .get_or_create(gpu, &node.name, &node.shape, *init)?
                        .value
                        .clone(),
                ),
                Op::Reshape => values[node.inputs[0]].clone(),
                Op::Fused { .. } => None,
                _ => Some(gpu.storage(&format!("{} (node {id})", node.name), node.len())),
            };
            values.push(buffer);
        }
        // Every node an op reads has a value: the fusion pass folds a node only into its one
        // consumer.
        let value = |id: NodeId| values[id].as_ref().expect("a value for every node read");

        let mut forward = Vec::new();
        let mut argmax: Vec<Option<wgpu::Buffer>> = vec![None; n_nodes];
        for (id, node) in graph.nodes.iter().enumerate() {
            let x = node.inputs.first().copied();
            match &node.op {
                Op::Input | Op::Param { .. } | Op::Reshape | Op::Fused { .. } => {}
                Op::Conv2d { act, .. } => {
                    let s = conv_shape(&graph, id);
                    let [xi, w, b] = [node.inputs[0], node.inputs[1], node.inputs[2]];
                    forward.extend(conv2d::forward_fused(
                        gpu,
                        &s,
                        *act,
                        value(xi),
                        value(w),
                        value(b),
                        value(id),
                    )?);
                }
                Op::Dense => {
                    let s = dense_shape(&graph, id);
                    let [xi, w, b] = [node.inputs[0], node.inputs[1], node.inputs[2]];
                    forward.extend(dense::forward(
                        gpu,
                        &s,
                        value(xi),
                        value(w),
                        value(b),
                        value(id),
                    )?);
                }
                Op::MaxPool2 => {
                    let xi = x.unwrap();
                    let s = pool_shape(&graph, xi);
                    let idx = gpu.storage(&format!("{} argmax", node.name), node.len());
                    forward.push(maxpool::forward(gpu, &s, value(xi), value(id), &idx)?);
                    argmax[id] = Some(idx);
                }
                Op::Upsample2 => {
                    let xi = x.unwrap();
                    let s = upsample_shape(&graph, xi);
                    forward.push(upsample::forward(gpu, &s, value(xi), value(id))?);
                }
                Op::Act(a) => {
                    let xi = x.unwrap();
                    forward.push(activation::forward(
                        gpu,
                        *a,
                        value(xi),
                        value(id),
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
        let value = |id: NodeId| {
            self.values[id]
                .as_ref()
                .expect("a value for every node read")
        };
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
        let (prediction, fused_sigmoid) = loss_input(graph, training.loss, output)?;
        let acc = gpu.storage("loss accumulator", 2);
        let mut plan = loss::forward(
            gpu,
            training.loss,
            len,
            value(prediction),
            value(target),
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
            value(prediction),
            value(target),
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
                Op::Input | Op::Param { .. } | Op::Reshape | Op::Fused { .. } => {}
                Op::Conv2d { act, .. } => {
                    let s = conv_shape(graph, id);
                    let [x, w, b] = [node.inputs[0], node.inputs[1], node.inputs[2]];
                    // dz: the gradient at the conv's output, before the fused activation. The
                    // bias-gradient pass computes it, so the bias gradient comes first.
                    let dz = match act {
                        None => {
                            if let Some(db) = slot(b, id) {
                                plan.extend(conv2d::backward_bias(gpu, &s, dy, db)?);
                            }
                            dy.clone()
                        }
                        Some(a) => {
                            let dz = gpu
                                .storage(&format!("{} pre-activation grad", node.name), node.len());
                            let db = match slot(b, id) {
                                Some(db) => db.clone(),
                                None => gpu
                                    .storage(&format!("{} unused bias grad", node.name), s.out_ch),
                            };
                            plan.extend(conv2d::backward_bias_act(
                                gpu,
                                &s,
                                *a,
                                value(id),
                                dy,
                                &dz,
                                &db,
                            )?);
                            dz
                        }
                    };
                    if let Some(dx) = slot(x, id) {
                        plan.extend(conv2d::backward_input(gpu, &s, &dz, value(w), dx)?);
                    }
                    if let Some(dw) = slot(w, id) {
                        plan.extend(conv2d::backward_weight(gpu, &s, value(x), &dz, dw)?);
                    }
                }
                Op::Dense => {
                    let s = dense_shape(graph, id);
                    let [x, w, b] = [node.inputs[0], node.inputs[1], node.inputs[2]];
                    if let Some(dx) = slot(x, id) {
                        plan.extend(dense::backward_input(gpu, &s, dy, value(w), dx)?);
                    }
                    if let Some(dw) = slot(w, id) {
                        plan.extend(dense::backward_weight(gpu, &s, value(x), dy, dw)?);
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
                            value(x),
                            value(id),
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

    /// The buffer holding node `id`'s value; an error for a node the fusion pass folded away.
    pub fn value(&self, id: NodeId) -> Result<&wgpu::Buffer> {
        self.values[id].as_ref().ok_or_else(|| {
            let node = self.graph.node(id);
            let into = match node.op {
                Op::Fused { into } => self.graph.node(into).name.as_str(),
                _ => "another node",
            };
            Error::InvalidArgument(format!(
                "node '{}' was fused into '{into}' and has no value of its own; build the \
                 executor with ExecOptions {{ fuse: false }} to read it",
                node.name
            ))
        })
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
        gpu.write(self.value(id)?, data);
        Ok(())
    }

    /// Read node `id`'s value back.
    pub fn read(&self, gpu: &Gpu, id: NodeId) -> Result<Vec<f32>> {
        gpu.read(self.value(id)?, 0, self.graph.node(id).len())
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
