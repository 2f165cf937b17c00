use thiserror::Error;

/// Errors from cryptographic operations.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    #[error("random number generation failed")]
    Random,
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("signing failed")]
    Sign,
    #[error("signature verification failed")]
    BadSignature,
    #[error("authenticated decryption failed (wrong key or tampered data)")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    #[error("certificate is not endorsed by the given issuer: {0}")]
    NotEndorsed(String),
    #[error("invalid PEM: {0}")]
    Pem(String),
    #[error("invalid recovery share: {0}")]
    InvalidShare(String),
    #[error("key derivation failed")]
    Kdf,
}
