//! The result of matching: a [`Verdict`], the [`Shim`]s the loader applies,
//! and the [`Reason`]s a load would be refused, each with a sentence that
//! says what happened and what to do.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Loads as is, loads once shimmed, or is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Loads,
    LoadsWithShims,
    Refused,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Loads => "loads",
            Verdict::LoadsWithShims => "loads with shims",
            Verdict::Refused => "refused",
        })
    }
}

/// A change the loader makes between open and load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shim {
    /// An optional callback the kernel lacks is set to NULL.
    NullCallback { map: String, member: String },
    /// Optional `ops.flags` bits the kernel does not know are cleared.
    MaskFlags {
        map: String,
        bits: u64,
        names: Vec<String>,
        flags_after: u64,
    },
    /// An `__SCX_*` `.rodata` slot gets the kernel's enumerator value (0 when absent).
    FillEnumSlot {
        slot: String,
        enumerator: String,
        value: u64,
        present: bool,
    },
    /// A `CONFIG_*` `__kconfig` extern is supplied: the kernel's value, or
    /// for a weak extern the config lacks, the zero of its type (`absent`).
    SupplyKconfig {
        name: String,
        value: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        absent: bool,
    },
}

impl fmt::Display for Shim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shim::NullCallback { map, member } => {
                write!(
                    f,
                    "{map}.{member} set to NULL (optional; the kernel lacks it)"
                )
            }
            Shim::MaskFlags {
                map,
                bits,
                names,
                flags_after,
            } => write!(
                f,
                "{map}.flags: optional bits {bits:#x} ({}) cleared, flags now {flags_after:#x}",
                names.join(", ")
            ),
            Shim::FillEnumSlot {
                slot,
                enumerator,
                value,
                present,
            } => {
                if *present {
                    write!(f, "{slot} = {value:#x} ({enumerator})")
                } else {
                    write!(f, "{slot} = 0 ({enumerator} absent from this kernel)")
                }
            }
            Shim::SupplyKconfig {
                name,
                value,
                absent,
            } => {
                write!(f, "kconfig {name}={value}")?;
                if *absent {
                    f.write_str(" (absent, weak)")?;
                }
                Ok(())
            }
        }
    }
}

/// Why a load would be refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    NoSchedExt,
    SchedExtTooOld,
    KfuncMissing {
        name: String,
        object_proto: String,
        programs: Vec<String>,
    },
    KfuncIncompatible {
        name: String,
        object_proto: String,
        kernel_proto: String,
    },
    WeakKfuncCalledUnguarded {
        name: String,
        programs: Vec<String>,
    },
    BtfDefect {
        kfunc: String,
        kernel_proto: String,
    },
    MemberMissing {
        map: String,
        member: String,
        optional_allowed: bool,
    },
    UnknownFlags {
        map: String,
        bits: u64,
        flags: u64,
    },
    CoreUnresolved {
        program: Option<String>,
        relocation: String,
        root_type: String,
        path: String,
    },
    MapTypeMissing {
        map: String,
        map_type: u32,
    },
    ProgTypeMissing {
        program: String,
        prog_type: String,
    },
    HelperMissing {
        id: u32,
    },
    KconfigMissing {
        name: String,
        config_known: bool,
    },
    /// A map with `max_entries` 0 of a type the kernel will not create
    /// unsized (libbpf: "map 'M': failed to create: -EINVAL").
    MapUnsized {
        map: String,
        map_type: u32,
    },
    /// A map whose size field breaks the kernel's rule for its type.
    MapShape {
        map: String,
        field: String,
        value: u32,
        need: String,
    },
    /// The object calls `bpf_timer_*` helpers and the kernel is PREEMPT_RT.
    BpfTimerOnRt {
        maps: Vec<String>,
    },
    /// The code uses `SCX_KICK_WAIT` and the kernel busy-waits for it in
    /// hard IRQ ([`crate::kernel::KernelFacts::kick_wait_in_irq`]): it
    /// loads, but CPUs kick-waiting for each other hang the machine.
    KickWaitInIrq,
    /// Arena maps or `__arena` globals, but no address-space casts in the code.
    /// ... or built by a clang older than 19 (`compiler`, from its DWARF).
    ArenaWithoutCasts {
        maps: Vec<String>,
        globals: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        compiler: Option<String>,
    },
    /// A struct_ops map of a type the kernel's BTF lacks.
    StructOpsTypeMissing {
        map: String,
        kernel_type: String,
    },
    /// The object reads one architecture's registers or syscall entry
    /// points, and the kernel is of another architecture.
    WrongArchitecture {
        object_arch: crate::kernel::Arch,
        kernel_arch: crate::kernel::Arch,
        evidence: Vec<String>,
    },
    /// A struct_ops map (not `sched_ext_ops`) sets a member the kernel's type lacks.
    StructOpsMemberMissing {
        map: String,
        kernel_type: String,
        member: String,
    },
}

/// Why [`Reason::KickWaitInIrq`] refuses.
const KICK_WAIT_IN_IRQ: &str = "uses SCX_KICK_WAIT, which this kernel busy-waits for in hard \
     IRQ (its struct scx_rq has no kick_sync; 6.19 moved the wait out of IRQ context): two \
     CPUs kick-waiting for each other hang the machine (a forced scx_pair froze a 6.12 guest): use a \
     6.19 or newer kernel, or a variant without SCX_KICK_WAIT";

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::MapUnsized { map, map_type } => write!(
                f,
                "map {map} (type {map_type}) has max_entries 0, which the kernel refuses to create \
                 (EINVAL): size the map in the manifest's setup (max_entries) or by the loader"
            ),
            Reason::MapShape { map, field, value, need } => write!(
                f,
                "map {map}: {field} {value} is refused by the kernel (EINVAL); it must be {need}: \
                 fix the map definition"
            ),
            Reason::BpfTimerOnRt { maps } => write!(
                f,
                "bpf_timer cannot be used on PREEMPT_RT kernels (the verifier refuses the \
                 bpf_timer_* calls; timer maps: {}): use a non-RT kernel or a variant without timers",
                list(maps)
            ),
            Reason::KickWaitInIrq => f.write_str(KICK_WAIT_IN_IRQ),
            Reason::ArenaWithoutCasts { maps, globals, compiler } => {
                let none = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
                write!(f, "uses BPF arenas (maps: {}; __arena globals: {}) but ", none(maps), none(globals))?;
                match compiler {
                    Some(c) => write!(f, "was built by {c}, which emits no address-space casts")?,
                    None => f.write_str("has no address-space cast instructions")?,
                }
                f.write_str(", so the verifier refuses its arena accesses: rebuild with clang >= 19")
            }
            Reason::StructOpsTypeMissing { map, kernel_type } => write!(
                f,
                "struct_ops map {map} is of type struct {kernel_type}, which this kernel's BTF \
                 lacks: it needs a kernel with struct {kernel_type}"
            ),
            Reason::StructOpsMemberMissing { map, kernel_type, member } => write!(
                f,
                "{map} sets {kernel_type}.{member}, which this kernel lacks: it needs a kernel \
                 whose struct {kernel_type} has {member}"
            ),
            Reason::WrongArchitecture { object_arch, kernel_arch, evidence } => {
                f.write_str(&wrong_architecture(*object_arch, *kernel_arch, evidence))
            }
            Reason::NoSchedExt => f.write_str(
                "kernel without sched_ext (no struct sched_ext_ops): it needs CONFIG_SCHED_CLASS_EXT=y",
            ),
            Reason::SchedExtTooOld => {
                f.write_str("sched_ext_ops has no `dump` member: sched_ext older than 6.12 is not supported")
            }
            Reason::KfuncMissing { name, object_proto, programs } => write!(
                f,
                "kfunc {name} is missing (object calls `{object_proto}` strongly from {})",
                list(programs)
            ),
            Reason::KfuncIncompatible { name, object_proto, kernel_proto } => write!(
                f,
                "kfunc {name}: object declares `{object_proto}`, kernel has `{kernel_proto}` (func_proto incompatible)"
            ),
            Reason::WeakKfuncCalledUnguarded { name, programs } => write!(
                f,
                "weak kfunc {name} is missing and called without a bpf_ksym_exists() test in {}",
                list(programs)
            ),
            Reason::BtfDefect { kfunc, kernel_proto } => write!(
                f,
                "kernel BTF defect: kfunc {kfunc} still carries the implicit aux argument (`{kernel_proto}`); \
                 the kernel was built with pahole < 1.26"
            ),
            Reason::MemberMissing { map, member, optional_allowed } => {
                write!(f, "{map} sets sched_ext_ops.{member}, which this kernel lacks")?;
                if *optional_allowed {
                    write!(f, " (mark it optional in the variant manifest to drop it here)")?;
                }
                Ok(())
            }
            Reason::UnknownFlags { map, bits, flags } => write!(
                f,
                "{map}.flags {flags:#x} has bits {bits:#x} this kernel does not know (it rejects them with EINVAL)"
            ),
            Reason::CoreUnresolved { program, relocation, root_type, path } => write!(
                f,
                "CO-RE {relocation} of {path} ({root_type}) cannot resolve and is not guarded, in {}",
                program.as_deref().unwrap_or("?")
            ),
            Reason::MapTypeMissing { map, map_type } => {
                write!(f, "map {map} has type {map_type}, which this kernel does not know")
            }
            Reason::ProgTypeMissing { program, prog_type } => {
                write!(f, "program {program} needs {prog_type}, which this kernel does not know")
            }
            Reason::HelperMissing { id } => write!(f, "BPF helper #{id} does not exist in this kernel"),
            Reason::KconfigMissing { name, config_known } => {
                if *config_known {
                    write!(f, "strong __kconfig extern {name} is not set in the kernel config")
                } else {
                    write!(
                        f,
                        "strong __kconfig extern {name} needs the kernel config, which is unavailable \
                         (give /boot/config-RELEASE or a `config` file beside the image)"
                    )
                }
            }
        }
    }
}

/// The sentence for [`Reason::WrongArchitecture`].
fn wrong_architecture(
    object_arch: crate::kernel::Arch,
    kernel_arch: crate::kernel::Arch,
    evidence: &[String],
) -> String {
    format!(
        "the object is built for {object_arch} only ({}) and this kernel is {kernel_arch}: \
         rebuild it architecture-neutral (no struct pt_regs access, no arch-prefixed \
         syscall attach points) or ship a variant for {kernel_arch}",
        list(evidence)
    )
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "?".to_string()
    } else {
        items.join(", ")
    }
}

/// Something an object needs to keep running once loaded, which a load
/// alone does not give it: "loads" is not "runs". Never changes a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Dependency {
    /// Its programs pop from queue/stack maps or drain user ring buffers that
    /// only user space fills (scx_userland's `dispatched`): it runs only
    /// while its own user-space half feeds them.
    UserHalf { maps: Vec<String> },
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dependency::UserHalf { maps } => write!(
                f,
                "loads, but runs only with its user-space half: its programs consume maps that \
                 only user space fills ({}); without that half the kernel disables it soon after \
                 attach",
                list(maps)
            ),
        }
    }
}

/// Everything matching found about one object on one kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    pub shims: Vec<Shim>,
    pub reasons: Vec<Reason>,
    /// Observations that change nothing (optional kfuncs absent, checks skipped).
    pub notes: Vec<String>,
    /// What it needs to keep running after it loads (not part of the verdict).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends: Vec<Dependency>,
}

impl Assessment {
    pub(crate) fn shim(&mut self, s: Shim) {
        self.shims.push(s);
    }

    pub(crate) fn refuse(&mut self, r: Reason) {
        if !self.reasons.contains(&r) {
            self.reasons.push(r);
        }
    }

    pub(crate) fn note(&mut self, n: String) {
        self.notes.push(n);
    }

    #[must_use]
    pub fn verdict(&self) -> Verdict {
        if !self.reasons.is_empty() {
            Verdict::Refused
        } else if self.shims.is_empty() {
            Verdict::Loads
        } else {
            Verdict::LoadsWithShims
        }
    }

    #[must_use]
    pub fn loadable(&self) -> bool {
        self.reasons.is_empty()
    }

    /// The shims as a plan the loader applies.
    #[must_use]
    pub fn plan(&self) -> ShimPlan {
        let mut plan = ShimPlan::default();
        for s in &self.shims {
            match s {
                Shim::NullCallback { map, member } => {
                    plan.null_callbacks.push((map.clone(), member.clone()));
                }
                Shim::MaskFlags {
                    map, flags_after, ..
                } => plan.flags.push((map.clone(), *flags_after)),
                Shim::FillEnumSlot { slot, value, .. } => {
                    plan.enum_slots.push((slot.clone(), *value));
                }
                Shim::SupplyKconfig { name, value, .. } => {
                    plan.kconfig.push((name.clone(), value.clone()));
                }
            }
        }
        plan
    }
}

/// What the loader changes between open and load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShimPlan {
    /// (map, member) callbacks to set to NULL.
    pub null_callbacks: Vec<(String, String)>,
    /// (map, new flags value).
    pub flags: Vec<(String, u64)>,
    /// (`.rodata` variable, value).
    pub enum_slots: Vec<(String, u64)>,
    /// (`CONFIG_*` extern, value) lines of the config text handed to libbpf.
    pub kconfig: Vec<(String, String)>,
}

impl ShimPlan {
    /// The config text for libbpf's `kconfig` open option: every `CONFIG_*`
    /// extern the plan supplies. A strong extern the config lacks is left
    /// out, so libbpf refuses the load itself (matching refuses it first,
    /// unless forced). Handing libbpf a text, even an empty one, keeps it
    /// from looking for a config file of its own.
    #[must_use]
    pub fn kconfig_text(&self) -> String {
        let lines: Vec<String> = self
            .kconfig
            .iter()
            .filter(|(name, _)| name.starts_with("CONFIG_"))
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        lines.join("\n") + "\n"
    }
}
