//! Unit tests of the package reader and writer: round trip, determinism,
//! and every kind of bad archive, on archives built here in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;

use super::*;

const FIFO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-objects/fifo/fifo.bpf.o");

/// A one-scheduler package around the committed fifo object.
fn fifo_package() -> Package {
    let bytes = std::fs::read(FIFO).expect("bpf-objects/fifo/fifo.bpf.o");
    let bare = Package::from_object_bytes(Path::new(FIFO), bytes.clone()).unwrap();
    let mut manifest = bare.manifest.clone();
    manifest.name = "fifo-pkg".to_string();
    manifest.version = "1.2.3".to_string();
    let object = "objects/fifo/fifo.bpf.o".to_string();
    manifest.schedulers[0].variants[0]
        .object
        .clone_from(&object);
    Package::new(manifest, BTreeMap::from([(object, bytes)]))
}

fn path() -> &'static Path {
    Path::new("test.scxpkg")
}

/// One raw entry for [`raw_archive`].
struct Raw<'a> {
    path: &'a [u8],
    kind: tar::EntryType,
    data: &'a [u8],
    /// Size written in the header (default: the data length).
    declared: Option<u64>,
}

fn file<'a>(path: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw {
        path: path.as_bytes(),
        kind: tar::EntryType::Regular,
        data,
        declared: None,
    }
}

/// A tar.gz of `entries` with raw, unchecked header fields.
fn raw_archive(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut tar = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_ustar();
        let name = &mut h.as_old_mut().name;
        name.fill(0);
        name[..e.path.len()].copy_from_slice(e.path);
        h.set_entry_type(e.kind);
        h.set_size(e.declared.unwrap_or(e.data.len() as u64));
        h.set_mode(0o644);
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        tar.extend_from_slice(e.data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.extend_from_slice(&[0; 1024]);
    gzip(&tar)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// The manifest and object of [`fifo_package`], as raw entries go.
fn parts() -> (Vec<u8>, Vec<u8>) {
    let p = fifo_package();
    let object = p.objects().next().unwrap().1.to_vec();
    (p.manifest_json(), object)
}

#[track_caller]
fn open_err(bytes: &[u8]) -> PackageError {
    open_err_with(bytes, &Limits::default())
}

#[track_caller]
fn open_err_with(bytes: &[u8], limits: &Limits) -> PackageError {
    match Package::from_archive_bytes(path(), bytes, limits) {
        Ok(_) => panic!("a bad archive was accepted"),
        Err(e) => e,
    }
}

#[track_caller]
fn entry_problem(e: &PackageError) -> (&str, &EntryProblem) {
    match e {
        PackageError::Entry { entry, problem, .. } => (entry.as_str(), problem),
        other => panic!("expected an entry problem, got: {other}"),
    }
}

#[test]
fn round_trip_keeps_manifest_and_objects() {
    let p = fifo_package();
    let bytes = p.to_archive(1_700_000_000).unwrap();
    let q = Package::from_archive_bytes(path(), &bytes, &Limits::default()).unwrap();
    assert_eq!(q.manifest, p.manifest);
    assert_eq!(q.manifest_json(), p.manifest_json());
    assert!(q.objects().eq(p.objects()));
    assert!(!q.is_bare_object());
    q.validate().unwrap();
}

#[test]
fn archive_is_deterministic_and_normalised() {
    let p = fifo_package();
    let a = p.to_archive(42).unwrap();
    assert_eq!(a, p.to_archive(42).unwrap(), "same input, same bytes");
    assert_ne!(a, p.to_archive(43).unwrap(), "the epoch is the mtime");
    // gzip header: mtime 0, OS 255 (unknown).
    assert_eq!(&a[..4], &[0x1f, 0x8b, 8, 0]);
    assert_eq!(&a[4..8], &[0, 0, 0, 0]);
    assert_eq!(a[9], 255);
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(a.as_slice()));
    let mut names = Vec::new();
    for e in tar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(h.mode().unwrap(), 0o644);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.mtime().unwrap(), 42);
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        assert_eq!(h.groupname_bytes(), Some(&b""[..]));
        assert_eq!(h.entry_type(), tar::EntryType::Regular);
        names.push(String::from_utf8(e.path_bytes().to_vec()).unwrap());
    }
    assert_eq!(names, ["manifest.json", "objects/fifo/fifo.bpf.o"]);
}

#[test]
fn raw_helper_builds_an_acceptable_archive() {
    // The negative tests below differ from this one in one field only.
    let (m, o) = parts();
    let ok = raw_archive(&[
        file("manifest.json", &m),
        file("objects/fifo/fifo.bpf.o", &o),
    ]);
    Package::from_archive_bytes(path(), &ok, &Limits::default()).unwrap();
}

#[test]
fn refuses_parent_dir_and_absolute_paths() {
    let (m, o) = parts();
    for (bad, want) in [
        ("../evil.bpf.o", EntryProblem::ParentDir),
        ("objects/../../evil", EntryProblem::ParentDir),
        ("/etc/evil", EntryProblem::Absolute),
    ] {
        let e = open_err(&raw_archive(&[
            file("manifest.json", &m),
            file(bad, &o),
            file("objects/fifo/fifo.bpf.o", &o),
        ]));
        assert_eq!(entry_problem(&e), (bad, &want), "{e}");
        assert!(e.to_string().contains(bad), "{e}");
    }
}

#[test]
fn refuses_links_devices_fifos_and_directories() {
    let (m, _) = parts();
    for (kind, word) in [
        (tar::EntryType::Symlink, "symbolic link"),
        (tar::EntryType::Link, "hard link"),
        (tar::EntryType::Char, "device"),
        (tar::EntryType::Block, "device"),
        (tar::EntryType::Fifo, "fifo"),
        (tar::EntryType::Directory, "directory"),
        (tar::EntryType::XHeader, "extension header"),
    ] {
        let e = open_err(&raw_archive(&[
            file("manifest.json", &m),
            Raw {
                path: b"objects/fifo/fifo.bpf.o",
                kind,
                data: b"",
                declared: None,
            },
        ]));
        let (entry, problem) = entry_problem(&e);
        assert_eq!(entry, "objects/fifo/fifo.bpf.o");
        assert_eq!(problem, &EntryProblem::Type(word), "{e}");
    }
}

#[test]
fn refuses_duplicates_and_a_late_manifest() {
    let (m, o) = parts();
    let obj = "objects/fifo/fifo.bpf.o";
    let e = open_err(&raw_archive(&[
        file("manifest.json", &m),
        file(obj, &o),
        file(obj, &o),
    ]));
    assert_eq!(entry_problem(&e), (obj, &EntryProblem::Duplicate));
    let e = open_err(&raw_archive(&[
        file("manifest.json", &m),
        file("manifest.json", &m),
    ]));
    assert_eq!(
        entry_problem(&e),
        ("manifest.json", &EntryProblem::Duplicate)
    );
    let e = open_err(&raw_archive(&[file(obj, &o), file("manifest.json", &m)]));
    assert_eq!(entry_problem(&e), (obj, &EntryProblem::ManifestNotFirst));
    let e = open_err(&raw_archive(&[]));
    assert!(matches!(e, PackageError::NoManifest { .. }), "{e}");
}

#[test]
fn refuses_a_declared_size_over_the_limit_before_reading_it() {
    let (m, _) = parts();
    let e = open_err(&raw_archive(&[
        file("manifest.json", &m),
        Raw {
            declared: Some(1 << 40),
            ..file("objects/fifo/fifo.bpf.o", b"tiny")
        },
    ]));
    let (_, problem) = entry_problem(&e);
    assert_eq!(
        problem,
        &EntryProblem::TooLarge {
            size: 1 << 40,
            limit: 64 << 20
        }
    );
}

#[test]
fn refuses_more_content_than_the_total_limit() {
    let (m, o) = parts();
    let limits = Limits {
        max_total: m.len() as u64 + 1000,
        ..Limits::default()
    };
    // Declared: the object's header already overshoots.
    let archive = raw_archive(&[
        file("manifest.json", &m),
        file("objects/fifo/fifo.bpf.o", &o),
    ]);
    let e = open_err_with(&archive, &limits);
    assert!(matches!(e, PackageError::TotalTooLarge { .. }), "{e}");
    // Real: zeros after the end of the archive, which no header declares.
    let mut tar = Vec::new();
    let inner = raw_archive(&[file("manifest.json", &m)]);
    flate2::read::GzDecoder::new(inner.as_slice())
        .read_to_end(&mut tar)
        .unwrap();
    tar.resize(tar.len() + 4 * 1024 * 1024, 0);
    let limits = Limits {
        max_total: 1024 * 1024,
        ..Limits::default()
    };
    let e = open_err_with(&gzip(&tar), &limits);
    assert!(matches!(e, PackageError::TotalTooLarge { .. }), "{e}");
    assert!(e.to_string().contains("decompression bomb"), "{e}");
}

#[test]
fn refuses_too_many_entries() {
    let (m, o) = parts();
    let limits = Limits {
        max_entries: 1,
        ..Limits::default()
    };
    let archive = raw_archive(&[
        file("manifest.json", &m),
        file("objects/fifo/fifo.bpf.o", &o),
    ]);
    let e = open_err_with(&archive, &limits);
    assert_eq!(entry_problem(&e).1, &EntryProblem::TooMany(1));
}

#[test]
fn refuses_truncated_archives_at_every_cut() {
    let archive = fifo_package().to_archive(0).unwrap();
    // Every cut point in the first and last KiB, and a few in between.
    let cuts = (1..1024)
        .chain((archive.len() - 1024)..archive.len())
        .chain((1024..archive.len() - 1024).step_by(997));
    for cut in cuts {
        let e = open_err(&archive[..cut]);
        assert!(
            matches!(e, PackageError::Corrupt { .. }),
            "cut at {cut}: {e}"
        );
    }
}

#[test]
fn refuses_trailing_garbage_and_a_missing_end_marker() {
    let mut archive = fifo_package().to_archive(0).unwrap();
    archive.extend_from_slice(b"junk");
    let e = open_err(&archive);
    assert!(
        e.to_string().contains("after the end of the gzip stream"),
        "{e}"
    );

    let (m, o) = parts();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(
        raw_archive(&[
            file("manifest.json", &m),
            file("objects/fifo/fifo.bpf.o", &o),
        ])
        .as_slice(),
    )
    .read_to_end(&mut tar)
    .unwrap();
    tar.truncate(tar.len() - 1024);
    let e = open_err(&gzip(&tar));
    assert!(e.to_string().contains("end-of-archive"), "{e}");
}

#[test]
fn refuses_an_altered_object() {
    let (m, mut o) = parts();
    let last = o.len() - 1;
    o[last] ^= 1;
    let e = open_err(&raw_archive(&[
        file("manifest.json", &m),
        file("objects/fifo/fifo.bpf.o", &o),
    ]));
    let (entry, problem) = entry_problem(&e);
    assert_eq!(entry, "objects/fifo/fifo.bpf.o");
    assert!(matches!(problem, EntryProblem::HashMismatch { .. }), "{e}");

    o.push(0);
    let e = open_err(&raw_archive(&[
        file("manifest.json", &m),
        file("objects/fifo/fifo.bpf.o", &o),
    ]));
    assert!(
        matches!(entry_problem(&e).1, EntryProblem::SizeMismatch { .. }),
        "{e}"
    );
}

#[test]
fn refuses_missing_and_extra_entries() {
    let (m, o) = parts();
    let e = open_err(&raw_archive(&[file("manifest.json", &m)]));
    assert_eq!(
        entry_problem(&e),
        ("objects/fifo/fifo.bpf.o", &EntryProblem::Missing)
    );
    let e = open_err(&raw_archive(&[
        file("manifest.json", &m),
        file("objects/fifo/fifo.bpf.o", &o),
        file("objects/fifo/extra", b"x"),
    ]));
    assert_eq!(
        entry_problem(&e),
        ("objects/fifo/extra", &EntryProblem::Extra)
    );
}

#[test]
fn refuses_a_newer_schema_major_naming_both_versions() {
    let (m, o) = parts();
    let mut value: serde_json::Value = serde_json::from_slice(&m).unwrap();
    value["schema_version"] = "2.0".into();
    // A newer major may change anything: it must be refused before parsing.
    value["schedulers"] = "something else".into();
    let m2 = serde_json::to_vec(&value).unwrap();
    let e = open_err(&raw_archive(&[
        file("manifest.json", &m2),
        file("objects/fifo/fifo.bpf.o", &o),
    ]));
    let msg = e.to_string();
    assert!(matches!(e, PackageError::SchemaTooNew { .. }), "{msg}");
    assert!(msg.contains("2.0") && msg.contains("1.x"), "{msg}");

    // A newer minor of the same major is read (unknown fields ignored).
    value = serde_json::from_slice(&m).unwrap();
    value["schema_version"] = "1.7".into();
    value["future_field"] = true.into();
    let m3 = serde_json::to_vec(&value).unwrap();
    let archive = raw_archive(&[
        file("manifest.json", &m3),
        file("objects/fifo/fifo.bpf.o", &o),
    ]);
    Package::from_archive_bytes(path(), &archive, &Limits::default()).unwrap();

    for bad in ["1", "x.y", "0.9", ""] {
        value["schema_version"] = bad.into();
        let m4 = serde_json::to_vec(&value).unwrap();
        let e = open_err(&raw_archive(&[
            file("manifest.json", &m4),
            file("objects/fifo/fifo.bpf.o", &o),
        ]));
        assert!(matches!(e, PackageError::Manifest { .. }), "{bad}: {e}");
    }
}

#[test]
fn schema_major_needs_major_and_minor() {
    assert_eq!(manifest::schema_major("1.0"), Some(1));
    assert_eq!(manifest::schema_major("12.3"), Some(12));
    assert_eq!(manifest::schema_major("1"), None);
    assert_eq!(manifest::schema_major("a.0"), None);
}

#[test]
fn names_must_be_plain_words() {
    for ok in [
        "fair",
        "scxpack-schedulers",
        "0.1.0",
        "1.0~rc1+deb13",
        "a_b",
    ] {
        check_name("x", ok).unwrap();
    }
    for bad in ["", ".hidden", "a/b", "..", "a b", "-x", &"n".repeat(65)] {
        assert!(check_name("x", bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn validate_refuses_what_install_cannot_place() {
    let mut p = fifo_package();
    p.validate().unwrap();
    p.manifest.version = "../1".to_string();
    assert!(p.validate().unwrap_err().contains("version"));
    let mut p = fifo_package();
    p.manifest.schedulers.push(p.manifest.schedulers[0].clone());
    assert!(p.validate().unwrap_err().contains("twice"));
    let mut p = fifo_package();
    p.manifest.schedulers[0].variants[0]
        .requirements
        .struct_ops
        .clear();
    assert!(p.validate().unwrap_err().contains("struct_ops"));
}

#[test]
fn bare_objects_still_open() {
    let p = Package::open(Path::new(FIFO)).unwrap();
    assert!(p.is_bare_object());
    assert_eq!(p.manifest.schedulers[0].name, "fifo");
    p.validate().unwrap();
}

#[test]
fn a_path_cannot_be_a_file_and_a_directory() {
    let paths: BTreeSet<String> = ["objects/a", "objects/c/d"]
        .into_iter()
        .map(String::from)
        .collect();
    let conflict = |p| archive::path_conflict(&paths, p);
    assert_eq!(conflict("objects/a/b").as_deref(), Some("objects/a"));
    assert_eq!(conflict("objects/c").as_deref(), Some("objects/c/d"));
    assert_eq!(conflict("objects/ab"), None);
    assert_eq!(conflict("objects/c.o"), None);
    assert_eq!(conflict("objects/b"), None);
}

#[test]
fn manifest_bounds_and_duplicate_keys() {
    let p = fifo_package();
    let mut m = p.manifest.clone();
    m.schedulers[0].description = "x".repeat(manifest::MAX_DESCRIPTION + 1);
    assert!(matches!(
        m.validate(),
        Err(ManifestProblem::TooLong { len: 4097, .. })
    ));
    let mut m = p.manifest.clone();
    let param = Parameter {
        name: "slice_us".to_string(),
        type_name: "u64".to_string(),
        default: 0.into(),
        description: String::new(),
        unit: None,
    };
    m.schedulers[0].parameters = vec![param.clone(), param];
    assert!(matches!(
        m.validate(),
        Err(ManifestProblem::Duplicate {
            what: "parameter",
            ..
        })
    ));
    manifest::refuse_duplicate_keys(br#"{"a": [{"b": 1}, {"b": 2}], "c": {"b": 3}}"#).unwrap();
    let err = manifest::refuse_duplicate_keys(br#"{"a": [{"b": 1, "b": 2}]}"#).unwrap_err();
    assert!(err.to_string().contains("duplicate key \"b\""), "{err}");
}

/// The fifo package with one `u64 slice_us` parameter and `modes`.
fn with_modes(modes: &[(&str, serde_json::Value)]) -> PackageManifest {
    let mut m = fifo_package().manifest;
    let s = &mut m.schedulers[0];
    s.parameters = vec![Parameter {
        name: "slice_us".to_string(),
        type_name: "u64".to_string(),
        default: 0.into(),
        description: String::new(),
        unit: None,
    }];
    s.modes = modes
        .iter()
        .map(|(name, params)| Mode {
            name: (*name).to_string(),
            description: String::new(),
            params: serde_json::from_value(params.clone()).unwrap(),
        })
        .collect();
    m
}

#[test]
fn modes_are_checked_against_the_parameters() {
    use serde_json::json;
    let bad_mode = |m: PackageManifest| match m.validate() {
        Err(ManifestProblem::BadMode { mode, problem, .. }) => format!("{mode}: {problem}"),
        other => panic!("expected BadMode, got {other:?}"),
    };
    with_modes(&[("auto", json!({})), ("gaming", json!({"slice_us": 2000}))])
        .validate()
        .unwrap();
    let err = bad_mode(with_modes(&[("gaming", json!({"slice": 1}))]));
    assert!(err.contains("\"slice\", which is not a parameter"), "{err}");
    let err = bad_mode(with_modes(&[("gaming", json!({"slice_us": -1}))]));
    assert!(err.contains("is u64: cannot take \"-1\""), "{err}");
    let err = bad_mode(with_modes(&[("gaming", json!({"slice_us": [1]}))]));
    assert!(err.contains("cannot take"), "{err}");
    assert!(matches!(
        with_modes(&[("auto", json!({})), ("auto", json!({}))]).validate(),
        Err(ManifestProblem::Duplicate { what: "mode", .. })
    ));
    assert!(matches!(
        with_modes(&[("../x", json!({}))]).validate(),
        Err(ManifestProblem::BadName {
            what: "mode name",
            ..
        })
    ));
}

#[test]
fn the_shipped_schedulers_declare_the_scx_modes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects");
    for name in ["fair", "fifo", "interactive"] {
        let path = dir.join(name).join(format!("{name}.json"));
        let src: SourceManifest = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let modes: Vec<&str> = src.modes.iter().map(|m| m.name.as_str()).collect();
        for scx in ["auto", "gaming", "lowlatency", "powersave", "server"] {
            assert!(modes.contains(&scx), "{name} lacks mode {scx}: {modes:?}");
        }
    }
}

/// One open serves the head sniff and the rest: the bytes come back
/// whole, a file shorter than `fstat` said gives what it holds, and
/// nothing past the limit is read.
#[test]
fn a_file_is_read_through_one_open() {
    let path = std::env::temp_dir().join(format!("scxpack-read-rest-{}", std::process::id()));
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let read = |size: u64, limit: u64| {
        let mut file = std::fs::File::open(&path).unwrap();
        let mut bytes = read_head(&mut file).unwrap();
        assert_eq!(bytes, data[..4096]);
        read_rest(&mut file, &mut bytes, size, limit).unwrap();
        bytes
    };
    assert_eq!(read(10_000, u64::MAX), data);
    // The file shrank after fstat: what it still holds.
    assert_eq!(read(20_000, u64::MAX), data);
    assert_eq!(read(6_000, 8_000), data[..6_000]);
    assert_eq!(read(10_000, 8_000), data[..8_000]);
    std::fs::remove_file(&path).unwrap();
}
