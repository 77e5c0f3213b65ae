//! What `latentviz tsne --snapshots DIR --metrics F` leaves behind, read back for the animation
//! and the explorer: the positions every 50 iterations (`y_00050.npy`, ...) and the KL per
//! iteration.

use std::path::Path;

use crate::data::npy;
use crate::error::{Error, Result};

/// The snapshots of one run, in iteration order, all of the same n points in 2-D.
#[derive(Clone, Debug)]
pub struct Snapshots {
    pub n: usize,
    /// The iteration each snapshot was taken at, ascending.
    pub iterations: Vec<usize>,
    /// One n × 2 row-major array per snapshot.
    pub positions: Vec<Vec<f32>>,
}

/// Reads every `y_NNNNN.npy` in `dir`; each must be N × 2 with the same N and finite values.
pub fn read(dir: &Path) -> Result<Snapshots> {
    if !dir.is_dir() {
        return Err(Error::io(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "snapshot directory does not exist",
            ),
        ));
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("");
        if let Some(it) = name
            .strip_prefix("y_")
            .and_then(|s| s.strip_suffix(".npy"))
            .and_then(|s| s.parse::<usize>().ok())
        {
            files.push((it, path));
        }
    }
    if files.is_empty() {
        return Err(Error::bad_data(
            dir,
            "no snapshots (y_NNNNN.npy files from `latentviz tsne --snapshots`) in this directory",
        ));
    }
    files.sort();
    let mut snaps = Snapshots {
        n: 0,
        iterations: Vec::with_capacity(files.len()),
        positions: Vec::with_capacity(files.len()),
    };
    for (it, path) in files {
        let (n, d, y) = npy::read_f32_2d(&path)?;
        if d != 2 {
            return Err(Error::bad_data(
                &path,
                format!("a {n} × {d} snapshot; only 2-D embeddings can be drawn"),
            ));
        }
        if snaps.positions.is_empty() {
            snaps.n = n;
        } else if n != snaps.n {
            return Err(Error::bad_data(
                &path,
                format!("{n} points, but the first snapshot has {}", snaps.n),
            ));
        }
        check_finite(&path, &y)?;
        snaps.iterations.push(it);
        snaps.positions.push(y);
    }
    Ok(snaps)
}

/// Errors naming the first point with a NaN or infinite coordinate.
pub fn check_finite(path: &Path, y: &[f32]) -> Result<()> {
    match y.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::bad_data(
            path,
            format!("point {} has a non-finite coordinate ({})", i / 2, y[i]),
        )),
        None => Ok(()),
    }
}

/// (iteration, KL) from `latentviz tsne --metrics` JSON lines, ascending by iteration; the
/// summary line counts as the KL at its iteration.
pub fn read_kl(path: &Path) -> Result<Vec<(usize, f32)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out: Vec<(usize, f32)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::bad_data(path, format!("line {} is not JSON: {e}", i + 1)))?;
        let (Some(it), Some(kl)) = (
            v.get("iteration").and_then(|x| x.as_u64()),
            v.get("kl").and_then(|x| x.as_f64()),
        ) else {
            continue;
        };
        out.retain(|&(j, _)| j != it as usize);
        out.push((it as usize, kl as f32));
    }
    out.sort_by_key(|&(it, _)| it);
    Ok(out)
}

/// The KL recorded at `iteration`, if any.
pub fn kl_at(kl: &[(usize, f32)], iteration: usize) -> Option<f32> {
    kl.iter().find(|&&(it, _)| it == iteration).map(|&(_, v)| v)
}
