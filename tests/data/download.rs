//! The MNIST downloader against a tiny HTTP server on 127.0.0.1 started by each test (nothing
//! else is ever contacted). Routes, each followed by `/<file name>`:
//!   /good      the real files from ../shared/data/mnist
//!   /plain     the decompressed content (a server that decoded the gzip itself)
//!   /truncated the first half of the file, with a matching Content-Length
//!   /corrupt   the file with 16 bytes flipped in the middle
//!   /swapped   a valid MNIST .gz, but always the test labels (wrong checksum)
//!   /cut       announces the full length, sends half, closes the connection
//!   /html      an HTML error page with status 200
//!   other      404

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use latentviz::Error;
use latentviz::data::download::{FILES, cache_dir_from, download_mnist};
use latentviz::data::mnist::{self, Split};

const REAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/mnist");

struct Server {
    base: String,
    requests: Arc<AtomicUsize>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let counter = counter.clone();
                std::thread::spawn(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = serve(stream);
                });
            }
        });
        Server { base, requests }
    }

    fn url(&self, route: &str) -> String {
        format!("{}/{route}", self.base)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Answers one GET request according to the route table above.
fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (route, name) = target
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("", ""));
    let real = |name: &str| std::fs::read(Path::new(REAL).join(name)).ok();
    let mut out = stream;
    let known = FILES.iter().any(|(n, _)| *n == name);
    let body = match (route, known) {
        ("good", true) => real(name),
        ("plain", true) => real(name).map(|gz| {
            let mut raw = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut raw)
                .unwrap();
            raw
        }),
        ("truncated", true) => real(name).map(|gz| gz[..gz.len() / 2].to_vec()),
        ("corrupt", true) => real(name).map(|mut gz| {
            let mid = gz.len() / 2;
            for b in &mut gz[mid..mid + 16] {
                *b ^= 0xFF;
            }
            gz
        }),
        ("swapped", true) => real("t10k-labels-idx1-ubyte.gz"),
        ("cut", true) => {
            let gz = real(name).unwrap();
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                gz.len()
            )?;
            out.write_all(&gz[..gz.len() / 2])?;
            return out.flush();
        }
        ("html", true) => Some(b"<html><body>Service unavailable</body></html>".to_vec()),
        _ => None,
    };
    match body {
        Some(body) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            out.write_all(&body)?;
        }
        None => {
            let body = b"not found";
            write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            out.write_all(body)?;
        }
    }
    out.flush()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs a download that must fail on the first file; checks the error names that file and
/// that the directory is left empty.
fn failing_download(route: &str) -> (Error, PathBuf) {
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mnist");
    let err = download_mnist(&server.url(route), &dir, false).unwrap_err();
    assert!(
        files_in(&dir).is_empty(),
        "{route}: files left behind: {:?}",
        files_in(&dir)
    );
    assert!(
        err.to_string().contains(FILES[0].0),
        "{route}: error does not name the file: {err}"
    );
    (err, dir.join(FILES[0].0))
}

fn bad_data_reason(err: Error, file: &Path) -> String {
    match err {
        Error::BadData { path, reason } => {
            assert_eq!(path, file, "{reason}");
            reason
        }
        other => panic!("expected BadData, got {other}"),
    }
}

#[test]
fn downloads_verifies_and_skips_valid_files() {
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache").join("mnist");

    // A trailing slash on the base URL is fine; the directory is created.
    let paths = download_mnist(&format!("{}/", server.url("good")), &dir, true).unwrap();
    assert_eq!(server.requests(), 4);
    assert_eq!(paths.len(), 4);
    for ((name, _), path) in FILES.iter().zip(&paths) {
        assert_eq!(path, &dir.join(name));
        assert_eq!(
            std::fs::read(path).unwrap(),
            std::fs::read(Path::new(REAL).join(name)).unwrap()
        );
    }
    assert_eq!(files_in(&dir).len(), 4, "no temporary files left");
    let m = mnist::load(&dir, Split::Test).unwrap();
    assert_eq!((m.len(), m.labels[0]), (10_000, 7));

    // Everything present and valid: no request at all.
    let again = download_mnist(&server.url("good"), &dir, false).unwrap();
    assert_eq!(again, paths);
    assert_eq!(server.requests(), 4);

    // A damaged file on disk is fetched again, and only that one.
    std::fs::write(&paths[3], b"garbage").unwrap();
    download_mnist(&server.url("good"), &dir, false).unwrap();
    assert_eq!(server.requests(), 5);
    assert_eq!(
        std::fs::read(&paths[3]).unwrap(),
        std::fs::read(Path::new(REAL).join(FILES[3].0)).unwrap()
    );
}

#[test]
fn already_decompressed_content_is_accepted_and_stored_gzipped() {
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    download_mnist(&server.url("plain"), tmp.path(), false).unwrap();
    let m = mnist::load(tmp.path(), Split::Test).unwrap();
    assert_eq!(m.len(), 10_000);
    let stored = std::fs::read(tmp.path().join(FILES[3].0)).unwrap();
    assert_eq!(&stored[..2], &[0x1f, 0x8b], "stored as gzip");
}

#[test]
fn truncated_download_is_rejected() {
    let (err, file) = failing_download("truncated");
    let reason = bad_data_reason(err, &file);
    assert!(
        reason.contains("/truncated/train-images-idx3-ubyte.gz"),
        "{reason}"
    );
    assert!(
        reason.contains("is damaged: corrupt gzip data ("),
        "{reason}"
    );
    assert!(reason.contains("nothing was written"), "{reason}");
}

#[test]
fn corrupted_download_is_rejected() {
    let (err, file) = failing_download("corrupt");
    let reason = bad_data_reason(err, &file);
    assert!(
        reason.contains("is damaged: corrupt gzip data ("),
        "{reason}"
    );
    assert!(reason.ends_with("); nothing was written"), "{reason}");
}

#[test]
fn wrong_content_fails_the_checksum() {
    let (err, file) = failing_download("swapped");
    let reason = bad_data_reason(err, &file);
    assert!(
        reason.contains(&format!(
            "is corrupt: SHA-256 of the decompressed content is {}, expected {}",
            FILES[3].1, FILES[0].1
        )),
        "{reason}"
    );
}

#[test]
fn connection_closed_early_is_a_download_error() {
    let (err, _) = failing_download("cut");
    match err {
        Error::Download { url, reason } => {
            assert!(url.ends_with("/cut/train-images-idx3-ubyte.gz"), "{url}");
            let full = std::fs::metadata(Path::new(REAL).join(FILES[0].0))
                .unwrap()
                .len();
            // How much arrives before the close is up to the network stack; the total is known.
            assert!(reason.starts_with("transfer broke off after "), "{reason}");
            assert!(reason.contains(&format!(" of {full} bytes")), "{reason}");
        }
        other => panic!("expected Download, got {other}"),
    }
}

#[test]
fn http_404_and_html_pages() {
    let (err, _) = failing_download("missing");
    match err {
        Error::Download { url, reason } => {
            assert!(
                url.ends_with("/missing/train-images-idx3-ubyte.gz"),
                "{url}"
            );
            assert_eq!(reason, "the server answered HTTP 404");
        }
        other => panic!("expected Download, got {other}"),
    }
    let (err, file) = failing_download("html");
    let reason = bad_data_reason(err, &file);
    assert!(
        reason.contains("is not gzip data (45 bytes starting with [3c 68 74 6d])"),
        "{reason}"
    );
}

#[test]
fn cache_dir_rules() {
    let s = |v: &str| Some(std::ffi::OsString::from(v));
    assert_eq!(
        cache_dir_from(s("/data/mnist"), s("/xdg"), s("/home/u")),
        PathBuf::from("/data/mnist")
    );
    assert_eq!(
        cache_dir_from(None, s("/xdg"), s("/home/u")),
        PathBuf::from("/xdg/latentviz/mnist")
    );
    // Empty values count as unset; a relative XDG_CACHE_HOME is ignored.
    assert_eq!(
        cache_dir_from(s(""), s("relative"), s("/home/u")),
        PathBuf::from("/home/u/.cache/latentviz/mnist")
    );
    assert_eq!(
        cache_dir_from(None, None, None),
        PathBuf::from("latentviz-data/mnist")
    );
}
