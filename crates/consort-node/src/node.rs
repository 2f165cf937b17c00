//! The node: a journal (from `lifecycle`) run as a replica (`replica`) of the service's
//! network (`net`), serving the applications' and its own frontends (`frontends`) over
//! HTTPS (`http`). [`NodeState`] is the composition root; handlers never see it — they get
//! the narrow context of `consort-endpoints`, through [`NodeState`]'s [`Host`] impl.

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use consort_crypto::cert::Certificate;
use consort_endpoints::{
    execute::{Host, SubmitError},
    ApiError, GovEffects, LedgerView, NodeView, Registry,
};
use consort_kv::{CommitOutcome, KvError, Tx, Version};
use consort_ledger::{
    identity::{NodeIdentity, ServiceIdentity},
    storage::{DiskStorage, Storage},
    Journal, JournalConfig, LedgerError,
};

use crate::{
    fatal::FatalLatch,
    frontends,
    lifecycle::{self, Boot, DataFiles, NodeConfig},
    metrics::Metrics,
    net::cluster::{recorded_addresses, Cluster, ConsensusView},
    replica::{Replica, ReplicaError, ReplicaOptions},
    NodeError,
};

/// A running node.
#[derive(Debug)]
pub struct NodeState {
    pub(crate) config: NodeConfig,
    pub(crate) journal: Arc<Journal>,
    pub(crate) node: Arc<NodeIdentity>,
    pub(crate) service_cert: Certificate,
    /// Every endpoint: the applications' and the node's own frontends.
    pub(crate) registry: Registry,
    pub(crate) metrics: Arc<Metrics>,
    /// This node on the service's network.
    pub(crate) cluster: Arc<Cluster>,
    /// Where other nodes reach this one.
    pub(crate) node_to_node_address: SocketAddr,
    /// Tripped by a fatal error: the node stops.
    pub(crate) fatal: FatalLatch,
    /// Governance's effects on this node (rekey, recovery shares, opening).
    pub(crate) effects: crate::recovery::effects::NodeEffects,
    /// The application frontend serves: the service is open and this node's private
    /// state complete (not yet during a recovery).
    pub(crate) app_open: Arc<std::sync::atomic::AtomicBool>,
    /// Seal this node's secrets again (after a recovery unlocked the old ledger secrets).
    pub(crate) reseal: Reseal,
}

/// What a node shows outside this crate (the CLI, tests): read-only views.
impl NodeState {
    /// The last committed transaction.
    pub fn committed(&self) -> consort_kv::TxId {
        self.journal.committed()
    }

    /// A snapshot of the committed and applied state.
    pub fn snapshot(&self) -> consort_kv::Snapshot {
        self.journal.store().snapshot()
    }

    /// The service identity this node serves under.
    pub fn service_cert(&self) -> &Certificate {
        &self.service_cert
    }

    /// Every endpoint this node serves.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// This node's id (hex SHA-256 of its DER public key).
    pub fn node_id(&self) -> &str {
        &self.node.node_id
    }

    /// Where other nodes reach this one.
    pub fn node_to_node_address(&self) -> SocketAddr {
        self.node_to_node_address
    }
}

/// Seals a node's secrets again, with every ledger secret its journal holds.
#[allow(clippy::type_complexity)]
pub(crate) struct Reseal(pub(crate) Box<dyn Fn(&Journal) -> Result<(), NodeError> + Send + Sync>);

impl std::fmt::Debug for Reseal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reseal")
    }
}

/// How a node runs: what stops it, and where its ledger lives.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Tripped by a fatal error (default: the process exits).
    pub fatal: FatalLatch,
    /// The ledger's files (default: the real filesystem; tests inject faults here).
    pub storage: Arc<dyn Storage>,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            fatal: FatalLatch::exit_process(),
            storage: DiskStorage::shared(),
        }
    }
}

fn journal_config(config: &NodeConfig, storage: &Arc<dyn Storage>) -> JournalConfig {
    let mut jc = JournalConfig::new(config.ledger_dir());
    jc.storage = storage.clone();
    jc.chunk_threshold = config.ledger_chunk_bytes;
    jc.sig_tx_interval = config.signature_tx_interval.max(1);
    jc.sig_ms_interval = config.signature_ms_interval.max(1);
    jc.commit_on_signature = false;
    jc
}

/// Whether this node has a ledger to restart from: chunk files, or the snapshot it
/// joined from (its ledger may hold no entry yet).
fn has_ledger(config: &NodeConfig, storage: &dyn Storage) -> bool {
    storage
        .list_dir(&config.ledger_dir())
        .map(|names| names.iter().any(|n| n.starts_with("ledger_")))
        .unwrap_or(false)
        || storage.exists(
            &config
                .snapshot_dir()
                .join(lifecycle::snapshots::JOINED_FROM),
        )
}

/// The node-to-node listener: (listener, published address, source IP for dialling).
fn n2n_listener(
    config: &NodeConfig,
) -> Result<(std::net::TcpListener, SocketAddr, Option<std::net::IpAddr>), NodeError> {
    let bind = config
        .node_to_node_address
        .unwrap_or_else(|| SocketAddr::new(config.rpc_address.ip(), 0));
    let listener = std::net::TcpListener::bind(bind)
        .map_err(|e| NodeError::Config(format!("cannot listen on {bind}: {e}")))?;
    let bound = listener.local_addr().map_err(NodeError::io("n2n"))?;
    let published = config
        .node_to_node_published_address
        .unwrap_or_else(|| lifecycle::published(bound));
    listener
        .set_nonblocking(true)
        .map_err(NodeError::io("n2n"))?;
    Ok((
        listener,
        published,
        Some(bound.ip()).filter(|ip| !ip.is_unspecified()),
    ))
}

/// What `start_cluster` takes from a [`Boot`].
struct Booted<'a> {
    journal: &'a Arc<Journal>,
    node: &'a NodeIdentity,
    service_cert: &'a Certificate,
    members: Vec<consort_consensus::NodeId>,
    addresses: std::collections::HashMap<consort_consensus::NodeId, SocketAddr>,
}

/// The replica over the booted journal, on the network.
fn start_cluster(
    config: &NodeConfig,
    files: &DataFiles,
    boot: Booted<'_>,
    listener: std::net::TcpListener,
    source_ip: Option<std::net::IpAddr>,
    fatal: FatalLatch,
) -> Result<Arc<Cluster>, NodeError> {
    let journal = boot.journal;
    let mut seed = [0u8; 8];
    consort_crypto::random_bytes(&mut seed)?;
    let opts = ReplicaOptions {
        vote_file: Some(files.vote.clone()),
        snapshot_every: config.snapshot_tx_interval,
        snapshot_dir: Some(config.snapshot_dir()),
        election_timeout_ms: Some((config.election_timeout_ms, 2 * config.election_timeout_ms)),
        heartbeat_ms: Some(config.heartbeat_ms),
        retain_committed: None,
    };
    let replica = Replica::with_options(
        journal.clone(),
        boot.members,
        opts,
        u64::from_le_bytes(seed),
        0,
    )?;
    let mut book = boot.addresses;
    book.extend(recorded_addresses(journal));
    let listener = tokio::net::TcpListener::from_std(listener).map_err(NodeError::io("n2n"))?;
    Cluster::start(
        replica,
        boot.node,
        boot.service_cert,
        listener,
        Arc::new(std::sync::Mutex::new(book)),
        Duration::from_millis(5),
        source_ip,
        fatal,
    )
}

impl NodeState {
    /// Start a node: restart from the ledger if there is one, else join the service named
    /// by `config.join`, else create a new service; `apps` are the applications' endpoints
    /// and hooks. A fatal error ends the process. Must run where a tokio runtime is current
    /// (e.g. in `spawn_blocking`).
    pub fn start(config: NodeConfig, apps: Registry) -> Result<Arc<Self>, NodeError> {
        Self::start_with(config, apps, StartOptions::default())
    }

    /// [`NodeState::start`] with the given fatal-error handling and ledger storage.
    pub fn start_with(
        config: NodeConfig,
        apps: Registry,
        opts: StartOptions,
    ) -> Result<Arc<Self>, NodeError> {
        let StartOptions { fatal, storage } = opts;
        std::fs::create_dir_all(&config.data_dir).map_err(NodeError::io(&config.data_dir))?;
        let files = DataFiles::new(&config.data_dir);
        let jc = journal_config(&config, &storage);
        let (listener, n2n_addr, source_ip) = n2n_listener(&config)?;
        let boot = if config.recover {
            if !has_ledger(&config, &*storage) {
                return Err(NodeError::Config(format!(
                    "recovering needs a copy of the service's ledger in {}",
                    config.ledger_dir().display()
                )));
            }
            lifecycle::recover::recover(&config, &files, jc, n2n_addr)?
        } else if has_ledger(&config, &*storage) {
            lifecycle::restart::restart(&config, &files, jc)?
        } else if config.join.is_some() {
            lifecycle::join::join(&config, &files, jc, n2n_addr)?
        } else {
            lifecycle::create::create(&config, &files, jc, n2n_addr, &apps)?
        };
        let Boot {
            journal,
            node,
            service_cert,
            secrets,
            members,
            startup_seqno,
            addresses,
        } = boot;
        let journal = Arc::new(journal);
        let booted = Booted {
            journal: &journal,
            node: &node,
            service_cert: &service_cert,
            members,
            addresses,
        };
        let cluster = start_cluster(&config, &files, booted, listener, source_ip, fatal.clone())?;
        let metrics = Arc::new(Metrics::new());
        let service = ServiceIdentity::from_parts(
            consort_crypto::keys::SigningKey::from_pkcs8_der(secrets.service_key.pkcs8_der())?,
            service_cert.clone(),
        )?;
        let app_open = Arc::new(std::sync::atomic::AtomicBool::new(
            journal.private_missing_below().is_none()
                && consort_service::service::INFO
                    .get(&mut journal.store().snapshot())?
                    .is_some_and(|i| i.status == consort_service::service::ServiceStatus::Open),
        ));
        let node_frontend = Arc::new(frontends::node::NodeFrontend {
            app_open: app_open.clone(),
            startup_seqno,
            consensus: cluster.clone() as Arc<dyn ConsensusView>,
            metrics: metrics.clone(),
            ledger_dir: config.ledger_dir(),
            registry: OnceLock::new(),
        });
        let join = Arc::new(frontends::join::JoinService {
            auto_trust: config.auto_trust_joiners,
            join_token: config.join_token.clone(),
            service,
            journal: journal.clone(),
        });
        let file_service = Arc::new(frontends::files::FileService {
            snapshot_dir: config.snapshot_dir(),
            ledger_dir: config.ledger_dir(),
            node_id: node.node_id.clone(),
        });
        let registry = frontends::registry(apps, node_frontend, join, file_service);
        let reseal = resealer(files, node.clone(), service_cert.clone(), &secrets)?;
        let effects = crate::recovery::effects::NodeEffects {
            journal: journal.clone(),
        };
        let state = Arc::new(Self {
            config,
            journal,
            node,
            service_cert,
            registry,
            metrics,
            cluster,
            node_to_node_address: n2n_addr,
            fatal,
            effects,
            app_open,
            reseal,
        });
        crate::recovery::runtime::spawn(&state);
        Ok(state)
    }

    /// Whether the application frontend serves (see [`NodeState::app_open`]).
    pub fn app_frontend_open(&self) -> bool {
        self.app_open.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether this node is the primary now (no lock taken).
    pub fn is_primary(&self) -> bool {
        self.cluster.is_primary()
    }

    /// The node id (hex) of the primary this node knows of.
    pub fn primary_node_id(&self) -> Option<String> {
        self.cluster.primary_node_id()
    }

    /// Stop background work and flush the ledger.
    pub fn shutdown(&self) {
        self.cluster.stop();
        if let Err(e) = self.journal.flush() {
            tracing::error!("flush on shutdown failed: {e}");
        }
    }
}

impl NodeView for NodeState {
    fn node_id(&self) -> &str {
        &self.node.node_id
    }
    fn service_cert(&self) -> &Certificate {
        &self.service_cert
    }
}

/// What seals this node's secrets again: its identity, the service key and every ledger
/// secret the journal holds then.
fn resealer(
    files: DataFiles,
    node: Arc<NodeIdentity>,
    service_cert: Certificate,
    secrets: &lifecycle::NetworkSecrets,
) -> Result<Reseal, NodeError> {
    let key = zeroize::Zeroizing::new(secrets.service_key.pkcs8_der().to_vec());
    Ok(Reseal(Box::new(move |journal: &Journal| {
        let all = lifecycle::NetworkSecrets {
            service_key: consort_crypto::keys::SigningKey::from_pkcs8_der(&key)?,
            ledger_secrets: journal
                .export_secrets()
                .into_iter()
                .map(|(v, s)| (v, zeroize::Zeroizing::new(s)))
                .collect(),
        };
        files.write_identity(&node, &service_cert, &all)
    })))
}

/// A transaction that changes which nodes are trusted changes consensus membership: one
/// node at a time, and only once the previous change has committed.
fn check_membership_change(node: &NodeState, tx: &mut Tx) -> Result<(), ApiError> {
    use consort_service::nodes::{self, NodeStatus};
    if !tx.write_set().maps.contains_key(nodes::INFO.name()) {
        return Ok(());
    }
    let corrupt = |e: KvError| ApiError::internal(format!("nodes table: {e}"));
    // Against the state this transaction read, not the latest: a join that commits while
    // another is in flight is not a change of two (that one retries once it conflicts, or
    // waits for the first change to settle).
    let store = node.journal.store();
    let mut base = store
        .snapshot_at(tx.read_version())
        .unwrap_or_else(|_| store.snapshot());
    let before: std::collections::BTreeSet<String> =
        nodes::with_status(&mut base, NodeStatus::Trusted)
            .map_err(corrupt)?
            .into_iter()
            .collect();
    let after: std::collections::BTreeSet<String> = nodes::with_status(tx, NodeStatus::Trusted)
        .map_err(corrupt)?
        .into_iter()
        .collect();
    let changed = before.symmetric_difference(&after).count();
    if changed > 1 {
        return Err(ApiError::bad_request(
            "MembershipChangeTooLarge",
            format!(
                "This would change {changed} trusted nodes at once; change one node at a time."
            ),
        ));
    }
    if changed == 1 && !node.cluster.with(|r| r.membership_settled()) {
        return Err(ApiError::unavailable(
            "MembershipChangeInProgress",
            "The previous change of the service's nodes has not committed yet; retry.",
        ));
    }
    Ok(())
}

impl crate::recovery::runtime::RecoveryHost for NodeState {
    fn journal(&self) -> &Journal {
        &self.journal
    }
    fn stopped(&self) -> bool {
        self.cluster.is_stopped()
    }
    fn trip(&self, e: &NodeError) {
        self.fatal.trip(e);
    }
    fn is_primary(&self) -> bool {
        NodeState::is_primary(self)
    }
    fn open_app_frontend(&self) {
        self.app_open
            .store(true, std::sync::atomic::Ordering::Release);
    }
    fn reseal(&self) -> Result<(), NodeError> {
        (self.reseal.0)(&self.journal)
    }
}

impl Host for NodeState {
    fn begin(&self) -> Tx {
        self.journal.begin()
    }

    fn begin_at(&self, version: Version) -> Result<Tx, KvError> {
        self.journal.store().begin_at(version)
    }

    fn submit(&self, mut tx: Tx) -> Result<CommitOutcome, SubmitError> {
        check_membership_change(self, &mut tx).map_err(SubmitError::Refused)?;
        match self.cluster.submit(tx) {
            Ok(o) => Ok(o),
            Err(ReplicaError::Ledger(LedgerError::Kv(KvError::Conflict { .. }))) => {
                Err(SubmitError::Conflict)
            }
            Err(ReplicaError::NotPrimary(_)) => Err(SubmitError::NotPrimary),
            Err(e @ ReplicaError::Stopped) => Err(SubmitError::Fatal(e.to_string())),
            Err(e) if e.is_fatal() => {
                self.fatal.trip(&e);
                Err(SubmitError::Fatal(e.to_string()))
            }
            Err(e) => Err(SubmitError::Refused(ApiError::internal(format!(
                "The transaction could not be committed: {e}"
            )))),
        }
    }

    fn ledger(&self) -> &dyn LedgerView {
        &*self.journal
    }

    fn gov(&self) -> &dyn GovEffects {
        &self.effects
    }

    fn node(&self) -> &dyn NodeView {
        self
    }

    fn on_conflict(&self) {
        self.metrics.conflicts.inc();
    }

    fn on_committed(&self, elapsed: Duration) {
        self.metrics.observe_commit(elapsed);
    }
}
