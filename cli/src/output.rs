//! Standard output that ends quietly when its reader goes away.
//!
//! `println!` panics when stdout is closed (`gpfn plugins | head -3`). Every command writes
//! through [`outln!`] and [`out!`] instead, which return the write error; [`crate::run_with`]
//! then ends a command whose stdout was closed (`BrokenPipe`) with status 0 and no message,
//! as `ls | head` does.

use gpfn_core::{GpfnError, Result};
use std::io::Write;

/// Writes formatted text to stdout; errors name `<stdout>`.
pub fn write(args: std::fmt::Arguments<'_>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(|e| GpfnError::io("<stdout>", e))
}

/// Whether `e` is a write to a stdout whose reader has gone away.
pub fn is_closed_stdout(e: &GpfnError) -> bool {
    matches!(e, GpfnError::Io { path, source }
        if path.as_os_str() == "<stdout>" && source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// `print!` that returns the write error (`?` it).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*))
    };
}

/// `println!` that returns the write error (`?` it).
macro_rules! outln {
    () => {
        $crate::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
