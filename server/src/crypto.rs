//! Small cryptographic helpers: randomness, HMAC-derived secrets, argon2 hashes, file modes.
//!
//! Everything random comes from `ring::rand::SystemRandom`; HMAC and SHA-256 from `ring`;
//! password and PIN hashes are argon2id (default parameters) PHC strings.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};
use std::io::Write as _;
use std::path::Path;

/// Failure of the system random generator or of a hash computation.
#[derive(Debug, thiserror::Error)]
#[error("cryptographic failure: {0}")]
pub struct CryptoError(pub &'static str);

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, CryptoError> {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| CryptoError("system random generator failed"))?;
    Ok(buf)
}

/// A uniformly random integer in `0..bound` (`bound > 0`), by rejection sampling.
pub fn random_below(bound: u32) -> Result<u32, CryptoError> {
    if bound == 0 {
        return Err(CryptoError("empty range"));
    }
    // Largest multiple of `bound` that fits in u32 range [0, 2^32).
    let zone = u64::from(u32::MAX) + 1 - ((u64::from(u32::MAX) + 1) % u64::from(bound));
    loop {
        let bytes = random_bytes(4)?;
        let v = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if u64::from(v) < zone {
            return Ok(v % bound);
        }
    }
}

/// A uniformly random 6-digit PIN (`000000`–`999999`).
pub fn random_pin() -> Result<String, CryptoError> {
    Ok(format!("{:06}", random_below(1_000_000)?))
}

/// Base64url (no padding) of `n` random bytes.
pub fn random_b64(n: usize) -> Result<String, CryptoError> {
    Ok(b64url(&random_bytes(n)?))
}

/// Base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, data).as_ref().to_vec()
}

/// Constant-time equality of two byte strings of any length (`subtle`; the length itself is
/// not hidden, callers compare fixed-size digests or HMACs).
pub fn ct_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Constant-time equality of two strings (compares their SHA-256, so lengths do not leak).
pub fn ct_eq_str(a: &str, b: &str) -> bool {
    ct_eq_bytes(&sha256(a.as_bytes()), &sha256(b.as_bytes()))
}

/// Argon2id (default parameters) PHC hash of `secret`, with a random salt.
pub fn argon2_hash(secret: &[u8]) -> Result<String, CryptoError> {
    Argon2::default()
        .hash_password(secret)
        .map(|h| h.to_string())
        .map_err(|_| CryptoError("argon2 hashing failed"))
}

/// Whether `secret` matches the argon2 PHC string `phc`. A malformed hash never matches.
pub fn argon2_verify(secret: &[u8], phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(secret, &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A fixed hash verified against when the user does not exist, so that unknown and known users
/// take the same time to reject.
pub fn dummy_hash() -> &'static str {
    use std::sync::OnceLock;
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| argon2_hash(b"enroll-dummy-password").unwrap_or_default())
}

/// Writes `contents` to `path` readable by the owner only (mode 0600 on Unix), atomically
/// replacing any previous file.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path)
}

/// Writes a public file (certificates), atomically.
pub fn write_public(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_six_digits_and_vary() {
        let pins: Vec<String> = (0..50).map(|_| random_pin().unwrap()).collect();
        assert!(pins
            .iter()
            .all(|p| p.len() == 6 && p.bytes().all(|b| b.is_ascii_digit())));
        let distinct: std::collections::HashSet<_> = pins.iter().collect();
        assert!(distinct.len() > 40);
    }

    #[test]
    fn random_below_stays_in_range() {
        for bound in [1u32, 2, 3, 7, 1_000_000] {
            for _ in 0..20 {
                assert!(random_below(bound).unwrap() < bound);
            }
        }
        assert!(random_below(0).is_err());
    }

    #[test]
    fn argon2_round_trip() {
        let h = argon2_hash(b"correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(argon2_verify(b"correct horse", &h));
        assert!(!argon2_verify(b"wrong", &h));
        assert!(!argon2_verify(b"x", "not a hash"));
    }

    #[test]
    fn ct_eq() {
        assert!(ct_eq_str("abc", "abc"));
        assert!(!ct_eq_str("abc", "abd"));
        assert!(!ct_eq_str("abc", "abcd"));
    }
}
