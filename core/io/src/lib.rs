//! Files a run writes: atomic writes, `.npy` arrays, PNG pictures, JSON lines.

mod png;

pub use png::{image_grid_png, scatter_png};

use gpfn_core::{GpfnError, Result};
use npyz::WriterBuilder;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed and
/// synced, then renamed over `path`. A crash leaves either the old file or the new one.
/// The file gets the permissions `File::create` would give it (`0o666` less the umask), not
/// the owner-only mode of a temporary file.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| GpfnError::io(dir, e))?;
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| GpfnError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| GpfnError::io(path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| GpfnError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| GpfnError::io(path, e.error))?;
    Ok(())
}

/// Encodes `values` (row-major, `shape`) as a float32 `.npy` file.
pub fn npy_bytes(values: &[f32], shape: &[usize]) -> Result<Vec<u8>> {
    let expected: usize = shape.iter().product();
    if expected != values.len() {
        return Err(GpfnError::Shape(format!(
            "{} values cannot have shape {shape:?}",
            values.len()
        )));
    }
    let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut buf)
            .begin_nd()
            .map_err(|e| GpfnError::Invalid(format!("npy encoding: {e}")))?;
        w.extend(values.iter().copied())
            .map_err(|e| GpfnError::Invalid(format!("npy encoding: {e}")))?;
        w.finish()
            .map_err(|e| GpfnError::Invalid(format!("npy encoding: {e}")))?;
    }
    Ok(buf.into_inner())
}

/// Writes a float32 `.npy` file atomically.
pub fn write_npy(path: &Path, values: &[f32], shape: &[usize]) -> Result<()> {
    atomic_write(path, &npy_bytes(values, shape)?)
}

/// Reads a float32 `.npy` file: `(values, shape)`.
pub fn read_npy(path: &Path) -> Result<(Vec<f32>, Vec<usize>)> {
    let bytes = std::fs::read(path).map_err(|e| GpfnError::io(path, e))?;
    let bad = |m: String| GpfnError::Data {
        path: path.to_path_buf(),
        message: m,
    };
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(format!("not a .npy file: {e}")))?;
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&s| usize::try_from(s).ok())
        .collect::<Option<_>>()
        .ok_or_else(|| bad(format!("shape {:?} does not fit this machine", npy.shape())))?;
    // The header is untrusted: its sizes must multiply without overflow to no more float32
    // values than the file holds, before anything is allocated for them.
    let count = checked_len(&shape)
        .filter(|&n| n.checked_mul(4).is_some_and(|b| b <= bytes.len()))
        .ok_or_else(|| {
            bad(format!(
                "the header's shape {shape:?} needs more data than the file's {} bytes",
                bytes.len()
            ))
        })?;
    let values: Vec<f32> = npy
        .into_vec()
        .map_err(|e| bad(format!("expected float32 data: {e}")))?;
    if values.len() != count {
        return Err(bad(format!(
            "holds {} values where its shape {shape:?} says {count}",
            values.len()
        )));
    }
    Ok((values, shape))
}

/// The number of elements `Π dims` of an array of shape `dims`; `None` when it overflows (the
/// sizes of an untrusted header).
pub fn checked_len(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// The lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// The lower-case hex SHA-256 of the file at `path`, read in a stream.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    let mut file = std::fs::File::open(path).map_err(|e| GpfnError::io(path, e))?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| GpfnError::io(path, e))?;
    Ok(hex(&hasher.finalize()))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends one JSON object as a line to `path`.
pub fn append_json_line(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| GpfnError::io(path, e))?;
    writeln!(f, "{value}").map_err(|e| GpfnError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let v = vec![1.0f32, -2.5, 3.25, 0.0, 7.0, 8.5];
        write_npy(&p, &v, &[3, 2]).unwrap();
        let (back, shape) = read_npy(&p).unwrap();
        assert_eq!(back, v);
        assert_eq!(shape, vec![3, 2]);
        assert!(write_npy(&p, &v, &[4, 2]).is_err());
    }

    #[test]
    fn untrusted_npy_files_get_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.npy");
        let good = npy_bytes(&[1.0, 2.0], &[2]).unwrap();
        // Edits the header in place, taking the length difference from its space padding so
        // that the header length field stays right.
        let patch = |from: &str, to: &str| -> Vec<u8> {
            let end = good.iter().position(|&b| b == b'\n').unwrap();
            let at = good
                .windows(from.len())
                .position(|w| w == from.as_bytes())
                .unwrap();
            let mut header = good[..at].to_vec();
            header.extend_from_slice(to.as_bytes());
            header.extend_from_slice(&good[at + from.len()..end]);
            while header.len() > end {
                assert_eq!(header.pop(), Some(b' '), "the padding absorbs the edit");
            }
            header.extend_from_slice(&good[end..]);
            header
        };
        // A header whose shape promises far more than the file holds (or overflows).
        for fake in ["(1099511627776, 1099511627776)", "(1000000,)"] {
            std::fs::write(&p, patch("(2, )", fake)).unwrap(); // npyz writes `(2, )`
            let e = read_npy(&p).unwrap_err().to_string();
            assert!(e.contains("bad.npy") && e.contains("shape"), "{fake}: {e}");
        }
        // Another dtype, and bytes that are not .npy at all.
        std::fs::write(&p, patch("<f4", "<i4")).unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("bad.npy") && e.contains("float32"), "{e}");
        std::fs::write(&p, b"PK\x03\x04 not numpy").unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("bad.npy") && e.contains("not a .npy"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn an_atomic_write_has_the_permissions_of_a_created_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let atomic = dir.path().join("atomic");
        atomic_write(&atomic, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // Equal under any umask; before, the file kept the temporary file's 0o600.
        assert_eq!(mode(&atomic), mode(&plain));
    }
}
