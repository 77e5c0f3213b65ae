//! Every shader in shaders/ parses and validates with naga. Needs no adapter, so a broken shader
//! fails CI even where no GPU exists. Templates (files Rust completes with generated entry points
//! and constants) are validated as the program assembles them, for every variant it can make.

use std::fs;

/// Template file → every complete source the program builds from it.
fn template_variants(name: &str) -> Option<Vec<(String, String)>> {
    use latentviz::tsne::fft::{MAX_RADIX, interpolate_source, stockham_source};
    match name {
        "interpolate.wgsl" => Some(
            [false, true]
                .into_iter()
                .map(|sg| (format!("{name} subgroups {sg}"), interpolate_source(sg)))
                .collect(),
        ),
        "stockham.wgsl" => {
            let smooth = |mut r: usize| {
                for p in [2, 3, 5] {
                    while r.is_multiple_of(p) {
                        r /= p;
                    }
                }
                r == 1
            };
            let mut out = Vec::new();
            for radix in (2..=MAX_RADIX).filter(|&r| smooth(r)) {
                for flags in 0..8u32 {
                    let (pad, prune, fused) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
                    out.push((
                        format!("{name} radix {radix} pad {pad} prune {prune} fused {fused}"),
                        stockham_source(radix, pad, prune, fused),
                    ));
                }
            }
            Some(out)
        }
        _ => None,
    }
}

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

#[test]
fn every_shader_validates() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let fft_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/tsne/fft");
    let mut checked = 0;
    let mut failures = Vec::new();
    let entries = fs::read_dir(dir).unwrap().chain(fs::read_dir(fft_dir).unwrap());
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("wgsl") {
            continue;
        }
        let source = fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !source.trim_start().starts_with("//") {
            failures.push(format!(
                "{name}: must open with a comment (math, bindings, invocation)"
            ));
        }
        match template_variants(&name) {
            Some(variants) => {
                assert!(!variants.is_empty(), "{name}: no variants");
                for (label, src) in variants {
                    validate(&label, &src, &mut failures);
                }
            }
            None => validate(&name, &source, &mut failures),
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "invalid shaders:\n{}",
        failures.join("\n")
    );
    assert!(checked >= 2, "found only {checked} shaders in {dir}");
}
