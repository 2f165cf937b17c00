use thiserror::Error;

/// Errors starting or running a node.
#[derive(Debug, Error)]
pub enum NodeError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("I/O on {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sealed secrets: {0}")]
    Seal(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Ledger(#[from] consort_ledger::LedgerError),
    #[error(transparent)]
    Kv(#[from] consort_kv::KvError),
    #[error(transparent)]
    Crypto(#[from] consort_crypto::CryptoError),
    #[error(transparent)]
    Replica(#[from] crate::replica::ReplicaError),
    #[error("joining the service: {0}")]
    Join(String),
    #[error("catching up with the service: {0}")]
    CatchUp(String),
    #[error("attestation: {0}")]
    Attestation(#[from] consort_attestation::AttestError),
}

impl NodeError {
    /// Whether the node must stop (its state may no longer match its files).
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::Ledger(e) => e.is_fatal(),
            Self::Replica(e) => e.is_fatal(),
            _ => false,
        }
    }

    pub(crate) fn io(
        path: impl Into<std::path::PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> NodeError {
        let path = path.into();
        move |source| NodeError::Io { path, source }
    }
}
