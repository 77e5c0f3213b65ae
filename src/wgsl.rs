//! The one way Rust values reach WGSL: a `#[repr(C)]` params struct declared through
//! [`wgsl_struct!`] gets its WGSL declaration emitted from the same field list, and a kernel file
//! written without it gets it prepended ([`with_structs`]). The macro checks at compile time that
//! WGSL lays the fields out where Rust does; `tests/wgsl.rs` holds that rule against naga's.

/// A Rust type with a WGSL twin: its WGSL name, and WGSL's alignment and size for it.
pub trait WgslType {
    const WGSL: &'static str;
    const ALIGN: usize;
    const SIZE: usize;
}

macro_rules! wgsl_type {
    ($($rust:ty => $wgsl:literal, $align:literal, $size:literal;)*) => {
        $(impl WgslType for $rust {
            const WGSL: &'static str = $wgsl;
            const ALIGN: usize = $align;
            const SIZE: usize = $size;
        })*
    };
}

wgsl_type! {
    u32 => "u32", 4, 4;
    i32 => "i32", 4, 4;
    f32 => "f32", 4, 4;
    [f32; 2] => "vec2<f32>", 8, 8;
    [u32; 4] => "vec4<u32>", 16, 16;
    [f32; 4] => "vec4<f32>", 16, 16;
}

/// One field of a [`WgslStruct`]: its name, WGSL type, WGSL alignment and size, and its byte
/// offset in the Rust struct.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: &'static str,
    pub align: usize,
    pub size: usize,
    pub offset: usize,
}

/// Whether WGSL's layout of `fields` (each at the next multiple of its alignment, the struct
/// rounded up to its largest alignment) puts every field at its Rust offset and is `size` long.
pub const fn layout_matches(fields: &[Field], size: usize) -> bool {
    let (mut end, mut align, mut i) = (0usize, 1usize, 0);
    while i < fields.len() {
        let f = &fields[i];
        let offset = end.next_multiple_of(f.align);
        if offset != f.offset {
            return false;
        }
        end = offset + f.size;
        if f.align > align {
            align = f.align;
        }
        i += 1;
    }
    end.next_multiple_of(align) == size
}

/// A Rust struct whose WGSL declaration is emitted from its own fields (see [`wgsl_struct!`]).
pub trait WgslStruct: bytemuck::Pod {
    const FIELDS: &'static [Field];

    /// `struct {name} { field: type, ... }` with the Rust fields in order.
    fn declare(name: &str) -> String {
        let mut s = format!("struct {name} {{\n");
        for f in Self::FIELDS {
            s += &format!("    {}: {},\n", f.name, f.ty);
        }
        s + "}\n"
    }

    /// `body` (a kernel file written without it) with this struct declared as `Params`.
    fn as_params_of(body: &str) -> String {
        with_structs(&[Self::declare("Params")], body)
    }

    /// [`Self::as_params_of`], with `GROUP` (the kernel's workgroup size, which its launcher
    /// counts workgroups by) declared too.
    fn as_params_of_group(body: &str, group: u32) -> String {
        with_structs(
            &[
                Self::declare("Params"),
                u32_constants(&[("GROUP", group as usize)]),
            ],
            body,
        )
    }
}

/// `const NAME: u32 = VALUEu;` for each pair, so a number Rust and WGSL share has one source.
pub fn u32_constants(constants: &[(&str, usize)]) -> String {
    constants
        .iter()
        .map(|(name, value)| {
            let value = u32::try_from(*value).expect("a WGSL u32 constant fits in u32");
            format!("const {name}: u32 = {value}u;\n")
        })
        .collect()
}

/// `body` (a kernel written without its struct declarations) with `structs` (declarations from
/// [`WgslStruct::declare`], and constants from [`u32_constants`]) before it.
pub fn with_structs(structs: &[String], body: &str) -> String {
    let mut s = structs.concat();
    s.push('\n');
    s.push_str(body);
    s
}

/// `const NAME: f32 = VALUE;` for each pair, VALUE in Rust's shortest form that reads back as the
/// same f32 (checked here through f64, the way WGSL turns an abstract float into an f32).
pub fn f32_constants(constants: &[(&str, f32)]) -> String {
    constants
        .iter()
        .map(|(name, value)| {
            let text = format!("{value:?}");
            assert!(
                value.is_finite() && text.parse::<f64>().is_ok_and(|v| v as f32 == *value),
                "WGSL constant {name} = {text} does not read back as the same f32"
            );
            format!("const {name}: f32 = {text};\n")
        })
        .collect()
}

/// Declares a `#[repr(C)]` struct (attributes and derives as written) and implements
/// [`WgslStruct`] for it from the same field list, so its WGSL twin cannot drift.
#[macro_export]
macro_rules! wgsl_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $ty),*
        }

        impl $crate::wgsl::WgslStruct for $name {
            const FIELDS: &'static [$crate::wgsl::Field] = &[$(
                $crate::wgsl::Field {
                    name: stringify!($field),
                    ty: <$ty as $crate::wgsl::WgslType>::WGSL,
                    align: <$ty as $crate::wgsl::WgslType>::ALIGN,
                    size: <$ty as $crate::wgsl::WgslType>::SIZE,
                    offset: ::core::mem::offset_of!($name, $field),
                }
            ),*];
        }

        const _: () = assert!(
            $crate::wgsl::layout_matches(
                <$name as $crate::wgsl::WgslStruct>::FIELDS,
                ::core::mem::size_of::<$name>(),
            ),
            concat!("WGSL lays out ", stringify!($name), " unlike Rust"),
        );
    };
}

/// Appends a line of generated WGSL to a `String` (`wgsl_line!(w)` for an empty one; a format
/// string that spans several lines appends them all, so a fixed block reads as WGSL): the
/// generators' only way of writing text.
#[macro_export]
macro_rules! wgsl_line {
    ($w:expr) => {
        $w.push('\n')
    };
    ($w:expr, $($arg:tt)*) => {{
        use ::std::fmt::Write as _;
        writeln!($w, $($arg)*).expect("writing to a String cannot fail")
    }};
}
