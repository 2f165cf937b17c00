//! Node lifecycle: create a new service or restart from the ledger; background signatures.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use consort_crypto::{
    cert::{Certificate, Sans},
    keys::SigningKey,
};
use consort_kv::{LedgerSecret, LedgerSecrets, Store};
use consort_ledger::{
    identity::{NodeIdentity, ServiceIdentity},
    tables, Journal, JournalConfig,
};

use crate::{
    config::NodeConfig,
    files::{write_private, write_public},
    framework::Registry,
    gov_tables,
    metrics::Metrics,
    seal::{read_sealed, write_sealed, SealedState, Sealer, VirtualSealer},
    NodeError,
};

/// Everything handlers can reach.
#[derive(Debug)]
pub struct NodeState {
    pub config: NodeConfig,
    pub journal: Arc<Journal>,
    pub node: Arc<NodeIdentity>,
    pub service_cert: Certificate,
    pub registry: Registry,
    pub metrics: Metrics,
    pub started_at: Instant,
    /// Last seqno recovered from the ledger at start (0 for a new service).
    pub startup_seqno: u64,
    stop: Arc<AtomicBool>,
}

/// Files a node keeps in its data directory.
#[derive(Debug)]
pub struct DataFiles {
    pub node_key: PathBuf,
    pub node_cert: PathBuf,
    pub service_cert: PathBuf,
    pub sealed: PathBuf,
}

impl DataFiles {
    pub fn new(dir: &Path) -> Self {
        Self {
            node_key: dir.join("node_privk.pem"),
            node_cert: dir.join("node_cert.pem"),
            service_cert: dir.join("service_cert.pem"),
            sealed: dir.join("sealed_secrets.bin"),
        }
    }
}

fn read_text(p: &Path) -> Result<String, NodeError> {
    std::fs::read_to_string(p).map_err(NodeError::io(p))
}

fn sans(config: &NodeConfig) -> Sans {
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

impl NodeState {
    /// Start a node: create a new service if the ledger directory is empty, otherwise
    /// restart from it (unsealing the secrets written at creation).
    pub fn start(config: NodeConfig, registry: Registry) -> Result<Arc<Self>, NodeError> {
        std::fs::create_dir_all(&config.data_dir).map_err(NodeError::io(&config.data_dir))?;
        let files = DataFiles::new(&config.data_dir);
        let ledger_dir = config.ledger_dir();
        let has_ledger = std::fs::read_dir(&ledger_dir)
            .map(|mut d| {
                d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("ledger_")))
            })
            .unwrap_or(false);
        let mut jc = JournalConfig::new(&ledger_dir);
        jc.chunk_threshold = config.ledger_chunk_bytes;
        jc.sig_tx_interval = config.signature_tx_interval.max(1);
        jc.sig_ms_interval = config.signature_ms_interval.max(1);
        let store = Arc::new(Store::new());

        let (journal, node, service_cert, startup_seqno) = if has_ledger {
            if !files.sealed.exists() || !files.node_key.exists() {
                return Err(NodeError::Config(format!(
                    "{} holds a ledger but {} has no sealed secrets/node key: recovering a service from its ledger alone needs the members' recovery shares (not yet supported)",
                    ledger_dir.display(),
                    config.data_dir.display()
                )));
            }
            let key = SigningKey::from_pem(&read_text(&files.node_key)?)?;
            let sealer = VirtualSealer::new(&key)?;
            let sealed = read_sealed(&files.sealed, &sealer)?;
            let mut secrets = LedgerSecrets::default();
            for (from, raw) in &sealed.ledger_secrets {
                let mut b = [0u8; 32];
                hex::decode_to_slice(raw, &mut b)
                    .map_err(|_| NodeError::Seal("bad ledger secret".into()))?;
                secrets.add(*from, LedgerSecret::from_raw(b)?);
            }
            let node_cert = Certificate::from_pem(&read_text(&files.node_cert)?)?;
            let node = Arc::new(NodeIdentity::from_parts(key, node_cert)?);
            let service_cert = Certificate::from_pem(&read_text(&files.service_cert)?)?;
            let (journal, report) = Journal::open(jc, store, node.clone(), secrets)?;
            // The identity files must be the ones the (verified) ledger records.
            let recorded = journal
                .store()
                .snapshot()
                .get(tables::SERVICE_INFO, &tables::SINGLETON_KEY)
                .and_then(|v| serde_json::from_slice::<tables::ServiceInfo>(&v).ok())
                .and_then(|i| Certificate::from_pem(&i.cert).ok());
            if recorded.as_ref() != Some(&service_cert) {
                return Err(NodeError::Config(format!(
                    "{} is not the service identity recorded in the ledger",
                    files.service_cert.display()
                )));
            }
            node.cert.verify_issued_by(&service_cert)?;
            tracing::info!(
                replayed = report.replayed,
                rolled_back = report.rolled_back,
                "restarted from ledger; last signature {:?}",
                report.last_signature
            );
            let seq = report.last_signature.map_or(0, |t| t.seqno);
            (journal, node, service_cert, seq)
        } else {
            let service = ServiceIdentity::generate()?;
            let node = Arc::new(NodeIdentity::generate(&service, &sans(&config))?);
            let secret = LedgerSecret::generate()?;
            let sealed = SealedState {
                service_key: hex::encode(service.key.pkcs8_der()),
                ledger_secrets: vec![(1, hex::encode(secret.raw()))],
            };
            write_private(&files.node_key, node.key.to_pem().as_bytes())?;
            write_sealed(
                &files.sealed,
                &VirtualSealer::new(&node.key)? as &dyn Sealer,
                &sealed,
            )?;
            write_public(&files.node_cert, node.cert.to_pem().as_bytes())?;
            write_public(&files.service_cert, service.cert.to_pem().as_bytes())?;
            let journal = Journal::create(jc, store, node.clone(), LedgerSecrets::single(secret))?;
            journal.bootstrap_service(&service.cert)?;
            let mut tx = journal.begin();
            for m in &config.members {
                let cert = Certificate::from_pem(&read_text(&m.certificate_file)?)?;
                let enc = m
                    .encryption_public_key_file
                    .as_deref()
                    .map(read_text)
                    .transpose()?;
                gov_tables::add_member(&mut tx, &cert, enc.as_deref(), &m.data);
            }
            for u in &config.users {
                let cert = Certificate::from_pem(&read_text(&u.certificate_file)?)?;
                gov_tables::add_user(&mut tx, &cert, &u.data);
            }
            for j in &config.jwt_issuers {
                let jwks: serde_json::Value = serde_json::from_str(&read_text(&j.jwks_file)?)
                    .map_err(|e| NodeError::Config(format!("{}: {e}", j.jwks_file.display())))?;
                gov_tables::set_jwt_issuer(&mut tx, &j.issuer, &jwks)
                    .map_err(|e| NodeError::Config(format!("{}: {e}", j.jwks_file.display())))?;
            }
            journal.commit(tx)?;
            journal.sign()?;
            if config.open_service {
                journal.open_service()?;
            }
            (journal, node, service.cert, 0)
        };
        let state = Arc::new(Self {
            config,
            journal: Arc::new(journal),
            node,
            service_cert,
            registry,
            metrics: Metrics::new(),
            started_at: Instant::now(),
            startup_seqno,
            stop: Arc::new(AtomicBool::new(false)),
        });
        state.spawn_signer();
        Ok(state)
    }

    /// Background thread: time-based signatures (`signature_ms_interval`).
    fn spawn_signer(self: &Arc<Self>) {
        let journal = self.journal.clone();
        let stop = self.stop.clone();
        let period = Duration::from_millis((self.config.signature_ms_interval / 4).clamp(1, 250));
        let snapshot_every = self.config.snapshot_tx_interval;
        let snapshot_dir = self.config.snapshot_dir();
        std::thread::Builder::new()
            .name("consort-signer".into())
            .spawn(move || {
                let mut last_snapshot = journal.committed().seqno;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(period);
                    if let Err(e) = journal.tick(Instant::now()) {
                        tracing::error!("signature failed: {e}");
                    }
                    let committed = journal.committed().seqno;
                    if snapshot_every > 0 && committed >= last_snapshot + snapshot_every {
                        // Snapshots are taken at the commit point; if writes are in flight
                        // this fails harmlessly and is retried on a later tick.
                        match journal.write_snapshot(&snapshot_dir) {
                            Ok(p) => {
                                tracing::info!("snapshot written: {}", p.display());
                                last_snapshot = committed;
                            }
                            Err(e) => tracing::debug!("snapshot deferred: {e}"),
                        }
                    }
                }
            })
            .expect("spawn signer thread");
    }

    /// Stop background work and flush the ledger.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Err(e) = self.journal.flush() {
            tracing::error!("flush on shutdown failed: {e}");
        }
    }

    /// Current size of the ledger directory in bytes.
    pub fn ledger_size(&self) -> u64 {
        std::fs::read_dir(self.config.ledger_dir())
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}
