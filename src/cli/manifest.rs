//! `scxpack manifest init OBJ [-o FILE]`: print or write a draft source
//! manifest for a bare object ([`crate::package::draft`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::package::draft;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Draft a source manifest for a bare object: its .rodata parameters,
    /// resizable arrays and what is left to decide, for `pack`.
    Init {
        /// The BPF object (.bpf.o).
        object: PathBuf,
        /// Write the draft here (refuses to overwrite) instead of printing it.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub(crate) fn run(cmd: &Command) -> anyhow::Result<ExitCode> {
    let Command::Init { object, output } = cmd;
    let bytes =
        std::fs::read(object).with_context(|| format!("cannot read {}", object.display()))?;
    let reference = object_reference(object, output.as_deref());
    let d = draft::draft(object, &bytes, &reference)?;
    let text = serde_json::to_string_pretty(&d)? + "\n";
    let Some(out) = output else {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| {
            format!(
                "cannot create {} (an existing file is never overwritten)",
                out.display()
            )
        })?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    crate::say!(
        "wrote a draft manifest to {}: complete its TODOs, then `scxpack pack {}`",
        out.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// How the manifest names the object: its file name when written beside
/// it (or printed), else its absolute path.
fn object_reference(object: &Path, output: Option<&Path>) -> String {
    let file = object
        .file_name()
        .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    let dir = |p: &Path| {
        p.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .canonicalize()
            .ok()
    };
    match output {
        Some(out) if dir(out) != dir(object) => object
            .canonicalize()
            .map_or(file, |p| p.display().to_string()),
        _ => file,
    }
}
