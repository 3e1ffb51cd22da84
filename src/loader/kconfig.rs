//! The kernel configuration for `__kconfig` externs: read from
//! `/proc/config.gz` or `/boot/config-RELEASE`, and the text handed to
//! libbpf, which always covers every `CONFIG_*` extern the object declares
//! so libbpf never falls back to "failed to open system Kconfig".

use std::io::Read;
use std::path::PathBuf;

use crate::live::Root;
use crate::matching::Kconfig;
use crate::object::Requirements;

/// Where the running kernel's config may be.
pub(super) fn paths(release: Option<&str>) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("proc/config.gz")];
    if let Some(r) = release {
        out.push(PathBuf::from(format!("boot/config-{r}")));
    }
    out
}

/// The running kernel's config, when one of [`paths`] exists.
pub(super) fn read(root: &Root, release: Option<&str>) -> Option<Kconfig> {
    paths(release).into_iter().find_map(|rel| {
        let path = root.path(&rel);
        let bytes = std::fs::read(&path).ok()?;
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut s = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut s)
                .ok()?;
            s
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        Some(Kconfig::parse(&text))
    })
}

/// The config text for libbpf: every `CONFIG_*` extern of `req` with the
/// kernel's value; a weak one the config lacks gets a zero of its type (what
/// an unresolved weak extern reads), so libbpf never falls back to looking
/// for a config file. A strong one the config lacks is left out: libbpf then
/// refuses the load itself (matching refuses it before that, unless forced).
pub(super) fn text_for(req: &Requirements, config: Option<&Kconfig>) -> Option<String> {
    let externs: Vec<_> = req
        .kconfig
        .iter()
        .filter(|k| k.name.starts_with("CONFIG_"))
        .collect();
    if externs.is_empty() {
        return None;
    }
    let lines: Vec<String> = externs
        .iter()
        .filter_map(|k| match (config.and_then(|c| c.get(&k.name)), k.weak) {
            (Some(v), _) => Some(format!("{}={v}", k.name)),
            (None, true) => Some(format!("{}={}", k.name, zero_for(&k.type_name))),
            (None, false) => None,
        })
        .collect();
    Some(lines.join("\n") + "\n")
}

/// A value libbpf reads as zero for an extern of C type `ty`.
fn zero_for(ty: &str) -> &'static str {
    if ty.contains("bool") || ty.contains("tristate") {
        "n"
    } else if ty.contains('[') {
        "\"\""
    } else {
        "0"
    }
}
