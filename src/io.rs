//! Atomic file writes: a reader never sees a half-written file.
//!
//! The content goes to a temporary file in the destination's own directory (so the final rename
//! stays on one file system), is flushed and fsynced, and is then renamed over the destination.
//! If anything fails on the way, the temporary file is removed and whatever was at the
//! destination before is left untouched. A replaced file keeps its permissions; a new one gets
//! those `File::create` would give it.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Writes `path` atomically with the bytes the `write` closure produces.
///
/// On any error (from the closure, the disk, or an unwritable directory) nothing new is left at
/// `path`, and a file that was already there keeps its old content. The parent directory must
/// exist; an unwritable or missing one gives `Error::Io` naming `path`.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let dir = parent_dir(path);
    let existing = std::fs::metadata(path).ok().map(|m| m.permissions());
    let prefix = format!(".{}.", file_name_for_tmp(path));
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // tempfile creates 0600 files; ask for what `File::create` gives (0666 less the umask).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let tmp = builder.tempfile_in(&dir).map_err(|e| {
        Error::io(
            path,
            std::io::Error::new(
                e.kind(),
                format!("cannot create a file in directory {}: {e}", dir.display()),
            ),
        )
    })?;

    // The closure writes through a buffer; flush it before syncing so every byte is on disk.
    let mut out = BufWriter::new(tmp);
    write(&mut out)?;
    let tmp = out
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    if let Some(perms) = existing {
        tmp.as_file()
            .set_permissions(perms)
            .map_err(|e| Error::io(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;

    // Rename over the destination. On failure `persist` hands the temporary file back and
    // dropping it deletes it.
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(&dir);
    Ok(())
}

/// Writes `bytes` to `path` atomically (see [`write_atomic`]).
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes).map_err(|e| Error::io(path, e)))
}

/// Fails with `Error::Io` naming `path` unless a file can be created in its directory: lets a
/// long job refuse an unwritable output before it starts rather than after.
pub fn check_writable(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    tempfile::Builder::new()
        .prefix(".latentviz-write-check.")
        .tempfile_in(&dir)
        .map(drop)
        .map_err(|e| {
            Error::io(
                path,
                std::io::Error::new(
                    e.kind(),
                    format!("cannot write in directory {}: {e}", dir.display()),
                ),
            )
        })
}

/// The directory `path` lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The destination's file name, used to make the temporary file recognisable.
fn file_name_for_tmp(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "latentviz".to_string())
}

/// Makes the rename itself durable. Best effort: some file systems refuse to sync a directory,
/// and the data is already safely in place either way.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_new_file_and_replaces_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_bytes_atomic(&path, b"first").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        write_bytes_atomic(&path, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        // No temporary file is left next to it.
        assert_eq!(entries(dir.path()), vec!["out.bin"]);
    }

    #[test]
    fn failing_closure_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let err = write_atomic(&path, |w| {
            w.write_all(b"partial").unwrap();
            Err(Error::InvalidArgument("stop here".into()))
        })
        .unwrap_err();
        assert!(err.to_string().contains("stop here"), "{err}");
        assert!(!path.exists());
        assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
    }

    #[test]
    fn failing_closure_keeps_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keep.txt");
        std::fs::write(&path, b"old content").unwrap();
        let res = write_atomic(&path, |w| {
            w.write_all(b"new").map_err(|e| Error::io("x", e))?;
            Err(Error::InvalidArgument("abort".into()))
        });
        assert!(res.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old content");
        assert_eq!(entries(dir.path()), vec!["keep.txt"]);
    }

    #[test]
    fn unwritable_directory_is_a_clear_io_error() {
        let dir = tempfile::tempdir().unwrap();
        // A parent that is a regular file cannot hold files, even for root.
        let blocker = dir.path().join("not_a_dir");
        std::fs::write(&blocker, b"x").unwrap();
        let path = blocker.join("out.bin");
        match write_bytes_atomic(&path, b"data").unwrap_err() {
            Error::Io { path: p, source } => {
                assert_eq!(p, path);
                assert!(source.to_string().contains("not_a_dir"), "{source}");
            }
            other => panic!("expected Error::Io, got {other}"),
        }
        // A parent that does not exist.
        let path = dir.path().join("missing").join("out.bin");
        let err = write_bytes_atomic(&path, b"data").unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn permissions_like_file_create_and_kept_on_replace() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.bin");
        std::fs::write(&plain, b"x").unwrap();
        let atomic = dir.path().join("atomic.bin");
        write_bytes_atomic(&atomic, b"x").unwrap();
        assert_eq!(mode(&atomic), mode(&plain), "same mode as File::create");

        std::fs::set_permissions(&atomic, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_bytes_atomic(&atomic, b"y").unwrap();
        assert_eq!(mode(&atomic), 0o640, "a replaced file keeps its mode");
    }

    #[test]
    fn bare_file_name_uses_current_directory() {
        assert_eq!(parent_dir(Path::new("a.bin")), PathBuf::from("."));
        assert_eq!(parent_dir(Path::new("d/a.bin")), PathBuf::from("d"));
    }
}
