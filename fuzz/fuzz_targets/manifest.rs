//! `manifest.json` alone, as every package reader takes it: duplicate
//! keys, schema major, serde, then `PackageManifest::validate`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = scxpack::package::read_manifest(std::path::Path::new("manifest.json"), data);
});
