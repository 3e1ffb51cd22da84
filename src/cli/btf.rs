//! `scxpack btf extract KERNEL -o FILE`: write a kernel's raw BTF.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::btf::Btf;
use crate::kernel::source;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Extract raw BTF (as in /sys/kernel/btf/vmlinux) from a kernel image or package.
    Extract {
        /// vmlinuz, ELF vmlinux, raw BTF or kernel .deb.
        kernel: PathBuf,
        /// Where to write the BTF.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
}

pub(crate) fn run(cmd: &Command) -> anyhow::Result<ExitCode> {
    let Command::Extract { kernel, output } = cmd;
    let image = source::read_kernel_file(kernel)?;
    Btf::parse(&image.btf)
        .with_context(|| format!("{}: kernel BTF is corrupt", kernel.display()))?;
    write_atomically(output, &image.btf)?;
    crate::say!(
        "wrote {} bytes of BTF from {} ({}) to {}",
        image.btf.len(),
        kernel.display(),
        image.kind,
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes through a temporary file in the same directory, then renames.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}
