//! The nodes of the service.

use std::collections::BTreeMap;

use consort_kv::{
    typed::{Json, Map, Str},
    KvError, Source,
};
use serde::{Deserialize, Serialize};

/// Node records (status, public key, interfaces), keyed by node id (hex SHA-256 of the
/// node's DER public key).
pub const INFO: Map<String, NodeInfo, Str, Json> = Map::new("public:ccf.gov.nodes.info");
/// Node certificates endorsed by the service identity (raw PEM), keyed by node id.
pub const ENDORSED_CERTIFICATES: Map<String, String, Str, Str> =
    Map::new("public:ccf.gov.nodes.endorsed_certificates");
/// Code ids (measurements) nodes may run.
pub const CODE_IDS: Map<String, String, Str, Str> = Map::new("public:ccf.gov.nodes.code_ids");

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

/// A node's record in [`INFO`]. Since CCF 2.x the certificate lives in
/// [`ENDORSED_CERTIFICATES`], not here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub status: NodeStatus,
    /// PEM public key of the node.
    pub public_key: String,
    pub quote_info: QuoteInfo,
    /// The measurement its verified evidence proves (hex; CCF's `code_digest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_digest: Option<String>,
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
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rpc_interfaces: BTreeMap<String, NetInterface>,
}

/// A network interface of a node, as CCF records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetInterface {
    pub bind_address: String,
    pub published_address: String,
}

/// CCF's name for a node's main client interface.
pub const PRIMARY_RPC_INTERFACE: &str = "primary_rpc_interface";

/// The published address of a node's client interfaces (as `rpc_interfaces` records them)
/// to reach it at: its primary one, else any.
pub fn client_address(interfaces: &BTreeMap<String, NetInterface>) -> Option<&str> {
    interfaces
        .get(PRIMARY_RPC_INTERFACE)
        .or_else(|| interfaces.values().next())
        .map(|i| i.published_address.as_str())
}

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
            code_digest: None,
            node_data: serde_json::Value::Null,
            retired_committed: false,
            ledger_secret_seqno: 0,
            node_to_node_interface: None,
            rpc_interfaces: Default::default(),
        }
    }

    /// Where clients reach this one (its primary RPC interface, else any), as published.
    pub fn rpc_address(&self) -> Option<&str> {
        client_address(&self.rpc_interfaces)
    }

    /// Where other nodes reach this one, if recorded and well-formed.
    pub fn node_to_node_address(&self) -> Option<std::net::SocketAddr> {
        self.node_to_node_interface
            .as_ref()?
            .published_address
            .parse()
            .ok()
    }
}

/// Every node record, in id order. A record that does not decode is an error: the nodes
/// table decides membership, so it is never read around.
pub fn all<S: Source + ?Sized>(src: &mut S) -> Result<Vec<(String, NodeInfo)>, KvError> {
    INFO.entries(src)
}

/// Ids of the nodes with `status`, in id order.
pub fn with_status<S: Source + ?Sized>(
    src: &mut S,
    status: NodeStatus,
) -> Result<Vec<String>, KvError> {
    Ok(all(src)?
        .into_iter()
        .filter(|(_, n)| n.status == status)
        .map(|(id, _)| id)
        .collect())
}
