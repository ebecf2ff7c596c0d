//! Random secrets and their digests. Session cookies and API tokens are 256-bit random
//! values; only their SHA-256 digests are stored, so a copy of the database does not let
//! anyone act as a user or a producer. A fast hash is right here (unlike passwords): the
//! secrets have full entropy, and the lookup runs on every request.
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of API tokens, so secret scanners and people can recognise one.
pub const TOKEN_PREFIX: &str = "rmp_";

/// 32 random bytes from the operating system, base64url without padding (43 characters).
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh API token.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret())
}

/// What the store keeps of a secret.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A readable one-time password for a new account (20 characters of base64url).
pub fn new_password() -> String {
    random_secret().chars().take(20).collect()
}
