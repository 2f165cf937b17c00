//! Cryptographic primitives used across Consort.
//!
//! Everything here is built on `aws-lc-rs` (and, where its safe API stops short, on the
//! `aws-lc-sys` bindings of the same library), so the project has a single crypto provider.
//!
//! - [`sha256`] and [`Sha256Digest`]: the hash of the ledger, Merkle tree and receipts.
//! - [`aead`]: AES-256-GCM as used for the private domain of ledger entries.
//! - [`kdf`]: HKDF and HMAC, used to derive commit evidence from the ledger secret.
//! - [`keys`]: ECDSA P-384 key pairs; signing of pre-hashed SHA-256 digests as CCF does
//!   for Merkle roots.
//! - [`rsa`]: RSA-OAEP-SHA-256 for members' recovery shares; [`sharing`]: Shamir k-of-n.
//! - [`cert`]: X.509 certificates for service and node identities, endorsement checks.

pub mod aead;
pub mod cert;
mod error;
mod hash;
pub mod kdf;
pub mod keys;
pub mod rsa;
pub mod sharing;

pub use error::CryptoError;
pub use hash::{sha256, sha256_concat, Sha256Digest};

/// Fill `buf` with cryptographically secure random bytes.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    use aws_lc_rs::rand::SecureRandom;
    aws_lc_rs::rand::SystemRandom::new()
        .fill(buf)
        .map_err(|_| CryptoError::Random)
}
