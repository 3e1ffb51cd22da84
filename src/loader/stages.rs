//! The loader as a library, in the stages a scheduler goes through, each a
//! type so what can be done at each step is visible in the type (as
//! libbpf-rs does with `OpenObject` → `Object`):
//!
//! [`Selected`] (the running kernel read once, variants judged by the same
//! [`crate::matching::select`] `check` uses) → [`OpenScheduler`] (libbpf
//! opened the object, every shim applied; `.rodata` can still be set) →
//! [`LoadedScheduler`] (verified and loaded; maps reachable) →
//! [`AttachedScheduler`] (sched_ext runs it) → [`Detached`] (with the
//! kernel's exit record). `scxpack run` is this sequence plus a retry over
//! variants and restarts.
//!
//! ```no_run
//! use scxpack::live::System;
//! use scxpack::loader::{Selected, SelectOptions};
//! use scxpack::package::Package;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pkg = Package::open(std::path::Path::new("scxpack-schedulers.scxpkg"))?;
//! let root = System::default();
//! let opts = SelectOptions { scheduler: Some("fair".into()), ..SelectOptions::default() };
//! let selected = Selected::for_running_kernel(&pkg, &opts, &root)?;
//! for skipped in selected.selection.skipped() {
//!     eprintln!("skipping {}: {:?}", skipped.variant, skipped.assessment.reasons);
//! }
//! let choice = &selected.attempts()[0];
//! let mut open = selected.open(choice, &root)?;
//! open.set_rodata("slice_us", 5000)?;
//! let running = open.load()?.attach(&root)?;
//! running.watch(Some(std::time::Duration::from_secs(10)));
//! let detached = running.detach();
//! println!("exit record: {:?}", detached.exit);
//! # Ok(())
//! # }
//! ```

use std::time::{Duration, Instant};

use libbpf_rs::{Link, Object, OpenObject};

use super::boot_cache::{self, BootCache};
use super::error::{LoadError, LoadStep, RunError, ShimError};
use super::exit_info::ExitInfo;
use super::globals::{self, ObjectGlobals, SetupError};
use super::prefetch::{self, KernelPrefetch, ReadThread};
use super::report::{SelectPhases, Skipped};
use super::watch::{self, Ended};
use super::{libbpf_log, open, preflight};
use crate::kernel::{CoreIndex, KernelTarget};
use crate::live::{SYS_BTF, System};
use crate::matching::{self, Assessment, Selection};
use crate::object::{GlobalType, Globals, Scalar, Value};
use crate::package::{Package, Scheduler, Variant};

/// How long the kernel gets to switch state after attach or detach.
const STATE_TIMEOUT: Duration = Duration::from_secs(10);

/// What to select.
#[derive(Debug, Clone, Default)]
pub struct SelectOptions {
    /// Which scheduler of a multi-scheduler package.
    pub scheduler: Option<String>,
    /// Only this variant, instead of the first one that loads.
    pub variant: Option<String>,
    /// Also try variants matching refuses, so the kernel gives its own verdict.
    pub force: bool,
    /// Maps the caller gives a `max_entries` before load (as a manifest's
    /// `max_entries` setup steps do): matching no longer refuses them for
    /// being unsized in the object.
    pub sized_maps: Vec<String>,
}

/// A variant to try, with what matching said about it.
#[derive(Debug, Clone)]
pub struct Choice<'p> {
    pub variant: &'p Variant,
    pub assessment: Assessment,
    /// Variants before this one that are not tried, and why.
    pub skipped: Vec<Skipped>,
}

/// A scheduler of a package, its variants judged against the running kernel.
#[derive(Debug)]
pub struct Selected<'p> {
    pub package: &'p Package,
    pub scheduler: &'p Scheduler,
    /// Every judged variant, the chosen one and the skipped ones with reasons.
    pub selection: Selection,
    attempts: Vec<Choice<'p>>,
    /// Where the time reading the kernel and judging the variants went.
    pub phases: SelectPhases,
}

impl<'p> Selected<'p> {
    /// Reads the running kernel through `root` once (its BTF parsed once,
    /// its config read once), checks it can take a scheduler, and judges
    /// the variants with the shared matching code.
    pub fn for_running_kernel(
        package: &'p Package,
        opts: &SelectOptions,
        root: &System,
    ) -> Result<Self, RunError> {
        Self::for_running_kernel_with(package, opts, root, None)
    }

    /// [`Selected::for_running_kernel`] taking the kernel from `kernel`
    /// when it is being read already and the verdicts are not in this
    /// boot's cache.
    pub fn for_running_kernel_with(
        package: &'p Package,
        opts: &SelectOptions,
        root: &System,
        kernel: Option<KernelPrefetch>,
    ) -> Result<Self, RunError> {
        let scheduler = pick_scheduler(package, opts.scheduler.as_deref())?;
        let variants = candidates(scheduler, opts.variant.as_deref())?;
        let started = Instant::now();
        let (selection, mut phases) = judge((&variants, package.is_bare_object()), root, kernel)?;
        let mut sized = crate::package::setup::sized_maps(&scheduler.setup);
        sized.extend(opts.sized_maps.iter().map(String::as_str));
        let selection = selection.with_sized_maps(&sized);
        phases.select_ms = millis(started);
        let attempts: Vec<Choice<'p>> = selection
            .attempts(opts.force)
            .into_iter()
            .map(|i| choice(&selection, &variants, i, opts.force))
            .collect();
        if attempts.is_empty() {
            return Err(RunError::NoLoadableVariant {
                scheduler: scheduler.name.clone(),
                details: selection
                    .skipped()
                    .iter()
                    .map(|j| format!("  {}: {}", j.variant, reasons(&j.assessment).join("; ")))
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        Ok(Selected {
            package,
            scheduler,
            selection,
            attempts,
            phases,
        })
    }

    /// The variants to try, in order (never empty).
    #[must_use]
    pub fn attempts(&self) -> &[Choice<'p>] {
        &self.attempts
    }

    /// Opens `choice`'s object with libbpf and applies every shim of its
    /// plan: kconfig values, `__SCX_*` slots, masked flags, NULLed
    /// callbacks, `hotplug_seq`, and the ops name `NAME_VERSION`.
    pub fn open(&self, choice: &Choice<'p>, root: &System) -> Result<OpenScheduler<'p>, LoadError> {
        let variant = choice.variant;
        let bytes = self.package.object(variant).ok_or_else(|| {
            LoadError::ours(
                LoadStep::Open,
                format!(
                    "package lacks object {} (verify the package and reinstall it)",
                    variant.object
                ),
            )
        })?;
        libbpf_log::take();
        let globals = ObjectGlobals::new(&variant.object, bytes);
        let req = &variant.requirements;
        let plan = choice.assessment.plan();
        let text = open::needs_kconfig(req).then(|| plan.kconfig_text());
        let mut object = open::open(
            bytes,
            &open::object_name(&self.scheduler.name),
            text.as_deref(),
        )?;
        for (slot, value) in &plan.enum_slots {
            open::set_rodata(&mut object, req, slot, *value)?;
        }
        let ops_name = open::ops_name(variant, &self.package.manifest.version);
        let hotplug_seq = root.sched_ext_count("hotplug_seq").unwrap_or(0);
        for map in &req.struct_ops {
            let flags = plan
                .flags
                .iter()
                .find(|(m, _)| *m == map.name)
                .map(|(_, f)| *f);
            let nulls: Vec<&str> = plan
                .null_callbacks
                .iter()
                .filter(|(m, _)| *m == map.name)
                .map(|(_, member)| member.as_str())
                .collect();
            open::edit_struct_ops(&mut object, map, flags, &nulls, hotplug_seq, &ops_name)?;
        }
        Ok(OpenScheduler {
            object,
            variant,
            ops_name,
            globals,
        })
    }
}

/// An opened object with its shims applied, not yet loaded.
#[derive(Debug)]
pub struct OpenScheduler<'p> {
    object: OpenObject,
    variant: &'p Variant,
    ops_name: String,
    globals: ObjectGlobals<'p>,
}

impl<'p> OpenScheduler<'p> {
    /// Sets the scalar global `name` to the raw bits `value`, read as the
    /// variable's C type (two's complement for signed types; 0/1 for a
    /// bool), checked like [`OpenScheduler::set`]. Parameters are validated
    /// against their C types by the loader's parameter checks before they get here.
    pub fn set_rodata(&mut self, name: &str, value: u64) -> Result<(), ShimError> {
        let globals = self.globals.get().map_err(ShimError::Globals)?;
        let g = globals.get(name)?;
        let value = match g.ty {
            GlobalType::Scalar(Scalar::Bool) if value <= 1 => Value::Bool(value == 1),
            GlobalType::Scalar(Scalar::Int { signed: true, .. }) => {
                Value::Int(i128::from(value as i64))
            }
            _ => Value::Int(i128::from(value)),
        };
        let w = globals.encode(name, value)?;
        globals::write(&mut self.object, &w, name).map_err(|e| match e {
            SetupError::Global(g) => ShimError::Global(g),
            SetupError::NoDataMap { section, .. } => ShimError::NoDataMap(section),
            other => ShimError::NoDataMap(other.to_string()),
        })
    }

    /// The libbpf object, for anything this API does not cover.
    pub fn object_mut(&mut self) -> &mut OpenObject {
        &mut self.object
    }

    /// Loads (the verifier runs here).
    pub fn load(self) -> Result<LoadedScheduler<'p>, LoadError> {
        let object = self
            .object
            .load()
            .map_err(|e| LoadError::libbpf(LoadStep::Load, Some(&e), libbpf_log::take()))?;
        Ok(LoadedScheduler {
            object,
            variant: self.variant,
            ops_name: self.ops_name,
            globals: self.globals,
        })
    }
}

/// A loaded scheduler, not yet attached: its maps can be filled.
#[derive(Debug)]
pub struct LoadedScheduler<'p> {
    object: Object,
    variant: &'p Variant,
    ops_name: String,
    globals: ObjectGlobals<'p>,
}

impl<'p> LoadedScheduler<'p> {
    /// The libbpf object (maps by name through `libbpf_rs::MapCore`).
    #[must_use]
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// Attaches the struct_ops map and waits for sched_ext to report it
    /// enabled under our ops name.
    pub fn attach(mut self, root: &System) -> Result<AttachedScheduler<'p>, LoadError> {
        let seq_before = enable_seq(root);
        let link = open::attach_struct_ops(&mut self.object, &self.variant.requirements)?;
        // Whether the last look found it enabled under our name: then it
        // was enabled, and there is nothing to ask sysfs again.
        let mut ours = false;
        let enabled = watch::wait_for(STATE_TIMEOUT, || {
            ours = watch::is_ours(root, &self.ops_name);
            ours || self.left_exit_record()
        });
        let failed = (!ours).then(|| self.failed_before_enable(root, seq_before));
        if let Some(exit) = failed.flatten() {
            return Err(LoadError::ours(
                LoadStep::Enable,
                format!(
                    "attached, but sched_ext disabled it before it was enabled: {} ({}) {}",
                    exit.kind_name, exit.reason, exit.msg
                ),
            ));
        }
        if !enabled {
            let state = root.sched_ext_state().unwrap_or_default();
            return Err(LoadError::ours(
                LoadStep::Enable,
                format!(
                    "attached, but sched_ext state is {state:?}, not enabled with {}",
                    self.ops_name
                ),
            ));
        }
        Ok(AttachedScheduler {
            object: self.object,
            link,
            variant: self.variant,
            ops_name: self.ops_name,
            root: root.clone(),
            globals: self.globals,
        })
    }

    /// Whether the scheduler already wrote its exit record: it has left
    /// again (a restart request or an error soon after enable can beat our
    /// first look at the state under emulation). Enabled first, the
    /// caller's [`AttachedScheduler::watch`] reports it ejected with the
    /// record; never enabled, [`Self::failed_before_enable`] makes it an
    /// enable failure.
    fn left_exit_record(&self) -> bool {
        open::read_exit_info(&self.object, &self.variant.requirements).is_some()
    }

    /// The exit record of a scheduler the kernel never enabled (its
    /// `ops.init` failed, say): it is not ours, and the kernel's count of
    /// enabled schedulers did not move since before attach. `None` when
    /// it runs, was enabled, or the kernel has no `enable_seq` to tell.
    fn failed_before_enable(&self, root: &System, seq_before: Option<u64>) -> Option<ExitInfo> {
        if watch::is_ours(root, &self.ops_name) {
            return None;
        }
        let exit = open::read_exit_info(&self.object, &self.variant.requirements)?;
        (seq_before.is_some() && enable_seq(root) == seq_before).then_some(exit)
    }
}

/// sched_ext's count of schedulers enabled since boot, where the kernel
/// has one.
fn enable_seq(root: &System) -> Option<u64> {
    root.sched_ext_count("enable_seq")
}

/// A scheduler sched_ext is running.
#[derive(Debug)]
pub struct AttachedScheduler<'p> {
    object: Object,
    link: Link,
    variant: &'p Variant,
    ops_name: String,
    root: System,
    globals: ObjectGlobals<'p>,
}

impl<'p> AttachedScheduler<'p> {
    /// The ops name the kernel reports (`/sys/kernel/sched_ext/root/ops`).
    #[must_use]
    pub fn ops_name(&self) -> &str {
        &self.ops_name
    }

    /// The variant running.
    #[must_use]
    pub fn variant(&self) -> &'p Variant {
        self.variant
    }

    /// The libbpf object (maps by name through `libbpf_rs::MapCore`).
    #[must_use]
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// Whether sched_ext still runs this scheduler (state `enabled` under
    /// our ops name): for callers that poll in their own loop instead of
    /// [`AttachedScheduler::watch`].
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        watch::is_ours(&self.root, &self.ops_name)
    }

    /// Polls until `duration` passes, SIGINT/SIGTERM arrives (after
    /// [`install_signal_handlers`]), or the kernel ejects the scheduler.
    #[must_use]
    pub fn watch(&self, duration: Option<Duration>) -> Ended {
        watch::watch(&self.root, &self.ops_name, duration)
    }

    /// Polls until `stop` holds, SIGINT/SIGTERM arrives, or the kernel
    /// ejects the scheduler (what a supervisor that stops on request uses).
    #[must_use]
    pub fn watch_until(&self, stop: impl Fn() -> bool) -> Ended {
        watch::watch_until(&self.root, &self.ops_name, stop)
    }

    /// Detaches, waits for sched_ext to report `disabled`, and reads the
    /// exit record the scheduler left.
    #[must_use]
    pub fn detach(self) -> Detached {
        drop(self.link);
        let cleanly = watch::wait_for(STATE_TIMEOUT, || {
            self.root.sched_ext_state().as_deref() == Some("disabled")
        });
        Detached {
            exit: open::read_exit_info(&self.object, &self.variant.requirements),
            cleanly,
        }
    }
}

/// What is left of a scheduler once detached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detached {
    /// The exit record (`struct user_exit_info`), when the object has one
    /// and the scheduler wrote it.
    pub exit: Option<ExitInfo>,
    /// sched_ext went back to `disabled` in time.
    pub cleanly: bool,
}

/// Routes SIGINT and SIGTERM to [`AttachedScheduler::watch`].
pub fn install_signal_handlers() {
    watch::install_signal_handlers();
}

/// Whether SIGINT or SIGTERM arrived since [`install_signal_handlers`]:
/// for callers that poll in their own loop.
#[must_use]
pub fn stop_requested() -> bool {
    watch::stop_requested()
}

/// Routes libbpf's messages through the loader (echoed with `verbose`).
pub fn install_libbpf_log(verbose: bool) {
    libbpf_log::install(verbose);
}

/// Judges `variants` on the running kernel: from this boot's cache when it
/// knows them all, else by reading and parsing the kernel's BTF once (and
/// remembering the verdicts, and a bare object's requirements). Fails when
/// the kernel cannot take a scheduler. Says where the time went.
fn judge(
    (variants, bare): (&[&Variant], bool),
    root: &System,
    prefetch: Option<KernelPrefetch>,
) -> Result<(Selection, SelectPhases), RunError> {
    let keys: Vec<String> = variants
        .iter()
        .map(|v| boot_cache::variant_key(v, bare))
        .collect();
    let (mut cache, read) = match prefetch {
        Some(p) => p.into_parts(),
        None => (BootCache::open(root), None),
    };
    if let Some(hit) = cache.as_ref().and_then(|c| c.lookup(&keys)) {
        preflight::kernel_ready(hit.release.as_deref(), hit.sched_ext, root)?;
        let names = variants.iter().map(|v| v.name.clone());
        let phases = SelectPhases {
            cache_hit: true,
            ..SelectPhases::default()
        };
        return Ok((
            Selection::from_assessments(names.zip(hit.assessments).collect()),
            phases,
        ));
    }
    let (selection, phases, kernel) = judge_now(variants, root, read)?;
    if let Some(cache) = &mut cache {
        let judged = selection.judged.iter().map(|j| j.assessment.clone());
        let objects = variants
            .iter()
            .filter(|_| bare)
            .map(|v| (v.sha256.clone(), v.requirements.loader_layout()));
        cache.store(kernel.clone(), keys.into_iter().zip(judged), objects);
    }
    preflight::kernel_ready(kernel.0.as_deref(), kernel.1, root)?;
    Ok((selection, phases))
}

/// The running kernel's release and whether it has sched_ext, as judging
/// found them.
type KernelSeen = (Option<String>, bool);

/// Judges `variants` against the running kernel's BTF, read by `read`
/// when a thread started on it, else read here; also gives the kernel's
/// release and whether it has sched_ext.
fn judge_now(
    variants: &[&Variant],
    root: &System,
    read: Option<ReadThread>,
) -> Result<(Selection, SelectPhases, KernelSeen), RunError> {
    let mut clock = Instant::now();
    let origin = root.path(std::path::Path::new(SYS_BTF));
    let roots = matching::core_roots(variants.iter().map(|v| &v.requirements));
    let core = CoreIndex::Names(&roots);
    let read = prefetch::join(read).transpose()?;
    let read_ahead = read.is_some();
    let (live, kernel, read_ms, parse_ms);
    if let Some(read) = read {
        live = read.live;
        kernel = KernelTarget::with_facts(&live.btf, &origin, read.facts, read.kconfig, core)?;
        (read_ms, parse_ms) = (read.read_ms, read.parse_ms + lap(&mut clock));
    } else {
        let kconfig;
        (live, kconfig) = prefetch::read_live(root)?;
        read_ms = lap(&mut clock);
        kernel = KernelTarget::build(&live.btf, &origin, live.release.clone(), kconfig, core)?;
        parse_ms = lap(&mut clock);
    }
    let selection = matching::select(variants.iter().copied(), &kernel.view());
    let phases = SelectPhases {
        read_ms,
        btf_mapped: live.btf.is_mapped(),
        read_ahead,
        parse_ms,
        judge_ms: lap(&mut clock),
        ..SelectPhases::default()
    };
    Ok((
        selection,
        phases,
        (live.release.clone(), kernel.facts.sched_ext),
    ))
}

pub(super) fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds since `clock`, which restarts.
pub(super) fn lap(clock: &mut Instant) -> u64 {
    let ms = millis(*clock);
    *clock = Instant::now();
    ms
}

pub(super) fn pick_scheduler<'p>(
    pkg: &'p Package,
    name: Option<&str>,
) -> Result<&'p Scheduler, RunError> {
    let all = &pkg.manifest.schedulers;
    let names = || {
        all.iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(n) => all
            .iter()
            .find(|s| s.name == n)
            .ok_or_else(|| RunError::NoSuchScheduler {
                package: pkg.manifest.name.clone(),
                name: n.to_string(),
                names: names(),
            }),
        None if all.len() == 1 => Ok(&all[0]),
        None => Err(RunError::AmbiguousScheduler {
            package: pkg.manifest.name.clone(),
            names: names(),
        }),
    }
}

/// The variants to judge: all of them, or the one `--variant` names.
fn candidates<'p>(
    sched: &'p Scheduler,
    forced: Option<&str>,
) -> Result<Vec<&'p Variant>, RunError> {
    let Some(name) = forced else {
        return Ok(sched.variants.iter().collect());
    };
    match sched.variants.iter().find(|v| v.name == name) {
        Some(v) => Ok(vec![v]),
        None => Err(RunError::NoSuchVariant {
            scheduler: sched.name.clone(),
            name: name.to_string(),
            names: sched
                .variants
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn choice<'p>(
    selection: &Selection,
    variants: &[&'p Variant],
    i: usize,
    force: bool,
) -> Choice<'p> {
    let judged = &selection.judged[i];
    Choice {
        variant: variants[i],
        assessment: judged.assessment.clone(),
        skipped: selection
            .skipped_before(i, force)
            .into_iter()
            .map(|j| Skipped {
                variant: j.variant.clone(),
                reasons: reasons(&j.assessment),
            })
            .collect(),
    }
}

pub(super) fn reasons(a: &Assessment) -> Vec<String> {
    a.reasons.iter().map(ToString::to_string).collect()
}

/// Typed globals, resizable arrays and map sizes, before load. Every
/// name, C type, size, index and range is checked against the object's
/// own BTF first: a mistake is a [`SetupError`], never a libbpf failure.
///
/// ```no_run
/// # use scxpack::loader::{OpenScheduler, SetupError};
/// # fn setup(open: &mut OpenScheduler<'_>, nr_cpus: u32) -> Result<(), SetupError> {
/// open.set("nr_cpu_ids", nr_cpus)?;
/// open.set("slice_ns", 20_000_000u64)?;
/// open.resize_array("cpu_started_at", u64::from(nr_cpus))?;
/// open.set_element("cpu_started_at", 0, 0u64)?;
/// open.set_max_entries("pair_ctx", nr_cpus / 2)?;
/// # Ok(())
/// # }
/// ```
impl OpenScheduler<'_> {
    /// The object's globals with their C types (sizes after any resize),
    /// read from its BTF on first use.
    pub fn globals(&self) -> Result<&Globals, SetupError> {
        Ok(self.globals.get()?)
    }

    /// Sets the scalar global `name` (`.rodata`, `.data` or `.bss`).
    pub fn set(&mut self, name: &str, value: impl Into<Value>) -> Result<(), SetupError> {
        let w = self.globals.get()?.encode(name, value.into())?;
        globals::write(&mut self.object, &w, name)
    }

    /// Sets element `index` of the array global `name`.
    pub fn set_element(
        &mut self,
        name: &str,
        index: u64,
        value: impl Into<Value>,
    ) -> Result<(), SetupError> {
        let w = self
            .globals
            .get()?
            .encode_element(name, index, value.into())?;
        globals::write(&mut self.object, &w, name)
    }

    /// Sets the first elements of the array global `name` to `values`.
    pub fn set_array<V: Into<Value>>(
        &mut self,
        name: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Result<(), SetupError> {
        let values: Vec<Value> = values.into_iter().map(Into::into).collect();
        let w = self.globals.get()?.encode_array(name, &values)?;
        globals::write(&mut self.object, &w, name)
    }

    /// Sets the global `name` to raw bytes, exactly its size (structs).
    pub fn set_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<(), SetupError> {
        let w = self.globals.get()?.encode_bytes(name, bytes)?;
        globals::write(&mut self.object, &w, name)
    }

    /// The value the scalar global `name` will be loaded with.
    pub fn get(&mut self, name: &str) -> Result<Value, SetupError> {
        let section = self.globals.get()?.get(name)?.section.clone();
        let data = globals::initial(&mut self.object, &section, name)?;
        Ok(self.globals.get()?.decode(name, &data)?)
    }

    /// The value element `index` of the array `name` will be loaded with.
    pub fn get_element(&mut self, name: &str, index: u64) -> Result<Value, SetupError> {
        let section = self.globals.get()?.get(name)?.section.clone();
        let data = globals::initial(&mut self.object, &section, name)?;
        Ok(self.globals.get()?.decode_element(name, index, &data)?)
    }

    /// Resizes the array `name`, the last variable of a `.data.NAME` or
    /// `.bss.NAME` section (scx's `RESIZABLE_ARRAY`), to `len` elements;
    /// new elements are zero.
    pub fn resize_array(&mut self, name: &str, len: u64) -> Result<(), SetupError> {
        let mut resized = self.globals.get()?.clone();
        let r = resized.resize(name, len)?;
        globals::resize(&mut self.object, &r, name)?;
        self.globals.replace(resized);
        Ok(())
    }

    /// Sets `max_entries` of the map `name` (not zero).
    pub fn set_max_entries(&mut self, map: &str, entries: u32) -> Result<(), SetupError> {
        globals::set_max_entries(&mut self.object, map, entries)
    }
}

/// Globals read back from the kernel and maps by name, once loaded.
impl LoadedScheduler<'_> {
    /// The object's globals with their C types, read from its BTF on
    /// first use.
    pub fn globals(&self) -> Result<&Globals, SetupError> {
        Ok(self.globals.get()?)
    }

    /// The kernel's current value of the scalar global `name`.
    pub fn get(&self, name: &str) -> Result<Value, SetupError> {
        read_global(&self.object, self.globals.get()?, name, None)
    }

    /// The map `name` (or a data section's, by its ELF name such as `.bss`).
    pub fn map(&self, name: &str) -> Result<libbpf_rs::Map<'_>, SetupError> {
        globals::map(&self.object, name)
    }
}

/// Counters and state read back while the scheduler runs.
///
/// ```no_run
/// # use scxpack::loader::{AttachedScheduler, SetupError};
/// # fn report(running: &AttachedScheduler<'_>) -> Result<(), SetupError> {
/// println!("dispatched {}", running.get("nr_dispatches")?);
/// println!("cpu 0 started at {}", running.get_element("cpu_started_at", 0)?);
/// let queue = running.map("central_q")?;
/// # let _ = queue;
/// # Ok(())
/// # }
/// ```
impl AttachedScheduler<'_> {
    /// The object's globals with their C types, read from its BTF on
    /// first use.
    pub fn globals(&self) -> Result<&Globals, SetupError> {
        Ok(self.globals.get()?)
    }

    /// The kernel's current value of the scalar global `name`.
    pub fn get(&self, name: &str) -> Result<Value, SetupError> {
        read_global(&self.object, self.globals.get()?, name, None)
    }

    /// The kernel's current value of element `index` of the array `name`.
    pub fn get_element(&self, name: &str, index: u64) -> Result<Value, SetupError> {
        read_global(&self.object, self.globals.get()?, name, Some(index))
    }

    /// The map `name` (or a data section's, by its ELF name such as `.bss`).
    pub fn map(&self, name: &str) -> Result<libbpf_rs::Map<'_>, SetupError> {
        globals::map(&self.object, name)
    }
}

fn read_global(
    object: &Object,
    globals: &Globals,
    name: &str,
    index: Option<u64>,
) -> Result<Value, SetupError> {
    let section = &globals.get(name)?.section;
    let data = globals::section(object, section, name)?;
    Ok(match index {
        None => globals.decode(name, &data)?,
        Some(i) => globals.decode_element(name, i, &data)?,
    })
}

#[cfg(test)]
mod tests;
