//! `__kconfig` externs: which values a kernel's configuration supplies.
//!
//! libbpf computes the `LINUX_*` virtual externs itself and reads `CONFIG_*`
//! ones from the kernel config. The loader always hands libbpf a config
//! (the real one, or a synthesized minimum), so a weak `CONFIG_*` extern the
//! config lacks reads as 0 and only a strong one refuses the load.

use std::collections::BTreeMap;

use super::{Assessment, Reason, Shim};
use crate::object::Requirements;

/// Externs libbpf computes itself, without any config file.
pub const LIBBPF_VIRTUAL_KCONFIG: [&str; 3] = [
    "LINUX_KERNEL_VERSION",
    "LINUX_HAS_BPF_COOKIE",
    "LINUX_HAS_SYSCALL_WRAPPER",
];

/// A kernel configuration (`.config` text): `CONFIG_X` → value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kconfig {
    values: BTreeMap<String, String>,
}

impl Kconfig {
    /// Parses `.config` text; comments (`# CONFIG_X is not set`) mean absent.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let values = text
            .lines()
            .filter(|l| l.starts_with("CONFIG_"))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Kconfig { values }
    }

    /// The value of `name`, when set.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Number of options set.
    #[must_use]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when no option is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

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
            }),
            (None, true) => a.shim(Shim::SupplyKconfig {
                name: ext.name.clone(),
                value: "0 (absent, weak)".to_string(),
            }),
            (None, false) => a.refuse(Reason::KconfigMissing {
                name: ext.name.clone(),
                config_known: kconfig.is_some(),
            }),
        }
    }
}
