//! The typed setters on a real object opened by libbpf (no load, so no
//! privileges and no sched_ext needed): values land in libbpf's copy of
//! each section, resizes and map sizes in its maps, and every mistake is a
//! typed error before load.

use std::path::Path;

use super::*;
use crate::object::GlobalError;

fn package() -> Package {
    let obj = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/objects/globals.bpf.o");
    Package::open(&obj).expect("the globals fixture opens as a bare package")
}

/// Opens the fixture's only variant without judging it on a kernel.
fn open(pkg: &Package) -> OpenScheduler<'_> {
    let scheduler = &pkg.manifest.schedulers[0];
    let selected = Selected {
        package: pkg,
        scheduler,
        selection: Selection::from_assessments(Vec::new()),
        attempts: Vec::new(),
        phases: SelectPhases::default(),
    };
    let choice = Choice {
        variant: &scheduler.variants[0],
        assessment: Assessment::default(),
        skipped: Vec::new(),
    };
    selected
        .open(&choice, &System::default())
        .expect("libbpf opens the globals fixture")
}

fn map_sizes(open: &mut OpenScheduler<'_>, name: &str) -> (u32, u32) {
    let m = open
        .object_mut()
        .maps()
        .find(|m| m.name().to_string_lossy().ends_with(name))
        .unwrap_or_else(|| panic!("no map {name}"));
    (m.value_size(), m.max_entries())
}

#[test]
fn scalars_round_trip_through_libbpf() {
    let pkg = package();
    let mut open = open(&pkg);
    open.set("central_cpu", -1i32).unwrap();
    open.set("nr_cpu_ids", 8u32).unwrap();
    open.set("slice_ns", 20_000_000u64).unwrap();
    open.set("verbose", true).unwrap();
    open.set("nr_total", 5u64).unwrap();
    open.set_array("pair_cpu", [1i32, 0, 3, 2]).unwrap();
    assert_eq!(open.get("central_cpu").unwrap(), Value::Int(-1));
    assert_eq!(open.get("nr_cpu_ids").unwrap(), Value::Int(8));
    assert_eq!(open.get("slice_ns").unwrap(), Value::Int(20_000_000));
    assert_eq!(open.get("verbose").unwrap(), Value::Bool(true));
    assert_eq!(open.get("nr_total").unwrap(), Value::Int(5));
    assert_eq!(open.get_element("pair_cpu", 2).unwrap(), Value::Int(3));
    // The historical raw setter reads the bits as the variable's C type.
    open.set_rodata("central_cpu", 3).unwrap();
    open.set_rodata("mode", 255).unwrap();
    assert_eq!(open.get("central_cpu").unwrap(), Value::Int(3));
    assert!(matches!(
        open.set_rodata("mode", 256),
        Err(ShimError::Global(GlobalError::DoesNotFit { .. }))
    ));
}

#[test]
fn resizable_arrays_and_map_sizes_reach_libbpf() {
    let pkg = package();
    let mut open = open(&pkg);
    assert_eq!(map_sizes(&mut open, ".data.cpu_started_at").0, 8);
    assert!(matches!(
        open.set_element("cpu_started_at", 7, 1u64),
        Err(SetupError::Global(GlobalError::IndexOutOfRange {
            len: 1,
            ..
        }))
    ));
    open.resize_array("cpu_started_at", 8).unwrap();
    assert_eq!(map_sizes(&mut open, ".data.cpu_started_at").0, 64);
    open.set_element("cpu_started_at", 7, 42u64).unwrap();
    assert_eq!(
        open.get_element("cpu_started_at", 7).unwrap(),
        Value::Int(42)
    );
    open.set_max_entries("cpu_slots", 8).unwrap();
    assert_eq!(map_sizes(&mut open, "cpu_slots").1, 8);
}

#[test]
fn mistakes_are_typed_errors_before_load() {
    let pkg = package();
    let mut open = open(&pkg);
    let err = open.set("nr_cpu_id", 1u32).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the object has no global variable nr_cpu_id (near: nr_cpu_ids)"
    );
    assert!(matches!(
        open.set("verbose", 1u32),
        Err(SetupError::Global(GlobalError::WrongType { .. }))
    ));
    assert!(matches!(
        open.set("nr_cpu_ids", -1i32),
        Err(SetupError::Global(GlobalError::DoesNotFit { .. }))
    ));
    assert!(matches!(
        open.resize_array("pair_cpu", 8),
        Err(SetupError::Global(GlobalError::NotResizable { .. }))
    ));
    let err = open.set_max_entries("cpu_slot", 8).unwrap_err();
    assert!(
        matches!(&err, SetupError::NoMap { near, .. } if near.contains("cpu_slots")),
        "{err}"
    );
    assert!(matches!(
        open.set_max_entries("cpu_slots", 0),
        Err(SetupError::ZeroEntries { .. })
    ));
}
