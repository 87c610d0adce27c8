//! What `--backend cuda` needs at run time, checked before burn starts its runtime, so that a
//! missing piece is a one-line error naming it and the fix (burn's runtime reports all of
//! them as a `RecvError` from its server thread, or a panic):
//!
//! 1. the NVIDIA driver's `libcuda.so.1` on the library path;
//! 2. a GPU the driver sees (`cuInit` and `cuDeviceGetCount`);
//! 3. the CUDA toolkit's `nvvm/libdevice/libdevice.10.bc`, which cubecl's LLVM (NVPTX) code
//!    generator links into every kernel that calls a math function (the lookup is
//!    cubecl-llvm 0.11.3's: `CUDA_PATH`, else the first of `/usr/local/cuda`, `/opt/cuda`,
//!    `/usr/lib/cuda`, `/usr` with `nvvm/libdevice`).
//!
//! Compiled with or without the `cuda` feature, so that the checks are tested everywhere.

use std::path::{Path, PathBuf};

/// Library names of the NVIDIA driver, tried in order.
pub const DRIVER_LIBRARIES: [&str; 2] = ["libcuda.so.1", "libcuda.so"];

/// Fallback CUDA toolkit roots, in cubecl-llvm's order.
pub const CUDA_ROOTS: [&str; 4] = ["/usr/local/cuda", "/opt/cuda", "/usr/lib/cuda", "/usr"];

/// `cuInit`'s `CUDA_ERROR_NO_DEVICE`.
const CUDA_ERROR_NO_DEVICE: i32 = 100;

/// Every check, in order: driver, device, libdevice.
pub fn preflight() -> Result<(), String> {
    let driver = load_driver(&DRIVER_LIBRARIES)?;
    count_devices(&driver)?;
    let cuda_path = std::env::var_os("CUDA_PATH").map(PathBuf::from);
    libdevice(cuda_path.as_deref(), &CUDA_ROOTS).map(|_| ())
}

/// The first of `names` that loads, or the error that says the driver is missing.
pub fn load_driver(names: &[&str]) -> Result<libloading::Library, String> {
    let mut last = String::new();
    for name in names {
        // SAFETY: loading the driver library runs its initialisers, as cudarc does when
        // burn starts; nothing of it is called before the symbols are checked.
        match unsafe { libloading::Library::new(*name) } {
            Ok(lib) => return Ok(lib),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!(
        "no NVIDIA driver: {} not found ({last}); install the NVIDIA driver, or put the folder \
         holding libcuda.so.1 on LD_LIBRARY_PATH (in a container: run it with the GPU mounted, \
         e.g. `docker run --gpus all`)",
        names.join(" / ")
    ))
}

/// `cuInit(0)` and `cuDeviceGetCount`: an error when the driver sees no GPU.
fn count_devices(driver: &libloading::Library) -> Result<usize, String> {
    type CuInit = unsafe extern "C" fn(u32) -> i32;
    type CuDeviceGetCount = unsafe extern "C" fn(*mut i32) -> i32;
    // SAFETY: the two symbols of the CUDA driver API with their documented C signatures.
    let (init, count) = unsafe {
        let init = driver
            .get::<CuInit>(b"cuInit\0")
            .map_err(|e| format!("the NVIDIA driver has no cuInit: {e}"))?;
        let count = driver
            .get::<CuDeviceGetCount>(b"cuDeviceGetCount\0")
            .map_err(|e| format!("the NVIDIA driver has no cuDeviceGetCount: {e}"))?;
        (init, count)
    };
    // SAFETY: cuInit takes flags 0; cuDeviceGetCount writes one int.
    let status = unsafe { init(0) };
    if status == CUDA_ERROR_NO_DEVICE {
        return Err(no_gpu(
            "the driver found none (cuInit: CUDA_ERROR_NO_DEVICE)",
        ));
    }
    if status != 0 {
        return Err(format!(
            "the NVIDIA driver does not initialise (cuInit error {status}); check `nvidia-smi`"
        ));
    }
    let mut n = 0i32;
    let status = unsafe { count(&mut n) };
    if status != 0 || n <= 0 {
        return Err(no_gpu(&format!(
            "cuDeviceGetCount gave {n} (status {status})"
        )));
    }
    Ok(n as usize)
}

fn no_gpu(why: &str) -> String {
    format!(
        "no CUDA GPU: {why}; check `nvidia-smi`, and that CUDA_VISIBLE_DEVICES does not hide them"
    )
}

/// The `libdevice.10.bc` cubecl's NVPTX code generator will link: under `cuda_path` when it is
/// given (`CUDA_PATH`), else under the first of `roots` that has `nvvm/libdevice`.
pub fn libdevice(cuda_path: Option<&Path>, roots: &[&str]) -> Result<PathBuf, String> {
    let root = match cuda_path {
        Some(p) => Some(p.to_path_buf()),
        None => roots
            .iter()
            .map(Path::new)
            .find(|r| r.join("nvvm").join("libdevice").is_dir())
            .map(Path::to_path_buf),
    };
    let looked = match &cuda_path {
        Some(p) => format!("CUDA_PATH = {}", p.display()),
        None => format!("CUDA_PATH unset; looked in {}", roots.join(", ")),
    };
    let path = root.map(|r| r.join("nvvm").join("libdevice").join("libdevice.10.bc"));
    match path {
        Some(p) if p.is_file() => Ok(p),
        _ => Err(format!(
            "no libdevice: nvvm/libdevice/libdevice.10.bc of a CUDA toolkit was not found \
             ({looked}); cubecl's kernels link it for their math functions. Install the CUDA \
             toolkit (or just its nvvm folder) and set CUDA_PATH to its root"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_driver_names_the_library_and_the_fix() {
        let e = load_driver(&["libcuda-gpfn-test-missing.so.1"]).expect_err("no such library");
        assert!(
            e.starts_with("no NVIDIA driver: libcuda-gpfn-test-missing.so.1 not found"),
            "{e}"
        );
        assert!(e.contains("install the NVIDIA driver"), "{e}");
    }

    #[test]
    fn libdevice_is_found_under_cuda_path_or_a_root_and_named_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let toolkit = dir.path().join("cuda");
        let e = libdevice(Some(&toolkit), &[]).unwrap_err();
        assert!(e.starts_with("no libdevice:"), "{e}");
        assert!(
            e.contains(&format!("CUDA_PATH = {}", toolkit.display())),
            "{e}"
        );
        assert!(e.contains("set CUDA_PATH"), "{e}");
        let folder = toolkit.join("nvvm/libdevice");
        std::fs::create_dir_all(&folder).unwrap();
        // The folder alone is not enough: the bitcode file must be there.
        assert!(libdevice(Some(&toolkit), &[]).is_err());
        std::fs::write(folder.join("libdevice.10.bc"), b"BC").unwrap();
        assert_eq!(
            libdevice(Some(&toolkit), &[]).unwrap(),
            folder.join("libdevice.10.bc")
        );
        // Without CUDA_PATH, the first root that has nvvm/libdevice.
        let root = toolkit.to_str().unwrap();
        assert_eq!(
            libdevice(None, &["/nonexistent-gpfn", root]).unwrap(),
            folder.join("libdevice.10.bc")
        );
        let e = libdevice(None, &["/nonexistent-gpfn"]).unwrap_err();
        assert!(
            e.contains("CUDA_PATH unset; looked in /nonexistent-gpfn"),
            "{e}"
        );
    }
}
