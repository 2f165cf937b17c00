//! Internal tables the ledger itself writes: signatures, ledger-secret rotation, snapshot
//! evidence and the Merkle frontier in snapshots.

use consort_kv::typed::{Json, Raw, Value};
use serde::{Deserialize, Serialize};

/// Signature transactions: one record per signature.
pub const SIGNATURES: Value<SignatureRecord, Json> = Value::new("public:ccf.internal.signatures");
/// A rekey transaction records the next ledger secret here, wrapped under the current one;
/// the next secret is used from the transaction after it.
pub const LEDGER_SECRET_REKEY: Value<Vec<u8>, Raw> =
    Value::new("public:consort.internal.ledger_secret_rekey");
/// Snapshot evidence: the hash of a snapshot and the seqno it was taken at.
pub const SNAPSHOT_EVIDENCE: Value<serde_json::Value, Json> =
    Value::new("public:ccf.internal.snapshot_evidence");
/// In a snapshot: the Merkle tree's frontier.
pub const TREE: Value<Vec<u8>, Raw> = Value::new("public:ccf.internal.tree");

/// A signature transaction's record, as CCF writes it in [`SIGNATURES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureRecord {
    /// Base64 DER ECDSA signature over `root` (used as a pre-hashed SHA-256 digest).
    pub sig: String,
    /// Id of the signing node.
    pub node: String,
    pub seqno: u64,
    pub view: u64,
    /// Last transaction known committed when signing.
    pub commit_seqno: u64,
    pub commit_view: u64,
    /// Hex Merkle root over every transaction before this one.
    pub root: String,
    /// PEM certificate of the signing node.
    pub cert: String,
}
