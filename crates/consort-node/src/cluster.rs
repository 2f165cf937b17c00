//! A replica on the network: consensus messages between nodes over `n2n` channels.
//!
//! Inbound: an accept loop takes mutually authenticated connections; every frame must come
//! from the node its certificate names (the frame's sender id is checked against the
//! peer's certificate). Outbound: one queue and writer task per peer, reconnecting as
//! needed; a message that cannot be sent is dropped (consensus tolerates loss). A ticker
//! drives time. The replica sits behind a mutex shared with request handlers.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use consort_consensus::{Message, NodeId};
use consort_crypto::cert::Certificate;
use consort_kv::{CommitOutcome, Tx};
use consort_ledger::identity::NodeIdentity;
use serde::{Deserialize, Serialize};
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};

use crate::{
    n2n,
    replica::{raft_id, Replica, ReplicaError},
    NodeError,
};

/// Where peers listen for node-to-node connections.
pub type AddressBook = Arc<Mutex<HashMap<NodeId, SocketAddr>>>;

#[derive(Serialize, Deserialize)]
struct Frame {
    from: NodeId,
    msg: Message,
}

/// A networked replica.
pub struct Cluster {
    id: NodeId,
    replica: Arc<Mutex<Replica>>,
    peers: Mutex<HashMap<NodeId, mpsc::UnboundedSender<Bytes>>>,
    addresses: AddressBook,
    connector: tokio_rustls::TlsConnector,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    started: Instant,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cluster(node {})", self.id)
    }
}

impl Cluster {
    /// Start serving node-to-node connections on `listener` and ticking every `tick`.
    pub fn start(
        replica: Replica,
        node: &NodeIdentity,
        service_cert: &Certificate,
        listener: TcpListener,
        addresses: AddressBook,
        tick: Duration,
    ) -> Result<Arc<Self>, NodeError> {
        let acceptor = n2n::acceptor(node, service_cert)?;
        let c = Arc::new(Self {
            id: replica.id(),
            replica: Arc::new(Mutex::new(replica)),
            peers: Mutex::new(HashMap::new()),
            addresses,
            connector: n2n::connector(node, service_cert)?,
            tasks: Mutex::new(Vec::new()),
            started: Instant::now(),
        });
        let me = c.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((peer, mut stream)) = n2n::accept(&listener, &acceptor).await else {
                    continue;
                };
                let reader_me = me.clone();
                let h = tokio::spawn(async move {
                    let me = reader_me;
                    let peer_id = raft_id(&peer);
                    while let Ok(Some(frame)) = n2n::read_frame(&mut stream).await {
                        let Ok(f) = postcard::from_bytes::<Frame>(&frame) else {
                            break;
                        };
                        if f.from != peer_id {
                            tracing::warn!(
                                "dropping a frame claiming to be from {} on {peer}'s channel",
                                f.from
                            );
                            break;
                        }
                        let out = me.with_replica(|r| r.receive(f.from, f.msg));
                        me.dispatch(out);
                    }
                });
                me.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(h);
            }
        });
        let me = c.clone();
        let ticker = tokio::spawn(async move {
            let mut iv = tokio::time::interval(tick);
            loop {
                iv.tick().await;
                let now = me.started.elapsed().as_millis() as u64;
                let out = me.with_replica(|r| r.tick(now, Instant::now()));
                me.dispatch(out);
            }
        });
        c.tasks.lock().expect("fresh").extend([accept, ticker]);
        Ok(c)
    }

    fn with_replica(
        &self,
        f: impl FnOnce(&mut Replica) -> Result<Vec<(NodeId, Message)>, ReplicaError>,
    ) -> Vec<(NodeId, Message)> {
        let mut r = self.replica.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut r).unwrap_or_else(|e| {
            tracing::error!("consensus step failed: {e}");
            Vec::new()
        })
    }

    fn dispatch(&self, out: Vec<(NodeId, Message)>) {
        for (to, msg) in out {
            let bytes = Bytes::from(
                postcard::to_allocvec(&Frame { from: self.id, msg }).expect("serializable"),
            );
            let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
            let q = peers.entry(to).or_insert_with(|| self.spawn_writer(to));
            if q.send(bytes).is_err() {
                peers.remove(&to);
            }
        }
    }

    fn spawn_writer(&self, to: NodeId) -> mpsc::UnboundedSender<Bytes> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let (addresses, connector) = (self.addresses.clone(), self.connector.clone());
        let h = tokio::spawn(async move {
            let mut conn = None;
            while let Some(frame) = rx.recv().await {
                if conn.is_none() {
                    let addr = addresses
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&to)
                        .copied();
                    if let Some(addr) = addr {
                        conn = tokio::time::timeout(
                            Duration::from_millis(500),
                            n2n::connect(addr, &connector),
                        )
                        .await
                        .ok()
                        .and_then(Result::ok);
                    }
                }
                if let Some(s) = conn.as_mut() {
                    if n2n::write_frame(s, &frame).await.is_err() {
                        conn = None; // dropped; the next message reconnects
                    }
                }
            }
        });
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(h);
        tx
    }

    /// Primary only: commit `tx` and replicate it.
    pub fn submit(&self, tx: Tx) -> Result<CommitOutcome, ReplicaError> {
        let (outcome, out) = {
            let mut r = self.replica.lock().unwrap_or_else(|p| p.into_inner());
            r.submit(tx)?
        };
        self.dispatch(out);
        Ok(outcome)
    }

    /// Primary only: sign now.
    pub fn sign(&self) -> Result<(), ReplicaError> {
        let out = {
            let mut r = self.replica.lock().unwrap_or_else(|p| p.into_inner());
            r.sign()?
        };
        self.dispatch(out);
        Ok(())
    }

    /// Read the replica (role, commit point, journal).
    pub fn with<T>(&self, f: impl FnOnce(&Replica) -> T) -> T {
        f(&self.replica.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Stop all network activity (as if the process died).
    pub fn stop(&self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
        self.peers.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
#[path = "cluster_test.rs"]
mod cluster_test;
