//! Temporary check at the switch from the committed unrolled blocked kernels to their generator:
//! the generated WGSL equals shaders/conv2d_{forward,backward_input,backward_weight}.wgsl once
//! comments are stripped and whitespace is normalised. Deleted with the files.

use latentviz::ops::conv2d::blocked;

/// The source without `//` comments, as one line of tokens separated by single spaces.
fn normalised(source: &str) -> String {
    let code: Vec<&str> = source
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect();
    code.join("\n")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The non-blank lines without comments, each trimmed.
fn lines(source: &str) -> Vec<String> {
    source
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]).trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn generated_blocked_kernels_equal_the_committed_files() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    for (file, generated) in [
        ("conv2d_forward.wgsl", blocked::forward_source()),
        (
            "conv2d_backward_input.wgsl",
            blocked::backward_input_source(),
        ),
        (
            "conv2d_backward_weight.wgsl",
            blocked::backward_weight_source(),
        ),
    ] {
        let committed = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        let (a, b) = (lines(&committed), lines(&generated));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            if x != y {
                eprintln!("{file}: first differing line {i}:\n  file: {x}\n  gen:  {y}");
                break;
            }
        }
        eprintln!(
            "{file}: {} code lines, line by line equal: {}",
            a.len(),
            a == b
        );
        assert_eq!(normalised(&committed), normalised(&generated), "{file}");
    }
}
