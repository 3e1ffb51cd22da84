//! The kernel's `scx_pair` sample run with scxpack's library instead of
//! its C loader (`tools/sched_ext/scx_pair.c`): the same pre-load setup
//! (`nr_cpu_ids`, `pair_batch_dur_ns = SCX_SLICE_DFL`, `pair_ctx` sized to
//! half the CPUs, the three `.rodata.*` arrays resized to the CPU count and
//! CPU `i` paired with `i + stride`), the same post-load fill of
//! `cgrp_q_arr` with one queue per cgroup, then attach, watch, and report
//! its counters and exit record.
//!
//! ```text
//! cargo run --example scx_pair -- scx_pair.bpf.o [SECS] [STRIDE]
//! ```

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::time::Duration;

use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};
use scxpack::live::System;
use scxpack::loader::{self, LoadedScheduler, OpenScheduler, SelectOptions, Selected};
use scxpack::package::Package;
use scxpack::package::setup::{SetupStep, SetupTarget, SetupValue};

/// `scx_pair.h`.
const MAX_QUEUED: u32 = 4096;
const MAX_CGRPS: u32 = 4096;

type Error = Box<dyn std::error::Error>;

/// Per CPU: its pair CPU, its pair's id, its index in the pair.
struct Pairs {
    cpu: Vec<i32>,
    id: Vec<u32>,
    idx: Vec<u32>,
}

/// CPU `i` paired with `(i + stride) % nr`, as `scx_pair.c` does.
fn pairs(nr: u32, stride: u32) -> Result<Pairs, Error> {
    if nr % 2 == 1 || stride == 0 {
        return Err(format!("scx_pair needs an even CPU count ({nr}) and a stride > 0").into());
    }
    let n = nr as usize;
    let (mut cpu, mut id, mut idx) = (vec![-1i32; n], vec![0u32; n], vec![0u32; n]);
    let mut next_id = 0;
    for i in 0..n {
        let j = (i + stride as usize) % n;
        if cpu[i] >= 0 {
            continue;
        }
        if i == j || cpu[j] >= 0 {
            return Err(format!("stride {stride} cannot pair CPU {i} with CPU {j}").into());
        }
        (cpu[i], cpu[j]) = (i32::try_from(j)?, i32::try_from(i)?);
        (id[i], id[j]) = (next_id, next_id);
        (idx[i], idx[j]) = (0, 1);
        next_id += 1;
    }
    Ok(Pairs { cpu, id, idx })
}

/// `scx_pair.c` up to `SCX_OPS_LOAD`.
fn setup(open: &mut OpenScheduler<'_>, root: &System, stride: Option<u32>) -> Result<(), Error> {
    let nr = loader::setup::machine(root)
        .possible_cpus
        .ok_or("cannot read /sys/devices/system/cpu/possible")?;
    open.set("nr_cpu_ids", nr)?;
    // A kernel enumerator, resolved the way a manifest's setup is.
    let slice = SetupStep {
        target: SetupTarget::Set("pair_batch_dur_ns".into()),
        to: SetupValue::Source("SCX_SLICE_DFL".into()),
    };
    loader::setup::apply(open, &[slice], root)?;
    open.set_max_entries("pair_ctx", nr / 2)?;
    for array in ["pair_cpu", "pair_id", "in_pair_idx"] {
        open.resize_array(array, u64::from(nr))?;
    }
    let p = pairs(nr, stride.unwrap_or(nr / 2))?;
    open.set_array("pair_cpu", p.cpu)?;
    open.set_array("pair_id", p.id)?;
    open.set_array("in_pair_idx", p.idx)?;
    Ok(())
}

/// One queue per cgroup in `cgrp_q_arr`, as `scx_pair.c` does after load.
fn fill_cgroup_queues(loaded: &LoadedScheduler<'_>) -> Result<(), Error> {
    let outer = loaded.map("cgrp_q_arr")?;
    let opts = libbpf_rs::libbpf_sys::bpf_map_create_opts {
        sz: std::mem::size_of::<libbpf_rs::libbpf_sys::bpf_map_create_opts>() as _,
        ..Default::default()
    };
    for i in 0..MAX_CGRPS {
        let inner = MapHandle::create(MapType::Queue, None::<&str>, 0, 4, MAX_QUEUED, &opts)?;
        let fd = inner.as_fd().as_raw_fd();
        outer.update(&i.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scx_pair: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let object = args.next().ok_or("usage: scx_pair OBJ [SECS] [STRIDE]")?;
    let secs: u64 = args.next().map_or(Ok(5), |s| s.parse())?;
    let stride: Option<u32> = args.next().map(|s| s.parse()).transpose()?;
    loader::install_libbpf_log(false);
    loader::install_signal_handlers();
    let pkg = Package::open(Path::new(&object))?;
    let root = System::default();
    // The bare object leaves `pair_ctx` unsized (the C loader sizes it, as
    // `setup` does here): say so, and matching judges the rest (it refuses
    // kernels that wait for SCX_KICK_WAIT in hard IRQ, which scx_pair's
    // pairs of CPUs kicking each other would hang).
    let opts = SelectOptions {
        sized_maps: vec!["pair_ctx".into()],
        ..SelectOptions::default()
    };
    let selected = Selected::for_running_kernel(&pkg, &opts, &root)?;
    let choice = &selected.attempts()[0];
    let started = std::time::Instant::now();
    let step = |what: &str| eprintln!("scx_pair: {what} at {} ms", started.elapsed().as_millis());
    let mut open = selected.open(choice, &root)?;
    setup(&mut open, &root, stride)?;
    step("set up");
    let loaded = open.load()?;
    step("loaded");
    fill_cgroup_queues(&loaded)?;
    step("cgroup queues filled");
    let running = loaded.attach(&root)?;
    step("attached");
    eprintln!("scx_pair: enabled as {}", running.ops_name());
    let ended = running.watch(Some(Duration::from_secs(secs)));
    println!(
        "total {} dispatched {} missing {} kicks {}",
        running.get("nr_total")?,
        running.get("nr_dispatched")?,
        running.get("nr_missing")?,
        running.get("nr_kicks")?
    );
    let detached = running.detach();
    println!(
        "ended {ended:?}; detached cleanly: {}; exit: {:?}",
        detached.cleanly, detached.exit
    );
    if detached.cleanly {
        Ok(())
    } else {
        Err("sched_ext did not return to disabled".into())
    }
}
