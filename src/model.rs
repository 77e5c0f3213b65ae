//! The seed models, built as graphs. The encoder, the decoder and the autoencoder are three views
//! of one set of weights: the same parameter names in one `ParamStore`.

use crate::error::Result;
use crate::graph::{Graph, NodeId};
use crate::ops::activation::Activation;
use crate::ops::conv2d::Padding;

/// Size of the MNIST autoencoder's latent code.
pub const MNIST_LATENT: usize = 32;
/// MNIST images: 1 channel, 28 × 28.
pub const MNIST_SIDE: usize = 28;

/// Conv(1→32, 3×3, same)–ELU–MaxPool2 → Conv(32→64)–ELU–MaxPool2 → Flatten → Dense(3136→32)–ELU.
pub fn mnist_encoder(g: &mut Graph, x: NodeId) -> Result<NodeId> {
    let elu = Activation::ELU;
    let h = g.conv2d("enc.conv1", x, 32, 3, 1, Padding::Same)?;
    let h = g.act("enc.conv1.elu", h, elu);
    let h = g.maxpool2("enc.pool1", h)?;
    let h = g.conv2d("enc.conv2", h, 64, 3, 1, Padding::Same)?;
    let h = g.act("enc.conv2.elu", h, elu);
    let h = g.maxpool2("enc.pool2", h)?;
    let h = g.flatten("enc.flatten", h)?;
    let h = g.dense("enc.dense", h, MNIST_LATENT)?;
    Ok(g.act("enc.dense.elu", h, elu))
}

/// Dense(32→3136)–ELU → reshape 64×7×7 → Upsample2 → Conv(64→32)–ELU → Upsample2 →
/// Conv(32→1)–sigmoid.
pub fn mnist_decoder(g: &mut Graph, z: NodeId) -> Result<NodeId> {
    let elu = Activation::ELU;
    let batch = g.shape(z)[0];
    let h = g.dense("dec.dense", z, 64 * 7 * 7)?;
    let h = g.act("dec.dense.elu", h, elu);
    let h = g.reshape("dec.reshape", h, &[batch, 64, 7, 7])?;
    let h = g.upsample2("dec.up1", h)?;
    let h = g.conv2d("dec.conv1", h, 32, 3, 1, Padding::Same)?;
    let h = g.act("dec.conv1.elu", h, elu);
    let h = g.upsample2("dec.up2", h)?;
    let h = g.conv2d("dec.conv2", h, 1, 3, 1, Padding::Same)?;
    Ok(g.act("dec.conv2.sigmoid", h, Activation::Sigmoid))
}

/// A graph and the ids a caller needs.
pub struct Built {
    pub graph: Graph,
    pub input: NodeId,
    pub output: NodeId,
}

/// The autoencoder for a batch of `batch` images: input [B,1,28,28] → reconstruction [B,1,28,28].
pub fn mnist_autoencoder(batch: usize) -> Result<Built> {
    let mut graph = Graph::new();
    let input = graph.input("image", &[batch, 1, MNIST_SIDE, MNIST_SIDE]);
    let z = mnist_encoder(&mut graph, input)?;
    let output = mnist_decoder(&mut graph, z)?;
    Ok(Built {
        graph,
        input,
        output,
    })
}

/// The encoder alone: images → latent codes [B, 32].
pub fn mnist_encoder_graph(batch: usize) -> Result<Built> {
    let mut graph = Graph::new();
    let input = graph.input("image", &[batch, 1, MNIST_SIDE, MNIST_SIDE]);
    let output = mnist_encoder(&mut graph, input)?;
    Ok(Built {
        graph,
        input,
        output,
    })
}

/// The decoder alone: latent codes [B, 32] → images.
pub fn mnist_decoder_graph(batch: usize) -> Result<Built> {
    let mut graph = Graph::new();
    let input = graph.input("latent", &[batch, MNIST_LATENT]);
    let output = mnist_decoder(&mut graph, input)?;
    Ok(Built {
        graph,
        input,
        output,
    })
}

/// Side of the colorization images (see [`crate::data::colorization`]).
pub const COLOR_SIDE: usize = crate::data::colorization::SIDE;

/// The colorization network for a batch of `batch` grey images: input [B,1,48,48] → RGB
/// [B,3,48,48]. Conv(1→32, 3×3, same)–ELU–MaxPool2 → Conv(32→64)–ELU–MaxPool2 → Upsample2 →
/// Conv(64→32)–ELU → Upsample2 → Conv(32→3)–sigmoid. Its parameters are named `color.*`, apart
/// from the MNIST models' `enc.*` and `dec.*`, so both can live in one `ParamStore`.
/// Trained with BCE against the colour targets ([`crate::train::train_pairs`]).
pub fn colorize_autoencoder(batch: usize) -> Result<Built> {
    let elu = Activation::ELU;
    let mut g = Graph::new();
    let input = g.input("grey", &[batch, 1, COLOR_SIDE, COLOR_SIDE]);
    let h = g.conv2d("color.conv1", input, 32, 3, 1, Padding::Same)?;
    let h = g.act("color.conv1.elu", h, elu);
    let h = g.maxpool2("color.pool1", h)?;
    let h = g.conv2d("color.conv2", h, 64, 3, 1, Padding::Same)?;
    let h = g.act("color.conv2.elu", h, elu);
    let h = g.maxpool2("color.pool2", h)?;
    let h = g.upsample2("color.up1", h)?;
    let h = g.conv2d("color.conv3", h, 32, 3, 1, Padding::Same)?;
    let h = g.act("color.conv3.elu", h, elu);
    let h = g.upsample2("color.up2", h)?;
    let h = g.conv2d("color.conv4", h, 3, 3, 1, Padding::Same)?;
    let output = g.act("color.conv4.sigmoid", h, Activation::Sigmoid);
    Ok(Built {
        graph: g,
        input,
        output,
    })
}
