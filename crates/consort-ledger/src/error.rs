use std::path::PathBuf;

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
    /// A file or directory that is not a usable ledger.
    #[error("invalid ledger {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot truncate to {target}: transactions up to {committed} are committed")]
    TruncateCommitted { target: Version, committed: Version },
    #[error("transaction {0} is not in the ledger")]
    UnknownSeqno(Version),
    #[error("transaction {0} is not yet covered by a signature")]
    NotSigned(Version),
    #[error(transparent)]
    Kv(#[from] consort_kv::KvError),
    #[error(transparent)]
    Crypto(#[from] consort_crypto::CryptoError),
}

impl LedgerError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LedgerError {
        let path = path.into();
        move |source| LedgerError::Io { path, source }
    }

    /// The seqno this error names, if it is a corruption finding.
    pub fn bad_seqno(&self) -> Option<Version> {
        match self {
            LedgerError::Corrupt { seqno, .. } => Some(*seqno),
            _ => None,
        }
    }
}
