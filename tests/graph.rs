//! The graph runtime: shape errors, executor vs the CPU twin of the graph, reverse-mode gradients
//! vs finite differences, and weight sharing between views; the executor runs with the fusion
//! pass on and off, and the fusion pass's rewrites are checked on their own.

use std::collections::BTreeMap;

use crate::common::{assert_close, gpu};
use latentviz::graph::{ExecOptions, Executor, Graph, Op, ParamStore, Training, cpu, fuse};
use latentviz::model;
use latentviz::ops::activation::Activation;
use latentviz::ops::conv2d::Padding;
use latentviz::ops::loss::{self, LossKind};
use latentviz::ops::optim::Optimizer;
use latentviz::rng::Rng;

/// A small autoencoder with every op kind, odd sizes on purpose (7×5 pools to 4×3).
fn tiny(batch: usize) -> (Graph, usize, usize) {
    let mut g = Graph::new();
    let x = g.input("x", &[batch, 2, 7, 5]);
    let h = g.conv2d("c1", x, 3, 3, 1, Padding::Same).unwrap();
    let h = g.act("c1.elu", h, Activation::ELU);
    let h = g.maxpool2("p1", h).unwrap(); // 3×4×3
    let h = g.flatten("f", h).unwrap(); // 36
    let h = g.dense("d1", h, 5).unwrap();
    let h = g.act("d1.relu", h, Activation::Relu);
    let h = g.dense("d2", h, 2 * 4 * 3).unwrap();
    let h = g.act("d2.elu", h, Activation::ELU);
    let h = g.reshape("r", h, &[batch, 2, 4, 3]).unwrap();
    let h = g.upsample2("u", h).unwrap(); // 2×8×6
    let h = g.conv2d("c2", h, 2, 3, 1, Padding::Valid).unwrap(); // 2×6×4
    let y = g.act("out", h, Activation::Sigmoid);
    (g, x, y)
}

fn params_of(store: &ParamStore) -> BTreeMap<String, Vec<f32>> {
    store
        .read_all(gpu())
        .unwrap()
        .into_iter()
        .map(|(n, _, v)| (n, v))
        .collect()
}

#[test]
fn shape_errors_name_the_op_and_both_shapes() {
    let mut g = Graph::new();
    let x = g.input("x", &[4, 1, 28, 28]);
    let err = g.dense("enc.dense", x, 32).unwrap_err().to_string();
    assert!(
        err.contains("enc.dense") && err.contains("[4, 1, 28, 28]"),
        "{err}"
    );
    let err = g.reshape("r", x, &[4, 3, 28, 28]).unwrap_err().to_string();
    assert!(
        err.contains("[4, 1, 28, 28]") && err.contains("[4, 3, 28, 28]"),
        "{err}"
    );
    let flat = g.flatten("f", x).unwrap();
    let err = g
        .conv2d("c", flat, 8, 3, 1, Padding::Same)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'c'") || err.contains("c:") || err.contains("in c"),
        "{err}"
    );
}

/// The executor with the fusion pass on and off.
const FUSION: [ExecOptions; 2] = [ExecOptions { fuse: false }, ExecOptions { fuse: true }];

#[test]
fn executor_forward_matches_cpu_graph() {
    let gpu = gpu();
    for options in FUSION {
        let (g, x, y) = tiny(3);
        let mut store = ParamStore::new(7);
        let exec = Executor::with_options(gpu, g.clone(), &mut store, None, options).unwrap();
        let input = Rng::new(1).vec(g.node(x).len(), 0.0, 1.0);
        exec.set_input(gpu, x, &input).unwrap();
        gpu.run("forward", &exec.dispatches(&[])).unwrap();
        // The CPU twin of the graph as built, unfused.
        let want = cpu::forward(&g, &[(x, input)], &params_of(&store)).unwrap();
        let mut folded = 0;
        for (id, want) in want.iter().enumerate() {
            if let Op::Fused { .. } = exec.graph.node(id).op {
                // Its value lives only inside the fused kernel: reading it is an error.
                assert!(exec.read(gpu, id).is_err());
                folded += 1;
                continue;
            }
            // Sums of a few dozen products in another order: f32 rounding only.
            let what = format!("{} {options:?}", g.node(id).name);
            assert_close(&what, &exec.read(gpu, id).unwrap(), want, 1e-4);
        }
        // Both convolutions fold into their activations when fused.
        assert_eq!(folded, if options.fuse { 2 } else { 0 });
        assert!(
            exec.read(gpu, y)
                .unwrap()
                .iter()
                .all(|v| (0.0..=1.0).contains(v))
        );
    }
}

#[test]
fn fusion_folds_each_conv_into_its_only_activation() {
    let ae = model::mnist_autoencoder(2).unwrap();
    let id = |name: &str| ae.graph.nodes.iter().position(|n| n.name == name).unwrap();
    let conv2 = id("dec.conv2");
    // The BCE loss reads the last conv's output (the logits): kept, the rest fused.
    let fused = fuse(&ae.graph, &[conv2]);
    for (conv, act) in [
        ("enc.conv1", "enc.conv1.elu"),
        ("enc.conv2", "enc.conv2.elu"),
        ("dec.conv1", "dec.conv1.elu"),
    ] {
        let into = id(act);
        assert_eq!(fused.node(id(conv)).op, Op::Fused { into });
        assert!(fused.node(id(conv)).inputs.is_empty());
        assert_eq!(
            fused.node(into).op,
            Op::Conv2d {
                kernel: 3,
                stride: 1,
                padding: Padding::Same,
                act: Some(Activation::ELU),
            }
        );
        assert_eq!(fused.node(into).inputs, ae.graph.node(id(conv)).inputs);
        assert_eq!(fused.shape(into), ae.graph.shape(into));
    }
    assert_eq!(fused.node(conv2).op, ae.graph.node(conv2).op);
    assert_eq!(fused.node(ae.output).op, Op::Act(Activation::Sigmoid));
    // Without the loss: the sigmoid too. Dense layers and their activations stay apart.
    let all = fuse(&ae.graph, &[]);
    assert_eq!(all.node(conv2).op, Op::Fused { into: ae.output });
    assert_eq!(all.node(id("enc.dense.elu")).op, Op::Act(Activation::ELU));

    // A conv read by two nodes, or followed by an activation its output cannot differentiate, stays.
    let mut g = Graph::new();
    let x = g.input("x", &[1, 2, 5, 5]);
    let c = g.conv2d("c", x, 3, 3, 1, Padding::Same).unwrap();
    g.act("c.relu", c, Activation::Relu);
    g.maxpool2("c.pool", c).unwrap();
    let c2 = g.conv2d("c2", x, 3, 3, 1, Padding::Same).unwrap();
    g.act("c2.flat", c2, Activation::Elu { alpha: 0.0 });
    let unchanged = fuse(&g, &[]);
    for (a, b) in unchanged.nodes.iter().zip(&g.nodes) {
        assert_eq!(a.op, b.op, "{}", a.name);
    }
}

#[test]
fn fused_and_unfused_training_agree() {
    let gpu = gpu();
    let mut runs = Vec::new();
    for options in FUSION {
        let (mut g, x, y) = tiny(4);
        let target = g.input("target", g.shape(y).to_vec().as_slice());
        let mut store = ParamStore::new(13);
        let training = Training {
            loss: LossKind::Mse,
            optimizer: Some(Optimizer::rmsprop(1e-2)),
        };
        let mut exec = Executor::with_options(
            gpu,
            g.clone(),
            &mut store,
            Some((training, y, target)),
            options,
        )
        .unwrap();
        let input = Rng::new(3).vec(g.node(x).len(), 0.0, 1.0);
        let tgt = input_target(&input, &vec![0.0; g.node(y).len()]).to_vec();
        exec.set_input(gpu, x, &input).unwrap();
        exec.set_input(gpu, target, &tgt).unwrap();
        let mut losses = Vec::new();
        for _ in 0..5 {
            exec.submit_step(gpu, &[]).unwrap();
            losses.push(exec.take_loss(gpu).unwrap().0 as f32);
        }
        runs.push((losses, params_of(&store)));
    }
    let [(loss_a, params_a), (loss_b, params_b)] = &runs[..] else {
        unreachable!()
    };
    // The same arithmetic but the pre-activation gradient, which the fused pass takes from the
    // output: f32 rounding over five steps.
    assert_close("losses, fused vs not", loss_b, loss_a, 1e-5);
    assert!(
        loss_a[4] < loss_a[0],
        "training lowers the loss: {loss_a:?}"
    );
    for (name, a) in params_a {
        assert_close(&format!("{name} after 5 steps"), &params_b[name], a, 1e-5);
    }
}

/// The loss of the CPU graph for `params`, computed as the executor does.
fn cpu_loss(
    g: &Graph,
    x: usize,
    input: &[f32],
    params: &BTreeMap<String, Vec<f32>>,
    kind: LossKind,
) -> f64 {
    let values = cpu::forward(g, &[(x, input.to_vec())], params).unwrap();
    let out = g.nodes.len() - 1;
    match kind {
        // BCE from the sigmoid's input (the logits), as the executor computes it.
        LossKind::BceWithLogits => {
            loss::cpu::loss_forward(kind, &values[out - 1], input_target(input, &values[out]))
        }
        LossKind::Mse => {
            loss::cpu::loss_forward(kind, &values[out], input_target(input, &values[out]))
        }
    }
}

/// The tiny model's target: the first output-sized chunk of the input, so shapes match.
fn input_target<'a>(input: &'a [f32], out: &[f32]) -> &'a [f32] {
    &input[..out.len()]
}

#[test]
fn gradients_match_finite_differences() {
    let gpu = gpu();
    let cases = [LossKind::BceWithLogits, LossKind::Mse]
        .into_iter()
        .flat_map(|kind| FUSION.map(|options| (kind, options)));
    for (kind, options) in cases {
        let (mut g, x, y) = tiny(2);
        let target = g.input("target", g.shape(y).to_vec().as_slice());
        let mut store = ParamStore::new(11);
        // lr 0: the step computes gradients and leaves the weights as they were.
        let training = Training {
            loss: kind,
            optimizer: Some(Optimizer::rmsprop(0.0)),
        };
        let mut exec = Executor::with_options(
            gpu,
            g.clone(),
            &mut store,
            Some((training, y, target)),
            options,
        )
        .unwrap();
        let input = Rng::new(5).vec(g.node(x).len(), 0.0, 1.0);
        let tgt = input_target(&input, &vec![0.0; g.node(y).len()]).to_vec();
        exec.set_input(gpu, x, &input).unwrap();
        exec.set_input(gpu, target, &tgt).unwrap();
        exec.submit_step(gpu, &[]).unwrap();
        let (gpu_loss, count) = exec.take_loss(gpu).unwrap();
        assert_eq!(count, 1);
        let params = params_of(&store);
        // The CPU graph has no target node value; drop it from the graph by evaluating the prefix.
        let mut prefix = g.clone();
        prefix.nodes.truncate(target);
        let base = cpu_loss(&prefix, x, &input, &params, kind);
        assert!(
            (gpu_loss - base).abs() < 1e-4 * (1.0 + base.abs()),
            "{kind:?} {options:?}: gpu loss {gpu_loss} vs cpu {base}"
        );
        let mut rng = Rng::new(9);
        let mut checked = 0;
        for (name, p) in &store.params {
            let grad = gpu.read::<f32>(&p.grad, 0, p.len()).unwrap();
            for _ in 0..4 {
                let i = rng.below(p.len());
                let h = 1e-2f32;
                let mut plus = params.clone();
                plus.get_mut(name).unwrap()[i] += h;
                let mut minus = params.clone();
                minus.get_mut(name).unwrap()[i] -= h;
                let fd = (cpu_loss(&prefix, x, &input, &plus, kind)
                    - cpu_loss(&prefix, x, &input, &minus, kind))
                    / (2.0 * h as f64);
                // f32 forward passes and a step of 1e-2: agreement to about 1e-3 absolute.
                let err = (fd - grad[i] as f64).abs();
                assert!(
                    err < 2e-3 + 0.05 * fd.abs(),
                    "{kind:?} {options:?} d/d {name}[{i}]: gpu {} vs fd {fd}",
                    grad[i]
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 4 * 8, "every weight and bias checked");
    }
}

#[test]
fn encoder_and_decoder_share_the_autoencoders_weights() {
    let gpu = gpu();
    let mut store = ParamStore::new(3);
    let ae = model::mnist_autoencoder(2).unwrap();
    let enc = model::mnist_encoder_graph(2).unwrap();
    let dec = model::mnist_decoder_graph(2).unwrap();
    let ae_exec = Executor::new(gpu, ae.graph.clone(), &mut store, None).unwrap();
    let n_params = store.params.len();
    let enc_exec = Executor::new(gpu, enc.graph.clone(), &mut store, None).unwrap();
    let dec_exec = Executor::new(gpu, dec.graph.clone(), &mut store, None).unwrap();
    assert_eq!(store.params.len(), n_params, "views created no new weights");
    let images = Rng::new(4).vec(2 * 784, 0.0, 1.0);
    ae_exec.set_input(gpu, ae.input, &images).unwrap();
    enc_exec.set_input(gpu, enc.input, &images).unwrap();
    gpu.run("ae", &ae_exec.dispatches(&[])).unwrap();
    gpu.run("enc", &enc_exec.dispatches(&[])).unwrap();
    let z = enc_exec.read(gpu, enc.output).unwrap();
    assert_eq!(z.len(), 2 * model::MNIST_LATENT);
    dec_exec.set_input(gpu, dec.input, &z).unwrap();
    gpu.run("dec", &dec_exec.dispatches(&[])).unwrap();
    assert_close(
        "decode(encode(x)) vs autoencoder(x)",
        &dec_exec.read(gpu, dec.output).unwrap(),
        &ae_exec.read(gpu, ae.output).unwrap(),
        1e-6,
    );
}

#[test]
fn inference_in_uneven_batches_matches_one_batch() {
    let gpu = gpu();
    let mut store = ParamStore::new(5);
    let images = Rng::new(6).vec(5 * 784, 0.0, 1.0);
    let build = model::mnist_encoder_graph;
    // 2 + 2 + 1 rows: two executors, the last batch smaller.
    let split = latentviz::train::infer(gpu, &mut store, build, &images, 2).unwrap();
    let whole = latentviz::train::infer(gpu, &mut store, build, &images, 5).unwrap();
    assert_eq!(split.len(), 5 * model::MNIST_LATENT);
    assert_close("batches of 2 vs 5", &split, &whole, 1e-5);
}
