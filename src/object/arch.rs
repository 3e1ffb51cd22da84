//! Whether an object is tied to one CPU architecture. The objects are built
//! once against the generic `vmlinux.h` and must load on x86_64 and arm64
//! alike; what breaks that, and what this module finds, is code that reads
//! an architecture's register layout (CO-RE relocations against `struct
//! pt_regs`, `struct user_pt_regs` or `struct user_regs_struct`, which is
//! what libbpf's `PT_REGS_*`/`BPF_KPROBE` macros compile to under a
//! `__TARGET_ARCH_*` define) or attaches to an architecture's syscall entry
//! points (`__x64_sys_*`, `__ia32_sys_*`, `__arm64_sys_*`). The layout of the
//! object's own `struct pt_regs` tells whose registers it reads.

use serde::{Deserialize, Serialize};

use super::{CoreRequirement, Program};
use crate::btf::{Btf, Kind};
use crate::kernel::Arch;
use crate::kernel::arch::pt_regs_layout;

/// An object that only one architecture can load, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchUse {
    pub arch: Arch,
    /// What ties it, e.g. `CO-RE field_byte_offset of pt_regs.di in enter`.
    pub evidence: Vec<String>,
}

/// Syscall entry-point prefixes, and the architecture whose they are.
const SYSCALL_PREFIXES: [(&str, Arch); 3] = [
    ("__x64_sys_", Arch::X86_64),
    ("__ia32_sys_", Arch::X86_64),
    ("__arm64_sys_", Arch::Arm64),
];

/// The architecture-specific things `btf`'s object does, first architecture
/// found first; `None` for an architecture-neutral object.
pub(crate) fn arch_use(
    btf: &Btf<'_>,
    core_relocs: &[CoreRequirement],
    programs: &[Program],
) -> Option<ArchUse> {
    let mut found: Vec<(Arch, String)> = core_relocs
        .iter()
        .filter_map(|c| register_arch(btf, &c.root_type).map(|arch| (arch, core_evidence(c))))
        .collect();
    found.extend(programs.iter().filter_map(|p| {
        let target = p.section.rsplit('/').next()?;
        let (prefix, arch) = SYSCALL_PREFIXES
            .iter()
            .find(|(prefix, _)| target.starts_with(prefix))?;
        Some((
            *arch,
            format!("program {} attaches to {prefix}* ({})", p.name, p.section),
        ))
    }));
    let arch = found.first()?.0;
    let evidence = found
        .into_iter()
        .filter(|(a, _)| *a == arch)
        .map(|(_, e)| e)
        .collect();
    Some(ArchUse { arch, evidence })
}

fn core_evidence(c: &CoreRequirement) -> String {
    format!(
        "CO-RE {:?} of {} in {}",
        c.kind,
        c.path,
        c.program.as_deref().unwrap_or("?")
    )
}

/// The architecture whose registers the root type `root` (as C, e.g.
/// `struct pt_regs`) describes, judged from the object's own definition.
fn register_arch(btf: &Btf<'_>, root: &str) -> Option<Arch> {
    match root.strip_prefix("struct ")? {
        "user_pt_regs" => Some(Arch::Arm64),
        "user_regs_struct" => Some(Arch::X86_64),
        "pt_regs" => btf
            .types()
            .find(|t| t.kind == Kind::Struct && btf.name(t) == "pt_regs")
            .and_then(|t| pt_regs_layout(btf, &t)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::CoreReloKind;
    use crate::btf::tests::BtfBuilder;

    /// BTF with a `struct pt_regs` whose first member is `first`.
    fn pt_regs_btf(first: &str) -> Vec<u8> {
        let mut b = BtfBuilder::new();
        b.int("long unsigned int", 8, false);
        let member = b.str(first);
        b.raw("pt_regs", 4, 1, false, 8, &[member, 1, 0]);
        b.build()
    }

    fn relo(root: &str, path: &str) -> CoreRequirement {
        CoreRequirement {
            kind: CoreReloKind::FieldByteOffset,
            program: Some("probe".into()),
            section: "kprobe/x".into(),
            insn: 0,
            root_type: root.into(),
            access: "0:0".into(),
            path: path.into(),
            fields: vec![path.into()],
        }
    }

    fn program(section: &str) -> Program {
        Program {
            name: "probe".into(),
            section: section.into(),
            prog_type: Some("BPF_PROG_TYPE_KPROBE".into()),
            insn: 0,
            insns: 1,
        }
    }

    #[test]
    fn register_reads_and_syscall_attach_points_tie_an_object_to_an_arch() {
        let x86 = pt_regs_btf("r15");
        let x86 = Btf::parse(&x86).unwrap();
        let arm = pt_regs_btf("orig_x0");
        let arm = Btf::parse(&arm).unwrap();
        let regs = [relo("struct pt_regs", "pt_regs.r15")];
        let used = arch_use(&x86, &regs, &[]).unwrap();
        assert_eq!(used.arch, Arch::X86_64);
        assert_eq!(
            used.evidence,
            ["CO-RE FieldByteOffset of pt_regs.r15 in probe"]
        );
        assert_eq!(arch_use(&arm, &regs, &[]).unwrap().arch, Arch::Arm64);
        let uapi = [relo("struct user_pt_regs", "user_pt_regs.pc")];
        assert_eq!(arch_use(&x86, &uapi, &[]).unwrap().arch, Arch::Arm64);
        let attach = [program("kprobe/__arm64_sys_getpid")];
        let used = arch_use(&x86, &[], &attach).unwrap();
        assert_eq!(used.arch, Arch::Arm64);
        assert!(used.evidence[0].contains("__arm64_sys_*"), "{used:?}");
        // Neutral: task_struct relocations, struct_ops programs, plain kprobes.
        let neutral = [relo("struct task_struct", "task_struct.pid")];
        let progs = [program("struct_ops/enqueue"), program("kprobe/do_exit")];
        assert_eq!(arch_use(&x86, &neutral, &progs), None);
    }
}
