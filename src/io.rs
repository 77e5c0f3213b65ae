//! Atomic file writes: a reader never sees a half-written file.
//!
//! The content goes to a temporary file in the destination's own directory (so the final rename
//! stays on one file system), is flushed and fsynced, and is then renamed over the destination.
//! If anything fails on the way, the temporary file is removed and whatever was at the
//! destination before is left untouched. A replaced file keeps its permissions; a new one gets
//! those `File::create` would give it.
//!
//! Only regular files are replaced. A destination that is a symlink is followed: the file it
//! points to is replaced and the link kept. A character device, FIFO or socket (`/dev/null`,
//! `/dev/stdout` into a pipe) is written into, never replaced; a directory is refused.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Longest file name most file systems accept (NAME_MAX on Linux, macOS and Windows).
const NAME_MAX: usize = 255;

/// Symlinks followed before a chain counts as a loop (Linux's own limit).
const MAX_LINKS: usize = 40;

/// What a write to a path does.
enum Target {
    /// Replace this regular file (or create it) atomically.
    Replace(PathBuf),
    /// Write into this device, FIFO or socket.
    Into(PathBuf),
}

/// Writes `path` atomically with the bytes the `write` closure produces.
///
/// On any error (from the closure, the disk, or an unwritable directory) nothing new is left at
/// `path`, and a file that was already there keeps its old content. The parent directory must
/// exist; an unwritable or missing one gives `Error::Io` naming `path`. A device or FIFO at `path`
/// is written into (see the module's documentation).
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let dest = match target(path)? {
        Target::Replace(dest) => dest,
        Target::Into(special) => {
            let file = OpenOptions::new()
                .write(true)
                .open(&special)
                .map_err(|e| Error::io(path, e))?;
            let mut out = BufWriter::new(file);
            write(&mut out)?;
            return out.flush().map_err(|e| Error::io(path, e));
        }
    };
    let dir = parent_dir(&dest);
    let existing = std::fs::metadata(&dest).ok().map(|m| m.permissions());
    let tmp = temp_file_for(path, &dest)?;

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
    tmp.persist(&dest).map_err(|e| Error::io(path, e.error))?;
    sync_dir(&dir);
    Ok(())
}

/// Writes `bytes` to `path` atomically (see [`write_atomic`]).
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes).map_err(|e| Error::io(path, e)))
}

/// Fails with `Error::Io` naming `path` unless [`write_atomic`] can write it: lets a long job
/// refuse a bad output before it starts rather than after. A new file is tried for real (the
/// temporary file is created and renamed to `path`, then removed), so a directory at `path`, a
/// name too long or a read-only folder are all caught.
pub fn check_writable(path: &Path) -> Result<()> {
    let dest = match target(path)? {
        Target::Replace(dest) => dest,
        // Opening a FIFO would wait for its reader; a device is opened and closed.
        Target::Into(special) if is_fifo(&special) => return Ok(()),
        Target::Into(special) => {
            return OpenOptions::new()
                .write(true)
                .open(&special)
                .map(drop)
                .map_err(|e| Error::io(path, e));
        }
    };
    let tmp = temp_file_for(path, &dest)?;
    if !dest.exists() {
        // The final rename, tried now; nothing is left at `dest` afterwards.
        let file = tmp
            .persist_noclobber(&dest)
            .map_err(|e| Error::io(path, e.error))?;
        drop(file);
        std::fs::remove_file(&dest).map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// [`check_writable`] for every output of a job, and no two of them the same file (one would
/// overwrite the other). Each output is named by its flag, e.g. `("--metrics", path)`.
pub fn check_outputs(outputs: &[(&str, &Path)]) -> Result<()> {
    let mut seen: Vec<(&str, PathBuf)> = Vec::with_capacity(outputs.len());
    for &(flag, path) in outputs {
        let key = identity(path);
        if let Some((other, _)) = seen.iter().find(|(_, k)| *k == key) {
            return Err(Error::InvalidArgument(format!(
                "{other} and {flag} both name {}: one would overwrite the other",
                path.display()
            )));
        }
        check_writable(path)?;
        seen.push((flag, key));
    }
    Ok(())
}

/// The file `path` names, in a form two paths to one file share (links and `..` resolved).
fn identity(path: &Path) -> PathBuf {
    let dest = match target(path) {
        Ok(Target::Replace(p) | Target::Into(p)) => p,
        Err(_) => path.to_path_buf(),
    };
    let dir = std::fs::canonicalize(parent_dir(&dest)).unwrap_or_else(|_| parent_dir(&dest));
    match dest.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}

/// Where a write to `path` goes: a regular file (existing or not) to replace, or a special file
/// to write into. Symlinks are followed, dangling ones too; a directory is an error.
fn target(path: &Path) -> Result<Target> {
    use std::io::ErrorKind::{NotADirectory, NotFound};
    let not_a_file = |why: &str| {
        Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_string()),
        )
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(not_a_file("is a directory, not a file")),
        Ok(m) if m.is_file() => {
            let real = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
            Ok(Target::Replace(real))
        }
        Ok(_) => Ok(Target::Into(path.to_path_buf())),
        Err(e) if matches!(e.kind(), NotFound | NotADirectory) => {
            // Nothing there, or a link to nothing: follow the links to the name to create (a
            // missing or non-directory parent is reported when the file is created in it).
            let mut p = path.to_path_buf();
            for _ in 0..MAX_LINKS {
                match std::fs::read_link(&p) {
                    Ok(t) if t.is_absolute() => p = t,
                    Ok(t) => p = parent_dir(&p).join(t),
                    Err(_) => return Ok(Target::Replace(p)),
                }
            }
            Err(not_a_file("is a chain of too many symlinks"))
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(unix)]
fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

#[cfg(not(unix))]
fn is_fifo(_: &Path) -> bool {
    false
}

/// The temporary file's prefix for `dest`: `.NAME.`, with NAME cut so the whole temporary name
/// (`.NAME.XXXXXX.tmp`) stays within [`NAME_MAX`] bytes.
fn temp_prefix(dest: &Path) -> String {
    let mut name = file_name_for_tmp(dest);
    let room = NAME_MAX - ".".len() - ".".len() - 6 - ".tmp".len();
    if name.len() > room {
        let mut cut = room;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    format!(".{name}.")
}

/// Temporary files with `prefix` (from [`temp_prefix`]), made as `File::create` would make them
/// (0666 less the umask; tempfile's own default is 0600).
/// The temporary file a write to `path` (a regular file at `dest`) goes through, beside `dest`;
/// an error names `path` and the directory.
fn temp_file_for(path: &Path, dest: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = parent_dir(dest);
    temp_builder(&temp_prefix(dest))
        .tempfile_in(&dir)
        .map_err(|e| {
            Error::io(
                path,
                std::io::Error::new(
                    e.kind(),
                    format!("cannot create a file in directory {}: {e}", dir.display()),
                ),
            )
        })
}

fn temp_builder(prefix: &str) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".tmp").rand_bytes(6);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder
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
