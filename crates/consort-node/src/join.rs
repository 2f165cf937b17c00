//! Joining a service: `POST /node/join` on the service side, and the joining node's side.
//!
//! A joining node generates its key and presents a self-signed certificate as its TLS
//! client certificate (proving it holds the key); it trusts only the service certificate it
//! was given. The service records it in `public:ccf.gov.nodes.info` as `Pending`, or
//! `Trusted` at once when the operators enabled auto-trust and the node presents their join
//! token (until governance trusts nodes by vote). While `Pending`, the node polls. Once
//! `Trusted`, the service endorses its key with the service identity and the response
//! carries what a trusted node holds: the endorsed certificate, the service key and the
//! ledger secrets — only over this mutually authenticated channel, to the key that the
//! record names. The node then fetches the latest committed snapshot (optional), checks
//! its receipt against the service identity, and catches up by replication.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use consort_client::ClientConfig;
use consort_crypto::{cert::Certificate, keys::SigningKey, sha256};
use consort_kv::{LedgerSecret, LedgerSecrets, Store};
use consort_ledger::{
    identity::{NodeIdentity, ServiceIdentity},
    tables::{self, NodeInfo, NodeStatus},
    Journal, JournalConfig,
};
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use crate::{
    api::{ApiError, Response},
    framework::{AuthPolicy::NoAuth, Ctx, Mode, Registry},
    node::{node_info, published, read_text, Boot, DataFiles, NetworkSecrets},
    replica::raft_id,
    NodeConfig, NodeError,
};

/// The snapshot a node joined from, kept in its snapshot directory: its ledger continues
/// from it, so restarting needs it.
pub const JOINED_FROM: &str = "joined_from.snapshot";

/// Most nodes waiting to be trusted at once.
pub const MAX_PENDING_NODES: usize = 32;

/// Body of `POST /node/join`.
#[derive(Debug, Serialize, Deserialize)]
struct JoinRequest {
    node_to_node_address: SocketAddr,
    rpc_address: SocketAddr,
    #[serde(default)]
    quote_info: Option<tables::QuoteInfo>,
    #[serde(default)]
    join_token: Option<String>,
}

/// What a trusted joiner receives.
#[derive(Serialize, Deserialize)]
struct NetworkInfo {
    endorsed_certificate: String,
    service_certificate: String,
    /// PKCS#8 DER, hex.
    service_key: String,
    /// (first version, raw secret hex).
    ledger_secrets: Vec<(u64, String)>,
    /// Node ids of the trusted nodes.
    trusted_nodes: Vec<String>,
    /// Node-to-node addresses of the nodes (to answer them before the ledger arrives).
    #[serde(default)]
    node_to_node_addresses: std::collections::BTreeMap<String, SocketAddr>,
}

#[derive(Serialize, Deserialize)]
struct JoinResponse {
    node_id: String,
    node_status: NodeStatus,
    #[serde(default)]
    network_info: Option<NetworkInfo>,
}

fn token_matches(given: Option<&str>, expected: Option<&str>) -> bool {
    match (given, expected) {
        (Some(g), Some(e)) if !e.is_empty() => sha256(g.as_bytes()) == sha256(e.as_bytes()),
        _ => false,
    }
}

fn join_handler(ctx: &mut Ctx<'_>) -> Result<Response, ApiError> {
    let cert = ctx.req.client_cert.clone().ok_or_else(|| {
        ApiError::unauthorized("Joining needs the node's certificate as TLS client certificate.")
    })?;
    let body: JoinRequest = ctx.req.json()?;
    let node_id = sha256(&cert.public_key_der()).to_hex();
    let key = node_id.as_bytes().to_vec();
    let cfg = &ctx.node.config;
    let existing: Option<NodeInfo> = ctx
        .tx
        .get(tables::NODES_INFO, &key)
        .and_then(|v| serde_json::from_slice(&v).ok());
    let status = match existing {
        Some(info) => info.status,
        None => {
            let auto = cfg.auto_trust_joiners
                && token_matches(body.join_token.as_deref(), cfg.join_token.as_deref());
            if cfg.auto_trust_joiners && !auto {
                return Err(ApiError::forbidden("The join token is missing or wrong."));
            }
            let status = if auto {
                NodeStatus::Trusted
            } else {
                NodeStatus::Pending
            };
            // Unauthenticated callers may register Pending nodes: bounded.
            let pending = ctx
                .tx
                .range(tables::NODES_INFO, &..)
                .into_iter()
                .filter(|(_, v)| {
                    serde_json::from_slice::<NodeInfo>(v)
                        .is_ok_and(|n| n.status == NodeStatus::Pending)
                })
                .count();
            if status == NodeStatus::Pending && pending >= MAX_PENDING_NODES {
                return Err(ApiError::unavailable(
                    "TooManyPendingNodes",
                    format!(
                        "{pending} nodes already wait to be trusted; governance must act on them first."
                    ),
                ));
            }
            let pk = consort_ledger::identity::pem_public_key(&cert.public_key_der());
            let mut info = node_info(pk, body.node_to_node_address, body.rpc_address, status);
            if let Some(q) = body.quote_info {
                info.quote_info = q;
            }
            ctx.tx.put(
                tables::NODES_INFO,
                key.clone(),
                serde_json::to_vec(&info).expect("json"),
            );
            tracing::info!("node {node_id} joined as {status:?}");
            status
        }
    };
    if status == NodeStatus::Retired {
        return Err(ApiError::forbidden(format!("Node {node_id} is retired.")));
    }
    let network_info = if status == NodeStatus::Trusted {
        let endorsed = match ctx.tx.get(tables::ENDORSED_CERTIFICATES, &key) {
            Some(pem) => String::from_utf8_lossy(&pem).into_owned(),
            None => {
                let secrets = &ctx.node.secrets;
                let service = ServiceIdentity::from_parts(
                    SigningKey::from_pkcs8_der(secrets.service_key.pkcs8_der())
                        .map_err(|e| ApiError::internal(e.to_string()))?,
                    ctx.node.service_cert.clone(),
                )
                .map_err(|e| ApiError::internal(e.to_string()))?;
                let mut s = consort_crypto::cert::Sans::default();
                s.ips.push(published(body.rpc_address).ip());
                s.dns.push("localhost".into());
                let c = service
                    .endorse(&cert.public_key_der(), &s)
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                let pem = c.to_pem();
                ctx.tx.put(
                    tables::ENDORSED_CERTIFICATES,
                    key.clone(),
                    pem.clone().into_bytes(),
                );
                pem
            }
        };
        let mut trusted = Vec::new();
        let mut addresses = std::collections::BTreeMap::new();
        for (k, v) in ctx.tx.range(tables::NODES_INFO, &..) {
            let Ok(n) = serde_json::from_slice::<NodeInfo>(&v) else {
                continue;
            };
            let id = String::from_utf8_lossy(&k).into_owned();
            if let Some(a) = n
                .node_to_node_interface
                .as_ref()
                .and_then(|i| i.published_address.parse().ok())
            {
                addresses.insert(id.clone(), a);
            }
            if n.status == NodeStatus::Trusted {
                trusted.push(id);
            }
        }
        if !trusted.contains(&node_id) {
            trusted.push(node_id.clone());
        }
        let sealed = ctx.node.secrets_for_joiner();
        // Every ledger secret, rekeys included (a joiner starting from a snapshot would not
        // see the rekey transactions before it).
        let ledger_secrets = ctx
            .node
            .journal
            .export_committed_secrets()
            .into_iter()
            .map(|(v, s)| (v, hex::encode(s)))
            .collect();
        Some(NetworkInfo {
            endorsed_certificate: endorsed,
            service_certificate: ctx.node.service_cert.to_pem(),
            service_key: sealed.service_key.clone(),
            ledger_secrets,
            trusted_nodes: trusted,
            node_to_node_addresses: addresses,
        })
    } else {
        None
    };
    Ok(Response::json(&JoinResponse {
        node_id,
        node_status: status,
        network_info,
    }))
}

/// The newest committed snapshot in `dir`: (name, seqno).
pub fn latest_snapshot(dir: &std::path::Path) -> Option<(String, u64)> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let rest = name.strip_prefix("snapshot_")?.strip_suffix(".committed")?;
            let s: u64 = rest.split('_').next()?.parse().ok()?;
            Some((name, s))
        })
        .max_by_key(|(_, s)| *s)
}

/// Register `/node/join` and `/node/snapshot`.
pub fn register(r: &mut Registry) {
    r.add(
        Method::POST,
        "/node/join",
        Mode::ReadWrite,
        &[NoAuth],
        "A new node asks to join (TLS client certificate = the node's own)",
        join_handler,
    );
    r.add(
        Method::GET,
        "/node/snapshot",
        Mode::ReadOnly,
        &[NoAuth],
        "The latest committed snapshot (CCF format, with its receipt)",
        |ctx| {
            let dir = ctx.node.config.snapshot_dir();
            let (name, _) = latest_snapshot(&dir)
                .ok_or_else(|| ApiError::not_found("This node has no committed snapshot."))?;
            let bytes = std::fs::read(dir.join(&name))
                .map_err(|e| ApiError::internal(format!("cannot read snapshot: {e}")))?;
            let mut r = Response::text(StatusCode::OK, "application/octet-stream", bytes);
            r.headers.push((
                http::HeaderName::from_static("x-consort-snapshot-name"),
                name,
            ));
            Ok(r)
        },
    );
}

async fn post_join(
    client: &ClientConfig,
    body: &serde_json::Value,
) -> Result<(u16, Bytes), String> {
    let mut c = client.connect().await.map_err(|e| e.to_string())?;
    let r = c
        .post_json("/node/join", body)
        .await
        .map_err(|e| e.to_string())?;
    Ok((r.status, r.body))
}

async fn get_snapshot(client: &ClientConfig) -> Result<Option<(u16, Bytes)>, String> {
    let mut c = client.connect().await.map_err(|e| e.to_string())?;
    let r = c.get("/node/snapshot").await.map_err(|e| e.to_string())?;
    Ok((r.status == 200).then_some((r.status, r.body)))
}

/// The joining node's side: ask, wait until trusted, check what was received, keep it
/// (sealed), start the journal (from a verified snapshot if one is offered).
pub(crate) fn join(
    config: &NodeConfig,
    files: &DataFiles,
    jc: JournalConfig,
    n2n_addr: SocketAddr,
) -> Result<Boot, NodeError> {
    let j = config.join.as_ref().expect("join config");
    let service_cert = Certificate::from_pem(&read_text(&j.service_certificate_file)?)?;
    let key = SigningKey::generate()?;
    let self_cert = consort_crypto::cert::self_signed_leaf(&key, "CCF Node", 1)?;
    let client = ClientConfig::new(
        j.target_rpc_address,
        &service_cert,
        Some((&self_cert, &key)),
    )
    .map_err(|e| NodeError::Join(e.to_string()))?;
    let body = json!({
        "node_to_node_address": n2n_addr,
        "rpc_address": published(config.rpc_address),
        "quote_info": {"format": "Insecure_Virtual", "quote": "", "endorsements": ""},
        "join_token": j.token,
    });
    let rt = tokio::runtime::Handle::current();
    let mut attempts = 0u64;
    let info = loop {
        attempts += 1;
        match rt.block_on(post_join(&client, &body)) {
            Ok((200, b)) => {
                let r: JoinResponse = serde_json::from_slice(&b)
                    .map_err(|e| NodeError::Join(format!("bad join response: {e}")))?;
                match r.network_info {
                    Some(info) if r.node_status == NodeStatus::Trusted => break info,
                    _ => {
                        if attempts % 20 == 1 {
                            tracing::info!(
                                "node {} is {:?}; waiting to be trusted",
                                r.node_id,
                                r.node_status
                            );
                        }
                    }
                }
            }
            Ok((status, b)) if (400..500).contains(&status) => {
                return Err(NodeError::Join(format!(
                    "{} refused: {status} {}",
                    j.target_rpc_address,
                    String::from_utf8_lossy(&b)
                )))
            }
            Ok((status, _)) => tracing::debug!("join: {status}; retrying"),
            Err(e) => tracing::debug!("join: {e}; retrying"),
        }
        std::thread::sleep(Duration::from_millis(200));
    };

    // Check everything before keeping any of it.
    let bad = |m: &str| NodeError::Join(m.to_string());
    let got_service = Certificate::from_pem(&info.service_certificate)?;
    if got_service != service_cert {
        return Err(bad("the service answered with a different identity"));
    }
    let endorsed = Certificate::from_pem(&info.endorsed_certificate)?;
    if endorsed.public_key_der() != key.public_key_der() {
        return Err(bad("the endorsed certificate is not for this node's key"));
    }
    endorsed.verify_issued_by(&service_cert)?;
    let service_key =
        Zeroizing::new(hex::decode(&info.service_key).map_err(|_| bad("malformed service key"))?);
    let service_key = SigningKey::from_pkcs8_der(&service_key)?;
    if service_key.public_key_der() != service_cert.public_key_der() {
        return Err(bad(
            "the service key does not match the service certificate",
        ));
    }
    let mut ledger_secrets = Vec::new();
    let mut ls = LedgerSecrets::default();
    for (from, raw) in &info.ledger_secrets {
        let mut b = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(raw, &mut b[..]).map_err(|_| bad("malformed ledger secret"))?;
        ls.add(*from, LedgerSecret::from_raw(*b)?);
        ledger_secrets.push((*from, b));
    }
    let secrets = NetworkSecrets {
        service_key,
        ledger_secrets,
    };
    let node = Arc::new(NodeIdentity::from_parts(key, endorsed)?);
    files.write_identity(&node, &service_cert, &secrets)?;
    let members: Vec<u64> = info.trusted_nodes.iter().map(|n| raft_id(n)).collect();
    tracing::info!("node {} trusted; catching up", node.node_id);

    let store = Arc::new(Store::new());
    let journal = if j.fetch_snapshot {
        match rt.block_on(get_snapshot(&client)) {
            Ok(Some((_, bytes))) => {
                let dir = config.snapshot_dir();
                std::fs::create_dir_all(&dir).map_err(NodeError::io(&dir))?;
                let path = dir.join(JOINED_FROM);
                std::fs::write(&path, &bytes).map_err(NodeError::io(&path))?;
                let jn =
                    Journal::open_from_snapshot(jc, store, node.clone(), ls, &path, &service_cert)?;
                tracing::info!("started from snapshot at {}", jn.committed());
                jn
            }
            _ => Journal::create(jc, store, node.clone(), ls)?,
        }
    } else {
        Journal::create(jc, store, node.clone(), ls)?
    };
    let startup_seqno = journal.committed().seqno;
    Ok(Boot {
        journal,
        node,
        service_cert,
        secrets,
        members,
        startup_seqno,
        addresses: info
            .node_to_node_addresses
            .iter()
            .map(|(id, a)| (raft_id(id), *a))
            .collect(),
    })
}
