//! A replica on the network: consensus messages and forwarded requests between nodes over
//! `n2n` channels.
//!
//! Inbound: an accept loop takes mutually authenticated connections; every frame must come
//! from the node its certificate names (the frame's sender id is checked against the
//! peer's certificate). Outbound: one queue and writer task per peer, reconnecting as
//! needed; a message that cannot be sent is dropped (consensus tolerates loss). A ticker
//! drives time and refreshes the address book from `public:ccf.gov.nodes.info`. The
//! replica sits behind a mutex shared with request handlers.
//!
//! Forwarding: a backup sends a write request (with the caller's TLS certificate) to the
//! primary as a `Forward` frame; the primary runs it through the same pipeline as its own
//! requests (the forward handler) and answers with a `ForwardReply` on its own channel.

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use consort_consensus::{Message, NodeId};
use consort_crypto::cert::Certificate;
use consort_kv::{CommitOutcome, Tx};
use consort_ledger::identity::NodeIdentity;
use serde::{Deserialize, Serialize};
use tokio::{
    net::TcpListener,
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use super::n2n;
use crate::{
    fatal::{lock, FatalLatch},
    replica::{raft_id, Outgoing, Replica, ReplicaError},
    NodeError,
};

/// Most requests forwarded at once from one node.
const MAX_FORWARDS: usize = 512;

/// Most frames queued for one peer; beyond this, frames are dropped.
const PEER_QUEUE: usize = 4096;

/// What a peer's writer sends: a frame, or a consensus message still to be filled with
/// entries read from the ledger (on the writer's side of the replica's lock, in order).
enum Queued {
    Frame(Bytes),
    Stored(Outgoing),
}

/// Where peers listen for node-to-node connections.
pub type AddressBook = Arc<Mutex<HashMap<NodeId, SocketAddr>>>;

/// A client request forwarded from a backup to the primary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardedRequest {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// DER of the caller's TLS client certificate (the backup checked possession).
    pub client_cert: Option<Vec<u8>>,
}

/// The primary's answer to a forwarded request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardedResponse {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Runs forwarded requests on this node.
pub type ForwardHandler = Arc<
    dyn Fn(ForwardedRequest) -> Pin<Box<dyn Future<Output = ForwardedResponse> + Send>>
        + Send
        + Sync,
>;

#[derive(Serialize, Deserialize)]
enum Frame {
    Raft {
        from: NodeId,
        msg: Message,
    },
    Forward {
        from: NodeId,
        id: u64,
        req: ForwardedRequest,
    },
    ForwardReply {
        from: NodeId,
        id: u64,
        resp: ForwardedResponse,
    },
}

impl Frame {
    fn from(&self) -> NodeId {
        match self {
            Frame::Raft { from, .. }
            | Frame::Forward { from, .. }
            | Frame::ForwardReply { from, .. } => *from,
        }
    }
}

/// Node-to-node addresses of the nodes recorded in `public:ccf.gov.nodes.info`.
pub fn recorded_addresses(journal: &consort_ledger::Journal) -> HashMap<NodeId, SocketAddr> {
    consort_service::nodes::all(&mut journal.store().snapshot())
        .unwrap_or_else(|e| panic!("the nodes table does not decode: {e}"))
        .into_iter()
        .filter_map(|(id, info)| Some((raft_id(&id), info.node_to_node_address()?)))
        .collect()
}

/// This node's view of consensus, as `/node/consensus` reports it.
#[derive(Debug, Clone)]
pub struct ConsensusStatus {
    pub role: String,
    pub view: u64,
    pub commit_seqno: u64,
    pub last_seqno: u64,
    pub members: usize,
}

/// Consensus as the node frontend sees it.
pub trait ConsensusView: Send + Sync {
    fn status(&self) -> ConsensusStatus;
    /// The node id (hex) of the primary this node knows of.
    fn primary_node_id(&self) -> Option<String>;
}

impl ConsensusView for Cluster {
    fn status(&self) -> ConsensusStatus {
        self.with(|r| ConsensusStatus {
            role: format!("{:?}", r.raft.role()),
            view: r.raft.view(),
            commit_seqno: r.commit_seqno(),
            last_seqno: r.raft.last_seqno(),
            members: r.raft.members().len(),
        })
    }
    fn primary_node_id(&self) -> Option<String> {
        let p = self.primary()?;
        consort_service::nodes::all(&mut self.journal.store().snapshot())
            .ok()?
            .into_iter()
            .map(|(id, _)| id)
            .find(|id| raft_id(id) == p)
    }
}

/// A networked replica.
pub struct Cluster {
    id: NodeId,
    replica: Arc<Mutex<Replica>>,
    peers: Mutex<HashMap<NodeId, mpsc::Sender<Queued>>>,
    addresses: AddressBook,
    connector: tokio_rustls::TlsConnector,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    started: Instant,
    forward_handler: OnceLock<ForwardHandler>,
    pending: Mutex<HashMap<u64, (NodeId, oneshot::Sender<ForwardedResponse>)>>,
    /// Nodes whose frames are accepted: the trusted nodes (refreshed from the ledger).
    allowed: Mutex<std::collections::HashSet<NodeId>>,
    /// Nodes no longer trusted, kept until the change that removed them commits (a
    /// retiring primary replicates its own removal): node → last seqno when noticed.
    leaving: Mutex<HashMap<NodeId, u64>>,
    /// Forwarded requests in flight from this node.
    forward_slots: tokio::sync::Semaphore,
    next_id: AtomicU64,
    /// Outbound connections leave from this address (the node-to-node interface's IP).
    source_ip: Option<std::net::IpAddr>,
    /// The replica's role and leader after its last step, read without its lock (every
    /// write asks whether this node is the primary).
    leader: AtomicU64,
    is_leader: AtomicBool,
    journal: Arc<consort_ledger::Journal>,
    fatal: FatalLatch,
    stopped: AtomicBool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cluster(node {})", self.id)
    }
}

impl Cluster {
    /// Start serving node-to-node connections on `listener` and ticking every `tick`. A
    /// fatal error in a consensus step trips `fatal` and stops the network.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        replica: Replica,
        node: &NodeIdentity,
        service_cert: &Certificate,
        listener: TcpListener,
        addresses: AddressBook,
        tick: Duration,
        source_ip: Option<std::net::IpAddr>,
        fatal: FatalLatch,
    ) -> Result<Arc<Self>, NodeError> {
        let acceptor = n2n::acceptor(node, service_cert)?;
        let journal = replica.journal.clone();
        let c = Arc::new(Self {
            id: replica.id(),
            replica: Arc::new(Mutex::new(replica)),
            peers: Mutex::new(HashMap::new()),
            addresses,
            connector: n2n::connector(node, service_cert)?,
            tasks: Mutex::new(Vec::new()),
            started: Instant::now(),
            forward_handler: OnceLock::new(),
            pending: Mutex::new(HashMap::new()),
            allowed: Mutex::new(Default::default()),
            leaving: Mutex::new(HashMap::new()),
            forward_slots: tokio::sync::Semaphore::new(MAX_FORWARDS),
            stopped: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            source_ip,
            leader: AtomicU64::new(0),
            is_leader: AtomicBool::new(false),
            journal,
            fatal,
        });
        c.note_status(&lock(&c.replica, "replica"));
        let me = c.clone();
        let accept = tokio::spawn(async move {
            // Handshakes run concurrently and are bounded in time and number, so a peer
            // that connects and stalls blocks nobody.
            let handshakes = Arc::new(tokio::sync::Semaphore::new(64));
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                    continue; // too many handshakes in progress: drop this one
                };
                let (reader_me, acceptor) = (me.clone(), acceptor.clone());
                let h = tokio::spawn(reader_me.serve_peer(tcp, acceptor, permit));
                me.tasks.lock().expect("cluster lock poisoned").push(h);
            }
        });
        let me = c.clone();
        let ticker = tokio::spawn(async move {
            let mut iv = tokio::time::interval(tick);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_refresh = Instant::now() - Duration::from_secs(1);
            loop {
                iv.tick().await;
                let now = me.started.elapsed().as_millis() as u64;
                let out = me.with_replica(|r| r.tick(now));
                me.dispatch(out);
                if last_refresh.elapsed() >= Duration::from_millis(100) {
                    last_refresh = Instant::now();
                    me.refresh_addresses();
                }
            }
        });
        c.tasks.lock().expect("fresh").extend([accept, ticker]);
        Ok(c)
    }

    /// One inbound node-to-node connection: the handshake (bounded in time; `permit`
    /// counts it among those in progress), then its frames, while the peer is a trusted
    /// node and every frame is from the node its certificate names.
    async fn serve_peer(
        self: Arc<Self>,
        tcp: tokio::net::TcpStream,
        acceptor: tokio_rustls::TlsAcceptor,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let hs = tokio::time::timeout(Duration::from_secs(5), n2n::handshake(tcp, &acceptor)).await;
        drop(permit);
        let Ok(Ok((peer, mut stream))) = hs else {
            return;
        };
        let peer_id = raft_id(&peer);
        while let Ok(Some(frame)) = n2n::read_frame(&mut stream).await {
            // Only nodes the service trusts take part (a retired node's certificate stays
            // endorsed, so the ledger decides).
            if !self.is_allowed(peer_id) {
                tracing::debug!("dropping frames from {peer}: not a trusted node");
                break;
            }
            let Ok(f) = postcard::from_bytes::<Frame>(&frame) else {
                break;
            };
            if f.from() != peer_id {
                tracing::warn!(
                    "dropping a frame claiming to be from {} on {peer}'s channel",
                    f.from()
                );
                break;
            }
            self.on_frame(f);
        }
    }

    /// Add the addresses recorded in the ledger to the address book (peers whose address
    /// changed get a fresh connection).
    /// Whether frames from `id` are accepted.
    fn is_allowed(&self, id: NodeId) -> bool {
        self.allowed
            .lock()
            .expect("cluster lock poisoned")
            .contains(&id)
    }

    fn refresh_addresses(&self) {
        let (recorded, trusted, members, last, committed) = self.with(|r| {
            (
                recorded_addresses(&r.journal),
                crate::replica::trusted_members(&r.journal),
                r.raft.members().to_vec(),
                r.journal.last_txid().seqno,
                r.commit_seqno(),
            )
        });
        {
            let mut allowed = self.allowed.lock().expect("cluster lock poisoned");
            let mut leaving = self.leaving.lock().expect("cluster lock poisoned");
            // Trusted nodes, and until this node's ledger names them (a joiner catching
            // up) the members it was given.
            let now: std::collections::HashSet<NodeId> =
                trusted.into_iter().chain(members).collect();
            for gone in allowed.difference(&now) {
                leaving.entry(*gone).or_insert(last);
            }
            leaving.retain(|id, at| !now.contains(id) && committed < *at);
            *allowed = now;
            allowed.extend(leaving.keys().copied());
        }
        let mut book = self.addresses.lock().expect("cluster lock poisoned");
        for (id, addr) in recorded {
            if id != self.id && book.get(&id) != Some(&addr) {
                book.insert(id, addr);
                self.peers
                    .lock()
                    .expect("cluster lock poisoned")
                    .remove(&id);
            }
        }
    }

    fn on_frame(self: &Arc<Self>, f: Frame) {
        match f {
            Frame::Raft { from, msg } => {
                let out = self.with_replica(|r| r.receive(from, msg));
                self.dispatch(out);
            }
            Frame::Forward { from, id, req } => {
                let Some(h) = self.forward_handler.get().cloned() else {
                    return;
                };
                let me = self.clone();
                tokio::spawn(async move {
                    let resp = h(req).await;
                    me.send_frame(
                        from,
                        &Frame::ForwardReply {
                            from: me.id,
                            id,
                            resp,
                        },
                    );
                });
            }
            Frame::ForwardReply { from, id, resp } => {
                let mut pending = self.pending.lock().expect("cluster lock poisoned");
                // Only the node the request went to may answer it.
                if pending.get(&id).is_some_and(|(to, _)| *to == from) {
                    if let Some((_, tx)) = pending.remove(&id) {
                        let _ = tx.send(resp);
                    }
                }
            }
        }
    }

    /// Set how forwarded requests are run on this node (once).
    pub fn set_forward_handler(&self, h: ForwardHandler) {
        let _ = self.forward_handler.set(h);
    }

    /// Send `req` to node `to` (the primary) and wait for its answer.
    pub async fn forward(
        &self,
        to: NodeId,
        req: ForwardedRequest,
        timeout: Duration,
    ) -> Option<ForwardedResponse> {
        // Bounded: a flood of writes to a backup must not crowd consensus messages out
        // of the channel to the primary.
        let _slot = self.forward_slots.try_acquire().ok()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .expect("cluster lock poisoned")
            .insert(id, (to, tx));
        self.send_frame(
            to,
            &Frame::Forward {
                from: self.id,
                id,
                req,
            },
        );
        // Give up early if `to` stops being the primary (it died or was deposed): the
        // caller learns at once that the outcome is unknown.
        let deadline = Instant::now() + timeout;
        let mut rx = rx;
        let r = loop {
            match tokio::time::timeout(Duration::from_millis(50), &mut rx).await {
                Ok(r) => break r.ok(),
                Err(_) if Instant::now() >= deadline || self.primary() != Some(to) => break None,
                Err(_) => {}
            }
        };
        self.pending
            .lock()
            .expect("cluster lock poisoned")
            .remove(&id);
        r
    }

    fn with_replica(
        &self,
        f: impl FnOnce(&mut Replica) -> Result<Vec<Outgoing>, ReplicaError>,
    ) -> Vec<Outgoing> {
        if self.fatal.is_tripped() {
            return Vec::new();
        }
        let mut r = lock(&self.replica, "replica");
        let out = match f(&mut r) {
            Ok(out) => out,
            Err(e) if e.is_fatal() => {
                self.fatal.trip(&format!("consensus step failed: {e}"));
                Vec::new()
            }
            Err(e) => {
                // Nothing was changed (e.g. a replicated entry was refused): the engine
                // may be ahead of the journal, so rebuild it from the journal.
                tracing::warn!("consensus step refused: {e}; resynchronising with the ledger");
                if let Err(e) = r.resync() {
                    self.fatal
                        .trip(&format!("cannot resynchronise with the ledger: {e}"));
                }
                Vec::new()
            }
        };
        self.note_status(&r);
        out
    }

    /// Publish the replica's role and leader for lock-free reads.
    fn note_status(&self, r: &Replica) {
        let leader = r.raft.leader().map_or(0, |l| l.wrapping_add(1));
        self.leader.store(leader, Ordering::SeqCst);
        self.is_leader.store(r.is_primary(), Ordering::SeqCst);
    }

    /// Whether this node was the primary after its last consensus step.
    pub fn is_primary(&self) -> bool {
        self.is_leader.load(Ordering::SeqCst)
    }

    fn dispatch(&self, out: Vec<Outgoing>) {
        for o in out {
            match o {
                Outgoing::Ready { to, msg } => {
                    self.send_frame(to, &Frame::Raft { from: self.id, msg })
                }
                stored => self.enqueue(stored.to(), Queued::Stored(stored)),
            }
        }
    }

    fn send_frame(&self, to: NodeId, frame: &Frame) {
        let bytes = Bytes::from(postcard::to_allocvec(frame).expect("serializable"));
        self.enqueue(to, Queued::Frame(bytes));
    }

    fn enqueue(&self, to: NodeId, item: Queued) {
        let mut peers = self.peers.lock().expect("cluster lock poisoned");
        let q = peers.entry(to).or_insert_with(|| self.spawn_writer(to));
        match q.try_send(item) {
            Ok(()) => {}
            // A peer that cannot keep up loses messages, as on a lossy network.
            Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => {
                peers.remove(&to);
            }
        }
    }

    fn spawn_writer(&self, to: NodeId) -> mpsc::Sender<Queued> {
        let (tx, mut rx) = mpsc::channel::<Queued>(PEER_QUEUE);
        let (addresses, connector) = (self.addresses.clone(), self.connector.clone());
        let (source, journal, me) = (self.source_ip, self.journal.clone(), self.id);
        let h = tokio::spawn(async move {
            let mut conn = None;
            while let Some(item) = rx.recv().await {
                let frame = match item {
                    Queued::Frame(bytes) => bytes,
                    Queued::Stored(o) => match read_stored(&journal, me, o).await {
                        Some(bytes) => bytes,
                        None => continue,
                    },
                };
                if conn.is_none() {
                    let addr = addresses
                        .lock()
                        .expect("cluster lock poisoned")
                        .get(&to)
                        .copied();
                    if let Some(addr) = addr {
                        conn = tokio::time::timeout(
                            Duration::from_millis(500),
                            n2n::connect(addr, &connector, source),
                        )
                        .await
                        .ok()
                        .and_then(Result::ok);
                    }
                    if conn.is_none() {
                        // Unreachable: what is queued is stale by the time it could go.
                        while rx.try_recv().is_ok() {}
                        continue;
                    }
                }
                if let Some(s) = conn.as_mut() {
                    if n2n::write_frame(s, &frame).await.is_err() {
                        conn = None; // dropped; the next message reconnects
                    }
                }
            }
        });
        self.tasks.lock().expect("cluster lock poisoned").push(h);
        tx
    }

    /// Primary only: commit `tx` and replicate it.
    pub fn submit(&self, tx: Tx) -> Result<CommitOutcome, ReplicaError> {
        if self.fatal.is_tripped() {
            return Err(ReplicaError::Stopped);
        }
        let (outcome, out) = {
            let mut r = lock(&self.replica, "replica");
            let res = r.submit(tx);
            self.note_status(&r);
            res?
        };
        self.dispatch(out);
        Ok(outcome)
    }

    /// Primary only: sign now.
    pub fn sign(&self) -> Result<(), ReplicaError> {
        let out = {
            let mut r = lock(&self.replica, "replica");
            r.sign()?
        };
        self.dispatch(out);
        Ok(())
    }

    /// The primary this node knows of (itself included).
    pub fn primary(&self) -> Option<NodeId> {
        self.leader.load(Ordering::SeqCst).checked_sub(1)
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Read the replica (role, commit point, journal).
    pub fn with<T>(&self, f: impl FnOnce(&Replica) -> T) -> T {
        f(&lock(&self.replica, "replica"))
    }

    /// Stop all network activity (as if the process died).
    /// Whether [`Cluster::stop`] was called (or a fatal error stopped the node).
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire) || self.fatal.is_tripped()
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        for t in self.tasks.lock().expect("cluster lock poisoned").drain(..) {
            t.abort();
        }
        self.peers.lock().expect("cluster lock poisoned").clear();
    }
}

/// Fill a stored message from the ledger on a blocking thread, and frame it; `None` (the
/// message is dropped: the primary sends again) if the read failed.
async fn read_stored(
    journal: &Arc<consort_ledger::Journal>,
    me: NodeId,
    o: Outgoing,
) -> Option<Bytes> {
    let j = journal.clone();
    match tokio::task::spawn_blocking(move || o.resolve(&j)).await {
        Ok(Ok((_, msg))) => {
            let frame = Frame::Raft { from: me, msg };
            Some(Bytes::from(
                postcard::to_allocvec(&frame).expect("serializable"),
            ))
        }
        Ok(Err(e)) => {
            tracing::warn!("cannot read entries back from the ledger for a peer: {e}");
            None
        }
        Err(e) => {
            tracing::warn!("reading entries back from the ledger failed: {e}");
            None
        }
    }
}

#[cfg(test)]
#[path = "cluster_test.rs"]
mod cluster_test;
