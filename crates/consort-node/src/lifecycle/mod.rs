//! How a node comes to hold a journal: create a new service ([`create`]), restart from the
//! ledger ([`restart`]), join a service ([`join`]), or recover a lost service from a copy
//! of its ledger ([`recover`]); the configuration, the sealed
//! secrets and the files a node keeps. The result is a [`Boot`], which `node` puts on the
//! network.

pub(crate) mod attest;
mod catch_up;
pub mod config;
pub(crate) mod create;
mod fetch;
mod files;
pub(crate) mod join;
pub(crate) mod recover;
pub(crate) mod restart;
pub mod seal;
pub(crate) mod secrets;
pub mod snapshots;

use std::{net::SocketAddr, path::Path, sync::Arc};

use consort_consensus::NodeId;
use consort_crypto::cert::{Certificate, Sans};
use consort_ledger::{identity::NodeIdentity, Journal};
use consort_service::nodes::{self, NetInterface, NodeInfo};

pub use config::NodeConfig;
pub(crate) use secrets::{DataFiles, NetworkSecrets};

use crate::NodeError;

/// An empty store keeping the configured history window.
pub(crate) fn new_store(config: &NodeConfig) -> Arc<consort_kv::Store> {
    let store = consort_kv::Store::new();
    store.set_history(config.history_window);
    Arc::new(store)
}

pub(crate) fn read_text(p: &Path) -> Result<String, NodeError> {
    std::fs::read_to_string(p).map_err(NodeError::io(p))
}

pub(crate) fn sans(config: &NodeConfig) -> Sans {
    let mut s = Sans::default();
    let ip = config.rpc_address.ip();
    if !ip.is_unspecified() {
        s.ips.push(ip);
    } else {
        s.ips.push(std::net::Ipv4Addr::LOCALHOST.into());
    }
    s.dns.push("localhost".into());
    for n in &config.subject_alt_names {
        match n.parse() {
            Ok(ip) => s.ips.push(ip),
            Err(_) => s.dns.push(n.clone()),
        }
    }
    s
}

/// An address others can dial: an unspecified bind address is published as loopback.
pub(crate) fn published(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}

/// This node's record in `public:ccf.gov.nodes.info`.
pub(crate) fn node_info(
    public_key_pem: String,
    n2n: SocketAddr,
    rpc: SocketAddr,
    status: nodes::NodeStatus,
) -> NodeInfo {
    let mut info = NodeInfo::trusted(public_key_pem);
    info.status = status;
    info.node_to_node_interface = Some(NetInterface {
        bind_address: n2n.to_string(),
        published_address: published(n2n).to_string(),
    });
    info.rpc_interfaces.insert(
        nodes::PRIMARY_RPC_INTERFACE.into(),
        NetInterface {
            bind_address: rpc.to_string(),
            published_address: published(rpc).to_string(),
        },
    );
    info
}

/// What starting produced, before the node joins its network.
pub(crate) struct Boot {
    pub(crate) journal: Journal,
    pub(crate) node: Arc<NodeIdentity>,
    pub(crate) service_cert: Certificate,
    pub(crate) secrets: NetworkSecrets,
    /// Voting members to assume until the ledger names them.
    pub(crate) members: Vec<NodeId>,
    pub(crate) startup_seqno: u64,
    /// Node-to-node addresses known before the ledger names them.
    pub(crate) addresses: std::collections::HashMap<NodeId, SocketAddr>,
}
