//! The library's error type: every failure a user can cause names what went wrong.

use std::path::PathBuf;

/// Everything the latentviz library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable GPU adapter (or software driver) was found.
    #[error(
        "no GPU adapter found ({0}). On a machine without a GPU install Mesa's software Vulkan driver \
         (Debian/Ubuntu: `apt-get install mesa-vulkan-drivers`) or unset WGPU_BACKEND to allow OpenGL"
    )]
    NoAdapter(String),
    /// The adapter refused to create a device.
    #[error("could not open a device on adapter '{adapter}': {reason}")]
    RequestDevice { adapter: String, reason: String },
    /// wgpu reported a validation or out-of-memory error.
    #[error("GPU error in {context}: {message}")]
    Gpu { context: String, message: String },
    /// Shapes that do not fit together; names the op and both shapes.
    #[error("shape mismatch in {op}: {detail}")]
    Shape { op: String, detail: String },
    /// A bad argument (out of range, inconsistent with the data).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A data file exists but its content is wrong (corrupt IDX, truncated .npy, wrong checksum...).
    #[error("{path}: {reason}")]
    BadData { path: PathBuf, reason: String },
    /// Training or optimization produced a NaN or infinity.
    #[error("non-finite value: {0}")]
    NonFinite(String),
    /// A download failed.
    #[error("download of {url} failed: {reason}")]
    Download { url: String, reason: String },
}

impl Error {
    pub fn shape(op: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Shape {
            op: op.into(),
            detail: detail.into(),
        }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub fn bad_data(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::BadData {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
