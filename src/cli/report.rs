//! `scxpack report merge SHARD.json...`: one report from the `--json`
//! outputs of `vmtest --shard I/N` runs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::vmtest::{self, VmMatrix};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Merge the --json outputs of `vmtest --shard I/N` into the report of the whole run.
    Merge(MergeArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct MergeArgs {
    /// The shards' `vmtest --json` outputs, one per shard, in any order.
    #[arg(required = true, value_name = "SHARD.json")]
    shards: Vec<PathBuf>,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

pub(crate) fn run(cmd: &Command) -> anyhow::Result<ExitCode> {
    let Command::Merge(args) = cmd;
    let shards = args
        .shards
        .iter()
        .map(|p| read_shard(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let merged = vmtest::merge(shards)?;
    super::vmtest::output(&merged, args.json, args.junit.as_deref())
}

fn read_shard(path: &std::path::Path) -> anyhow::Result<VmMatrix> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not the --json output of `scxpack vmtest`",
            path.display()
        )
    })
}
