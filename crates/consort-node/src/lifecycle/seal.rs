//! Sealing: how a node keeps the service identity key and ledger secrets across restarts
//! without writing them in clear.
//!
//! In a TEE, sealing binds them to the enclave's measurement (hardware key). Without one,
//! [`VirtualSealer`] seals with AES-256-GCM under a key derived (HKDF) from the node's own
//! identity key: the sealed file is useless without the node key file, which is exactly as
//! sensitive as CCF's virtual-mode node key. The trait is where a hardware sealer plugs in.

use std::{fs, path::Path};

use consort_crypto::{aead::AesGcmKey, kdf, keys::SigningKey, random_bytes};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::NodeError;

/// Seals and unseals secrets.
pub trait Sealer: Send + Sync + std::fmt::Debug {
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, NodeError>;
    fn unseal(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, NodeError>;
}

/// Software sealing under a key derived from the node identity key.
#[derive(Debug)]
pub struct VirtualSealer {
    key: AesGcmKey,
}

const MAGIC: &[u8; 8] = b"CSEAL\x00\x00\x01";

impl VirtualSealer {
    pub fn new(node_key: &SigningKey) -> Result<Self, NodeError> {
        let mut k = Zeroizing::new([0u8; 32]);
        kdf::hkdf_sha256(
            node_key.pkcs8_der(),
            b"consort",
            b"consort virtual sealing v1",
            &mut k[..],
        )?;
        Ok(Self {
            key: AesGcmKey::new(&k)?,
        })
    }
}

impl Sealer for VirtualSealer {
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, NodeError> {
        let mut iv = [0u8; 12];
        random_bytes(&mut iv)?;
        let mut body = plain.to_vec();
        let tag = self.key.seal_in_place(&iv, MAGIC, &mut body)?;
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&iv);
        out.extend_from_slice(&tag);
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn unseal(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, NodeError> {
        if sealed.len() < 8 + 12 + 16 || &sealed[..8] != MAGIC {
            return Err(NodeError::Seal("not a sealed secrets file".into()));
        }
        let iv: [u8; 12] = sealed[8..20].try_into().expect("12 bytes");
        let tag: [u8; 16] = sealed[20..36].try_into().expect("16 bytes");
        let mut body = Zeroizing::new(sealed[36..].to_vec());
        self.key
            .open_in_place(&iv, MAGIC, &mut body, &tag)
            .map_err(|_| NodeError::Seal("cannot unseal: wrong node key or damaged file".into()))?;
        Ok(body)
    }
}

/// What a node seals: the service identity key and the ledger secrets.
#[derive(Serialize, Deserialize)]
pub struct SealedState {
    /// PKCS#8 DER of the service identity key, hex.
    pub service_key: String,
    /// (first version, raw secret hex) of each ledger secret.
    pub ledger_secrets: Vec<(u64, String)>,
}

impl std::fmt::Debug for SealedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedState(<redacted>)")
    }
}

impl Drop for SealedState {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.service_key.zeroize();
        for (_, s) in &mut self.ledger_secrets {
            s.zeroize();
        }
    }
}

/// Write `state` sealed to `path` (atomically, mode 0600).
pub fn write_sealed(
    path: &Path,
    sealer: &dyn Sealer,
    state: &SealedState,
) -> Result<(), NodeError> {
    let plain =
        Zeroizing::new(serde_json::to_vec(state).map_err(|e| NodeError::Seal(e.to_string()))?);
    let sealed = sealer.seal(&plain)?;
    super::files::write_private(path, &sealed)
}

pub fn read_sealed(path: &Path, sealer: &dyn Sealer) -> Result<SealedState, NodeError> {
    let bytes = fs::read(path).map_err(NodeError::io(path))?;
    let plain = sealer.unseal(&bytes)?;
    serde_json::from_slice(&plain).map_err(|e| NodeError::Seal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_wrong_key() {
        let k = SigningKey::generate().unwrap();
        let s = VirtualSealer::new(&k).unwrap();
        let sealed = s.seal(b"ledger secret").unwrap();
        assert!(!sealed.windows(13).any(|w| w == b"ledger secret"));
        assert_eq!(&s.unseal(&sealed).unwrap()[..], b"ledger secret");
        let other = VirtualSealer::new(&SigningKey::generate().unwrap()).unwrap();
        assert!(other.unseal(&sealed).is_err());
        let mut bad = sealed.clone();
        let n = bad.len() - 1;
        bad[n] ^= 1;
        assert!(s.unseal(&bad).is_err());
    }
}
