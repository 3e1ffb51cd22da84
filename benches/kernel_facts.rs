//! KernelFacts from a kernel's BTF, side by side with libbpf and btf-rs.
//!
//! Run with `cargo bench --bench kernel_facts`. It prints figures; it is not a
//! timed test and asserts only that every side did the same work.
//!
//! Each side starts from a raw BTF file on disk (so every side pays for the
//! read) and answers the same questions:
//! - the members of `struct sched_ext_ops` (names, byte offsets);
//! - for each kfunc name our KernelFacts lists, the FUNC of that name and its
//!   FUNC_PROTO's parameter count and parameter types (kind and scalar size
//!   after skipping typedefs and qualifiers);
//! - the value of every `SCX_*` enumerator.
//!
//! Ours is `std::fs::read` + `Btf::parse` + `KernelFacts::from_btf`, which
//! does more than that (it finds the kfuncs itself, renders every prototype
//! as C, reads the uapi enums, looks for BTF defects). libbpf is
//! `Btf::from_path` (`btf__parse`) and one pass over the type ids with
//! `type_by_id` (its `type_by_name` is a linear scan per name), testing each
//! FUNC name against a hashed set of the kfunc names. btf-rs is
//! `Btf::from_file` (its default cached backend), by-name lookups through its
//! name index for the struct and the kfuncs, and one pass over the types for
//! the enumerators (it has no index of enumerator names). Each side reduces
//! its answers to a [`Tally`] (counts and order-independent checksums) and
//! the tallies must agree.
//!
//! Inputs: the raw BTF of kernel images in `$SCXPACK_TEST_KERNELS` (else
//! `../shared/kernels`), extracted once into `target/bench-btf/NAME.btf`.
//! `SCXPACK_BENCH_KERNELS` picks the kernels (comma-separated folder names,
//! or `all`); `SCXPACK_BENCH_RUNS` the number of timed runs per side.
//!
//! Memory is measured in a child process per side and input (this binary
//! re-run with `--mem`): growth of the peak resident set (`VmHWM`) and the
//! resident set still held when the answers are in (before dropping).
//!
//! Other modes, for working on the code measured:
//! - `--repeat SIDE BTF KFUNCS N` runs one side N times (under a profiler:
//!   `valgrind --tool=callgrind target/release/deps/kernel_facts-* --repeat
//!   scxpack target/bench-btf/7.2.13+deb14.btf target/bench-btf/7.2.13+deb14.kfuncs 5`);
//! - `--dump BTF` prints our KernelFacts as JSON, to check that an
//!   optimisation leaves them byte for byte the same.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::hash::{BuildHasherDefault, Hasher};
use std::hint::black_box;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use libbpf_rs::HasSize;
use libbpf_rs::btf::types as lt;
use libbpf_rs::btf::{BtfKind, BtfType, TypeId};
use scxpack::btf::{Btf, Shape};
use scxpack::kernel::KernelFacts;

/// Kernels measured by default (folder names under the kernels directory).
const DEFAULT_KERNELS: [&str; 3] = ["6.16.3+deb13", "7.2.13+deb14", "6.12.117-scx"];
const DEFAULT_RUNS: usize = 30;
const WARMUP_RUNS: usize = 3;
const OPS: &str = "sched_ext_ops";
const SCX: &str = "SCX_";

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--mem") {
        return memory_child(&args[at + 1..]);
    }
    if let Some(at) = args.iter().position(|a| a == "--dump") {
        let data = std::fs::read(args.get(at + 1).ok_or("usage: --dump BTF")?)?;
        let facts = KernelFacts::from_btf(&Btf::parse(&data)?, None);
        println!("{}", serde_json::to_string_pretty(&facts)?);
        return Ok(());
    }
    if let Some(at) = args.iter().position(|a| a == "--repeat") {
        return repeat(&args[at + 1..]);
    }
    let runs = std::env::var("SCXPACK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RUNS)
        .max(1);
    let inputs = inputs()?;
    if inputs.is_empty() {
        println!("kernel_facts: no kernel images found; nothing measured");
        return Ok(());
    }
    print_machine(runs);
    let mut rows = Vec::new();
    for input in &inputs {
        rows.push(measure(input, runs));
    }
    print_tables(&rows);
    Ok(())
}

// ---------------------------------------------------------------- inputs

/// One kernel's raw BTF on disk, and what our facts say about it.
struct Input {
    name: String,
    btf: PathBuf,
    kfuncs_file: PathBuf,
    size: u64,
    kfuncs: Vec<String>,
    kfunc_tags: bool,
    expected: Tally,
}

fn kernels_dir() -> PathBuf {
    std::env::var_os("SCXPACK_TEST_KERNELS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kernels"),
        PathBuf::from,
    )
}

fn wanted_kernels(dir: &Path) -> AnyResult<Vec<String>> {
    let choice = std::env::var("SCXPACK_BENCH_KERNELS").unwrap_or_default();
    if choice == "all" {
        let mut names: Vec<String> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter(|e| e.path().join("vmlinuz").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        return Ok(names);
    }
    if choice.is_empty() {
        return Ok(DEFAULT_KERNELS.iter().map(ToString::to_string).collect());
    }
    Ok(choice.split(',').map(|s| s.trim().to_string()).collect())
}

/// Extracts (untimed, cached) each wanted kernel's BTF and computes its expected tally.
fn inputs() -> AnyResult<Vec<Input>> {
    let dir = kernels_dir();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-btf");
    std::fs::create_dir_all(&out)?;
    let mut inputs = Vec::new();
    for name in wanted_kernels(&dir)? {
        let image = dir.join(&name).join("vmlinuz");
        if !image.is_file() {
            println!("kernel_facts: {} missing, skipped", image.display());
            continue;
        }
        let btf = out.join(format!("{name}.btf"));
        if !is_fresh(&btf, &image) {
            let bytes = scxpack::kernel::source::read_kernel_file(&image)?.btf;
            std::fs::write(&btf, bytes)?;
        }
        let data = std::fs::read(&btf)?;
        let facts = KernelFacts::from_btf(&Btf::parse(&data)?, None);
        let kfuncs: Vec<String> = facts.kfuncs.iter().map(|k| k.name.clone()).collect();
        let kfuncs_file = out.join(format!("{name}.kfuncs"));
        std::fs::write(&kfuncs_file, kfuncs.join("\n"))?;
        inputs.push(Input {
            name,
            btf,
            kfuncs_file,
            size: data.len() as u64,
            kfuncs,
            kfunc_tags: facts.kfunc_tags,
            expected: Tally::of_facts(&facts),
        });
    }
    Ok(inputs)
}

/// True when `btf` exists, is not empty and is newer than `image`.
fn is_fresh(btf: &Path, image: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    std::fs::metadata(btf).is_ok_and(|m| m.len() > 0)
        && matches!((modified(btf), modified(image)), (Some(b), Some(i)) if b >= i)
}

// ---------------------------------------------------------------- tally

/// What a side found, reduced to counts and order-independent checksums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    ops_members: usize,
    ops_sum: u64,
    kfuncs: usize,
    params: usize,
    kfunc_sum: u64,
    enums: usize,
    enum_sum: u64,
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// FNV-1a as a `Hasher`: the competitors' name sets hash every FUNC name of
/// the kernel, and std's SipHash would cost them more than the lookups.
#[derive(Debug, Clone, Copy)]
struct FnvHasher(u64);

impl Default for FnvHasher {
    fn default() -> Self {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for FnvHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FnvHasher>>;
type FastSet<K> = HashSet<K, BuildHasherDefault<FnvHasher>>;

/// A set of names with a cheap pre-check (first byte, length) before hashing:
/// libbpf's side tests every FUNC name of the kernel against it.
struct NameSet<'n> {
    names: FastSet<&'n [u8]>,
    first_bytes: [bool; 256],
    lengths: Vec<bool>,
}

impl<'n> NameSet<'n> {
    fn new(names: impl Iterator<Item = &'n [u8]>) -> Self {
        let mut set = NameSet {
            names: FastSet::default(),
            first_bytes: [false; 256],
            lengths: Vec::new(),
        };
        for name in names {
            set.first_bytes[usize::from(name.first().copied().unwrap_or(0))] = true;
            if set.lengths.len() <= name.len() {
                set.lengths.resize(name.len() + 1, false);
            }
            set.lengths[name.len()] = true;
            set.names.insert(name);
        }
        set
    }

    fn contains(&self, name: &[u8]) -> bool {
        self.first_bytes[usize::from(name.first().copied().unwrap_or(0))]
            && self.lengths.get(name.len()).copied().unwrap_or(false)
            && self.names.contains(name)
    }
}

fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
}

/// A parameter type after skipping typedefs and qualifiers: kind, and size for scalars.
#[derive(Debug, Clone, Copy)]
enum ParamKind {
    Void,
    Int(u64),
    Ptr,
    Array,
    Struct,
    Union,
    Enum(u64),
    Float(u64),
    Func,
    Other,
}

impl ParamKind {
    fn code(self) -> u64 {
        match self {
            ParamKind::Void => 0,
            ParamKind::Int(size) => 1000 + size,
            ParamKind::Ptr => 2000,
            ParamKind::Array => 3000,
            ParamKind::Struct => 4000,
            ParamKind::Union => 5000,
            ParamKind::Enum(size) => 6000 + size,
            ParamKind::Float(size) => 7000 + size,
            ParamKind::Func => 8000,
            ParamKind::Other => 9000,
        }
    }

    fn of_shape(shape: &Shape) -> Self {
        match shape {
            Shape::Void => ParamKind::Void,
            Shape::Int { bytes, .. } => ParamKind::Int(u64::from(*bytes)),
            Shape::Ptr { .. } => ParamKind::Ptr,
            Shape::Array { .. } => ParamKind::Array,
            Shape::Struct { .. } => ParamKind::Struct,
            Shape::Union { .. } => ParamKind::Union,
            Shape::Enum { bytes } => ParamKind::Enum(u64::from(*bytes)),
            Shape::Float { bytes } => ParamKind::Float(u64::from(*bytes)),
            Shape::Func { .. } => ParamKind::Func,
            Shape::Opaque { .. } => ParamKind::Other,
        }
    }
}

impl Tally {
    fn ops_member(&mut self, name: &[u8], bit_offset: u32) {
        self.ops_sum = self.ops_sum.wrapping_add(mix(
            mix(fnv(name), u64::from(bit_offset / 8)),
            self.ops_members as u64,
        ));
        self.ops_members += 1;
    }

    fn kfunc(&mut self, name: &[u8], params: impl Iterator<Item = ParamKind>) {
        let mut h = fnv(name);
        let mut n = 0u64;
        for p in params {
            h = mix(h, p.code());
            n += 1;
        }
        self.kfunc_sum = self.kfunc_sum.wrapping_add(mix(h, n));
        self.kfuncs += 1;
        self.params += n as usize;
    }

    fn enumerator(&mut self, name: &[u8], bits: u64) {
        self.enum_sum = self.enum_sum.wrapping_add(mix(fnv(name), bits));
        self.enums += 1;
    }

    fn of_facts(facts: &KernelFacts) -> Self {
        let mut t = Tally::default();
        for m in &facts.ops_members {
            t.ops_member(m.name.as_bytes(), m.offset_bytes * 8);
        }
        for k in &facts.kfuncs {
            let params: &[Shape] = match &k.signature {
                Shape::Func { params, .. } => params,
                _ => &[],
            };
            t.kfunc(k.name.as_bytes(), params.iter().map(ParamKind::of_shape));
        }
        for (name, value) in &facts.enums {
            t.enumerator(name.as_bytes(), value.bits());
        }
        t
    }
}

// ---------------------------------------------------------------- sides

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Ours,
    Libbpf,
    BtfRs,
}

const SIDES: [Side; 3] = [Side::Ours, Side::Libbpf, Side::BtfRs];

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Ours => "scxpack",
            Side::Libbpf => "libbpf",
            Side::BtfRs => "btf-rs",
        }
    }

    fn from_label(s: &str) -> Option<Self> {
        SIDES.into_iter().find(|side| side.label() == s)
    }

    /// Runs the side once; `held` is called when the answers are in, before anything is dropped.
    fn run(self, btf: &Path, kfuncs: &[String], held: &mut dyn FnMut()) -> Run {
        match self {
            Side::Ours => ours(btf, held),
            Side::Libbpf => libbpf(btf, kfuncs, held),
            Side::BtfRs => btf_rs(btf, kfuncs, held),
        }
    }
}

/// One timed run: the answers and when each phase ended.
struct Run {
    tally: Tally,
    /// File read (ours only; the others read inside their parse).
    read: Duration,
    /// Read + parse: `Btf::parse`, `btf__parse`, `Btf::from_file`.
    open: Duration,
    /// Open + lookups (and the tally).
    answered: Duration,
    /// Everything, dropping included.
    total: Duration,
}

fn ours(path: &Path, held: &mut dyn FnMut()) -> Run {
    let start = Instant::now();
    let data = std::fs::read(path).expect("read BTF");
    let read = start.elapsed();
    let btf = Btf::parse(&data).expect("our parser accepts the BTF");
    let open = start.elapsed();
    let facts = KernelFacts::from_btf(&btf, None);
    let tally = Tally::of_facts(&facts);
    let answered = start.elapsed();
    held();
    drop(black_box(facts));
    drop(btf);
    drop(data);
    Run {
        tally,
        read,
        open,
        answered,
        total: start.elapsed(),
    }
}

fn libbpf(path: &Path, kfuncs: &[String], held: &mut dyn FnMut()) -> Run {
    let start = Instant::now();
    let btf = libbpf_rs::btf::Btf::from_path(path).expect("libbpf accepts the BTF");
    let open = start.elapsed();
    let wanted = NameSet::new(kfuncs.iter().map(String::as_bytes));
    let mut found: FastSet<&[u8]> = FastSet::default();
    let mut enums: FastMap<&[u8], u64> = FastMap::default();
    let mut tally = Tally::default();
    let mut ops_seen = false;
    for id in 1..btf.len() as u32 {
        let Some(ty) = btf.type_by_id::<BtfType<'_>>(TypeId::from(id)) else {
            continue;
        };
        let name = ty.name().map_or(&b""[..], OsStr::as_bytes);
        match ty.kind() {
            BtfKind::Func if wanted.contains(name) && found.insert(name) => {
                let proto = ty.next_type().and_then(|p| lt::FuncProto::try_from(p).ok());
                let proto = proto.expect("FUNC refers to a FUNC_PROTO");
                let params = proto.iter().map(|p| libbpf_param(&btf, p.ty));
                tally.kfunc(name, params);
            }
            BtfKind::Struct if !ops_seen && name == OPS.as_bytes() => {
                ops_seen = true;
                let ops = lt::Struct::try_from(ty).expect("a STRUCT");
                for m in ops.iter() {
                    let bit_offset = match m.attr {
                        lt::MemberAttr::Normal { offset }
                        | lt::MemberAttr::BitField { offset, .. } => offset,
                    };
                    tally.ops_member(m.name.map_or(&b""[..], OsStr::as_bytes), bit_offset);
                }
            }
            BtfKind::Enum => {
                let e = lt::Enum::try_from(ty).expect("an ENUM");
                // `get` (unlike `iter`) yields names that outlive `e`.
                for m in (0..e.len()).filter_map(|i| e.get(i)) {
                    scx_enumerator(&mut enums, m.name, m.value as u64);
                }
            }
            BtfKind::Enum64 => {
                let e = lt::Enum64::try_from(ty).expect("an ENUM64");
                for m in (0..e.len()).filter_map(|i| e.get(i)) {
                    scx_enumerator(&mut enums, m.name, m.value as u64);
                }
            }
            _ => {}
        }
    }
    for (name, bits) in &enums {
        tally.enumerator(name, *bits);
    }
    let answered = start.elapsed();
    held();
    drop(enums);
    drop(found);
    drop(btf);
    Run {
        tally,
        read: Duration::ZERO,
        open,
        answered,
        total: start.elapsed(),
    }
}

fn scx_enumerator<'a>(enums: &mut FastMap<&'a [u8], u64>, name: Option<&'a OsStr>, bits: u64) {
    let name = name.map_or(&b""[..], OsStr::as_bytes);
    if name.starts_with(SCX.as_bytes()) {
        enums.entry(name).or_insert(bits);
    }
}

fn libbpf_param(btf: &libbpf_rs::btf::Btf<'_>, id: TypeId) -> ParamKind {
    let ty = btf
        .type_by_id::<BtfType<'_>>(id)
        .expect("parameter type exists")
        .skip_mods_and_typedefs();
    match ty.kind() {
        BtfKind::Void => ParamKind::Void,
        BtfKind::Int => ParamKind::Int(lt::Int::try_from(ty).map_or(0, |t| t.size() as u64)),
        BtfKind::Ptr => ParamKind::Ptr,
        BtfKind::Array => ParamKind::Array,
        BtfKind::Struct => ParamKind::Struct,
        BtfKind::Union => ParamKind::Union,
        BtfKind::Enum => ParamKind::Enum(lt::Enum::try_from(ty).map_or(0, |t| t.size() as u64)),
        BtfKind::Enum64 => ParamKind::Enum(lt::Enum64::try_from(ty).map_or(0, |t| t.size() as u64)),
        BtfKind::Float => ParamKind::Float(lt::Float::try_from(ty).map_or(0, |t| t.size() as u64)),
        BtfKind::FuncProto => ParamKind::Func,
        _ => ParamKind::Other,
    }
}

fn btf_rs(path: &Path, kfuncs: &[String], held: &mut dyn FnMut()) -> Run {
    use btf_rs::Type as T;
    let start = Instant::now();
    let btf = btf_rs::Btf::from_file(path).expect("btf-rs accepts the BTF");
    let open = start.elapsed();
    let mut tally = Tally::default();
    let ops = btf.resolve_types_by_name(OPS).unwrap_or_default();
    if let Some(T::Struct(ops)) = ops.iter().find(|t| matches!(t, T::Struct(_))) {
        for m in &ops.members {
            let name = btf.resolve_name(m).expect("member name");
            tally.ops_member(name.as_bytes(), m.bit_offset());
        }
    }
    for name in kfuncs {
        let types = btf.resolve_types_by_name(name).unwrap_or_default();
        let Some(T::Func(func)) = types.iter().find(|t| matches!(t, T::Func(_))) else {
            continue;
        };
        let Ok(T::FuncProto(proto)) = btf.resolve_chained_type(func) else {
            panic!("FUNC {name} refers to a FUNC_PROTO");
        };
        let params = proto.parameters.iter().map(|p| btf_rs_param(&btf, p));
        tally.kfunc(name.as_bytes(), params);
    }
    let mut enums: FastMap<String, u64> = FastMap::default();
    let (first, last) = btf.base().type_id_range();
    for id in first.max(1)..=last {
        match btf.resolve_type_by_id(id).expect("type by id") {
            T::Enum(e) => {
                for m in &e.members {
                    let bits = if e.is_signed() {
                        i64::from(m.val() as i32) as u64
                    } else {
                        u64::from(m.val())
                    };
                    btf_rs_enumerator(&btf, &mut enums, m, bits);
                }
            }
            T::Enum64(e) => {
                for m in &e.members {
                    btf_rs_enumerator(&btf, &mut enums, m, m.val());
                }
            }
            _ => {}
        }
    }
    for (name, bits) in &enums {
        tally.enumerator(name.as_bytes(), *bits);
    }
    let answered = start.elapsed();
    held();
    drop(enums);
    drop(btf);
    Run {
        tally,
        read: Duration::ZERO,
        open,
        answered,
        total: start.elapsed(),
    }
}

fn btf_rs_enumerator(
    btf: &btf_rs::Btf,
    enums: &mut FastMap<String, u64>,
    m: &dyn btf_rs::BtfType,
    bits: u64,
) {
    let name = btf.resolve_name(m).expect("enumerator name");
    if name.starts_with(SCX) {
        enums.entry(name).or_insert(bits);
    }
}

fn btf_rs_param(btf: &btf_rs::Btf, p: &btf_rs::Parameter) -> ParamKind {
    use btf_rs::Type as T;
    let mut ty = btf.resolve_chained_type(p).expect("parameter type exists");
    loop {
        ty = match &ty {
            T::Typedef(t) => btf.resolve_chained_type(t),
            T::Volatile(t) | T::Const(t) | T::Restrict(t) => btf.resolve_chained_type(t),
            T::TypeTag(t) => btf.resolve_chained_type(t),
            _ => break,
        }
        .expect("modifier target exists");
    }
    match ty {
        T::Void => ParamKind::Void,
        T::Int(t) => ParamKind::Int(t.size() as u64),
        T::Ptr(_) => ParamKind::Ptr,
        T::Array(_) => ParamKind::Array,
        T::Struct(_) => ParamKind::Struct,
        T::Union(_) => ParamKind::Union,
        T::Enum(t) => ParamKind::Enum(t.size() as u64),
        T::Enum64(t) => ParamKind::Enum(t.size() as u64),
        T::Float(t) => ParamKind::Float(t.size() as u64),
        T::FuncProto(_) => ParamKind::Func,
        _ => ParamKind::Other,
    }
}

// ---------------------------------------------------------------- measuring

/// Figures of one side on one input.
struct SideFigures {
    side: Side,
    runs: Vec<Run>,
    memory: Option<Memory>,
}

struct Row {
    input_name: String,
    size: u64,
    kfunc_tags: bool,
    tally: Tally,
    sides: Vec<SideFigures>,
}

fn measure(input: &Input, runs: usize) -> Row {
    let mut all: Vec<Vec<Run>> = SIDES.iter().map(|_| Vec::with_capacity(runs)).collect();
    for round in 0..WARMUP_RUNS + runs {
        // Rotate the order so machine noise and cache state hit every side alike.
        for k in 0..SIDES.len() {
            let i = (round + k) % SIDES.len();
            let run = SIDES[i].run(&input.btf, &input.kfuncs, &mut || {});
            assert_eq!(
                run.tally,
                input.expected,
                "{}: {} disagrees with KernelFacts",
                input.name,
                SIDES[i].label()
            );
            if round >= WARMUP_RUNS {
                all[i].push(run);
            }
        }
    }
    let mut sides = Vec::new();
    for (side, runs) in SIDES.into_iter().zip(all) {
        let memory = memory_of(side, input)
            .map_err(|e| println!("kernel_facts: memory of {}: {e}", side.label()))
            .ok();
        sides.push(SideFigures { side, runs, memory });
    }
    Row {
        input_name: input.name.clone(),
        size: input.size,
        kfunc_tags: input.kfunc_tags,
        tally: input.expected,
        sides,
    }
}

/// min, median, p90 (nearest rank) of `values`.
fn stats(values: &mut [Duration]) -> [Duration; 3] {
    values.sort_unstable();
    let n = values.len();
    let p90 = values[(n * 9).div_ceil(10).clamp(1, n) - 1];
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2
    };
    [values[0], median, p90]
}

fn median_of(runs: &[Run], f: impl Fn(&Run) -> Duration) -> Duration {
    let mut v: Vec<Duration> = runs.iter().map(f).collect();
    stats(&mut v)[1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

// ---------------------------------------------------------------- memory

#[derive(Debug, Clone, Copy)]
struct Memory {
    /// Growth of the peak resident set during the run, KiB.
    peak_kib: u64,
    /// Resident set growth still held when the answers were in, KiB.
    held_kib: u64,
}

fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `--mem SIDE BTF KFUNCS`: runs one side once in this fresh process, prints `peak held` in KiB.
fn memory_child(args: &[String]) -> AnyResult<()> {
    let [side, btf, kfuncs, ..] = args else {
        return Err("usage: --mem SIDE BTF KFUNCS".into());
    };
    let side = Side::from_label(side).ok_or("unknown side")?;
    let kfuncs = read_lines(Path::new(kfuncs))?;
    let (hwm0, rss0) = (proc_status_kib("VmHWM:"), proc_status_kib("VmRSS:"));
    let mut held = 0;
    let run = side.run(Path::new(btf), &kfuncs, &mut || {
        held = proc_status_kib("VmRSS:").saturating_sub(rss0);
    });
    black_box(run.tally);
    let peak = proc_status_kib("VmHWM:").saturating_sub(hwm0);
    println!("{peak} {held}");
    Ok(())
}

/// `--repeat SIDE BTF KFUNCS N`: runs one side N times, for a profiler.
fn repeat(args: &[String]) -> AnyResult<()> {
    let [side, btf, kfuncs, n, ..] = args else {
        return Err("usage: --repeat SIDE BTF KFUNCS N".into());
    };
    let side = Side::from_label(side).ok_or("unknown side")?;
    let kfuncs = read_lines(Path::new(kfuncs))?;
    let mut total = Duration::ZERO;
    let n: u32 = n.parse()?;
    for _ in 0..n {
        total += side.run(Path::new(btf), &kfuncs, &mut || {}).total;
    }
    println!("{}: mean {} ms", side.label(), ms(total / n.max(1)));
    Ok(())
}

fn read_lines(path: &Path) -> AnyResult<Vec<String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

fn memory_of(side: Side, input: &Input) -> AnyResult<Memory> {
    let out = Command::new(std::env::current_exe()?)
        .arg("--mem")
        .arg(side.label())
        .arg(&input.btf)
        .arg(&input.kfuncs_file)
        .output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    let text = String::from_utf8(out.stdout)?;
    let mut words = text.split_whitespace().map(str::parse::<u64>);
    match (words.next(), words.next()) {
        (Some(Ok(peak_kib)), Some(Ok(held_kib))) => Ok(Memory { peak_kib, held_kib }),
        _ => Err(format!("unexpected output {text:?}").into()),
    }
}

#[allow(clippy::cast_precision_loss, reason = "sizes of a few MiB")]
fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

// ---------------------------------------------------------------- output

fn print_machine(runs: usize) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!("kernel_facts: {cores} cores, {cpu}");
    println!("kernel_facts: {WARMUP_RUNS} warm-up + {runs} timed runs per side, interleaved");
    println!();
}

#[allow(clippy::cast_precision_loss, reason = "file sizes of a few MB")]
fn print_tables(rows: &[Row]) {
    println!("### Time (ms; file read included on every side)");
    println!();
    println!("| kernel BTF | size | side | min | median | p90 | median vs scxpack |");
    println!("|---|---:|---|---:|---:|---:|---:|");
    for row in rows {
        let ours = median_of(&row.sides[0].runs, |r| r.total);
        for (i, fig) in row.sides.iter().enumerate() {
            let mut totals: Vec<Duration> = fig.runs.iter().map(|r| r.total).collect();
            let [min, median, p90] = stats(&mut totals);
            let (kernel, size) = if i == 0 {
                (
                    row.input_name.clone(),
                    format!("{:.1} MB", row.size as f64 / 1e6),
                )
            } else {
                (String::new(), String::new())
            };
            let ratio = median.as_secs_f64() / ours.as_secs_f64();
            println!(
                "| {kernel} | {size} | {} | {} | {} | {} | {ratio:.2}× |",
                fig.side.label(),
                ms(min),
                ms(median),
                ms(p90),
            );
        }
    }
    println!();
    println!("### Phases (median ms) and memory (MiB, measured in a fresh process)");
    println!();
    println!(
        "| kernel BTF | side | read | read+parse | lookups | drop | peak RSS growth | RSS held |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        for (i, fig) in row.sides.iter().enumerate() {
            let read = median_of(&fig.runs, |r| r.read);
            let open = median_of(&fig.runs, |r| r.open);
            let lookups = median_of(&fig.runs, |r| r.answered.saturating_sub(r.open));
            let dropping = median_of(&fig.runs, |r| r.total.saturating_sub(r.answered));
            let read = if fig.side == Side::Ours {
                ms(read)
            } else {
                "(in parse)".to_string()
            };
            let (peak, held) = fig.memory.map_or(("?".to_string(), "?".to_string()), |m| {
                (mib(m.peak_kib), mib(m.held_kib))
            });
            let kernel = if i == 0 { row.input_name.as_str() } else { "" };
            println!(
                "| {kernel} | {} | {read} | {} | {} | {} | {peak} | {held} |",
                fig.side.label(),
                ms(open),
                ms(lookups),
                ms(dropping),
            );
        }
    }
    println!();
    println!("### Work done (identical on every side, asserted)");
    println!();
    println!(
        "| kernel BTF | kfunc tags | ops members | kfuncs | kfunc params | SCX_* enumerators |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for row in rows {
        let t = row.tally;
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.input_name,
            if row.kfunc_tags { "yes" } else { "no" },
            t.ops_members,
            t.kfuncs,
            t.params,
            t.enums
        );
    }
}
