//! The IDX format of MNIST and Fashion-MNIST (LeCun et al.), raw or gzip-compressed.
//!
//! A file is a big-endian header — two zero bytes, a type code (`0x08`: unsigned byte), the
//! number of dimensions `k` — then `k` 32-bit sizes, then the values. Image files have
//! `k = 3` (`[count, rows, columns]`), label files `k = 1`. The count always comes from the
//! header: the shipped training subset has 10 000 images, the official set 60 000.

use flate2::read::GzDecoder;
use gpfn_core::{GpfnError, Result};
use std::io::Read;
use std::path::Path;

/// The contents of one IDX file of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Sizes of each dimension, from the header.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

fn bad(path: &Path, message: impl Into<String>) -> GpfnError {
    GpfnError::Data {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads an IDX file (gzip is detected from its magic bytes) and checks that it has
/// `expected_dims` dimensions.
pub fn read_idx(path: &Path, expected_dims: usize) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| bad(path, format!("corrupt gzip stream: {e}")))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes, path, expected_dims)
}

/// Parses IDX bytes; `path` only names the source in errors.
pub fn parse_idx(bytes: &[u8], path: &Path, expected_dims: usize) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(bad(
            path,
            format!("truncated: {} bytes, not even an IDX header", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad(
            path,
            format!(
                "wrong magic number 0x{:02x}{:02x}{:02x}{:02x}: not an IDX file",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(bad(
            path,
            format!(
                "IDX type code 0x{:02x} is not 0x08 (unsigned bytes)",
                bytes[2]
            ),
        ));
    }
    let k = bytes[3] as usize;
    if k != expected_dims {
        return Err(bad(
            path,
            format!(
                "wrong magic number: {k} dimensions where {expected_dims} were expected (magic 0x0000080{k})"
            ),
        ));
    }
    let header = 4 + 4 * k;
    if bytes.len() < header {
        return Err(bad(path, "truncated inside the header"));
    }
    let dims: Vec<usize> = (0..k)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let expected = gpfn_io::checked_len(&dims).ok_or_else(|| {
        bad(
            path,
            format!("the header's sizes {dims:?} overflow: not an IDX file"),
        )
    })?;
    let have = bytes.len() - header;
    if have < expected {
        return Err(bad(
            path,
            format!(
                "truncated: the header promises {dims:?} = {expected} values but the file holds {have}"
            ),
        ));
    }
    if have > expected {
        return Err(bad(
            path,
            format!(
                "{} trailing bytes after the {expected} values of {dims:?}",
                have - expected
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn parses_headers_and_rejects_bad_files() {
        let p = Path::new("x-idx3-ubyte");
        let a = parse_idx(&idx(&[2, 1, 3], &[1, 2, 3, 4, 5, 6]), p, 3).unwrap();
        assert_eq!(a.dims, vec![2, 1, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);

        let e = parse_idx(&idx(&[2, 1, 3], &[1, 2, 3]), p, 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("x-idx3-ubyte") && e.contains("truncated"), "{e}");
        let e = parse_idx(&[0x50, 0x4b, 3, 4, 0, 0], p, 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("wrong magic number"), "{e}");
        let e = parse_idx(&idx(&[6], &[0; 6]), p, 3)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("wrong magic number") && e.contains("1 dimensions"),
            "{e}"
        );
        let e = parse_idx(&idx(&[1], &[0, 0]), p, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("trailing"), "{e}");
        // Sizes whose product overflows are named, not multiplied into a panic.
        let e = parse_idx(&idx(&[u32::MAX, u32::MAX, u32::MAX], &[0; 4]), p, 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("x-idx3-ubyte") && e.contains("overflow"), "{e}");
    }

    #[test]
    fn reads_gzip_transparently() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.gz");
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(&idx(&[3], &[7, 8, 9])).unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        assert_eq!(read_idx(&path, 1).unwrap().data, vec![7, 8, 9]);
        std::fs::write(&path, [0x1f, 0x8b, 1, 2, 3]).unwrap();
        let e = read_idx(&path, 1).unwrap_err().to_string();
        assert!(e.contains("corrupt gzip"), "{e}");
    }
}
