//! `scxpack --version`: the version, the git commit the binary was built
//! from, the libbpf it loads with and the package schema it reads.

mod common;

#[test]
fn version_names_commit_libbpf_and_schema() {
    let (code, out, err) = common::scxpack(&["--version"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("scxpack {}\n", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    assert!(out.contains("\nlibbpf: v1."), "{out}");
    let schema = format!(
        "\npackage schema: {} (reads {}.x)",
        scxpack::package::manifest::SCHEMA_VERSION,
        scxpack::package::manifest::SCHEMA_MAJOR
    );
    assert!(out.contains(&schema), "{out}");
    // Built from this checkout: the commit is its HEAD (build.rs reruns on
    // every commit); without git, it says so.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(head) if std::env::var_os("SCXPACK_GIT_COMMIT").is_none() => {
            assert!(out.contains(&format!("\ncommit: {head}\n")), "{out}");
        }
        _ => assert!(out.contains("\ncommit: "), "{out}"),
    }
}
