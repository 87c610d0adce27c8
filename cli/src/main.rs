//! The `gpfn` binary.

fn main() -> std::process::ExitCode {
    gpfn_cli::run()
}
