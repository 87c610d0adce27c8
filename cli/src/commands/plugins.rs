//! `gpfn plugins`.

use crate::cli::PluginsArgs;
use crate::output::outln;
use gpfn_core::Result;
use gpfn_core::registry::plugins;

pub fn run(args: &PluginsArgs) -> Result<()> {
    let all = plugins();
    if args.json {
        let v: Vec<_> = all
            .iter()
            .map(|p| {
                serde_json::json!({
                    "kind": p.kind.section(),
                    "name": p.name,
                    "description": p.description,
                    "crate": p.crate_name,
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&v).expect("json"))?;
        return Ok(());
    }
    let w_name = all.iter().map(|p| p.name.len()).max().unwrap_or(4).max(4);
    let w_crate = all
        .iter()
        .map(|p| p.crate_name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    outln!(
        "{:<11} {:<w_name$} {:<w_crate$} description",
        "kind",
        "name",
        "crate"
    )?;
    for p in all {
        outln!(
            "{:<11} {:<w_name$} {:<w_crate$} {}",
            p.kind.section(),
            p.name,
            p.crate_name,
            p.description
        )?;
    }
    Ok(())
}
