//! `__kconfig` externs: which values a kernel's configuration supplies.
//!
//! libbpf computes the `LINUX_*` virtual externs itself and reads `CONFIG_*`
//! ones from the kernel config. The loader always hands libbpf a config
//! (the real one, or a synthesized minimum), so a weak `CONFIG_*` extern the
//! config lacks reads as 0 and only a strong one refuses the load.

use super::{Assessment, Reason, Shim};
use crate::kernel::Kconfig;
use crate::object::Requirements;

/// Externs libbpf computes itself, without any config file.
pub const LIBBPF_VIRTUAL_KCONFIG: [&str; 3] = [
    "LINUX_KERNEL_VERSION",
    "LINUX_HAS_BPF_COOKIE",
    "LINUX_HAS_SYSCALL_WRAPPER",
];

pub(super) fn check(req: &Requirements, kconfig: Option<&Kconfig>, a: &mut Assessment) {
    for ext in &req.kconfig {
        if LIBBPF_VIRTUAL_KCONFIG.contains(&ext.name.as_str()) {
            continue;
        }
        let value = kconfig.and_then(|k| k.get(&ext.name));
        match (value, ext.weak) {
            (Some(v), _) => a.shim(Shim::SupplyKconfig {
                name: ext.name.clone(),
                value: v.to_string(),
                absent: false,
            }),
            (None, true) => a.shim(Shim::SupplyKconfig {
                name: ext.name.clone(),
                value: zero_for(&ext.type_name).to_string(),
                absent: true,
            }),
            (None, false) => a.refuse(Reason::KconfigMissing {
                name: ext.name.clone(),
                config_known: kconfig.is_some(),
            }),
        }
    }
}

/// The value libbpf reads as zero for an extern of C type `ty`: what an
/// unresolved weak extern holds.
fn zero_for(ty: &str) -> &'static str {
    if ty.contains("bool") || ty.contains("tristate") {
        "n"
    } else if ty.contains('[') {
        "\"\""
    } else {
        "0"
    }
}
