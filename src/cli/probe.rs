//! `scxpack probe [--kernel PATH] [--json]`: what a kernel offers.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde::Serialize;

use super::KernelArg;
use super::output::print_json;
use crate::kernel::{Arch, BtfDefect, EnumValue, Kernel, KernelFacts, OpsMember, Origin};
use crate::live::System;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    kernel: KernelArg,
    /// Print JSON instead of a summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    cache: super::cache::CacheArg,
}

/// A kfunc as `probe --json` prints it.
#[derive(Serialize)]
struct KfuncView<'a> {
    name: &'a str,
    proto: &'a str,
}

/// The JSON document `probe --json` prints.
#[derive(Serialize)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "the kernel's yes/no facts, as KernelFacts has them"
)]
struct ProbeReport<'a> {
    release: Option<&'a str>,
    origin: &'a Origin,
    sched_ext: bool,
    kfunc_tags: bool,
    kfuncs: Vec<KfuncView<'a>>,
    ops_members: Vec<&'a str>,
    ops_member_layout: &'a [OpsMember],
    enums: &'a BTreeMap<String, EnumValue>,
    map_types: &'a BTreeMap<String, u64>,
    prog_types: &'a BTreeMap<String, u64>,
    helpers: &'a BTreeMap<String, u64>,
    defects: &'a [BtfDefect],
    preempt_rt: bool,
    kick_wait_in_irq: bool,
    /// `x86_64`, `arm64`, or null when neither the image nor the BTF tells.
    arch: Option<Arch>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let kernel = match &args.kernel.kernel {
        Some(path) => Kernel::open(path, args.cache.dir(false).as_deref())?,
        None => Kernel::running(&System::default())?,
    };
    if args.json {
        print_json(&report(&kernel))?;
    } else {
        print_summary(&kernel)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn report(kernel: &Kernel) -> ProbeReport<'_> {
    let f = &kernel.facts;
    ProbeReport {
        release: f.release.as_deref(),
        origin: &kernel.origin,
        sched_ext: f.sched_ext,
        kfunc_tags: f.kfunc_tags,
        kfuncs: f
            .kfuncs
            .iter()
            .map(|k| KfuncView {
                name: &k.name,
                proto: &k.proto,
            })
            .collect(),
        ops_members: f.ops_members.iter().map(|m| m.name.as_str()).collect(),
        ops_member_layout: &f.ops_members,
        enums: &f.enums,
        map_types: &f.map_types,
        prog_types: &f.prog_types,
        helpers: &f.helpers,
        defects: &f.defects,
        preempt_rt: f.preempt_rt,
        kick_wait_in_irq: f.kick_wait_in_irq,
        arch: f.arch,
    }
}

fn print_summary(kernel: &Kernel) -> std::io::Result<()> {
    use std::io::Write;
    let f = &kernel.facts;
    let mut out = std::io::stdout().lock();
    writeln!(out, "kernel:      {}", kernel.label())?;
    match &kernel.origin {
        Origin::File { path, kind } => writeln!(out, "source:      {} ({kind})", path.display())?,
        Origin::Running { sched_ext_sysfs } => {
            let state = sched_ext_sysfs
                .as_ref()
                .and_then(|s| s.state.as_deref())
                .unwrap_or("no /sys/kernel/sched_ext");
            writeln!(
                out,
                "source:      running kernel (sched_ext state: {state})"
            )?;
        }
    }
    let arch = f.arch.map_or("unknown", Arch::name);
    writeln!(out, "arch:        {arch}")?;
    writeln!(out, "BTF types:   {}", f.btf_types)?;
    writeln!(
        out,
        "PREEMPT_RT:  {}",
        if f.preempt_rt {
            "yes (struct spinlock wraps rt_mutex_base; the verifier refuses bpf_timer)"
        } else {
            "no"
        }
    )?;
    if f.sched_ext {
        writeln!(out, "sched_ext:   yes")?;
        if f.kick_wait_in_irq {
            writeln!(
                out,
                "KICK_WAIT:   waited for in hard IRQ (struct scx_rq has no kick_sync): \
                 schedulers using SCX_KICK_WAIT can hang this kernel"
            )?;
        }
        print_sched_ext(&mut out, f)?;
    } else {
        writeln!(
            out,
            "sched_ext:   no (struct sched_ext_ops is absent: the kernel was built without CONFIG_SCHED_CLASS_EXT)"
        )?;
    }
    writeln!(
        out,
        "uapi:        {} map types, {} program types, {} helpers",
        f.map_types.len(),
        f.prog_types.len(),
        f.helpers.len()
    )?;
    print_defects(&mut out, &f.defects)
}

fn print_sched_ext(out: &mut impl std::io::Write, f: &KernelFacts) -> std::io::Result<()> {
    let callbacks: Vec<&str> = f
        .ops_members
        .iter()
        .filter(|m| m.callback)
        .map(|m| m.name.as_str())
        .collect();
    let data: Vec<&str> = f
        .ops_members
        .iter()
        .filter(|m| !m.callback)
        .map(|m| m.name.as_str())
        .collect();
    writeln!(
        out,
        "ops callbacks ({}): {}",
        callbacks.len(),
        callbacks.join(" ")
    )?;
    writeln!(out, "ops data ({}): {}", data.len(), data.join(" "))?;
    let how = if f.kfunc_tags {
        "bpf_kfunc tags"
    } else {
        "names; the BTF has no bpf_kfunc tags"
    };
    let scx: Vec<_> = f.kfuncs.iter().filter(|k| k.name.contains("scx")).collect();
    writeln!(
        out,
        "kfuncs:      {} (from {how}); sched_ext ones ({}):",
        f.kfuncs.len(),
        scx.len()
    )?;
    for k in scx {
        writeln!(out, "  {}", k.proto)?;
    }
    writeln!(out, "SCX enumerators ({}):", f.enums.len())?;
    for (name, value) in &f.enums {
        writeln!(out, "  {name} = {:#x}", value.bits())?;
    }
    Ok(())
}

fn print_defects(out: &mut impl std::io::Write, defects: &[BtfDefect]) -> std::io::Result<()> {
    if defects.is_empty() {
        return writeln!(out, "BTF defects: none");
    }
    writeln!(out, "BTF defects ({}):", defects.len())?;
    for d in defects {
        match d {
            BtfDefect::ImplicitAuxArgument { kfunc, proto } => writeln!(
                out,
                "  {kfunc}: prototype still carries the implicit aux argument ({proto}); \
                 the kernel's BTF came from pahole < 1.26, so calls to it fail with \
                 \"func_proto incompatible with vmlinux\""
            )?,
        }
    }
    Ok(())
}
