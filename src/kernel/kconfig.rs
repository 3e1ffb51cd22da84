//! A kernel's configuration (`.config` text) and the one place that knows
//! where to find it: beside a kernel image (`config`, `config-RELEASE`) or,
//! for the running kernel, `/proc/config.gz` and `/boot/config-RELEASE`.
//!
//! Reading a config is optional everywhere: a missing or unreadable file is
//! `None`, and matching then treats the configuration as unknown.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::live::System;

/// A kernel configuration: `CONFIG_X` → value.
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

    /// Reads a config file, plain or gzip-compressed (`/proc/config.gz`).
    #[must_use]
    pub fn read(path: &Path) -> Option<Self> {
        let bytes = std::fs::read(path).ok()?;
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
    }

    /// The config beside a kernel image, with the file it came from.
    #[must_use]
    pub fn beside_image(image: &Path, release: Option<&str>) -> Option<(PathBuf, Self)> {
        paths_beside_image(image, release)
            .into_iter()
            .find_map(|p| Kconfig::read(&p).map(|k| (p, k)))
    }

    /// The running kernel's config, read through `root` (`/` normally).
    #[must_use]
    pub fn running(root: &System, release: Option<&str>) -> Option<Self> {
        running_paths(release)
            .into_iter()
            .find_map(|rel| Kconfig::read(&root.path(&rel)))
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

/// Where a kernel image's config may be: `config` or `config-RELEASE` in its folder.
#[must_use]
pub fn paths_beside_image(image: &Path, release: Option<&str>) -> Vec<PathBuf> {
    let Some(dir) = image.parent() else {
        return Vec::new();
    };
    let mut out = vec![dir.join("config")];
    if let Some(r) = release {
        out.push(dir.join(format!("config-{r}")));
    }
    out
}

/// Where the running kernel's config may be, relative to the root.
#[must_use]
pub fn running_paths(release: Option<&str>) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("proc/config.gz")];
    if let Some(r) = release {
        out.push(PathBuf::from(format!("boot/config-{r}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_set_comments_are_absent() {
        let k = Kconfig::parse("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_HZ=250\n");
        assert_eq!(k.get("CONFIG_A"), Some("y"));
        assert_eq!(k.get("CONFIG_B"), None);
        assert_eq!(k.get("CONFIG_HZ"), Some("250"));
        assert_eq!(k.len(), 2);
    }

    #[test]
    fn reads_gzip_and_finds_release_config_beside_an_image() {
        let dir = std::env::temp_dir().join(format!("scxpack-kconfig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"CONFIG_X=m\n").unwrap();
        std::fs::write(dir.join("config-6.16.3"), gz.finish().unwrap()).unwrap();
        let image = dir.join("vmlinuz");
        let (path, k) = Kconfig::beside_image(&image, Some("6.16.3")).unwrap();
        assert_eq!(path, dir.join("config-6.16.3"));
        assert_eq!(k.get("CONFIG_X"), Some("m"));
        assert!(Kconfig::beside_image(&image, None).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
