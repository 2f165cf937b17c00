//! A logging-app client load against a network, recorded as a history for the
//! linearizability checker.
//!
//! Writers send writes to every node in turn (backups forward them); readers read from the
//! primary. A response carries the transaction id it reflects; an operation counts as done
//! only once that id is known Committed (the commit point is sampled while the load runs),
//! and a transaction id that ended Invalid was rolled back: such a write never happened and
//! such a read saw state that never existed — the client discards it, as CCF documents.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use consort_client::{ClientConfig, Connection};
use consort_kv::TxId;
use serde_json::json;

use super::{
    linearizability::{Event, Op},
    network::Network,
};

/// Keys shared by writers and readers.
pub(crate) const SHARED_KEYS: u64 = 32;
/// Unique keys (written once each) start here.
pub(crate) const UNIQUE_BASE: u64 = 1_000_000;

#[derive(Clone, Debug)]
pub(crate) struct Rec {
    pub(crate) key: u64,
    pub(crate) op: Op,
    pub(crate) invoked: u64,
    pub(crate) acked: Option<u64>,
    pub(crate) txid: Option<TxId>,
}

pub(crate) struct Load {
    t0: Instant,
    stop: Arc<AtomicBool>,
    pub(crate) recs: Arc<Mutex<Vec<Rec>>>,
    /// (time, committed seqno) as seen by some node.
    samples: Arc<Mutex<Vec<(u64, u64)>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn micros(t0: Instant) -> u64 {
    t0.elapsed().as_micros() as u64
}

async fn connect(c: &ClientConfig) -> Option<Connection> {
    tokio::time::timeout(Duration::from_millis(500), c.connect())
        .await
        .ok()?
        .ok()
}

/// Which node leads, asked of every node (highest view wins).
async fn find_primary(clients: &[ClientConfig]) -> Option<usize> {
    let mut best: Option<(u64, usize)> = None;
    for (i, c) in clients.iter().enumerate() {
        let Some(mut conn) = connect(c).await else {
            continue;
        };
        let Ok(Ok(r)) =
            tokio::time::timeout(Duration::from_millis(500), conn.get("/node/consensus")).await
        else {
            continue;
        };
        let Ok(j) = r.json() else { continue };
        let d = &j["details"];
        if d["leadership_state"] == "Leader" {
            let v = d["current_view"].as_u64().unwrap_or(0);
            if best.is_none_or(|(bv, _)| v > bv) {
                best = Some((v, i));
            }
        }
    }
    best.map(|(_, i)| i)
}

impl Load {
    pub(crate) fn start(net: &Network, writers: u64, readers: u64) -> Load {
        let clients: Vec<ClientConfig> = (0..net.nodes.len()).map(|i| net.client(i)).collect();
        let t0 = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let recs: Arc<Mutex<Vec<Rec>>> = Arc::default();
        let samples: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
        let primary: Arc<Mutex<Option<usize>>> = Arc::default();
        let mut tasks = Vec::new();

        // Observer: the commit point and the primary.
        {
            let (clients, stop, samples, primary) = (
                clients.clone(),
                stop.clone(),
                samples.clone(),
                primary.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut round = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if round % 5 == 0 {
                        let p = find_primary(&clients).await;
                        if p.is_some() {
                            *primary.lock().unwrap() = p;
                        }
                    }
                    round += 1;
                    for c in &clients {
                        let Some(mut conn) = connect(c).await else {
                            continue;
                        };
                        if let Ok(Ok(r)) = tokio::time::timeout(
                            Duration::from_millis(300),
                            conn.get("/node/commit"),
                        )
                        .await
                        {
                            if let Some(t) = r
                                .json()
                                .ok()
                                .and_then(|j| j["transaction_id"].as_str()?.parse::<TxId>().ok())
                            {
                                samples.lock().unwrap().push((micros(t0), t.seqno));
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        for w in 0..writers {
            let (clients, stop, recs) = (clients.clone(), stop.clone(), recs.clone());
            tasks.push(tokio::spawn(async move {
                let mut conns: Vec<Option<Connection>> = clients.iter().map(|_| None).collect();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let node = ((w + i) % clients.len() as u64) as usize;
                    i += 1;
                    let key = if i % 2 == 0 {
                        (w * 7 + i) % SHARED_KEYS
                    } else {
                        UNIQUE_BASE + w * 100_000 + i
                    };
                    let msg = format!("w{w}-{i}");
                    if conns[node].is_none() {
                        conns[node] = connect(&clients[node]).await;
                    }
                    let Some(c) = conns[node].as_mut() else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let invoked = micros(t0);
                    let r = tokio::time::timeout(
                        Duration::from_secs(5),
                        c.post_json("/app/log/private", &json!({"id": key, "msg": msg})),
                    )
                    .await;
                    let (acked, txid) = match r {
                        Ok(Ok(r)) if r.status == 200 => {
                            (Some(micros(t0)), r.txid.and_then(|t| t.parse().ok()))
                        }
                        Ok(Ok(r)) if r.status < 500 => panic!(
                            "write refused: {} {}",
                            r.status,
                            String::from_utf8_lossy(&r.body)
                        ),
                        other => {
                            // No answer, or 5xx (e.g. the primary changed while forwarding):
                            // the write may or may not have happened.
                            if !matches!(other, Ok(Ok(_))) {
                                conns[node] = None;
                            }
                            (None, None)
                        }
                    };
                    recs.lock().unwrap().push(Rec {
                        key,
                        op: Op::Write(msg),
                        invoked,
                        acked,
                        txid,
                    });
                    if acked.is_none() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }));
        }
        for rd in 0..readers {
            let (clients, stop, recs, primary) =
                (clients.clone(), stop.clone(), recs.clone(), primary.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn: Option<(usize, Connection)> = None;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let Some(p) = *primary.lock().unwrap() else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    if conn.as_ref().is_none_or(|(n, _)| *n != p) {
                        conn = connect(&clients[p]).await.map(|c| (p, c));
                    }
                    let Some((_, c)) = conn.as_mut() else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let key = (rd * 5 + i) % SHARED_KEYS;
                    let invoked = micros(t0);
                    let r = tokio::time::timeout(
                        Duration::from_secs(5),
                        c.get(&format!("/app/log/private?id={key}")),
                    )
                    .await;
                    let seen = match r {
                        Ok(Ok(r)) if r.status == 200 => Some((
                            Some(r.json().unwrap()["msg"].as_str().unwrap().to_string()),
                            r.txid,
                        )),
                        Ok(Ok(r)) if r.status == 404 => Some((None, r.txid)),
                        _ => None,
                    };
                    if seen.is_none() {
                        conn = None;
                    }
                    if let Some((v, txid)) = seen {
                        recs.lock().unwrap().push(Rec {
                            key,
                            op: Op::Read(v),
                            invoked,
                            acked: Some(micros(t0)),
                            txid: txid.and_then(|t| t.parse().ok()),
                        });
                    }
                }
            }));
        }
        Load {
            t0,
            stop,
            recs,
            samples,
            tasks,
        }
    }

    pub(crate) fn now(&self) -> u64 {
        micros(self.t0)
    }

    /// Stop the clients.
    pub(crate) async fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }

    /// After [`Load::stop`] and once the network has settled (node `judge` has committed
    /// everything): the history, with each operation resolved by its transaction's final
    /// status on `judge`. Also returns (committed writes, rolled back operations).
    pub(crate) async fn history(
        &self,
        net: &Network,
        judge: usize,
    ) -> (Vec<Event>, Vec<Rec>, usize) {
        let mut samples = self.samples.lock().unwrap().clone();
        samples.sort();
        let end = micros(self.t0);
        let mut conn = net.client(judge).connect().await.unwrap();
        let mut events = Vec::new();
        let mut committed_writes = Vec::new();
        let mut invalid = 0;
        let recs = self.recs.lock().unwrap().clone();
        for r in recs {
            let status = match r.txid {
                Some(t) => net.tx_status(&mut conn, t).await,
                None => "Unknown".into(),
            };
            let returned = match status.as_str() {
                "Committed" => {
                    let acked = r.acked.expect("a transaction id comes with an answer");
                    let seqno = r.txid.unwrap().seqno;
                    Some(
                        samples
                            .iter()
                            .find(|(t, c)| *t >= acked && *c >= seqno)
                            .map_or(end, |(t, _)| *t),
                    )
                }
                "Invalid" => {
                    invalid += 1;
                    continue; // rolled back: never happened / never existed
                }
                _ => {
                    if matches!(r.op, Op::Read(_)) {
                        continue; // unconfirmed read
                    }
                    None
                }
            };
            if status == "Committed" && matches!(r.op, Op::Write(_)) {
                committed_writes.push(r.clone());
            }
            events.push(Event {
                key: r.key,
                op: r.op.clone(),
                invoked: r.invoked,
                returned,
            });
        }
        (events, committed_writes, invalid)
    }
}
