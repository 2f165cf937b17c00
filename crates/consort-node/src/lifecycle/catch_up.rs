//! A restarting node whose peers can no longer catch it up by replication starts from a
//! peer's snapshot instead, without joining again.
//!
//! Replication sends entries from the primary's ledger; a node that started from a
//! snapshot (a joiner) holds none before it. So a node that was down while such a node
//! came to hold the service's history, and whose ledger ends before that node's first
//! entry, could never be caught up if that node leads. On restart, after opening its own
//! ledger, a node asks each trusted peer (`GET /node/ledger-chunk?since=<next>`, as a
//! trusted node) whether it holds the next entry; if one does not (it redirects
//! elsewhere), the node fetches the newest committed snapshot after its last entry from a
//! peer (`/node/snapshot?since=<last>`, in ranges), verifies it completely — opening a
//! journal from it in a scratch directory checks its receipt against the service
//! certificate, its Merkle frontier and its decryption — and only then sets its old ledger
//! aside (kept, renamed `<ledger>.before_<S>`) and restarts from the snapshot, as a node
//! that joined from it does. A snapshot that fails any check is refused with its reason
//! and the next peer is tried; if every offered snapshot is refused, the node stops with
//! the reasons rather than run behind.

use std::{collections::BTreeMap, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use consort_client::ClientConfig;
use consort_crypto::cert::Certificate;
use consort_kv::LedgerSecrets;
use consort_ledger::{identity::NodeIdentity, Journal, JournalConfig};
use consort_service::nodes::{self, NodeStatus};

use super::fetch::fetch_snapshot;
use crate::NodeError;

/// How long one peer gets to answer each question.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// The trusted peers' client addresses, as the ledger records them.
fn recorded_peers(journal: &Journal, me: &str) -> Vec<SocketAddr> {
    let mut snap = journal.store().snapshot();
    let Ok(ids) = nodes::with_status(&mut snap, NodeStatus::Trusted) else {
        return Vec::new();
    };
    ids.iter()
        .filter(|id| id.as_str() != me)
        .filter_map(|id| {
            nodes::INFO
                .get(&mut snap, id)
                .ok()??
                .rpc_address()?
                .parse()
                .ok()
        })
        .collect()
}

/// The trusted nodes the peer at `client` knows of (its ledger may be ahead of ours):
/// `(node id, client address)`, from `GET /node/network/nodes`.
async fn listed_peers(client: &ClientConfig) -> Vec<(String, SocketAddr)> {
    let ask = async {
        let mut c = client.connect().await.ok()?;
        let r = c.get("/node/network/nodes").await.ok()?;
        let v = r.json().ok()?;
        let nodes = v["nodes"].as_array()?.clone();
        Some(
            nodes
                .iter()
                .filter(|n| n["status"] == "Trusted")
                .filter_map(|n| {
                    let ifs: BTreeMap<String, nodes::NetInterface> =
                        serde_json::from_value(n["rpc_interfaces"].clone()).ok()?;
                    let addr = nodes::client_address(&ifs)?.parse().ok()?;
                    Some((n["node_id"].as_str()?.to_string(), addr))
                })
                .collect(),
        )
    };
    tokio::time::timeout(PEER_TIMEOUT, ask)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Whether the peer at `client` holds no entry `next` (its ledger starts after it: it
/// sends the request on to another node). `None`: no answer.
async fn lacks(client: &ClientConfig, next: u64) -> Option<bool> {
    let ask = async {
        let mut c = client.connect().await.ok()?;
        let r = c
            .get(&format!("/node/ledger-chunk?since={next}"))
            .await
            .ok()?;
        Some(
            r.status == 308
                && r.header("location")
                    .is_some_and(|l| l.starts_with("https://")),
        )
    };
    tokio::time::timeout(PEER_TIMEOUT, ask).await.ok().flatten()
}

/// Whether the snapshot in `file` is one this node can start from: a journal opens from
/// it (in a scratch directory, removed after) with every check a joiner makes.
fn verify(
    file: &Path,
    scratch: &Path,
    node: &Arc<NodeIdentity>,
    secrets: &LedgerSecrets,
    service_cert: &Certificate,
) -> Result<u64, String> {
    let _ = std::fs::remove_dir_all(scratch);
    let opened = Journal::open_from_snapshot(
        JournalConfig::new(scratch),
        Arc::new(consort_kv::Store::new()),
        node.clone(),
        secrets.clone(),
        file,
        service_cert,
    )
    .map(|j| j.committed().seqno)
    .map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(scratch);
    opened
}

/// If a trusted peer cannot send this node the entries after its last one, a verified
/// snapshot after it, written to `into`: its seqno. `None`: replication will do (or no
/// peer answered, or none has a newer snapshot). Err: every snapshot offered was refused.
pub(crate) fn snapshot_if_behind(
    journal: &Journal,
    node: &Arc<NodeIdentity>,
    service_cert: &Certificate,
    secrets: &LedgerSecrets,
    into: &Path,
) -> Result<Option<u64>, NodeError> {
    let last = journal.last_txid().seqno;
    let client =
        |a: SocketAddr| ClientConfig::new(a, service_cert, Some((&node.cert, &node.key))).ok();
    let rt = tokio::runtime::Handle::current();
    // The peers this node's ledger records, and those they know of that it does not (a
    // node trusted while this one was down).
    let mut addrs = recorded_peers(journal, &node.node_id);
    for a in addrs.clone() {
        let Some(c) = client(a) else { continue };
        for (id, b) in rt.block_on(listed_peers(&c)) {
            if id != node.node_id && !addrs.contains(&b) {
                addrs.push(b);
            }
        }
    }
    let clients: Vec<(SocketAddr, ClientConfig)> = addrs
        .into_iter()
        .filter_map(|a| Some((a, client(a)?)))
        .collect();
    let behind = clients
        .iter()
        .find(|(_, c)| rt.block_on(lacks(c, last + 1)) == Some(true));
    let Some((who, _)) = behind else {
        return Ok(None);
    };
    tracing::warn!(
        "{who} holds no ledger entry {}: fetching a snapshot after {last} from a peer",
        last + 1
    );
    let scratch = into.with_extension("verify");
    let mut refused = Vec::new();
    for (addr, c) in &clients {
        let fetched = rt.block_on(async {
            tokio::time::timeout(PEER_TIMEOUT * 12, fetch_snapshot(c, last)).await
        });
        let bytes = match fetched {
            Ok(Ok(Some(b))) => b,
            Ok(Ok(None)) => continue,
            Ok(Err(e)) => {
                refused.push(format!("{addr}: {e}"));
                continue;
            }
            Err(_) => {
                refused.push(format!("{addr}: timed out"));
                continue;
            }
        };
        std::fs::write(into, &bytes).map_err(NodeError::io(into))?;
        match verify(into, &scratch, node, secrets, service_cert) {
            Ok(s) if s > last => {
                tracing::info!(
                    "fetched a snapshot at {s} ({} bytes) from {addr}",
                    bytes.len()
                );
                return Ok(Some(s));
            }
            Ok(s) => refused.push(format!("{addr}: its snapshot at {s} is not after {last}")),
            Err(e) => {
                tracing::error!("refused the snapshot from {addr}: {e}");
                refused.push(format!("{addr}: {e}"));
            }
        }
        let _ = std::fs::remove_file(into);
    }
    if refused.is_empty() {
        tracing::warn!("no peer has a snapshot after {last}; catching up by replication");
        return Ok(None);
    }
    Err(NodeError::CatchUp(format!(
        "this node's ledger ends at {last}, before what a peer can send, and every snapshot offered was refused: {}",
        refused.join("; ")
    )))
}
