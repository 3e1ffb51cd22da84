//! Command-line interface.

/// Entry point of the `scxpack` binary.
#[must_use]
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
