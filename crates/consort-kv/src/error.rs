use thiserror::Error;

use crate::{TxId, Version};

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
    #[error("invalid map name {0:?}")]
    InvalidMapName(String),
    #[error("malformed ledger entry: {0}")]
    Malformed(String),
    #[error("no ledger secret available for version {0}")]
    NoSecret(Version),
    #[error("private domain of {0} failed authentication (wrong ledger secret or tampered entry)")]
    Decrypt(TxId),
    #[error("codec error in map {map}: {message}")]
    Codec { map: String, message: String },
    #[error("commit hook failed: {0}")]
    Hook(String),
    #[error(transparent)]
    Crypto(#[from] consort_crypto::CryptoError),
}
