//! src/wgsl.rs: the WGSL struct declarations emitted from Rust params structs. The compile-time
//! layout check of `wgsl_struct!` follows WGSL's rule as written in `wgsl::layout_matches`; these
//! tests hold that rule against naga's own layouter, and show the check rejects a struct WGSL
//! would lay out differently.

use latentviz::tsne::fft::{FftParams, GridGeometry};
use latentviz::wgsl::{Field, WgslStruct, f32_constants, layout_matches, u32_constants};

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

/// Constants emitted for WGSL read back as the very values Rust holds: naga's f32 for each
/// `f32_constants` line (abstract float, then f32) and u32 for each `u32_constants` line.
#[test]
fn emitted_constants_read_back_exactly() {
    let floats = [
        0.8f32,
        0.1,
        1.0 / 3.0,
        1.1,
        1e-30,
        3.0e38,
        -2.5,
        16_777_217.0,
    ];
    let names: Vec<String> = (0..floats.len()).map(|i| format!("F{i}")).collect();
    let pairs: Vec<(&str, f32)> = names.iter().map(String::as_str).zip(floats).collect();
    let source = f32_constants(&pairs) + &u32_constants(&[("U", 4096), ("W", u32::MAX as usize)]);
    let module = naga::front::wgsl::parse_str(&source).expect("emitted constants parse");
    let mut seen = 0;
    for (_, c) in module.constants.iter() {
        let name = c.name.as_deref().unwrap();
        let literal = match module.global_expressions[c.init] {
            naga::Expression::Literal(l) => l,
            ref other => panic!("{name} = {other:?}"),
        };
        match (name, literal) {
            ("U", naga::Literal::U32(v)) => assert_eq!(v, 4096),
            ("W", naga::Literal::U32(v)) => assert_eq!(v, u32::MAX),
            (_, naga::Literal::F32(v)) => {
                let i: usize = name[1..].parse().unwrap();
                assert_eq!(v.to_bits(), floats[i].to_bits(), "{name}");
            }
            other => panic!("{other:?}"),
        }
        seen += 1;
    }
    assert_eq!(seen, floats.len() + 2);
}
