//! Recovering a lost service from a copy of its ledger (CCF's `Recover` start): the
//! public domain is replayed and verified with no secret, a new service identity takes
//! over (endorsing the previous one), and governance opens in `Recovering`. The private
//! state stays locked until members submit enough recovery shares (see `recovery`).

use std::{net::SocketAddr, sync::Arc};

use consort_crypto::cert::{self, Certificate, Sans};
use consort_kv::{LedgerSecret, Store, Tx, TxId};
use consort_ledger::{
    identity::{NodeIdentity, ServiceIdentity, DEFAULT_VALIDITY_DAYS},
    Journal, JournalConfig,
};
use consort_service::{
    nodes::{self, NodeStatus},
    recovery as tables,
    service::{self, ServiceInfo, ServiceStatus},
};
use zeroize::Zeroizing;

use super::{
    node_info, read_text, sans,
    secrets::{DataFiles, NetworkSecrets},
    Boot, NodeConfig,
};
use crate::{replica::raft_id, NodeError};

/// Start a recovery service on the ledger in `config`'s ledger directory.
pub(crate) fn recover(
    config: &NodeConfig,
    files: &DataFiles,
    jc: JournalConfig,
    n2n_addr: SocketAddr,
) -> Result<Boot, NodeError> {
    if files.sealed.exists() {
        return Err(NodeError::Config(format!(
            "{} holds sealed secrets: this node belongs to a running service (use `node start`)",
            config.data_dir.display()
        )));
    }
    let service = ServiceIdentity::generate()?;
    let node = Arc::new(NodeIdentity::generate(&service, &sans(config))?);
    let secret = LedgerSecret::generate()?;
    let raw = Zeroizing::new(*secret.raw());
    let store = Arc::new(Store::new());
    tracing::info!(
        "recovery: replaying and verifying the public ledger in {}",
        jc.dir.display()
    );
    let (journal, report) =
        Journal::open_for_recovery(jc, store, node.clone(), secret).map_err(|e| {
            NodeError::Config(format!("the ledger's public domain does not verify: {e}"))
        })?;
    tracing::info!(
        replayed = report.replayed,
        rolled_back = report.rolled_back,
        "recovery: public ledger verified up to {:?}",
        report.last_signature
    );
    let mut tx = journal.begin();
    let previous = service::INFO
        .get(&mut tx)?
        .ok_or_else(|| NodeError::Config("the ledger records no service".into()))?;
    if let Some(f) = &config.previous_service_identity_file {
        let expected = Certificate::from_pem(&read_text(f)?)?;
        if Certificate::from_pem(&previous.cert)? != expected {
            return Err(NodeError::Config(format!(
                "{} is not the service identity the ledger records",
                f.display()
            )));
        }
    }
    let create_txid = TxId::new(journal.store().view(), tx.read_version() + 1);
    record_recovery(
        &mut tx,
        &service,
        &previous,
        create_txid,
        &report.last_signed_root,
    )?;
    retire_previous_nodes(&mut tx)?;
    let info = node_info(
        node.public_key_pem(),
        n2n_addr,
        config.rpc_address,
        NodeStatus::Trusted,
    );
    nodes::INFO.put(&mut tx, &node.node_id, &info);
    nodes::ENDORSED_CERTIFICATES.put(&mut tx, &node.node_id, &node.cert.to_pem());
    consort_recovery::submit::clear(&mut tx).map_err(|e| NodeError::Config(e.to_string()))?;
    journal.commit(tx)?;
    journal.sign()?;
    let secrets = NetworkSecrets {
        ledger_secrets: vec![(report.first_new_seqno, raw)],
        service_key: service.key,
    };
    files.write_identity(&node, &service.cert, &secrets)?;
    tracing::info!(
        recovery_count = previous.recovery_count + 1,
        "recovery: service {} recovering from {}; members now open it and submit recovery shares",
        service.cert.fingerprint().to_hex(),
        create_txid
    );
    Ok(Boot {
        members: vec![raft_id(&node.node_id)],
        startup_seqno: journal.last_signature().unwrap_or(0),
        journal,
        node,
        service_cert: service.cert,
        secrets,
        addresses: Default::default(),
    })
}

/// The new service record (`Recovering`), the previous identity, endorsed.
fn record_recovery(
    tx: &mut Tx,
    service: &ServiceIdentity,
    previous: &ServiceInfo,
    create_txid: TxId,
    last_signed_root: &consort_crypto::Sha256Digest,
) -> Result<(), NodeError> {
    let previous_version = tx.get_version(service::INFO.name(), &consort_service::SINGLETON_KEY);
    tables::PREVIOUS_SERVICE_IDENTITY.put(tx, &previous.cert);
    tables::PREVIOUS_SERVICE_LAST_SIGNED_ROOT.put(tx, &last_signed_root.to_hex());
    let old = Certificate::from_pem(&previous.cert)?;
    let endorsement = cert::endorse(
        &old.public_key_der(),
        "CCF Service",
        &Sans::default(),
        &service.cert,
        &service.key,
        DEFAULT_VALIDITY_DAYS,
    )?;
    tables::SERVICE_ENDORSEMENTS.put(
        tx,
        &tables::endorsement_key(create_txid.seqno),
        &endorsement.to_pem(),
    );
    service::INFO.put(
        tx,
        &ServiceInfo {
            cert: service.cert.to_pem(),
            status: ServiceStatus::Recovering,
            recovery_count: previous.recovery_count + 1,
            service_data: previous.service_data.clone(),
            current_service_create_txid: Some(create_txid.to_string()),
            previous_service_identity_version: previous_version,
        },
    );
    Ok(())
}

/// The previous service's nodes are gone: retire them all.
fn retire_previous_nodes(tx: &mut Tx) -> Result<(), NodeError> {
    for (id, mut info) in nodes::INFO.entries(tx)? {
        if info.status != NodeStatus::Retired {
            info.status = NodeStatus::Retired;
            nodes::INFO.put(tx, &id, &info);
        }
    }
    Ok(())
}
