//! Programs of a BPF object: their sections, libbpf program types, the
//! helpers they call and which program owns a given instruction.

use serde::{Deserialize, Serialize};

use super::elf::BpfElf;

/// `BPF_JMP | BPF_CALL`.
const OP_CALL: u8 = 0x85;
/// `BPF_LD | BPF_IMM | BPF_DW`: a 16-byte instruction.
const OP_LDDW: u8 = 0x18;

/// A BPF program (or subprogram) defined in an executable section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    pub name: String,
    pub section: String,
    /// The kernel program type libbpf derives from the section name, as the
    /// kernel's `enum bpf_prog_type` names it; `None` for subprograms in `.text`.
    pub prog_type: Option<String>,
    /// First instruction within the section.
    pub insn: u32,
    /// Number of instructions.
    pub insns: u32,
}

impl Program {
    /// Whether instruction `insn` of `section` belongs to this program.
    #[must_use]
    pub fn contains(&self, section: &str, insn: u32) -> bool {
        self.section == section && insn >= self.insn && insn < self.insn + self.insns.max(1)
    }
}

/// Section-name prefixes libbpf maps to program types (the subset BPF
/// schedulers and their helpers use; longest prefixes first).
const SECTION_TYPES: [(&str, &str); 16] = [
    ("struct_ops.s/", "BPF_PROG_TYPE_STRUCT_OPS"),
    ("struct_ops/", "BPF_PROG_TYPE_STRUCT_OPS"),
    ("struct_ops", "BPF_PROG_TYPE_STRUCT_OPS"),
    ("syscall", "BPF_PROG_TYPE_SYSCALL"),
    ("tp_btf/", "BPF_PROG_TYPE_TRACING"),
    ("fentry/", "BPF_PROG_TYPE_TRACING"),
    ("fexit/", "BPF_PROG_TYPE_TRACING"),
    ("fmod_ret/", "BPF_PROG_TYPE_TRACING"),
    ("iter/", "BPF_PROG_TYPE_TRACING"),
    ("raw_tp/", "BPF_PROG_TYPE_RAW_TRACEPOINT"),
    ("raw_tracepoint/", "BPF_PROG_TYPE_RAW_TRACEPOINT"),
    ("tracepoint/", "BPF_PROG_TYPE_TRACEPOINT"),
    ("tp/", "BPF_PROG_TYPE_TRACEPOINT"),
    ("kprobe/", "BPF_PROG_TYPE_KPROBE"),
    ("kretprobe/", "BPF_PROG_TYPE_KPROBE"),
    ("perf_event", "BPF_PROG_TYPE_PERF_EVENT"),
];

/// The program type libbpf gives a program in `section`.
#[must_use]
pub fn prog_type_for_section(section: &str) -> Option<&'static str> {
    SECTION_TYPES
        .iter()
        .find(|(prefix, _)| section.starts_with(prefix))
        .map(|(_, ty)| *ty)
}

pub(crate) fn programs(obj: &BpfElf<'_>) -> Vec<Program> {
    let mut out: Vec<Program> = obj
        .symbols
        .iter()
        .filter(|s| s.is_func && !s.undefined)
        .filter_map(|s| {
            let section = s.section.as_ref()?;
            obj.section(section).filter(|sec| sec.exec)?;
            Some(Program {
                name: s.name.clone(),
                prog_type: prog_type_for_section(section).map(str::to_string),
                section: section.clone(),
                insn: (s.value / 8) as u32,
                insns: (s.size / 8) as u32,
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.section, a.insn).cmp(&(&b.section, b.insn)));
    out
}

/// The program owning instruction `insn` of `section`.
pub(crate) fn owner<'p>(programs: &'p [Program], section: &str, insn: u32) -> Option<&'p Program> {
    programs.iter().find(|p| p.contains(section, insn))
}

/// One decoded instruction's fields that matter here.
pub(crate) struct Insn {
    pub code: u8,
    pub dst_reg: u8,
    pub src_reg: u8,
    pub off: i16,
    pub imm: i32,
}

/// Walks the instructions of a program section (skipping the second half of `lddw`).
pub(crate) fn instructions(data: &[u8]) -> impl Iterator<Item = Insn> + '_ {
    instructions_at(data).map(|(_, insn)| insn)
}

/// [`instructions`] with each one's byte offset in the section.
pub(crate) fn instructions_at(data: &[u8]) -> impl Iterator<Item = (usize, Insn)> + '_ {
    let mut skip = false;
    data.chunks_exact(8)
        .enumerate()
        .filter_map(move |(i, raw)| {
            if skip {
                skip = false;
                return None;
            }
            skip = raw[0] == OP_LDDW;
            Some((
                i * 8,
                Insn {
                    code: raw[0],
                    dst_reg: raw[1] & 0xf,
                    src_reg: raw[1] >> 4,
                    off: i16::from_le_bytes([raw[2], raw[3]]),
                    imm: i32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]),
                },
            ))
        })
}

impl Insn {
    pub fn is_call(&self) -> bool {
        self.code == OP_CALL
    }

    /// A call of BPF helper `imm` (not a kfunc or subprogram call).
    pub fn is_helper_call(&self) -> bool {
        self.is_call() && self.src_reg == 0 && self.imm > 0
    }
}

/// For every map of `names`, the BPF helpers called with it as the first
/// argument: the map's address loaded into `r1` (an `lddw` relocated to the
/// map's symbol) and not overwritten by another map before the call. What
/// the compiler emits for `bpf_map_pop_elem(&queue, &v)` and the like.
pub(crate) fn helpers_by_map(
    obj: &BpfElf<'_>,
    names: &[&str],
) -> std::collections::BTreeMap<String, Vec<u32>> {
    let mut out: std::collections::BTreeMap<String, Vec<u32>> = std::collections::BTreeMap::new();
    for sec in obj.exec_sections() {
        let mut r1: Option<&str> = None;
        for (at, insn) in instructions_at(sec.data) {
            if insn.code == OP_LDDW && insn.dst_reg == 1 {
                r1 = sec
                    .relocs
                    .iter()
                    .find(|r| r.offset == at as u64)
                    .and_then(|r| names.iter().find(|n| **n == r.symbol).copied());
            } else if insn.is_helper_call() {
                if let Some(map) = r1.take() {
                    let calls = out.entry(map.to_string()).or_default();
                    calls.push(insn.imm as u32);
                    calls.sort_unstable();
                    calls.dedup();
                }
            }
        }
    }
    out
}

/// Every BPF helper id called by any program, sorted and deduplicated.
pub(crate) fn helper_ids(obj: &BpfElf<'_>) -> Vec<u32> {
    let mut ids: Vec<u32> = obj
        .exec_sections()
        .flat_map(|s| instructions(s.data))
        .filter(Insn::is_helper_call)
        .map(|i| i.imm as u32)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}
