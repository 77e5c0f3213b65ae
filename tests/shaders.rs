//! Every shader (each `.wgsl` file under src/) parses and validates with naga. Needs
//! no adapter, so a broken shader fails CI even where no GPU exists. Files Rust completes (structs
//! and constants declared from Rust, generated entry points) are validated as the program
//! assembles them, for every variant it can make.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Validates `source` as the program assembles it: texel-table users get their `texel_at`
/// (`gpu::with_texel_tables`; their width is an override constant, set only at pipeline creation).
fn validate(label: &str, source: &str, failures: &mut Vec<String>) {
    let source = &latentviz::gpu::with_texel_tables(source);
    let module = match naga::front::wgsl::parse_str(source) {
        Ok(m) => m,
        Err(e) => {
            failures.push(format!("{label}: {}", e.emit_to_string(source)));
            return;
        }
    };
    let mut validator = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    );
    if let Err(e) = validator.validate(&module) {
        failures.push(format!("{label}: {}", e.emit_to_string(source)));
    }
}

/// Every `.wgsl` file under `dir`, recursively.
fn wgsl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            wgsl_files(&path, out);
        } else if path.extension().and_then(|e| e.to_str()) == Some("wgsl") {
            out.push(path);
        }
    }
}

/// Files Rust completes → every source the program assembles from each (one per variant).
fn assembled() -> HashMap<&'static str, Vec<String>> {
    let mut all: HashMap<&'static str, Vec<String>> = HashMap::new();
    let lists = [
        latentviz::ops::kernel_sources(),
        latentviz::tsne::kernel_sources(),
        latentviz::knn::kernel_sources(),
        latentviz::pca::kernel_sources(),
    ];
    for (path, source) in lists.into_iter().flatten() {
        all.entry(path).or_default().push(source);
    }
    all
}

#[test]
fn every_shader_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src"] {
        if root.join(dir).is_dir() {
            wgsl_files(&root.join(dir), &mut files);
        }
    }
    let assembled = assembled();
    for path in assembled.keys() {
        assert!(root.join(path).is_file(), "{path}: listed but not found");
    }
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in files {
        let source = fs::read_to_string(&path).unwrap();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if !source.trim_start().starts_with("//") {
            failures.push(format!(
                "{rel}: must open with a comment (math, bindings, invocation)"
            ));
        }
        match assembled.get(rel.as_str()) {
            Some(variants) => {
                for (k, full) in variants.iter().enumerate() {
                    validate(&format!("{rel} (variant {k})"), full, &mut failures);
                }
            }
            None => validate(&rel, &source, &mut failures),
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "invalid shaders:\n{}",
        failures.join("\n")
    );
    assert!(checked >= 50, "found only {checked} shaders");
}

/// Every generated conv2d kernel, in every variant the generators make for the launchers (the
/// folder's files are validated with the others above).
#[test]
fn conv2d_kernels_validate() {
    use latentviz::ops::activation::Activation;
    use latentviz::ops::conv2d::{Conv2dPass, blocked, few_channels, subgroup};
    let mut sources = Vec::new();
    let mut failures = Vec::new();
    // The activations the forward kernels fuse (None: plain).
    let acts = [
        None,
        Some(Activation::ELU),
        Some(Activation::Relu),
        Some(Activation::Sigmoid),
    ];
    for act in acts {
        let label = format!("blocked forward {act:?}");
        sources.push((label, blocked::forward_source(act)));
        for rows in [subgroup::TILE_ROWS_SMALL, subgroup::TILE_ROWS] {
            let label = format!("subgroup Forward rows {rows} {act:?}");
            sources.push((label, subgroup::source(Conv2dPass::Forward, rows, act)));
        }
        for k in 1..=few_channels::MAX_KERNEL {
            for n in 1..=few_channels::MAX_CHANNELS {
                let label = format!("few channels forward k {k} n {n} {act:?}");
                sources.push((label, few_channels::forward_source(k, n, act)));
            }
        }
    }
    sources.push(("blocked input".into(), blocked::backward_input_source()));
    sources.push(("blocked weight".into(), blocked::backward_weight_source()));
    for pass in [Conv2dPass::BackwardInput, Conv2dPass::BackwardWeight] {
        for rows in [subgroup::TILE_ROWS_SMALL, subgroup::TILE_ROWS] {
            let label = format!("subgroup {pass:?} rows {rows}");
            sources.push((label, subgroup::source(pass, rows, None)));
        }
    }
    for pass in [
        Conv2dPass::Forward,
        Conv2dPass::BackwardInput,
        Conv2dPass::BackwardWeight,
    ] {
        let label = format!("subgroup repack {pass:?}");
        sources.push((label, subgroup::weight_repack_source(pass)));
    }
    for k in 1..=few_channels::MAX_KERNEL {
        for n in 1..=few_channels::MAX_CHANNELS {
            for icb in 1..=few_channels::WEIGHT_IN_CHANNELS {
                let rows = few_channels::WEIGHT_BAND_ROWS;
                let label = format!("few channels weight k {k} n {n} icb {icb}");
                let source = few_channels::backward_weight_source(k, n, icb, rows);
                sources.push((label, source));
            }
        }
    }
    for (label, source) in &sources {
        if !source.trim_start().starts_with("//") {
            failures.push(format!(
                "{label}: must open with a comment (math, bindings, invocation)"
            ));
        }
        validate(label, source, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "invalid conv2d kernels:\n{}",
        failures.join("\n")
    );
}
