//! RSA-2048 key pairs: members' recovery-share encryption keys (RSA-OAEP, as in CCF).

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeyPair, KeySize},
    signature::KeyPair as _,
};

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

#[cfg(test)]
mod tests {
    #[test]
    fn generates_pem() {
        let (k, p) = super::generate_rsa_2048_pem().unwrap();
        assert!(k.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(p.starts_with("-----BEGIN PUBLIC KEY-----"));
    }
}
