//! `scxpack vmtest` end to end through its command line: a kernel given as a
//! Debian package is unpacked and booted, the scheduler runs, and the JSON
//! and JUnit reports say so. Needs QEMU, busybox-static, dpkg-deb and the
//! kernel images (all provided in CI; skipped elsewhere with a message).

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn vmtest_boots_a_kernel_deb_and_reports_json_and_junit() {
    let Some(vmlinuz) = common::vmlinuz("6.16.3+deb13") else {
        return;
    };
    if scxpack::vm::qemu::find_in_path("qemu-system-x86_64").is_none() {
        let _ = common::missing::<()>("qemu-system-x86_64 (apt-get install qemu-system-x86)");
        return;
    }
    let dir = common::temp_dir("vmtest-deb");
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("boot")).unwrap();
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    std::fs::copy(&vmlinuz, tree.join("boot/vmlinuz-6.16.3+deb13-amd64")).unwrap();
    std::fs::write(
        tree.join("DEBIAN/control"),
        "Package: linux-image-test\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: t\n",
    )
    .unwrap();
    let deb = dir.join("linux-image-test.deb");
    let built = Command::new("dpkg-deb")
        .args(["--build", "-Zgzip"])
        .arg(&tree)
        .arg(&deb)
        .output();
    if !built.as_ref().is_ok_and(|o| o.status.success()) {
        let _ = common::missing::<()>("dpkg-deb (apt-get install dpkg)");
        return;
    }
    let fifo = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o");
    let junit = dir.join("vm.xml");
    let (rc, out, err) = common::scxpack(&[
        "vmtest",
        fifo.to_str().unwrap(),
        "--kernel",
        deb.to_str().unwrap(),
        "--accel",
        "tcg",
        "--duration",
        "2",
        "--json",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(rc, 0, "vmtest failed: {out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = &v["results"][0];
    assert_eq!(r["kernel"], "6.16.3+deb13-amd64");
    assert_eq!(r["scheduler"], "fifo");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["variant"], "default");
    assert!(
        v["boots"][0]["sched_ext_log"]
            .to_string()
            .contains("enabled"),
        "{v}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"1\" failures=\"0\""), "{xml}");
}
