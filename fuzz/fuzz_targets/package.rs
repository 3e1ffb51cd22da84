//! An `.scxpkg` archive (gzip + tar) → a verified `Package`: every entry
//! checked, the manifest parsed and validated, every object hashed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scxpack::package::{Limits, Package};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_total: 4 << 20,
        ..Limits::default()
    };
    let _ = Package::from_archive_bytes(std::path::Path::new("fuzz.scxpkg"), data, &limits);
});
