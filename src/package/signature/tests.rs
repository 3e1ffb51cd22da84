use std::path::Path;

use super::*;

fn policy(text: &str) -> Result<Policy, SignatureError> {
    Policy::parse(Path::new("/etc/scxpack/policy"), text)
}

#[test]
fn policy_reads_require_signature_and_names_bad_lines() {
    assert!(!policy("").unwrap().require_signature);
    assert!(
        policy("# comment\n\nrequire-signature = true # yes\n")
            .unwrap()
            .require_signature
    );
    let err = policy("require-signature = true\nrequire_signature = true\n").unwrap_err();
    assert!(
        err.to_string().contains("policy:2: unknown setting"),
        "{err}"
    );
    let err = policy("require-signature\n").unwrap_err();
    assert!(err.to_string().contains("policy:1"), "{err}");
}

/// A passwordless key pair made by the minisign crate, as the files
/// `minisign -G -W` writes, but with the C tool's all-zero checksum.
fn c_style_keypair(dir: &Path) -> (std::path::PathBuf, String) {
    let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let mut raw = pair.sk.to_bytes();
    let len = raw.len();
    raw[len - 32..].fill(0);
    let line = <Base64 as ct_codecs::Encoder>::encode_to_string(&raw).unwrap();
    let key = dir.join("c.key");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&key, format!("untrusted comment: test key\n{line}\n")).unwrap();
    (key, pair.pk.to_box().unwrap().to_string())
}

#[test]
fn signs_with_a_zero_checksum_key_and_verifies_only_the_signed_bytes() {
    let dir = std::env::temp_dir().join(format!("scxpack-sig-unit-{}", std::process::id()));
    let (key, public) = c_style_keypair(&dir);
    let manifest = b"{\"name\": \"x\"}\n";
    let text = sign_manifest(manifest, "x 1", &key).unwrap();
    let sig = Signature::parse(Path::new("x.minisig"), &text).unwrap();
    let mut keys = Keyring::default();
    keys.add(Path::new("k.pub"), &public).unwrap();
    assert_eq!(sig.key_id, keys.keys[0].id);
    let require = Policy {
        require_signature: true,
        file: None,
    };
    let trust = check("x", || manifest.to_vec(), Some(&sig), &keys, &require).unwrap();
    assert!(matches!(trust, Trust::Signed { .. }), "{trust:?}");
    let err = check(
        "x",
        || b"{\"name\": \"y\"}\n".to_vec(),
        Some(&sig),
        &keys,
        &require,
    )
    .unwrap_err();
    assert!(matches!(err, SignatureError::BadSignature { .. }), "{err}");
    // A damaged key (one key byte flipped, checksum kept) is refused.
    let text = std::fs::read_to_string(&key).unwrap();
    let line = text.lines().nth(1).unwrap();
    let mut raw = Base64::decode_to_vec(line, None).unwrap();
    raw[70] ^= 1;
    raw[130] = 1;
    let line = <Base64 as ct_codecs::Encoder>::encode_to_string(&raw).unwrap();
    std::fs::write(&key, format!("untrusted comment: x\n{line}\n")).unwrap();
    let err = sign_manifest(manifest, "x 1", &key).unwrap_err();
    assert!(err.to_string().contains("damaged"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn key_ids_read_as_minisign_prints_them() {
    assert_eq!(
        key_id(&[0x25, 0x5f, 0x38, 0x51, 0x2f, 0xba, 0x06, 0x2a]),
        "2A06BA2F51385F25"
    );
}
