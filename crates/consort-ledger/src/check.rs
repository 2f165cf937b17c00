//! Why an entry fails a check: typed reasons shared by the auditor ([`crate::verify`]) and
//! the journal's replication path.

use consort_crypto::{CryptoError, Sha256Digest};
use consort_kv::{TxId, Version, View};
use thiserror::Error;

use crate::tables::ServiceStatus;

/// Why a signature, service or snapshot-evidence record is refused. The messages name
/// the nodes and values involved; [`crate::LedgerError::Verify`] adds the seqno.
#[derive(Debug, Error)]
pub enum VerifyError {
    #[error("signature record names {view}.{seqno} but sits at {at}")]
    SignaturePosition {
        view: View,
        seqno: Version,
        at: TxId,
    },
    #[error("signed by node {0} which has no endorsed certificate")]
    NoEndorsedCertificate(String),
    #[error("signed by node {0} which is not part of the network")]
    UnknownNode(String),
    #[error("signed by node {0} which is still Pending")]
    PendingNode(String),
    #[error("certificate in signature: {0}")]
    BadSignatureCertificate(#[source] CryptoError),
    #[error("certificate in signature does not match node {0}")]
    CertificateMismatch(String),
    #[error("signature before any service identity was recorded")]
    NoServiceIdentity,
    #[error("node {node} certificate not endorsed by the service identity: {source}")]
    NotEndorsed {
        node: String,
        #[source]
        source: CryptoError,
    },
    #[error(
        "Merkle root mismatch: computed {computed}, signed {signed} (an earlier transaction was altered)"
    )]
    RootMismatch {
        computed: Sha256Digest,
        signed: String,
    },
    #[error("signature is not base64: {0}")]
    SignatureNotBase64(#[source] base64::DecodeError),
    #[error("signature of node {0} over the Merkle root does not verify")]
    BadSignature(String),
    #[error("invalid service status transition {from:?} -> {to:?}")]
    ServiceTransition {
        from: Option<ServiceStatus>,
        to: ServiceStatus,
    },
    #[error("snapshot evidence transaction differs from the one its receipt proves")]
    EvidenceDiffers,
    #[error("snapshot evidence transaction carries no evidence")]
    NoEvidence,
    #[error("bad snapshot evidence: {0}")]
    BadEvidence(#[source] serde_json::Error),
    #[error("the snapshot this node started from is not the one the ledger attests")]
    WrongSnapshot,
}
