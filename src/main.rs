//! The `latentviz` command line: the top-level parser and the dispatch to one module a subcommand
//! (`cli/`), each a thin wrapper that parses, calls the library and reports.

use anyhow::Result;
use clap::{Parser, Subcommand};

use latentviz::GpuOptions;

mod cli;

#[derive(Parser)]
#[command(
    name = "latentviz",
    version,
    about = "Make the latent space of neural networks visible"
)]
struct Cli {
    /// Adapter to use: an index from `latentviz info` or part of its name
    /// (default: $LATENTVIZ_ADAPTER, else the best GPU, else a CPU driver).
    #[arg(long, global = true)]
    adapter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the adapters, and the chosen one's backend, type, limits and features.
    Info,
    /// Download data sets.
    Data {
        #[command(subcommand)]
        what: cli::data::DataCommand,
    },
    /// Train the seed MNIST autoencoder on the GPU.
    Train(cli::train::TrainArgs),
    /// Check every kernel against its CPU reference, then time it at the seed model's shapes.
    Bench(cli::bench::BenchArgs),
    /// Embed the rows of a .npy file or MNIST images with t-SNE on the GPU.
    Tsne(cli::tsne::TsneArgs),
    /// Encode MNIST images with a trained model: latent codes (N × 32 .npy) and their labels.
    Encode(cli::encode::EncodeArgs),
    /// Write an interactive HTML page (offline, self-contained) to explore an embedding.
    Explore(cli::explore::ExploreArgs),
    /// Draw one figure of the MNIST latent-space story from saved files (model, embedding, metrics).
    Figure {
        #[command(subcommand)]
        kind: cli::figure::FigureKind,
    },
}

fn main() -> Result<()> {
    quiet_broken_pipes();
    let parsed = Cli::parse();
    let options = GpuOptions {
        adapter: parsed.adapter,
    };
    match parsed.command {
        Command::Info => cli::info::run(&options),
        Command::Data { what } => cli::data::run(what),
        Command::Train(args) => cli::train::run(&options, args),
        Command::Bench(args) => cli::bench::run(&options, args),
        Command::Tsne(args) => cli::tsne::run(&options, args),
        Command::Encode(args) => cli::encode::run(&options, args),
        Command::Explore(args) => cli::explore::run(&options, args),
        Command::Figure { kind } => cli::figure::run(&options, kind),
    }
}

/// A closed pipe on stdout or stderr (`latentviz info | head -1`) ends the program quietly, as
/// it does every Unix tool, instead of making `println!` panic. Rust ignores SIGPIPE by default;
/// this restores the default action. Outputs already written stay whole (they are renamed into
/// place only when complete).
fn quiet_broken_pipes() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_DFL at startup, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
