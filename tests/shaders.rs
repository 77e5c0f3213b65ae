//! Every shader (each `.wgsl` file under shaders/ and src/) parses and validates with naga. Needs
//! no adapter, so a broken shader fails CI even where no GPU exists. Files Rust completes (structs
//! and constants declared from Rust, generated entry points) are validated as the program
//! assembles them, for every variant it can make.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Validates `source` as the program assembles it: texel-table users get their `texel_at`
/// (`gpu::with_texel_tables`; the width does not change validity).
fn validate(label: &str, source: &str, failures: &mut Vec<String>) {
    let source = &latentviz::gpu::with_texel_tables(source, 12);
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
    for (path, source) in latentviz::tsne::fft::kernel_sources() {
        all.entry(path).or_default().push(source);
    }
    all
}

#[test]
fn every_shader_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["shaders", "src"] {
        wgsl_files(&root.join(dir), &mut files);
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
    assert!(checked >= 2, "found only {checked} shaders");
}
