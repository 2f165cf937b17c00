//! The chain of previous ledger secrets (CCF's `historical_encrypted_ledger_secret`).
//!
//! Each time the ledger secret changes, the new one encrypts the one before it, with the
//! seqno that one starts at and where the previous record was written. From the latest
//! secret, [`walk`] goes back record by record to the first.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use consort_kv::{LedgerSecret, Tx, Version};
use consort_service::{
    recovery::{self, EncryptedLedgerSecretInfo, PreviousLedgerSecretInfo},
    SINGLETON_KEY,
};

use crate::RecoveryError;

fn last_write(tx: &mut Tx) -> Option<Version> {
    tx.get_version(recovery::HISTORICAL_SECRETS.name(), &SINGLETON_KEY)
}

/// The first secret of a service, used from `from` (no previous one).
pub fn record_first(tx: &mut Tx, from: Version) {
    recovery::HISTORICAL_SECRETS.put(
        tx,
        &EncryptedLedgerSecretInfo {
            previous_ledger_secret: None,
            next_version: Some(from),
        },
    );
}

/// `latest` replaces `previous` (used from `previous_from`): record `previous` encrypted
/// under `latest`. `latest_from` is where `latest` starts, when known (a rekey's new
/// secret starts after the transaction that records it, which is implied when `None`).
pub fn record_change(
    tx: &mut Tx,
    latest: &LedgerSecret,
    previous: &LedgerSecret,
    previous_from: Version,
    latest_from: Option<Version>,
) -> Result<(), RecoveryError> {
    let stored = last_write(tx);
    recovery::HISTORICAL_SECRETS.put(
        tx,
        &EncryptedLedgerSecretInfo {
            previous_ledger_secret: Some(PreviousLedgerSecretInfo {
                encrypted_data: B64.encode(latest.wrap(previous)?),
                version: previous_from,
                previous_secret_stored_version: stored,
            }),
            next_version: latest_from,
        },
    );
    Ok(())
}

/// Where the secret a record names as latest starts: its `next_version`, or the seqno
/// after the record (`written_at`).
pub fn latest_from(record: &EncryptedLedgerSecretInfo, written_at: Version) -> Version {
    record.next_version.unwrap_or(written_at + 1)
}

/// Every secret before `latest`, newest first, each with the seqno it starts at: decrypt
/// `record` (the last one written, whose latest secret is `latest`), then follow each
/// record's `previous_secret_stored_version` through `read_at` (the record written at a
/// seqno). Stops at a record with no previous secret, or once a secret starts at or
/// before `enough` (older ones are not needed), or where `read_at` has nothing (a ledger
/// that starts after a snapshot).
pub fn walk(
    latest: &LedgerSecret,
    record: &EncryptedLedgerSecretInfo,
    enough: Version,
    read_at: &mut dyn FnMut(Version) -> Result<Option<EncryptedLedgerSecretInfo>, RecoveryError>,
) -> Result<Vec<(Version, LedgerSecret)>, RecoveryError> {
    let mut out: Vec<(Version, LedgerSecret)> = Vec::new();
    let mut record = record.clone();
    let mut at_most = Version::MAX;
    loop {
        let Some(prev) = record.previous_ledger_secret.as_ref() else {
            return Ok(out);
        };
        if prev.version >= at_most {
            return Err(RecoveryError::Chain(format!(
                "secret starting at {} is not older than the next one ({at_most})",
                prev.version
            )));
        }
        let data = B64
            .decode(&prev.encrypted_data)
            .map_err(|e| RecoveryError::Chain(format!("bad base64: {e}")))?;
        let over = out.last().map_or(latest, |(_, s)| s);
        let secret = over.unwrap_next(&data).map_err(|e| {
            RecoveryError::Chain(format!(
                "the secret starting at {} does not decrypt: {e}",
                prev.version
            ))
        })?;
        at_most = prev.version;
        let next = prev.previous_secret_stored_version;
        out.push((prev.version, secret));
        if at_most <= enough {
            return Ok(out);
        }
        let Some(at) = next else {
            return Ok(out);
        };
        match read_at(at)? {
            Some(r) => record = r,
            None => return Ok(out),
        }
    }
}

#[cfg(test)]
#[path = "chain_test.rs"]
mod chain_test;
