//! A BPF object (ELF) → `Requirements`: ELF sections, maps, programs,
//! externs, BTF and BTF.ext, CO-RE relocations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = scxpack::object::Requirements::from_bytes(std::path::Path::new("fuzz.bpf.o"), data);
});
