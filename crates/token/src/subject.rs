//! Upstream subjects are stored only as a keyed one-way hash
//! (HMAC-SHA256 over the provider name and the subject), as the Cognito FAQ
//! promises: a database dump reveals no user identifier of a public
//! provider, and without the key the hashes cannot be recomputed from a
//! list of guessed identifiers.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cognate_domain::federation::SubjectHasher;

/// Shortest accepted key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// HMAC-SHA256 subject hashing.
pub struct HmacSubjectHasher {
    key: hmac::Key,
}

impl std::fmt::Debug for HmacSubjectHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSubjectHasher { key: <redacted> }")
    }
}

impl HmacSubjectHasher {
    /// A hasher with `key` (at least 32 bytes).
    pub fn new(key: &[u8]) -> Result<Self, String> {
        if key.len() < MIN_KEY_BYTES {
            return Err(format!("must be at least {MIN_KEY_BYTES} bytes"));
        }
        Ok(HmacSubjectHasher {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        })
    }

    /// 32 random bytes for a new key.
    pub fn random_key() -> Vec<u8> {
        use aws_lc_rs::rand::SecureRandom as _;
        let mut key = vec![0u8; 32];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut key)
            .expect("the system random source works");
        key
    }
}

impl SubjectHasher for HmacSubjectHasher {
    fn hash(&self, provider: &str, subject: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(provider.as_bytes());
        ctx.update(&[0]);
        ctx.update(subject.as_bytes());
        URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_stable_keyed_and_reveals_nothing_of_the_subject() {
        let a = HmacSubjectHasher::new(&[1u8; 32]).unwrap();
        let b = HmacSubjectHasher::new(&[2u8; 32]).unwrap();
        let h = a.hash("accounts.google.com", "1234567890");
        assert_eq!(h, a.hash("accounts.google.com", "1234567890"));
        assert_ne!(h, b.hash("accounts.google.com", "1234567890"), "keyed");
        assert_ne!(
            h,
            a.hash("graph.facebook.com", "1234567890"),
            "per provider"
        );
        assert!(!h.contains("1234567890"));
        assert_eq!(h.len(), 43);
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(HmacSubjectHasher::new(&[0u8; 16]).is_err());
    }
}
