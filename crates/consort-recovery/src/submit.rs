//! Members' share submissions during a recovery (CCF's `encrypted_submitted_shares`).
//!
//! A submitted share is checked against the digest recorded when it was issued, so a
//! wrong, forged or repeated share is refused at once; accepted shares are kept encrypted
//! under the recovering service's ledger secret (they survive an election), and combined
//! at the threshold.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use consort_crypto::sharing::{self, Share};
use consort_kv::{LedgerSecret, Source, Tx};
use consort_service::recovery;

use crate::{shares, RecoveryError};

const SUBMITTED_LABEL: &[u8] = b"consort submitted recovery share v1";

/// Shares submitted so far, and how many are needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub submitted: usize,
    pub threshold: usize,
}

impl Progress {
    pub fn complete(&self) -> bool {
        self.submitted >= self.threshold
    }
}

/// How many shares are submitted, and the threshold of the shares the ledger holds.
pub fn progress<S: Source + ?Sized>(src: &mut S) -> Result<Progress, RecoveryError> {
    let digests = recovery::SHARE_DIGESTS
        .get(src)?
        .ok_or(RecoveryError::NoShares)?;
    Ok(Progress {
        submitted: recovery::SUBMITTED_SHARES.entries(src)?.len(),
        threshold: digests.threshold,
    })
}

/// Record `member`'s decrypted share, sealed under `current` (the recovering service's
/// ledger secret).
pub fn submit(
    tx: &mut Tx,
    member: &str,
    share: &[u8],
    current: &LedgerSecret,
) -> Result<Progress, RecoveryError> {
    let digests = recovery::SHARE_DIGESTS
        .get(tx)?
        .ok_or(RecoveryError::NoShares)?;
    let Some(expected) = digests.digests.get(member) else {
        return Err(RecoveryError::NotRecoveryMember(member.to_string()));
    };
    Share::from_bytes(share).map_err(|e| RecoveryError::MalformedShare(e.to_string()))?;
    if recovery::SUBMITTED_SHARES.contains(tx, &member.to_string()) {
        return Err(RecoveryError::AlreadySubmitted(member.to_string()));
    }
    if &shares::share_digest(share) != expected {
        return Err(RecoveryError::WrongShare(member.to_string()));
    }
    let sealed = current.seal(SUBMITTED_LABEL, share)?;
    recovery::SUBMITTED_SHARES.put(tx, &member.to_string(), &B64.encode(sealed));
    progress(tx)
}

/// Combine the submitted shares and unwrap the latest ledger secret of the recovered
/// ledger (from `public:ccf.internal.recovery_shares`).
pub fn combine<S: Source + ?Sized>(
    src: &mut S,
    current: &LedgerSecret,
) -> Result<LedgerSecret, RecoveryError> {
    let p = progress(src)?;
    if !p.complete() {
        return Err(RecoveryError::TooFewShares {
            submitted: p.submitted,
            threshold: p.threshold,
        });
    }
    let mut parts = Vec::new();
    for (member, sealed) in recovery::SUBMITTED_SHARES.entries(src)? {
        let sealed = B64
            .decode(&sealed)
            .map_err(|e| RecoveryError::MalformedShare(format!("{member}: {e}")))?;
        let plain = current
            .open(SUBMITTED_LABEL, &sealed)
            .map_err(|e| RecoveryError::MalformedShare(format!("{member}: {e}")))?;
        parts.push(Share::from_bytes(&plain)?);
    }
    let key = sharing::combine(&parts[..p.threshold])?;
    let info = recovery::RECOVERY_SHARES
        .get(src)?
        .ok_or(RecoveryError::NoShares)?;
    let wrapped = B64
        .decode(&info.wrapped_latest_ledger_secret)
        .map_err(|e| RecoveryError::Unwrap(format!("bad base64: {e}")))?;
    shares::unwrap(&key, &wrapped)
}

/// Forget the submitted shares (the recovery ended, or starts again).
pub fn clear(tx: &mut Tx) -> Result<(), RecoveryError> {
    for (member, _) in recovery::SUBMITTED_SHARES.entries(tx)? {
        recovery::SUBMITTED_SHARES.remove(tx, &member);
    }
    Ok(())
}

#[cfg(test)]
#[path = "submit_test.rs"]
mod submit_test;
