//! Node lifecycle: create a new service, join one, or restart from the ledger; then run as a
//! replica of the service's network (a new service is a network of one).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use consort_consensus::NodeId;
use consort_crypto::{
    cert::{Certificate, Sans},
    keys::SigningKey,
};
use consort_kv::{LedgerSecret, LedgerSecrets, Store};
use consort_ledger::{
    identity::{NodeIdentity, ServiceIdentity},
    tables::{self, NetInterface, NodeInfo},
    Journal, JournalConfig,
};
use zeroize::Zeroizing;

use crate::{
    cluster::{recorded_addresses, Cluster},
    config::NodeConfig,
    files::{write_private, write_public},
    framework::Registry,
    gov_tables, join,
    metrics::Metrics,
    replica::{raft_id, Replica, ReplicaOptions},
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
    /// This node on the service's network.
    pub cluster: Arc<Cluster>,
    /// Where other nodes reach this one.
    pub node_to_node_address: SocketAddr,
    pub(crate) secrets: NetworkSecrets,
    stop: Arc<AtomicBool>,
}

/// What a trusted node holds and hands to nodes that join: the service identity key and
/// the ledger secrets.
pub(crate) struct NetworkSecrets {
    pub(crate) service_key: SigningKey,
    pub(crate) ledger_secrets: Vec<(u64, Zeroizing<[u8; 32]>)>,
}

impl std::fmt::Debug for NetworkSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NetworkSecrets(<redacted>)")
    }
}

impl NetworkSecrets {
    fn sealed(&self) -> SealedState {
        SealedState {
            service_key: hex::encode(self.service_key.pkcs8_der()),
            ledger_secrets: self
                .ledger_secrets
                .iter()
                .map(|(v, s)| (*v, hex::encode(&s[..])))
                .collect(),
        }
    }

    fn from_sealed(s: &SealedState) -> Result<Self, NodeError> {
        let key = Zeroizing::new(
            hex::decode(&s.service_key).map_err(|_| NodeError::Seal("bad service key".into()))?,
        );
        let mut ledger_secrets = Vec::new();
        for (from, raw) in &s.ledger_secrets {
            let mut b = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(raw, &mut b[..])
                .map_err(|_| NodeError::Seal("bad ledger secret".into()))?;
            ledger_secrets.push((*from, b));
        }
        Ok(Self {
            service_key: SigningKey::from_pkcs8_der(&key)?,
            ledger_secrets,
        })
    }

    fn ledger_secrets(&self) -> Result<LedgerSecrets, NodeError> {
        let mut out = LedgerSecrets::default();
        for (from, raw) in &self.ledger_secrets {
            out.add(*from, LedgerSecret::from_raw(**raw)?);
        }
        Ok(out)
    }
}

/// Files a node keeps in its data directory.
#[derive(Debug)]
pub struct DataFiles {
    pub node_key: PathBuf,
    pub node_cert: PathBuf,
    pub service_cert: PathBuf,
    pub sealed: PathBuf,
    pub vote: PathBuf,
}

impl DataFiles {
    pub fn new(dir: &Path) -> Self {
        Self {
            node_key: dir.join("node_privk.pem"),
            node_cert: dir.join("node_cert.pem"),
            service_cert: dir.join("service_cert.pem"),
            sealed: dir.join("sealed_secrets.bin"),
            vote: dir.join("consensus_vote.json"),
        }
    }

    /// Keep a node's identity and sealed secrets.
    pub(crate) fn write_identity(
        &self,
        node: &NodeIdentity,
        service_cert: &Certificate,
        secrets: &NetworkSecrets,
    ) -> Result<(), NodeError> {
        write_private(&self.node_key, node.key.to_pem().as_bytes())?;
        write_sealed(
            &self.sealed,
            &VirtualSealer::new(&node.key)? as &dyn Sealer,
            &secrets.sealed(),
        )?;
        write_public(&self.node_cert, node.cert.to_pem().as_bytes())?;
        write_public(&self.service_cert, service_cert.to_pem().as_bytes())
    }
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
    status: tables::NodeStatus,
) -> NodeInfo {
    let mut info = NodeInfo::trusted(public_key_pem);
    info.status = status;
    info.node_to_node_interface = Some(NetInterface {
        bind_address: n2n.to_string(),
        published_address: published(n2n).to_string(),
    });
    info.rpc_interfaces.insert(
        tables::PRIMARY_RPC_INTERFACE.into(),
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

impl NodeState {
    /// Start a node: restart from the ledger if there is one, else join the service named
    /// by `config.join`, else create a new service. Must run where a tokio runtime is
    /// current (e.g. in `spawn_blocking`).
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
        jc.commit_on_signature = false;

        let n2n_bind = config
            .node_to_node_address
            .unwrap_or_else(|| SocketAddr::new(config.rpc_address.ip(), 0));
        let n2n_listener = std::net::TcpListener::bind(n2n_bind)
            .map_err(|e| NodeError::Config(format!("cannot listen on {n2n_bind}: {e}")))?;
        let n2n_bound = n2n_listener.local_addr().map_err(NodeError::io("n2n"))?;
        let n2n_addr = config
            .node_to_node_published_address
            .unwrap_or_else(|| published(n2n_bound));
        let source_ip = Some(n2n_bound.ip()).filter(|ip| !ip.is_unspecified());

        let boot = if has_ledger {
            restart(&config, &files, jc)?
        } else if config.join.is_some() {
            join::join(&config, &files, jc, n2n_addr)?
        } else {
            create(&config, &files, jc, n2n_addr, &registry)?
        };
        let Boot {
            journal,
            node,
            service_cert,
            secrets,
            members,
            startup_seqno,
            addresses: known_addresses,
        } = boot;
        let journal = Arc::new(journal);
        let mut seed = [0u8; 8];
        consort_crypto::random_bytes(&mut seed)?;
        let opts = ReplicaOptions {
            vote_file: Some(files.vote.clone()),
            snapshot_every: config.snapshot_tx_interval,
            snapshot_dir: Some(config.snapshot_dir()),
            election_timeout_ms: Some((config.election_timeout_ms, 2 * config.election_timeout_ms)),
            heartbeat_ms: Some(config.heartbeat_ms),
        };
        let replica =
            Replica::with_options(journal.clone(), members, opts, u64::from_le_bytes(seed), 0)?;
        let mut book = known_addresses;
        book.extend(recorded_addresses(&journal));
        let addresses = Arc::new(std::sync::Mutex::new(book));
        n2n_listener
            .set_nonblocking(true)
            .map_err(NodeError::io("n2n"))?;
        let listener =
            tokio::net::TcpListener::from_std(n2n_listener).map_err(NodeError::io("n2n"))?;
        let cluster = Cluster::start(
            replica,
            &node,
            &service_cert,
            listener,
            addresses,
            Duration::from_millis(5),
            source_ip,
        )?;
        let state = Arc::new(Self {
            config,
            journal,
            node,
            service_cert,
            registry,
            metrics: Metrics::new(),
            started_at: Instant::now(),
            startup_seqno,
            cluster,
            node_to_node_address: n2n_addr,
            secrets,
            stop: Arc::new(AtomicBool::new(false)),
        });
        let weak = Arc::downgrade(&state);
        state.cluster.set_forward_handler(Arc::new(move |req| {
            let weak = weak.clone();
            Box::pin(async move {
                match weak.upgrade() {
                    Some(s) => crate::server::run_forwarded(s, req).await,
                    None => crate::server::unavailable_reply("The node is stopping."),
                }
            })
        }));
        Ok(state)
    }

    /// What a newly trusted node receives (see [`crate::join`]).
    pub(crate) fn secrets_for_joiner(&self) -> SealedState {
        self.secrets.sealed()
    }

    /// Whether this node is the primary now.
    pub fn is_primary(&self) -> bool {
        self.cluster.with(|r| r.is_primary())
    }

    /// The node id (hex) of the primary this node knows of.
    pub fn primary_node_id(&self) -> Option<String> {
        let p = self.cluster.primary()?;
        self.journal
            .store()
            .snapshot()
            .entries(tables::NODES_INFO)
            .into_iter()
            .map(|(k, _, _)| String::from_utf8_lossy(&k).into_owned())
            .find(|id| raft_id(id) == p)
    }

    /// Stop background work and flush the ledger.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cluster.stop();
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

/// Restart from the ledger, unsealing the secrets kept at creation or join.
fn restart(config: &NodeConfig, files: &DataFiles, jc: JournalConfig) -> Result<Boot, NodeError> {
    let ledger_dir = config.ledger_dir();
    if !files.sealed.exists() || !files.node_key.exists() {
        return Err(NodeError::Config(format!(
            "{} holds a ledger but {} has no sealed secrets/node key: recovering a service from its ledger alone needs the members' recovery shares (not yet supported)",
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
    let store = Arc::new(Store::new());
    let joined_from = config.snapshot_dir().join(join::JOINED_FROM);
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
        return Ok(Boot {
            startup_seqno: journal.last_signature().unwrap_or(0),
            members: vec![raft_id(&node.node_id)],
            journal,
            node,
            service_cert,
            secrets,
            addresses: Default::default(),
        });
    }
    let (journal, report) = Journal::open(jc, store, node.clone(), secrets.ledger_secrets()?)?;
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
    ServiceIdentity::from_parts(
        SigningKey::from_pkcs8_der(secrets.service_key.pkcs8_der())?,
        service_cert.clone(),
    )?;
    tracing::info!(
        replayed = report.replayed,
        rolled_back = report.rolled_back,
        "restarted from ledger; last signature {:?}",
        report.last_signature
    );
    Ok(Boot {
        startup_seqno: report.last_signature.map_or(0, |t| t.seqno),
        members: vec![raft_id(&node.node_id)],
        journal,
        node,
        service_cert,
        secrets,
        addresses: Default::default(),
    })
}

/// Create a new service with this node as its first, trusted node.
fn create(
    config: &NodeConfig,
    files: &DataFiles,
    jc: JournalConfig,
    n2n_addr: SocketAddr,
    registry: &Registry,
) -> Result<Boot, NodeError> {
    let service = ServiceIdentity::generate()?;
    let node = Arc::new(NodeIdentity::generate(&service, &sans(config))?);
    let secret = LedgerSecret::generate()?;
    let secrets = NetworkSecrets {
        ledger_secrets: vec![(1, Zeroizing::new(*secret.raw()))],
        service_key: service.key,
    };
    files.write_identity(&node, &service.cert, &secrets)?;
    let store = Arc::new(Store::new());
    let journal = Journal::create(jc, store, node.clone(), LedgerSecrets::single(secret))?;
    journal.bootstrap_service(&service.cert)?;
    let mut tx = journal.begin();
    tx.put(
        tables::NODES_INFO,
        node.node_id.clone().into_bytes(),
        serde_json::to_vec(&node_info(
            node.public_key_pem(),
            n2n_addr,
            config.rpc_address,
            tables::NodeStatus::Trusted,
        ))
        .expect("json"),
    );
    let constitution = match &config.constitution_file {
        Some(f) => read_text(f)?,
        None => consort_governance::DEFAULT_CONSTITUTION.to_string(),
    };
    consort_governance::Engine::new(&constitution, Default::default())
        .map_err(|e| NodeError::Config(format!("the constitution does not load: {e}")))?;
    consort_governance::proposals::set_constitution(&mut tx, &constitution);
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
    registry.run_genesis(&mut tx);
    journal.commit(tx)?;
    journal.sign()?;
    if config.open_service {
        journal.open_service()?;
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
