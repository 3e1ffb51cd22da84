//! The `scxpack` binary: parse the command line, run, print errors.

fn main() -> std::process::ExitCode {
    scxpack::cli::main()
}
