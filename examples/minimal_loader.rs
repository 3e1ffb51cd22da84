//! The smallest libbpf-rs loader of a sched_ext object: open, load, attach
//! the struct_ops map, wait for sched_ext to say `enabled`, detach. No
//! probing, no shims. `benches/run_enable.rs` times it against `scxpack run`
//! in the same VM boot. Prints one JSON line: `enable_ms` (from `main` to
//! `enabled`), its parts `open_ms`, `load_ms` and `attach_ms` (attach to
//! `enabled`), and the peak resident set `peak_rss_kib` (`VmHWM`).

use std::time::{Duration, Instant};

use libbpf_rs::{MapCore, ObjectBuilder};

fn state() -> String {
    std::fs::read_to_string("/sys/kernel/sched_ext/state")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: minimal_loader OBJ [SECS]")?;
    let secs: f64 = std::env::args().nth(2).map_or(Ok(1.0), |s| s.parse())?;
    let open = ObjectBuilder::default().open_file(&path)?;
    let open_ms = start.elapsed().as_millis();
    let mut object = open.load()?;
    let load_ms = start.elapsed().as_millis() - open_ms;
    let mut map = object
        .maps_mut()
        .find(|m| m.map_type() == libbpf_rs::MapType::StructOps)
        .ok_or("no struct_ops map")?;
    let link = map.attach_struct_ops()?;
    while state() != "enabled" {
        if start.elapsed() > Duration::from_secs(30) {
            return Err("sched_ext never reported enabled".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let enable_ms = start.elapsed().as_millis();
    let attach_ms = enable_ms - open_ms - load_ms;
    std::thread::sleep(Duration::from_secs_f64(secs));
    drop(link);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .map_or("null", str::trim);
    println!(
        "{{\"enable_ms\":{enable_ms},\"open_ms\":{open_ms},\"load_ms\":{load_ms},\"attach_ms\":{attach_ms},\"peak_rss_kib\":{peak}}}"
    );
    Ok(())
}
