//! Argument types shared by several subcommands: the MNIST directory and the split to read.

use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;

use latentviz::data::mnist::{self, Split};

#[derive(clap::Args)]
pub struct DataArg {
    /// Directory with the MNIST IDX files (gzipped or raw). Default: the download cache.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

impl DataArg {
    /// One split of the MNIST files in `--data`, or in the download cache without it.
    pub fn load(&self, split: Split) -> Result<mnist::Mnist> {
        let dir = self
            .data
            .clone()
            .unwrap_or_else(latentviz::data::download::default_cache_dir);
        Ok(mnist::load(&dir, split)?)
    }
}

/// `--split` where both splits together make sense (`tsne`, `encode`).
#[derive(Clone, Copy, ValueEnum)]
pub enum SplitArg {
    Train,
    Test,
    All,
}

impl SplitArg {
    pub fn split(self) -> Split {
        match self {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
            SplitArg::All => Split::All,
        }
    }
}

/// `--split` where one split's image indices are meant (the figures).
#[derive(Clone, Copy, ValueEnum)]
pub enum ImageSplit {
    Train,
    Test,
}

impl ImageSplit {
    pub fn split(self) -> Split {
        match self {
            ImageSplit::Train => Split::Train,
            ImageSplit::Test => Split::Test,
        }
    }
}
