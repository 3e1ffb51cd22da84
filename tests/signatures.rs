//! Package signatures end to end, with Debian's `minisign` binary on the
//! other side: a package signed by `minisign -S` verifies in scxpack, one
//! signed by `scxpack sign` verifies with `minisign -V` (as a detached
//! signature and inside the installed directory), and each way a package
//! can fail its signature is refused with its own message, installing
//! nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{missing, scxpack, temp_dir};
use scxpack::package::{Package, PackageManifest};

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// The `minisign` binary, when installed (`.ci/setup` installs it).
fn minisign() -> Option<&'static str> {
    let ok = Command::new("minisign")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some("minisign")
    } else {
        missing("the minisign binary (apt install minisign)")
    }
}

#[track_caller]
fn run_minisign(args: &[&str]) -> String {
    let out = Command::new("minisign").args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "minisign {args:?}: {text}");
    text
}

/// A passwordless key pair `NAME.key`/`NAME.pub` in `dir`, made by minisign.
fn keypair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (key, public) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    );
    run_minisign(&["-G", "-W", "-f", "-s", s(&key), "-p", s(&public)]);
    (key, public)
}

/// The key id minisign shows for `public`.
fn key_id(public: &Path) -> String {
    let text = std::fs::read_to_string(public).unwrap();
    scxpack::package::signature::public_key_id(&text).unwrap()
}

/// The fifo scheduler packed into `dir`.
fn packed(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(format!("{name}.scxpkg"));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fifo = repo.join("bpf-objects/fifo");
    let (code, _, err) = scxpack(&["pack", s(&fifo), "-o", s(&out), "--version", "1.0"]);
    assert_eq!(code, 0, "{err}");
    out
}

/// A root trusting `public`, with `require-signature = true` when `require`.
fn root_trusting(dir: &Path, public: &Path, require: bool) -> PathBuf {
    let root = dir.join(if require { "root-require" } else { "root-open" });
    let keys = root.join("etc/scxpack/keys.d");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::copy(public, keys.join("publisher.pub")).unwrap();
    if require {
        std::fs::write(
            root.join("etc/scxpack/policy"),
            "# test policy\nrequire-signature = true\n",
        )
        .unwrap();
    }
    root
}

#[track_caller]
fn succeeds(args: &[&str]) -> (String, String) {
    let (code, out, err) = scxpack(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    (out, err)
}

/// Runs scxpack expecting a one-line error; returns stderr.
#[track_caller]
fn fails(args: &[&str]) -> String {
    let (code, out, err) = scxpack(args);
    assert_eq!(code, 1, "{args:?} should fail; stdout {out}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("scxpack: error: "), "{err}");
    err
}

fn installed_dir(root: &Path) -> PathBuf {
    root.join("var/lib/scxpack/packages/fifo")
}

#[track_caller]
fn assert_nothing_installed(root: &Path) {
    assert!(
        !installed_dir(root).exists(),
        "{} was installed",
        installed_dir(root).display()
    );
}

#[test]
fn minisign_and_scxpack_signatures_interoperate() {
    if minisign().is_none() {
        return;
    }
    let dir = temp_dir("sig-interop");
    let (key, public) = keypair(&dir, "publisher");
    let pkg = packed(&dir, "fifo");
    let manifest = dir.join("manifest.json");
    std::fs::write(&manifest, Package::open(&pkg).unwrap().manifest_json()).unwrap();
    let sig = dir.join("fifo.scxpkg.minisig");

    // Signed by minisign, verified and installed by scxpack under a require policy.
    run_minisign(&["-S", "-s", s(&key), "-m", s(&manifest), "-x", s(&sig)]);
    let root = root_trusting(&dir, &public, true);
    let (out, _) = succeeds(&["verify", s(&pkg), "--root", s(&root)]);
    assert!(
        out.contains(&format!("signed by key {}", key_id(&public))),
        "{out}"
    );
    succeeds(&["install", s(&pkg), "--root", s(&root)]);
    // The installed copy carries the signature where minisign looks for it.
    let installed = installed_dir(&root);
    run_minisign(&[
        "-V",
        "-p",
        s(&public),
        "-m",
        s(&installed.join("manifest.json")),
    ]);
    let (out, _) = succeeds(&["verify", s(&installed), "--root", s(&root)]);
    assert!(out.contains("signed by key"), "{out}");

    // Signed by scxpack, verified by minisign.
    std::fs::remove_file(&sig).unwrap();
    let (out, _) = succeeds(&["sign", s(&pkg), "--key", s(&key)]);
    assert!(out.contains(&key_id(&public)), "{out}");
    let text = run_minisign(&["-V", "-p", s(&public), "-m", s(&manifest), "-x", s(&sig)]);
    assert!(text.contains("package:fifo 1.0"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `pkg` rebuilt with a manifest differing from the signed one by one byte
/// (a description character), its objects unchanged.
fn with_altered_manifest(pkg: &Path, out: &Path) {
    let package = Package::open(pkg).unwrap();
    let mut json = package.manifest_json();
    let at = json
        .windows(5)
        .position(|w| w == b"queue")
        .expect("fifo's description says queue");
    json[at] ^= 0x20;
    let manifest: PackageManifest = serde_json::from_slice(&json).unwrap();
    let objects = package
        .objects()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
    let bytes = Package::new(manifest, objects).to_archive(0).unwrap();
    std::fs::write(out, bytes).unwrap();
}

#[test]
fn each_bad_signature_is_refused_with_its_reason_and_installs_nothing() {
    if minisign().is_none() {
        return;
    }
    let dir = temp_dir("sig-refused");
    let (key, public) = keypair(&dir, "publisher");
    let (other_key, other_public) = keypair(&dir, "stranger");
    let root = root_trusting(&dir, &public, true);
    let unsigned = packed(&dir, "unsigned");

    // No signature under a require policy.
    let err = fails(&["install", s(&unsigned), "--root", s(&root)]);
    assert!(
        err.contains("not signed") && err.contains("etc/scxpack/policy"),
        "{err}"
    );
    assert_nothing_installed(&root);

    // Signed by a key the root does not trust.
    let stranger = packed(&dir, "stranger");
    succeeds(&["sign", s(&stranger), "--key", s(&other_key)]);
    let err = fails(&["install", s(&stranger), "--root", s(&root)]);
    assert!(
        err.contains(&key_id(&other_public)) && err.contains("does not trust"),
        "{err}"
    );
    assert_nothing_installed(&root);

    // One byte of the manifest changed after signing.
    let signed = packed(&dir, "signed");
    succeeds(&["sign", s(&signed), "--key", s(&key)]);
    let altered = dir.join("altered.scxpkg");
    with_altered_manifest(&signed, &altered);
    std::fs::copy(
        dir.join("signed.scxpkg.minisig"),
        dir.join("altered.scxpkg.minisig"),
    )
    .unwrap();
    let open_root = root_trusting(&dir, &public, false);
    for r in [&root, &open_root] {
        let err = fails(&["install", s(&altered), "--root", s(r)]);
        assert!(
            err.contains(&key_id(&public)) && err.contains("does not match manifest.json"),
            "{err}"
        );
        assert_nothing_installed(r);
    }

    // One byte of an installed object changed after installation: `run`
    // re-hashes before loading and refuses.
    succeeds(&["install", s(&signed), "--root", s(&root)]);
    let object = installed_dir(&root).join("objects/fifo/fifo.bpf.o");
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[200] ^= 0x01;
    std::fs::write(&object, &bytes).unwrap();
    let err = fails(&["run", "fifo", "--root", s(&root)]);
    assert!(
        err.contains("fifo.bpf.o") && err.contains("the object was altered"),
        "{err}"
    );
    let err = fails(&["verify", s(&installed_dir(&root)), "--root", s(&root)]);
    assert!(err.contains("the object was altered"), "{err}");

    // One byte of the installed manifest changed: the signature check in
    // `run` refuses before anything is loaded.
    succeeds(&["uninstall", "fifo", "--root", s(&root)]);
    succeeds(&["install", s(&signed), "--root", s(&root)]);
    let manifest = installed_dir(&root).join("manifest.json");
    let mut json = std::fs::read(&manifest).unwrap();
    *json.last_mut().unwrap() = b' ';
    std::fs::write(&manifest, &json).unwrap();
    let err = fails(&["run", "fifo", "--root", s(&root)]);
    assert!(err.contains("does not match manifest.json"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_policy_unsigned_packages_install_with_a_note() {
    let dir = temp_dir("sig-open");
    let pkg = packed(&dir, "fifo");
    let root = dir.join("root");
    let (_, err) = succeeds(&["install", s(&pkg), "--root", s(&root)]);
    assert!(err.contains("note:") && err.contains("not signed"), "{err}");
    assert!(installed_dir(&root).join("manifest.json").is_file());
    // A malformed policy is an error naming the file and line.
    std::fs::create_dir_all(root.join("etc/scxpack")).unwrap();
    std::fs::write(root.join("etc/scxpack/policy"), "require-signature = yes\n").unwrap();
    let err = fails(&["verify", s(&pkg), "--root", s(&root)]);
    assert!(err.contains("etc/scxpack/policy:1"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
