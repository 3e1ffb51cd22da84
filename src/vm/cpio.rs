//! A deterministic cpio "newc" (SVR4, `070701`) archive writer.
//!
//! The archive is an in-memory tree keyed by path (no leading `/`). Writing
//! emits entries in byte order of their paths, so every parent directory comes
//! before its children (a prefix sorts first), with inode numbers assigned in
//! that order, mtime 0, uid/gid 0 and no check sums: the same tree always gives
//! the same bytes. Parent directories are added implicitly (mode 0755). This is
//! the format the kernel unpacks as an initramfs (`init/initramfs.c`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;
const TRAILER: &str = "TRAILER!!!";

/// One archive member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory with its permission bits.
    Dir { mode: u32 },
    /// A regular file with its permission bits and contents.
    File { mode: u32, data: Vec<u8> },
    /// A symbolic link to `target`.
    Symlink { target: String },
    /// A character device node.
    CharDev { mode: u32, major: u32, minor: u32 },
}

/// An error adding a member: the path is unusable or clashes with another member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    /// The path as given.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

/// An in-memory cpio tree.
#[derive(Debug, Default, Clone)]
pub struct Archive {
    entries: BTreeMap<String, Node>,
}

impl Archive {
    /// An empty archive.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `node` at `path` (absolute or relative; `/bin/sh` and `bin/sh` are the
    /// same member), creating missing parent directories. Adding an identical
    /// member twice is allowed; a different member at the same path is an error.
    pub fn add(&mut self, path: &str, node: Node) -> Result<(), EntryError> {
        let clean = normalize(path)?;
        let mut parent = String::new();
        let components: Vec<&str> = clean.split('/').collect();
        for component in &components[..components.len() - 1] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(component);
            self.insert(&parent, Node::Dir { mode: 0o755 })?;
        }
        self.insert(&clean, node)
    }

    /// Whether a member exists at `path`.
    #[must_use]
    pub fn contains(&self, path: &str) -> bool {
        normalize(path).is_ok_and(|p| self.entries.contains_key(&p))
    }

    /// Number of members (implicit directories included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the archive has no members.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the whole archive, trailer included, in newc format.
    pub fn write_newc<W: Write>(&self, out: &mut W) -> io::Result<()> {
        let mut ino: u32 = 1;
        for (path, node) in &self.entries {
            write_entry(out, path, node, ino)?;
            ino = ino.saturating_add(1);
        }
        let trailer = Header {
            ino: 0,
            mode: 0,
            nlink: 1,
            size: 0,
            rdev: (0, 0),
        };
        write_header(out, &trailer, TRAILER)?;
        Ok(())
    }

    fn insert(&mut self, path: &str, node: Node) -> Result<(), EntryError> {
        match self.entries.get(path) {
            None => {
                self.entries.insert(path.to_owned(), node);
                Ok(())
            }
            Some(Node::Dir { .. }) if matches!(node, Node::Dir { .. }) => Ok(()),
            Some(existing) if *existing == node => Ok(()),
            Some(_) => Err(EntryError {
                path: path.to_owned(),
                reason: "another, different member already has this path".to_owned(),
            }),
        }
    }
}

/// Strips leading `/`, rejects empty, `.` and `..` components and NUL bytes.
fn normalize(path: &str) -> Result<String, EntryError> {
    let bad = |reason: &str| EntryError {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if parts.is_empty() {
        return Err(bad("empty path"));
    }
    if parts.iter().any(|c| *c == "." || *c == "..") {
        return Err(bad("`.` and `..` components are not allowed"));
    }
    Ok(parts.join("/"))
}

struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    size: u32,
    rdev: (u32, u32),
}

fn write_entry<W: Write>(out: &mut W, path: &str, node: &Node, ino: u32) -> io::Result<()> {
    let (mode, nlink, data, rdev): (u32, u32, &[u8], (u32, u32)) = match node {
        Node::Dir { mode } => (S_IFDIR | (mode & 0o7777), 2, &[], (0, 0)),
        Node::File { mode, data } => (S_IFREG | (mode & 0o7777), 1, data, (0, 0)),
        Node::Symlink { target } => (S_IFLNK | 0o777, 1, target.as_bytes(), (0, 0)),
        Node::CharDev { mode, major, minor } => {
            (S_IFCHR | (mode & 0o7777), 1, &[], (*major, *minor))
        }
    };
    let size = u32::try_from(data.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{path}: {} bytes is too large for cpio newc", data.len()),
        )
    })?;
    let header = Header {
        ino,
        mode,
        nlink,
        size,
        rdev,
    };
    write_header(out, &header, path)?;
    out.write_all(data)?;
    pad(out, data.len())
}

/// Writes the 110-byte header, the NUL-terminated name and its padding.
fn write_header<W: Write>(out: &mut W, h: &Header, name: &str) -> io::Result<()> {
    let namesize = name.len() + 1;
    let fields = [
        h.ino, h.mode, 0, 0, h.nlink, 0, h.size, 0, 0, h.rdev.0, h.rdev.1,
    ];
    let mut text = String::with_capacity(110);
    text.push_str("070701");
    for field in fields {
        let _ = write!(text, "{field:08x}");
    }
    let _ = write!(text, "{namesize:08x}00000000");
    out.write_all(text.as_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&[0])?;
    pad(out, 110 + namesize)
}

fn pad<W: Write>(out: &mut W, len: usize) -> io::Result<()> {
    let rem = (4 - len % 4) % 4;
    out.write_all(&[0u8; 3][..rem])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal newc reader for checking what the writer produced.
    fn read_back(bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let field = |i: usize| {
                let s = std::str::from_utf8(&bytes[pos + 6 + i * 8..pos + 14 + i * 8]).unwrap();
                u32::from_str_radix(s, 16).unwrap() as usize
            };
            assert_eq!(&bytes[pos..pos + 6], b"070701");
            let (mode, size, namesize) = (field(1), field(6), field(11));
            let name_start = pos + 110;
            let name = std::str::from_utf8(&bytes[name_start..name_start + namesize - 1]).unwrap();
            let data_start = (name_start + namesize).next_multiple_of(4);
            let data = bytes[data_start..data_start + size].to_vec();
            pos = (data_start + size).next_multiple_of(4);
            if name == TRAILER {
                assert_eq!(pos, bytes.len());
                return out;
            }
            out.push((name.to_owned(), mode as u32, data));
        }
    }

    fn sample() -> Archive {
        let mut a = Archive::new();
        a.add(
            "/usr/bin/tool",
            Node::File {
                mode: 0o755,
                data: b"abc".to_vec(),
            },
        )
        .unwrap();
        a.add(
            "bin/sh",
            Node::Symlink {
                target: "busybox".into(),
            },
        )
        .unwrap();
        a.add(
            "/dev/console",
            Node::CharDev {
                mode: 0o600,
                major: 5,
                minor: 1,
            },
        )
        .unwrap();
        a
    }

    #[test]
    fn parents_precede_children_and_modes_are_typed() {
        let mut bytes = Vec::new();
        sample().write_newc(&mut bytes).unwrap();
        let entries = read_back(&bytes);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/sh",
                "dev",
                "dev/console",
                "usr",
                "usr/bin",
                "usr/bin/tool"
            ]
        );
        assert_eq!(entries[0].1, S_IFDIR | 0o755);
        assert_eq!(entries[1].1, S_IFLNK | 0o777);
        assert_eq!(entries[1].2, b"busybox");
        assert_eq!(entries[3].1, S_IFCHR | 0o600);
        assert_eq!(entries[6].2, b"abc");
    }

    #[test]
    fn output_is_deterministic_regardless_of_insertion_order() {
        let mut first = Vec::new();
        sample().write_newc(&mut first).unwrap();
        let mut other = Archive::new();
        other
            .add(
                "dev/console",
                Node::CharDev {
                    mode: 0o600,
                    major: 5,
                    minor: 1,
                },
            )
            .unwrap();
        other
            .add(
                "bin/sh",
                Node::Symlink {
                    target: "busybox".into(),
                },
            )
            .unwrap();
        other
            .add(
                "usr/bin/tool",
                Node::File {
                    mode: 0o755,
                    data: b"abc".to_vec(),
                },
            )
            .unwrap();
        let mut second = Vec::new();
        other.write_newc(&mut second).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn clashing_members_and_bad_paths_are_rejected() {
        let mut a = sample();
        let err = a
            .add(
                "bin",
                Node::File {
                    mode: 0o644,
                    data: vec![],
                },
            )
            .unwrap_err();
        assert_eq!(err.path, "bin");
        assert!(a.add("../etc/passwd", Node::Dir { mode: 0o755 }).is_err());
        assert!(a.add("//", Node::Dir { mode: 0o755 }).is_err());
        // The same member twice is fine.
        a.add(
            "bin/sh",
            Node::Symlink {
                target: "busybox".into(),
            },
        )
        .unwrap();
        assert!(a.contains("/bin/sh"));
    }
}
