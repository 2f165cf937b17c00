//! Creating a new service, with this node as its first, trusted node.

use std::{net::SocketAddr, sync::Arc};

use consort_crypto::cert::Certificate;
use consort_endpoints::Registry;
use consort_kv::{LedgerSecret, LedgerSecrets};
use consort_ledger::{
    identity::{NodeIdentity, ServiceIdentity},
    Journal, JournalConfig,
};
use consort_service::{genesis, nodes};

use zeroize::Zeroizing;

use super::{
    attest, node_info, read_text, sans,
    secrets::{DataFiles, NetworkSecrets},
    Boot, NodeConfig,
};
use crate::{replica::raft_id, NodeError};

/// The new service's recovery threshold: as configured (from 1 to the members with an
/// encryption key), or all of them.
fn recovery_threshold(config: &NodeConfig) -> Result<u64, NodeError> {
    let with_keys = config
        .members
        .iter()
        .filter(|m| m.encryption_public_key_file.is_some())
        .count() as u64;
    let threshold = config.recovery_threshold.unwrap_or(with_keys.max(1));
    if threshold == 0 || (with_keys > 0 && threshold > with_keys) {
        return Err(NodeError::Config(format!(
            "recovery_threshold {threshold} must be from 1 to the {with_keys} members with an encryption key"
        )));
    }
    Ok(threshold)
}

/// The governance a new service starts with: the constitution (with the apps' actions),
/// members, users, JWT issuers and the service configuration.
fn record_governance(
    tx: &mut consort_kv::Tx,
    config: &NodeConfig,
    registry: &Registry,
    require_hardware: bool,
) -> Result<(), NodeError> {
    let constitution = match &config.constitution_file {
        Some(f) => read_text(f)?,
        None => consort_governance::with_app_actions(
            consort_governance::DEFAULT_CONSTITUTION,
            registry.gov_actions(),
        ),
    };
    consort_governance::Engine::new(&constitution, Default::default())
        .map_err(|e| NodeError::Config(format!("the constitution does not load: {e}")))?;
    consort_governance::proposals::set_constitution(tx, &constitution);
    for m in &config.members {
        let cert = Certificate::from_pem(&read_text(&m.certificate_file)?)?;
        let enc = m
            .encryption_public_key_file
            .as_deref()
            .map(read_text)
            .transpose()?;
        genesis::add_member(tx, &cert, enc.as_deref(), &m.data);
    }
    for u in &config.users {
        let cert = Certificate::from_pem(&read_text(&u.certificate_file)?)?;
        genesis::add_user(tx, &cert, &u.data);
    }
    for j in &config.jwt_issuers {
        let jwks: serde_json::Value = serde_json::from_str(&read_text(&j.jwks_file)?)
            .map_err(|e| NodeError::Config(format!("{}: {e}", j.jwks_file.display())))?;
        genesis::set_jwt_issuer(tx, &j.issuer, &jwks)
            .map_err(|e| NodeError::Config(format!("{}: {e}", j.jwks_file.display())))?;
    }
    consort_service::service::CONFIG.put(
        tx,
        &serde_json::json!({
            "recovery_threshold": recovery_threshold(config)?,
            consort_service::attestation::REQUIRE_HARDWARE: require_hardware,
        }),
    );
    Ok(())
}

/// Create a new service with this node as its first, trusted node.
pub(crate) fn create(
    config: &NodeConfig,
    files: &DataFiles,
    jc: JournalConfig,
    n2n_addr: SocketAddr,
    registry: &Registry,
) -> Result<Boot, NodeError> {
    let service = ServiceIdentity::generate()?;
    let node = Arc::new(NodeIdentity::generate(&service, &sans(config))?);
    let own = attest::own_evidence(config, &node.key.public_key_der())?;
    let (evidence, claims) = (&own.evidence, &own.claims);
    let require_hardware = config
        .attestation
        .require_hardware
        .unwrap_or(!claims.insecure);
    if require_hardware && claims.insecure {
        return Err(NodeError::Config(format!(
            "attestation.require_hardware is set, but this node attests on the {} platform",
            evidence.format
        )));
    }
    let secret = LedgerSecret::generate()?;
    let secrets = NetworkSecrets {
        ledger_secrets: vec![(1, Zeroizing::new(*secret.raw()))],
        service_key: service.key,
    };
    files.write_identity(&node, &service.cert, &secrets)?;
    let store = super::new_store(config);
    let journal = Journal::create(jc, store, node.clone(), LedgerSecrets::single(secret))?;
    // The service record and this node, endorsed: the first transaction of the ledger.
    let mut tx = journal.begin();
    let create_txid = consort_kv::TxId::new(journal.store().view(), tx.read_version() + 1);
    let mut info = node_info(
        node.public_key_pem(),
        n2n_addr,
        config.rpc_address,
        nodes::NodeStatus::Trusted,
    );
    attest::record(&mut info, evidence, claims);
    // The first node's own code and host may join, as in CCF.
    consort_service::attestation::allow(&mut tx, claims, &own.security_policy)?;
    genesis::record_service(
        &mut tx,
        &service.cert,
        create_txid,
        &node.node_id,
        &info,
        &node.cert,
    );
    journal.commit(tx)?;
    journal.sign()?;
    let mut tx = journal.begin();
    record_governance(&mut tx, config, registry, require_hardware)?;
    registry.run_genesis(&mut tx);
    journal.commit(tx)?;
    journal.sign()?;
    if config.open_service {
        let mut tx = journal.begin();
        let (from, latest) = journal.latest_secret()?;
        consort_recovery::shares::open_service(&mut tx, from, &latest)
            .map_err(|e| NodeError::Config(format!("opening the service: {e}")))?;
        journal.commit(tx)?;
        journal.sign()?;
    }
    Ok(Boot {
        members: vec![raft_id(&node.node_id)],
        journal,
        node,
        service_cert: service.cert,
        secrets,
        startup_seqno: 0,
        addresses: Default::default(),
    })
}
