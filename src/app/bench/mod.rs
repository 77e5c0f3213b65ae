//! Kernel benchmarks at the seed model's shapes: for each kernel, the parity error against its
//! CPU reference first, then the time and GFLOP/s, with the baselines measured in the same run
//! (a one-output-per-invocation GPU kernel, and a single-threaded vectorizable CPU loop).
//! `latentviz bench` prints them; `benches/kernels.rs` runs the same cases under criterion.

pub mod baseline;
pub mod step;

use std::time::Instant;

use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, Timer};
use crate::ops::activation::{self, Activation};
use crate::ops::conv2d::{self, Conv2dShape, Padding};
use crate::ops::dense::{self, DenseShape};
use crate::ops::loss::{self, LossKind};
use crate::ops::matmul::{self, MatmulShape};
use crate::ops::maxpool::{self, PoolShape};
use crate::ops::optim::{self, Optimizer};
use crate::ops::upsample::{self, UpsampleShape};
use crate::rng::Rng;

/// CPU seconds this process has used (user + system, all threads: lavapipe's workers included),
/// from /proc (Linux); a load-independent measure on a shared machine. 0 where unavailable.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    if f.len() < 13 {
        return 0.0;
    }
    (f[11] + f[12]) / 100.0
}

/// A CPU computation producing the same values as a case's GPU output.
pub type CpuFn = Box<dyn Fn() -> Vec<f32>>;

/// One kernel launch to check and time.
pub struct Case {
    /// Family (conv2d, dense, ...) for criterion groups and `--filter`.
    pub family: &'static str,
    pub name: String,
    pub flops: f64,
    pub dispatches: Vec<Dispatch>,
    /// Where the GPU result lands, and how many values to compare.
    pub output: wgpu::Buffer,
    pub output_len: usize,
    /// The plain-loop reference (slow; used once for parity).
    pub reference: CpuFn,
    /// The one-output-per-invocation GPU baseline, where one exists.
    pub naive: Option<Vec<Dispatch>>,
    /// The vectorizable single-threaded CPU loop, where one exists.
    pub cpu_fast: Option<CpuFn>,
}

/// What one case measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub name: String,
    /// max |gpu - cpu| / (1 + |cpu|)
    pub max_rel_err: f64,
    pub seconds: f64,
    pub gflops: f64,
    pub naive_seconds: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub gpu_timestamps: bool,
}

impl Report {
    pub fn vs_naive(&self) -> Option<f64> {
        self.naive_seconds.map(|n| n / self.seconds)
    }
    pub fn vs_cpu(&self) -> Option<f64> {
        self.cpu_seconds.map(|c| c / self.seconds)
    }
}

fn conv(batch: usize, in_ch: usize, out_ch: usize, side: usize) -> Conv2dShape {
    Conv2dShape {
        batch,
        in_ch,
        out_ch,
        height: side,
        width: side,
        kernel: 3,
        stride: 1,
        padding: Padding::Same,
    }
}

/// The seed autoencoder's layers at `batch`, and the colorization model's thin ones: (name, shape).
pub fn seed_convs(batch: usize) -> Vec<(&'static str, Conv2dShape)> {
    vec![
        ("enc.conv1 1→32 28²", conv(batch, 1, 32, 28)),
        ("enc.conv2 32→64 14²", conv(batch, 32, 64, 14)),
        ("dec.conv1 64→32 14²", conv(batch, 64, 32, 14)),
        ("dec.conv2 32→1 28²", conv(batch, 32, 1, 28)),
        // The colorization model's thin first and last layers (model::colorize_autoencoder).
        ("color.conv1 1→32 48²", conv(batch, 1, 32, 48)),
        ("color.conv4 32→3 48²", conv(batch, 32, 3, 48)),
    ]
}

pub fn seed_denses(batch: usize) -> Vec<(&'static str, DenseShape)> {
    vec![
        (
            "enc.dense 3136→32",
            DenseShape {
                batch,
                inputs: 3136,
                outputs: 32,
            },
        ),
        (
            "dec.dense 32→3136",
            DenseShape {
                batch,
                inputs: 32,
                outputs: 3136,
            },
        ),
    ]
}

fn data(gpu: &Gpu, rng: &mut Rng, label: &str, len: usize) -> (wgpu::Buffer, Vec<f32>) {
    let v = rng.vec(len, -1.0, 1.0);
    (gpu.storage_from(label, &v), v)
}

fn conv_cases(gpu: &Gpu, batch: usize, rng: &mut Rng, out: &mut Vec<Case>) -> Result<()> {
    for (name, s) in seed_convs(batch) {
        let (xb, x) = data(gpu, rng, "x", s.input_len());
        let (wb, w) = data(gpu, rng, "w", s.weight_len());
        let (bb, b) = data(gpu, rng, "b", s.bias_len());
        let (dyb, dy) = data(gpu, rng, "dy", s.output_len());
        let y = gpu.storage("y", s.output_len());
        let dx = gpu.storage("dx", s.input_len());
        let dw = gpu.storage("dw", s.weight_len());
        let db = gpu.storage("db", s.bias_len());
        // Each closure owns its inputs.
        let (x2, w2, b2) = (x.clone(), w.clone(), b.clone());
        let (w3, dy3, w4, dy4) = (w.clone(), dy.clone(), w.clone(), dy.clone());
        let (x3, dy5, x4, dy6) = (x.clone(), dy.clone(), x.clone(), dy.clone());
        out.push(Case {
            family: "conv2d",
            name: format!("conv2d forward {name}"),
            flops: s.flops(),
            dispatches: conv2d::forward(gpu, &s, &xb, &wb, &bb, &y)?,
            output: y.clone(),
            output_len: s.output_len(),
            reference: Box::new(move || conv2d::cpu::conv2d_forward(&s, &x, &w, &b)),
            naive: Some(vec![conv2d::naive::forward(gpu, &s, &xb, &wb, &bb, &y)?]),
            cpu_fast: Some(Box::new(move || {
                baseline::cpu_conv_forward(&s, &x2, &w2, &b2)
            })),
        });
        out.push(Case {
            family: "conv2d",
            name: format!("conv2d backward input {name}"),
            flops: s.flops(),
            dispatches: conv2d::backward_input(gpu, &s, &dyb, &wb, &dx)?,
            output: dx.clone(),
            output_len: s.input_len(),
            reference: Box::new(move || conv2d::cpu::conv2d_backward_input(&s, &dy3, &w3)),
            naive: Some(vec![conv2d::naive::backward_input(
                gpu, &s, &dyb, &wb, &dx,
            )?]),
            cpu_fast: Some(Box::new(move || {
                baseline::cpu_conv_backward_input(&s, &dy4, &w4)
            })),
        });
        out.push(Case {
            family: "conv2d",
            name: format!("conv2d backward weight {name}"),
            flops: s.flops(),
            dispatches: conv2d::backward_weight(gpu, &s, &xb, &dyb, &dw)?,
            output: dw.clone(),
            output_len: s.weight_len(),
            reference: Box::new(move || conv2d::cpu::conv2d_backward_weight(&s, &x3, &dy5)),
            naive: Some(vec![conv2d::naive::backward_weight(
                gpu, &s, &xb, &dyb, &dw,
            )?]),
            cpu_fast: Some(Box::new(move || {
                baseline::cpu_conv_backward_weight(&s, &x4, &dy6)
            })),
        });
        out.push(Case {
            family: "conv2d",
            name: format!("conv2d backward bias {name}"),
            flops: s.output_len() as f64,
            dispatches: conv2d::backward_bias(gpu, &s, &dyb, &db)?,
            output: db,
            output_len: s.bias_len(),
            reference: Box::new(move || conv2d::cpu::conv2d_backward_bias(&s, &dy)),
            naive: None,
            cpu_fast: None,
        });
    }
    Ok(())
}

/// One dense pass and the plain matmul that computes the same product.
struct DensePass {
    pass: &'static str,
    dispatches: Vec<Dispatch>,
    output: wgpu::Buffer,
    output_len: usize,
    product: MatmulShape,
    a: Vec<f32>,
    b: Vec<f32>,
    bias: Option<Vec<f32>>,
    naive: Dispatch,
}

fn dense_cases(gpu: &Gpu, batch: usize, rng: &mut Rng, out: &mut Vec<Case>) -> Result<()> {
    for (name, s) in seed_denses(batch) {
        let (xb, x) = data(gpu, rng, "x", s.x_len());
        let (wb, w) = data(gpu, rng, "w", s.w_len());
        let (bb, b) = data(gpu, rng, "b", s.b_len());
        let (dyb, dy) = data(gpu, rng, "dy", s.y_len());
        let y = gpu.storage("y", s.y_len());
        let dx = gpu.storage("dx", s.x_len());
        let dw = gpu.storage("dw", s.w_len());
        // The same products as the dense passes, as plain matmul shapes, for the baselines.
        let fwd = MatmulShape::new(s.batch, s.outputs, s.inputs);
        let bwd_in = MatmulShape {
            transpose_b: true,
            ..MatmulShape::new(s.batch, s.inputs, s.outputs)
        };
        let bwd_w = MatmulShape {
            transpose_a: true,
            ..MatmulShape::new(s.inputs, s.outputs, s.batch)
        };
        // (pass, dispatches, output, its length, the same product as a matmul, A, B, bias, naive)
        let passes = [
            DensePass {
                pass: "forward",
                dispatches: dense::forward(gpu, &s, &xb, &wb, &bb, &y)?,
                output: y.clone(),
                output_len: s.y_len(),
                product: fwd,
                a: x.clone(),
                b: w.clone(),
                bias: Some(b.clone()),
                naive: matmul::naive(gpu, &fwd, &xb, &wb, Some(&bb), &y)?,
            },
            DensePass {
                pass: "backward input",
                dispatches: dense::backward_input(gpu, &s, &dyb, &wb, &dx)?,
                output: dx.clone(),
                output_len: s.x_len(),
                product: bwd_in,
                a: dy.clone(),
                b: w.clone(),
                bias: None,
                naive: matmul::naive(gpu, &bwd_in, &dyb, &wb, None, &dx)?,
            },
            DensePass {
                pass: "backward weight",
                dispatches: dense::backward_weight(gpu, &s, &xb, &dyb, &dw)?,
                output: dw.clone(),
                output_len: s.w_len(),
                product: bwd_w,
                a: x.clone(),
                b: dy.clone(),
                bias: None,
                naive: matmul::naive(gpu, &bwd_w, &xb, &dyb, None, &dw)?,
            },
        ];
        for p in passes {
            let ms = p.product;
            let (a, bm, bias) = (p.a.clone(), p.b.clone(), p.bias.clone());
            let (a2, b2, bias2) = (p.a, p.b, p.bias);
            out.push(Case {
                family: "dense",
                name: format!("dense {} {name}", p.pass),
                flops: s.flops(),
                dispatches: p.dispatches,
                output: p.output,
                output_len: p.output_len,
                reference: Box::new(move || matmul::cpu::matmul(&ms, &a, &bm, bias.as_deref())),
                naive: Some(vec![p.naive]),
                cpu_fast: Some(Box::new(move || {
                    matmul::cpu::matmul_fast(&ms, &a2, &b2, bias2.as_deref())
                })),
            });
        }
        let db = gpu.storage("db", s.b_len());
        out.push(Case {
            family: "dense",
            name: format!("dense backward bias {name}"),
            flops: s.y_len() as f64,
            dispatches: dense::backward_bias(gpu, &s, &dyb, &db)?,
            output: db,
            output_len: s.b_len(),
            reference: Box::new(move || dense::cpu::dense_backward_bias(&s, &dy)),
            naive: None,
            cpu_fast: None,
        });
    }
    Ok(())
}

fn small_cases(gpu: &Gpu, batch: usize, rng: &mut Rng, out: &mut Vec<Case>) -> Result<()> {
    for (name, channels, side) in [("32×28²", 32, 28), ("64×14²", 64, 14)] {
        let s = PoolShape {
            batch,
            channels,
            height: side,
            width: side,
        };
        let (xb, x) = data(gpu, rng, "x", s.input_len());
        let y = gpu.storage("y", s.output_len());
        let idx = gpu.storage("argmax", s.output_len());
        let (dyb, dy) = data(gpu, rng, "dy", s.output_len());
        let dx = gpu.storage("dx", s.input_len());
        let x2 = x.clone();
        out.push(Case {
            family: "maxpool",
            name: format!("maxpool forward {name}"),
            flops: s.input_len() as f64,
            dispatches: vec![maxpool::forward(gpu, &s, &xb, &y, &idx)?],
            output: y,
            output_len: s.output_len(),
            reference: Box::new(move || maxpool::cpu::maxpool_forward(&s, &x).0),
            naive: None,
            cpu_fast: None,
        });
        // The backward pass reads the argmax the forward pass wrote: run both, compare dx.
        let mut both = vec![maxpool::forward(
            gpu,
            &s,
            &xb,
            &gpu.storage("y", s.output_len()),
            &idx,
        )?];
        both.push(maxpool::backward(gpu, &s, &idx, &dyb, &dx)?);
        out.push(Case {
            family: "maxpool",
            name: format!("maxpool forward+backward {name}"),
            flops: 2.0 * s.input_len() as f64,
            dispatches: both,
            output: dx,
            output_len: s.input_len(),
            reference: Box::new(move || {
                let (_, arg) = maxpool::cpu::maxpool_forward(&s, &x2);
                maxpool::cpu::maxpool_backward(&s, &arg, &dy)
            }),
            naive: None,
            cpu_fast: None,
        });
    }
    for (name, channels, side) in [("64×7²", 64, 7), ("32×14²", 32, 14)] {
        let s = UpsampleShape {
            batch,
            channels,
            height: side,
            width: side,
        };
        let (xb, x) = data(gpu, rng, "x", s.input_len());
        let y = gpu.storage("y", s.output_len());
        let (dyb, dy) = data(gpu, rng, "dy", s.output_len());
        let dx = gpu.storage("dx", s.input_len());
        out.push(Case {
            family: "upsample",
            name: format!("upsample forward {name}"),
            flops: s.output_len() as f64,
            dispatches: vec![upsample::forward(gpu, &s, &xb, &y)?],
            output: y,
            output_len: s.output_len(),
            reference: Box::new(move || upsample::cpu::upsample_forward(&s, &x)),
            naive: None,
            cpu_fast: None,
        });
        out.push(Case {
            family: "upsample",
            name: format!("upsample backward {name}"),
            flops: s.output_len() as f64,
            dispatches: vec![upsample::backward(gpu, &s, &dyb, &dx)?],
            output: dx,
            output_len: s.input_len(),
            reference: Box::new(move || upsample::cpu::upsample_backward(&s, &dy)),
            naive: None,
            cpu_fast: None,
        });
    }
    let len = batch * 32 * 28 * 28;
    for act in [Activation::ELU, Activation::Sigmoid] {
        let (xb, x) = data(gpu, rng, "x", len);
        let y = gpu.storage("y", len);
        out.push(Case {
            family: "activation",
            name: format!("{act:?} forward 32×28²"),
            flops: len as f64,
            dispatches: vec![activation::forward(gpu, act, &xb, &y, len)?],
            output: y,
            output_len: len,
            reference: Box::new(move || activation::cpu::activation_forward(act, &x)),
            naive: None,
            cpu_fast: None,
        });
    }
    let len = batch * 784;
    let (pb, p) = data(gpu, rng, "logits", len);
    let t: Vec<f32> = rng.vec(len, 0.0, 1.0);
    let tb = gpu.storage_from("target", &t);
    let grad = gpu.storage("grad", len);
    out.push(Case {
        family: "loss",
        name: "bce backward 1×28²".into(),
        flops: len as f64,
        dispatches: vec![loss::backward(
            gpu,
            LossKind::BceWithLogits,
            len,
            &pb,
            &tb,
            &grad,
        )?],
        output: grad,
        output_len: len,
        reference: Box::new(move || loss::cpu::loss_backward(LossKind::BceWithLogits, &p, &t)),
        naive: None,
        cpu_fast: None,
    });
    let len = 3136 * 32;
    for opt in [Optimizer::rmsprop(1e-3), Optimizer::adam(1e-3)] {
        let (pb, p) = data(gpu, rng, "param", len);
        let (gb, g) = data(gpu, rng, "grad", len);
        let states: Vec<wgpu::Buffer> = (0..opt.state_buffers())
            .map(|_| gpu.storage("state", len))
            .collect();
        let refs: Vec<&wgpu::Buffer> = states.iter().collect();
        let hyper = gpu.uniform("hyper", &opt.hyper(1));
        let name = match opt {
            Optimizer::RmsProp { .. } => "rmsprop",
            Optimizer::Adam { .. } => "adam",
        };
        out.push(Case {
            family: "optim",
            name: format!("{name} update 3136×32 (one step from zero state)"),
            flops: 6.0 * len as f64,
            dispatches: vec![optim::update(gpu, &opt, &hyper, len, &pb, &gb, &refs)?],
            output: pb,
            output_len: len,
            reference: Box::new(move || {
                let mut p = p.clone();
                let mut s1 = vec![0.0; len];
                let mut s2 = vec![0.0; len];
                match opt {
                    Optimizer::RmsProp { .. } => {
                        optim::cpu::rmsprop_update(&opt.hyper(1), &mut p, &g, &mut s1)
                    }
                    Optimizer::Adam { .. } => {
                        optim::cpu::adam_update(&opt.hyper(1), &mut p, &g, &mut s1, &mut s2)
                    }
                }
                p
            }),
            naive: None,
            cpu_fast: None,
        });
    }
    Ok(())
}

/// Every case at the seed model's shapes, or those whose name contains `filter`.
pub fn seed_cases(gpu: &Gpu, batch: usize, filter: Option<&str>) -> Result<Vec<Case>> {
    let mut rng = Rng::new(42);
    let mut out = Vec::new();
    conv_cases(gpu, batch, &mut rng, &mut out)?;
    dense_cases(gpu, batch, &mut rng, &mut out)?;
    small_cases(gpu, batch, &mut rng, &mut out)?;
    if let Some(f) = filter {
        let mut families: Vec<String> = out.iter().map(|c| c.family.to_string()).collect();
        families.dedup();
        out.retain(|c| c.name.contains(f) || c.family.contains(f));
        if out.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "--filter {f:?} matches no kernel; the families are {}",
                families.join(", ")
            )));
        }
    }
    Ok(out)
}

fn max_rel_err(got: &[f32], want: &[f32]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(&g, &w)| {
            if g.is_finite() {
                ((g - w).abs() / (1.0 + w.abs())) as f64
            } else {
                f64::INFINITY
            }
        })
        .fold(0.0, f64::max)
}

/// Check a case against its reference, then time it (and its baselines).
pub fn run_case(gpu: &Gpu, case: &Case, reps: usize) -> Result<Report> {
    let refs: Vec<&Dispatch> = case.dispatches.iter().collect();
    gpu.run(&case.name, &refs)?;
    let got: Vec<f32> = gpu.read(&case.output, 0, case.output_len)?;
    let max_rel_err = max_rel_err(&got, &(case.reference)());
    let timer = Timer::new(gpu);
    let t = timer.time(&case.name, &refs, reps)?;
    let naive_seconds = match &case.naive {
        Some(n) => {
            let r: Vec<&Dispatch> = n.iter().collect();
            Some(timer.time(&case.name, &r, 1)?.seconds)
        }
        None => None,
    };
    let cpu_seconds = case.cpu_fast.as_ref().map(|f| {
        let _ = f(); // warm caches
        let start = Instant::now();
        let v = f();
        std::hint::black_box(v);
        start.elapsed().as_secs_f64()
    });
    Ok(Report {
        name: case.name.clone(),
        max_rel_err,
        seconds: t.seconds,
        gflops: case.flops / t.seconds / 1e9,
        naive_seconds,
        cpu_seconds,
        gpu_timestamps: t.gpu_timestamps,
    })
}
