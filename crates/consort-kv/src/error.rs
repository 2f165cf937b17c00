use thiserror::Error;

use crate::{typed::CodecError, TxId, Version};

/// Errors of the KV store.
#[derive(Debug, Error)]
pub enum KvError {
    /// A key or range this transaction read was changed by a transaction committed after
    /// its snapshot. Retry the transaction.
    #[error("transaction conflict on map {map}: read at version {read_version} overwritten")]
    Conflict { map: String, read_version: Version },
    #[error("cannot apply {got} on top of version {expected_after}: seqnos must be contiguous")]
    NonContiguous { expected_after: Version, got: TxId },
    #[error("cannot roll back to version {target}: available range is {min}..={max}")]
    RollbackOutOfRange {
        target: Version,
        min: Version,
        max: Version,
    },
    /// [`crate::Store::merge_missing`] of a state at `from` into versions from `below`:
    /// `from` must come before `below`, and nothing before `below` may still be rolled
    /// back (the store's rollback base is `rollback_base`).
    #[error(
        "cannot merge state at version {from} below version {below} \
         (rollback possible back to {rollback_base})"
    )]
    MergeOutOfRange {
        from: Version,
        below: Version,
        rollback_base: Version,
    },
    /// [`crate::Store::snapshot_at`] of a version the store no longer (or not yet) holds.
    #[error("the state at version {requested} is not kept (kept: {oldest}..={newest})")]
    HistoryUnavailable {
        requested: Version,
        oldest: Version,
        newest: Version,
    },
    #[error("invalid map name {0:?}")]
    InvalidMapName(String),
    #[error("malformed ledger entry: {0}")]
    Malformed(String),
    #[error("no ledger secret available for version {0}")]
    NoSecret(Version),
    #[error("private domain of {0} failed authentication (wrong ledger secret or tampered entry)")]
    Decrypt(TxId),
    #[error("codec error in map {map}: {source}")]
    Codec {
        map: String,
        #[source]
        source: CodecError,
    },
    #[error(transparent)]
    Crypto(#[from] consort_crypto::CryptoError),
}

impl KvError {
    /// Whether running the transaction again (on a fresh snapshot) may succeed: a
    /// [`KvError::Conflict`]. Every other error would recur.
    pub fn is_retryable(&self) -> bool {
        matches!(self, KvError::Conflict { .. })
    }
}

/// Why [`crate::Store::commit`] did not apply a transaction: the store refused it, or the
/// commit hook failed with its own error `E`. Either way nothing was applied.
#[derive(Debug, Error)]
pub enum CommitError<E> {
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error("commit hook failed: {0}")]
    Hook(E),
}

impl<E> CommitError<E> {
    /// Whether the transaction may succeed if run again (see [`KvError::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, CommitError::Kv(e) if e.is_retryable())
    }
}
