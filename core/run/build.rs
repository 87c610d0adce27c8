//! With the `cuda` feature: warns, before `tracel-llvm-bundler`'s build script tries its
//! download, when the LLVM it looks for is not installed, and says how to provide it offline
//! (docs/backends.md). Does nothing without the feature or under `DOCS_RS` (the CI
//! type-check).

fn main() {
    println!("cargo:rerun-if-env-changed=XDG_DATA_HOME");
    println!("cargo:rerun-if-env-changed=DOCS_RS");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() || std::env::var_os("DOCS_RS").is_some() {
        return;
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/share"))
        });
    let Some(data) = data else {
        return;
    };
    let marker = data.join("tracel/tracel-llvm-23.1.0-4/.tracel-llvm-installed");
    println!("cargo:rerun-if-changed={}", marker.display());
    if !marker.exists() {
        println!(
            "cargo:warning=--features cuda needs LLVM 23.1 at {}: tracel-llvm-bundler will try \
             to download it from GitHub; without internet access run `bash scripts/cuda-llvm.sh` \
             first (docs/backends.md)",
            marker.parent().unwrap().display()
        );
    }
}
