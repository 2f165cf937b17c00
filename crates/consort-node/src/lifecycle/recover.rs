//! Recovering a lost service from a copy of its ledger (CCF's `Recover` start): the
//! public domain is replayed and verified with no secret, a new service identity takes
//! over (endorsing the previous one), and governance opens in `Recovering`. The private
//! state stays locked until members submit enough recovery shares (see `recovery`).

use std::{net::SocketAddr, sync::Arc};

use consort_crypto::cert::{self, Certificate, Sans};
use consort_kv::{LedgerSecret, Tx, TxId};
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
    attest, node_info, read_text, sans,
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
    // Attest first: a misconfigured platform fails before the replay.
    let own = attest::own_evidence(config, &node.key.public_key_der())?;
    let secret = LedgerSecret::generate()?;
    let raw = Zeroizing::new(*secret.raw());
    let store = super::new_store(config);
    tracing::info!(
        "recovery: replaying and verifying the public ledger in {}",
        jc.dir.display()
    );
    let opened = match super::snapshots::latest_snapshot(&config.snapshot_dir()) {
        Some((name, seqno)) => {
            let path = config.snapshot_dir().join(&name);
            tracing::info!("recovery: starting from snapshot {name} (seqno {seqno})");
            let kept = config.snapshot_dir().join(super::snapshots::RECOVERED_FROM);
            std::fs::copy(&path, &kept).map_err(NodeError::io(&kept))?;
            Journal::open_for_recovery_from_snapshot(jc, store, node.clone(), secret, &path)
        }
        None => Journal::open_for_recovery(jc, store, node.clone(), secret),
    };
    let (journal, report) = opened.map_err(|e| {
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
    let epoch_end = report
        .last_signature
        .ok_or_else(|| NodeError::Config("the ledger holds no signature".into()))?;
    record_recovery(
        &mut tx,
        &service,
        &previous,
        (create_txid, epoch_end),
        &report.last_signed_root,
    )?;
    retire_previous_nodes(&mut tx)?;
    record_node(&mut tx, config, &node, n2n_addr, own)?;
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

/// This node in the recovering service: trusted, endorsed, attested — its code allowed
/// to join, as at genesis, if its platform is one the service accepts.
fn record_node(
    tx: &mut Tx,
    config: &NodeConfig,
    node: &NodeIdentity,
    n2n_addr: SocketAddr,
    own: attest::Own,
) -> Result<(), NodeError> {
    let (evidence, claims) = (&own.evidence, &own.claims);
    let mut info = node_info(
        node.public_key_pem(),
        n2n_addr,
        config.rpc_address,
        NodeStatus::Trusted,
    );
    attest::record(&mut info, evidence, claims);
    use consort_attestation::Format;
    use consort_service::attestation::{allows_any, requires_hardware};
    if claims.insecure && requires_hardware(tx)? {
        return Err(NodeError::Config(format!(
            "the service requires hardware attestation; this node attests on the {} platform",
            evidence.format
        )));
    }
    // A service whose policy names code only on another platform is not silently
    // widened to this one's (a service from before attestation names none: allowed).
    let other = match evidence.format {
        Format::AmdSevSnpV1 => Format::InsecureVirtual,
        Format::InsecureVirtual => Format::AmdSevSnpV1,
    };
    if !allows_any(tx, evidence.format)? && allows_any(tx, other)? {
        return Err(NodeError::Config(format!(
            "the service allows only {other} code to join; this node attests on the {} platform",
            evidence.format
        )));
    }
    consort_service::attestation::allow(tx, claims, &own.security_policy)?;
    nodes::INFO.put(tx, &node.node_id, &info);
    nodes::ENDORSED_CERTIFICATES.put(tx, &node.node_id, &node.cert.to_pem());
    Ok(())
}

/// The new service record (`Recovering`), the previous identity, endorsed.
fn record_recovery(
    tx: &mut Tx,
    service: &ServiceIdentity,
    previous: &ServiceInfo,
    (create_txid, epoch_end): (TxId, TxId),
    last_signed_root: &consort_crypto::Sha256Digest,
) -> Result<(), NodeError> {
    let previous_version = tx.get_version(service::INFO.name(), &consort_service::SINGLETON_KEY);
    let endorsement_version = tx.get_version(
        tables::PREVIOUS_IDENTITY_ENDORSEMENT.name(),
        &consort_service::SINGLETON_KEY,
    );
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
    let epoch_begin = previous
        .current_service_create_txid
        .clone()
        .unwrap_or_else(|| "0.1".into());
    tables::PREVIOUS_IDENTITY_ENDORSEMENT.put(
        tx,
        &cose_endorsement(
            service,
            &old,
            &epoch_begin,
            epoch_end,
            last_signed_root,
            endorsement_version,
        )?,
    );
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

/// CCF's `previous_service_identity_endorsement`: a COSE Sign1 by the new service key over
/// the previous service's DER public key, with the previous service's epoch (first and
/// last transaction) and the Merkle root of its last signature in the `ccf.v1` header.
fn cose_endorsement(
    service: &ServiceIdentity,
    previous: &Certificate,
    epoch_begin: &str,
    epoch_end: TxId,
    last_signed_root: &consort_crypto::Sha256Digest,
    previous_version: Option<u64>,
) -> Result<tables::CoseEndorsement, NodeError> {
    use base64::Engine;
    use coset::{
        cbor::value::Value, iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable,
    };
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let ccf = Value::Map(vec![
        (
            Value::Text("epoch.start.txid".into()),
            Value::Text(epoch_begin.into()),
        ),
        (
            Value::Text("epoch.end.txid".into()),
            Value::Text(epoch_end.to_string()),
        ),
        (
            Value::Text("epoch.end.merkle.root".into()),
            Value::Bytes(last_signed_root.as_bytes().to_vec()),
        ),
    ]);
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES384)
        .value(
            15,
            Value::Map(vec![(Value::Integer(6.into()), Value::Integer(iat.into()))]),
        )
        .text_value("ccf.v1".into(), ccf)
        .build();
    let mut err = None;
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .payload(previous.public_key_der())
        .create_signature(b"", |data| {
            service.key.sign_es384(data).unwrap_or_else(|e| {
                err = Some(e);
                Vec::new()
            })
        })
        .build();
    if let Some(e) = err {
        return Err(e.into());
    }
    let bytes = sign1
        .to_tagged_vec()
        .map_err(|e| NodeError::Config(format!("COSE endorsement: {e}")))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(tables::CoseEndorsement {
        endorsement: b64.encode(bytes),
        endorsing_key: b64.encode(service.cert.public_key_der()),
        endorsement_epoch_begin: epoch_begin.to_string(),
        endorsement_epoch_end: Some(epoch_end.to_string()),
        previous_version,
    })
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
