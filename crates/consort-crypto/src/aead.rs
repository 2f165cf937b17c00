//! AES-256-GCM with explicit 12-byte IVs, as CCF uses for ledger entries.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

use crate::CryptoError;

pub const KEY_LEN: usize = 32;
pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM key. The raw key bytes are never printed.
pub struct AesGcmKey {
    key: LessSafeKey,
}

impl fmt::Debug for AesGcmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesGcmKey(<redacted>)")
    }
}

impl AesGcmKey {
    pub fn new(raw: &[u8; KEY_LEN]) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, raw)
            .map_err(|_| CryptoError::InvalidKey("AES-256-GCM key".into()))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Encrypt `in_out` in place, authenticating `aad` too; returns the tag.
    pub fn seal_in_place(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let nonce = Nonce::assume_unique_for_key(*iv);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(aad), in_out)
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypt `in_out` in place after checking `tag` over ciphertext and `aad`.
    pub fn open_in_place(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        let nonce = Nonce::assume_unique_for_key(*iv);
        self.key
            .open_in_place_separate_tag(nonce, Aad::from(aad), tag, in_out)
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = AesGcmKey::new(&[7u8; 32]).unwrap();
        let iv = [1u8; 12];
        let mut data = b"secret value".to_vec();
        let tag = key.seal_in_place(&iv, b"public", &mut data).unwrap();
        assert_ne!(&data[..], b"secret value");
        let mut copy = data.clone();
        key.open_in_place(&iv, b"public", &mut copy, &tag).unwrap();
        assert_eq!(&copy[..], b"secret value");
        let mut copy = data.clone();
        assert!(key.open_in_place(&iv, b"publik", &mut copy, &tag).is_err());
        let mut copy = data.clone();
        copy[0] ^= 1;
        assert!(key.open_in_place(&iv, b"public", &mut copy, &tag).is_err());
        // Empty plaintext: the tag still authenticates the AAD.
        let tag = key.seal_in_place(&iv, b"aad", &mut []).unwrap();
        key.open_in_place(&iv, b"aad", &mut [], &tag).unwrap();
        assert!(key.open_in_place(&iv, b"aad!", &mut [], &tag).is_err());
    }
}
