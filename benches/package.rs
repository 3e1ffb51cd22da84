//! Package figures: archive size, bytes installed per scheduler, and the
//! time to pack, to verify (open an `.scxpkg` with full verification) and
//! to install (verify + stage + fsync + renameat2 into place).
//!
//! Run with `cargo bench --bench package`. It prints figures; it is not a
//! timed test. `SCXPACK_BENCH_RUNS` sets the number of timed runs (default
//! 20); each figure is the median, with the minimum beside it.
//!
//! Input: a copy of `bpf-objects/` and `vmlinux/` in a temporary directory.
//! Scheduler folders without a source manifest get a minimal one (every
//! `.bpf.o` of the folder), as in `tests/package.rs`. Installs go to a
//! fresh root in the temporary directory (the same filesystem as the
//! staging area, as in a real install); fsync makes them disk-bound.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scxpack::package::install;
use scxpack::package::pack::{self, PackOptions};
use scxpack::package::{Limits, Package};

fn main() {
    let runs: usize = std::env::var("SCXPACK_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20)
        .max(1);
    let tmp = std::env::temp_dir().join(format!("scxpack-bench-package-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let source = source_tree(&tmp.join("src"));
    let options = PackOptions {
        source_date_epoch: 0,
        ..PackOptions::default()
    };

    let pack_time = time(runs, || {
        let p = pack::pack(&source, &options).expect("pack");
        black_box(p.to_archive(0).expect("archive"));
    });
    let package = pack::pack(&source, &options).expect("pack");
    let archive = package.to_archive(0).expect("archive");
    let manifest_len = package.manifest_json().len();
    let path = tmp.join("bench.scxpkg");
    std::fs::write(&path, &archive).expect("write package");

    let verify_time = time(runs, || {
        black_box(
            Package::from_archive_bytes(&path, &archive, &Limits::default()).expect("verify"),
        );
    });
    let open_time = time(runs, || {
        black_box(Package::open(&path).expect("open"));
    });
    let signature_time = signature_check_time(runs, &tmp, &package);
    let mut n = 0;
    let install_time = time(runs, || {
        n += 1;
        let root = tmp.join(format!("root-{n}"));
        let p = Package::open(&path).expect("open");
        black_box(install::install(&root, &p, install::Location::Admin).expect("install"));
    });
    let root = tmp.join("root-1");
    let upgrade_time = time(runs, || {
        n += 1;
        let p = Package::open(&path).expect("open");
        let mut manifest = p.manifest.clone();
        manifest.version = format!("0.0.{n}");
        let objects: BTreeMap<String, Vec<u8>> = p
            .objects()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        let next = Package::new(manifest, objects);
        black_box(install::install(&root, &next, install::Location::Admin).expect("upgrade"));
    });

    println!(
        "package: {} ({} schedulers, {} objects)",
        package.manifest.name,
        package.manifest.schedulers.len(),
        package.objects().count()
    );
    println!(
        "  archive size:        {:>9} bytes (tar+gzip -9)",
        archive.len()
    );
    println!("  objects:             {:>9} bytes", package.objects_size());
    println!("  manifest.json:       {manifest_len:>9} bytes");
    println!("  bytes installed per scheduler (its objects + an equal share of manifest.json):");
    let share = manifest_len / package.manifest.schedulers.len();
    for s in &package.manifest.schedulers {
        let objects: usize = s
            .variants
            .iter()
            .map(|v| package.object(v).map_or(0, <[u8]>::len))
            .sum();
        println!(
            "    {:<12} {:>9} bytes ({} variant(s), {objects} bytes of objects)",
            s.name,
            objects + share,
            s.variants.len()
        );
    }
    println!("  timings over {runs} runs (median / min):");
    report("pack (inspect + archive)", &pack_time);
    report("verify (in memory)", &verify_time);
    report("open + verify (file)", &open_time);
    report("install, fresh root", &install_time);
    report("install, upgrade", &upgrade_time);
    report("signature check", &signature_time);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Time of [`Package::check_signature`]: keys and policy loaded from a
/// root trusting one key (file reads included), then the minisign check of
/// `manifest.json` (BLAKE2b-512 prehash, two Ed25519 verifications).
fn signature_check_time(runs: usize, tmp: &Path, package: &Package) -> Vec<Duration> {
    use scxpack::package::signature::{self, Keyring, Policy};
    let pair = minisign::KeyPair::generate_unencrypted_keypair().expect("key pair");
    let key = tmp.join("bench.key");
    std::fs::write(&key, pair.sk.to_box(None).expect("box").to_string()).expect("write key");
    let root = tmp.join("sig-root");
    let keys = root.join(signature::KEY_DIRS[1]);
    std::fs::create_dir_all(&keys).expect("keys.d");
    let public = pair.pk.to_box().expect("box").to_string();
    std::fs::write(keys.join("bench.pub"), public).expect("write pub");
    std::fs::write(
        root.join(signature::POLICY_FILE),
        "require-signature = true\n",
    )
    .expect("policy");
    let text = signature::sign_manifest(&package.manifest_json(), "bench", &key).expect("sign");
    let sig = signature::Signature::parse(&key, &text).expect("parse");
    let signed = package.clone().with_signature(Some(sig));
    time(runs, || {
        let keys = Keyring::load(&root).expect("keys");
        let policy = Policy::load(&root).expect("policy");
        black_box(signed.check_signature(&keys, &policy).expect("signed"));
    })
}

fn time(runs: usize, mut f: impl FnMut()) -> Vec<Duration> {
    f(); // warm-up
    let mut out: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    out.sort();
    out
}

fn report(what: &str, sorted: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "    {what:<26} {:>8.2} ms / {:>8.2} ms",
        ms(sorted[sorted.len() / 2]),
        ms(sorted[0])
    );
}

/// `bpf-objects/` and `vmlinux/` copied under `dir`, with a minimal source
/// manifest in every scheduler folder that lacks one.
fn source_tree(dir: &Path) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let objects = dir.join("bpf-objects");
    copy_tree(&repo.join("bpf-objects"), &objects);
    copy_tree(&repo.join("vmlinux"), &dir.join("vmlinux"));
    for e in std::fs::read_dir(&objects).expect("read bpf-objects") {
        let folder = e.expect("entry").path();
        let Some(name) = folder.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if !folder.is_dir() || folder.join(format!("{name}.json")).exists() {
            continue;
        }
        let mut objs: Vec<String> = std::fs::read_dir(&folder)
            .expect("read folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".bpf.o"))
            .collect();
        if objs.is_empty() {
            continue;
        }
        objs.sort();
        let variants: Vec<_> = objs
            .iter()
            .map(|o| serde_json::json!({ "name": o.trim_end_matches(".bpf.o"), "object": o }))
            .collect();
        let json = serde_json::json!({ "name": name, "description": "", "variants": variants });
        std::fs::write(folder.join(format!("{name}.json")), json.to_string())
            .expect("write manifest");
    }
    objects
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e.file_type().expect("file type");
        if t.is_dir() {
            copy_tree(&src, &dst);
        } else if t.is_file() {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}
