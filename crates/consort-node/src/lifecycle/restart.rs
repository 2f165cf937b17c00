//! Restarting a node from its ledger, with the secrets it sealed at creation or join.

use std::sync::Arc;

use consort_crypto::{cert::Certificate, keys::SigningKey};
use consort_ledger::{
    identity::{NodeIdentity, ServiceIdentity},
    Journal, JournalConfig,
};
use consort_service::service;

use super::{
    read_text,
    seal::{read_sealed, VirtualSealer},
    secrets::{DataFiles, NetworkSecrets},
    snapshots::{JOINED_FROM, RECOVERED_FROM},
    Boot, NodeConfig,
};
use crate::{replica::raft_id, NodeError};

/// A restarted node's boot, up to its last signature.
fn boot(
    journal: Journal,
    node: Arc<NodeIdentity>,
    service_cert: Certificate,
    secrets: NetworkSecrets,
) -> Boot {
    Boot {
        startup_seqno: journal.last_signature().unwrap_or(0),
        members: vec![raft_id(&node.node_id)],
        journal,
        node,
        service_cert,
        secrets,
        addresses: Default::default(),
    }
}

/// Restart from the ledger, unsealing the secrets kept at creation or join.
pub(crate) fn restart(
    config: &NodeConfig,
    files: &DataFiles,
    jc: JournalConfig,
) -> Result<Boot, NodeError> {
    let ledger_dir = config.ledger_dir();
    if !files.sealed.exists() || !files.node_key.exists() {
        return Err(NodeError::Config(format!(
            "{} holds a ledger but {} has no sealed secrets/node key: to recover a lost service from its ledger, use `consort node recover` (members then submit their recovery shares)",
            ledger_dir.display(),
            config.data_dir.display()
        )));
    }
    let key = SigningKey::from_pem(&read_text(&files.node_key)?)?;
    let sealer = VirtualSealer::new(&key)?;
    let secrets = NetworkSecrets::from_sealed(&read_sealed(&files.sealed, &sealer)?)?;
    let node_cert = Certificate::from_pem(&read_text(&files.node_cert)?)?;
    let node = Arc::new(NodeIdentity::from_parts(key, node_cert)?);
    let service_cert = Certificate::from_pem(&read_text(&files.service_cert)?)?;
    let store = super::new_store(config);
    let recovered_from = config.snapshot_dir().join(RECOVERED_FROM);
    if recovered_from.exists() && secrets.ledger_secrets.len() == 1 {
        // A recovery that started from a snapshot, its private ledger not yet recovered
        // (the sealed secrets are the new service's alone): the snapshot's public maps,
        // then the ledger after it.
        let (journal, report) = Journal::reopen_recovering_from_snapshot(
            jc,
            store,
            node.clone(),
            secrets.ledger_secrets()?,
            &recovered_from,
        )?;
        tracing::info!(
            replayed = report.replayed,
            "restarted a recovering service from {}",
            recovered_from.display()
        );
        return Ok(boot(journal, node, service_cert, secrets));
    }
    let joined_from = config.snapshot_dir().join(JOINED_FROM);
    if joined_from.exists() {
        // This node joined from a snapshot; its ledger continues from there.
        let journal = Journal::open_from_snapshot(
            jc,
            store,
            node.clone(),
            secrets.ledger_secrets()?,
            &joined_from,
            &service_cert,
        )?;
        node.cert.verify_issued_by(&service_cert)?;
        tracing::info!(
            "restarted from {} and the ledger after it; last signature {:?}",
            joined_from.display(),
            journal.last_signature()
        );
        return Ok(boot(journal, node, service_cert, secrets));
    }
    let started = std::time::Instant::now();
    let (journal, report) = Journal::open(jc, store, node.clone(), secrets.ledger_secrets()?)?;
    let replay_ms = started.elapsed().as_millis();
    // The identity files must be the ones the (verified) ledger records.
    let recorded = service::INFO
        .get(&mut journal.store().snapshot())?
        .and_then(|i| Certificate::from_pem(&i.cert).ok());
    if recorded.as_ref() != Some(&service_cert) {
        return Err(NodeError::Config(format!(
            "{} is not the service identity recorded in the ledger",
            files.service_cert.display()
        )));
    }
    node.cert.verify_issued_by(&service_cert)?;
    ServiceIdentity::from_parts(
        SigningKey::from_pkcs8_der(secrets.service_key.pkcs8_der())?,
        service_cert.clone(),
    )?;
    tracing::info!(
        replayed = report.replayed,
        rolled_back = report.rolled_back,
        "restarted from ledger (replayed in {replay_ms}ms); last signature {:?}",
        report.last_signature
    );
    Ok(boot(journal, node, service_cert, secrets))
}
