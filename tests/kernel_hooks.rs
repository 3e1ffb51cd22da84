//! The kernel hooks in packaging/kernel-hooks/, run the way the package
//! manager runs them, against a root where the shipped schedulers are
//! installed, with every kernel image in the test kernels directory: silent
//! where every scheduler loads, a warning naming the scheduler and the kernel
//! where one does not (the stock 6.12 kernel has no sched_ext), exit status 0
//! always, and nothing on stdout.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{kernels, missing, scxpack, temp_dir};

/// The stock Debian 6.12 kernel: built without sched_ext.
const NO_SCHED_EXT: &str = "6.12.117+deb13";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A root with the shipped schedulers installed by `scxpack install --root`.
fn installed_root(tag: &str) -> PathBuf {
    let dir = temp_dir(tag);
    let pkg = dir.join("schedulers.scxpkg");
    let bpf = repo().join("bpf-objects");
    let (code, _, err) = scxpack(&["pack", path(&bpf), "-o", path(&pkg)]);
    assert_eq!(code, 0, "pack: {err}");
    let root = dir.join("root");
    let (code, _, err) = scxpack(&["install", path(&pkg), "--root", path(&root)]);
    assert_eq!(code, 0, "install: {err}");
    root
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// PATH with the freshly built scxpack first, as /usr/bin would have it.
fn search_path() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_scxpack"))
        .parent()
        .expect("bin dir");
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Every kernel folder's (release, vmlinuz).
fn kernel_images() -> Option<Vec<(String, PathBuf)>> {
    let dir = kernels()?;
    let mut images: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .expect("read kernels dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("vmlinuz").is_file())
        .map(|p| {
            let release = p.file_name().expect("name").to_string_lossy().into_owned();
            (release, p.join("vmlinuz"))
        })
        .collect();
    images.sort();
    if images.iter().any(|(r, _)| r == NO_SCHED_EXT) {
        Some(images)
    } else {
        missing(&format!("{NO_SCHED_EXT}/vmlinuz in {}", dir.display()))
    }
}

/// The installed schedulers' names, from `scxpack list --json`.
fn installed_schedulers(root: &Path) -> Vec<String> {
    let (code, out, err) = scxpack(&["list", "--json", "--root", path(root)]);
    assert_eq!(code, 0, "list: {err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("list --json");
    let mut names: Vec<String> = json["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .flat_map(|p| p["schedulers"].as_array().expect("schedulers").clone())
        .map(|s| s.as_str().expect("name").to_string())
        .collect();
    names.sort();
    assert!(
        !names.is_empty(),
        "nothing installed under {}",
        root.display()
    );
    names
}

/// Whether `check` says every installed scheduler loads on `image`.
fn all_load(root: &Path, image: &Path) -> bool {
    let (code, _, err) = scxpack(&[
        "check",
        "--installed",
        "--root",
        path(root),
        "--require-sched-ext",
        "--kernel",
        path(image),
    ]);
    assert!(
        code == 0 || code == 3,
        "check on {}: {err}",
        image.display()
    );
    code == 0
}

/// Debian: a kernel package's postinst runs
/// `run-parts --report --exit-on-error --arg=VERSION --arg=IMAGE /etc/kernel/postinst.d`.
fn debian_hook(root: &Path, hooks: &Path, release: &str, image: &Path) -> Output {
    Command::new("run-parts")
        .args(["--report", "--exit-on-error"])
        .arg(format!("--arg={release}"))
        .arg(format!("--arg={}", image.display()))
        .arg(hooks)
        .env("PATH", search_path())
        .env("SCXPACK_ROOT", root)
        .env("DEB_MAINT_PARAMS", "configure")
        .output()
        .expect("run run-parts")
}

/// systemd: `kernel-install add VERSION IMAGE`, with only our plugin and a
/// throw-away boot root.
fn kernel_install(root: &Path, plugin: &Path, boot: &Path, release: &str, image: &Path) -> Output {
    Command::new("kernel-install")
        .args(["add", release])
        .arg(image)
        .env("PATH", search_path())
        .env("SCXPACK_ROOT", root)
        .env("KERNEL_INSTALL_PLUGINS", plugin)
        .env("BOOT_ROOT", boot)
        .env("MACHINE_ID", "0123456789abcdef0123456789abcdef")
        .output()
        .expect("run kernel-install")
}

fn tool(name: &str, package: &str) -> Option<()> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        Some(())
    } else {
        missing(&format!("{name} (Debian package {package})"))
    }
}

#[track_caller]
fn assert_hook(what: &str, out: &Output, release: &str, silent: bool, schedulers: &[String]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what} on {release} failed: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{what} wrote to stdout on {release}: {:?}",
        out.stdout
    );
    if silent {
        assert!(
            stderr.is_empty(),
            "{what} on {release} should be silent:\n{stderr}"
        );
        return;
    }
    for s in schedulers {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&format!("scheduler {s} ")) && l.contains(release)),
            "{what} on {release} does not warn about {s}:\n{stderr}"
        );
    }
}

#[test]
fn hooks_warn_only_where_a_scheduler_will_not_load() {
    let (Some(images), Some(()), Some(())) = (
        kernel_images(),
        tool("run-parts", "debianutils"),
        tool("kernel-install", "systemd"),
    ) else {
        return;
    };
    let root = installed_root("hooks");
    let schedulers = installed_schedulers(&root);
    let work = root.parent().expect("work dir");
    let hooks = install_debian_hook(work);
    let plugin = repo().join("packaging/kernel-hooks/50-scxpack.install");
    let boot = work.join("boot");
    std::fs::create_dir_all(&boot).expect("mkdir boot");
    let mut warned = Vec::new();
    for (release, image) in &images {
        let silent = all_load(&root, image);
        if !silent {
            warned.push(release.clone());
        }
        let out = debian_hook(&root, &hooks, release, image);
        assert_hook("postinst.d/scxpack", &out, release, silent, &schedulers);
        let out = kernel_install(&root, &plugin, &boot, release, image);
        assert_hook("kernel-install", &out, release, silent, &schedulers);
    }
    assert!(
        warned.contains(&NO_SCHED_EXT.to_string()),
        "no warning on {NO_SCHED_EXT}: {warned:?}"
    );
    assert!(
        warned.len() < images.len(),
        "every kernel warned ({warned:?}): the hooks cannot be silent"
    );
    let _ = std::fs::remove_dir_all(work);
}

#[test]
fn hooks_exit_0_and_say_what_failed_when_the_image_is_unreadable() {
    let Some(()) = tool("run-parts", "debianutils") else {
        return;
    };
    let root = installed_root("hooks-bad");
    let work = root.parent().expect("work dir");
    let hooks = install_debian_hook(work);
    let image = work.join("vmlinuz-missing");
    let out = debian_hook(&root, &hooks, "9.9.9-test", &image);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("scxpack: warning: could not check") && stderr.contains("vmlinuz-missing"),
        "{stderr}"
    );
    // The systemd plugin: `remove` is not its business, `add` with a bad
    // image warns, and neither fails.
    let plugin = repo().join("packaging/kernel-hooks/50-scxpack.install");
    let run = |args: &[&str]| {
        Command::new(&plugin)
            .args(args)
            .env("PATH", search_path())
            .env("SCXPACK_ROOT", &root)
            .output()
            .expect("run plugin")
    };
    let out = run(&["remove", "9.9.9-test", path(&work.join("entry"))]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty() && out.stdout.is_empty());
    let entry = work.join("entry");
    let out = run(&["add", "9.9.9-test", path(&entry), path(&image)]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("vmlinuz-missing"));
    let _ = std::fs::remove_dir_all(work);
}

/// Installs the Debian hook into `work/postinst.d/` as the package does
/// (run-parts runs only files named [A-Za-z0-9_-]+); returns that directory.
fn install_debian_hook(work: &Path) -> PathBuf {
    let hooks = work.join("postinst.d");
    std::fs::create_dir_all(&hooks).expect("mkdir");
    std::fs::copy(
        repo().join("packaging/kernel-hooks/postinst.d-scxpack"),
        hooks.join("scxpack"),
    )
    .expect("copy hook");
    hooks
}
