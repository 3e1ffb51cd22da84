//! Package signatures: minisign signatures over `manifest.json`, checked
//! offline against the public keys a root trusts, under its policy.
//!
//! What is signed is `manifest.json`, byte for byte: it pins every object
//! by size and sha256, and opening a package (archive or installed
//! directory) re-hashes every object against it. So one signature covers
//! the `.scxpkg` file and, unchanged, the installed directory, and a file
//! changed after installation is caught by the hash check that a valid
//! signature on the manifest makes meaningful.
//!
//! Where signatures are:
//! - beside a package file: `PKG.scxpkg.minisig` ([`detached_path`]);
//! - inside an installed package directory: [`INSTALLED_SIGNATURE`]
//!   (`manifest.json.minisig`, where `minisign -Vm manifest.json` looks).
//!
//! Trusted keys are minisign public key files `*.pub` in [`KEY_DIRS`] under
//! a root; [`POLICY_FILE`] may say `require-signature = true`. The format is
//! minisign's (prehashed Ed25519, trusted comment signed too), through the
//! `minisign` crate. Everything but the file reads in [`Keyring::load`],
//! [`Policy::load`], [`read_signature`] and [`sign_manifest`]'s key read is
//! pure.

use std::fmt;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use ct_codecs::{Base64, Decoder};
use minisign::{PublicKey, SecretKey, SecretKeyBox, SignatureBox};

/// Directories of trusted public keys, relative to the root, in the order
/// they are read: the distribution's, then the administrator's.
pub const KEY_DIRS: [&str; 2] = ["usr/share/scxpack/keys.d", "etc/scxpack/keys.d"];
/// The signature policy, relative to the root.
pub const POLICY_FILE: &str = "etc/scxpack/policy";
/// The signature of an installed package, inside its directory.
pub const INSTALLED_SIGNATURE: &str = "manifest.json.minisig";
/// Appended to a package file's name to find its detached signature.
pub const SIGNATURE_SUFFIX: &str = ".minisig";
/// A signature file is a few hundred bytes; anything larger is not one.
const MAX_SIGNATURE: u64 = 4096;
/// A key or policy file is small too.
const MAX_KEY_FILE: u64 = 4096;

/// Why a signature, a key or the policy refuses a package.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a minisign {what}: {reason}")]
    Malformed {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error(
        "{package}: not signed, and {policy} requires a signature (require-signature = true): ask its publisher for {expected}, or sign it with `scxpack sign` using a key this system trusts"
    )]
    Unsigned {
        package: String,
        policy: PathBuf,
        expected: String,
    },
    #[error(
        "{package}: signed with key {key_id}, which this system does not trust (no such key in {searched}){policy}: add the publisher's public key there as NAME.pub"
    )]
    UnknownKey {
        package: String,
        key_id: String,
        searched: String,
        policy: String,
    },
    #[error(
        "{package}: the signature by key {key_id} ({key_file}) does not match manifest.json: {reason}; the manifest was changed after signing, or the signature belongs to another package"
    )]
    BadSignature {
        package: String,
        key_id: String,
        key_file: PathBuf,
        reason: String,
    },
    #[error("{path}:{line}: {reason} (the policy takes `require-signature = true|false`)")]
    Policy {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: cannot sign with this secret key: {reason}")]
    SecretKey { path: PathBuf, reason: String },
    #[error("{package}: {reason}")]
    CannotSign { package: String, reason: String },
}

/// A public key this system trusts, and the file it came from.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub id: String,
    pub file: PathBuf,
    key: PublicKey,
}

/// The trusted public keys of a root.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    pub keys: Vec<TrustedKey>,
    /// The directories read, for messages.
    pub searched: Vec<PathBuf>,
}

impl Keyring {
    /// Reads every `*.pub` in [`KEY_DIRS`] under `root` (missing directories
    /// are empty; an unreadable or malformed key file is an error).
    pub fn load(root: &Path) -> Result<Self, SignatureError> {
        let mut ring = Keyring::default();
        for dir in KEY_DIRS.map(|d| root.join(d)) {
            for file in key_files(&dir)? {
                let text = read_small(&file, MAX_KEY_FILE)?;
                ring.add(&file, &text)?;
            }
            ring.searched.push(dir);
        }
        Ok(ring)
    }

    /// Adds the minisign public key `text` read from `file`.
    pub fn add(&mut self, file: &Path, text: &str) -> Result<(), SignatureError> {
        let key = parse_public_key(text).map_err(|reason| SignatureError::Malformed {
            path: file.to_path_buf(),
            what: "public key",
            reason,
        })?;
        self.keys.push(TrustedKey {
            id: key_id(key.keynum()),
            file: file.to_path_buf(),
            key,
        });
        Ok(())
    }

    fn find(&self, id: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    fn searched_text(&self) -> String {
        if self.searched.is_empty() {
            return "the keyring".to_string();
        }
        self.searched
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

/// A public key file: an optional `untrusted comment:` line, then the key
/// in base64 (what `minisign -G` writes), or just the base64 line.
fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .ok_or("no key line")?;
    PublicKey::from_base64(line).map_err(|e| e.to_string())
}

/// The key files of `dir`, sorted; none when `dir` does not exist.
fn key_files(dir: &Path) -> Result<Vec<PathBuf>, SignatureError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(SignatureError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pub"))
        .collect();
    files.sort();
    Ok(files)
}

/// How minisign shows a key id: its 8 bytes as a little-endian number in
/// upper-case hex.
fn key_id(keynum: &[u8]) -> String {
    let mut id = [0u8; 8];
    let n = keynum.len().min(8);
    id[..n].copy_from_slice(&keynum[..n]);
    format!("{:016X}", u64::from_le_bytes(id))
}

/// What a root demands of packages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// Refuse unsigned packages and packages signed by untrusted keys.
    pub require_signature: bool,
    /// The policy file read, if there was one.
    pub file: Option<PathBuf>,
}

impl Policy {
    /// Reads [`POLICY_FILE`] under `root`; none means the default (signatures
    /// checked when present, not required).
    pub fn load(root: &Path) -> Result<Self, SignatureError> {
        let path = root.join(POLICY_FILE);
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Policy::default()),
            _ => {}
        }
        let text = read_small(&path, MAX_KEY_FILE)?;
        Self::parse(&path, &text)
    }

    /// Parses policy text: `key = value` lines, `#` comments, blank lines.
    pub fn parse(path: &Path, text: &str) -> Result<Self, SignatureError> {
        let mut policy = Policy {
            require_signature: false,
            file: Some(path.to_path_buf()),
        };
        for (i, raw) in text.lines().enumerate() {
            let bad = |reason: String| SignatureError::Policy {
                path: path.to_path_buf(),
                line: i + 1,
                reason,
            };
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| bad(format!("{line:?} is not `key = value`")))?;
            match (key.trim(), value.trim()) {
                ("require-signature", "true") => policy.require_signature = true,
                ("require-signature", "false") => policy.require_signature = false,
                ("require-signature", v) => {
                    return Err(bad(format!(
                        "require-signature is {v:?}, not true or false"
                    )));
                }
                (k, _) => return Err(bad(format!("unknown setting {k:?}"))),
            }
        }
        Ok(policy)
    }

    pub(crate) fn path_text(&self) -> PathBuf {
        self.file
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("/{POLICY_FILE}")))
    }
}

/// What the signature check found about an accepted package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// A valid signature by a trusted key.
    Signed {
        key_id: String,
        key_file: PathBuf,
        trusted_comment: String,
    },
    /// No signature, and the policy does not require one.
    Unsigned,
    /// Signed by a key this system does not have, and the policy does not
    /// require a trusted signature.
    UntrustedKey { key_id: String },
}

impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::Signed {
                key_id, key_file, ..
            } => write!(f, "signed by key {key_id} ({})", key_file.display()),
            Trust::Unsigned => write!(
                f,
                "not signed (accepted: no policy requires signatures; see docs/signatures.md)"
            ),
            Trust::UntrustedKey { key_id } => write!(
                f,
                "signed with key {key_id}, which this system does not trust (accepted: no policy requires signatures)"
            ),
        }
    }
}

/// A parsed signature and where it came from.
#[derive(Clone)]
pub struct Signature {
    pub file: PathBuf,
    pub key_id: String,
    sig: SignatureBox,
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature")
            .field("file", &self.file)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Signature {
    /// Parses minisign signature text read from `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Self, SignatureError> {
        let sig = SignatureBox::from_string(text).map_err(|e| SignatureError::Malformed {
            path: file.to_path_buf(),
            what: "signature",
            reason: e.to_string(),
        })?;
        Ok(Signature {
            file: file.to_path_buf(),
            key_id: key_id(sig.keynum()),
            sig,
        })
    }

    /// The signature as minisign writes it.
    #[must_use]
    pub fn text(&self) -> String {
        self.sig.to_string()
    }
}

/// The signature file of a package file: `PKG.scxpkg.minisig`.
#[must_use]
pub fn detached_path(package: &Path) -> PathBuf {
    let mut s = package.as_os_str().to_owned();
    s.push(SIGNATURE_SUFFIX);
    PathBuf::from(s)
}

/// Reads the signature at `file`, if there is one.
pub fn read_signature(file: &Path) -> Result<Option<Signature>, SignatureError> {
    match std::fs::symlink_metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => {}
    }
    let text = read_small(file, MAX_SIGNATURE)?;
    Signature::parse(file, &text).map(Some)
}

/// Checks the manifest of package `package` (its name, for messages; its
/// bytes rendered by `manifest_json` only when a key can check them)
/// against `signature` with `keys`, under `policy`.
///
/// A signature that does not verify with the key it names is always
/// refused. An unsigned package, or one signed by a key not in `keys`, is
/// refused when the policy requires signatures and accepted otherwise.
pub fn check(
    package: &str,
    manifest_json: impl FnOnce() -> Vec<u8>,
    signature: Option<&Signature>,
    keys: &Keyring,
    policy: &Policy,
) -> Result<Trust, SignatureError> {
    let Some(sig) = signature else {
        if policy.require_signature {
            return Err(SignatureError::Unsigned {
                package: package.to_string(),
                policy: policy.path_text(),
                expected: "its .minisig".to_string(),
            });
        }
        return Ok(Trust::Unsigned);
    };
    let Some(key) = keys.find(&sig.key_id) else {
        if policy.require_signature {
            return Err(SignatureError::UnknownKey {
                package: package.to_string(),
                key_id: sig.key_id.clone(),
                searched: keys.searched_text(),
                policy: format!(" and {} requires a signature", policy.path_text().display()),
            });
        }
        return Ok(Trust::UntrustedKey {
            key_id: sig.key_id.clone(),
        });
    };
    minisign::verify(
        &key.key,
        &sig.sig,
        Cursor::new(manifest_json()),
        true,
        false,
        false,
    )
    .map_err(|e| SignatureError::BadSignature {
        package: package.to_string(),
        key_id: key.id.clone(),
        key_file: key.file.clone(),
        reason: e.to_string(),
    })?;
    Ok(Trust::Signed {
        key_id: key.id.clone(),
        key_file: key.file.clone(),
        trusted_comment: sig.sig.trusted_comment().unwrap_or_default(),
    })
}

/// Signs `manifest_json` of package `name version` with the minisign secret
/// key in `key_file` (an unencrypted key, or an encrypted one whose
/// password is asked on the terminal, as `minisign -S` does).
pub fn sign_manifest(
    manifest_json: &[u8],
    package: &str,
    key_file: &Path,
) -> Result<String, SignatureError> {
    let secret = read_secret_key(key_file)?;
    let public = PublicKey::from_secret_key(&secret).ok();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let trusted = format!("timestamp:{now}\tfile:manifest.json\tpackage:{package}");
    let sig = minisign::sign(
        public.as_ref(),
        &secret,
        Cursor::new(manifest_json),
        Some(&trusted),
        Some("signature of an scxpack package manifest (manifest.json)"),
    )
    .map_err(|e| SignatureError::CannotSign {
        package: package.to_string(),
        reason: e.to_string(),
    })?;
    Ok(sig.to_string())
}

/// Reads a minisign secret key file: unencrypted (`minisign -G -W`), or
/// encrypted, when the password is asked on the terminal.
fn read_secret_key(key_file: &Path) -> Result<SecretKey, SignatureError> {
    let text = read_small(key_file, MAX_KEY_FILE)?;
    let bad = |reason: String| SignatureError::SecretKey {
        path: key_file.to_path_buf(),
        reason,
    };
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .ok_or_else(|| bad("no key line".to_string()))?;
    let raw = Base64::decode_to_vec(line, None).map_err(|e| {
        bad(format!(
            "not a minisign secret key (its key line is not base64: {e})"
        ))
    })?;
    if raw.len() != SECRET_KEY_LEN {
        return Err(bad(format!(
            "{} bytes, a minisign secret key has {SECRET_KEY_LEN}",
            raw.len()
        )));
    }
    if raw[2..4] != [0, 0] {
        return SecretKey::from_box(
            SecretKeyBox::from_string(&text).map_err(|e| bad(e.to_string()))?,
            None,
        )
        .map_err(|e| bad(e.to_string()));
    }
    if !checksum_ok(&raw) {
        return Err(bad(
            "its checksum does not match: the key file is damaged".to_string()
        ));
    }
    SecretKey::from_bytes(&raw).map_err(|e| bad(e.to_string()))
}

/// Length of a decoded secret key: algorithms (6), KDF salt and limits
/// (48), key id (8), Ed25519 secret and public key (64), checksum (32).
const SECRET_KEY_LEN: usize = 158;

/// The checksum of an unencrypted key: BLAKE2b-256 of the signature
/// algorithm, key id and key, as minisign defines it; minisign (the C tool)
/// writes passwordless keys with an all-zero checksum, accepted as such.
fn checksum_ok(raw: &[u8]) -> bool {
    use blake2::digest::{Update, VariableOutput};
    let (head, stored) = raw.split_at(SECRET_KEY_LEN - 32);
    if stored.iter().all(|&b| b == 0) {
        return true;
    }
    let mut hasher = blake2::Blake2bVar::new(32).expect("32 is a valid BLAKE2b length");
    hasher.update(&head[0..2]);
    hasher.update(&head[54..126]);
    let mut computed = [0u8; 32];
    hasher
        .finalize_variable(&mut computed)
        .expect("the output buffer has the requested length");
    computed == stored
}

/// The public key of `text` (a `.pub` file), for tests and tools.
pub fn public_key_id(text: &str) -> Result<String, String> {
    parse_public_key(text).map(|k| key_id(k.keynum()))
}

/// A small UTF-8 file, read whole after checking its size.
fn read_small(path: &Path, limit: u64) -> Result<String, SignatureError> {
    let io = |source| SignatureError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(io(std::io::Error::from(std::io::ErrorKind::IsADirectory)));
    }
    if meta.len() > limit {
        return Err(SignatureError::Malformed {
            path: path.to_path_buf(),
            what: "file",
            reason: format!("{} bytes, over the {limit}-byte limit", meta.len()),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    String::from_utf8(bytes).map_err(|_| SignatureError::Malformed {
        path: path.to_path_buf(),
        what: "file",
        reason: "not UTF-8 text".to_string(),
    })
}

#[cfg(test)]
mod tests;
