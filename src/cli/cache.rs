//! `scxpack cache dir|prune`: the per-user BTF cache `check` and `probe` use.

use std::process::ExitCode;

use crate::kernel::source::{BtfCache, cache_choice};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Print the cache directory (or why there is none).
    Dir,
    /// Remove cached kernel BTF, least recently used first.
    Prune {
        /// Keep up to this many MiB of the most recently used entries (default: remove all).
        #[arg(long, value_name = "MIB", default_value_t = 0)]
        keep_mib: u64,
    },
}

/// `--no-cache` of the commands that read kernels.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CacheArg {
    /// Read kernels without the BTF cache (as SCXPACK_NO_CACHE=1 does).
    #[arg(long)]
    no_cache: bool,
}

impl CacheArg {
    /// The cache directory to use, if any; with `verbose`, says on stderr
    /// why there is none.
    pub(crate) fn dir(&self, verbose: bool) -> Option<std::path::PathBuf> {
        let choice = if self.no_cache {
            Err("--no-cache".to_string())
        } else {
            cache_choice()
        };
        match choice {
            Ok(dir) => Some(dir),
            Err(why) => {
                if verbose {
                    crate::say!(
                        "scxpack: note: no BTF cache ({why}): every kernel is decompressed"
                    );
                }
                None
            }
        }
    }
}

pub(crate) fn run(cmd: &Command) -> anyhow::Result<ExitCode> {
    let dir = match cache_choice() {
        Ok(dir) => dir,
        Err(why) => {
            println!("no BTF cache: {why}");
            return Ok(ExitCode::SUCCESS);
        }
    };
    match cmd {
        Command::Dir => println!("{}", dir.display()),
        Command::Prune { keep_mib } => {
            let p = BtfCache::new(dir.clone()).prune(keep_mib.saturating_mul(1 << 20))?;
            println!(
                "{}: removed {} entries ({} bytes), kept {} ({} bytes)",
                dir.display(),
                p.removed,
                p.removed_bytes,
                p.kept,
                p.kept_bytes
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
