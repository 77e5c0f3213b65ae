//! Downloads the four MNIST `.gz` files and checks them before anything is written.
//!
//! Each file is fetched whole into memory (about 11 MB in all, never more than the largest file
//! could be), decompressed no further than its IDX header allows, and its SHA-256 is
//! compared with the published digest of the *decompressed* content (the compressed bytes differ
//! between mirrors). Only a verified file is written, atomically, so a cut-off or corrupted
//! download leaves nothing behind. Files already present and valid are not fetched again.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::mnist::{gunzip_idx, is_gzip};
use crate::io::write_bytes_atomic;
use crate::{Error, Result};

/// The MNIST mirror torchvision downloads from (a public S3 bucket run for PyTorch).
pub const DEFAULT_MIRROR: &str = "https://ossci-datasets.s3.amazonaws.com/mnist";

/// The four files and the SHA-256 of their decompressed content.
pub const FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        "train-labels-idx1-ubyte.gz",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];

/// The largest of the four files once decompressed (the training images, 60,000 × 28 × 28 plus
/// the header): no download is read, nor any file decompressed, past it.
const MAX_FILE_BYTES: u64 = 47_040_016;

/// The most a download may send: a gzip file is never much larger than its content.
const MAX_BODY_BYTES: u64 = MAX_FILE_BYTES + (1 << 20);

/// Where MNIST lives by default: `$LATENTVIZ_DATA`, else `$XDG_CACHE_HOME/latentviz/mnist`, else
/// `~/.cache/latentviz/mnist` (else `latentviz-data/mnist` in the current directory).
pub fn default_cache_dir() -> PathBuf {
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"));
    cache_dir_from(
        std::env::var_os("LATENTVIZ_DATA"),
        std::env::var_os("XDG_CACHE_HOME"),
        home,
    )
}

/// [`default_cache_dir`]'s rule, given the environment values. Empty values count as unset,
/// and a relative `XDG_CACHE_HOME` is ignored, as the XDG specification asks.
pub fn cache_dir_from(
    latentviz_data: Option<std::ffi::OsString>,
    xdg_cache_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> PathBuf {
    let set = |v: Option<std::ffi::OsString>| v.filter(|s| !s.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(latentviz_data) {
        return dir;
    }
    if let Some(dir) = set(xdg_cache_home).filter(|p| p.is_absolute()) {
        return dir.join("latentviz").join("mnist");
    }
    match set(home) {
        Some(home) => home.join(".cache").join("latentviz").join("mnist"),
        None => PathBuf::from("latentviz-data").join("mnist"),
    }
}

/// Fetches `{base_url}/{name}` for the four MNIST files into `dir` (created if missing) and
/// returns their paths. Files already in `dir` with the right content are kept as they are;
/// others are replaced. With `progress`, a progress bar per file is drawn on stderr.
pub fn download_mnist(base_url: &str, dir: &Path, progress: bool) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .into();
    let base = base_url.trim_end_matches('/');
    let mut paths = Vec::with_capacity(FILES.len());
    for (name, sha) in FILES {
        let path = dir.join(name);
        if path.is_file() {
            if is_valid(&path, sha) {
                if progress {
                    eprintln!("{name}: already present, checksum ok");
                }
                paths.push(path);
                continue;
            }
            if progress {
                eprintln!("{name}: present but damaged, downloading it again");
            }
        }
        let url = format!("{base}/{name}");
        let body = fetch(&agent, &url, name, progress)?;
        let gz = verify(&path, &url, body, sha)?;
        write_bytes_atomic(&path, &gz)?;
        paths.push(path);
    }
    Ok(paths)
}

/// True when the gzip file at `path` decompresses to content with SHA-256 `sha`.
fn is_valid(path: &Path, sha: &str) -> bool {
    match std::fs::read(path) {
        Ok(gz) => {
            is_gzip(&gz) && gunzip_idx(&gz, MAX_FILE_BYTES).is_ok_and(|raw| sha256_hex(&raw) == sha)
        }
        Err(_) => false,
    }
}

/// Checks downloaded bytes before anything is written to `path`, and returns the gzip bytes to
/// store. A server that already decompressed the file (a mislabelled `Content-Encoding`) is
/// accepted when the plain content has the right digest; it is recompressed for storage.
fn verify(path: &Path, url: &str, body: Vec<u8>, sha: &str) -> Result<Vec<u8>> {
    let bad = |what: String| {
        Error::bad_data(
            path,
            format!("download from {url} {what}; nothing was written"),
        )
    };
    if !is_gzip(&body) {
        if sha256_hex(&body) == sha {
            return gzip(&body).map_err(|e| Error::io(path, e));
        }
        let head: Vec<String> = body.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(bad(format!(
            "is not gzip data ({} bytes starting with [{}])",
            body.len(),
            head.join(" ")
        )));
    }
    let raw = gunzip_idx(&body, MAX_FILE_BYTES)
        .map_err(|e| bad(format!("is damaged: corrupt gzip data ({e})")))?;
    let got = sha256_hex(&raw);
    if got != sha {
        return Err(bad(format!(
            "is corrupt: SHA-256 of the decompressed content is {got}, expected {sha}"
        )));
    }
    Ok(body)
}

fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    // Fast level: this path is rare, and the digest is taken of the content, not of these bytes.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(raw)?;
    enc.finish()
}

/// GETs `url` into memory, showing a progress bar labelled `name` when asked.
fn fetch(agent: &ureq::Agent, url: &str, name: &str, progress: bool) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::Download {
        url: url.to_string(),
        reason,
    };
    let mut response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::StatusCode(code) => fail(format!("the server answered HTTP {code}")),
        other => fail(other.to_string()),
    })?;
    let expected = response.body().content_length();
    let too_long = || {
        fail(format!(
            "the server sends more than {MAX_BODY_BYTES} bytes, more than any MNIST file holds"
        ))
    };
    if expected.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(too_long());
    }
    let bar = if progress {
        progress_bar(name, expected)
    } else {
        indicatif::ProgressBar::hidden()
    };
    // The reader fails by itself if the connection closes before Content-Length bytes arrived.
    let mut reader = response.body_mut().as_reader();
    let mut data = Vec::with_capacity(expected.unwrap_or(0).min(1 << 26) as usize);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut chunk).map_err(|e| {
            let of = expected.map_or(String::new(), |len| format!(" of {len}"));
            fail(format!(
                "transfer broke off after {}{of} bytes: {e}",
                data.len()
            ))
        })?;
        if n == 0 {
            break;
        }
        if (data.len() + n) as u64 > MAX_BODY_BYTES {
            return Err(too_long());
        }
        data.extend_from_slice(&chunk[..n]);
        bar.inc(n as u64);
    }
    bar.finish();
    if let Some(len) = expected
        && data.len() as u64 != len
    {
        return Err(fail(format!(
            "received {} bytes, the server announced {len}",
            data.len()
        )));
    }
    Ok(data)
}

fn progress_bar(name: &str, len: Option<u64>) -> indicatif::ProgressBar {
    let (bar, template) = match len {
        Some(len) => (
            indicatif::ProgressBar::new(len),
            "{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{msg:28} {spinner} {bytes} {bytes_per_sec}",
        ),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(name.to_string());
    bar
}

/// Lower-case hex SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
