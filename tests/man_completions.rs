//! `scxpack generate`: every man page renders with `man -l`, and each
//! completion script (bash, zsh, fish) parses in its shell and completes the
//! subcommands.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{missing, scxpack, temp_dir};

/// Every user-facing subcommand, as `scxpack --help` lists them (`help` aside).
fn subcommands() -> Vec<String> {
    let (code, out, err) = scxpack(&["--help"]);
    assert_eq!(code, 0, "scxpack --help: {err}");
    let subs: Vec<String> = out
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| *s != "help")
        .map(str::to_string)
        .collect();
    assert!(
        subs.len() > 10 && subs.iter().any(|s| s == "check"),
        "{out}"
    );
    subs
}

/// Path of `tool` on PATH, or `None` (skip outside CI, fail in CI).
fn tool(tool: &str, package: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(tool))
                .find(|p| p.is_file())
        })
        .or_else(|| {
            missing(&format!(
                "{tool} (Debian package {package}; .ci/setup installs it)"
            ))
        })
}

/// Runs `program args`; returns stdout, panicking with stderr on failure.
#[track_caller]
fn output(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("MANWIDTH", "100")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn generate(what: &[&str], dir: &Path) {
    let mut args = vec!["generate"];
    args.extend_from_slice(what);
    args.push(dir.to_str().expect("utf-8 temp dir"));
    let (code, _, err) = scxpack(&args);
    assert_eq!(code, 0, "scxpack {args:?}: {err}");
}

#[test]
fn man_pages_render_for_every_subcommand() {
    let Some(man) = tool("man", "man-db") else {
        return;
    };
    let dir = temp_dir("man");
    generate(&["man"], &dir);
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .expect("read man dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for sub in subcommands() {
        let page = format!("scxpack-{sub}.1");
        assert!(pages.contains(&page), "no man page {page} in {pages:?}");
    }
    assert!(pages.iter().all(|p| !p.contains("generate")), "{pages:?}");
    for page in &pages {
        let text = output(&man, &["-l", dir.join(page).to_str().expect("utf-8")]);
        let name = page.trim_end_matches(".1");
        assert!(
            text.contains("NAME") && text.contains("SYNOPSIS") && text.contains(name),
            "{page} did not render:\n{text}"
        );
    }
    let check = output(
        &man,
        &["-l", dir.join("scxpack-check.1").to_str().expect("utf-8")],
    );
    assert!(
        check.contains("--kernel"),
        "check's man page lacks --kernel:\n{check}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Generates the completions for `shell` and returns the script's path.
fn script(shell: &str, file: &str) -> PathBuf {
    let dir = temp_dir(&format!("completions-{shell}"));
    generate(&["completions", shell], &dir);
    let path = dir.join(file);
    assert!(path.is_file(), "no {}", path.display());
    path
}

fn assert_completes_subcommands(shell: &str, completions: &str) {
    for sub in subcommands().iter().filter(|s| s.starts_with("ch")) {
        assert!(
            completions
                .lines()
                .any(|l| l.split_whitespace().next() == Some(sub.as_str())),
            "{shell} does not complete 'scxpack ch' to {sub}: {completions:?}"
        );
    }
    assert!(!completions.contains("generate"), "{completions}");
}

#[test]
fn bash_completion_loads_and_completes_subcommands() {
    let Some(bash) = tool("bash", "bash") else {
        return;
    };
    let path = script("bash", "scxpack.bash");
    let p = path.to_str().expect("utf-8");
    output(&bash, &["-n", p]);
    let words = output(
        &bash,
        &[
            "-c",
            "source \"$1\" && COMP_WORDS=(scxpack ch) COMP_CWORD=1 COMP_LINE='scxpack ch' \
             COMP_POINT=10 && _scxpack scxpack ch scxpack && printf '%s\\n' \"${COMPREPLY[@]}\"",
            "bash",
            p,
        ],
    );
    assert_completes_subcommands("bash", &words);
    let all = output(
        &bash,
        &[
            "-c",
            "source \"$1\" && COMP_WORDS=(scxpack '') COMP_CWORD=1 && _scxpack scxpack '' scxpack \
             && printf '%s\\n' \"${COMPREPLY[@]}\"",
            "bash",
            p,
        ],
    );
    for sub in subcommands() {
        assert!(
            all.lines().any(|l| l == sub),
            "bash does not offer {sub}: {all:?}"
        );
    }
}

#[test]
fn zsh_completion_loads_and_registers() {
    let Some(zsh) = tool("zsh", "zsh") else {
        return;
    };
    let path = script("zsh", "_scxpack");
    output(&zsh, &["-n", path.to_str().expect("utf-8")]);
    let dir = path.parent().expect("dir").to_str().expect("utf-8");
    // compinit reads the #compdef line of every file on fpath: the script must
    // register itself for the scxpack command, and list every subcommand.
    let reg = output(
        &zsh,
        &[
            "-fc",
            "fpath=(\"$1\" $fpath); autoload -Uz compinit; compinit -u -D; \
             print -r -- ${_comps[scxpack]}",
            "zsh",
            dir,
        ],
    );
    assert_eq!(
        reg.trim(),
        "_scxpack",
        "zsh did not register _scxpack for scxpack"
    );
    let text = std::fs::read_to_string(&path).expect("read _scxpack");
    for sub in subcommands() {
        assert!(
            text.contains(&format!("'{sub}:")),
            "_scxpack does not list {sub}"
        );
    }
}

#[test]
fn fish_completion_loads_and_completes_subcommands() {
    let Some(fish) = tool("fish", "fish") else {
        return;
    };
    let path = script("fish", "scxpack.fish");
    let p = path.to_str().expect("utf-8");
    output(&fish, &["-n", p]);
    let words = output(
        &fish,
        &[
            "--no-config",
            "-c",
            "source $argv[1]; complete -C 'scxpack ch'",
            p,
        ],
    );
    assert_completes_subcommands("fish", &words);
}
