//! RSA key pairs: members' recovery-share encryption keys, and RSA-OAEP with SHA-256 (and
//! MGF1-SHA-256, no label) as CCF uses them: what `openssl pkeyutl -decrypt -pkeyopt
//! rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256` opens.

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{
        KeyPair, KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
        PublicEncryptingKey, OAEP_SHA256_MGF1SHA256,
    },
    signature::KeyPair as _,
};
use zeroize::Zeroizing;

use crate::CryptoError;

/// A new RSA-2048 key pair as PEM: (PKCS#8 private key, SPKI public key).
pub fn generate_rsa_2048_pem() -> Result<(String, String), CryptoError> {
    let kp = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| CryptoError::InvalidKey("RSA generation failed".into()))?;
    let private: aws_lc_rs::encoding::Pkcs8V1Der<'static> = kp
        .as_der()
        .map_err(|_| CryptoError::InvalidKey("RSA PKCS#8 export failed".into()))?;
    let public: aws_lc_rs::encoding::PublicKeyX509Der<'static> = kp
        .public_key()
        .as_der()
        .map_err(|_| CryptoError::InvalidKey("RSA public key export failed".into()))?;
    let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    Ok((
        pem::encode_config(&pem::Pem::new("PRIVATE KEY", private.as_ref().to_vec()), lf),
        pem::encode_config(&pem::Pem::new("PUBLIC KEY", public.as_ref().to_vec()), lf),
    ))
}

/// An RSA public key that encrypts with OAEP-SHA-256.
pub struct RsaPublicKey(OaepPublicEncryptingKey);

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.0.key_size_bits())
    }
}

impl RsaPublicKey {
    /// From a PEM `PUBLIC KEY` (SubjectPublicKeyInfo); at least 2048 bits.
    pub fn from_pem(text: &str) -> Result<Self, CryptoError> {
        let p = pem::parse(text).map_err(|e| CryptoError::Pem(e.to_string()))?;
        if p.tag() != "PUBLIC KEY" {
            return Err(CryptoError::InvalidKey(format!(
                "expected a PEM PUBLIC KEY, got {}",
                p.tag()
            )));
        }
        let key = PublicEncryptingKey::from_der(p.contents())
            .map_err(|e| CryptoError::InvalidKey(format!("not an RSA public key: {e}")))?;
        let key = OaepPublicEncryptingKey::new(key)
            .map_err(|_| CryptoError::InvalidKey("RSA key unusable for OAEP".into()))?;
        if key.key_size_bits() < 2048 {
            return Err(CryptoError::InvalidKey(format!(
                "RSA key of {} bits: at least 2048 are required",
                key.key_size_bits()
            )));
        }
        Ok(Self(key))
    }

    /// RSA-OAEP (SHA-256, MGF1-SHA-256, no label).
    pub fn encrypt_oaep_sha256(&self, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut out = vec![0u8; self.0.ciphertext_size()];
        let n = self
            .0
            .encrypt(&OAEP_SHA256_MGF1SHA256, plain, &mut out, None)
            .map_err(|_| CryptoError::Encrypt)?
            .len();
        out.truncate(n);
        Ok(out)
    }
}

/// An RSA private key that decrypts RSA-OAEP-SHA-256 (a member's, on the member's machine).
pub struct RsaPrivateKey(OaepPrivateDecryptingKey);

impl std::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaPrivateKey(<redacted>)")
    }
}

impl RsaPrivateKey {
    /// From a PEM `PRIVATE KEY` (PKCS#8, as `openssl genpkey` writes).
    pub fn from_pem(text: &str) -> Result<Self, CryptoError> {
        let p = pem::parse(text).map_err(|e| CryptoError::Pem(e.to_string()))?;
        let der = Zeroizing::new(p.contents().to_vec());
        let key = match p.tag() {
            "PRIVATE KEY" => PrivateDecryptingKey::from_pkcs8(&der),
            other => {
                return Err(CryptoError::InvalidKey(format!(
                    "expected a PEM PRIVATE KEY (PKCS#8), got {other}"
                )))
            }
        }
        .map_err(|e| CryptoError::InvalidKey(format!("not an RSA private key: {e}")))?;
        Ok(Self(OaepPrivateDecryptingKey::new(key).map_err(|_| {
            CryptoError::InvalidKey("RSA key unusable for OAEP".into())
        })?))
    }

    /// Open an RSA-OAEP-SHA-256 ciphertext.
    pub fn decrypt_oaep_sha256(&self, cipher: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut out = Zeroizing::new(vec![0u8; self.0.min_output_size()]);
        let n = self
            .0
            .decrypt(&OAEP_SHA256_MGF1SHA256, cipher, &mut out, None)
            .map_err(|_| CryptoError::Decrypt)?
            .len();
        out.truncate(n);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oaep_round_trip_and_wrong_key() {
        let (k, p) = generate_rsa_2048_pem().unwrap();
        let public = RsaPublicKey::from_pem(&p).unwrap();
        let c = public.encrypt_oaep_sha256(b"share bytes").unwrap();
        assert_eq!(c.len(), 256);
        let private = RsaPrivateKey::from_pem(&k).unwrap();
        assert_eq!(
            &private.decrypt_oaep_sha256(&c).unwrap()[..],
            b"share bytes"
        );
        let (k2, _) = generate_rsa_2048_pem().unwrap();
        assert!(RsaPrivateKey::from_pem(&k2)
            .unwrap()
            .decrypt_oaep_sha256(&c)
            .is_err());
        assert!(
            RsaPublicKey::from_pem(&k).is_err(),
            "a private key is not a public key"
        );
        assert!(RsaPublicKey::from_pem("junk").is_err());
    }

    #[test]
    fn generates_pem() {
        let (k, p) = generate_rsa_2048_pem().unwrap();
        assert!(k.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(p.starts_with("-----BEGIN PUBLIC KEY-----"));
    }
}
