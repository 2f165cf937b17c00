//! The joining node's side of `POST /node/join`: ask, wait until trusted, check everything
//! received against the service certificate it was given, keep it sealed, and start the
//! journal — from the latest committed snapshot when one is offered (its receipt checked),
//! else empty — to catch up by replication. (The service side is `frontends::join`.)

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use consort_client::{ClientConfig, ClientError};
use consort_crypto::{cert::Certificate, keys::SigningKey};
use consort_kv::{LedgerSecret, LedgerSecrets};
use consort_ledger::{identity::NodeIdentity, Journal, JournalConfig};
use consort_service::nodes::NodeStatus;
use serde_json::json;
use zeroize::Zeroizing;

use super::{
    attest,
    fetch::{fetch_snapshot, refusal},
    published, read_text,
    secrets::{DataFiles, NetworkSecrets},
    snapshots::JOINED_FROM,
    Boot, NodeConfig,
};
use crate::{
    join_protocol::{JoinResponse, NetworkInfo},
    replica::raft_id,
    NodeError,
};

async fn post_join(
    client: &ClientConfig,
    body: &serde_json::Value,
) -> Result<(u16, Bytes), ClientError> {
    let mut c = client.connect().await?;
    let r = c.post_json("/node/join", body).await?;
    Ok((r.status, r.body))
}

/// Ask to join until the service trusts this node; its answer then.
fn ask_until_trusted(
    rt: &tokio::runtime::Handle,
    client: &ClientConfig,
    body: &serde_json::Value,
    target: SocketAddr,
) -> Result<NetworkInfo, NodeError> {
    let mut attempts = 0u64;
    let info = loop {
        attempts += 1;
        match rt.block_on(post_join(client, body)) {
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
                    "{target} refused: {status} {}",
                    refusal(&b)
                )))
            }
            Ok((status, _)) => tracing::debug!("join: {status}; retrying"),
            Err(e) => tracing::debug!("join: {e}; retrying"),
        }
        std::thread::sleep(Duration::from_millis(200));
    };

    Ok(info)
}

/// What a joiner keeps: its endorsed certificate, the service key, the raw ledger secrets
/// (to seal) and the same as `LedgerSecrets`.
type Checked = (
    Certificate,
    SigningKey,
    Vec<(u64, Zeroizing<[u8; 32]>)>,
    LedgerSecrets,
);

/// Everything a trusted joiner received, checked against the service certificate it was
/// given and its own key before any of it is kept.
fn check_network_info(
    info: &NetworkInfo,
    service_cert: &Certificate,
    key: &SigningKey,
) -> Result<Checked, NodeError> {
    let bad = |m: &str| NodeError::Join(m.to_string());
    let got_service = Certificate::from_pem(&info.service_certificate)?;
    if &got_service != service_cert {
        return Err(bad("the service answered with a different identity"));
    }
    let endorsed = Certificate::from_pem(&info.endorsed_certificate)?;
    if endorsed.public_key_der() != key.public_key_der() {
        return Err(bad("the endorsed certificate is not for this node's key"));
    }
    endorsed.verify_issued_by(service_cert)?;
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
    Ok((endorsed, service_key, ledger_secrets, ls))
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
    let own = attest::own_evidence(config, &key.public_key_der())?;
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
        "quote_info": attest::quote_info(&own.evidence),
        "join_token": j.token,
    });
    let rt = tokio::runtime::Handle::current();
    let info = ask_until_trusted(&rt, &client, &body, j.target_rpc_address)?;
    let (endorsed, service_key, ledger_secrets, ls) =
        check_network_info(&info, &service_cert, &key)?;
    let secrets = NetworkSecrets {
        service_key,
        ledger_secrets,
    };
    let node = Arc::new(NodeIdentity::from_parts(key, endorsed)?);
    files.write_identity(&node, &service_cert, &secrets)?;
    let members: Vec<u64> = info.trusted_nodes.iter().map(|n| raft_id(n)).collect();
    tracing::info!("node {} trusted; catching up", node.node_id);

    let store = super::new_store(config);
    let journal = if j.fetch_snapshot {
        match rt.block_on(fetch_snapshot(&client, 0)) {
            Ok(Some(bytes)) => {
                let dir = config.snapshot_dir();
                std::fs::create_dir_all(&dir).map_err(NodeError::io(&dir))?;
                let path = dir.join(JOINED_FROM);
                std::fs::write(&path, &bytes).map_err(NodeError::io(&path))?;
                let jn =
                    Journal::open_from_snapshot(jc, store, node.clone(), ls, &path, &service_cert)?;
                tracing::info!(
                    "started from a fetched snapshot ({} bytes) at {}",
                    bytes.len(),
                    jn.committed()
                );
                jn
            }
            Ok(None) => Journal::create(jc, store, node.clone(), ls)?,
            Err(e) => {
                tracing::warn!("no snapshot fetched ({e}); catching up from the start");
                Journal::create(jc, store, node.clone(), ls)?
            }
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
