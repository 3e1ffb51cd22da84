//! What the loader learnt of the running kernel, kept so that a restart, a
//! switch, or the first start of a later boot of the same kernel does not
//! read and parse the kernel's BTF again.
//!
//! The file is named by a key that changes whenever its contents could be
//! wrong. For a kernel with a GNU build id (`/sys/kernel/notes`, which names
//! the image and so its BTF and built-in config), the key is that id, the
//! release, the BTF's size, the config files the loader reads (a file of
//! `/boot` by size and modification time, the kernel's own `/proc/config.gz`
//! by size: its time is when this boot first looked), the scxpack version
//! and this file's format; the file lives under `/var/cache/scxpack/kernels`
//! and serves every boot of that kernel. Without a build id the key is the
//! boot id with the BTF's size and modification time instead, and the file
//! lives under `/run/scxpack`, a tmpfs that a reboot empties.
//! Each variant's assessment is stored under a hash of its object's sha256,
//! its manifest policy and its requirements, and a bare object's
//! requirements under its sha256. A file holds at most [`MAX_VERDICTS`]
//! verdicts (one over [`MAX_FILE`] bytes is damaged and not read) and the
//! kernel directory the [`KEEP_KERNELS`] files written last (one per kernel
//! and scxpack version).
//! A directory is only trusted when this user owns it and nobody else may
//! write to it or to its parent; everything here is best effort, and a cache
//! that cannot be read or written is simply not used.

mod file;

use std::io::Read as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use self::file::{Entry, Stored};
use crate::kernel::kconfig;
use crate::live::{KERNEL_CACHE, RUN_CACHE, SYS_BTF, System};
use crate::matching::Assessment;
use crate::object::Requirements;
use crate::package::{Variant, lower_hex};

/// Bumped whenever the file's format ([`file`]) changes.
const FORMAT: u32 = 3;
/// Verdicts one file holds; one more starts the file afresh (a machine
/// that starts ever new objects, a developer's, keeps a bounded file).
pub(super) const MAX_VERDICTS: usize = 256;
/// Largest cache file read, far above what [`MAX_VERDICTS`] verdicts and
/// the layouts of their objects take; a larger file is not read (and the
/// next start that judges writes a fresh one).
const MAX_FILE: u64 = 8 << 20;
/// Files the kernel directory keeps, the newest written: one per kernel and
/// scxpack version, so an upgrade's files push out the old version's.
pub(super) const KEEP_KERNELS: usize = 8;

/// The running kernel as this boot's cache knows it.
#[derive(Debug)]
pub(super) struct BootCache {
    dir: PathBuf,
    file: PathBuf,
    entry: Entry,
}

/// What the cache holds for one selection.
pub(super) struct Hit {
    pub release: Option<String>,
    pub sched_ext: bool,
    pub assessments: Vec<Assessment>,
}

impl BootCache {
    /// The cache of this boot and kernel, read when there is a trusted one;
    /// `None` when no key can be made (no boot id, no kernel BTF).
    pub(super) fn open(root: &System) -> Option<Self> {
        let (place, key) = cache_key(root)?;
        let dir = root.path(Path::new(place));
        let file = dir.join(format!("{key}.cache"));
        let entry = read_trusted(&dir, &file).unwrap_or_default();
        Some(BootCache { dir, file, entry })
    }

    /// Whether it holds any verdict yet (a restart or a switch, rather
    /// than the first start of this boot).
    pub(super) fn is_empty(&self) -> bool {
        self.entry.verdicts.is_empty()
    }

    /// The loader's part of the requirements of the bare object whose
    /// sha256 is `sha256`, as an earlier start in this boot read them;
    /// only together with that object's verdict (read from the same file),
    /// as those requirements can start the object but never judge it.
    pub(super) fn object_requirements(&self, sha256: &str) -> Option<Requirements> {
        self.entry.verdicts.get(&bare_key(sha256))?;
        Requirements::from_loader_layout(self.entry.objects.get(sha256)?)
    }

    /// Every assessment `keys` name, when all of them are cached.
    pub(super) fn lookup(&self, keys: &[String]) -> Option<Hit> {
        let assessments = keys
            .iter()
            .map(|k| self.entry.verdicts.get(k)?.assessment())
            .collect::<Option<Vec<_>>>()?;
        Some(Hit {
            release: self.entry.release.clone(),
            sched_ext: self.entry.sched_ext,
            assessments,
        })
    }

    /// Records the kernel, the assessments of `keys` and the requirements
    /// of bare objects by sha256, and writes the file (atomically: a
    /// temporary file renamed over it).
    pub(super) fn store(
        &mut self,
        (release, sched_ext): (Option<String>, bool),
        judged: impl IntoIterator<Item = (String, Assessment)>,
        objects: impl IntoIterator<Item = (String, String)>,
    ) {
        let judged: Vec<_> = judged.into_iter().collect();
        if self.entry.verdicts.len() + judged.len() > MAX_VERDICTS {
            self.entry = Entry::default();
        }
        self.entry.release = release;
        self.entry.sched_ext = sched_ext;
        let stored = judged
            .into_iter()
            .filter_map(|(k, a)| Some((k, Stored::new(a)?)));
        self.entry.verdicts.extend(stored);
        self.entry.objects.extend(objects);
        let _ = self.save();
    }

    fn save(&self) -> std::io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let tmp = self
            .file
            .with_extension(format!("tmp.{}", std::process::id()));
        std::fs::write(&tmp, self.entry.write())?;
        std::fs::rename(&tmp, &self.file)?;
        if self.dir.ends_with(KERNEL_CACHE) {
            forget_old_kernels(&self.dir);
        }
        Ok(())
    }
}

/// The key of one variant's assessment: its object, policy and
/// requirements. A bare object's requirements and policy are what this
/// scxpack (whose version is in the boot key) reads from the object, so
/// its sha256 says it all, and nothing needs rendering as JSON.
pub(super) fn variant_key(v: &Variant, bare: bool) -> String {
    if bare {
        return bare_key(&v.sha256);
    }
    let mut h = Sha256::new();
    h.update(v.sha256.as_bytes());
    h.update(serde_json::to_vec(&v.policy).unwrap_or_default());
    h.update(serde_json::to_vec(&v.requirements).unwrap_or_default());
    lower_hex(&h.finalize())
}

/// The key of a bare object's assessment, from its sha256.
fn bare_key(sha256: &str) -> String {
    let mut h = Sha256::new();
    h.update(sha256.as_bytes());
    h.update(b"bare object");
    lower_hex(&h.finalize())
}

/// Where the cache of the running kernel lives ([`KERNEL_CACHE`] or
/// [`RUN_CACHE`]) and its key: the raw bytes of each part hashed (no text
/// formatting, which costs a start under emulation tens of milliseconds on
/// first use).
fn cache_key(root: &System) -> Option<(&'static str, String)> {
    let mut h = Sha256::new();
    let release = root.release();
    let (btf_size, btf_mtime) = root.stamp(SYS_BTF)?;
    let build_id = root.kernel_build_id();
    let place = if let Some(id) = &build_id {
        h.update(b"build id\0");
        h.update(id);
        stamp(&mut h, Some((btf_size, 0)));
        KERNEL_CACHE
    } else {
        h.update(root.boot_id()?.as_bytes());
        stamp(&mut h, Some((btf_size, btf_mtime)));
        RUN_CACHE
    };
    h.update(b"\0");
    h.update(release.as_deref().unwrap_or("").as_bytes());
    for rel in kconfig::running_paths(release.as_deref()) {
        h.update(rel.as_os_str().as_encoded_bytes());
        let the_kernels_own = build_id.is_some() && rel.starts_with("proc");
        let seen = root.stamp(&rel.to_string_lossy());
        stamp(
            &mut h,
            seen.map(|(size, t)| (size, if the_kernels_own { 0 } else { t })),
        );
    }
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(FORMAT.to_le_bytes());
    let mut key = lower_hex(&h.finalize());
    key.truncate(32);
    Some((place, key))
}

/// Removes from the kernel directory `dir` all but the [`KEEP_KERNELS`]
/// cache files written last, and temporary
/// files a writer left behind (it died before its rename) over an hour ago.
fn forget_old_kernels(dir: &Path) {
    let Ok(list) = std::fs::read_dir(dir) else {
        return;
    };
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for (written, path) in list.filter_map(|e| {
        let e = e.ok()?;
        Some((e.metadata().ok()?.modified().ok()?, e.path()))
    }) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.ends_with(".cache") {
            files.push((written, path));
        } else if name.contains(".tmp.") && written < hour_ago {
            let _ = std::fs::remove_file(&path);
        }
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, old) in files.into_iter().skip(KEEP_KERNELS) {
        let _ = std::fs::remove_file(old);
    }
}

/// A file's size and modification time (or its absence) into `h`.
fn stamp(h: &mut Sha256, stamp: Option<(u64, u128)>) {
    match stamp {
        Some((size, mtime)) => {
            h.update([1]);
            h.update(size.to_le_bytes());
            h.update(mtime.to_le_bytes());
        }
        None => h.update([0]),
    }
}

/// The entry in `file`, when `dir` is ours and writable by us alone.
fn read_trusted(dir: &Path, file: &Path) -> Option<Entry> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let meta = std::fs::metadata(dir).ok()?;
    if meta.uid() != euid || meta.mode() & 0o022 != 0 {
        return None;
    }
    // Whoever may write to the parent may swap the directory itself.
    let parent = std::fs::metadata(dir.parent()?).ok()?;
    let sticky = parent.mode() & 0o1000 != 0;
    if ![0, euid].contains(&parent.uid()) || (parent.mode() & 0o022 != 0 && !sticky) {
        return None;
    }
    // Through `take`: no size hint asked of the file system, and a file
    // grown past any size this code writes (damage) is never read whole.
    let mut body = String::new();
    std::fs::File::open(file)
        .ok()?
        .take(MAX_FILE + 1)
        .read_to_string(&mut body)
        .ok()?;
    if u64::try_from(body.len()).ok()? > MAX_FILE {
        return None;
    }
    Entry::read(&body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::{Reason, Shim};

    fn fake_root(tag: &str) -> (PathBuf, System) {
        let dir =
            std::env::temp_dir().join(format!("scxpack-bootcache-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("proc/sys/kernel/random")).unwrap();
        std::fs::create_dir_all(dir.join("sys/kernel/btf")).unwrap();
        std::fs::write(dir.join("proc/sys/kernel/random/boot_id"), "b-1\n").unwrap();
        std::fs::write(dir.join("proc/sys/kernel/osrelease"), "6.16.3\n").unwrap();
        std::fs::write(dir.join(SYS_BTF), b"btf").unwrap();
        (dir.clone(), System::new(dir))
    }

    /// A fake root whose kernel has the build id `id`.
    fn with_build_id(dir: &Path, id: u8) {
        let mut notes = Vec::new();
        for word in [4u32, 20, 3] {
            notes.extend(word.to_ne_bytes());
        }
        notes.extend(b"GNU\0");
        notes.extend([id; 20]);
        std::fs::write(dir.join("sys/kernel/notes"), notes).unwrap();
    }

    fn cached(root: &System, keys: &[String]) -> bool {
        BootCache::open(root).unwrap().lookup(keys).is_some()
    }

    fn set_mtime(path: &Path, secs: u64) {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    fn assessment() -> Assessment {
        let mut a = Assessment::default();
        a.shim(Shim::FillEnumSlot {
            slot: "__SCX_X".into(),
            enumerator: "SCX_X".into(),
            value: 7,
            present: true,
        });
        a
    }

    /// A bare object's key is its sha256 alone; a package variant's also
    /// covers the requirements and policy its manifest states.
    #[test]
    fn variant_keys_follow_what_decides_the_verdict() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o");
        let bytes = std::fs::read(&path).unwrap();
        let pkg = crate::package::Package::from_object_bytes(&path, bytes).unwrap();
        let v = &pkg.manifest.schedulers[0].variants[0];
        let mut edited = v.clone();
        edited.requirements.kfuncs.clear();
        assert_eq!(variant_key(v, true), variant_key(&edited, true));
        assert_ne!(variant_key(v, false), variant_key(&edited, false));
        assert_ne!(variant_key(v, true), variant_key(v, false));
        let mut other = v.clone();
        other.sha256 = "0".repeat(64);
        assert_ne!(variant_key(v, true), variant_key(&other, true));
    }

    #[test]
    fn remembers_for_the_boot_and_forgets_on_a_new_one() {
        let (dir, root) = fake_root("boot");
        let keys = vec!["a".to_string(), "b".to_string()];
        let mut cache = BootCache::open(&root).unwrap();
        assert!(cache.lookup(&keys).is_none());
        let mut refused = Assessment::default();
        refused.refuse(Reason::NoSchedExt);
        cache.store(
            (Some("6.16.3".into()), true),
            [
                ("a".to_string(), assessment()),
                ("b".to_string(), refused.clone()),
            ],
            [],
        );
        let hit = BootCache::open(&root).unwrap().lookup(&keys).unwrap();
        assert_eq!(hit.assessments, vec![assessment(), refused]);
        assert!(hit.sched_ext);
        // A variant never assessed is a miss.
        assert!(
            BootCache::open(&root)
                .unwrap()
                .lookup(&["c".into()])
                .is_none()
        );
        // Another boot, or another kernel BTF: nothing known.
        std::fs::write(dir.join("proc/sys/kernel/random/boot_id"), "b-2\n").unwrap();
        assert!(BootCache::open(&root).unwrap().lookup(&keys).is_none());
        std::fs::write(dir.join("proc/sys/kernel/random/boot_id"), "b-1\n").unwrap();
        std::fs::write(dir.join(SYS_BTF), b"other btf").unwrap();
        assert!(BootCache::open(&root).unwrap().lookup(&keys).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A bare object's requirements come back only with its verdict, and
    /// only for the same bytes.
    #[test]
    fn bare_requirements_come_back_with_their_verdict() {
        let (dir, root) = fake_root("bare");
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-objects/fifo/fifo.bpf.o");
        let req = Requirements::from_path(&path).unwrap();
        let sha = crate::package::sha256_hex(&std::fs::read(&path).unwrap());
        let layout = [(sha.clone(), req.loader_layout())];
        let mut cache = BootCache::open(&root).unwrap();
        cache.store((None, true), [], layout.clone());
        assert!(cache.object_requirements(&sha).is_none(), "no verdict yet");
        cache.store((None, true), [(bare_key(&sha), assessment())], layout);
        let back = BootCache::open(&root)
            .unwrap()
            .object_requirements(&sha)
            .unwrap();
        assert_eq!(back.struct_ops, req.struct_ops);
        assert_eq!(back.rodata, req.rodata);
        assert_eq!(back.exit_info, req.exit_info);
        let other = "0".repeat(64);
        assert!(cache.object_requirements(&other).is_none());
        // A damaged layout is no layout: the object is read again.
        let damaged = [(sha.clone(), "scxpack-layout 1\nmember x 0\n".to_string())];
        cache.store((None, true), [], damaged);
        let reread = BootCache::open(&root).unwrap();
        assert!(reread.lookup(&[bare_key(&sha)]).is_some());
        assert!(reread.object_requirements(&sha).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A kernel with a build id keeps its verdicts in the kernel directory
    /// across boots, until its image, BTF or config file changes.
    #[test]
    fn a_kernel_with_a_build_id_is_remembered_across_boots() {
        let (dir, root) = fake_root("build-id");
        with_build_id(&dir, 1);
        std::fs::create_dir_all(dir.join("boot")).unwrap();
        std::fs::write(dir.join("boot/config-6.16.3"), "CONFIG_X=y\n").unwrap();
        std::fs::write(dir.join("proc/config.gz"), "gz").unwrap();
        let keys = vec!["a".to_string()];
        BootCache::open(&root)
            .unwrap()
            .store((None, true), [("a".to_string(), assessment())], []);
        assert!(!dir.join(RUN_CACHE).exists());
        assert_eq!(
            std::fs::read_dir(dir.join(KERNEL_CACHE)).unwrap().count(),
            1
        );
        // Another boot: a new boot id, a new time on the kernel's own files.
        std::fs::write(dir.join("proc/sys/kernel/random/boot_id"), "b-2\n").unwrap();
        set_mtime(&dir.join(SYS_BTF), 1000);
        set_mtime(&dir.join("proc/config.gz"), 1000);
        assert!(cached(&root, &keys));
        // Whatever changes what the verdict was made of is a miss.
        let changes: [(&str, &dyn Fn()); 4] = [
            ("another image", &|| with_build_id(&dir, 2)),
            ("another BTF size", &|| {
                std::fs::write(dir.join(SYS_BTF), b"btf2").unwrap();
            }),
            ("another /proc/config.gz", &|| {
                std::fs::write(dir.join("proc/config.gz"), "gz2").unwrap();
            }),
            ("a /boot config written again", &|| {
                set_mtime(&dir.join("boot/config-6.16.3"), 1000);
            }),
        ];
        for (what, change) in changes {
            BootCache::open(&root).unwrap().store(
                (None, true),
                [("a".to_string(), assessment())],
                [],
            );
            assert!(cached(&root, &keys), "before {what}");
            change();
            assert!(!cached(&root, &keys), "{what}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A file holds a bounded number of verdicts, and the kernel directory
    /// the files of a bounded number of kernels.
    #[test]
    fn the_kernel_cache_stays_bounded() {
        let (dir, root) = fake_root("bounded");
        let verdict = |i: usize| (format!("v{i}"), assessment());
        for id in 0..=u8::try_from(KEEP_KERNELS).unwrap() {
            with_build_id(&dir, id);
            let mut cache = BootCache::open(&root).unwrap();
            cache.store((None, true), (0..MAX_VERDICTS).map(verdict), []);
            let first = vec!["v0".to_string()];
            assert!(cached(&root, &first), "kernel {id}");
            cache.store((None, true), [verdict(MAX_VERDICTS)], []);
            assert!(!cached(&root, &first), "one verdict more starts afresh");
            assert!(cached(&root, &[format!("v{MAX_VERDICTS}")]));
            set_mtime(&cache.file, u64::from(id) * 10);
        }
        let left = std::fs::read_dir(dir.join(KERNEL_CACHE)).unwrap().count();
        assert_eq!(left, KEEP_KERNELS);
        // A writer that died before its rename: its file goes once it is old.
        let kernels = dir.join(KERNEL_CACHE);
        let (stale, fresh) = (kernels.join("k.tmp.1"), kernels.join("k.tmp.2"));
        std::fs::write(&stale, "x").unwrap();
        std::fs::write(&fresh, "x").unwrap();
        set_mtime(&stale, 0);
        BootCache::open(&root)
            .unwrap()
            .store((None, true), [verdict(0)], []);
        assert!(!stale.exists() && fresh.exists());
        with_build_id(&dir, 0);
        assert!(
            BootCache::open(&root).unwrap().is_empty(),
            "the oldest went"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A file over [`MAX_FILE`] is not read, and the next store replaces it.
    #[test]
    fn an_oversized_file_is_not_read() {
        let (dir, root) = fake_root("size");
        let keys = vec!["a".to_string()];
        let mut huge = assessment();
        huge.note("x".repeat(usize::try_from(MAX_FILE).unwrap()));
        let mut cache = BootCache::open(&root).unwrap();
        cache.store((None, true), [("a".to_string(), huge)], []);
        assert!(std::fs::metadata(&cache.file).unwrap().len() > MAX_FILE);
        assert!(!cached(&root, &keys));
        BootCache::open(&root)
            .unwrap()
            .store((None, true), [("a".to_string(), assessment())], []);
        assert!(cached(&root, &keys));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_others_can_write_is_not_trusted() {
        let (dir, root) = fake_root("perm");
        let keys = vec!["a".to_string()];
        BootCache::open(&root)
            .unwrap()
            .store((None, true), [("a".to_string(), assessment())], []);
        let cache_dir = dir.join(RUN_CACHE);
        assert_eq!(std::fs::metadata(&cache_dir).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(
            &cache_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        assert!(BootCache::open(&root).unwrap().lookup(&keys).is_none());
        // Nor is one whose parent others can write to.
        std::fs::set_permissions(
            &cache_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        assert!(BootCache::open(&root).unwrap().lookup(&keys).is_some());
        std::fs::set_permissions(
            cache_dir.parent().unwrap(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        assert!(BootCache::open(&root).unwrap().lookup(&keys).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
