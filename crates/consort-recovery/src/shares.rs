//! Issuing recovery shares (CCF's `ShareManager::shuffle_recovery_shares`).
//!
//! A fresh 32-byte wrapping key is split into one share per active recovery member, any
//! `recovery_threshold` of which give it back. Each share is encrypted to its member's
//! RSA key; the latest ledger secret is wrapped (AES-256-GCM) by the key, which is then
//! forgotten. Nothing here can decrypt a share: members hold the private keys.

use std::collections::BTreeMap;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use consort_crypto::{aead::AesGcmKey, rsa::RsaPublicKey, sha256_concat, sharing};
use consort_kv::{LedgerSecret, Source, Tx};
use consort_service::{
    identities,
    recovery::{self, RecoverySharesInfo, ShareDigests},
    service,
};
use zeroize::Zeroizing;

use crate::RecoveryError;

/// Associated data of the wrapped ledger secret.
const WRAP_AAD: &[u8] = b"consort recovery wrapped ledger secret v1";
/// Domain of share digests.
const DIGEST_DOMAIN: &[u8] = b"consort recovery share v1";

/// A recovery member: an active member with an encryption key (and not a
/// `NonParticipant`), in member-id order.
#[derive(Debug, Clone)]
pub struct Participant {
    pub id: String,
    pub encryption_key_pem: String,
}

/// The active recovery members.
pub fn participants<S: Source + ?Sized>(src: &mut S) -> Result<Vec<Participant>, RecoveryError> {
    let keys = identities::MEMBERS_ENC_KEYS.entries(src)?;
    let mut out = Vec::new();
    for (id, pem) in keys {
        let Some(info) = identities::MEMBERS_INFO.get(src, &id)? else {
            continue;
        };
        if info.status == "Active" && info.recovery_role.as_deref() != Some("NonParticipant") {
            out.push(Participant {
                id,
                encryption_key_pem: pem,
            });
        }
    }
    Ok(out)
}

/// Members with an encryption key, active or not (who can become recovery members).
pub fn potential_participants<S: Source + ?Sized>(src: &mut S) -> Result<usize, RecoveryError> {
    Ok(identities::MEMBERS_ENC_KEYS.entries(src)?.len())
}

/// The recovery threshold in force: `recovery_threshold` of the service configuration, or
/// (unset, as CCF defaults it) every recovery member.
pub fn threshold<S: Source + ?Sized>(src: &mut S, members: usize) -> Result<usize, RecoveryError> {
    let cfg = service::CONFIG.get(src)?;
    Ok(cfg
        .as_ref()
        .and_then(|c| c.get("recovery_threshold"))
        .and_then(serde_json::Value::as_u64)
        .map_or(members.max(1), |t| t as usize))
}

fn digest(share: &[u8]) -> String {
    sha256_concat(&[DIGEST_DOMAIN, share]).to_hex()
}

/// Hex digest a submitted share must have.
pub(crate) fn share_digest(share: &[u8]) -> String {
    digest(share)
}

/// What [`issue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub members: usize,
    pub threshold: usize,
}

/// Issue fresh shares wrapping `latest` (the ledger secret in use after this transaction).
pub fn issue(tx: &mut Tx, latest: &LedgerSecret) -> Result<Issued, RecoveryError> {
    let members = participants(tx)?;
    if members.is_empty() {
        return Err(RecoveryError::NoRecoveryMembers);
    }
    let t = threshold(tx, members.len())?;
    if t == 0 || t > members.len() {
        return Err(RecoveryError::ThresholdTooHigh {
            threshold: t,
            members: members.len(),
        });
    }
    let keys = members
        .iter()
        .map(|m| RsaPublicKey::from_pem(&m.encryption_key_pem))
        .collect::<Result<Vec<_>, _>>()?;
    let mut wrapping_key = Zeroizing::new([0u8; 32]);
    consort_crypto::random_bytes(&mut wrapping_key[..])?;
    let split = sharing::split(&wrapping_key[..], t, members.len())?;
    let mut encrypted = BTreeMap::new();
    let mut digests = BTreeMap::new();
    for ((m, key), share) in members.iter().zip(&keys).zip(&split) {
        encrypted.insert(
            m.id.clone(),
            B64.encode(key.encrypt_oaep_sha256(share.as_bytes())?),
        );
        digests.insert(m.id.clone(), digest(share.as_bytes()));
    }
    let wrapped = wrap(&wrapping_key, latest)?;
    let stored = tx.get_version(
        recovery::HISTORICAL_SECRETS.name(),
        &consort_service::SINGLETON_KEY,
    );
    recovery::RECOVERY_SHARES.put(
        tx,
        &RecoverySharesInfo {
            wrapped_latest_ledger_secret: B64.encode(wrapped),
            encrypted_shares: encrypted,
            previous_secret_stored_version: stored,
        },
    );
    recovery::SHARE_DIGESTS.put(
        tx,
        &ShareDigests {
            threshold: t,
            digests,
        },
    );
    tracing::info!(
        members = members.len(),
        threshold = t,
        "recovery shares issued"
    );
    Ok(Issued {
        members: members.len(),
        threshold: t,
    })
}

/// Whether the current shares no longer match the recovery members or the threshold.
pub fn needs_refresh(tx: &mut Tx) -> Result<bool, RecoveryError> {
    let members = participants(tx)?;
    let t = threshold(tx, members.len())?;
    let Some(current) = recovery::SHARE_DIGESTS.get(tx)? else {
        return Ok(!members.is_empty());
    };
    let same_members = current.digests.len() == members.len()
        && members.iter().all(|m| current.digests.contains_key(&m.id));
    Ok(!same_members || current.threshold != t)
}

/// [`issue`], unless there are too few active recovery members for the threshold (or
/// none): then nothing is issued (logged) and `Ok(None)`.
pub fn issue_if_possible(
    tx: &mut Tx,
    latest: &LedgerSecret,
) -> Result<Option<Issued>, RecoveryError> {
    match issue(tx, latest) {
        Ok(i) => Ok(Some(i)),
        Err(e @ (RecoveryError::NoRecoveryMembers | RecoveryError::ThresholdTooHigh { .. })) => {
            tracing::warn!("no recovery shares issued: {e}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Re-issue shares if [`needs_refresh`] says so and they can be issued (enough recovery
/// members for the threshold); `Ok(None)` when nothing was issued.
pub fn refresh_if_needed(
    tx: &mut Tx,
    latest: &LedgerSecret,
) -> Result<Option<Issued>, RecoveryError> {
    if !needs_refresh(tx)? {
        return Ok(None);
    }
    issue_if_possible(tx, latest)
}

/// Open a new service (`Opening` → `Open`) whose ledger secret `latest` is used from
/// `from`: the secret starts the chain of previous secrets, and the recovery members get
/// shares. With members that hold encryption keys, the shares must be issuable (enough of
/// them active for the threshold); a service with no recovery member at all opens
/// unrecoverable (logged), as one whose members have yet to activate.
pub fn open_service(tx: &mut Tx, from: u64, latest: &LedgerSecret) -> Result<(), RecoveryError> {
    if recovery::HISTORICAL_SECRETS.get(tx)?.is_none() {
        crate::chain::record_first(tx, from);
    }
    if potential_participants(tx)? > 0 && !participants(tx)?.is_empty() {
        issue(tx, latest)?;
    } else {
        issue_if_possible(tx, latest)?;
    }
    let mut info = service::INFO
        .get(tx)?
        .ok_or_else(|| RecoveryError::Chain("no service record".into()))?;
    info.status = service::ServiceStatus::Open;
    service::INFO.put(tx, &info);
    Ok(())
}

/// `latest` under the wrapping key: `iv ‖ tag ‖ ciphertext`.
fn wrap(key: &[u8; 32], latest: &LedgerSecret) -> Result<Vec<u8>, RecoveryError> {
    let mut iv = [0u8; 12];
    consort_crypto::random_bytes(&mut iv)?;
    let mut body = latest.raw().to_vec();
    let tag = AesGcmKey::new(key)?.seal_in_place(&iv, WRAP_AAD, &mut body)?;
    let mut out = iv.to_vec();
    out.extend_from_slice(&tag);
    out.extend_from_slice(&body);
    Ok(out)
}

/// The ledger secret `wrapped` holds, given the combined wrapping key.
pub(crate) fn unwrap(key: &[u8], wrapped: &[u8]) -> Result<LedgerSecret, RecoveryError> {
    if key.len() != 32 || wrapped.len() != 12 + 16 + 32 {
        return Err(RecoveryError::Unwrap("wrong sizes".into()));
    }
    let iv: [u8; 12] = wrapped[..12].try_into().expect("12");
    let tag: [u8; 16] = wrapped[12..28].try_into().expect("16");
    let mut body = Zeroizing::new(wrapped[28..].to_vec());
    let k: [u8; 32] = key.try_into().expect("32");
    AesGcmKey::new(&k)?
        .open_in_place(&iv, WRAP_AAD, &mut body, &tag)
        .map_err(|_| RecoveryError::Unwrap("the combined key does not authenticate".into()))?;
    let mut raw = [0u8; 32];
    raw.copy_from_slice(&body);
    Ok(LedgerSecret::from_raw(raw)?)
}

#[cfg(test)]
#[path = "shares_test.rs"]
mod shares_test;
