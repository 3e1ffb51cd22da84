//! arm64 kernels as distributions ship them, against Debian's real arm64
//! images (`$SCXPACK_TEST_KERNELS_ARM64`, else the CI cache `.ci/setup` fills
//! with `tests/vm/fetch-kernels.sh --arch arm64`): the plain `Image` read by
//! content, the same kernel gzip-compressed and wrapped as EFI zboot (built
//! here with the `gzip`/`zstd` tools), the real `linux-binary-*-arm64` `.deb`,
//! and `probe`'s facts compared with what `bpftool btf dump` shows of the
//! BTF that `btf extract` wrote.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use scxpack::kernel::source::{
    Compression, SourceError, SourceKind, find_kernels, read_kernel_file,
};
use scxpack::kernel::{Arch, Kernel, KernelError};

/// The Debian arm64 kernels the CI fetches: oldest with sched_ext to newest,
/// one PREEMPT_RT.
const KERNELS: [&str; 4] = [
    "6.16.3+deb13",
    "6.18.15+deb13",
    "7.2.13+deb14",
    "7.2.13+deb14-rt",
];

/// Kfuncs present on all of them whose prototypes `probe` must print as
/// bpftool's BTF shows them.
const KFUNCS: [&str; 5] = [
    "scx_bpf_kick_cpu",
    "scx_bpf_create_dsq",
    "scx_bpf_dsq_nr_queued",
    "scx_bpf_task_cpu",
    "bpf_iter_scx_dsq_next",
];

fn image(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name).join("vmlinuz");
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

#[test]
fn debian_arm64_images_are_read_by_content() {
    let Some(dir) = common::arm64_kernels() else {
        return;
    };
    let mut expected: Vec<PathBuf> = KERNELS.iter().map(|k| image(&dir, k)).collect();
    expected.sort();
    let found = find_kernels(&dir).expect("walk the arm64 kernels");
    assert_eq!(
        found, expected,
        "find_kernels must list the images, not the configs"
    );
    for name in KERNELS {
        let path = image(&dir, name);
        let kernel = Kernel::open(&path, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let f = &kernel.facts;
        assert_eq!(f.release.as_deref(), Some(format!("{name}-arm64").as_str()));
        assert_eq!(f.arch, Some(Arch::Arm64), "{name}");
        assert!(
            f.sched_ext,
            "{name}: Debian arm64 has sched_ext from 6.16 on"
        );
        assert_eq!(f.preempt_rt, name.ends_with("-rt"), "{name}");
        assert!(f.btf_types > 100_000, "{name}: {} types", f.btf_types);
        let scxpack::kernel::Origin::File { kind, .. } = &kernel.origin else {
            panic!("{name}: not a file origin");
        };
        assert_eq!(
            kind,
            &SourceKind::Arm64Image {
                compression: Compression::None
            }
        );
    }
}

/// bpftool's raw dump, indexed: type id → (kind, name, attributes, member lines).
struct RawDump {
    types: BTreeMap<u32, (String, String, String, Vec<String>)>,
    funcs: BTreeMap<String, u32>,
    /// `SCX_*` enumerators, first occurrence, value without `ULL`/`LL`.
    scx: BTreeMap<String, String>,
}

impl RawDump {
    fn of(btf: &Path) -> RawDump {
        let out = Command::new("bpftool")
            .args(["btf", "dump", "file"])
            .arg(btf)
            .args(["format", "raw"])
            .output()
            .expect("run bpftool (apt-get install bpftool)");
        assert!(out.status.success(), "bpftool failed on {}", btf.display());
        let text = String::from_utf8(out.stdout).expect("bpftool prints text");
        let mut dump = RawDump {
            types: BTreeMap::new(),
            funcs: BTreeMap::new(),
            scx: BTreeMap::new(),
        };
        let mut current = 0;
        for line in text.lines() {
            if let Some(member) = line.strip_prefix('\t') {
                dump.member(current, member);
            } else {
                current = dump.header(line);
            }
        }
        dump
    }

    /// `[12] KIND 'name' attrs…` → its id.
    fn header(&mut self, line: &str) -> u32 {
        let (id, rest) = line[1..].split_once("] ").expect("[id] KIND");
        let id: u32 = id.parse().expect("numeric id");
        let (kind, rest) = rest.split_once(" '").expect("KIND 'name'");
        let (name, attrs) = rest.split_once('\'').expect("closing quote");
        if kind == "FUNC" {
            self.funcs.entry(name.to_owned()).or_insert(id);
        }
        self.types.insert(
            id,
            (
                kind.to_owned(),
                name.to_owned(),
                attrs.trim().to_owned(),
                Vec::new(),
            ),
        );
        id
    }

    fn member(&mut self, id: u32, line: &str) {
        let is_enum = self.types.get(&id).is_some_and(|t| t.0.starts_with("ENUM"));
        if let Some(rest) = line.strip_prefix("'SCX_").filter(|_| is_enum) {
            let (name, value) = rest.split_once("' val=").expect("enumerator");
            let value = value.trim_end_matches("ULL").trim_end_matches("LL");
            self.scx
                .entry(format!("SCX_{name}"))
                .or_insert_with(|| value.to_owned());
        }
        if let Some(t) = self.types.get_mut(&id) {
            t.3.push(line.to_owned());
        }
    }

    fn attr(attrs: &str, key: &str) -> u32 {
        attrs
            .split_whitespace()
            .find_map(|a| a.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} in {attrs:?}"))
    }

    /// A type as C, for the simple types kfunc prototypes use.
    fn c_type(&self, id: u32) -> String {
        if id == 0 {
            return "void".to_owned();
        }
        let (kind, name, attrs, _) = &self.types[&id];
        match kind.as_str() {
            "PTR" => {
                let to = self.c_type(Self::attr(attrs, "type_id="));
                if to.ends_with('*') {
                    format!("{to}*")
                } else {
                    format!("{to} *")
                }
            }
            "CONST" => format!("const {}", self.c_type(Self::attr(attrs, "type_id="))),
            "STRUCT" => format!("struct {name}"),
            "INT" | "TYPEDEF" => name.clone(),
            other => panic!("type {id} is a {other}, not expected in these prototypes"),
        }
    }

    /// `ret name(type arg, …)` as probe prints prototypes.
    fn prototype(&self, func: &str) -> String {
        let id = self.funcs[func];
        let proto = Self::attr(&self.types[&id].2, "type_id=");
        let (_, _, attrs, params) = &self.types[&proto];
        let join = |ty: String, name: &str| {
            if ty.ends_with('*') {
                format!("{ty}{name}")
            } else {
                format!("{ty} {name}")
            }
        };
        let args: Vec<String> = params
            .iter()
            .map(|p| {
                let (name, ty) = p[1..].split_once("' type_id=").expect("param");
                join(self.c_type(ty.parse().expect("param type")), name)
            })
            .collect();
        let ret = self.c_type(Self::attr(attrs, "ret_type_id="));
        join(ret, &format!("{func}({})", args.join(", ")))
    }
}

#[test]
fn probe_on_arm64_images_agrees_with_bpftool() {
    let Some(dir) = common::arm64_kernels() else {
        return;
    };
    let work = common::temp_dir("arm64-bpftool");
    for name in ["6.16.3+deb13", "7.2.13+deb14-rt"] {
        let path = image(&dir, name);
        let btf = work.join(format!("{name}.btf"));
        let kernel = path.to_str().unwrap();
        let (code, _, err) =
            common::scxpack(&["btf", "extract", kernel, "-o", btf.to_str().unwrap()]);
        assert_eq!(code, 0, "btf extract {name}: {err}");
        assert!(err.contains("(arm64 Image)"), "{err}");
        let (code, out, err) =
            common::scxpack(&["probe", "--json", "--no-cache", "--kernel", kernel]);
        assert_eq!(code, 0, "probe {name}: {err}");
        let probe: serde_json::Value = serde_json::from_str(&out).expect("probe --json");
        assert_eq!(probe["arch"], "arm64", "{name}");
        let dump = RawDump::of(&btf);
        let probed: BTreeMap<String, String> = probe["enums"]
            .as_object()
            .expect("enums")
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        assert!(
            dump.scx.len() > 100,
            "{name}: {} SCX_ values",
            dump.scx.len()
        );
        assert_eq!(
            probed, dump.scx,
            "{name}: SCX_* values differ from bpftool's"
        );
        for kfunc in KFUNCS {
            let shown = probe["kfuncs"]
                .as_array()
                .expect("kfuncs")
                .iter()
                .find(|k| k["name"] == kfunc)
                .unwrap_or_else(|| panic!("{name}: probe lacks {kfunc}"));
            assert_eq!(shown["proto"], dump.prototype(kfunc), "{name}: {kfunc}");
        }
    }
}

/// Runs `tool args < input` and returns its stdout.
fn compress(tool: &str, args: &[&str], input: &Path) -> Vec<u8> {
    let out = Command::new(tool)
        .args(args)
        .stdin(std::fs::File::open(input).expect("open input"))
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    assert!(out.status.success(), "{tool} failed");
    out.stdout
}

/// An EFI zboot image as `zboot-header.S` lays it out: `MZ`, `zimg`, the
/// payload's offset and size, the compression name, the PE magic and header
/// (machine arm64), then the payload and the image's size after it.
fn zboot(payload: &[u8], comp_type: &str, image_len: usize) -> Vec<u8> {
    const PAYLOAD_AT: usize = 0x1000;
    let mut z = vec![0u8; PAYLOAD_AT];
    z[..2].copy_from_slice(b"MZ");
    z[4..8].copy_from_slice(b"zimg");
    z[8..12].copy_from_slice(&(PAYLOAD_AT as u32).to_le_bytes());
    z[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    z[24..24 + comp_type.len()].copy_from_slice(comp_type.as_bytes());
    z[0x38..0x3c].copy_from_slice(&0x8182_23cd_u32.to_le_bytes());
    z[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    z[0x40..0x44].copy_from_slice(b"PE\0\0");
    z[0x44..0x46].copy_from_slice(&0xaa64u16.to_le_bytes());
    z.extend_from_slice(payload);
    z.extend_from_slice(&(image_len as u32).to_le_bytes());
    z
}

#[test]
fn gzip_and_zboot_images_give_the_plain_images_btf() {
    let Some(dir) = common::arm64_kernels() else {
        return;
    };
    let plain_path = image(&dir, "6.16.3+deb13");
    let plain = read_kernel_file(&plain_path).expect("plain Image");
    let image_len = std::fs::metadata(&plain_path).unwrap().len() as usize;
    let work = common::temp_dir("arm64-containers");
    let gz = compress("gzip", &["-1", "-c"], &plain_path);
    let zst = compress("zstd", &["-1", "-c", "-q"], &plain_path);
    let cases = [
        (
            "Image.gz",
            gz.clone(),
            SourceKind::Arm64Image {
                compression: Compression::Gzip,
            },
        ),
        (
            "zboot-gzip.efi",
            zboot(&gz, "gzip", image_len),
            SourceKind::EfiZboot {
                compression: Compression::Gzip,
            },
        ),
        (
            "zboot-zstd.efi",
            zboot(&zst, "zstd22", image_len),
            SourceKind::EfiZboot {
                compression: Compression::Zstd,
            },
        ),
    ];
    for (file, bytes, kind) in cases {
        let path = work.join(file);
        std::fs::write(&path, &bytes).unwrap();
        let read = read_kernel_file(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(read.kind, kind, "{file}");
        assert_eq!(read.release, plain.release, "{file}");
        assert!(
            read.btf == plain.btf,
            "{file}: BTF differs from the plain Image's"
        );
    }
    assert_eq!(
        find_kernels(&work).unwrap().len(),
        3,
        "every container is found by content"
    );
    let mut cut = zboot(&zst, "zstd22", image_len);
    cut.truncate(cut.len() / 2);
    let path = work.join("cut.efi");
    std::fs::write(&path, &cut).unwrap();
    let err = read_kernel_file(&path).unwrap_err();
    assert!(
        matches!(err, SourceError::ZbootPayloadOutOfBounds { .. }),
        "{err}"
    );
    let wrong_size = zboot(&zst, "zstd22", image_len + 1);
    std::fs::write(&path, &wrong_size).unwrap();
    let err = read_kernel_file(&path).unwrap_err();
    assert!(err.to_string().contains("declares"), "{err}");
}

#[test]
fn an_arm64_image_with_x86_btf_is_refused() {
    let (Some(_), Some(x86)) = (common::arm64_kernels(), common::vmlinuz("6.16.3+deb13")) else {
        return;
    };
    let x86_btf = read_kernel_file(&x86).expect("x86 bzImage").btf;
    let mut forged = vec![0u8; 0x40];
    forged[0x38..0x3c].copy_from_slice(b"ARMd");
    forged.extend_from_slice(b"Linux version 6.16.3+deb13-arm64 (forged) #1\0\0\0\0");
    forged.extend_from_slice(&x86_btf);
    let path = common::temp_dir("arm64-forged").join("vmlinuz");
    std::fs::write(&path, &forged).unwrap();
    let err = Kernel::open(&path, None).unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::ArchMismatch {
                image: Arch::Arm64,
                btf: Arch::X86_64,
                ..
            }
        ),
        "{err}"
    );
    let x86_facts = Kernel::open(&x86, None).expect("x86 kernel").facts;
    assert_eq!(x86_facts.arch, Some(Arch::X86_64));
}

#[test]
fn a_debian_arm64_kernel_package_is_read() {
    let Some(dir) = common::arm64_kernels() else {
        return;
    };
    let debs = std::env::var_os("SCXPACK_TEST_DEBS_ARM64")
        .map_or_else(|| dir.join("../apt-arm64/debs"), PathBuf::from);
    let deb = std::fs::read_dir(&debs).ok().and_then(|entries| {
        entries.filter_map(Result::ok).map(|e| e.path()).find(|p| {
            p.to_string_lossy()
                .contains("linux-binary-7.2.13+deb14-arm64_")
        })
    });
    let Some(deb) = deb.or_else(|| {
        common::missing(&format!(
            "linux-binary-7.2.13+deb14-arm64 .deb in {}",
            debs.display()
        ))
    }) else {
        return;
    };
    let from_deb = read_kernel_file(&deb).expect("arm64 .deb");
    let plain = read_kernel_file(&image(&dir, "7.2.13+deb14")).expect("plain Image");
    assert_eq!(
        from_deb.kind,
        SourceKind::Deb {
            member: "usr/lib/modules/7.2.13+deb14-arm64/vmlinuz".into(),
            inner: Box::new(SourceKind::Arm64Image {
                compression: Compression::None
            }),
        }
    );
    assert_eq!(from_deb.release, plain.release);
    assert!(
        from_deb.btf == plain.btf,
        "the .deb's BTF differs from its Image's"
    );
    assert_eq!(from_deb.kind.arch(), Some(Arch::Arm64));
}

/// `check --json` cells as (kernel label without its `-amd64`/`-arm64`
/// suffix, scheduler) → chosen variant (`None`: refused).
fn check_cells(pkg: &Path, kernels: &[PathBuf]) -> BTreeMap<(String, String), Option<String>> {
    let mut args = vec![
        "check",
        "--json",
        "--no-cache",
        pkg.to_str().unwrap(),
        "--kernel",
    ];
    args.extend(kernels.iter().map(|k| k.to_str().unwrap()));
    let (code, out, err) = common::scxpack(&args);
    assert!(code == 0 || code == 1, "check failed: {err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("check --json");
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|c| {
            let label = c["kernel"].as_str().unwrap();
            let version = label.trim_end_matches("-amd64").trim_end_matches("-arm64");
            let key = (
                version.to_owned(),
                c["scheduler"].as_str().unwrap().to_owned(),
            );
            (key, c["variant"].as_str().map(str::to_owned))
        })
        .collect()
}

/// The shipped schedulers (the folders of `bpf-objects` with a source
/// manifest) and every object in them.
fn shipped_objects(dir: &Path) -> (usize, Vec<PathBuf>) {
    let mut schedulers = 0;
    let mut objects = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let folder = entry.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        let files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        if files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "json"))
        {
            schedulers += 1;
        }
        objects.extend(
            files
                .into_iter()
                .filter(|f| f.to_string_lossy().ends_with(".bpf.o")),
        );
    }
    assert!(!objects.is_empty(), "no objects in {}", dir.display());
    (schedulers, objects)
}

#[test]
fn the_shipped_package_is_predicted_alike_on_arm64_and_x86_64() {
    let Some(dir) = common::arm64_kernels() else {
        return;
    };
    let Some(x86) = common::kernels() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = common::temp_dir("arm64-shipped");
    let pkg = work.join("scxpack-schedulers.scxpkg");
    let (code, _, err) = common::scxpack(&[
        "pack",
        root.join("bpf-objects").to_str().unwrap(),
        "-o",
        pkg.to_str().unwrap(),
        "--name",
        "scxpack-schedulers",
    ]);
    assert_eq!(code, 0, "pack: {err}");
    let (schedulers, objects) = shipped_objects(&root.join("bpf-objects"));
    for path in &objects {
        let (code, out, err) = common::scxpack(&["inspect", path.to_str().unwrap()]);
        assert_eq!(code, 0, "inspect {}: {err}", path.display());
        assert!(
            out.contains("arch:       neutral"),
            "{} is not architecture-neutral:\n{out}",
            path.display()
        );
    }
    let on_arm64 = check_cells(&pkg, &[dir]);
    let x86_same: Vec<PathBuf> = KERNELS.iter().map(|k| x86.join(k)).collect();
    let on_x86 = check_cells(&pkg, &x86_same);
    assert_eq!(on_arm64.len(), KERNELS.len() * schedulers, "{on_arm64:?}");
    assert!(
        on_arm64.values().all(Option::is_some),
        "every shipped scheduler must load on every arm64 kernel: {on_arm64:?}"
    );
    assert_eq!(
        on_arm64, on_x86,
        "arm64 and x86_64 kernels of one release differ"
    );
}

#[test]
fn an_object_reading_x86_registers_is_flagged_and_refused_on_arm64() {
    let (Some(dir), Some(x86)) = (common::arm64_kernels(), common::vmlinuz("6.16.3+deb13")) else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = common::temp_dir("arm64-x86-object");
    let built = Command::new("make")
        .args(["-s", "-C"])
        .arg(root.join("tests/fixtures/arch"))
        .arg(format!("OUT={}", work.display()))
        .status()
        .expect("run make (clang-16 from .ci/setup)");
    assert!(built.success(), "building tests/fixtures/arch failed");
    let obj = work.join("x86_regs.bpf.o");
    let (code, out, err) = common::scxpack(&["inspect", obj.to_str().unwrap()]);
    assert_eq!(code, 0, "inspect: {err}");
    assert!(
        out.contains(
            "arch:       x86_64 only: CO-RE FieldByteOffset of pt_regs.di in count_getpid"
        ) && out.contains("attaches to __x64_sys_*"),
        "{out}"
    );
    let arm = image(&dir, "6.16.3+deb13");
    let mut args = vec![
        "check",
        "--json",
        "--no-cache",
        obj.to_str().unwrap(),
        "--kernel",
    ];
    args.extend([arm.to_str().unwrap(), x86.to_str().unwrap()]);
    let (_, out, err) = common::scxpack(&args);
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let cell = |arch: &str| {
        doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kernel"].as_str().unwrap().ends_with(arch))
            .unwrap_or_else(|| panic!("no {arch} cell"))
            .clone()
    };
    assert_eq!(
        cell("-amd64")["loadable"],
        true,
        "x86_64: {}",
        cell("-amd64")
    );
    let arm_cell = cell("-arm64");
    assert_eq!(arm_cell["loadable"], false);
    let reason = &arm_cell["variants"][0]["reasons"][0];
    assert_eq!(reason["kind"], "wrong_architecture", "{arm_cell}");
    assert_eq!(reason["object_arch"], "x86_64");
    assert_eq!(reason["kernel_arch"], "arm64");
}

/// Without an arm64 scxpack, `vmtest` on an arm64 kernel stops before
/// booting anything and says how to get one.
#[test]
fn vmtest_names_what_an_arm64_kernel_needs() {
    let Some(dir) = common::arm64_kernels() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let obj = root.join("bpf-objects/fifo/fifo.bpf.o");
    let kernel = image(&dir, "6.16.3+deb13");
    let (code, _, err) = common::scxpack(&[
        "vmtest",
        obj.to_str().unwrap(),
        "--kernel",
        kernel.to_str().unwrap(),
    ]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("is an arm64 kernel, but no arm64 scxpack binary was given"),
        "{err}"
    );
    assert!(err.contains("--arm64-scxpack"), "{err}");
    assert!(err.contains("packaging/cross-arm64.sh"), "{err}");
}
