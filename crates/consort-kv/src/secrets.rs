//! Ledger secrets: the AES-256-GCM keys that encrypt private maps in the ledger, and the
//! commit-evidence key derived from each.

use std::{collections::BTreeMap, fmt, sync::Arc};

use consort_crypto::{aead::AesGcmKey, kdf, sha256, Sha256Digest};
use zeroize::Zeroizing;

use crate::{KvError, TxId, Version};

const COMMIT_EVIDENCE_INFO: &[u8] = b"Consort commit evidence v1";

/// One ledger secret. The raw bytes are zeroized on drop and never printed.
pub struct LedgerSecret {
    raw: Zeroizing<[u8; 32]>,
    key: AesGcmKey,
    commit_key: kdf::HmacKey,
}

impl fmt::Debug for LedgerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LedgerSecret(<redacted>)")
    }
}

impl LedgerSecret {
    pub fn from_raw(raw: [u8; 32]) -> Result<Self, KvError> {
        let raw = Zeroizing::new(raw);
        let key = AesGcmKey::new(&raw)?;
        let mut ck = Zeroizing::new([0u8; 32]);
        kdf::hkdf_sha256(&raw[..], &[], COMMIT_EVIDENCE_INFO, &mut ck[..])?;
        Ok(Self {
            commit_key: kdf::HmacKey::new(&ck[..]),
            raw,
            key,
        })
    }

    /// A fresh random secret.
    pub fn generate() -> Result<Self, KvError> {
        let mut raw = [0u8; 32];
        consort_crypto::random_bytes(&mut raw)?;
        Self::from_raw(raw)
    }

    /// The raw key, for sealing or wrapping only (never log or store in clear).
    pub fn raw(&self) -> &[u8; 32] {
        &self.raw
    }

    pub fn aead(&self) -> &AesGcmKey {
        &self.key
    }

    fn wrap_key(&self) -> Result<AesGcmKey, KvError> {
        let mut k = zeroize::Zeroizing::new([0u8; 32]);
        kdf::hkdf_sha256(
            &self.raw[..],
            b"consort",
            b"consort ledger secret wrap v1",
            &mut k[..],
        )?;
        Ok(AesGcmKey::new(&k)?)
    }

    /// Encrypt `next` under this secret (a rekey: whoever holds this secret learns the next
    /// one from the ledger). `iv ‖ tag ‖ ciphertext`.
    pub fn wrap(&self, next: &LedgerSecret) -> Result<Vec<u8>, KvError> {
        let mut iv = [0u8; 12];
        consort_crypto::random_bytes(&mut iv)?;
        let mut body = next.raw.to_vec();
        let tag = self
            .wrap_key()?
            .seal_in_place(&iv, b"ledger secret", &mut body)?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&tag);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// The secret [`LedgerSecret::wrap`] encrypted under this one.
    pub fn unwrap_next(&self, wrapped: &[u8]) -> Result<LedgerSecret, KvError> {
        if wrapped.len() != 12 + 16 + 32 {
            return Err(KvError::Malformed(
                "wrapped ledger secret has the wrong size".into(),
            ));
        }
        let iv: [u8; 12] = wrapped[..12].try_into().expect("12");
        let tag: [u8; 16] = wrapped[12..28].try_into().expect("16");
        let mut body = zeroize::Zeroizing::new(wrapped[28..].to_vec());
        self.wrap_key()?
            .open_in_place(&iv, b"ledger secret", &mut body, &tag)
            .map_err(|_| {
                KvError::Malformed("wrapped ledger secret does not authenticate".into())
            })?;
        let mut raw = [0u8; 32];
        raw.copy_from_slice(&body);
        LedgerSecret::from_raw(raw)
    }

    /// Encrypt `plain` under a key derived from this secret, bound to `label` (which must
    /// differ per use): `iv ‖ tag ‖ ciphertext`. For what a service keeps under its ledger
    /// secret outside entries (e.g. members' submitted recovery shares).
    pub fn seal(&self, label: &[u8], plain: &[u8]) -> Result<Vec<u8>, KvError> {
        let mut iv = [0u8; 12];
        consort_crypto::random_bytes(&mut iv)?;
        let mut body = plain.to_vec();
        let tag = self.wrap_key()?.seal_in_place(&iv, label, &mut body)?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&tag);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Open what [`LedgerSecret::seal`] made with the same `label`.
    pub fn open(&self, label: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KvError> {
        if sealed.len() < 28 {
            return Err(KvError::Malformed("sealed data is too short".into()));
        }
        let iv: [u8; 12] = sealed[..12].try_into().expect("12");
        let tag: [u8; 16] = sealed[12..28].try_into().expect("16");
        let mut body = Zeroizing::new(sealed[28..].to_vec());
        self.wrap_key()?
            .open_in_place(&iv, label, &mut body, &tag)
            .map_err(|_| KvError::Malformed("sealed data does not authenticate".into()))?;
        Ok(body)
    }

    /// CCF-style commit evidence `ce:<view>.<seqno>:<hex>`. Only the holder of the ledger
    /// secret can produce it; services reveal it only for committed transactions.
    pub fn commit_evidence(&self, txid: TxId) -> String {
        let mut buf = [0u8; 128];
        let n = self.write_commit_evidence(txid, &mut buf);
        String::from_utf8(buf[..n].to_vec()).expect("ASCII")
    }

    /// SHA-256 of [`LedgerSecret::commit_evidence`], the value bound into the Merkle leaf.
    pub fn commit_evidence_digest(&self, txid: TxId) -> Sha256Digest {
        let mut buf = [0u8; 128];
        let n = self.write_commit_evidence(txid, &mut buf);
        sha256(&buf[..n])
    }

    /// Write the commit evidence into `buf` without allocating; returns its length.
    fn write_commit_evidence(&self, txid: TxId, buf: &mut [u8; 128]) -> usize {
        use std::io::Write;
        let mut cur = std::io::Cursor::new(&mut buf[..]);
        write!(cur, "ce:{}.{}", txid.view, txid.seqno).expect("fits");
        let label_end = cur.position() as usize;
        let nonce = self.commit_key.sign(&cur.get_ref()[3..label_end]);
        let out = cur.into_inner();
        out[label_end] = b':';
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in nonce.iter().enumerate() {
            out[label_end + 1 + 2 * i] = HEX[(b >> 4) as usize];
            out[label_end + 2 + 2 * i] = HEX[(b & 15) as usize];
        }
        label_end + 1 + 64
    }
}

/// The ledger secrets of a service, each used from the version it was introduced at
/// (a rekey starts a new one).
#[derive(Debug, Clone, Default)]
pub struct LedgerSecrets {
    by_version: BTreeMap<Version, Arc<LedgerSecret>>,
}

impl LedgerSecrets {
    /// A set with one secret used from the first transaction.
    pub fn single(secret: LedgerSecret) -> Self {
        let mut s = Self::default();
        s.add(1, secret);
        s
    }

    /// Use `secret` for versions `>= from`.
    pub fn add(&mut self, from: Version, secret: LedgerSecret) {
        self.by_version.insert(from, Arc::new(secret));
    }

    /// Add every secret of `other` whose start version this set has no secret for (a
    /// recovering service learns its old secrets).
    pub fn extend_missing(&mut self, other: &LedgerSecrets) {
        for (v, s) in &other.by_version {
            self.by_version.entry(*v).or_insert_with(|| s.clone());
        }
    }

    /// Forget the secrets introduced after `version` (their introduction was rolled back).
    pub fn remove_after(&mut self, version: Version) {
        let _ = self.by_version.split_off(&(version + 1));
    }

    /// Every secret with the version it starts at.
    pub fn export(&self) -> Vec<(Version, [u8; 32])> {
        self.by_version
            .iter()
            .map(|(v, s)| (*v, *s.raw()))
            .collect()
    }

    /// The secret for transaction `version`.
    pub fn for_version(&self, version: Version) -> Result<&Arc<LedgerSecret>, KvError> {
        self.by_version
            .range(..=version)
            .next_back()
            .map(|(_, s)| s)
            .ok_or(KvError::NoSecret(version))
    }

    pub fn is_empty(&self) -> bool {
        self.by_version.is_empty()
    }

    /// The newest secret, with the version it is used from.
    pub fn latest(&self) -> Option<(Version, &Arc<LedgerSecret>)> {
        self.by_version.iter().next_back().map(|(v, s)| (*v, s))
    }

    /// The secret used before the newest one, with the version it is used from.
    pub fn previous(&self) -> Option<(Version, &Arc<LedgerSecret>)> {
        self.by_version.iter().rev().nth(1).map(|(v, s)| (*v, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_evidence_shape_and_secrecy() {
        let s = LedgerSecret::from_raw([1u8; 32]).unwrap();
        let ce = s.commit_evidence(TxId::new(2, 35));
        assert!(ce.starts_with("ce:2.35:"), "{ce}");
        assert_eq!(ce.len(), "ce:2.35:".len() + 64);
        assert_eq!(ce, s.commit_evidence(TxId::new(2, 35)));
        assert_ne!(ce, s.commit_evidence(TxId::new(2, 36)));
        let other = LedgerSecret::from_raw([2u8; 32]).unwrap();
        assert_ne!(ce, other.commit_evidence(TxId::new(2, 35)));
        assert_eq!(
            s.commit_evidence_digest(TxId::new(2, 35)),
            sha256(ce.as_bytes())
        );
        assert!(!format!("{s:?}").contains("0101"));
    }

    #[test]
    fn secrets_by_version() {
        let mut ss = LedgerSecrets::single(LedgerSecret::from_raw([1u8; 32]).unwrap());
        ss.add(10, LedgerSecret::from_raw([2u8; 32]).unwrap());
        assert_eq!(ss.for_version(9).unwrap().raw(), &[1u8; 32]);
        assert_eq!(ss.for_version(10).unwrap().raw(), &[2u8; 32]);
        assert!(ss.for_version(0).is_err());
    }
}
