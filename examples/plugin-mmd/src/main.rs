use gpfn_plugin_mmd as _; // linking the crate registers `mmd`
fn main() -> std::process::ExitCode {
    gpfn_cli::run()
}
