//! Encryption at rest of signing keys: the key-encryption key (KEK).
//!
//! A private key (PKCS#8 DER) is sealed with AES-256-GCM under the KEK
//! before it is stored. The sealed form is
//!
//! ```text
//! 0x01 (format version) || nonce (12 random bytes) || ciphertext || tag (16 bytes)
//! ```
//!
//! and the key's `kid` is the additional authenticated data, so a sealed key
//! cannot be moved to another row unnoticed. A fresh random nonce is drawn
//! for every seal; a KEK seals a handful of keys in its life, far from the
//! 2^32 random-nonce limit of GCM.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::error::TokenError;

/// The first byte of every sealed key: the format above.
const FORMAT_V1: u8 = 1;
/// AES-256-GCM tag length.
const TAG_LEN: usize = 16;

/// The key-encryption key: 32 bytes, configured as base64.
///
/// Its `Debug` never shows the key.
pub struct Kek {
    key: LessSafeKey,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek([redacted])")
    }
}

impl Kek {
    /// A KEK from its configured form: 32 bytes in base64 (standard or
    /// URL-safe alphabet, padded or not), e.g. the output of
    /// `head -c 32 /dev/urandom | base64`.
    pub fn from_base64(text: &str) -> Result<Self, TokenError> {
        let text = text.trim();
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let bytes = engines
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .map(Zeroizing::new)
            .ok_or_else(|| TokenError::InvalidKek("not valid base64".into()))?;
        Self::from_bytes(&bytes)
    }

    /// A KEK from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TokenError> {
        if bytes.len() != 32 {
            return Err(TokenError::InvalidKek(format!(
                "expected 32 bytes (AES-256), got {}",
                bytes.len()
            )));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| TokenError::InvalidKek("rejected by AES-256-GCM".into()))?;
        Ok(Kek {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Seal `plaintext` (a PKCS#8 DER private key) for the key `kid`.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, TokenError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| TokenError::KeyGeneration("no randomness for the nonce".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| TokenError::BadKey {
                kid: kid.to_owned(),
                reason: "sealing failed".into(),
            })?;
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    /// Open what [`Kek::seal`] sealed for `kid`. A wrong KEK, a wrong `kid`
    /// or any change to `sealed` gives [`TokenError::WrongKek`].
    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, TokenError> {
        let wrong = || TokenError::WrongKek {
            kid: kid.to_owned(),
        };
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN {
            return Err(TokenError::BadKey {
                kid: kid.to_owned(),
                reason: "sealed key is too short".into(),
            });
        }
        if sealed[0] != FORMAT_V1 {
            return Err(TokenError::BadKey {
                kid: kid.to_owned(),
                reason: format!("unknown sealed-key format {}", sealed[0]),
            });
        }
        let nonce =
            Nonce::try_assume_unique_for_key(&sealed[1..1 + NONCE_LEN]).map_err(|_| wrong())?;
        let mut in_out = Zeroizing::new(sealed[1 + NONCE_LEN..].to_vec());
        let len = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| wrong())?
            .len();
        in_out.truncate(len);
        Ok(in_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEK_A: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
    const KEK_B: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn a_sealed_key_opens_with_the_same_kek_and_kid() {
        let kek = Kek::from_base64(KEK_A).unwrap();
        let sealed = kek.seal("kid-1", b"private key bytes").unwrap();
        assert_eq!(sealed[0], FORMAT_V1);
        assert_ne!(&sealed[1 + NONCE_LEN..], b"private key bytes");
        assert_eq!(
            &kek.open("kid-1", &sealed).unwrap()[..],
            b"private key bytes"
        );
    }

    #[test]
    fn sealing_twice_uses_fresh_nonces() {
        let kek = Kek::from_base64(KEK_A).unwrap();
        assert_ne!(kek.seal("k", b"x").unwrap(), kek.seal("k", b"x").unwrap());
    }

    #[test]
    fn a_wrong_kek_is_a_clear_error() {
        let sealed = Kek::from_base64(KEK_A)
            .unwrap()
            .seal("kid-1", b"secret")
            .unwrap();
        let err = Kek::from_base64(KEK_B)
            .unwrap()
            .open("kid-1", &sealed)
            .unwrap_err();
        assert!(matches!(err, TokenError::WrongKek { ref kid } if kid == "kid-1"));
        assert!(
            err.to_string().contains("wrong key-encryption key"),
            "{err}"
        );
    }

    #[test]
    fn a_sealed_key_moved_to_another_kid_does_not_open() {
        let kek = Kek::from_base64(KEK_A).unwrap();
        let sealed = kek.seal("kid-1", b"secret").unwrap();
        assert!(matches!(
            kek.open("kid-2", &sealed),
            Err(TokenError::WrongKek { .. })
        ));
    }

    #[test]
    fn a_tampered_sealed_key_does_not_open() {
        let kek = Kek::from_base64(KEK_A).unwrap();
        let mut sealed = kek.seal("kid-1", b"secret").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(matches!(
            kek.open("kid-1", &sealed),
            Err(TokenError::WrongKek { .. })
        ));
        assert!(matches!(
            kek.open("kid-1", &sealed[..5]),
            Err(TokenError::BadKey { .. })
        ));
    }

    #[test]
    fn a_kek_must_be_32_bytes_of_base64() {
        assert!(matches!(
            Kek::from_base64("not base64!"),
            Err(TokenError::InvalidKek(_))
        ));
        assert!(matches!(
            Kek::from_base64("AAEC"),
            Err(TokenError::InvalidKek(_))
        ));
        // URL-safe, unpadded works too.
        assert!(Kek::from_base64(KEK_A.trim_end_matches('=')).is_ok());
    }

    #[test]
    fn a_kek_never_shows_in_debug() {
        let kek = Kek::from_base64(KEK_A).unwrap();
        assert_eq!(format!("{kek:?}"), "Kek([redacted])");
    }
}
