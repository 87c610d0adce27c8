//! Downloading the image data sets into a per-user cache: `gpfn data fetch mnist`.
//!
//! Each data set is a list of files with pinned sizes and SHA-256 sums ([`Source`]) and
//! mirrors to try in order. A file is downloaded to `NAME.part` beside its final place and
//! renamed only after its size and sum check out, so an interrupted or corrupt transfer never
//! looks like data. A `.part` left by an interrupted transfer is resumed with an HTTP range
//! request (a server that ignores the range sends the whole file, which replaces it).
//!
//! The cache is `$GPFN_CACHE_DIR`, else the XDG cache folder (`$XDG_CACHE_HOME/gpfn`, else
//! `~/.cache/gpfn`); a data set lives in `<cache>/data/<name>/`.

use gpfn_core::{GpfnError, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One file of a data set, as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name, the same on every mirror and in the cache.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
}

/// A downloadable data set: its files and where they are published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The data set's plugin name (`mnist`, `fashion-mnist`).
    pub name: String,
    /// Base URLs, tried in order (each ends with `/`).
    pub mirrors: Vec<String>,
    /// The files.
    pub files: Vec<RemoteFile>,
}

fn file(name: &str, size: u64, sha256: &str) -> RemoteFile {
    RemoteFile {
        name: name.into(),
        size,
        sha256: sha256.into(),
    }
}

/// Names of the data sets [`source`] knows.
pub const SOURCES: [&str; 3] = ["mnist", "fashion-mnist", "cifar10"];

/// The published files of data set `name`. The sums are those of the original distributions
/// (LeCun et al.'s MNIST as mirrored by TensorFlow's and PyTorch's buckets; Zalando's
/// Fashion-MNIST; Krizhevsky's CIFAR-10 binary archive from the University of Toronto), as
/// pinned by TensorFlow Datasets (`tensorflow_datasets/url_checksums/*.txt`).
pub fn source(name: &str) -> Result<Source> {
    match name {
        // tensorflow_datasets/url_checksums/cifar10.txt: 170 052 171 bytes and this SHA-256
        // (the archive's published MD5 is c32a1d4ab5d03f1284b67883e8d87530). Unpacked by
        // [`fetch`] into `cifar-10-batches-bin/` beside it.
        "cifar10" => Ok(Source {
            name: name.into(),
            mirrors: vec!["https://www.cs.toronto.edu/~kriz/".into()],
            files: vec![file(
                "cifar-10-binary.tar.gz",
                170_052_171,
                "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            )],
        }),
        "mnist" => Ok(Source {
            name: name.into(),
            mirrors: vec![
                "https://storage.googleapis.com/cvdf-datasets/mnist/".into(),
                "https://ossci-datasets.s3.amazonaws.com/mnist/".into(),
            ],
            files: vec![
                file(
                    "train-images-idx3-ubyte.gz",
                    9_912_422,
                    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                ),
                file(
                    "train-labels-idx1-ubyte.gz",
                    28_881,
                    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                ),
                file(
                    "t10k-images-idx3-ubyte.gz",
                    1_648_877,
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                ),
                file(
                    "t10k-labels-idx1-ubyte.gz",
                    4_542,
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                ),
            ],
        }),
        "fashion-mnist" => Ok(Source {
            name: name.into(),
            mirrors: vec![
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/".into(),
                "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
                    .into(),
            ],
            files: vec![
                file(
                    "train-images-idx3-ubyte.gz",
                    26_421_880,
                    "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                ),
                file(
                    "train-labels-idx1-ubyte.gz",
                    29_515,
                    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                ),
                file(
                    "t10k-images-idx3-ubyte.gz",
                    4_422_102,
                    "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                ),
                file(
                    "t10k-labels-idx1-ubyte.gz",
                    5_148,
                    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                ),
            ],
        }),
        other => Err(GpfnError::Invalid(format!(
            "no download is known for data set `{other}`; known: {}",
            SOURCES.join(", ")
        ))),
    }
}

/// The cache folder: `$GPFN_CACHE_DIR`, else `<XDG cache>/gpfn` (`~/.cache/gpfn` on Linux).
pub fn cache_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("GPFN_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::cache_dir().map(|d| d.join("gpfn")).ok_or_else(|| {
        GpfnError::Invalid(
            "no cache folder: neither GPFN_CACHE_DIR, XDG_CACHE_HOME nor HOME is set".into(),
        )
    })
}

/// The folder data set `name` is downloaded into: `<cache>/data/<name>`.
pub fn cache_dir(name: &str) -> Result<PathBuf> {
    Ok(cache_root()?.join("data").join(name))
}

/// What a fetch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Files downloaded (in part or whole) by this call.
    pub downloaded: Vec<String>,
    /// Files already present with the right sum.
    pub present: Vec<String>,
    /// Bytes taken from `.part` files of an earlier, interrupted call.
    pub resumed_bytes: u64,
    /// Archives (`.tar.gz`) unpacked by this call.
    pub unpacked: Vec<String>,
}

/// Downloads every file of `source` missing from `dest` (or present with the wrong sum), from
/// the first mirror that serves it correctly; a progress bar on stderr when `progress`.
pub fn fetch(source: &Source, dest: &Path, progress: bool) -> Result<FetchReport> {
    std::fs::create_dir_all(dest).map_err(|e| GpfnError::io(dest, e))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut report = FetchReport::default();
    for f in &source.files {
        let path = dest.join(&f.name);
        if path.is_file() && gpfn_io::sha256_file(&path)? == f.sha256 {
            report.present.push(f.name.clone());
            continue;
        }
        let mut failures = Vec::new();
        let mut done = false;
        for mirror in &source.mirrors {
            let url = format!("{mirror}{}", f.name);
            match download(&agent, &url, f, &path, progress) {
                Ok(resumed) => {
                    report.resumed_bytes += resumed;
                    report.downloaded.push(f.name.clone());
                    done = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!("{url}: {e}");
                    failures.push(format!("{url}: {e}"));
                }
            }
        }
        if !done {
            return Err(GpfnError::Data {
                path,
                message: format!(
                    "could not be downloaded ({}); run `gpfn data fetch {}` again to retry \
                     (a partial download resumes), or put the files {} into {} yourself",
                    failures.join("; "),
                    source.name,
                    source
                        .files
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    dest.display()
                ),
            });
        }
    }
    for f in source.files.iter().filter(|f| f.name.ends_with(".tar.gz")) {
        if unpack(&dest.join(&f.name), &f.sha256, dest)? {
            report.unpacked.push(f.name.clone());
        }
    }
    Ok(report)
}

/// Unpacks the verified archive `archive` (gzip-compressed tar, SHA-256 `sha256`) into `dest`,
/// keeping its folders (`cifar-10-batches-bin/…`), unless the stamp `<archive>.unpacked`
/// says this very archive was unpacked there already. Each file is written to `NAME.part`
/// and renamed when complete, and the stamp is written last, so an interrupted unpacking is
/// redone by the next call. Only plain files and folders are taken; an entry whose path
/// leaves `dest` (absolute, or through `..`) is refused. Returns whether it unpacked.
pub fn unpack(archive: &Path, sha256: &str, dest: &Path) -> Result<bool> {
    let mut stamp = archive.as_os_str().to_os_string();
    stamp.push(".unpacked");
    let stamp = PathBuf::from(stamp);
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == sha256) {
        return Ok(false);
    }
    let bad = |message: String| GpfnError::Data {
        path: archive.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(archive).map_err(|e| GpfnError::io(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let entries = tar
        .entries()
        .map_err(|e| bad(format!("not a tar.gz archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("corrupt archive: {e}")))?;
        let inner = entry
            .path()
            .map_err(|e| bad(format!("corrupt entry name: {e}")))?
            .into_owned();
        let safe = inner.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
        if !safe {
            return Err(bad(format!(
                "entry {} would be written outside {}; refused",
                inner.display(),
                dest.display()
            )));
        }
        let target = dest.join(&inner);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(|e| GpfnError::io(&target, e))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| GpfnError::io(parent, e))?;
                }
                let part = part_path(&target);
                let mut out = std::fs::File::create(&part).map_err(|e| GpfnError::io(&part, e))?;
                std::io::copy(&mut entry, &mut out).map_err(|e| {
                    bad(format!(
                        "corrupt archive while unpacking {}: {e}",
                        inner.display()
                    ))
                })?;
                drop(out);
                std::fs::rename(&part, &target).map_err(|e| GpfnError::io(&target, e))?;
            }
            _ => {}
        }
    }
    gpfn_io::atomic_write(&stamp, sha256.as_bytes())?;
    tracing::info!("{}: unpacked into {}", archive.display(), dest.display());
    Ok(true)
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    path.with_file_name(name)
}

/// Downloads `url` into `path` through `path.part`, resuming an existing `.part`; checks the
/// size and the sum before the rename. Returns the bytes resumed. A transfer cut short keeps
/// its `.part` (the next call resumes it); a wrong sum deletes it.
fn download(
    agent: &ureq::Agent,
    url: &str,
    f: &RemoteFile,
    path: &Path,
    progress: bool,
) -> std::result::Result<u64, String> {
    let part = part_path(path);
    let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let have = if have >= f.size {
        // A `.part` as long as the file (or longer) finished without its check: start over.
        let _ = std::fs::remove_file(&part);
        0
    } else {
        have
    };
    let mut request = agent.get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let mut response = request
        .call()
        .map_err(|e| format!("cannot reach the server: {e}"))?;
    let status = response.status().as_u16();
    let resumed = match status {
        206 if have > 0 => have,
        200 => 0,
        _ => return Err(format!("HTTP status {status}")),
    };
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed > 0)
        .truncate(resumed == 0)
        .open(&part)
        .map_err(|e| format!("{}: {e}", part.display()))?;
    let bar = if progress {
        indicatif::ProgressBar::new(f.size)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template"),
    );
    bar.set_message(f.name.clone());
    bar.set_position(resumed);
    let mut reader = response.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut written = resumed;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                bar.abandon();
                return Err(format!(
                    "transfer interrupted after {written} of {} bytes ({e}); the partial file \
                     {} resumes on the next try",
                    f.size,
                    part.display()
                ));
            }
        };
        written += n as u64;
        if written > f.size {
            drop(out);
            let _ = std::fs::remove_file(&part);
            return Err(format!(
                "the server sent more than the {} bytes expected",
                f.size
            ));
        }
        out.write_all(&buf[..n])
            .map_err(|e| format!("{}: {e}", part.display()))?;
        bar.set_position(written);
    }
    out.sync_all()
        .map_err(|e| format!("{}: {e}", part.display()))?;
    drop(out);
    bar.finish_and_clear();
    if written != f.size {
        return Err(format!(
            "transfer ended after {written} of {} bytes; the partial file {} resumes on the \
             next try",
            f.size,
            part.display()
        ));
    }
    let sum = gpfn_io::sha256_file(&part).map_err(|e| e.to_string())?;
    if sum != f.sha256 {
        let _ = std::fs::remove_file(&part);
        return Err(format!(
            "SHA-256 mismatch: expected {}, got {sum} (the download was deleted)",
            f.sha256
        ));
    }
    std::fs::rename(&part, path).map_err(|e| format!("{}: {e}", path.display()))?;
    tracing::info!("{}: {} bytes, SHA-256 verified", path.display(), f.size);
    Ok(resumed)
}
