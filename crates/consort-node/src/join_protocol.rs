//! The messages of `POST /node/join`, shared by the join service (`frontends::join`) and
//! the joining node (`lifecycle::join`).

use std::net::SocketAddr;

use consort_service::nodes::{NodeStatus, QuoteInfo};
use serde::{Deserialize, Serialize};

/// Body of `POST /node/join`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct JoinRequest {
    pub(crate) node_to_node_address: SocketAddr,
    pub(crate) rpc_address: SocketAddr,
    #[serde(default)]
    pub(crate) quote_info: Option<QuoteInfo>,
    #[serde(default)]
    pub(crate) join_token: Option<String>,
}

/// What a trusted joiner receives.
#[derive(Serialize, Deserialize)]
pub(crate) struct NetworkInfo {
    pub(crate) endorsed_certificate: String,
    pub(crate) service_certificate: String,
    /// PKCS#8 DER, hex.
    pub(crate) service_key: String,
    /// (first version, raw secret hex).
    pub(crate) ledger_secrets: Vec<(u64, String)>,
    /// Node ids of the trusted nodes.
    pub(crate) trusted_nodes: Vec<String>,
    /// Node-to-node addresses of the nodes (to answer them before the ledger arrives).
    #[serde(default)]
    pub(crate) node_to_node_addresses: std::collections::BTreeMap<String, SocketAddr>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct JoinResponse {
    pub(crate) node_id: String,
    pub(crate) node_status: NodeStatus,
    #[serde(default)]
    pub(crate) network_info: Option<NetworkInfo>,
}
