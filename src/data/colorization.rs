//! The colorization toy data set: grey 48x48 images holding five shapes (red squares and blue
//! circles); the network sees the shapes white on grey and must paint them in their colour.

use crate::rng::Rng;

/// Image side in pixels.
pub const SIDE: usize = 48;
/// Background grey level (122/255), in every channel of input and target.
pub const BACKGROUND: f32 = 122.0 / 255.0;
/// Shapes per image.
pub const SHAPES: usize = 5;
/// Side of a square and diameter of a circle, in pixels.
pub const SHAPE_SIZE: usize = 25;

/// `n` images from `seed`: returns (inputs, targets), inputs n x 1 x 48 x 48 (white shapes on grey),
/// targets n x 3 x 48 x 48 CHW (red squares (1, 0, 0) and blue circles (0, 0, 1) on grey).
/// Each shape is a square or a circle with equal odds, placed uniformly so it lies wholly inside
/// the image; shapes may overlap, later ones on top. A pixel belongs to a circle when its centre
/// lies within the circle.
pub fn generate(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let plane = SIDE * SIDE;
    let mut inputs = vec![BACKGROUND; n * plane];
    let mut targets = vec![BACKGROUND; n * 3 * plane];
    let mut rng = Rng::new(seed);
    let r = SHAPE_SIZE as f32 / 2.0;
    for i in 0..n {
        let input = &mut inputs[i * plane..(i + 1) * plane];
        let target = &mut targets[i * 3 * plane..(i + 1) * 3 * plane];
        for _ in 0..SHAPES {
            let circle = rng.below(2) == 1;
            let x0 = rng.below(SIDE - SHAPE_SIZE + 1);
            let y0 = rng.below(SIDE - SHAPE_SIZE + 1);
            let colour = if circle {
                [0.0, 0.0, 1.0]
            } else {
                [1.0, 0.0, 0.0]
            };
            for y in y0..y0 + SHAPE_SIZE {
                for x in x0..x0 + SHAPE_SIZE {
                    if circle {
                        let dx = x as f32 + 0.5 - (x0 as f32 + r);
                        let dy = y as f32 + 0.5 - (y0 as f32 + r);
                        if dx * dx + dy * dy > r * r {
                            continue;
                        }
                    }
                    let p = y * SIDE + x;
                    input[p] = 1.0;
                    for (k, &v) in colour.iter().enumerate() {
                        target[k * plane + p] = v;
                    }
                }
            }
        }
    }
    (inputs, targets)
}
