//! Bad input to every command that reads a file (`probe`, `inspect`, `btf
//! extract`, `check`, and the package commands) gets one clear line naming
//! the file and what is wrong (an OS reason said once), exit status 1, and
//! never a panic.

mod common;

use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[track_caller]
fn assert_clear_error(args: &[&str], file: &Path, words: &[&str]) {
    let (rc, out, err) = common::scxpack(args);
    assert_eq!(
        rc, 1,
        "{args:?}: exit status (stdout {out:?}, stderr {err:?})"
    );
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let line = err.lines().next().unwrap_or_default();
    assert!(line.starts_with("scxpack: error: "), "{args:?}: {err}");
    assert!(
        err.contains(&*file.to_string_lossy()),
        "{args:?} must name {}: {err}",
        file.display()
    );
    for w in words {
        assert!(err.contains(w), "{args:?}: expected {w:?} in {err}");
    }
}

/// A BTF blob whose type section is `types` (u32 words) and strings "\0int\0".
fn btf_with(types: &[u32]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&[0x9f, 0xeb, 1, 0]);
    let len = (types.len() * 4) as u32;
    for w in [24u32, 0, len, len, 5] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    for w in types {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.extend_from_slice(b"\0int\0");
    v
}

/// A small valid BTF blob: one `int`.
fn btf_blob() -> Vec<u8> {
    btf_with(&[1, 1 << 24, 4, 32])
}

#[test]
fn probe_rejects_broken_kernels() {
    let dir = common::temp_dir("bad-probe");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let empty = write(&dir, "empty", b"");
    assert_clear_error(&["probe", "--kernel", &s(&empty)], &empty, &[]);
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let rnd = write(&dir, "random", &random);
    assert_clear_error(&["probe", "--kernel", &s(&rnd)], &rnd, &[]);
    let mut bad_str = btf_blob();
    bad_str[24..28].copy_from_slice(&999u32.to_le_bytes());
    let f = write(&dir, "bad-string.btf", &bad_str);
    assert_clear_error(&["probe", "--kernel", &s(&f)], &f, &["string offset 999"]);
    let mut trunc = btf_blob();
    trunc.truncate(30);
    let f = write(&dir, "truncated.btf", &trunc);
    assert_clear_error(&["probe", "--kernel", &s(&f)], &f, &["BTF"]);
    let bad_ref = btf_with(&[1, 1 << 24, 4, 32, 0, 2 << 24, 77]); // int, then a pointer to #77
    let f = write(&dir, "bad-ref.btf", &bad_ref);
    assert_clear_error(&["probe", "--kernel", &s(&f)], &f, &["#77"]);
    let ok = write(&dir, "ok.btf", &btf_blob());
    let (rc, out, _) = common::scxpack(&["probe", "--kernel", &s(&ok), "--json"]);
    assert_eq!(rc, 0, "a tiny valid BTF is fine: {out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sched_ext"], false);
    for key in ["release", "kfuncs", "ops_members", "enums"] {
        assert!(v.get(key).is_some(), "probe --json lacks {key}");
    }
}

#[test]
fn inspect_rejects_what_is_not_a_bpf_object() {
    let dir = common::temp_dir("bad-inspect");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let empty = write(&dir, "empty.bpf.o", b"");
    assert_clear_error(&["inspect", &s(&empty)], &empty, &["empty"]);
    let text = write(&dir, "text.bpf.o", b"hello world, not an object");
    assert_clear_error(&["inspect", &s(&text)], &text, &["not an ELF"]);
    let host = PathBuf::from(env!("CARGO_BIN_EXE_scxpack"));
    assert_clear_error(&["inspect", &s(&host)], &host, &["not a BPF object"]);
    let obj =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o"))
            .unwrap();
    let cut = write(&dir, "cut.bpf.o", &obj[..obj.len() / 2]);
    assert_clear_error(&["inspect", &s(&cut)], &cut, &[]);
    let missing = dir.join("missing.bpf.o");
    assert_clear_error(&["inspect", &s(&missing)], &missing, &["cannot read"]);
}

#[test]
fn objects_without_btf_say_how_to_fix_it() {
    let dir = common::temp_dir("no-btf");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o");
    let out = dir.join("nobtf.bpf.o");
    let stripped = std::process::Command::new("llvm-objcopy-16")
        .args(["--remove-section=.BTF", "--remove-section=.BTF.ext"])
        .arg(&src)
        .arg(&out)
        .status();
    if !stripped.is_ok_and(|s| s.success()) {
        let _ = common::missing::<()>("llvm-objcopy-16 (apt-get install llvm-16)");
        return;
    }
    assert_clear_error(
        &["inspect", &out.to_string_lossy()],
        &out,
        &["no .BTF", "clang -g"],
    );
}

#[test]
fn btf_extract_writes_raw_btf_and_refuses_junk() {
    let Some(k) = common::vmlinuz("6.16.3+deb13") else {
        return;
    };
    let dir = common::temp_dir("btf-extract");
    let out = dir.join("vmlinux.btf");
    let (rc, _, err) = common::scxpack(&[
        "btf",
        "extract",
        &k.to_string_lossy(),
        "-o",
        &out.to_string_lossy(),
    ]);
    assert_eq!(rc, 0, "{err}");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..2], &[0x9f, 0xeb]);
    let (rc, out2, _) = common::scxpack(&["probe", "--kernel", &out.to_string_lossy(), "--json"]);
    assert_eq!(rc, 0);
    assert!(out2.contains("\"sched_ext\": true"));
    let junk = write(&dir, "junk", b"junk");
    assert_clear_error(
        &[
            "btf",
            "extract",
            &junk.to_string_lossy(),
            "-o",
            &dir.join("x").to_string_lossy(),
        ],
        &junk,
        &[],
    );
}

/// Every command that reads a file, given a missing one, a directory, or a
/// kernel where a package belongs: one line naming the file, the OS reason
/// said once.
#[test]
fn io_errors_name_the_file_and_say_the_reason_once() {
    let dir = common::temp_dir("bad-io");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let gone = dir.join("nonexistent");
    let kernel = write(&dir, "vmlinux.btf", &btf_blob());
    let fifo = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o");
    let root = dir.join("root");
    let enoent = "No such file or directory (os error 2)";
    let eisdir = "Is a directory (os error 21)";
    let not_package = "this is a kernel (raw BTF), not a package";
    let cases: Vec<(Vec<String>, &Path, &str)> = vec![
        (vec!["verify".into(), s(&gone)], &gone, enoent),
        (vec!["info".into(), s(&gone)], &gone, enoent),
        (
            vec!["install".into(), s(&gone), "--root".into(), s(&root)],
            &gone,
            enoent,
        ),
        (vec!["run".into(), s(&gone)], &gone, enoent),
        (
            vec!["sign".into(), s(&gone), "--key".into(), s(&gone)],
            &gone,
            enoent,
        ),
        (vec!["inspect".into(), s(&gone)], &gone, enoent),
        (
            vec!["probe".into(), "--kernel".into(), s(&gone)],
            &gone,
            enoent,
        ),
        (
            vec!["check".into(), s(&fifo), "--kernel".into(), s(&gone)],
            &gone,
            enoent,
        ),
        (
            vec!["check".into(), s(&gone), "--kernel".into(), s(&kernel)],
            &gone,
            enoent,
        ),
        (
            vec!["probe".into(), "--kernel".into(), s(&dir)],
            &dir,
            eisdir,
        ),
        (vec!["inspect".into(), s(&dir)], &dir, eisdir),
        (vec!["verify".into(), s(&kernel)], &kernel, not_package),
        (vec!["info".into(), s(&kernel)], &kernel, not_package),
        (
            vec!["install".into(), s(&kernel), "--root".into(), s(&root)],
            &kernel,
            not_package,
        ),
        (vec!["run".into(), s(&kernel)], &kernel, not_package),
        (
            vec!["check".into(), s(&kernel), "--kernel".into(), s(&kernel)],
            &kernel,
            not_package,
        ),
    ];
    for (args, file, reason) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_clear_error(&args, file, &[reason]);
        let (_, _, err) = common::scxpack(&args);
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert_eq!(err.matches(reason).count(), 1, "{args:?}: said once: {err}");
    }
    assert!(!root.exists(), "a refused install wrote {}", root.display());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--require-sched-ext` says which kernels lack sched_ext.
#[test]
fn require_sched_ext_names_the_kernels_without_it() {
    let dir = common::temp_dir("bad-require");
    let kernel = write(&dir, "no-scx.btf", &btf_blob());
    let fifo = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o");
    let (f, k) = (fifo.to_string_lossy(), kernel.to_string_lossy());
    let (rc, _, err) = common::scxpack(&["check", &f, "--kernel", &k]);
    assert_eq!(
        rc, 0,
        "without --require-sched-ext it is not a failure: {err}"
    );
    let (rc, _, err) = common::scxpack(&["check", &f, "--kernel", &k, "--require-sched-ext"]);
    assert_eq!(rc, 3, "{err}");
    assert!(
        err.contains("--require-sched-ext: 1 kernel(s) lack sched_ext") && err.contains(&*k),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
