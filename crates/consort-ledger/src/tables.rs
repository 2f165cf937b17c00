//! CCF's well-known public tables and the JSON records Consort writes in them.

use serde::{Deserialize, Serialize};

/// Signature transactions: one record per signature (singleton key).
pub const SIGNATURES: &str = "public:ccf.internal.signatures";
/// Node records (status, public key), keyed by node id.
pub const NODES_INFO: &str = "public:ccf.gov.nodes.info";
/// Node certificates endorsed by the service identity (raw PEM), keyed by node id.
pub const ENDORSED_CERTIFICATES: &str = "public:ccf.gov.nodes.endorsed_certificates";
/// The service record: identity certificate and status (singleton key).
pub const SERVICE_INFO: &str = "public:ccf.gov.service.info";

pub use consort_kv::typed::SINGLETON_KEY;

/// A signature transaction's record, as CCF writes it in `public:ccf.internal.signatures`.
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

/// Node status, as in CCF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeStatus {
    Pending,
    Trusted,
    Retired,
}

/// Attestation evidence recorded with a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteInfo {
    pub format: String,
    #[serde(default)]
    pub quote: String,
    #[serde(default)]
    pub endorsements: String,
}

/// A node's record in `public:ccf.gov.nodes.info`. Since CCF 2.x the certificate lives
/// in the endorsed-certificates table, not here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub status: NodeStatus,
    /// PEM public key of the node.
    pub public_key: String,
    pub quote_info: QuoteInfo,
    #[serde(default)]
    pub node_data: serde_json::Value,
    #[serde(default)]
    pub retired_committed: bool,
    #[serde(default)]
    pub ledger_secret_seqno: u64,
    /// Where other nodes reach this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_to_node_interface: Option<NetInterface>,
    /// Where clients reach this one (CCF: by interface name).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub rpc_interfaces: std::collections::BTreeMap<String, NetInterface>,
}

/// A network interface of a node, as CCF records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetInterface {
    pub bind_address: String,
    pub published_address: String,
}

/// CCF's name for a node's main client interface.
pub const PRIMARY_RPC_INTERFACE: &str = "primary_rpc_interface";

impl NodeInfo {
    /// A trusted node with `public_key` (PEM) and no attestation (virtual mode).
    pub fn trusted(public_key: String) -> Self {
        Self {
            status: NodeStatus::Trusted,
            public_key,
            quote_info: QuoteInfo {
                format: "Insecure_Virtual".into(),
                quote: String::new(),
                endorsements: String::new(),
            },
            node_data: serde_json::Value::Null,
            retired_committed: false,
            ledger_secret_seqno: 0,
            node_to_node_interface: None,
            rpc_interfaces: Default::default(),
        }
    }
}

/// Service status, as in CCF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceStatus {
    Opening,
    Open,
    WaitingForRecoveryShares,
    Recovering,
}

/// The service record in `public:ccf.gov.service.info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// PEM of the service identity certificate.
    pub cert: String,
    pub status: ServiceStatus,
    #[serde(default)]
    pub recovery_count: u64,
    #[serde(default)]
    pub service_data: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_service_create_txid: Option<String>,
}

/// Snapshot evidence: the hash of a snapshot and the seqno it was taken at.
pub const SNAPSHOT_EVIDENCE: &str = "public:ccf.internal.snapshot_evidence";
/// The Merkle frontier, carried only inside snapshot files.
pub const TREE_TABLE: &str = "public:ccf.internal.tree";
