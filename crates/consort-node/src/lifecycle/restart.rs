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
            jc.clone(),
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
        let journal = or_from_peer_snapshot(config, jc, journal, &node, &service_cert, &secrets)?;
        return Ok(boot(journal, node, service_cert, secrets));
    }
    let started = std::time::Instant::now();
    let (journal, report) =
        Journal::open(jc.clone(), store, node.clone(), secrets.ledger_secrets()?)?;
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
    let journal = or_from_peer_snapshot(config, jc, journal, &node, &service_cert, &secrets)?;
    Ok(boot(journal, node, service_cert, secrets))
}

/// `journal`, or — when the peers can no longer catch this node up by replication — a
/// journal started from a peer's snapshot, verified first (see `catch_up`). The old
/// ledger is kept, renamed `<ledger>.before_<S>`; the snapshot becomes the one this node
/// "joined from", so later restarts continue from it.
fn or_from_peer_snapshot(
    config: &NodeConfig,
    jc: JournalConfig,
    journal: Journal,
    node: &Arc<NodeIdentity>,
    service_cert: &Certificate,
    secrets: &NetworkSecrets,
) -> Result<Journal, NodeError> {
    let dir = config.snapshot_dir();
    std::fs::create_dir_all(&dir).map_err(NodeError::io(&dir))?;
    let fetched = dir.join("fetched.snapshot.part");
    let ls = secrets.ledger_secrets()?;
    let Some(s) = super::catch_up::snapshot_if_behind(&journal, node, service_cert, &ls, &fetched)?
    else {
        return Ok(journal);
    };
    drop(journal);
    // The snapshot first: a crash before the ledger is set aside leaves both, and the next
    // start refuses a ledger that does not continue the snapshot, with the reason.
    let joined_from = dir.join(JOINED_FROM);
    std::fs::rename(&fetched, &joined_from).map_err(NodeError::io(&joined_from))?;
    let ledger = config.ledger_dir();
    let aside = ledger.with_file_name(format!(
        "{}.before_{s}",
        ledger
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("ledger")
    ));
    std::fs::rename(&ledger, &aside).map_err(NodeError::io(&aside))?;
    std::fs::create_dir_all(&ledger).map_err(NodeError::io(&ledger))?;
    let journal = Journal::open_from_snapshot(
        jc,
        super::new_store(config),
        node.clone(),
        ls,
        &joined_from,
        service_cert,
    )?;
    tracing::info!(
        "caught up from a peer's snapshot at {s}, without joining again; the ledger before it is kept in {}",
        aside.display()
    );
    Ok(journal)
}
