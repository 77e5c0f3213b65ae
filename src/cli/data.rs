//! `latentviz data`: download data sets.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use latentviz::data::download;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Download the four MNIST files, verify their SHA-256 and store them.
    Mnist {
        /// Where to store them (default: the cache directory `--data` defaults to).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Base URL of the mirror.
        #[arg(long, default_value = download::DEFAULT_MIRROR)]
        url: String,
    },
}

pub fn run(what: DataCommand) -> Result<()> {
    match what {
        DataCommand::Mnist { dir, url } => {
            let dir = dir.unwrap_or_else(download::default_cache_dir);
            let created = !dir.exists();
            let files = download::download_mnist(&url, &dir, true).inspect_err(|_| {
                // Leave no empty directory behind (remove_dir refuses a non-empty one).
                if created {
                    let _ = std::fs::remove_dir(&dir);
                }
            })?;
            for f in files {
                println!("{}", f.display());
            }
            Ok(())
        }
    }
}
