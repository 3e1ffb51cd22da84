//! Package commands: `pack`, `verify`, `install`, `uninstall`, `list`, `info`.
//!
//! Thin wrappers over [`crate::package`]: the library verifies, installs and
//! reports typed errors; this module prints and adds context.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use super::output::print_json;
use crate::package::Installed;
use crate::package::install::{self, Location};
use crate::package::installed::{InstalledPackage, Notice};
use crate::package::pack::{self, PackOptions};
use crate::package::signature::{self, Keyring, Policy};
use crate::package::{Mode, Package, Parameter, Provenance, Scheduler, Signature, Trust, Variant};

/// `scxpack pack SOURCE -o OUT.scxpkg`.
#[derive(Debug, clap::Args)]
pub(crate) struct PackArgs {
    /// `bpf-objects/` (every scheduler folder in it) or one scheduler folder.
    source: PathBuf,
    /// The package file to write (NAME-VERSION.scxpkg by convention).
    #[arg(short, long, value_name = "OUT.scxpkg")]
    output: PathBuf,
    /// Package name (default: the folder name; scxpack-schedulers for bpf-objects/).
    #[arg(long, value_name = "N")]
    name: Option<String>,
    /// Package version (default: the scxpack version).
    #[arg(long, value_name = "V")]
    version: Option<String>,
    /// Embed the proof records of FILE (`scxpack vmtest --proof FILE`) about
    /// this package; repeatable (docs/proof-records.md).
    #[arg(long, value_name = "FILE")]
    proof: Vec<PathBuf>,
}

/// `scxpack verify PKG [--root DIR]`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// A package (.scxpkg), an installed package directory, or a bare .bpf.o.
    package: PathBuf,
    /// Root whose trusted keys (DIR/usr/share/scxpack/keys.d, DIR/etc/scxpack/keys.d)
    /// and policy (DIR/etc/scxpack/policy) check the package's signature.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
}

/// `scxpack sign PKG --key SECRET_KEY`.
#[derive(Debug, clap::Args)]
pub(crate) struct SignArgs {
    /// A package (.scxpkg) or an installed package directory.
    package: PathBuf,
    /// A minisign secret key (`minisign -G`; an encrypted key asks for its password).
    #[arg(long, value_name = "SECRET_KEY_FILE")]
    key: PathBuf,
    /// Where to write the signature (default: PKG.minisig beside a package
    /// file, manifest.json.minisig inside a package directory).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `--root DIR` of the install commands.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RootArg {
    /// Root of the installation: packages are found in DIR/var/lib/scxpack/packages
    /// (scxpack install) and DIR/usr/lib/scxpack/packages (distribution packages).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub(crate) root: PathBuf,
}

/// `scxpack install PKG [--root DIR]`.
#[derive(Debug, clap::Args)]
pub(crate) struct InstallArgs {
    /// A package (.scxpkg) or a bare .bpf.o.
    package: PathBuf,
    #[command(flatten)]
    root: RootArg,
    /// Lay the package out for a distribution package instead: a new
    /// DIR/usr/lib/scxpack/packages/NAME in a build tree (with --root DESTDIR),
    /// which the package manager then owns. Never replaces anything.
    #[arg(long)]
    vendor: bool,
}

/// `scxpack uninstall NAME [--root DIR]`.
#[derive(Debug, clap::Args)]
pub(crate) struct UninstallArgs {
    /// The installed package's name (see `scxpack list`).
    name: String,
    #[command(flatten)]
    root: RootArg,
}

/// `scxpack list [--root DIR] [--json]`.
#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    root: RootArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `scxpack info NAME|PKG [--root DIR] [--json]`.
#[derive(Debug, clap::Args)]
pub(crate) struct InfoArgs {
    /// A package file or bare .bpf.o, or the name of an installed package or scheduler.
    target: String,
    #[command(flatten)]
    root: RootArg,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run_pack(args: &PackArgs) -> anyhow::Result<ExitCode> {
    let options = PackOptions {
        name: args.name.clone(),
        version: args.version.clone(),
        source_date_epoch: pack::source_date_epoch()?,
    };
    let mut package = pack::pack(&args.source, &options)?;
    for file in &args.proof {
        pack::embed_proofs(&mut package, file)?;
    }
    let bytes = package
        .to_archive(options.source_date_epoch)
        .context("cannot build the archive")?;
    install::write_atomically(&args.output, &bytes)?;
    let m = &package.manifest;
    let objects = package.objects().count();
    println!(
        "wrote {}: {} {}, {} scheduler(s), {objects} object(s), {} bytes, sha256 {}",
        args.output.display(),
        m.name,
        m.version,
        m.schedulers.len(),
        bytes.len(),
        crate::package::sha256_hex(&bytes)
    );
    Ok(ExitCode::SUCCESS)
}

/// Checks `package`'s signature with the keys and policy of `root`.
pub(crate) fn check_trust(package: &Package, root: &Path) -> anyhow::Result<Trust> {
    let keys = Keyring::load(root)?;
    let policy = Policy::load(root)?;
    Ok(package.check_signature(&keys, &policy)?)
}

/// Prints a note on stderr when `trust` is not a valid trusted signature.
pub(crate) fn note_trust(trust: &Trust, what: &Path) {
    if !matches!(trust, Trust::Signed { .. }) {
        // One write for the line (stderr is unbuffered; `run` is timed).
        let line = format!("scxpack: note: {}: {trust}\n", what.display());
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    }
}

pub(crate) fn run_sign(args: &SignArgs) -> anyhow::Result<ExitCode> {
    let package = Package::open(&args.package)?;
    if package.is_bare_object() {
        anyhow::bail!(
            "{}: a bare BPF object has no manifest to sign: pack it first (scxpack pack)",
            args.package.display()
        );
    }
    let m = &package.manifest;
    let text = signature::sign_manifest(
        &package.manifest_json(),
        &format!("{} {}", m.name, m.version),
        &args.key,
    )?;
    let output = args.output.clone().unwrap_or_else(|| {
        if args.package.is_dir() {
            args.package.join(signature::INSTALLED_SIGNATURE)
        } else {
            signature::detached_path(&args.package)
        }
    });
    install::write_atomically(&output, text.as_bytes())?;
    let sig = Signature::parse(&output, &text)?;
    println!(
        "wrote {}: signature of {} {} (manifest.json, sha256 {}) by key {}",
        output.display(),
        m.name,
        m.version,
        crate::package::sha256_hex(&package.manifest_json()),
        sig.key_id
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let package = Package::open(&args.package)?;
    package
        .validate()
        .map_err(|reason| anyhow::anyhow!("{}: {reason}", args.package.display()))?;
    let trust = check_trust(&package, &args.root)?;
    let m = &package.manifest;
    if package.is_bare_object() {
        let (path, bytes) = package.objects().next().expect("a bare object");
        println!(
            "OK {}: bare BPF object {path} ({} bytes, sha256 {}): no manifest to check it against; {trust}",
            args.package.display(),
            bytes.len(),
            crate::package::sha256_hex(bytes)
        );
    } else {
        println!(
            "OK {}: {} {} (schema {}), {} scheduler(s), {} object(s), {} bytes: every size and sha256 matches the manifest; {trust}",
            args.package.display(),
            m.name,
            m.version,
            m.schema_version,
            m.schedulers.len(),
            package.objects().count(),
            package.objects_size()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_install(args: &InstallArgs) -> anyhow::Result<ExitCode> {
    let package = Package::open(&args.package)?;
    let trust = check_trust(&package, &args.root.root)?;
    let location = if args.vendor {
        Location::Vendor
    } else {
        Location::Admin
    };
    let report = install::install(&args.root.root, &package, location)?;
    if report.unchanged {
        println!(
            "{} {} is already installed at {} (verified)",
            report.name,
            report.version,
            report.path.display()
        );
    } else {
        let replacing = report
            .previous
            .map(|p| format!(" (replacing {p})"))
            .unwrap_or_default();
        println!(
            "installed {} {}{replacing} at {}: {} bytes",
            report.name,
            report.version,
            report.path.display(),
            report.bytes
        );
    }
    note_trust(&trust, &args.package);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_uninstall(args: &UninstallArgs) -> anyhow::Result<ExitCode> {
    let removed = install::uninstall(&args.root.root, &args.name)?;
    println!(
        "uninstalled {} {} (schedulers: {})",
        removed.name,
        removed.version,
        removed.schedulers.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints the scan's notices as warnings on stderr (those `keep` selects).
pub(crate) fn warn(installed: &Installed, keep: impl Fn(&Notice) -> bool) {
    for n in installed.notices.iter().filter(|n| keep(n)) {
        crate::say!("scxpack: warning: {n}");
    }
}

/// `list --json`.
#[derive(Debug, Serialize)]
struct ListJson<'a> {
    format: &'static str,
    /// In search order.
    packages: Vec<ListEntry<'a>>,
    notices: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ListEntry<'a> {
    name: &'a str,
    version: &'a str,
    location: Location,
    path: &'a Path,
    /// The schedulers it provides (the others are provided by a package found first).
    schedulers: &'a [String],
    shadowed_by: Option<&'a Path>,
}

impl<'a> ListEntry<'a> {
    fn new(p: &'a InstalledPackage) -> Self {
        ListEntry {
            name: p.name(),
            version: p.version(),
            location: p.location,
            path: &p.dir,
            schedulers: &p.provides,
            shadowed_by: p.shadowed_by.as_deref(),
        }
    }
}

pub(crate) fn run_list(args: &ListArgs) -> anyhow::Result<ExitCode> {
    let root = &args.root.root;
    let installed = Installed::scan(root)?;
    warn(&installed, |_| true);
    let entries: Vec<ListEntry<'_>> = installed.packages.iter().map(ListEntry::new).collect();
    if args.json {
        print_json(&ListJson {
            format: "scxpack-installed/1",
            packages: entries,
            notices: installed.notices.iter().map(ToString::to_string).collect(),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    if entries.is_empty() {
        writeln!(
            out,
            "no packages installed under {}",
            crate::package::installed::searched(root)
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let width = |f: fn(&ListEntry<'_>) -> usize, title: &str| {
        entries
            .iter()
            .map(f)
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let wn = width(|e| e.name.len(), "PACKAGE");
    let wv = width(|e| e.version.len(), "VERSION");
    writeln!(
        out,
        "{:wn$}  {:wv$}  {:8}  SCHEDULERS",
        "PACKAGE", "VERSION", "LOCATION"
    )?;
    for e in &entries {
        let location = match e.location {
            Location::Admin => "admin",
            Location::Vendor => "vendor",
        };
        let schedulers = match e.shadowed_by {
            Some(by) => format!("(shadowed by {})", by.display()),
            None => e.schedulers.join(", "),
        };
        writeln!(
            out,
            "{:wn$}  {:wv$}  {location:8}  {schedulers}",
            e.name, e.version
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_info(args: &InfoArgs) -> anyhow::Result<ExitCode> {
    let root = &args.root.root;
    let path = Path::new(&args.target);
    if super::names_a_file(&args.target) {
        let package = Package::open(path)?;
        return print_info(&Info::new(&package, path.display().to_string(), None), args);
    }
    let installed = Installed::scan(root)?;
    warn(&installed, |n| n.concerns(&args.target));
    let (found, only) = if let Some(p) = installed.package(&args.target) {
        (p, None)
    } else if let Some(p) = installed.provider(&args.target) {
        (p, Some(args.target.as_str()))
    } else {
        anyhow::bail!(
            "{:?} is neither a package file nor an installed package or scheduler (searched {})",
            args.target,
            crate::package::installed::searched(root)
        );
    };
    let source = format!("installed at {}", found.dir.display());
    print_info(&Info::new(&found.package, source, only), args)
}

fn print_info(info: &Info<'_>, args: &InfoArgs) -> anyhow::Result<ExitCode> {
    if args.json {
        print_json(info)?;
    } else {
        info.print(&mut std::io::stdout().lock())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What `info` shows.
#[derive(Debug, Serialize)]
struct Info<'a> {
    name: &'a str,
    version: &'a str,
    schema_version: &'a str,
    source: String,
    provenance: &'a Provenance,
    schedulers: Vec<SchedulerInfo<'a>>,
}

#[derive(Debug, Serialize)]
struct SchedulerInfo<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a [Parameter],
    modes: &'a [Mode],
    /// In preference order.
    variants: Vec<VariantInfo<'a>>,
}

/// A variant and the requirements that decide where it loads.
#[derive(Debug, Serialize)]
struct VariantInfo<'a> {
    name: &'a str,
    object: &'a str,
    sha256: &'a str,
    size: u64,
    description: &'a str,
    min_kernel: Option<&'a str>,
    ops_name: Option<&'a str>,
    ops_flags: Option<u64>,
    callbacks: usize,
    strong_kfuncs: Vec<&'a str>,
    weak_kfuncs: Vec<&'a str>,
    kconfig: Vec<&'a str>,
    core_relocs: usize,
    enum_slots: usize,
    optional_members: Vec<&'a str>,
    optional_flags: Vec<&'a str>,
}

impl<'a> Info<'a> {
    fn new(p: &'a Package, source: String, only: Option<&str>) -> Self {
        let m = &p.manifest;
        Info {
            name: &m.name,
            version: &m.version,
            schema_version: &m.schema_version,
            source,
            provenance: &m.provenance,
            schedulers: m
                .schedulers
                .iter()
                .filter(|s| only.is_none() || only == Some(s.name.as_str()))
                .map(SchedulerInfo::new)
                .collect(),
        }
    }

    fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "package:    {} {} (schema {})",
            self.name, self.version, self.schema_version
        )?;
        writeln!(out, "from:       {}", self.source)?;
        let p = self.provenance;
        if let Some(c) = &p.compiler {
            writeln!(out, "built with: {c}")?;
        }
        if let Some(h) = &p.vmlinux_h_sha256 {
            writeln!(out, "vmlinux.h:  sha256 {h}")?;
        }
        writeln!(out, "epoch:      {}", p.build_epoch)?;
        for s in &self.schedulers {
            writeln!(out)?;
            writeln!(out, "scheduler {}: {}", s.name, s.description)?;
            if !s.parameters.is_empty() {
                writeln!(out, "  parameters:")?;
            }
            for par in s.parameters {
                let unit = par
                    .unit
                    .as_deref()
                    .map(|u| format!(" {u}"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "    {} ({}, default {}{unit}): {}",
                    par.name, par.type_name, par.default, par.description
                )?;
            }
            print_modes(out, s.modes)?;
            writeln!(out, "  variants (in preference order):")?;
            for (i, v) in s.variants.iter().enumerate() {
                v.print(out, i + 1)?;
            }
        }
        Ok(())
    }
}

/// `  modes:` and one line per mode: its values, then its description.
fn print_modes(out: &mut impl Write, modes: &[Mode]) -> std::io::Result<()> {
    if !modes.is_empty() {
        writeln!(out, "  modes (run NAME --mode MODE):")?;
    }
    for m in modes {
        let values: Vec<String> = m.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(out, "    {:11} {}", m.name, values.join(" "))?;
        if !m.description.is_empty() {
            writeln!(out, "                {}", m.description)?;
        }
    }
    Ok(())
}

impl<'a> SchedulerInfo<'a> {
    fn new(s: &'a Scheduler) -> Self {
        SchedulerInfo {
            name: &s.name,
            description: &s.description,
            parameters: &s.parameters,
            modes: &s.modes,
            variants: s.variants.iter().map(VariantInfo::new).collect(),
        }
    }
}

impl<'a> VariantInfo<'a> {
    fn new(v: &'a Variant) -> Self {
        let r = &v.requirements;
        let ops = r.struct_ops.first();
        let kfuncs = |weak: bool| {
            r.kfuncs
                .iter()
                .filter(|k| k.weak == weak)
                .map(|k| k.kernel_name.as_str())
                .collect()
        };
        VariantInfo {
            name: &v.name,
            object: &v.object,
            sha256: &v.sha256,
            size: v.size,
            description: &v.description,
            min_kernel: v.min_kernel.as_deref(),
            ops_name: ops.and_then(|o| o.ops_name.as_deref()),
            ops_flags: ops.and_then(|o| o.flags),
            callbacks: ops.map_or(0, |o| o.callbacks.len()),
            strong_kfuncs: kfuncs(false),
            weak_kfuncs: kfuncs(true),
            kconfig: r.kconfig.iter().map(|k| k.name.as_str()).collect(),
            core_relocs: r.core_relocs.len(),
            enum_slots: r.enum_slots().count(),
            optional_members: v
                .policy
                .optional_members
                .iter()
                .map(String::as_str)
                .collect(),
            optional_flags: v.policy.optional_flags.keys().map(String::as_str).collect(),
        }
    }

    fn print(&self, out: &mut impl Write, rank: usize) -> std::io::Result<()> {
        let min = self
            .min_kernel
            .map(|k| format!(", for kernels >= {k}"))
            .unwrap_or_default();
        writeln!(
            out,
            "    {rank}. {}: {} ({} bytes, sha256 {}{min})",
            self.name, self.object, self.size, self.sha256
        )?;
        if !self.description.is_empty() {
            writeln!(out, "       {}", self.description)?;
        }
        writeln!(
            out,
            "       ops {}, flags {:#x}, {} callbacks, {} CO-RE relocations, {} enum slots",
            self.ops_name.unwrap_or("?"),
            self.ops_flags.unwrap_or(0),
            self.callbacks,
            self.core_relocs,
            self.enum_slots
        )?;
        writeln!(
            out,
            "       strong kfuncs ({}): {}",
            self.strong_kfuncs.len(),
            self.strong_kfuncs.join(" ")
        )?;
        writeln!(
            out,
            "       weak kfuncs ({}): {}",
            self.weak_kfuncs.len(),
            self.weak_kfuncs.join(" ")
        )?;
        if !self.kconfig.is_empty() {
            writeln!(out, "       kconfig: {}", self.kconfig.join(" "))?;
        }
        if !self.optional_members.is_empty() || !self.optional_flags.is_empty() {
            writeln!(
                out,
                "       may drop: {}",
                self.optional_members
                    .iter()
                    .chain(&self.optional_flags)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ")
            )?;
        }
        Ok(())
    }
}
