//! `gpfn data fetch`.

use crate::cli::DataFetchArgs;
use crate::output::outln;
use gpfn_core::Result;
use gpfn_data::fetch;

/// Downloads the data set and prints the folder it is in.
pub fn fetch(args: &DataFetchArgs) -> Result<()> {
    let mut source = fetch::source(&args.name)?;
    if !args.mirror.is_empty() {
        source.mirrors = args
            .mirror
            .iter()
            .map(|m| format!("{}/", m.trim_end_matches('/')))
            .collect();
    }
    let dest = match &args.to {
        Some(d) => d.clone(),
        None => fetch::cache_dir(&args.name)?,
    };
    let report = fetch::fetch(&source, &dest, !args.no_progress)?;
    tracing::info!(
        "{}: {} downloaded, {} already present",
        args.name,
        report.downloaded.len(),
        report.present.len()
    );
    outln!("{}", dest.display())
}
