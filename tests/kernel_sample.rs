//! Objects built by someone else with the kernel's own headers load too.
//!
//! The test builds `scx_simple` from Debian's `linux-source-6.12` exactly as
//! a distribution would (the kernel's `tools/sched_ext/include` headers,
//! Debian's libbpf headers, our generic `vmlinux.h`), then asks `check` and
//! the kernels themselves (in QEMU) whether the bare `.bpf.o` loads. Those
//! 6.12 headers call `scx_bpf_dispatch`/`scx_bpf_consume` strongly, so the
//! object loads on 6.12 and 6.16 and is refused from 6.17 on, where those
//! kfuncs were removed: `check` must say so, and the kernels must agree.
//! Nothing from the kernel tree is committed; it is fetched at test time.

mod common;

use std::path::{Path, PathBuf};

use scxpack::check;
use scxpack::package::Package;

/// Kernel folder → whether the 6.12-header object loads there.
const EXPECT: [(&str, bool); 3] = [
    ("6.12.117-scx", true),
    ("6.16.3+deb13", true),
    ("6.17.13+deb13", false),
];

/// Fetches `linux-source-6.12` and builds `scx_simple.bpf.o` (cached in the target dir).
fn build_scx_simple() -> Option<PathBuf> {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kernel-sample");
    let object = work.join("scx_simple.bpf.o");
    if object.is_file() {
        return Some(object);
    }
    std::fs::create_dir_all(&work).ok()?;
    let fetched = common::sh(
        &work,
        "rm -f linux-source-6.12_*.deb && apt-get download -q linux-source-6.12 >/dev/null 2>&1 \
         && dpkg-deb --fsys-tarfile linux-source-6.12_*.deb | tar -x --wildcards '*/linux-source-6.12.tar.xz' \
         && tar -xJf usr/src/linux-source-6.12.tar.xz --wildcards 'linux-source-6.12/tools/sched_ext/*' \
         && rm -rf usr linux-source-6.12_*.deb",
    );
    if !fetched {
        return common::missing(
            "linux-source-6.12 from Debian's archive (apt-get download, dpkg-deb, xz)",
        );
    }
    let vmlinux = Path::new(env!("CARGO_MANIFEST_DIR")).join("vmlinux");
    let built = common::sh(
        &work.join("linux-source-6.12/tools/sched_ext"),
        &format!(
            "clang-16 -g -O2 -D__TARGET_ARCH_x86 -mcpu=v3 -mlittle-endian -fms-extensions \
             -I include -I include/bpf-compat -I {} -target bpf -c scx_simple.bpf.c -o {} 2>build.log",
            vmlinux.display(),
            object.display()
        ),
    );
    if !built {
        return common::missing("clang-16 and libbpf-dev (the kernel sample's build tools)");
    }
    Some(object)
}

#[test]
fn a_scheduler_built_with_the_kernels_own_headers_loads_where_it_can() {
    let Some(dir) = common::kernels() else { return };
    let Some(object) = build_scx_simple() else {
        return;
    };
    let kernels: Vec<PathBuf> = EXPECT
        .iter()
        .map(|(k, _)| dir.join(k).join("vmlinuz"))
        .collect();
    let pkg = Package::open(&object).expect("the bare object opens");
    assert!(
        pkg.manifest.schedulers[0].variants[0]
            .requirements
            .exit_info
            .is_some(),
        "UEI_DEFINE record found"
    );
    let offline = check::matrix(&[pkg], &kernels, None).expect("check");
    for ((name, loads), cell) in EXPECT.iter().zip(&offline.results) {
        assert_eq!(cell.loadable, *loads, "check on {name}: {:?}", cell.reasons);
    }
    let cfg = common::sample_vm_config(600);
    let vm = scxpack::vmtest::matrix(&[object], &kernels, &cfg, 3, &[]).expect("vmtest");
    for ((name, loads), r) in EXPECT.iter().zip(&vm.results) {
        assert_eq!(r.loaded, *loads, "the kernel on {name}: {:?}", r.reason);
        if *loads {
            assert!(r.ok, "{name}: ran and detached: {:?}", r.reason);
            let exit = r
                .report
                .as_ref()
                .and_then(|rec| rec.report())
                .and_then(|rep| rep.exit.as_ref())
                .map(|e| e.kind_name.clone())
                .unwrap_or_default();
            assert!(
                exit.contains("SCX_EXIT_UNREG"),
                "{name}: exit record read from the sample's uei: {exit}"
            );
        }
    }
}
