//! ECDSA P-384 identities (CCF's default curve).
//!
//! CCF signs Merkle roots as *pre-hashed* SHA-256 digests: the 32-byte root is the digest
//! handed to ECDSA, whatever the curve. `aws-lc-rs` only offers digest signing when the
//! digest algorithm matches the curve's (SHA-384 for P-384), so [`SigningKey::sign_digest_sha256`]
//! calls the same AWS-LC library through `aws-lc-sys`. Verification uses the safe API.

use std::fmt;

use aws_lc_rs::{
    digest,
    encoding::AsDer,
    signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey},
};

use crate::{sha256, CryptoError, Sha256Digest};

/// An ECDSA P-384 private key. Never printed; exported only as PKCS#8 for the owner's own files.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(P-384, public {})", self.public_key_id())
    }
}

impl SigningKey {
    /// Generate a new random P-384 key.
    pub fn generate() -> Result<Self, CryptoError> {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_ASN1_SIGNING)
            .map_err(|_| CryptoError::InvalidKey("generation failed".into()))?;
        let pkcs8 = pair
            .to_pkcs8v1()
            .map_err(|_| CryptoError::InvalidKey("PKCS#8 export failed".into()))?
            .as_ref()
            .to_vec();
        Ok(Self { pair, pkcs8 })
    }

    /// Load from PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, der)
            .map_err(|e| CryptoError::InvalidKey(format!("not a P-384 PKCS#8 key: {e}")))?;
        Ok(Self {
            pair,
            pkcs8: der.to_vec(),
        })
    }

    /// Load from a PEM `PRIVATE KEY` (PKCS#8) block.
    pub fn from_pem(pem_text: &str) -> Result<Self, CryptoError> {
        let p = pem::parse(pem_text).map_err(|e| CryptoError::Pem(e.to_string()))?;
        if p.tag() != "PRIVATE KEY" {
            return Err(CryptoError::Pem(format!(
                "expected a PRIVATE KEY block, found {}",
                p.tag()
            )));
        }
        Self::from_pkcs8_der(p.contents())
    }

    /// PKCS#8 PEM of the private key, for the key owner's own file (mode 0600).
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PRIVATE KEY", self.pkcs8.clone()))
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// DER SubjectPublicKeyInfo of the public key.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.pair
            .public_key()
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .unwrap_or_default()
    }

    /// Uncompressed SEC1 point of the public key.
    pub fn public_key_point(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            point: self.public_key_point().to_vec(),
        }
    }

    /// Hex SHA-256 of the DER public key: CCF's node id.
    pub fn public_key_id(&self) -> String {
        sha256(&self.public_key_der()).to_hex()
    }

    /// Sign `msg` with ECDSA P-384 / SHA-384 (X.509 and COSE use).
    pub fn sign_sha384(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.pair
            .sign(&rng, msg)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| CryptoError::Sign)
    }

    /// ECDSA signature (DER) of a 32-byte digest used as-is, as CCF signs Merkle roots.
    pub fn sign_digest_sha256(&self, digest: &Sha256Digest) -> Result<Vec<u8>, CryptoError> {
        ffi::ecdsa_sign_digest(&self.pkcs8, digest.as_bytes())
    }
}

/// An ECDSA P-384 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    point: Vec<u8>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", hex::encode(&self.point))
    }
}

impl VerifyingKey {
    /// From an uncompressed SEC1 point on P-384 (97 bytes) or P-256 (65 bytes).
    pub fn from_point(point: &[u8]) -> Result<Self, CryptoError> {
        if !(point.len() == 97 || point.len() == 65) || point.first() != Some(&4) {
            return Err(CryptoError::InvalidKey(
                "expected an uncompressed P-384 or P-256 point".into(),
            ));
        }
        Ok(Self {
            point: point.to_vec(),
        })
    }

    pub fn point(&self) -> &[u8] {
        &self.point
    }

    /// Verify a DER ECDSA signature over a 32-byte digest used as-is (CCF root signatures).
    pub fn verify_digest_sha256(
        &self,
        digest: &Sha256Digest,
        sig_der: &[u8],
    ) -> Result<(), CryptoError> {
        let d = digest::Digest::import_less_safe(digest.as_bytes(), &digest::SHA256)
            .map_err(|_| CryptoError::BadSignature)?;
        UnparsedPublicKey::new(&signature::ECDSA_P384_SHA256_ASN1, &self.point)
            .verify_digest(&d, sig_der)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// Whether the key is on P-384 (else P-256).
    pub fn is_p384(&self) -> bool {
        self.point.len() == 97
    }

    /// Verify a fixed-size (r‖s) ECDSA signature over `msg` as JOSE/COSE use it: ES256
    /// (P-256, SHA-256) or ES384 (P-384, SHA-384), chosen by `alg` and the key's curve.
    pub fn verify_fixed(&self, alg: EcdsaAlg, msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        let a: &'static dyn signature::VerificationAlgorithm = match (alg, self.is_p384()) {
            (EcdsaAlg::Es256, false) => &signature::ECDSA_P256_SHA256_FIXED,
            (EcdsaAlg::Es384, true) => &signature::ECDSA_P384_SHA384_FIXED,
            _ => return Err(CryptoError::BadSignature),
        };
        UnparsedPublicKey::new(a, &self.point)
            .verify(msg, sig)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// Verify a DER ECDSA P-384 / SHA-384 signature over `msg`.
    pub fn verify_sha384(&self, msg: &[u8], sig_der: &[u8]) -> Result<(), CryptoError> {
        UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_ASN1, &self.point)
            .verify(msg, sig_der)
            .map_err(|_| CryptoError::BadSignature)
    }
}

/// ECDSA algorithms of JOSE and COSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcdsaAlg {
    Es256,
    Es384,
}

/// Verify an RSASSA-PKCS1-v1_5 / SHA-256 signature (JWT `RS256`) with the key `(n, e)`
/// given as big-endian bytes.
pub fn verify_rs256(n: &[u8], e: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    signature::RsaPublicKeyComponents { n, e }
        .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
        .map_err(|_| CryptoError::BadSignature)
}

impl SigningKey {
    /// Fixed-size (r‖s) ECDSA P-384 / SHA-384 signature (COSE ES384).
    pub fn sign_es384(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &self.pkcs8)
                .map_err(|_| CryptoError::Sign)?;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        pair.sign(&rng, msg)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| CryptoError::Sign)
    }
}

/// The one place that calls AWS-LC's C API directly.
#[allow(unsafe_code)]
mod ffi {
    use aws_lc_sys as sys;

    use crate::CryptoError;

    struct Pkey(*mut sys::EVP_PKEY);

    impl Drop for Pkey {
        fn drop(&mut self) {
            // SAFETY: the pointer came from EVP_parse_private_key and is freed once.
            unsafe { sys::EVP_PKEY_free(self.0) }
        }
    }

    pub(super) fn ecdsa_sign_digest(
        pkcs8: &[u8],
        digest: &[u8; 32],
    ) -> Result<Vec<u8>, CryptoError> {
        // SAFETY: CBS borrows `pkcs8` for the duration of the parse only; every pointer
        // passed to AWS-LC is valid for the length given; the EVP_PKEY is owned by `Pkey`
        // and the EC_KEY is borrowed from it (get0) while it lives.
        unsafe {
            let mut cbs = std::mem::zeroed::<sys::CBS>();
            sys::CBS_init(&mut cbs, pkcs8.as_ptr(), pkcs8.len());
            let pkey = sys::EVP_parse_private_key(&mut cbs);
            if pkey.is_null() {
                return Err(CryptoError::InvalidKey("cannot parse PKCS#8".into()));
            }
            let pkey = Pkey(pkey);
            let ec = sys::EVP_PKEY_get0_EC_KEY(pkey.0);
            if ec.is_null() {
                return Err(CryptoError::InvalidKey("not an EC key".into()));
            }
            let max = sys::ECDSA_size(ec);
            let mut out = vec![0u8; max];
            let mut len: std::os::raw::c_uint = 0;
            let ok = sys::ECDSA_sign(
                0,
                digest.as_ptr(),
                digest.len(),
                out.as_mut_ptr(),
                &mut len,
                ec,
            );
            if ok != 1 {
                return Err(CryptoError::Sign);
            }
            out.truncate(len as usize);
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_sign_verify() {
        let k = SigningKey::generate().unwrap();
        let d = sha256(b"root");
        let sig = k.sign_digest_sha256(&d).unwrap();
        let vk = k.verifying_key();
        vk.verify_digest_sha256(&d, &sig).unwrap();
        assert!(vk.verify_digest_sha256(&sha256(b"other"), &sig).is_err());
        let mut bad = sig.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(vk.verify_digest_sha256(&d, &bad).is_err());
    }

    #[test]
    fn pem_round_trip() {
        let k = SigningKey::generate().unwrap();
        let k2 = SigningKey::from_pem(&k.to_pem()).unwrap();
        assert_eq!(k.public_key_der(), k2.public_key_der());
        assert_eq!(k.public_key_id().len(), 64);
        assert!(!format!("{k:?}").contains(&hex::encode(k.pkcs8_der())));
    }
}
