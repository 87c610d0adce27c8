//! `gpfn math prox`, `gpfn math divergence` and `gpfn math sinkhorn`.

use crate::cli::{JsonInput, MathCommand};
use crate::math_json;
use crate::output::outln;
use gpfn_core::{GpfnError, Result};
use gpfn_run::backend;
use gpfn_run::config::{ConfigSources, load};
use std::io::Read;

fn read(input: &JsonInput) -> Result<String> {
    match &input.input {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::read_to_string(p).map_err(|e| GpfnError::io(p, e))
        }
        _ => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| GpfnError::io("<stdin>", e))?;
            Ok(s)
        }
    }
}

pub fn run(sources: &ConfigSources, cmd: MathCommand) -> Result<()> {
    let device = backend::device(&load(sources)?.config.backend)?;
    let out = match cmd {
        MathCommand::Prox(input) => math_json::prox(&read(&input)?, &device)?,
        MathCommand::Divergence(input) => math_json::divergence(&read(&input)?, &device)?,
        MathCommand::Sinkhorn(input) => math_json::sinkhorn(&read(&input)?, &device)?,
    };
    outln!("{out}")?;
    Ok(())
}
