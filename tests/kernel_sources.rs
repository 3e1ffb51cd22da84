//! Kernel sources → BTF, against the real kernel matrix (`$SCXPACK_TEST_KERNELS`
//! or `../shared/kernels` beside the crate) and against inputs built here from
//! it: ELF vmlinux, raw BTF, xz and lz4 payloads, `.deb` packages (built with
//! `dpkg-deb`), and broken or hostile files.
//!
//! Expected BTF is obtained independently of scxpack (`zstd` CLI + `objcopy`).
//! A missing kernel directory or tool skips the test with a message, except
//! under `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use scxpack::kernel::source::{
    BTF_MAGIC_LE, BtfCache, CacheOutcome, Compression, Format, KernelBtf, SourceError, SourceKind,
    find_kernels, read_kernel_bytes, read_kernel_bytes_with_limit, read_kernel_cached,
    read_kernel_cached_with_outcome, read_kernel_file, sniff,
};

/// The kernel matrix: folder, release in the bzImage header, payload compression.
const MATRIX: &[(&str, &str, Compression)] = &[
    ("6.12.117+deb13", "6.12.117+deb13-amd64", Compression::Zstd),
    ("6.12.117-scx", "6.12.117", Compression::Gzip),
    ("6.16.3+deb13", "6.16.3+deb13-amd64", Compression::Zstd),
    ("6.17.13+deb13", "6.17.13+deb13-amd64", Compression::Zstd),
    ("6.18.15+deb13", "6.18.15+deb13-amd64", Compression::Zstd),
    ("6.19.14+deb13", "6.19.14+deb13-amd64", Compression::Zstd),
    ("7.0.13+deb13", "7.0.13+deb13-amd64", Compression::Zstd),
    ("7.1.13+deb13", "7.1.13+deb13-amd64", Compression::Zstd),
    ("7.2.13+deb14", "7.2.13+deb14-amd64", Compression::Zstd),
    (
        "7.2.13+deb14-rt",
        "7.2.13+deb14-rt-amd64",
        Compression::Zstd,
    ),
];

/// The kernel most derived inputs are built from (smallest zstd image).
const BASE: &str = "6.12.117+deb13";
const BASE_RELEASE: &str = "6.12.117+deb13-amd64";

// ---------------------------------------------------------------- helpers

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (prints why) outside CI, fails in CI.
#[track_caller]
fn skip(why: &str) {
    assert!(!in_ci(), "CI=true but {why}");
    eprintln!("SKIPPED: {why}");
}

/// The kernel matrix directory, or `None` (after `skip`) when it is missing.
fn kernels_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SCXPACK_TEST_KERNELS").map_or_else(
        || {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest.parent().unwrap_or(manifest).join("shared/kernels")
        },
        PathBuf::from,
    );
    if dir.is_dir() {
        Some(dir)
    } else {
        skip(&format!("kernel directory {} is missing", dir.display()));
        None
    }
}

fn base_kernel() -> Option<PathBuf> {
    let path = kernels_dir()?.join(BASE).join("vmlinuz");
    if path.is_file() {
        Some(path)
    } else {
        skip(&format!("{} is missing", path.display()));
        None
    }
}

/// Whether `tool` runs; if not, `skip`.
fn have_tool(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip(&format!("`{tool}` is not installed"));
    }
    ok
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("scxpack-ks-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        path
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[track_caller]
fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Where the payload of a bzImage starts (recomputed here from the header).
fn payload_start(image: &[u8]) -> usize {
    let sects = match image[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    (sects + 1) * 512 + le_u32(image, 0x248) as usize
}

/// Asserts the error is one line naming the file.
#[track_caller]
fn assert_one_line(err: &SourceError, path: &Path) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "multi-line error: {text}");
    assert!(
        text.contains(&path.display().to_string()),
        "error does not name {}: {text}",
        path.display()
    );
}

#[track_caller]
fn assert_btf_equal(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: BTF length differs");
    assert!(got == want, "{what}: BTF bytes differ");
}

/// The base kernel's vmlinux ELF and `.BTF`, extracted WITHOUT scxpack:
/// find the zstd magic, `zstd -dc`, `objcopy --only-section=.BTF`.
struct Independent {
    elf: Vec<u8>,
    btf: Vec<u8>,
}

fn independent() -> Option<&'static Independent> {
    static ONCE: OnceLock<Option<Independent>> = OnceLock::new();
    ONCE.get_or_init(|| {
        let kernel = base_kernel()?;
        if !have_tool("zstd") || !have_tool("objcopy") {
            return None;
        }
        let image = std::fs::read(&kernel).expect("read base kernel");
        let tmp = TempDir::new("independent");
        let elf = decompress_first_zstd_elf(&image, &tmp);
        let elf_path = tmp.write("vmlinux", &elf);
        let btf_path = tmp.path("vmlinux.btf");
        run(Command::new("objcopy")
            .args(["-O", "binary", "--only-section=.BTF"])
            .arg(&elf_path)
            .arg(&btf_path));
        let btf = std::fs::read(&btf_path).expect("read objcopy output");
        Some(Independent { elf, btf })
    })
    .as_ref()
}

/// Tries `zstd -dc` at each zstd magic until the output is an ELF (the CLI
/// complains about the kernel's 4-byte size trailer, so its status is ignored).
fn decompress_first_zstd_elf(image: &[u8], tmp: &TempDir) -> Vec<u8> {
    let magic = [0x28, 0xb5, 0x2f, 0xfd];
    for at in (0..image.len().saturating_sub(4)).filter(|&i| image[i..i + 4] == magic) {
        let input = tmp.write("payload.zst", &image[at..]);
        let out = Command::new("zstd")
            .args(["-dcq"])
            .arg(&input)
            .output()
            .expect("run zstd");
        if out.stdout.starts_with(b"\x7fELF") {
            return out.stdout;
        }
    }
    panic!("no zstd-compressed ELF found in the base kernel");
}

/// A bzImage with the base kernel's setup header and `payload` (plus the
/// kernel's 4-byte size trailer `declared`) in place of its own.
fn synthetic_bzimage(base: &[u8], payload: &[u8], declared: u32) -> Vec<u8> {
    let start = payload_start(base);
    let mut image = base[..start].to_vec();
    image.extend_from_slice(payload);
    image.extend_from_slice(&declared.to_le_bytes());
    let length = u32::try_from(payload.len() + 4).expect("payload fits u32");
    put_u32(&mut image, 0x24c, length);
    image
}

/// Deterministic pseudo-random bytes (xorshift).
fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed.to_le_bytes()[0]
        })
        .collect()
}

// ------------------------------------------------------- the kernel matrix

#[test]
fn every_kernel_gives_its_release_and_btf() {
    let Some(dir) = kernels_dir() else { return };
    for (folder, release, compression) in MATRIX {
        let path = dir.join(folder).join("vmlinuz");
        let start = Instant::now();
        let image = read_kernel_file(&path).unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "{folder}: {} bytes of BTF in {:?}",
            image.btf.len(),
            start.elapsed()
        );
        assert_eq!(
            image.release.as_deref(),
            Some(*release),
            "{folder}: release"
        );
        let want_kind = SourceKind::BzImage {
            compression: *compression,
        };
        assert_eq!(image.kind, want_kind, "{folder}: kind");
        assert!(
            image.btf.starts_with(&BTF_MAGIC_LE),
            "{folder}: no BTF magic"
        );
        let size = image.btf.len();
        assert!(
            (4_500_000..=7_000_000).contains(&size),
            "{folder}: BTF is {size} bytes"
        );
        assert_eq!(image.path, path);
    }
}

#[test]
fn find_kernels_finds_every_vmlinuz_by_content() {
    let Some(dir) = kernels_dir() else { return };
    let found = find_kernels(&dir).unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<PathBuf> = MATRIX
        .iter()
        .map(|(f, ..)| dir.join(f).join("vmlinuz"))
        .collect();
    assert_eq!(found, want, "config files and notes must not be listed");
}

#[test]
fn find_kernels_ignores_names_and_sees_content() {
    let Some(kernel) = base_kernel() else { return };
    let tmp = TempDir::new("find");
    let image = std::fs::read(&kernel).expect("read kernel");
    tmp.write("deep/er/oddly-named.bin", &image);
    tmp.write("vmlinuz-but-random", &random_bytes(10_000, 7));
    tmp.write("vmlinux-empty", b"");
    tmp.write("btf/raw", &[0x9f, 0xeb, 1, 0, 24, 0, 0, 0]);
    tmp.write("btf/bad-version", &[0x9f, 0xeb, 9, 0]);
    let found = find_kernels(&tmp.0).unwrap_or_else(|e| panic!("{e}"));
    let want = vec![tmp.0.join("btf/raw"), tmp.0.join("deep/er/oddly-named.bin")];
    assert_eq!(found, want);
}

#[test]
fn btf_equals_the_independently_extracted_section() {
    let (Some(kernel), Some(ind)) = (base_kernel(), independent()) else {
        return;
    };
    let image = read_kernel_file(&kernel).unwrap_or_else(|e| panic!("{e}"));
    assert_btf_equal(&image.btf, &ind.btf, "bzImage vs zstd+objcopy");
}

/// The streamed decode stops once `.BTF` is whole, so a payload cut short
/// must still fail when the cut is before or inside `.BTF`, never give a
/// partial BTF.
#[test]
fn streamed_payload_cut_before_or_inside_btf_is_an_error() {
    let (Some(kernel), Some(ind)) = (base_kernel(), independent()) else {
        return;
    };
    let base = std::fs::read(&kernel).expect("read kernel");
    let start = ind
        .elf
        .windows(ind.btf.len().min(64))
        .position(|w| w == &ind.btf[..w.len()])
        .expect(".BTF bytes in the ELF");
    let declared = u32::try_from(ind.elf.len()).expect("u32");
    let path = Path::new("cut-vmlinuz");
    for (cut, words) in [
        (start + ind.btf.len() / 2, "ends inside .BTF"),
        (start - 4096, "truncated or corrupt payload"),
    ] {
        let zst = zstd::encode_all(&ind.elf[..cut], 1).expect("zstd");
        let image = synthetic_bzimage(&base, &zst, declared);
        let err = read_kernel_bytes(path, &image).expect_err("a cut payload was accepted");
        assert!(matches!(err, SourceError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(words), "cut at {cut}: {err}");
        assert_one_line(&err, path);
    }
    // Cut right after .BTF: nothing of .BTF is missing, and nothing after it is read.
    let zst = zstd::encode_all(&ind.elf[..start + ind.btf.len()], 1).expect("zstd");
    let image = synthetic_bzimage(&base, &zst, declared);
    let got = read_kernel_bytes(path, &image).unwrap_or_else(|e| panic!("{e}"));
    assert_btf_equal(&got.btf, &ind.btf, "payload cut after .BTF");
}

#[test]
fn gzip_kernel_matches_gzip_cli() {
    let Some(dir) = kernels_dir() else { return };
    if !have_tool("gzip") || !have_tool("objcopy") {
        return;
    }
    let path = dir.join("6.12.117-scx/vmlinuz");
    let bytes = std::fs::read(&path).expect("read gzip kernel");
    let tmp = TempDir::new("gzip");
    let payload = tmp.write("payload.gz", &bytes[payload_start(&bytes)..]);
    // gzip warns about the trailer ("trailing garbage ignored"): status ignored.
    let elf = Command::new("gzip")
        .arg("-dc")
        .arg(&payload)
        .output()
        .expect("gzip");
    assert!(elf.stdout.starts_with(b"\x7fELF"), "gzip CLI gave no ELF");
    let elf_path = tmp.write("vmlinux", &elf.stdout);
    let btf_path = tmp.path("btf");
    run(Command::new("objcopy")
        .args(["-O", "binary", "--only-section=.BTF"])
        .arg(&elf_path)
        .arg(&btf_path));
    let want = std::fs::read(&btf_path).expect("read btf");
    let image = read_kernel_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_btf_equal(&image.btf, &want, "gzip bzImage vs gzip+objcopy");
}

// ------------------------------------------------ ELF vmlinux and raw BTF

#[test]
fn elf_vmlinux_gives_btf_and_banner_release() {
    let Some(ind) = independent() else { return };
    let image = read_kernel_bytes(Path::new("vmlinux"), &ind.elf).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(image.kind, SourceKind::ElfVmlinux);
    assert_eq!(
        image.release.as_deref(),
        Some(BASE_RELEASE),
        "linux_banner release"
    );
    assert_btf_equal(&image.btf, &ind.btf, "ELF vmlinux");
    // From a file, the ELF is read in place (headers, .BTF, .rodata up to
    // the banner): the same answer.
    let tmp = TempDir::new("elf-in-place");
    let path = tmp.write("vmlinux", &ind.elf);
    let from_file = read_kernel_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from_file.kind, SourceKind::ElfVmlinux);
    assert_eq!(from_file.release.as_deref(), Some(BASE_RELEASE));
    assert_btf_equal(&from_file.btf, &ind.btf, "ELF vmlinux read in place");
}

#[test]
fn raw_btf_is_returned_unchanged() {
    let Some(ind) = independent() else { return };
    let image =
        read_kernel_bytes(Path::new("vmlinux.btf"), &ind.btf).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(image.kind, SourceKind::RawBtf);
    assert_eq!(image.release, None);
    assert_btf_equal(&image.btf, &ind.btf, "raw BTF");
    assert_eq!(sniff(&ind.btf), Some(Format::RawBtf));
}

// -------------------------------------------------- other compressions

#[test]
fn xz_payload_with_x86_filter() {
    let (Some(kernel), Some(ind)) = (base_kernel(), independent()) else {
        return;
    };
    if !have_tool("xz") || !have_tool("objcopy") {
        return;
    }
    let tmp = TempDir::new("xz");
    // A small ELF holding only .BTF keeps xz fast; the kernel's own flags otherwise.
    let elf_path = tmp.write("vmlinux", &ind.elf);
    let small = tmp.path("small.elf");
    run(Command::new("objcopy")
        .arg("--only-section=.BTF")
        .arg(&elf_path)
        .arg(&small));
    let xz = run(Command::new("xz")
        .args(["-T1", "--check=crc32", "--x86", "--lzma2=preset=0", "-c"])
        .arg(&small));
    let declared = u32::try_from(std::fs::metadata(&small).expect("stat").len()).expect("u32");
    let base = std::fs::read(&kernel).expect("read base");
    let image = synthetic_bzimage(&base, &xz, declared);
    let got = read_kernel_bytes(Path::new("xz-vmlinuz"), &image).unwrap_or_else(|e| panic!("{e}"));
    let want_kind = SourceKind::BzImage {
        compression: Compression::Xz,
    };
    assert_eq!(got.kind, want_kind);
    assert_eq!(got.release.as_deref(), Some(BASE_RELEASE));
    assert_btf_equal(&got.btf, &ind.btf, "xz payload");
}

#[test]
fn lz4_legacy_payload_from_the_lz4_cli() {
    let (Some(kernel), Some(ind)) = (base_kernel(), independent()) else {
        return;
    };
    if !have_tool("lz4") {
        return;
    }
    let tmp = TempDir::new("lz4");
    let elf_path = tmp.write("vmlinux", &ind.elf);
    // The kernel builds lz4 payloads with `lz4 -l` (legacy frame, 8 MiB blocks).
    let lz4 = run(Command::new("lz4").args(["-l", "-1", "-c"]).arg(&elf_path));
    assert!(
        lz4.starts_with(&[0x02, 0x21, 0x4c, 0x18]),
        "lz4 -l gave no legacy frame"
    );
    let declared = u32::try_from(ind.elf.len()).expect("u32");
    let base = std::fs::read(&kernel).expect("read base");
    let image = synthetic_bzimage(&base, &lz4, declared);
    let got = read_kernel_bytes(Path::new("lz4-vmlinuz"), &image).unwrap_or_else(|e| panic!("{e}"));
    let want_kind = SourceKind::BzImage {
        compression: Compression::Lz4Legacy,
    };
    assert_eq!(got.kind, want_kind);
    assert_btf_equal(&got.btf, &ind.btf, "lz4 payload");
}

// ----------------------------------------------------------------- .deb

/// Builds a `.deb` from `files` (path in package → bytes) with `dpkg-deb`.
fn build_deb(tmp: &TempDir, name: &str, files: &[(&str, &[u8])], compression: &str) -> PathBuf {
    let root = tmp.path(&format!("{name}-root/x"));
    let root = root.parent().expect("root dir").to_path_buf();
    let control = format!(
        "Package: {name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: t <t@example.invalid>\nDescription: test\n"
    );
    tmp.write(&format!("{name}-root/DEBIAN/control"), control.as_bytes());
    let mut md5sums = String::new();
    for (file, bytes) in files {
        tmp.write(&format!("{name}-root/{file}"), bytes);
        md5sums += "00000000000000000000000000000000  ";
        md5sums += file;
        md5sums += "\n";
    }
    tmp.write(&format!("{name}-root/DEBIAN/md5sums"), md5sums.as_bytes());
    let deb = tmp.path(&format!("{name}.deb"));
    // xz on an already-compressed vmlinuz is slow: its fastest level is enough.
    let level = if compression == "xz" { "-z0" } else { "-z1" };
    run(Command::new("dpkg-deb")
        .args([
            "--root-owner-group",
            level,
            &format!("-Z{compression}"),
            "--build",
        ])
        .arg(&root)
        .arg(&deb));
    deb
}

#[test]
fn deb_packages_of_every_compression_and_layout() {
    let Some(kernel) = base_kernel() else { return };
    if !have_tool("dpkg-deb") {
        return;
    }
    let vmlinuz = std::fs::read(&kernel).expect("read kernel");
    let direct = read_kernel_bytes(&kernel, &vmlinuz).unwrap_or_else(|e| panic!("{e}"));
    let tmp = TempDir::new("deb");
    let classic = format!("boot/vmlinuz-{BASE_RELEASE}");
    // Debian's split linux-binary-* packages (6.19+) ship usr/lib/modules/KVER/vmlinuz.
    let split = format!("usr/lib/modules/{BASE_RELEASE}/vmlinuz");
    let doc: &[u8] = b"docs";
    let cases = [
        ("xz", &classic),
        ("gzip", &split),
        ("zstd", &classic),
        ("none", &split),
    ];
    for (compression, member) in cases {
        let name = format!("linux-image-test-{compression}");
        let files = [
            ("usr/share/doc/x/README", doc),
            (member.as_str(), &vmlinuz[..]),
        ];
        let deb = build_deb(&tmp, &name, &files, compression);
        let got = read_kernel_file(&deb).unwrap_or_else(|e| panic!("{compression}: {e}"));
        let want_kind = SourceKind::Deb {
            member: member.clone(),
            inner: Box::new(direct.kind.clone()),
        };
        assert_eq!(got.kind, want_kind, "{compression}");
        assert_eq!(got.release.as_deref(), Some(BASE_RELEASE), "{compression}");
        assert_btf_equal(&got.btf, &direct.btf, compression);
    }
}

#[test]
fn deb_with_an_elf_vmlinux_like_dbg_packages() {
    let Some(ind) = independent() else { return };
    if !have_tool("dpkg-deb") {
        return;
    }
    let tmp = TempDir::new("deb-dbg");
    let member = format!("usr/lib/debug/boot/vmlinux-{BASE_RELEASE}");
    let lds: &[u8] = b"SECTIONS {}";
    let files = [
        ("usr/src/x/vmlinux.lds", lds),
        (member.as_str(), &ind.elf[..]),
    ];
    let deb = build_deb(&tmp, "linux-image-test-dbg", &files, "zstd");
    let got = read_kernel_file(&deb).unwrap_or_else(|e| panic!("{e}"));
    let want_kind = SourceKind::Deb {
        member,
        inner: Box::new(SourceKind::ElfVmlinux),
    };
    assert_eq!(got.kind, want_kind);
    assert_eq!(
        got.release.as_deref(),
        Some(BASE_RELEASE),
        "linux_banner release"
    );
    assert_btf_equal(&got.btf, &ind.btf, "dbg .deb");
}

#[test]
fn deb_without_kernel_and_truncated_deb_are_clear_errors() {
    let Some(kernel) = base_kernel() else { return };
    if !have_tool("dpkg-deb") {
        return;
    }
    let tmp = TempDir::new("deb-bad");
    let vmlinuz = std::fs::read(&kernel).expect("read kernel");
    let doc: &[u8] = b"docs";
    let lds: &[u8] = b"SECTIONS {}";
    let files = [
        ("usr/share/doc/x/README", doc),
        ("usr/src/x/vmlinux.lds", lds),
        ("etc/x.conf", doc),
    ];
    let empty = build_deb(&tmp, "linux-headers-test", &files, "xz");
    let err = read_kernel_file(&empty).expect_err("a .deb without kernel was accepted");
    assert!(matches!(err, SourceError::DebNoKernel { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("top level: etc/ usr/"), "{text}");
    assert_one_line(&err, &empty);

    let member = format!("boot/vmlinuz-{BASE_RELEASE}");
    let good = build_deb(
        &tmp,
        "linux-image-test",
        &[(&*member, &vmlinuz[..])],
        "none",
    );
    let bytes = std::fs::read(&good).expect("read deb");
    for cut in [bytes.len() / 2, bytes.len() - 2, 70] {
        let path = tmp.write("cut.deb", &bytes[..cut]);
        let err = read_kernel_file(&path).expect_err("a truncated .deb was accepted");
        assert!(err.to_string().contains("truncated"), "cut at {cut}: {err}");
        assert_one_line(&err, &path);
    }

    // find_kernels: md5sums without a kernel file rules the package out.
    let found = find_kernels(&tmp.0).unwrap_or_else(|e| panic!("{e}"));
    assert!(found.contains(&good), "kernel .deb not found");
    assert!(!found.contains(&empty), "kernel-less .deb listed");
}

// ------------------------------------------------------------ bad inputs

#[test]
fn empty_random_and_non_kernel_files_are_rejected() {
    let tmp = TempDir::new("bad");
    let empty = tmp.write("empty", b"");
    let err = read_kernel_file(&empty).expect_err("empty file accepted");
    assert!(matches!(err, SourceError::Empty { .. }), "{err}");
    assert_one_line(&err, &empty);

    for seed in 1..20 {
        let bytes = random_bytes(4096 * seed as usize, seed);
        let path = tmp.write("random", &bytes);
        let err = read_kernel_file(&path).expect_err("random bytes accepted");
        assert_one_line(&err, &path);
    }
    let text = tmp.write("text", b"hello, not a kernel\n");
    let err = read_kernel_file(&text).expect_err("text accepted");
    assert!(err.to_string().contains("68 65 6c 6c 6f"), "{err}");

    let device = Path::new("/dev/zero");
    if device.exists() {
        let err = read_kernel_file(device).expect_err("/dev/zero accepted");
        assert!(matches!(err, SourceError::NotAFile { .. }), "{err}");
    }

    let missing = tmp.0.join("missing");
    let err = read_kernel_file(&missing).expect_err("missing file accepted");
    assert!(matches!(err, SourceError::Io { .. }), "{err}");
}

#[test]
fn elf_without_btf_is_named() {
    let exe = std::env::current_exe().expect("test binary path");
    let err = read_kernel_file(&exe).expect_err("test binary has no .BTF");
    assert!(matches!(err, SourceError::NoBtfSection { .. }), "{err}");
    assert!(err.to_string().contains("CONFIG_DEBUG_INFO_BTF"), "{err}");
    assert_one_line(&err, &exe);
}

#[test]
fn broken_bzimages_are_rejected_with_evidence() {
    let Some(kernel) = base_kernel() else { return };
    let image = std::fs::read(&kernel).expect("read kernel");
    let start = payload_start(&image);
    let path = Path::new("broken-vmlinuz");
    let read = |bytes: &[u8]| read_kernel_bytes(path, bytes).expect_err("broken image accepted");

    // Cut in the middle of the payload.
    let err = read(&image[..start + (image.len() - start) / 2]);
    assert!(
        matches!(err, SourceError::PayloadOutOfBounds { .. }),
        "{err}"
    );
    assert_one_line(&err, path);

    // Payload offset past the end of the file.
    let mut far = image.clone();
    put_u32(&mut far, 0x248, u32::MAX - 0x10_0000);
    let err = read(&far);
    assert!(
        matches!(err, SourceError::PayloadOutOfBounds { .. }),
        "{err}"
    );

    // Unknown compression magic.
    let mut unknown = image.clone();
    unknown[start..start + 4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    let err = read(&unknown);
    assert!(err.to_string().contains("de ad be ef"), "{err}");
    assert!(
        matches!(err, SourceError::UnknownCompression { .. }),
        "{err}"
    );

    // Corrupt compressed data in the middle of the payload.
    let mut corrupt = image.clone();
    let middle = start + (image.len() - start) / 2;
    corrupt[middle..middle + 4096].fill(0x55);
    let err = read(&corrupt);
    assert!(matches!(err, SourceError::Corrupt { .. }), "{err}");
    assert_one_line(&err, path);

    // Header shorter than the setup header.
    let err = read(&image[..0x240]);
    assert!(matches!(err, SourceError::Truncated { .. }), "{err}");
}

#[test]
fn payload_that_is_not_an_elf_is_named() {
    let Some(kernel) = base_kernel() else { return };
    let base = std::fs::read(&kernel).expect("read kernel");
    let text = b"definitely not an ELF file".repeat(100);
    let gz = zstd::encode_all(&text[..], 1).expect("zstd");
    let image = synthetic_bzimage(&base, &gz, u32::try_from(text.len()).expect("u32"));
    let err = read_kernel_bytes(Path::new("k"), &image).expect_err("non-ELF payload accepted");
    assert!(matches!(err, SourceError::PayloadNotElf { .. }), "{err}");
}

#[test]
fn decompression_bombs_are_stopped() {
    let Some(kernel) = base_kernel() else { return };
    let base = std::fs::read(&kernel).expect("read kernel");
    let path = Path::new("bomb");

    // Declared: the size trailer claims 4 GiB.
    let mut declared = base.clone();
    let end = payload_start(&base) + le_u32(&base, 0x24c) as usize;
    put_u32(&mut declared, end - 4, u32::MAX);
    let err = read_kernel_bytes(path, &declared).expect_err("4 GiB declared accepted");
    assert!(matches!(err, SourceError::DeclaredTooLarge { .. }), "{err}");
    assert_one_line(&err, path);

    // Real: 64 MiB of zeros behind a trailer claiming 1 KiB, 1 MiB limit.
    let zeros = vec![0u8; 64 << 20];
    let limit = 1 << 20;
    let zstd_bomb = synthetic_bzimage(&base, &zstd::encode_all(&zeros[..], 1).expect("zstd"), 1024);
    let err =
        read_kernel_bytes_with_limit(path, &zstd_bomb, limit).expect_err("zstd bomb accepted");
    assert!(
        err.to_string().contains("larger than the 1024 bytes"),
        "{err}"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &zeros).expect("gzip");
    let gzip_bomb = synthetic_bzimage(&base, &gz.finish().expect("gzip"), 1024);
    let err =
        read_kernel_bytes_with_limit(path, &gzip_bomb, limit).expect_err("gzip bomb accepted");
    assert!(
        matches!(
            err,
            SourceError::OutputTooLarge {
                limit: 1_048_576,
                ..
            }
        ),
        "{err}"
    );
    assert_one_line(&err, path);
}

// ----------------------------------------------------------------- cache

#[test]
fn cache_hits_detects_corruption_and_never_fails_the_read() {
    let Some(kernel) = base_kernel() else { return };
    let tmp = TempDir::new("cache");
    let dir = tmp.0.join("cache");
    let read = |dir: &Path| {
        read_kernel_cached_with_outcome(&kernel, Some(dir)).unwrap_or_else(|e| panic!("{e}"))
    };

    let start = Instant::now();
    let (cold, outcome) = read(&dir);
    let cold_time = start.elapsed();
    assert_eq!(outcome, CacheOutcome::Stored);
    let start = Instant::now();
    let (warm, outcome) = read(&dir);
    eprintln!("cold {cold_time:?}, warm {:?}", start.elapsed());
    assert_eq!(outcome, CacheOutcome::Hit);
    assert_same_image(&warm, &cold);

    // Corrupt the entry: flip a BTF byte, then truncate it.
    let key = BtfCache::key(&std::fs::read(&kernel).expect("read kernel"));
    let entry = BtfCache::new(dir.clone()).entry_path(&key);
    let mut bytes = std::fs::read(&entry).expect("cache entry exists");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&entry, &bytes).expect("corrupt entry");
    assert_eq!(
        read(&dir).1,
        CacheOutcome::Stored,
        "flipped byte not detected"
    );
    std::fs::write(&entry, &bytes[..bytes.len() / 2]).expect("truncate entry");
    assert_eq!(
        read(&dir).1,
        CacheOutcome::Stored,
        "truncation not detected"
    );
    std::fs::write(&entry, b"").expect("empty entry");
    let (again, outcome) = read(&dir);
    assert_eq!(outcome, CacheOutcome::Stored);
    assert_same_image(&again, &cold);
    assert_eq!(read(&dir).1, CacheOutcome::Hit);

    // A cache path that cannot be a directory: the read still succeeds.
    let blocked = tmp.write("blocked", b"a file");
    let (image, outcome) = read(&blocked);
    assert!(
        matches!(outcome, CacheOutcome::StoreFailed { .. }),
        "{outcome:?}"
    );
    assert_same_image(&image, &cold);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("cache dir")
        .flatten()
        .collect();
    assert_eq!(leftovers.len(), 1, "temporary files left in the cache");
}

#[track_caller]
fn assert_same_image(got: &KernelBtf, want: &KernelBtf) {
    assert_eq!(got.path, want.path);
    assert_eq!(got.kind, want.kind);
    assert_eq!(got.release, want.release);
    assert_btf_equal(&got.btf, &want.btf, "cached image");
}

#[test]
fn matrix_through_the_cache_cold_then_warm() {
    let Some(dir) = kernels_dir() else { return };
    let tmp = TempDir::new("matrix-cache");
    for (pass, want) in [("cold", CacheOutcome::Stored), ("warm", CacheOutcome::Hit)] {
        let start = Instant::now();
        for (folder, release, _) in MATRIX {
            let path = dir.join(folder).join("vmlinuz");
            let (image, outcome) = read_kernel_cached_with_outcome(&path, Some(&tmp.0))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(outcome, want, "{pass} {folder}");
            assert_eq!(image.release.as_deref(), Some(*release), "{pass} {folder}");
        }
        eprintln!("{pass}: {} kernels in {:?}", MATRIX.len(), start.elapsed());
    }
    let uncached = read_kernel_cached(&dir.join(MATRIX[0].0).join("vmlinuz"), None);
    let uncached = uncached.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(uncached.release.as_deref(), Some(MATRIX[0].1));
}
