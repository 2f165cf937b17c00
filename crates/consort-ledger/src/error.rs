use std::{path::PathBuf, sync::Arc};

use consort_kv::Version;
use thiserror::Error;

/// Errors of the ledger.
#[derive(Debug, Error)]
pub enum LedgerError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The ledger on disk is not what this node wrote: names the first bad seqno.
    #[error("ledger corrupt at seqno {seqno}: {reason}")]
    Corrupt { seqno: Version, reason: String },
    /// An entry whose signature, service or snapshot-evidence record fails its check.
    #[error("ledger corrupt at seqno {seqno}: {reason}")]
    Verify {
        seqno: Version,
        #[source]
        reason: crate::VerifyError,
    },
    /// A file or directory that is not a usable ledger.
    #[error("invalid ledger {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot truncate to {target}: transactions up to {committed} are committed")]
    TruncateCommitted { target: Version, committed: Version },
    #[error("transaction {0} is not in the ledger")]
    UnknownSeqno(Version),
    #[error("transaction {0} is not yet covered by a signature")]
    NotSigned(Version),
    /// The private state of transactions before `below` is not known here: the service
    /// is recovering and its old ledger secrets are not restored yet (see
    /// `Journal::recover_private`). Snapshots and decoding old entries wait until then.
    #[error(
        "private state before seqno {below} is missing (the service is recovering; \
         its old ledger secrets are not restored yet)"
    )]
    PrivateStateMissing { below: Version },
    /// `Journal::recover_private` could not bring back the private state of `seqno` (a
    /// wrong or missing ledger secret, or a damaged entry); nothing was changed.
    #[error("cannot recover the private state of seqno {seqno}: {source}")]
    PrivateRecovery {
        seqno: Version,
        #[source]
        source: consort_kv::KvError,
    },
    #[error(transparent)]
    Kv(#[from] consort_kv::KvError),
    #[error(transparent)]
    Crypto(#[from] consort_crypto::CryptoError),
    /// The journal's in-memory state (store, Merkle tree) and its files may no longer
    /// match: a write or fsync failed after the state changed, or they were found to
    /// disagree. The journal refuses every later change with this same error; reopening it
    /// ([`crate::Journal::open`]) recovers from the files.
    #[error("journal stopped, its state and files may differ (reopen it to recover): {0}")]
    Fatal(#[source] Arc<LedgerError>),
}

impl LedgerError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LedgerError {
        let path = path.into();
        move |source| LedgerError::Io { path, source }
    }

    /// The seqno this error names, if it is a corruption finding.
    pub fn bad_seqno(&self) -> Option<Version> {
        match self {
            LedgerError::Corrupt { seqno, .. } | LedgerError::Verify { seqno, .. } => Some(*seqno),
            _ => None,
        }
    }

    /// Whether the journal that returned this is stopped (see [`LedgerError::Fatal`]).
    /// Every other error left the journal as it was.
    pub fn is_fatal(&self) -> bool {
        matches!(self, LedgerError::Fatal(_))
    }

    /// Whether the same transaction may succeed if run again: a KV conflict.
    pub fn is_retryable(&self) -> bool {
        matches!(self, LedgerError::Kv(e) if e.is_retryable())
    }

    /// `self` as the cause of a [`LedgerError::Fatal`] (unchanged if it already is one).
    pub(crate) fn into_fatal(self) -> LedgerError {
        match self {
            f @ LedgerError::Fatal(_) => f,
            e => LedgerError::Fatal(Arc::new(e)),
        }
    }
}
