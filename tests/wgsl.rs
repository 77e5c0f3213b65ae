//! src/wgsl.rs: the WGSL struct declarations emitted from Rust params structs. The compile-time
//! layout check of `wgsl_struct!` follows WGSL's rule as written in `wgsl::layout_matches`; these
//! tests hold that rule against naga's own layouter, and show the check rejects a struct WGSL
//! would lay out differently.

use latentviz::tsne::fft::{FftParams, GridGeometry};
use latentviz::wgsl::{Field, WgslStruct, layout_matches};

/// naga's offsets of the members of `name` (declared in `source`) and its size.
fn naga_layout(source: &str, name: &str) -> (Vec<(String, u32)>, u32) {
    let module = naga::front::wgsl::parse_str(source).expect("emitted WGSL parses");
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).unwrap();
    let (handle, ty) = module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(name))
        .expect("struct declared");
    match &ty.inner {
        naga::TypeInner::Struct { members, span } => (
            members
                .iter()
                .map(|m| (m.name.clone().unwrap(), m.offset))
                .collect(),
            layouter[handle].size.max(*span),
        ),
        other => panic!("{name} is {other:?}"),
    }
}

fn check<T: WgslStruct>(name: &str) {
    let source = latentviz::wgsl::with_structs(
        &[T::declare(name)],
        &format!("@group(0) @binding(0) var<storage, read> p: {name};\n"),
    );
    let (members, size) = naga_layout(&source, name);
    let rust: Vec<(String, u32)> = T::FIELDS
        .iter()
        .map(|f| (f.name.to_string(), f.offset as u32))
        .collect();
    assert_eq!(members, rust, "{name} offsets");
    assert_eq!(size as usize, std::mem::size_of::<T>(), "{name} size");
}

#[test]
fn emitted_structs_have_the_rust_layout() {
    check::<FftParams>("Params");
    check::<GridGeometry>("Grid");
}

#[test]
fn the_layout_rule_rejects_what_wgsl_would_move() {
    let field = |name, ty, align, size, offset| Field {
        name,
        ty,
        align,
        size,
        offset,
    };
    // A vec4 after one u32 sits at 16 in WGSL: a Rust struct with it at 4 must be refused.
    let packed = [
        field("a", "u32", 4, 4, 0),
        field("v", "vec4<f32>", 16, 16, 4),
    ];
    assert!(!layout_matches(&packed, 20));
    let padded = [
        field("a", "u32", 4, 4, 0),
        field("v", "vec4<f32>", 16, 16, 16),
    ];
    assert!(layout_matches(&padded, 32));
    // WGSL rounds the struct up to its largest alignment.
    assert!(!layout_matches(&padded[..1], 3));
    let pair = [field("p", "vec2<f32>", 8, 8, 0), field("x", "f32", 4, 4, 8)];
    assert!(layout_matches(&pair, 16));
    assert!(!layout_matches(&pair, 12));
}
