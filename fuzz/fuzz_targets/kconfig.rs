//! Kernel config text (`CONFIG_X=y` lines) → `Kconfig`, and lookups in it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let config = scxpack::kernel::Kconfig::parse(&text);
    let _ = config.get("CONFIG_SCHED_CLASS_EXT");
    let _ = config.get("CONFIG_BPF_JIT");
});
