//! One folder per run: `config.toml` (resolved), `metrics.jsonl`, `checkpoints/`, `samples/`.

use crate::config::Config;
use gpfn_core::{GpfnError, Result};
use gpfn_io as io;
use std::path::{Path, PathBuf};

/// A run folder.
#[derive(Clone, Debug)]
pub struct RunFolder {
    path: PathBuf,
}

impl RunFolder {
    /// Creates (or, with `resume`, reopens) the folder `run.dir/run.name` and writes the
    /// resolved config into it.
    pub fn create(config: &Config, resume: bool) -> Result<RunFolder> {
        let path = config.run.dir.join(&config.run.name);
        let folder = RunFolder { path };
        let has_checkpoints = !crate::checkpoint::list(&folder.checkpoints())?.is_empty();
        if has_checkpoints && !resume {
            return Err(GpfnError::Run {
                path: folder.path.clone(),
                message: "already holds checkpoints; continue it with --resume, or pick another \
                          folder with --set run.name=NAME"
                    .into(),
            });
        }
        if resume && folder.config_path().exists() {
            let old = Config::from_toml(
                &std::fs::read_to_string(folder.config_path())
                    .map_err(|e| GpfnError::io(folder.config_path(), e))?,
            )?;
            if old.to_toml() != config.to_toml() {
                tracing::warn!(folder = %folder.path.display(), "--resume with a config that differs from the run's config.toml");
            }
        }
        std::fs::create_dir_all(&folder.path).map_err(|e| GpfnError::io(&folder.path, e))?;
        io::atomic_write(&folder.config_path(), config.to_toml().as_bytes())?;
        Ok(folder)
    }

    /// Opens an existing run folder (for `gpfn sample`).
    pub fn open(path: &Path) -> Result<RunFolder> {
        let folder = RunFolder {
            path: path.to_path_buf(),
        };
        if !folder.config_path().exists() {
            return Err(GpfnError::Run {
                path: path.to_path_buf(),
                message: "not a run folder (no config.toml)".into(),
            });
        }
        Ok(folder)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.toml")
    }

    /// The run's resolved config.
    pub fn config(&self) -> Result<Config> {
        let p = self.config_path();
        Config::from_toml(&std::fs::read_to_string(&p).map_err(|e| GpfnError::io(&p, e))?)
    }

    /// The run's config with `sets` (`key=value`, as `--set` takes them) layered over it: the
    /// run's `config.toml` is the file layer of [`crate::config::load`], so a command can
    /// point a run trained elsewhere at this machine's data folder (`data.dir=…`) or run it on
    /// another backend (`backend=…`). The built-in defaults under it set nothing the saved,
    /// fully resolved config lacks, so without `sets` it reads as [`RunFolder::config`].
    pub fn config_with(&self, sets: &[String]) -> Result<Config> {
        let sources = crate::config::ConfigSources {
            file: Some(self.config_path()),
            env: Vec::new(),
            sets: sets.to_vec(),
        };
        Ok(crate::config::load(&sources)?.config)
    }

    /// `checkpoints/`.
    pub fn checkpoints(&self) -> PathBuf {
        self.path.join("checkpoints")
    }

    /// `samples/`.
    pub fn samples(&self) -> PathBuf {
        self.path.join("samples")
    }

    /// Appends a line to `metrics.jsonl`.
    pub fn log_metrics(&self, value: &serde_json::Value) -> Result<()> {
        io::append_json_line(&self.path.join("metrics.jsonl"), value)
    }
}
