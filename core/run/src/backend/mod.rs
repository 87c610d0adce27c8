//! Backends: the device every tensor lives on, picked at run time.
//!
//! `flex` (pure-Rust CPU) is always compiled in. `wgpu` and `cuda` are cargo features of
//! `gpfn-run` (and of `gpfn-cli`); asking for one that was not compiled in, or one whose
//! driver or adapter is missing, is an error rather than burn's panic. `cuda` is checked
//! piece by piece first ([`cuda::preflight`]: driver, GPU, libdevice).

pub mod cuda;

use burn::tensor::{Device, Tensor};
use gpfn_core::{GpfnError, Result};

/// Backend names, in the order `--backend` documents them.
pub const BACKENDS: [&str; 3] = ["flex", "wgpu", "cuda"];

/// Whether `name` was compiled into this binary.
pub fn compiled_in(name: &str) -> bool {
    match name {
        "flex" => true,
        "wgpu" => cfg!(feature = "wgpu"),
        "cuda" => cfg!(feature = "cuda"),
        _ => false,
    }
}

/// The (non-autodiff) device of backend `name`, checked to work.
pub fn device(name: &str) -> Result<Device> {
    let err = |message: String| GpfnError::Backend {
        backend: name.into(),
        message,
    };
    if !BACKENDS.contains(&name) {
        return Err(err(format!(
            "unknown backend; valid: {}",
            BACKENDS.join(", ")
        )));
    }
    if !compiled_in(name) {
        return Err(err(format!(
            "not compiled into this binary; rebuild with `--features {name}` \
             (e.g. `cargo build --release -p gpfn-cli --features {name}`)"
        )));
    }
    if name == "cuda" {
        cuda::preflight().map_err(|m| err(format!("the device does not start: {m}")))?;
    }
    let device = make(name);
    probe(&device).map_err(|m| err(format!("the device does not start: {m}")))?;
    Ok(device)
}

fn make(name: &str) -> Device {
    match name {
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        #[cfg(feature = "cuda")]
        "cuda" => Device::cuda(0),
        _ => Device::flex(),
    }
}

/// Runs one tiny computation on `device`, turning a backend panic (no driver, no adapter)
/// into an error message.
fn probe(device: &Device) -> std::result::Result<(), String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let d = device.clone();
    let result = std::panic::catch_unwind(move || {
        let t = Tensor::<1>::from_floats([1.0, 2.0], &d);
        t.sum().into_scalar::<f32>()
    });
    std::panic::set_hook(hook);
    match result {
        Ok(v) if (v - 3.0).abs() < 1e-6 => Ok(()),
        Ok(v) => Err(format!("1 + 2 evaluated to {v}")),
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "backend panicked".into())),
    }
}

/// Serialises use of the backend's random number generator, which burn keeps per process, not
/// per device: seeding it and drawing from it (parameter initialisation, dropout masks) happen
/// under this lock so that two trainings in one process (tests run in parallel threads) cannot
/// interleave their draws and lose reproducibility.
static BACKEND_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `draw` with the backend's generator seeded to `seed` and held by this thread alone.
pub fn with_seed<T>(device: &Device, seed: u64, draw: impl FnOnce() -> T) -> T {
    let _guard = BACKEND_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    device.seed(seed);
    draw()
}

/// Config check (`deserialize_with`): a backend name of [`BACKENDS`].
pub fn check_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = <String as serde::Deserialize>::deserialize(d)?;
    if !BACKENDS.contains(&v.as_str()) {
        return Err(<D::Error as serde::de::Error>::custom(format!(
            "unknown backend `{v}`; valid: {}",
            BACKENDS.join(", ")
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_works_and_missing_backends_say_which_feature() {
        assert!(device("flex").is_ok());
        let e = device("metal").unwrap_err().to_string();
        assert!(e.contains("valid: flex, wgpu, cuda"), "{e}");
        if !compiled_in("cuda") {
            let e = device("cuda").unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }
}
