//! `gpfn data fetch` against a small HTTP server on 127.0.0.1 started by the test: right
//! sums, wrong sums, a transfer cut short and resumed, a missing file on one mirror, and a
//! server that is gone.

use gpfn_data::fetch::{RemoteFile, Source, fetch};
use gpfn_data::{Mnist, Split, fixture, load_idx_images};
use gpfn_io::sha256_file;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// How the server answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// The files as they are (ranges honoured).
    Right,
    /// Every file with its last byte flipped.
    Corrupt,
    /// The right `Content-Length`, then only this many bytes of the body, then the socket
    /// closes.
    CutAfter(usize),
}

/// Every request the server saw: (path, `Range` header).
type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

struct Server {
    base: String,
    mode: Arc<Mutex<Mode>>,
    log: RequestLog,
}

fn serve(files: BTreeMap<String, Vec<u8>>, mode: Mode) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let mode = Arc::new(Mutex::new(mode));
    let log: RequestLog = Arc::new(Mutex::new(Vec::new()));
    let (m, l) = (mode.clone(), log.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mode = *m.lock().unwrap();
            answer(stream, &files, mode, &l);
        }
    });
    Server { base, mode, log }
}

fn answer(mut stream: TcpStream, files: &BTreeMap<String, Vec<u8>>, mode: Mode, log: &RequestLog) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let path = first
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("range")
        {
            range = Some(v.trim().to_string());
        }
    }
    log.lock().unwrap().push((path.clone(), range.clone()));
    let Some(body) = files.get(&path) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let mut body = body.clone();
    if mode == Mode::Corrupt {
        *body.last_mut().unwrap() ^= 0xff;
    }
    let start: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
            body.len() - start,
            body.len() - 1,
            body.len()
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
    };
    let mut payload = body[start..].to_vec();
    if let Mode::CutAfter(n) = mode {
        payload.truncate(n);
    }
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&payload);
    let _ = stream.flush();
}

/// A small data set of seven-segment digits in IDX files, and its [`Source`] on `mirrors`.
fn dataset(mirrors: Vec<String>) -> (BTreeMap<String, Vec<u8>>, Source) {
    let dir = tempfile::tempdir().unwrap();
    fixture::write_seven_segment_idx(dir.path(), 40, 20, 3).unwrap();
    let mut files = BTreeMap::new();
    let mut remote = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        remote.push(RemoteFile {
            name: name.clone(),
            size: std::fs::metadata(&path).unwrap().len(),
            sha256: sha256_file(&path).unwrap(),
        });
        files.insert(name, std::fs::read(&path).unwrap());
    }
    remote.sort_by(|a, b| a.name.cmp(&b.name));
    let source = Source {
        name: "mnist".into(),
        mirrors,
        files: remote,
    };
    (files, source)
}

fn with_mirrors(source: &Source, mirrors: &[&str]) -> Source {
    Source {
        mirrors: mirrors.iter().map(|m| m.to_string()).collect(),
        ..source.clone()
    }
}

fn parts(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect()
}

#[test]
fn right_sums_download_once_and_load_as_mnist() {
    let (files, source) = dataset(Vec::new());
    let server = serve(files.clone(), Mode::Right);
    let source = with_mirrors(&source, &[&server.base]);
    let dest = tempfile::tempdir().unwrap();
    let report = fetch(&source, dest.path(), false).unwrap();
    assert_eq!(report.downloaded.len(), 4);
    for (name, bytes) in &files {
        assert_eq!(&std::fs::read(dest.path().join(name)).unwrap(), bytes);
    }
    assert!(parts(dest.path()).is_empty());
    // Present files with the right sums are not downloaded again.
    let requests = server.log.lock().unwrap().len();
    let again = fetch(&source, dest.path(), false).unwrap();
    assert_eq!((again.downloaded.len(), again.present.len()), (0, 4));
    assert_eq!(server.log.lock().unwrap().len(), requests);
    // The folder is a working `mnist` data folder.
    let m = Mnist {
        dir: Some(dest.path().to_path_buf()),
        ..Mnist::default()
    };
    use gpfn_data::Dataset;
    assert_eq!(m.load(Split::Train, 0).unwrap().len(), 40);
    assert_eq!(
        load_idx_images(dest.path(), Split::Test, None)
            .unwrap()
            .len(),
        20
    );
}

#[test]
fn a_wrong_sum_is_an_error_and_leaves_nothing_behind() {
    let (files, source) = dataset(Vec::new());
    let server = serve(files, Mode::Corrupt);
    let source = with_mirrors(&source, &[&server.base]);
    let dest = tempfile::tempdir().unwrap();
    let e = fetch(&source, dest.path(), false).unwrap_err().to_string();
    let first = &source.files[0];
    assert!(
        e.contains("SHA-256 mismatch") && e.contains(&first.sha256),
        "{e}"
    );
    assert!(
        e.contains(&first.name) && e.contains("gpfn data fetch mnist"),
        "{e}"
    );
    assert!(!dest.path().join(&first.name).exists());
    assert!(parts(dest.path()).is_empty(), "{:?}", parts(dest.path()));
}

#[test]
fn a_transfer_cut_short_keeps_its_part_and_resumes_with_a_range_request() {
    let (files, source) = dataset(Vec::new());
    let cut = 1000;
    let server = serve(files.clone(), Mode::CutAfter(cut));
    let source = with_mirrors(&source, &[&server.base]);
    let dest = tempfile::tempdir().unwrap();
    let e = fetch(&source, dest.path(), false).unwrap_err().to_string();
    let first = &source.files[0];
    assert!(e.contains(&first.name) && e.contains("resumes"), "{e}");
    let part = dest.path().join(format!("{}.part", first.name));
    assert_eq!(std::fs::metadata(&part).unwrap().len(), cut as u64);
    assert!(!dest.path().join(&first.name).exists());

    *server.mode.lock().unwrap() = Mode::Right;
    let report = fetch(&source, dest.path(), false).unwrap();
    assert_eq!(report.resumed_bytes, cut as u64);
    assert!(
        server
            .log
            .lock()
            .unwrap()
            .contains(&(first.name.clone(), Some(format!("bytes={cut}-")))),
        "{:?}",
        server.log.lock().unwrap()
    );
    for (name, bytes) in &files {
        assert_eq!(
            &std::fs::read(dest.path().join(name)).unwrap(),
            bytes,
            "{name}"
        );
    }
    assert!(parts(dest.path()).is_empty());
}

#[test]
fn a_mirror_without_the_files_falls_through_to_the_next() {
    let (files, source) = dataset(Vec::new());
    let empty = serve(BTreeMap::new(), Mode::Right);
    let full = serve(files, Mode::Right);
    let source = with_mirrors(&source, &[&empty.base, &full.base]);
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(
        fetch(&source, dest.path(), false).unwrap().downloaded.len(),
        4
    );
    assert_eq!(empty.log.lock().unwrap().len(), 4);
}

#[test]
fn a_server_that_is_gone_is_named_with_what_to_do() {
    let (_, source) = dataset(Vec::new());
    // Bind a port, then close it: nothing listens there any more.
    let base = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let source = with_mirrors(&source, &[&base]);
    let dest = tempfile::tempdir().unwrap();
    let e = fetch(&source, dest.path(), false).unwrap_err().to_string();
    assert!(e.contains(&base) && e.contains("cannot reach"), "{e}");
    assert!(
        e.contains("gpfn data fetch mnist") && e.contains("train-images-idx3-ubyte"),
        "{e}"
    );
}

/// `cifar-10-binary.tar.gz` in miniature: the archive's `cifar-10-batches-bin/` folder with
/// six batch files of a few fixture records (and the text file the real one has), gzipped,
/// and its [`Source`] with the test's own size and sum in place of the pinned ones.
fn cifar_archive(mirrors: Vec<String>) -> (BTreeMap<String, Vec<u8>>, Source) {
    let dir = tempfile::tempdir().unwrap();
    let batches = dir.path().join("cifar-10-batches-bin");
    gpfn_data::cifar::write_fixture(&batches, 4, 6, 1).unwrap();
    std::fs::write(batches.join("batches.meta.txt"), "airplane\nautomobile\n").unwrap();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all("cifar-10-batches-bin", &batches)
        .unwrap();
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    let path = dir.path().join("archive");
    std::fs::write(&path, &bytes).unwrap();
    let pinned = gpfn_data::fetch::source("cifar10").unwrap();
    assert_eq!(pinned.files.len(), 1);
    let name = pinned.files[0].name.clone();
    let source = Source {
        name: "cifar10".into(),
        mirrors,
        files: vec![RemoteFile {
            name: name.clone(),
            size: bytes.len() as u64,
            sha256: sha256_file(&path).unwrap(),
        }],
    };
    (BTreeMap::from([(name, bytes)]), source)
}

#[test]
fn cifar10_downloads_resumably_unpacks_once_and_loads() {
    use gpfn_data::{Cifar10, Dataset};
    let (files, source) = cifar_archive(Vec::new());
    let archive = source.files[0].name.clone();
    let cut = 700;
    let server = serve(files.clone(), Mode::CutAfter(cut));
    let source = with_mirrors(&source, &[&server.base]);
    let dest = tempfile::tempdir().unwrap();
    // Cut short: the `.part` stays, nothing is unpacked.
    let e = fetch(&source, dest.path(), false).unwrap_err().to_string();
    assert!(
        e.contains("resumes") && e.contains("gpfn data fetch cifar10"),
        "{e}"
    );
    assert!(!dest.path().join("cifar-10-batches-bin").exists());
    assert_eq!(parts(dest.path()), vec![format!("{archive}.part")]);
    // Resumed with a range request, checked, unpacked.
    *server.mode.lock().unwrap() = Mode::Right;
    let report = fetch(&source, dest.path(), false).unwrap();
    assert_eq!(report.resumed_bytes, cut as u64);
    assert_eq!(report.unpacked, vec![archive.clone()]);
    assert!(
        server
            .log
            .lock()
            .unwrap()
            .contains(&(archive.clone(), Some(format!("bytes={cut}-"))))
    );
    assert_eq!(
        std::fs::read(dest.path().join(&archive)).unwrap(),
        files[&archive]
    );
    let batches = dest.path().join("cifar-10-batches-bin");
    assert!(batches.join("batches.meta.txt").is_file());
    assert!(parts(&batches).is_empty() && parts(dest.path()).is_empty());
    // The folder (or the archive's folder inside it) is a working `cifar10` data folder.
    let c = Cifar10 {
        dir: Some(dest.path().to_path_buf()),
        ..Cifar10::default()
    };
    let train = c.load(Split::Train, 0).unwrap();
    assert_eq!((train.len(), train.shape.clone()), (20, vec![3, 32, 32]));
    assert_eq!(train.labels.as_ref().unwrap()[..3], [0, 1, 2]);
    assert_eq!(c.load(Split::Test, 0).unwrap().len(), 6);
    // Again: present, not downloaded nor unpacked a second time.
    let requests = server.log.lock().unwrap().len();
    let again = fetch(&source, dest.path(), false).unwrap();
    assert_eq!((again.present.len(), again.unpacked.len()), (1, 0));
    assert_eq!(server.log.lock().unwrap().len(), requests);
    // Interrupted unpacking (no stamp) is redone.
    std::fs::remove_file(dest.path().join(format!("{archive}.unpacked"))).unwrap();
    std::fs::remove_file(batches.join("test_batch.bin")).unwrap();
    assert_eq!(
        fetch(&source, dest.path(), false).unwrap().unpacked.len(),
        1
    );
    assert_eq!(c.load(Split::Test, 0).unwrap().len(), 6);
}

#[test]
fn a_cifar10_archive_with_the_wrong_sum_is_deleted_and_not_unpacked() {
    let (files, source) = cifar_archive(Vec::new());
    let server = serve(files, Mode::Corrupt);
    let source = with_mirrors(&source, &[&server.base]);
    let dest = tempfile::tempdir().unwrap();
    let e = fetch(&source, dest.path(), false).unwrap_err().to_string();
    assert!(e.contains("SHA-256 mismatch"), "{e}");
    assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 0);
}

#[test]
fn an_archive_entry_leaving_the_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut header = tar::Header::new_gnu();
    let body = b"x";
    header.set_size(1);
    header.set_entry_type(tar::EntryType::Regular);
    // `set_path` refuses `..`, as a careful writer would; write the name bytes directly.
    header.as_old_mut().name[..9].copy_from_slice(b"../escape");
    header.set_cksum();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.append(&header, &body[..]).unwrap();
    let archive = dir.path().join("evil.tar.gz");
    std::fs::write(&archive, tar.into_inner().unwrap().finish().unwrap()).unwrap();
    let dest = dir.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let e = gpfn_data::fetch::unpack(&archive, "sum", &dest)
        .unwrap_err()
        .to_string();
    assert!(e.contains("../escape") && e.contains("refused"), "{e}");
    assert!(!dir.path().join("escape").exists());
}

#[test]
fn the_pinned_sources_name_their_files_with_sums() {
    for name in gpfn_data::fetch::SOURCES {
        let s = gpfn_data::fetch::source(name).unwrap();
        let files = if name == "cifar10" { 1 } else { 4 };
        assert_eq!(s.files.len(), files, "{name}");
        assert!(s.files.iter().all(|f| f.sha256.len() == 64 && f.size > 0));
        assert!(s.mirrors.iter().all(|m| m.ends_with('/')));
    }
    // The official archive, as tensorflow_datasets/url_checksums/cifar10.txt pins it.
    let c = gpfn_data::fetch::source("cifar10").unwrap();
    assert_eq!(c.mirrors, ["https://www.cs.toronto.edu/~kriz/"]);
    assert_eq!(
        (
            c.files[0].name.as_str(),
            c.files[0].size,
            c.files[0].sha256.as_str()
        ),
        (
            "cifar-10-binary.tar.gz",
            170_052_171,
            "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
        )
    );
    let e = gpfn_data::fetch::source("cifar").unwrap_err().to_string();
    assert!(
        e.contains("cifar") && e.contains("mnist, fashion-mnist"),
        "{e}"
    );
}
