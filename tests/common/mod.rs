//! Shared test helpers: one GPU per test binary, seeded inputs, tolerances.
#![allow(dead_code)]

use std::sync::OnceLock;

use latentviz::{Gpu, GpuOptions};

/// The test GPU. In CI (CI=true) a missing adapter fails the test rather than skipping it.
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| match Gpu::new(&GpuOptions::default()) {
        Ok(g) => g,
        Err(e) => panic!("GPU tests need an adapter: {e}"),
    })
}

/// Largest |a - b| / (1 + |b|) over two slices of equal length.
pub fn max_rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f32::max)
}

pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert!(
        got.iter().all(|v| v.is_finite()),
        "{what}: non-finite output"
    );
    let err = max_rel_err(got, want);
    assert!(err <= tol, "{what}: max relative error {err} > {tol}");
}

/// Parse and validate WGSL (a generated kernel) with naga, every check and capability on;
/// panics with `what` and naga's report.
pub fn assert_valid_wgsl(what: &str, source: &str) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{what}: {}", e.emit_to_string(source)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{what}: {}", e.emit_to_string(source)));
}

/// n points of d uniform coordinates in [-1, 1), row-major.
pub fn points(rng: &mut latentviz::rng::Rng, n: usize, d: usize) -> Vec<f32> {
    rng.vec(n * d, -1.0, 1.0)
}

/// Runs the `latentviz` binary: (whether it succeeded, its stderr).
pub fn latentviz(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_latentviz"))
        .args(args)
        .output()
        .expect("run latentviz");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}
