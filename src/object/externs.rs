//! Extern symbols an object resolves against the kernel: kfuncs (`__ksym`)
//! and Kconfig values (`__kconfig`).

use serde::{Deserialize, Serialize};

use super::elf::BpfElf;
use super::programs::{Program, owner};
use crate::btf::{Btf, Kind, Shape, TypeFormatter};

/// `BTF_FUNC_EXTERN` linkage of a FUNC.
const FUNC_EXTERN: usize = 2;

/// A kfunc the object calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KfuncExtern {
    /// The name as declared, e.g. `scx_bpf_dsq_insert___v2___compat`.
    pub name: String,
    /// The kernel name libbpf looks up (last `___flavor` stripped).
    pub kernel_name: String,
    /// Declared `__weak`: a missing kfunc leaves the call dead instead of failing.
    pub weak: bool,
    /// The prototype the object declares, as C.
    pub proto: String,
    pub signature: Shape,
    /// Programs that call it.
    pub called_from: Vec<String>,
    /// Programs that test whether it exists (`bpf_ksym_exists()`, an `lddw`
    /// of its address): there, calls to absent weak kfuncs are dead code.
    #[serde(default)]
    pub tested_in: Vec<String>,
}

/// A `__kconfig` extern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KconfigExtern {
    pub name: String,
    pub weak: bool,
    pub type_name: String,
}

/// The name libbpf matches against the kernel: everything before the last
/// `___` flavor separator (three underscores between non-underscores), as
/// libbpf's `bpf_core_essential_name_len` does.
#[must_use]
pub fn essential_name(name: &str) -> &str {
    let b = name.as_bytes();
    if b.len() < 5 {
        return name;
    }
    for i in (0..=b.len() - 5).rev() {
        if b[i] != b'_' && &b[i + 1..i + 4] == b"___" && b[i + 4] != b'_' {
            return &name[..=i];
        }
    }
    name
}

fn is_weak(obj: &BpfElf<'_>, name: &str) -> bool {
    obj.symbols
        .iter()
        .any(|s| s.name == name && s.undefined && s.weak)
}

pub(crate) fn kfuncs(obj: &BpfElf<'_>, btf: &Btf<'_>, programs: &[Program]) -> Vec<KfuncExtern> {
    let fmt = TypeFormatter::new(btf);
    let mut out: Vec<KfuncExtern> = btf
        .types()
        .filter(|t| t.kind == Kind::Func && t.vlen() == FUNC_EXTERN)
        .map(|f| {
            let name = btf.name(&f);
            KfuncExtern {
                name: name.to_string(),
                kernel_name: essential_name(name).to_string(),
                weak: is_weak(obj, name),
                proto: fmt.prototype(name, f.id),
                signature: fmt.shape(f.size_or_type),
                called_from: referrers(obj, programs, name, Use::Call),
                tested_in: referrers(obj, programs, name, Use::Address),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// How an instruction refers to an extern.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// `call` (a kfunc call).
    Call,
    /// `lddw` (its address, as `bpf_ksym_exists()` loads it).
    Address,
}

fn use_at(data: &[u8], offset: u64) -> Option<Use> {
    match data.get(usize::try_from(offset).ok()?)? {
        0x85 => Some(Use::Call),
        0x18 => Some(Use::Address),
        _ => None,
    }
}

/// Programs with an instruction that refers to `symbol` the way `how` says.
fn referrers(obj: &BpfElf<'_>, programs: &[Program], symbol: &str, how: Use) -> Vec<String> {
    let mut out: Vec<String> = obj
        .exec_sections()
        .flat_map(|s| s.relocs.iter().map(move |r| (s, r)))
        .filter(|(s, r)| r.symbol == symbol && use_at(s.data, r.offset) == Some(how))
        .filter_map(|(s, r)| owner(programs, &s.name, (r.offset / 8) as u32))
        .map(|p| p.name.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

pub(crate) fn kconfig(obj: &BpfElf<'_>, btf: &Btf<'_>) -> Vec<KconfigExtern> {
    let fmt = TypeFormatter::new(btf);
    let Some(sec) = btf.find(".kconfig", Kind::Datasec) else {
        return Vec::new();
    };
    sec.datasec_vars()
        .filter_map(|v| btf.get(v.type_id))
        .filter(|v| v.kind == Kind::Var)
        .map(|v| {
            let name = btf.name(&v);
            KconfigExtern {
                name: name.to_string(),
                weak: is_weak(obj, name),
                type_name: fmt.type_name(v.size_or_type),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::essential_name;

    #[test]
    fn strips_the_last_flavor_like_libbpf() {
        assert_eq!(
            essential_name("scx_bpf_dispatch___compat"),
            "scx_bpf_dispatch"
        );
        assert_eq!(
            essential_name("scx_bpf_dsq_insert___v2___compat"),
            "scx_bpf_dsq_insert___v2"
        );
        assert_eq!(essential_name("scx_bpf_dsq_insert"), "scx_bpf_dsq_insert");
        assert_eq!(essential_name("a____b"), "a____b");
        assert_eq!(essential_name("x___"), "x___");
    }
}
