//! Hostile inputs (issue #18): each is generated here, fed to the `scxpack`
//! binary in a child process under an address-space limit
//! ([`MEMORY_LIMIT`], via util-linux `prlimit`) and a time limit
//! ([`TIME_LIMIT`]), and must end in one clear error line, never an abort.
//! An allocation failure or a timeout fails the test instead of the machine.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Address space each run may use: the documented bound (docs/limits.md).
const MEMORY_LIMIT: u64 = 2 << 30;
/// Wall time each run may take.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// How a bounded run ended.
#[derive(Debug)]
struct Outcome {
    /// Exit code; `None` when killed by a signal (an abort) or the time limit.
    code: Option<i32>,
    stdout: String,
    /// The first 4 KiB of stderr (enough to judge; a backtrace is longer).
    stderr: String,
    stderr_len: usize,
    elapsed: Duration,
}

impl Outcome {
    /// Exit status 1 with a one-line `scxpack: error:` containing `words`.
    #[track_caller]
    fn assert_clear_error(&self, words: &[&str]) {
        assert_eq!(self.code, Some(1), "expected a clear error: {self:#?}");
        let first = self.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("scxpack: error: "), "{self:#?}");
        assert!(
            self.stderr_len < 4096,
            "error text is {} bytes: {self:#?}",
            self.stderr_len
        );
        for w in words {
            assert!(self.stderr.contains(w), "expected {w:?} in {self:#?}");
        }
    }

    /// Exit status 0.
    #[track_caller]
    fn assert_success(&self) {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
    }
}

/// Runs `scxpack args` under [`MEMORY_LIMIT`] and [`TIME_LIMIT`], with
/// stdout and stderr going to files (an error of hundreds of MB cannot
/// block a pipe). Returns `None` (skipped) without `prlimit` outside CI.
fn bounded(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Option<Outcome> {
    if Command::new("prlimit").arg("--version").output().is_err() {
        return common::missing("prlimit (util-linux)");
    }
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let start = Instant::now();
    let mut child = Command::new("prlimit")
        .arg(format!("--as={MEMORY_LIMIT}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_scxpack"))
        .args(args)
        .envs(env.iter().copied())
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .expect("run prlimit");
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > TIME_LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read(&err_path).unwrap();
    let head = &stderr[..stderr.len().min(4096)];
    Some(Outcome {
        code,
        stdout: String::from_utf8_lossy(&std::fs::read(&out_path).unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(head).into_owned(),
        stderr_len: stderr.len(),
        elapsed: start.elapsed(),
    })
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Little-endian u32 words as bytes.
fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// The 98-byte raw BTF of issue #18: `int`, a FUNC_PROTO whose return type
/// and two parameters are itself, and a FUNC `scx_bpf_loop` of it.
fn looping_proto_btf() -> Vec<u8> {
    let strings = b"\0int\0scx_bpf_loop\0";
    let mut types = words(&[1, 1 << 24, 4, (1 << 24) | 32]);
    types.extend(words(&[0, (13 << 24) | 2, 2, 0, 2, 0, 2]));
    types.extend(words(&[5, (12 << 24) | 1, 2]));
    raw_btf(&types, strings)
}

/// A raw BTF blob (header, type section, string section).
fn raw_btf(types: &[u8], strings: &[u8]) -> Vec<u8> {
    let (tl, sl) = (types.len() as u32, strings.len() as u32);
    let mut out = vec![0x9f, 0xeb, 1, 0];
    out.extend(words(&[24, 0, tl, tl, sl]));
    out.extend_from_slice(types);
    out.extend_from_slice(strings);
    out
}

#[test]
fn btf_prototype_cycle_renders_as_a_loop() {
    let dir = common::temp_dir("hostile-btf-loop");
    let btf = looping_proto_btf();
    assert_eq!(btf.len(), 98);
    let f = write(&dir, "loop.btf", &btf);
    let Some(run) = bounded(&dir, &["probe", "--kernel", &s(&f), "--json"], &[]) else {
        return;
    };
    run.assert_success();
    assert!(run.elapsed < Duration::from_secs(10), "{run:#?}");
    assert!(
        run.stdout.contains("<loop> scx_bpf_loop(<loop>, <loop>)"),
        "{run:#?}"
    );
}

/// Offsets of one BTF type: where it starts, its kind, name, `size_or_type`.
struct RawType {
    at: usize,
    kind: u32,
    name: u32,
    target: u32,
    vlen: usize,
}

/// Every type of the BTF blob at `btf` (header at offset 0).
fn raw_types(btf: &[u8]) -> Vec<RawType> {
    let word = |at: usize| u32::from_le_bytes(btf[at..at + 4].try_into().unwrap());
    let (start, len) = (24 + word(8) as usize, word(12) as usize);
    let mut out = Vec::new();
    let mut at = start;
    while at < start + len {
        let info = word(at + 4);
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        let extra = match kind {
            1 | 14 | 17 => 4,
            3 => 12,
            4 | 5 | 19 => 12 * vlen,
            6 | 13 | 15 => 8 * vlen,
            _ => 0,
        };
        out.push(RawType {
            at,
            kind,
            name: word(at),
            target: word(at + 8),
            vlen,
        });
        at += 12 + extra;
    }
    out
}

/// `interactive.bpf.o` with its `s32` typedef pointed at a FUNC_PROTO that
/// returns and takes `s32`: a cycle through a real object's kfunc prototypes.
fn object_with_typedef_cycle() -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/interactive/interactive.bpf.o");
    let mut obj = std::fs::read(path).unwrap();
    let header = [0x9f, 0xeb, 1, 0, 24, 0, 0, 0];
    let base = obj
        .windows(8)
        .position(|w| w == header)
        .expect("the object has .BTF");
    let btf = &obj[base..];
    let word = |at: usize| u32::from_le_bytes(btf[at..at + 4].try_into().unwrap());
    let strings = 24 + word(16) as usize;
    let name = |off: u32| {
        let s = &btf[strings + off as usize..];
        &s[..s.iter().position(|&b| b == 0).unwrap()]
    };
    let types = raw_types(btf);
    let s32 = 1 + types
        .iter()
        .position(|t| t.kind == 8 && name(t.name) == b"s32")
        .expect("typedef s32") as u32;
    let takes_s32 = |t: &RawType| (0..t.vlen).any(|i| word(t.at + 12 + 8 * i + 4) == s32);
    let proto = 1 + types
        .iter()
        .position(|t| t.kind == 13 && t.target == s32 && takes_s32(t))
        .expect("a prototype returning and taking s32") as u32;
    let at = base + types[s32 as usize - 1].at + 8;
    obj[at..at + 4].copy_from_slice(&proto.to_le_bytes());
    obj
}

#[test]
fn btf_typedef_cycle_in_a_real_object_ends_quickly() {
    let dir = common::temp_dir("hostile-btf-object");
    let f = write(&dir, "cycle.bpf.o", &object_with_typedef_cycle());
    let Some(run) = bounded(&dir, &["inspect", &s(&f), "--json"], &[]) else {
        return;
    };
    assert!(run.elapsed < Duration::from_secs(10), "{run:#?}");
    assert!(
        run.code == Some(0) || run.code == Some(1),
        "aborted: {run:#?}"
    );
    assert!(!run.stderr.contains("memory allocation"), "{run:#?}");
}

/// A valid manifest (as JSON) of one scheduler around `fifo.bpf.o`, whose
/// object is at `objects/fifo.bpf.o`, and the object's bytes.
fn fifo_manifest() -> (serde_json::Value, Vec<u8>) {
    let obj = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o");
    let package = scxpack::package::Package::from_object(&obj).unwrap();
    let bytes = std::fs::read(&obj).unwrap();
    let mut m = serde_json::to_value(&package.manifest).unwrap();
    m["name"] = "hostile".into();
    m["version"] = "1".into();
    m["schedulers"][0]["variants"][0]["object"] = "objects/fifo.bpf.o".into();
    (m, bytes)
}

/// A `.scxpkg`: gzip of a ustar archive of `(path, data, mode)` entries.
fn scxpkg(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, data, mode) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append(&h, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// A package of `manifest` (given as JSON text) and the fifo object at
/// every path in `objects`.
fn package_with(manifest: &str, object: &[u8], objects: &[&str]) -> Vec<u8> {
    let mut entries = vec![("manifest.json", manifest.as_bytes(), 0o644)];
    entries.extend(objects.iter().map(|p| (*p, object, 0o644)));
    scxpkg(&entries)
}

/// Runs `scxpack CMD PKG` on `bytes` written to DIR/NAME.scxpkg.
fn on_package(dir: &Path, name: &str, bytes: &[u8], cmd: &str) -> Option<Outcome> {
    let f = write(dir, &format!("{name}.scxpkg"), bytes);
    bounded(dir, &[cmd, &s(&f)], &[])
}

#[test]
fn every_reader_refuses_what_install_refuses() {
    let dir = common::temp_dir("hostile-manifest");
    let (good, object) = fifo_manifest();
    let one = ["objects/fifo.bpf.o"];
    let ok = package_with(&good.to_string(), &object, &one);
    let Some(run) = on_package(&dir, "ok", &ok, "info") else {
        return;
    };
    run.assert_success();
    let mut cases: Vec<(&str, serde_json::Value, &str)> = Vec::new();
    let mut m = good.clone();
    m["name"] = "../evil".into();
    cases.push(("name", m, "package name \"../evil\" is not allowed"));
    let mut m = good.clone();
    m["name"] = "n".repeat(1 << 20).into();
    cases.push(("long-name", m, "(1048576 bytes) is not allowed"));
    let mut m = good.clone();
    m["version"] = "a/b".into();
    cases.push(("version", m, "package version \"a/b\""));
    let mut m = good.clone();
    m["schedulers"][0]["name"] = "../x".into();
    cases.push(("scheduler", m, "scheduler name \"../x\""));
    let mut m = good.clone();
    m["schedulers"][0]["variants"][0]["name"] = "v/1".into();
    cases.push(("variant", m, "variant name \"v/1\""));
    let mut m = good.clone();
    m["schedulers"][0]["variants"][0]["requirements"]["struct_ops"] = serde_json::json!([]);
    cases.push(("no-struct-ops", m, "no struct_ops map"));
    let mut m = good.clone();
    let mut second = m["schedulers"][0]["variants"][0].clone();
    second["name"] = "second".into();
    second["size"] = 12.into();
    second["sha256"] = "00".repeat(32).into();
    m["schedulers"][0]["variants"]
        .as_array_mut()
        .unwrap()
        .push(second);
    cases.push(("shared-object", m, "another size or sha256"));
    for (name, manifest, words) in &cases {
        let bytes = package_with(&manifest.to_string(), &object, &one);
        for cmd in ["info", "verify", "install"] {
            let Some(run) = on_package(&dir, name, &bytes, cmd) else {
                return;
            };
            eprintln!("{name} {cmd}: {}", run.stderr.trim_end());
            run.assert_clear_error(&[words]);
        }
    }
}

#[test]
fn duplicate_manifest_keys_are_refused() {
    let dir = common::temp_dir("hostile-dup-keys");
    let (good, object) = fifo_manifest();
    let text = good.to_string();
    let twice = text.replacen('{', "{\"name\":\"other\",", 1);
    assert_ne!(text, twice);
    let bytes = package_with(&twice, &object, &["objects/fifo.bpf.o"]);
    for cmd in ["info", "verify"] {
        let Some(run) = on_package(&dir, "dup", &bytes, cmd) else {
            return;
        };
        run.assert_clear_error(&["duplicate key \"name\""]);
    }
    let nested = text.replacen("\"sha256\":", "\"size\":1,\"sha256\":", 1);
    let bytes = package_with(&nested, &object, &["objects/fifo.bpf.o"]);
    let Some(run) = on_package(&dir, "dup-nested", &bytes, "verify") else {
        return;
    };
    run.assert_clear_error(&["duplicate key \"size\""]);
}

#[test]
fn a_path_that_is_a_file_and_a_directory_is_refused() {
    let dir = common::temp_dir("hostile-file-dir");
    let (mut m, object) = fifo_manifest();
    let mut second = m["schedulers"][0]["variants"][0].clone();
    second["name"] = "inner".into();
    second["object"] = "objects/a/b".into();
    m["schedulers"][0]["variants"][0]["object"] = "objects/a".into();
    m["schedulers"][0]["variants"]
        .as_array_mut()
        .unwrap()
        .push(second);
    let bytes = package_with(&m.to_string(), &object, &["objects/a", "objects/a/b"]);
    let Some(run) = on_package(&dir, "file-dir", &bytes, "verify") else {
        return;
    };
    run.assert_clear_error(&["objects/a/b", "both a file and a directory"]);
}

#[test]
fn a_failed_install_removes_its_staging_and_leaves_what_is_in_the_way() {
    let dir = common::temp_dir("hostile-staging");
    let (m, object) = fifo_manifest();
    let pkg = write(
        &dir,
        "ok.scxpkg",
        &package_with(&m.to_string(), &object, &["objects/fifo.bpf.o"]),
    );
    let root = dir.join("root");
    // The administrator's packages (docs/install-layout.md).
    let packages = root.join("var/lib/scxpack/packages");
    std::fs::create_dir_all(&packages).unwrap();
    // `packages/hostile` is a file: the staged copy cannot be moved there.
    std::fs::write(packages.join("hostile"), b"in the way").unwrap();
    let Some(run) = bounded(&dir, &["install", &s(&pkg), "--root", &s(&root)], &[]) else {
        return;
    };
    // The file in the way is named, and left alone.
    run.assert_clear_error(&["hostile", "is not a package directory"]);
    assert_eq!(
        std::fs::read(packages.join("hostile")).unwrap(),
        b"in the way"
    );
    let staging = packages.join(".staging");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "staging left behind: {left:?}");
}

#[test]
fn setuid_entries_and_oversized_manifest_fields_are_refused() {
    let dir = common::temp_dir("hostile-bounds");
    let (good, object) = fifo_manifest();
    let json = good.to_string();
    let setuid = scxpkg(&[
        ("manifest.json", json.as_bytes(), 0o644),
        ("objects/fifo.bpf.o", &object, 0o4755),
    ]);
    let Some(run) = on_package(&dir, "setuid", &setuid, "verify") else {
        return;
    };
    run.assert_clear_error(&["objects/fifo.bpf.o", "setuid"]);

    let mut m = good.clone();
    m["schedulers"][0]["description"] = "d".repeat(15 << 20).into();
    let bytes = package_with(&m.to_string(), &object, &["objects/fifo.bpf.o"]);
    let Some(run) = on_package(&dir, "description", &bytes, "info") else {
        return;
    };
    run.assert_clear_error(&["description is 15728640 bytes, over the limit of 4096"]);

    let mut m = good;
    let params: Vec<_> = (0..100_000)
        .map(|i| serde_json::json!({"name": format!("p{i}"), "type": "u32", "default": 0}))
        .collect();
    m["schedulers"][0]["parameters"] = params.into();
    let bytes = package_with(&m.to_string(), &object, &["objects/fifo.bpf.o"]);
    let Some(run) = on_package(&dir, "parameters", &bytes, "info") else {
        return;
    };
    run.assert_clear_error(&["100000 parameters, over the limit of 256"]);
    assert!(run.elapsed < Duration::from_secs(3), "{run:#?}");
}

// ------------------------------------------------------- kernel sources

/// A part of a hand-made zstd frame: bytes as they are, or one byte repeated
/// (an RLE block costs 4 bytes per 128 KiB, so gigabytes cost nothing here).
enum Part<'a> {
    Raw(&'a [u8]),
    Repeat(u8, u64),
}

/// One zstd frame of raw and RLE blocks (RFC 8878): no checksum, no
/// content size, a 128 KiB window.
fn zstd_frame(parts: &[Part<'_>]) -> Vec<u8> {
    const BLOCK: u64 = 128 << 10;
    let mut blocks: Vec<(u32, u64, &[u8])> = Vec::new(); // (type, size, content)
    for part in parts {
        match part {
            Part::Raw(bytes) => {
                for chunk in bytes.chunks(BLOCK as usize) {
                    blocks.push((0, chunk.len() as u64, chunk));
                }
            }
            Part::Repeat(byte, n) => {
                let mut n = *n;
                while n > 0 {
                    let size = n.min(BLOCK);
                    blocks.push((1, size, std::slice::from_ref(byte)));
                    n -= size;
                }
            }
        }
    }
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3];
    let last = blocks.len().saturating_sub(1);
    for (i, (kind, size, content)) in blocks.into_iter().enumerate() {
        let header = u32::from(i == last) | (kind << 1) | ((size as u32) << 3);
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(content);
    }
    out
}

/// A 512-byte ustar (or GNU) tar header.
fn tar_header(name: &[u8], kind: tar::EntryType, size: u64) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    let field = &mut h.as_old_mut().name;
    let n = name.len().min(100);
    field[..n].copy_from_slice(&name[..n]);
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// Zero padding after `len` bytes of entry data, to the next 512 bytes.
fn tar_padding(len: u64) -> Vec<u8> {
    vec![0; (len.div_ceil(512) * 512 - len) as usize]
}

/// An `ar` archive (a `.deb`) of `members`: each a 60-byte header (name,
/// mtime, uid, gid, mode, size, end marker) and its data padded to even.
fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        let size = data.len();
        out.extend(
            format!(
                "{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n",
                0, 0, 0, 100_644
            )
            .bytes(),
        );
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(2), b'\n');
    }
    out
}

/// A `.deb` whose `data.tar.zst` is `data` (a zstd frame).
fn deb(data: &[u8]) -> Vec<u8> {
    ar(&[("debian-binary", b"2.0\n"), ("data.tar.zst", data)])
}

/// A pax extended header's data: one `path` record.
fn pax_path(name: &[u8]) -> Vec<u8> {
    let body = [b" path=".as_slice(), name, b"\n"].concat();
    let mut len = body.len() + 1;
    while len.to_string().len() + body.len() != len {
        len += 1;
    }
    [len.to_string().as_bytes(), &body].concat()
}

#[test]
fn deb_long_names_are_bounded() {
    let dir = common::temp_dir("hostile-deb-names");
    // 30 entries named by 100 KiB GNU long-name or pax records.
    let mut tar = Vec::new();
    for i in 0..30u32 {
        let name = [format!("{i:03}").as_bytes(), &vec![b'n'; 100 << 10]].concat();
        let (kind, record) = if i % 2 == 0 {
            (
                tar::EntryType::GNULongName,
                [name.as_slice(), b"\0"].concat(),
            )
        } else {
            (tar::EntryType::XHeader, pax_path(&name))
        };
        tar.extend(tar_header(b"././@LongLink", kind, record.len() as u64));
        tar.extend_from_slice(&record);
        tar.extend(tar_padding(record.len() as u64));
        tar.extend(tar_header(b"short", tar::EntryType::Regular, 0));
    }
    tar.extend_from_slice(&[0; 1024]);
    let f = write(&dir, "names.deb", &deb(&zstd_frame(&[Part::Raw(&tar)])));
    let Some(run) = bounded(&dir, &["probe", "--kernel", &s(&f)], &[]) else {
        return;
    };
    run.assert_clear_error(&["over the 65536-byte limit"]);

    // One 3 GiB GNU long name: refused from its header, nothing is read.
    let huge = 3u64 << 30;
    let header = tar_header(b"././@LongLink", tar::EntryType::GNULongName, huge);
    let frame = zstd_frame(&[Part::Raw(&header), Part::Repeat(b'n', huge)]);
    let f = write(&dir, "huge-name.deb", &deb(&frame));
    let Some(run) = bounded(&dir, &["probe", "--kernel", &s(&f)], &[]) else {
        return;
    };
    run.assert_clear_error(&["3221225472-byte long-name or pax record"]);
    assert!(run.elapsed < Duration::from_secs(5), "{run:#?}");
}

/// The first 4 KiB of a bzImage: "HdrS", boot protocol 2.15, one setup
/// sector, the payload right after it with `payload_len` bytes.
fn bzimage_header(payload_len: u32) -> Vec<u8> {
    let mut h = vec![0u8; 1024];
    h[0x1f1] = 1;
    h[0x202..0x206].copy_from_slice(b"HdrS");
    h[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    h[0x24c..0x250].copy_from_slice(&payload_len.to_le_bytes());
    h
}

#[test]
fn deb_kernel_images_are_read_once_and_bounded() {
    let dir = common::temp_dir("hostile-deb-image");
    // A 1 GiB "vmlinuz": refused from its tar header (over 256 MiB).
    let size = 1u64 << 30;
    let mut head = bzimage_header(0);
    head.resize(4096, 0);
    let member = tar_header(b"boot/vmlinuz-6.16", tar::EntryType::Regular, size);
    let frame = zstd_frame(&[
        Part::Raw(&member),
        Part::Raw(&head),
        Part::Repeat(0, size - head.len() as u64),
        Part::Repeat(0, 1024),
    ]);
    let f = write(&dir, "big-vmlinuz.deb", &deb(&frame));
    let Some(run) = bounded(&dir, &["probe", "--kernel", &s(&f)], &[]) else {
        return;
    };
    run.assert_clear_error(&["boot/vmlinuz-6.16", "over the 268435456-byte limit"]);
    assert!(run.elapsed < Duration::from_secs(5), "{run:#?}");

    // A 768 MiB "vmlinux" (ELF, like -dbg packages): within the limit, held
    // once (twice would not fit in the address-space limit), then refused.
    let size = 768u64 << 20;
    let member = tar_header(
        b"usr/lib/debug/boot/vmlinux-6.16",
        tar::EntryType::Regular,
        size,
    );
    let frame = zstd_frame(&[
        Part::Raw(&member),
        Part::Raw(b"\x7fELF\x02\x01\x01"),
        Part::Repeat(0, size - 7),
        Part::Repeat(0, 1024),
    ]);
    let f = write(&dir, "big-vmlinux.deb", &deb(&frame));
    let Some(run) = bounded(&dir, &["probe", "--kernel", &s(&f)], &[]) else {
        return;
    };
    run.assert_clear_error(&["usr/lib/debug/boot/vmlinux-6.16"]);
}

/// A gzip stream that inflates to `len` zero bytes (rounded up to 258), from
/// one fixed-Huffman deflate block of length-258, distance-1 matches: about
/// 1/160 of its output. Its CRC is not that of the output: a reader that
/// stops at a limit never gets there.
fn gzip_zeros(len: u64) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let (mut acc, mut bits) = (0u64, 0u32);
    let mut put = |out: &mut Vec<u8>, value: u64, n: u32| {
        acc |= value << bits;
        bits += n;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    };
    // Huffman codes are written most significant bit first.
    let reversed = |code: u64, n: u32| (0..n).fold(0, |r, i| r | ((code >> i) & 1) << (n - 1 - i));
    put(&mut out, 1, 1); // final block
    put(&mut out, 1, 2); // fixed Huffman
    put(&mut out, reversed(0x30, 8), 8); // literal 0
    for _ in 0..len.div_ceil(258) {
        put(&mut out, reversed(0xc5, 8), 8); // length code 285: 258 bytes
        put(&mut out, 0, 5); // distance code 0: distance 1
    }
    put(&mut out, 0, 7); // end of block (code 256)
    put(&mut out, 0, 7); // flush
    out.extend_from_slice(&[0; 8]); // CRC32 and size, deliberately wrong
    out
}

/// A bzImage whose gzip payload inflates to `len` zeros and declares
/// `declared` bytes.
fn gzip_bomb_bzimage(len: u64, declared: u32) -> Vec<u8> {
    let mut payload = gzip_zeros(len);
    payload.extend_from_slice(&declared.to_le_bytes());
    let mut image = bzimage_header(payload.len() as u32);
    image.extend_from_slice(&payload);
    image
}

#[test]
fn decompression_limits_are_named_and_configurable() {
    let dir = common::temp_dir("hostile-limits");
    // Past the default 1 GiB limit, under the 2 GiB address-space limit.
    let bomb = write(
        &dir,
        "bomb",
        &gzip_bomb_bzimage((1 << 30) + (1 << 20), 60 << 20),
    );
    let Some(run) = bounded(&dir, &["probe", "--kernel", &s(&bomb)], &[]) else {
        return;
    };
    run.assert_clear_error(&[
        "gzip payload decompresses to more than the 1073741824-byte decompression limit",
        "SCXPACK_MAX_DECOMPRESSED",
    ]);
    let small = write(&dir, "small-bomb", &gzip_bomb_bzimage(16 << 20, 1 << 20));
    let env = [("SCXPACK_MAX_DECOMPRESSED", "4M")];
    let Some(run) = bounded(&dir, &["probe", "--kernel", &s(&small)], &env) else {
        return;
    };
    run.assert_clear_error(&["more than the 4194304-byte decompression limit"]);
    let env = [("SCXPACK_MAX_DECOMPRESSED", "lots")];
    let Some(run) = bounded(&dir, &["probe", "--kernel", &s(&small)], &env) else {
        return;
    };
    run.assert_clear_error(&["SCXPACK_MAX_DECOMPRESSED=\"lots\"", "K, M or G suffix"]);
}

#[test]
fn deb_whose_md5sums_lists_no_kernel_is_not_decompressed() {
    let dir = common::temp_dir("hostile-deb-md5sums");
    let sums = b"00000000000000000000000000000000  usr/share/doc/x/README\n";
    let mut control = tar_header(b"./md5sums", tar::EntryType::Regular, sums.len() as u64);
    control.extend_from_slice(sums);
    control.extend(tar_padding(sums.len() as u64));
    control.extend_from_slice(&[0; 1024]);
    let control = zstd_frame(&[Part::Raw(&control)]);
    // data.tar.xz is garbage: reading it would be an xz error, or 4 GiB of work.
    let data = [&[0xfd, b'7', b'z', b'X', b'Z', 0][..], &[0x55; 64]].concat();
    let f = write(
        &dir,
        "docs.deb",
        &ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.zst", &control),
            ("data.tar.xz", &data),
        ]),
    );
    let Some(run) = bounded(&dir, &["probe", "--kernel", &s(&f)], &[]) else {
        return;
    };
    run.assert_clear_error(&["holds no kernel", "top level: usr/"]);
}

/// A raw BTF of `int`, then `n` types alternately PTR and CONST, each to
/// the next (the last back to the first of the chain): nesting far past the 64-hop
/// bound, closed into a loop, plus a FUNC_PROTO taking the chain's head and
/// a FUNC `scx_bpf_deep` of it (so the C renderer walks it).
fn deep_chain_btf(n: u32) -> Vec<u8> {
    let strings = b"\0int\0scx_bpf_deep\0";
    let mut types = words(&[1, 1 << 24, 4, (1 << 24) | 32]);
    let first = 2;
    for i in 0..n {
        let kind = if i % 2 == 0 { 2u32 } else { 10 }; // PTR, CONST
        let next = if i + 1 == n { first } else { first + i + 1 };
        types.extend(words(&[0, kind << 24, next]));
    }
    let proto = first + n;
    types.extend(words(&[0, (13 << 24) | 1, first, 0, first]));
    types.extend(words(&[5, (12 << 24) | 1, proto]));
    raw_btf(&types, strings)
}

/// Deep nesting and endless type-graph loops, each stopped within its bound
/// (docs/limits.md: 64 hops per chain, 4096 types and 256 KiB per rendered
/// type; serde_json's 128-level recursion limit for manifests): the run
/// ends in seconds under the memory limit with a result or one clear error.
#[test]
fn deep_nesting_and_type_graph_loops_are_stopped_within_their_bounds() {
    let dir = common::temp_dir("hostile-deep");
    // 100 000 chained types closed into a loop: probe renders the kfunc.
    let f = write(&dir, "deep.btf", &deep_chain_btf(100_000));
    let Some(run) = bounded(&dir, &["probe", "--kernel", &s(&f), "--json"], &[]) else {
        return;
    };
    run.assert_success();
    assert!(run.elapsed < Duration::from_secs(20), "{run:#?}");
    assert!(run.stdout.contains("scx_bpf_deep("), "{run:#?}");
    assert!(
        run.stdout.contains("<loop>") || run.stdout.contains("<too complex>"),
        "the chain must be cut: {run:#?}"
    );
    assert!(
        run.stdout.len() < 1 << 20,
        "output of {} bytes",
        run.stdout.len()
    );
    // Deeply nested JSON in a manifest: refused by the parser's recursion
    // limit, not by the stack.
    let (mut m, object) = fifo_manifest();
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    m["provenance"]["compiler"] = "PLACEHOLDER".into();
    let text = serde_json::to_string(&m)
        .unwrap()
        .replace("\"PLACEHOLDER\"", &deep);
    let pkg = package_with(&text, &object, &["objects/fifo.bpf.o"]);
    let Some(run) = on_package(&dir, "nested", &pkg, "verify") else {
        return;
    };
    run.assert_clear_error(&["invalid manifest.json", "recursion limit"]);
    assert!(run.elapsed < Duration::from_secs(10), "{run:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}
