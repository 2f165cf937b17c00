//! Disaster recovery: the recovery shares of the ledger-secret wrapping key, the chain of
//! previous ledger secrets, the shares members submit, and the previous service identity
//! (CCF's `src/service/tables/{shares,secrets,submitted_shares,previous_service_identity}.h`).
//!
//! Byte strings are standard base64 in JSON, as CCF writes them.

use std::collections::BTreeMap;

use consort_kv::typed::{Json, Map, Str, Value};
use serde::{Deserialize, Serialize};

/// The current recovery shares: each recovery member's share of a fresh wrapping key,
/// encrypted to that member (RSA-OAEP-SHA-256), and the latest ledger secret wrapped by it.
pub const RECOVERY_SHARES: Value<RecoverySharesInfo, Json> =
    Value::new("public:ccf.internal.recovery_shares");
/// Written whenever the ledger secret changes: the previous secret, encrypted under the
/// new one, so that the latest secret unlocks the whole history.
pub const HISTORICAL_SECRETS: Value<EncryptedLedgerSecretInfo, Json> =
    Value::new("public:ccf.internal.historical_encrypted_ledger_secret");
/// Shares submitted during a recovery, by member id: each encrypted under the recovering
/// service's ledger secret (base64), so that they survive an election.
pub const SUBMITTED_SHARES: Map<String, String, Str, Json> =
    Map::new("public:ccf.internal.encrypted_submitted_shares");
/// A recovered service: the identity certificate (PEM) of the service it recovered.
pub const PREVIOUS_SERVICE_IDENTITY: Value<String, Json> =
    Value::new("public:ccf.gov.service.previous_service_identity");
/// A recovered service: the Merkle root (hex) of the previous service's last signature.
pub const PREVIOUS_SERVICE_LAST_SIGNED_ROOT: Value<String, Json> =
    Value::new("public:ccf.internal.previous_service_last_signed_root");
/// The current service identity's COSE Sign1 endorsement of the previous one.
pub const PREVIOUS_IDENTITY_ENDORSEMENT: Value<CoseEndorsement, Json> =
    Value::new("public:ccf.internal.previous_service_identity_endorsement");
/// Consort's own check on submitted shares: the threshold the current shares were issued
/// with and a digest of each member's share, so that a wrong or forged share is refused
/// when it is submitted rather than when the shares fail to combine. A digest of 32 random
/// bytes (or more) reveals nothing usable about them.
pub const SHARE_DIGESTS: Value<ShareDigests, Json> =
    Value::new("public:consort.internal.recovery_share_digests");

/// [`RECOVERY_SHARES`]'s record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoverySharesInfo {
    /// The latest ledger secret, AES-256-GCM under the wrapping key (base64).
    pub wrapped_latest_ledger_secret: String,
    /// RSA-OAEP-SHA-256 ciphertext of each recovery member's share (base64), by member id.
    pub encrypted_shares: BTreeMap<String, String>,
    /// Where the last [`HISTORICAL_SECRETS`] record was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_stored_version: Option<u64>,
}

/// [`HISTORICAL_SECRETS`]'s record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedLedgerSecretInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_ledger_secret: Option<PreviousLedgerSecretInfo>,
    /// The seqno the latest secret is used from (absent: the one after this record's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_version: Option<u64>,
}

/// The secret before the latest one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousLedgerSecretInfo {
    /// The previous secret encrypted under the latest one (base64).
    pub encrypted_data: String,
    /// The seqno the previous secret is used from.
    pub version: u64,
    /// Where the [`HISTORICAL_SECRETS`] record before this one was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_stored_version: Option<u64>,
}

/// [`PREVIOUS_IDENTITY_ENDORSEMENT`]'s record, as CCF writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoseEndorsement {
    /// COSE Sign1 by the current service key over the previous service's public key (base64).
    pub endorsement: String,
    /// The current service's DER public key (base64).
    pub endorsing_key: String,
    /// `view.seqno` of the first transaction the endorsed identity signed.
    pub endorsement_epoch_begin: String,
    /// `view.seqno` of its last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endorsement_epoch_end: Option<String>,
    /// Where the endorsement before this one was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<u64>,
}

/// [`SHARE_DIGESTS`]'s record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareDigests {
    pub threshold: usize,
    /// Hex SHA-256 of `"consort recovery share v1" ‖ share`, by member id.
    pub digests: BTreeMap<String, String>,
}

/// Receipts across recoveries: by the first seqno of each recovered service (20-digit
/// zero-padded, so key order is seqno order), the certificate (PEM) by which that service
/// endorses the previous service's key. A receipt for an older transaction carries these
/// in `service_endorsements`, oldest first: its node certificate chains up to today's
/// service identity.
pub const SERVICE_ENDORSEMENTS: Map<String, String, Str, Str> =
    Map::new("public:consort.internal.service_endorsements");

/// The [`SERVICE_ENDORSEMENTS`] key of recovery seqno `seqno`.
pub fn endorsement_key(seqno: u64) -> String {
    format!("{seqno:020}")
}
