//! One module a subcommand: its clap arguments and its run function, which parses, calls the
//! library and reports. `args` holds the argument types more than one subcommand uses.

pub mod args;
pub mod bench;
pub mod data;
pub mod encode;
pub mod explore;
pub mod figure;
pub mod info;
pub mod train;
pub mod tsne;
