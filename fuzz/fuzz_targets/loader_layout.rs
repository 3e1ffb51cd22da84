//! The loader layout kept in the boot cache (`object::layout`) → the
//! loader's part of `Requirements`; whatever it accepts must write out and
//! read back to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scxpack::object::Requirements;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Some(req) = Requirements::from_loader_layout(&text) else {
        return;
    };
    let again = Requirements::from_loader_layout(&req.loader_layout())
        .expect("a layout it read writes out readable");
    assert_eq!(again.struct_ops, req.struct_ops);
    assert_eq!(again.rodata, req.rodata);
    assert_eq!(again.kconfig, req.kconfig);
    assert_eq!(again.exit_info, req.exit_info);
});
