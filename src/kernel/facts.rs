//! [`KernelFacts`]: what one kernel offers a `sched_ext` scheduler, read from its BTF.
//!
//! Everything here is derived from a parsed [`Btf`] in one pass over its types:
//! whether `struct sched_ext_ops` exists and its members, the kfuncs (FUNCs
//! tagged `bpf_kfunc`; FUNCs with kfunc-like names when the BTF carries no
//! such tags, as with pahole < 1.25), the values of every `SCX_*` enumerator, the kernel's map
//! types, program types and helper ids, whether the kernel is PREEMPT_RT, and
//! BTF defects known to break loading.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::arch::{Arch, ArchMarkers, pt_regs_layout};
use crate::btf::{Btf, Kind, Shape, Type, TypeFormatter};

/// The `struct_ops` type `sched_ext` schedulers implement.
pub const SCHED_EXT_OPS: &str = "sched_ext_ops";
const KFUNC_TAG: &str = "bpf_kfunc";
/// `spinlock_t`'s struct: on PREEMPT_RT it is `{ struct rt_mutex_base lock; ... }`.
const SPINLOCK: &str = "spinlock";
/// sched_ext's per-CPU run-queue state.
const SCX_RQ: &str = "scx_rq";
/// The `struct scx_rq` member of kernels that wait for `SCX_KICK_WAIT` in a
/// balance callback with IRQs on (6.19 on), not in hard IRQ.
const KICK_SYNC: &str = "kick_sync";
/// The sleeping lock inside an RT `struct spinlock`.
const RT_MUTEX_BASE: &str = "rt_mutex_base";
/// FUNCs with these prefixes are sched_ext kfuncs even when pahole did not tag
/// them: Debian's 6.16 BTF, for one, tags `scx_bpf_consume` but not the
/// equally registered `scx_bpf_dispatch`. libbpf resolves kfunc externs by
/// FUNC name, not by tag, so these are always kfunc candidates.
pub const SCHED_EXT_KFUNC_PREFIXES: [&str; 3] = ["scx_bpf_", "__scx_bpf_", "bpf_iter_scx_"];
/// Without any `bpf_kfunc` tags (pahole < 1.25), FUNCs with these prefixes are
/// taken as kfunc candidates: the sched_ext families plus the generic `bpf_*`
/// kfuncs. The verifier still decides whether a candidate is registered.
pub const UNTAGGED_KFUNC_PREFIXES: [&str; 3] = ["scx_bpf_", "__scx_bpf_", "bpf_"];

/// The first byte of every kfunc prefix above (checked at compile time).
const KFUNC_FIRST_BYTES: [&str; 3] = ["s", "_", "b"];
const _: () = assert!(
    starts_with_one_of(&SCHED_EXT_KFUNC_PREFIXES, &KFUNC_FIRST_BYTES)
        && starts_with_one_of(&UNTAGGED_KFUNC_PREFIXES, &KFUNC_FIRST_BYTES)
);

/// Whether every one of `prefixes` starts with the byte of one of `firsts`.
#[allow(
    dead_code,
    reason = "used only by the assertion above, which rustc 1.85 (Debian 13) does not count"
)]
const fn starts_with_one_of(prefixes: &[&str], firsts: &[&str]) -> bool {
    let mut i = 0;
    while i < prefixes.len() {
        let first = prefixes[i].as_bytes();
        let mut found = false;
        let mut j = 0;
        while j < firsts.len() {
            if !first.is_empty() && first[0] == firsts[j].as_bytes()[0] {
                found = true;
            }
            j += 1;
        }
        if !found {
            return false;
        }
        i += 1;
    }
    true
}

/// A kernel function callable from BPF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kfunc {
    pub name: String,
    /// The prototype as C, e.g. `void scx_bpf_kick_cpu(s32 cpu, u64 flags)`.
    pub proto: String,
    /// The prototype's structure, for compatibility checks.
    pub signature: Shape,
}

/// A member of `struct sched_ext_ops`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpsMember {
    pub name: String,
    /// True for callbacks (pointers to functions), false for data fields.
    pub callback: bool,
    pub offset_bytes: u32,
    pub size_bytes: u32,
}

/// An enumerator value, signed or unsigned as the kernel declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnumValue {
    Unsigned(u64),
    Signed(i64),
}

impl EnumValue {
    /// The value as the 64 bits a `.rodata` slot holds.
    #[must_use]
    pub fn bits(self) -> u64 {
        match self {
            EnumValue::Unsigned(v) => v,
            EnumValue::Signed(v) => v as u64,
        }
    }
}

/// A defect of the BTF itself that breaks loading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BtfDefect {
    /// The kfunc's prototype still carries the implicit `aux` argument that the
    /// verifier supplies (BTF from pahole < 1.26 on kernels with implicit args);
    /// libbpf then reports "`func_proto` incompatible with vmlinux".
    ImplicitAuxArgument { kfunc: String, proto: String },
}

/// What one kernel offers, as far as loading `sched_ext` schedulers goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent yes/no facts read from BTF, each tested on its own by the matcher"
)]
pub struct KernelFacts {
    /// `uname -r` style release, when the source carries one.
    pub release: Option<String>,
    /// Whether `struct sched_ext_ops` exists (the kernel has `CONFIG_SCHED_CLASS_EXT`).
    pub sched_ext: bool,
    /// Whether the BTF carries `bpf_kfunc` decl tags. Kfuncs are the tagged
    /// FUNCs plus those named like sched_ext kfuncs; without tags, every FUNC
    /// named like a kfunc ([`UNTAGGED_KFUNC_PREFIXES`]).
    pub kfunc_tags: bool,
    /// Kfuncs sorted by name.
    pub kfuncs: Vec<Kfunc>,
    /// Members of `struct sched_ext_ops` in declaration order.
    pub ops_members: Vec<OpsMember>,
    /// Every `SCX_*` enumerator.
    pub enums: BTreeMap<String, EnumValue>,
    /// The `ops.flags` bits the kernel accepts: `enum scx_ops_flags` without
    /// its `SCX_OPS_ALL_FLAGS` summary.
    pub ops_flags: BTreeMap<String, u64>,
    /// `BPF_MAP_TYPE_*` → value, from the kernel's `enum bpf_map_type`.
    pub map_types: BTreeMap<String, u64>,
    /// `BPF_PROG_TYPE_*` → value, from `enum bpf_prog_type`.
    pub prog_types: BTreeMap<String, u64>,
    /// `BPF_FUNC_*` → helper id, from `enum bpf_func_id`.
    pub helpers: BTreeMap<String, u64>,
    pub defects: Vec<BtfDefect>,
    /// Whether the kernel is built with `CONFIG_PREEMPT_RT`: its `struct
    /// spinlock` wraps a `struct rt_mutex_base` (a sleeping lock) instead of
    /// a `struct raw_spinlock`. The verifier refuses `bpf_timer` there.
    #[serde(default)]
    pub preempt_rt: bool,
    /// Whether `scx_bpf_kick_cpu(cpu, SCX_KICK_WAIT)` busy-waits in hard IRQ
    /// for the kicked CPU to reschedule: sched_ext kernels whose `struct
    /// scx_rq` has no `kick_sync` (before 6.19). Two CPUs kick-waiting for
    /// each other then spin with IRQs off and the machine hangs; 6.19 moved
    /// the wait to a balance callback (`kick_sync_wait_bal_cb`).
    #[serde(default)]
    pub kick_wait_in_irq: bool,
    /// Number of BTF types read.
    pub btf_types: u32,
    /// The architecture, from the BTF (cross-checked with the image format
    /// when the kernel came from an image); `None` when neither tells.
    #[serde(default)]
    pub arch: Option<Arch>,
}

impl KernelFacts {
    /// Derives the facts from a kernel's BTF.
    #[must_use]
    pub fn from_btf(btf: &Btf<'_>, release: Option<String>) -> Self {
        let scan = Scan::run(btf);
        let fmt = TypeFormatter::new(btf);
        let kfuncs = scan.kfuncs(btf, fmt);
        let defects = implicit_aux_defects(btf, &scan, &kfuncs);
        let ops_members = scan
            .sched_ext_ops
            .map(|ops| ops_members(btf, &ops))
            .unwrap_or_default();
        KernelFacts {
            release,
            sched_ext: scan.sched_ext_ops.is_some(),
            kfunc_tags: !scan.tagged.is_empty(),
            kfuncs,
            ops_members,
            enums: scan.scx_enums,
            ops_flags: enum_by_name(btf, scan.uapi.ops_flags)
                .into_iter()
                .filter(|(name, _)| name != "SCX_OPS_ALL_FLAGS")
                .collect(),
            map_types: enum_by_name(btf, scan.uapi.map_type),
            prog_types: enum_by_name(btf, scan.uapi.prog_type),
            helpers: enum_by_name(btf, scan.uapi.func_id),
            defects,
            preempt_rt: scan.spinlock.is_some_and(|t| is_rt_spinlock(btf, &t)),
            kick_wait_in_irq: scan
                .scx_rq
                .is_some_and(|t| !t.members().any(|m| btf.str_is(m.name_off, KICK_SYNC))),
            btf_types: btf.len(),
            arch: scan.arch.arch(),
        }
    }

    /// The kfunc named `name` (exact kernel name, flavors already stripped).
    #[must_use]
    pub fn kfunc(&self, name: &str) -> Option<&Kfunc> {
        self.kfuncs
            .binary_search_by(|k| k.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.kfuncs[i])
    }

    /// The `sched_ext_ops` member named `name`.
    #[must_use]
    pub fn ops_member(&self, name: &str) -> Option<&OpsMember> {
        self.ops_members.iter().find(|m| m.name == name)
    }

    /// The value of enumerator `name` (e.g. `SCX_ENQ_HEAD`).
    #[must_use]
    pub fn enum_value(&self, name: &str) -> Option<EnumValue> {
        self.enums.get(name).copied()
    }
}

/// Type ids of the enums the facts list by name.
#[derive(Default)]
struct UapiEnums {
    map_type: Option<u32>,
    prog_type: Option<u32>,
    func_id: Option<u32>,
    ops_flags: Option<u32>,
}

/// What one pass over the types collects.
#[derive(Default)]
struct Scan<'a> {
    sched_ext_ops: Option<Type<'a>>,
    /// FUNC ids tagged `bpf_kfunc`.
    tagged: Vec<u32>,
    /// FUNC ids named like sched_ext kfuncs ([`SCHED_EXT_KFUNC_PREFIXES`]).
    sched_ext_named: Vec<u32>,
    /// Other FUNC ids named like kfuncs (used when the BTF has no tags).
    other_named: Vec<u32>,
    scx_enums: BTreeMap<String, EnumValue>,
    uapi: UapiEnums,
    /// `struct spinlock`, whose layout tells a PREEMPT_RT kernel apart.
    spinlock: Option<Type<'a>>,
    /// `struct scx_rq`, whose members tell how `SCX_KICK_WAIT` waits.
    scx_rq: Option<Type<'a>>,
    /// What tells the architecture apart.
    arch: ArchMarkers,
}

impl<'a> Scan<'a> {
    fn run(btf: &Btf<'a>) -> Self {
        let mut scan = Scan::default();
        for ty in btf.types() {
            match ty.kind {
                Kind::Func => scan.func(btf, &ty),
                Kind::DeclTag => scan.decl_tag(btf, &ty),
                Kind::Struct if btf.str_is(ty.name_off, SCHED_EXT_OPS) => {
                    scan.sched_ext_ops.get_or_insert(ty);
                }
                Kind::Struct if btf.str_is(ty.name_off, SPINLOCK) => {
                    scan.spinlock.get_or_insert(ty);
                }
                Kind::Struct if btf.str_is(ty.name_off, SCX_RQ) => {
                    scan.scx_rq.get_or_insert(ty);
                }
                Kind::Struct if btf.str_is(ty.name_off, "user_pt_regs") => {
                    scan.arch.user_pt_regs = true;
                }
                Kind::Struct if btf.str_is(ty.name_off, "pt_regs") => {
                    scan.arch.x86_pt_regs |= pt_regs_layout(btf, &ty) == Some(Arch::X86_64);
                }
                Kind::Enum | Kind::Enum64 => scan.enumeration(btf, &ty),
                _ => {}
            }
        }
        scan
    }

    fn func(&mut self, btf: &Btf<'a>, ty: &Type<'a>) {
        // Most of the kernel's FUNCs are turned away on their first byte.
        if !KFUNC_FIRST_BYTES
            .iter()
            .any(|c| btf.str_starts_with(ty.name_off, c))
        {
            return;
        }
        let has = |prefixes: &[&str]| prefixes.iter().any(|p| btf.str_starts_with(ty.name_off, p));
        if has(&SCHED_EXT_KFUNC_PREFIXES) {
            self.sched_ext_named.push(ty.id);
        } else if has(&UNTAGGED_KFUNC_PREFIXES) {
            self.other_named.push(ty.id);
        }
    }

    fn decl_tag(&mut self, btf: &Btf<'a>, ty: &Type<'a>) {
        let whole_decl = ty.extra_word() == Some(u32::MAX);
        if whole_decl && btf.str_is(ty.name_off, KFUNC_TAG) {
            self.tagged.push(ty.size_or_type);
        }
    }

    fn enumeration(&mut self, btf: &Btf<'a>, ty: &Type<'a>) {
        if btf.str_is(ty.name_off, "scx_ops_flags") {
            self.uapi.ops_flags.get_or_insert(ty.id);
        }
        if !btf.str_starts_with(ty.name_off, "bpf_") {
            self.scx_enumerators(btf, ty);
            return;
        }
        let slot = match btf.name(ty) {
            "bpf_map_type" => &mut self.uapi.map_type,
            "bpf_prog_type" => &mut self.uapi.prog_type,
            "bpf_func_id" => &mut self.uapi.func_id,
            _ => {
                self.scx_enumerators(btf, ty);
                return;
            }
        };
        slot.get_or_insert(ty.id);
    }

    fn scx_enumerators(&mut self, btf: &Btf<'a>, ty: &Type<'a>) {
        for e in ty.enumerators() {
            if btf.str_starts_with(e.name_off, "SCX_") {
                let name = btf.str_at(e.name_off);
                let value = if ty.is_signed_enum() {
                    EnumValue::Signed(e.bits as i64)
                } else {
                    EnumValue::Unsigned(e.bits)
                };
                self.scx_enums.entry(name.to_string()).or_insert(value);
            }
        }
    }

    /// Kfuncs sorted by name: tagged FUNCs and sched_ext-named FUNCs, plus
    /// every kfunc-like name when the BTF has no tags at all.
    fn kfuncs(&self, btf: &Btf<'a>, fmt: TypeFormatter<'_, 'a>) -> Vec<Kfunc> {
        let others: &[u32] = if self.tagged.is_empty() {
            &self.other_named
        } else {
            &[]
        };
        let ids = self
            .tagged
            .iter()
            .chain(&self.sched_ext_named)
            .chain(others);
        let mut by_name: BTreeMap<&str, u32> = BTreeMap::new();
        for &id in ids {
            if let Some(func) = btf.get(id).filter(|t| t.kind == Kind::Func) {
                by_name.entry(btf.name(&func)).or_insert(func.size_or_type);
            }
        }
        by_name
            .into_iter()
            .map(|(name, proto)| Kfunc {
                name: name.to_string(),
                proto: fmt.prototype(name, proto),
                signature: fmt.shape(proto),
            })
            .collect()
    }
}

fn ops_members(btf: &Btf<'_>, ops: &Type<'_>) -> Vec<OpsMember> {
    ops.members()
        .map(|m| {
            let target = btf.resolve(m.type_id).ok();
            let callback = target.is_some_and(|t| {
                t.kind == Kind::Ptr
                    && btf
                        .resolve(t.size_or_type)
                        .is_ok_and(|p| p.kind == Kind::FuncProto)
            });
            OpsMember {
                name: btf.str_at(m.name_off).to_string(),
                callback,
                offset_bytes: m.bit_offset / 8,
                size_bytes: btf.size_of(m.type_id).unwrap_or(0),
            }
        })
        .collect()
}

/// Whether `struct spinlock` has a member of type `struct rt_mutex_base`
/// (`include/linux/spinlock_types.h`, the `CONFIG_PREEMPT_RT` branch).
fn is_rt_spinlock(btf: &Btf<'_>, spinlock: &Type<'_>) -> bool {
    spinlock.members().any(|m| {
        btf.resolve(m.type_id)
            .is_ok_and(|t| t.kind == Kind::Struct && btf.name(&t) == RT_MUTEX_BASE)
    })
}

fn enum_by_name(btf: &Btf<'_>, id: Option<u32>) -> BTreeMap<String, u64> {
    let Some(ty) = id.and_then(|id| btf.get(id)) else {
        return BTreeMap::new();
    };
    ty.enumerators()
        .map(|e| (btf.str_at(e.name_off).to_string(), e.bits))
        .filter(|(name, _)| !name.starts_with("__"))
        .collect()
}

/// Kfuncs whose prototype still lists the verifier-supplied `aux` argument.
///
/// On kernels with implicit kfunc arguments, a correct BTF shows the public
/// prototype without `struct bpf_prog_aux *aux` and a separate `NAME_impl`
/// FUNC with it; BTF from an older pahole shows the full prototype under NAME
/// (Debian's 7.1.13 does, for `scx_bpf_kick_cpu` and others, tagged or not).
/// Only tagged and sched_ext-named kfuncs are candidates: many internal
/// `bpf_*` functions legitimately take `aux`.
fn implicit_aux_defects(btf: &Btf<'_>, scan: &Scan<'_>, kfuncs: &[Kfunc]) -> Vec<BtfDefect> {
    let mut out: Vec<BtfDefect> = Vec::new();
    for &id in scan.tagged.iter().chain(&scan.sched_ext_named) {
        let Some(func) = btf.get(id) else { continue };
        let name = btf.name(&func);
        if name.ends_with("_impl") || !has_aux_param(btf, func.size_or_type) {
            continue;
        }
        let known = out
            .iter()
            .any(|d| matches!(d, BtfDefect::ImplicitAuxArgument { kfunc, .. } if kfunc == name));
        if let (false, Some(k)) = (known, kfuncs.iter().find(|k| k.name == name)) {
            out.push(BtfDefect::ImplicitAuxArgument {
                kfunc: name.to_string(),
                proto: k.proto.clone(),
            });
        }
    }
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    out
}

fn has_aux_param(btf: &Btf<'_>, proto: u32) -> bool {
    let Some(proto) = btf.get(proto) else {
        return false;
    };
    proto.params().any(|p| {
        btf.str_at(p.name_off) == "aux"
            && btf.resolve(p.type_id).is_ok_and(|t| {
                t.kind == Kind::Ptr
                    && btf
                        .resolve(t.size_or_type)
                        .is_ok_and(|s| btf.name(&s) == "bpf_prog_aux")
            })
    })
}
