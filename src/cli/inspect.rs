//! `scxpack inspect OBJ [--json]`: what a BPF object needs.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::output::print_json;
use crate::object::{ArenaUse, MapDef, Requirements, StructOpsMap};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A BPF object (.bpf.o).
    object: PathBuf,
    /// Print JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let req = Requirements::from_path(&args.object)?;
    if args.json {
        print_json(&req)?;
    } else {
        print_summary(&args.object, &req)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(path: &std::path::Path, r: &Requirements) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "object:     {} (license {})",
        path.display(),
        r.license.as_deref().unwrap_or("none")
    )?;
    for ops in &r.struct_ops {
        print_struct_ops(&mut out, ops)?;
    }
    writeln!(out, "kfuncs ({}):", r.kfuncs.len())?;
    for k in &r.kfuncs {
        let strength = if k.weak { "weak  " } else { "STRONG" };
        let alias = if k.name == k.kernel_name {
            String::new()
        } else {
            format!(" (kernel name {})", k.kernel_name)
        };
        writeln!(out, "  {strength} {}{alias}", k.proto)?;
    }
    let kconfig: Vec<String> = r
        .kconfig
        .iter()
        .map(|k| format!("{}{}", k.name, if k.weak { " (weak)" } else { "" }))
        .collect();
    writeln!(out, "kconfig ({}): {}", kconfig.len(), kconfig.join(", "))?;
    let slots: Vec<&str> = r.enum_slots().map(|v| v.name.as_str()).collect();
    writeln!(out, "enum slots ({}): {}", slots.len(), slots.join(" "))?;
    writeln!(out, "parameters:")?;
    for p in r.parameters() {
        let default = p.default.map_or_else(|| "?".to_string(), |d| d.to_string());
        writeln!(out, "  {} {} = {default}", p.type_name, p.name)?;
    }
    writeln!(out, "CO-RE relocations ({}):", r.core_relocs.len())?;
    for c in &r.core_relocs {
        let prog = c.program.as_deref().unwrap_or(&c.section);
        writeln!(out, "  {:?} {} in {prog} insn {}", c.kind, c.path, c.insn)?;
    }
    writeln!(out, "maps ({}):", r.maps.len())?;
    for m in &r.maps {
        print_map(&mut out, m)?;
    }
    print_arena(&mut out, &r.arena)?;
    match &r.arch {
        None => writeln!(out, "arch:       neutral (loads on x86_64 and arm64)")?,
        Some(used) => writeln!(
            out,
            "arch:       {} only: {}",
            used.arch,
            used.evidence.join("; ")
        )?,
    }
    if let Some(c) = &r.compiler {
        writeln!(out, "compiler:   {c}")?;
    }
    let progs: Vec<String> = r
        .programs
        .iter()
        .map(|p| format!("{} [{}]", p.name, p.section))
        .collect();
    writeln!(out, "programs ({}): {}", progs.len(), progs.join(", "))?;
    writeln!(out, "helpers: {:?}", r.helpers)
}

fn print_map(out: &mut impl Write, m: &MapDef) -> std::io::Result<()> {
    let size = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |n| n.to_string());
    let timer = if m.timer { ", holds a bpf_timer" } else { "" };
    writeln!(
        out,
        "  {} (type {}, max_entries {}, key {}, value {}{timer})",
        m.name,
        m.map_type,
        size(m.max_entries),
        size(m.key_size),
        size(m.value_size)
    )
}

fn print_arena(out: &mut impl Write, arena: &ArenaUse) -> std::io::Result<()> {
    if !arena.used() {
        return writeln!(out, "arena:      none");
    }
    let casts = if arena.casts == 0 {
        "none (built by a compiler without BPF address spaces, clang < 19: the verifier refuses arena accesses)"
            .to_string()
    } else {
        arena.casts.to_string()
    };
    writeln!(
        out,
        "arena:      maps [{}], __arena globals [{}], address-space casts: {casts}",
        arena.maps.join(", "),
        arena.globals.join(", ")
    )
}

fn print_struct_ops(out: &mut impl Write, ops: &StructOpsMap) -> std::io::Result<()> {
    let kind = if ops.link { "link" } else { "no link" };
    writeln!(
        out,
        "struct_ops: {} (struct {}, {kind})",
        ops.name, ops.type_name
    )?;
    if let Some(name) = &ops.ops_name {
        writeln!(out, "  ops name: {name}")?;
    }
    writeln!(out, "  flags:    {:#x}", ops.flags.unwrap_or(0))?;
    let cbs: Vec<String> = ops
        .callbacks
        .iter()
        .map(|(m, p)| format!("{m}={p}"))
        .collect();
    writeln!(out, "  callbacks: {}", cbs.join(" "))?;
    let data: Vec<&str> = ops
        .members_set
        .iter()
        .filter(|m| !ops.callbacks.contains_key(*m))
        .map(String::as_str)
        .collect();
    writeln!(out, "  data set: {}", data.join(" "))
}
