//! A deterministic simulator of whole replicas (feature `test-utils`), in the spirit of
//! TigerBeetle's cluster simulator: 3 or 4 complete nodes — [`Replica`] = consensus engine +
//! journal + store + snapshots + membership — each over its own in-memory disk
//! ([`SimStorage`]), on a simulated network that drops, duplicates and reorders messages.
//!
//! One seed drives everything: which message is delivered next, time, client writes,
//! signatures, rekeys, membership changes (the service starts with its founding node and
//! trusts the others one at a time, as a real service grows), crashes (unsynced data is
//! lost, appends are torn; now and then every node at once, a power failure) and restarts (`Journal::open` on the crashed disk, a new
//! `Replica`), and injected fsync and write failures (a node whose journal stops is
//! crashed, as its process would exit). After every step it checks, by name:
//!
//! - `one leader per view`;
//! - `commit monotonic`: a live node's commit point never goes backwards;
//! - `backups follow the leader's commit`: no backup's commit point is past the highest
//!   one a primary reached;
//! - `identical committed ledgers`: every committed entry has the same bytes on every node
//!   that ever committed it (before and after restarts: nothing committed is lost);
//! - `acknowledged writes durable`: a write a client saw `Committed` is in every live
//!   replica's store, with its value, once that replica's commit point passed it;
//! - `recoverable`: a crashed node's disk always reopens.
//!
//! At the end it heals (no faults, everyone up, every message delivered) and checks
//! `liveness`: a new write commits on every node; then the committed chunk files of all
//! nodes agree byte for byte. `CONSORT_SIM_SEED=n` runs only seed `n`.
//!
//! Determinism: the simulator's choices and the disks' faults come from the seed; node
//! identities are made once per process and ordered by id. ECDSA signatures and rekeyed
//! secrets use the system's randomness, so entry bytes (not the schedule) differ between
//! runs of a seed.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, OnceLock},
};

use bytes::Bytes;
use consort_consensus::{Message, NodeId, Seqno, View};
use consort_kv::{CommitOutcome, LedgerSecret, LedgerSecrets, Store, Tx, TxId};
use consort_ledger::{
    identity::{NodeIdentity, ServiceIdentity},
    storage::sim::{Faults, SimStorage},
    tables::{self, NodeInfo},
    Journal, JournalConfig, LedgerError,
};
use thiserror::Error;

use crate::replica::{raft_id, Outgoing, Replica, ReplicaError, ReplicaOptions};

/// The environment variable that selects one seed to replay.
pub const SEED_ENV: &str = "CONSORT_SIM_SEED";

/// A broken property: the seed replays it.
#[derive(Debug, Error)]
#[error(
    "seed {seed}, step {step}: `{property}` violated: {detail}\n  replay: {SEED_ENV}={seed} \
     cargo test -p consort-node --lib replica::sim -- --nocapture"
)]
pub struct Violation {
    pub seed: u64,
    pub step: usize,
    pub property: &'static str,
    pub detail: String,
}

/// What a run did (for tests to check it exercised something).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimReport {
    pub nodes: usize,
    pub steps: usize,
    pub delivered: u64,
    pub acknowledged: u64,
    pub crashes: u64,
    pub outages: u64,
    pub fatal_stops: u64,
    pub restarts: u64,
    pub rekeys: u64,
    pub members_added: u64,
    pub committed: Seqno,
    /// Messages whose entries were read back from a sender's ledger, and such reads that
    /// failed (the message was dropped).
    pub stored_reads: u64,
    pub stored_read_failures: u64,
}

/// SplitMix64.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    fn per_mille(&mut self, p: u64) -> bool {
        self.below(1000) < p
    }
}

/// Sizes and fault rates of one run, drawn from its seed.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub nodes: usize,
    pub steps: usize,
    pub drop_per_mille: u64,
    pub dup_per_mille: u64,
    pub crash_per_mille: u64,
    pub restart_per_mille: u64,
    pub fault_per_mille: u64,
    /// Background fault probabilities of every disk while not healed.
    pub faults: Faults,
    pub write_per_mille: u64,
    pub rekey_per_mille: u64,
    /// Power failures: every node crashes at once, losing what it had not synced. Drawn
    /// from a stream of its own, so a seed's other choices stay what they were before
    /// power failures were simulated.
    pub outage_per_mille: u64,
}

impl SimConfig {
    fn from_seed(rng: &mut Rng) -> Self {
        Self {
            nodes: 3 + rng.below(2) as usize,
            steps: 300,
            drop_per_mille: rng.below(150),
            dup_per_mille: rng.below(80),
            crash_per_mille: rng.below(15),
            restart_per_mille: 20 + rng.below(60),
            fault_per_mille: rng.below(10),
            faults: Faults {
                fsync_fail: rng.below(20) as f64 / 10_000.0,
                write_fail: rng.below(20) as f64 / 10_000.0,
            },
            write_per_mille: 100 + rng.below(250),
            rekey_per_mille: rng.below(8),
            outage_per_mille: 0,
        }
    }
}

/// Identities shared by every run: made once (key generation is slow), ordered by raft id
/// so that node `i` plays the same part in every process.
struct Identities {
    service: ServiceIdentity,
    nodes: Vec<Arc<NodeIdentity>>,
}

const MAX_NODES: usize = 4;

fn identities() -> &'static Identities {
    static IDS: OnceLock<Identities> = OnceLock::new();
    IDS.get_or_init(|| {
        let service = ServiceIdentity::generate().expect("service identity");
        let mut nodes: Vec<Arc<NodeIdentity>> = (0..MAX_NODES)
            .map(|_| Arc::new(NodeIdentity::generate(&service, &Default::default()).expect("node")))
            .collect();
        nodes.sort_by_key(|n| raft_id(&n.node_id));
        Identities { service, nodes }
    })
}

/// A client write and where it landed.
#[derive(Debug, Clone)]
struct Write {
    txid: TxId,
    map: &'static str,
    key: Vec<u8>,
    value: Vec<u8>,
}

#[derive(Debug)]
struct SimNode {
    disk: SimStorage,
    identity: Arc<NodeIdentity>,
    /// `None` while crashed.
    replica: Option<Replica>,
    /// The commit point last seen while up (reset by a restart).
    commit_seen: Seqno,
    /// Committed entries compared with the canonical ledger since it started.
    entries_checked: Seqno,
    /// Acknowledged writes (a prefix of `acked`) checked in this node's store since it
    /// started.
    acked_checked: usize,
}

fn dir(i: usize) -> PathBuf {
    PathBuf::from(format!("/node{i}"))
}

fn journal_config(i: usize, disk: &SimStorage) -> JournalConfig {
    let mut c = JournalConfig::new(dir(i).join("ledger"));
    c.storage = disk.shared();
    c.commit_on_signature = false;
    c.sig_tx_interval = 4;
    c.sig_ms_interval = 20;
    c.chunk_threshold = 1500;
    c.snapshot_threads = false; // a seed replays exactly
    c
}

fn replica_options(i: usize) -> ReplicaOptions {
    ReplicaOptions {
        vote_file: Some(dir(i).join("vote")),
        snapshot_every: 12,
        snapshot_dir: Some(dir(i).join("snapshots")),
        election_timeout_ms: Some((60, 120)),
        heartbeat_ms: Some(15),
        // Nodes hold few committed entries (none on every third), so lagging ones are
        // caught up from entries read back from the primary's ledger files.
        retain_committed: Some(i % 3 * 4),
    }
}

/// The whole-replica simulator for one seed.
#[derive(Debug)]
pub struct ReplicaSim {
    seed: u64,
    rng: Rng,
    /// Power failures' own stream.
    outage_rng: Rng,
    cfg: SimConfig,
    secrets: LedgerSecrets,
    nodes: Vec<SimNode>,
    ids: Vec<NodeId>,
    /// In flight: (from, to, message); delivered in random order.
    net: Vec<(usize, usize, Message)>,
    now: u64,
    step: usize,
    /// Nodes trusted so far (a prefix of `nodes`).
    trusted: usize,
    pending: Vec<Write>,
    acked: Vec<Write>,
    /// The committed ledger: entry bytes by seqno - 1, as first seen committed anywhere.
    canonical: Vec<Vec<u8>>,
    leaders: BTreeMap<View, NodeId>,
    /// The highest commit point any primary has reached: no backup may be past it.
    leader_commit: Seqno,
    next_key: u64,
    report: SimReport,
}

impl ReplicaSim {
    /// A service for `seed`: the founding node has created it (genesis, open, signed);
    /// the others start empty from the same ledger secrets, as joiners do.
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng(seed);
        let mut cfg = SimConfig::from_seed(&mut rng);
        let mut outage_rng = Rng(seed ^ 0x6f75_7461_6765);
        cfg.outage_per_mille = outage_rng.below(3);
        let ids = identities();
        let mut raw = [0u8; 32];
        raw[..8].copy_from_slice(&seed.to_le_bytes());
        let secrets =
            LedgerSecrets::single(LedgerSecret::from_raw(raw).expect("a 32-byte ledger secret"));
        let nodes: Vec<SimNode> = (0..cfg.nodes)
            .map(|i| SimNode {
                disk: SimStorage::new(seed ^ (0x5157_0000 + i as u64)),
                identity: ids.nodes[i].clone(),
                replica: None,
                commit_seen: 0,
                entries_checked: 0,
                acked_checked: 0,
            })
            .collect();
        let raft_ids = nodes.iter().map(|n| raft_id(&n.identity.node_id)).collect();
        let mut sim = Self {
            seed,
            rng,
            outage_rng,
            cfg,
            secrets,
            nodes,
            ids: raft_ids,
            net: Vec::new(),
            now: 0,
            step: 0,
            trusted: 1,
            pending: Vec::new(),
            acked: Vec::new(),
            canonical: Vec::new(),
            leaders: BTreeMap::new(),
            leader_commit: 0,
            next_key: 0,
            report: SimReport::default(),
        };
        sim.report.nodes = sim.cfg.nodes;
        sim.genesis();
        for i in 1..sim.cfg.nodes {
            sim.join(i);
        }
        for n in &sim.nodes {
            n.disk.set_faults(sim.cfg.faults);
        }
        sim
    }

    fn genesis(&mut self) {
        let disk = &self.nodes[0].disk;
        let journal = Journal::create(
            journal_config(0, disk),
            Arc::new(Store::new()),
            self.nodes[0].identity.clone(),
            self.secrets.clone(),
        )
        .expect("genesis journal");
        journal
            .bootstrap_service(&identities().service.cert)
            .expect("bootstrap");
        journal.open_service().expect("open service");
        let r = Replica::with_options(
            Arc::new(journal),
            vec![self.ids[0]],
            replica_options(0),
            self.seed,
            0,
        )
        .expect("founding replica");
        self.nodes[0].replica = Some(r);
    }

    /// A joining node: an empty journal with the service's secrets.
    fn join(&mut self, i: usize) {
        let journal = Journal::create(
            journal_config(i, &self.nodes[i].disk),
            Arc::new(Store::new()),
            self.nodes[i].identity.clone(),
            self.secrets.clone(),
        )
        .expect("joiner journal");
        let r = Replica::with_options(
            Arc::new(journal),
            self.joiner_members(i),
            replica_options(i),
            self.seed.wrapping_add(i as u64),
            self.now,
        )
        .expect("joiner replica");
        self.nodes[i].replica = Some(r);
    }

    /// Members a node assumes until its ledger names any: the founder and itself.
    fn joiner_members(&self, i: usize) -> Vec<NodeId> {
        let mut m = vec![self.ids[0], self.ids[i]];
        m.dedup();
        m
    }

    fn violation(&self, property: &'static str, detail: String) -> Violation {
        Violation {
            seed: self.seed,
            step: self.step,
            property,
            detail,
        }
    }

    fn idx(&self, id: NodeId) -> Option<usize> {
        self.ids.iter().position(|&x| x == id)
    }

    fn up(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].replica.is_some())
            .collect()
    }

    fn primary(&self) -> Option<usize> {
        self.up().into_iter().find(|&i| {
            self.nodes[i]
                .replica
                .as_ref()
                .is_some_and(|r| r.is_primary())
        })
    }

    /// Run the seed: random steps with faults, then heal and check liveness.
    pub fn run(mut self) -> Result<SimReport, Violation> {
        for step in 0..self.cfg.steps {
            self.step = step;
            self.random_step()?;
            self.check()?;
        }
        self.heal()?;
        self.check_chunk_files()?;
        self.report.steps = self.cfg.steps;
        self.report.committed = self.canonical.len() as Seqno;
        self.report.acknowledged = self.acked.len() as u64;
        Ok(self.report)
    }

    fn random_step(&mut self) -> Result<(), Violation> {
        let roll = self.rng.below(1000);
        match roll {
            0..=549 => self.deliver_one(),
            550..=799 => {
                self.now += 1 + self.rng.below(15);
                self.tick_all();
            }
            _ => {
                let c = self.cfg.clone();
                if self.rng.per_mille(c.write_per_mille * 4) {
                    self.client_write();
                }
                if self.rng.per_mille(c.crash_per_mille * 5) {
                    self.crash_random();
                }
                if self.outage_rng.per_mille(c.outage_per_mille) {
                    self.outage();
                }
                if self.rng.per_mille(c.restart_per_mille * 5) {
                    self.restart_random()?;
                }
                if self.rng.per_mille(c.fault_per_mille * 5) {
                    self.inject_fault();
                }
                if self.rng.per_mille(c.rekey_per_mille * 5) {
                    self.rekey();
                }
                if self.rng.per_mille(100) {
                    self.add_member();
                }
                if self.rng.per_mille(60) {
                    self.on_primary(|r| r.sign());
                }
            }
        }
        self.poll_acks();
        Ok(())
    }

    /// Note node `i`'s commit point if it leads (after each of its steps: within one
    /// step a primary may commit, tell its backups and lose its leadership).
    fn note_leader_commit(&mut self, i: usize) {
        if let Some(r) = self.nodes[i].replica.as_ref() {
            if r.is_primary() {
                self.leader_commit = self.leader_commit.max(r.journal.committed().seqno);
            }
        }
    }

    fn send(&mut self, from: usize, out: Vec<Outgoing>) {
        self.note_leader_commit(from);
        for o in out {
            // Stored entries are read back from the sender's ledger as a node's writer
            // would; a failed read drops the message.
            if matches!(o, Outgoing::Stored { .. }) {
                self.report.stored_reads += 1;
            }
            let Some(r) = self.nodes[from].replica.as_ref() else {
                continue;
            };
            let Ok((to, m)) = o.resolve(&r.journal) else {
                self.report.stored_read_failures += 1;
                continue;
            };
            if let Some(t) = self.idx(to) {
                self.net.push((from, t, m));
            }
        }
    }

    /// The outcome of a step on node `i`: messages leave; a fatal error stops the node (a
    /// crash); another error resynchronises the replica with its journal (as `Cluster`).
    fn outcome(&mut self, i: usize, r: Result<Vec<Outgoing>, ReplicaError>) {
        self.note_leader_commit(i);
        match r {
            Ok(out) => self.send(i, out),
            Err(e) if e.is_fatal() => {
                self.report.fatal_stops += 1;
                self.crash(i);
            }
            Err(_) => {
                let resynced = match self.nodes[i].replica.as_mut() {
                    Some(rep) => rep.resync(),
                    None => Ok(()),
                };
                if resynced.is_err() {
                    self.report.fatal_stops += 1;
                    self.crash(i);
                }
            }
        }
    }

    fn deliver_one(&mut self) {
        if self.net.is_empty() {
            return;
        }
        let k = self.rng.below(self.net.len() as u64) as usize;
        let (from, to, msg) = self.net.swap_remove(k);
        if self.rng.per_mille(self.cfg.drop_per_mille) {
            return;
        }
        if self.rng.per_mille(self.cfg.dup_per_mille) {
            self.net.push((from, to, msg.clone()));
        }
        self.deliver(from, to, msg);
    }

    fn deliver(&mut self, from: usize, to: usize, msg: Message) {
        let from_id = self.ids[from];
        let Some(r) = self.nodes[to].replica.as_mut() else {
            return;
        };
        let res = r.receive(from_id, msg);
        self.report.delivered += 1;
        self.outcome(to, res);
    }

    fn tick_all(&mut self) {
        for i in self.up() {
            let now = self.now;
            if let Some(r) = self.nodes[i].replica.as_mut() {
                let res = r.tick(now);
                self.outcome(i, res);
            }
        }
    }

    /// Run `f` on the primary, if any.
    fn on_primary(&mut self, f: impl FnOnce(&mut Replica) -> Result<Vec<Outgoing>, ReplicaError>) {
        if let Some(p) = self.primary() {
            let res = f(self.nodes[p].replica.as_mut().expect("up"));
            self.outcome(p, res);
        }
    }

    /// Submit `tx` (built on the primary's journal by `build`); returns its txid if the
    /// journal accepted it.
    fn submit(&mut self, build: impl FnOnce(&Journal, &mut Tx) -> bool) -> Option<TxId> {
        let p = self.primary()?;
        let r = self.nodes[p].replica.as_mut().expect("up");
        let mut tx = r.journal.begin();
        if !build(&r.journal, &mut tx) {
            return None;
        }
        match r.submit(tx) {
            Ok((CommitOutcome::Committed(c), out)) => {
                self.send(p, out);
                Some(c.txid)
            }
            Ok((CommitOutcome::ReadOnly { .. }, out)) => {
                self.send(p, out);
                None
            }
            Err(e) => {
                self.outcome(p, Err(e));
                None
            }
        }
    }

    fn client_write(&mut self) {
        self.next_key += 1;
        let map = if self.next_key % 2 == 0 {
            "public:records"
        } else {
            "records"
        };
        let key = format!("k{:06}", self.next_key).into_bytes();
        let value = format!("v{}-{}", self.seed, self.next_key).into_bytes();
        let (k, v) = (key.clone(), value.clone());
        if let Some(txid) = self.submit(|_, tx| {
            tx.put(map, Bytes::from(k), Bytes::from(v));
            true
        }) {
            self.pending.push(Write {
                txid,
                map,
                key,
                value,
            });
        }
    }

    fn rekey(&mut self) {
        if self.submit(|j, tx| j.rekey(tx).is_ok()).is_some() {
            self.report.rekeys += 1;
        }
    }

    /// Trust the first node the primary's configuration lacks (one change at a time: only
    /// once the last one committed). A change that is rolled back is made again later.
    fn add_member(&mut self) {
        let Some(r) = self.primary().and_then(|p| self.nodes[p].replica.as_ref()) else {
            return;
        };
        let members = r.raft.members().to_vec();
        self.trusted = self.trusted.max(members.len());
        if !r.membership_settled() || r.commit_seqno() == 0 {
            return;
        }
        let Some(next) = (0..self.nodes.len()).find(|&i| !members.contains(&self.ids[i])) else {
            return;
        };
        let node = self.nodes[next].identity.clone();
        let added = self.submit(|_, tx| {
            let info = NodeInfo::trusted(node.public_key_pem());
            tx.put(
                tables::NODES_INFO,
                Bytes::from(node.node_id.clone()),
                serde_json::to_vec(&info).expect("json"),
            );
            tx.put(
                tables::ENDORSED_CERTIFICATES,
                Bytes::from(node.node_id.clone()),
                node.cert.to_pem().into_bytes(),
            );
            true
        });
        if added.is_some() {
            self.report.members_added += 1;
        }
    }

    /// Whether the primary's configuration holds every node and has committed.
    fn fully_grown(&self) -> bool {
        self.primary()
            .and_then(|p| self.nodes[p].replica.as_ref())
            .is_some_and(|r| r.membership_settled() && r.raft.members().len() == self.nodes.len())
    }

    /// A client learns the outcome of its writes: `Committed` on any node acknowledges.
    fn poll_acks(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for w in pending {
            let mut committed = false;
            let mut lost = false;
            for n in &self.nodes {
                let Some(r) = &n.replica else { continue };
                match r.journal.tx_status(w.txid) {
                    consort_ledger::journal::TxStatus::Committed => committed = true,
                    _ if r.journal.committed().seqno >= w.txid.seqno => lost = true,
                    _ => {}
                }
            }
            if committed {
                self.acked.push(w);
            } else if !lost {
                self.pending.push(w);
            }
        }
    }

    fn crash(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if n.replica.take().is_some() {
            n.disk.crash();
            self.report.crashes += 1;
        }
        self.net.retain(|(_, to, _)| *to != i);
    }

    /// A power failure: every node crashes at once. What a majority acknowledged must
    /// have been on their disks (synced) to survive it.
    fn outage(&mut self) {
        for i in 0..self.nodes.len() {
            self.crash(i);
        }
        self.report.outages += 1;
    }

    /// Crash an up node, keeping a majority of the members up.
    fn crash_random(&mut self) {
        let up = self.up();
        let down = self.nodes.len() - up.len();
        if down + 1 > (self.trusted - 1) / 2 || up.is_empty() {
            return;
        }
        let i = up[self.rng.below(up.len() as u64) as usize];
        self.crash(i);
    }

    fn restart_random(&mut self) -> Result<(), Violation> {
        let down: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].replica.is_none())
            .collect();
        if down.is_empty() {
            return Ok(());
        }
        let i = down[self.rng.below(down.len() as u64) as usize];
        self.restart(i)
    }

    /// Restart node `i` from its disk, as the node's process would. An injected I/O
    /// failure while reopening stops that process too (it stays down, to retry later);
    /// any other error opening a crashed disk is a violation.
    fn restart(&mut self, i: usize) -> Result<(), Violation> {
        let n = &self.nodes[i];
        let opened = Journal::open(
            journal_config(i, &n.disk),
            Arc::new(Store::new()),
            n.identity.clone(),
            self.secrets.clone(),
        );
        let journal = match opened {
            Ok((j, _)) => j,
            Err(e) if is_io(&e) => {
                n.disk.crash();
                self.report.crashes += 1;
                return Ok(());
            }
            Err(e) => {
                return Err(self.violation("recoverable", format!("node {i} cannot reopen: {e}")))
            }
        };
        let seed = self.seed.wrapping_add(self.report.restarts + 100);
        let r = Replica::with_options(
            Arc::new(journal),
            self.joiner_members(i),
            replica_options(i),
            seed,
            self.now,
        )
        .map_err(|e| self.violation("recoverable", format!("node {i} cannot restart: {e}")))?;
        let n = &mut self.nodes[i];
        n.commit_seen = r.journal.committed().seqno;
        n.entries_checked = 0;
        n.acked_checked = 0;
        n.replica = Some(r);
        self.report.restarts += 1;
        Ok(())
    }

    fn inject_fault(&mut self) {
        let up = self.up();
        if up.is_empty() {
            return;
        }
        let i = up[self.rng.below(up.len() as u64) as usize];
        if self.rng.below(2) == 0 {
            self.nodes[i].disk.fail_next_fsync();
        } else {
            self.nodes[i].disk.fail_next_write();
        }
    }
}

/// Whether `e` is an I/O failure (possibly the cause of a stopped journal).
fn is_io(e: &LedgerError) -> bool {
    match e {
        LedgerError::Io { .. } => true,
        LedgerError::Fatal(cause) => is_io(cause),
        _ => false,
    }
}

#[path = "sim_check.rs"]
mod check;

/// The seeds to run: `CONSORT_SIM_SEED` alone if set, else `default`.
pub fn seeds(default: std::ops::Range<u64>) -> Vec<u64> {
    match std::env::var(SEED_ENV) {
        Ok(s) => vec![s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_ENV}={s} is not a seed (u64)"))],
        Err(_) => default.collect(),
    }
}

/// Run one seed; a violation panics with the seed and the replay command.
pub fn run_seed(seed: u64) -> SimReport {
    match ReplicaSim::new(seed).run() {
        Ok(r) => r,
        Err(v) => panic!("{v}"),
    }
}

#[cfg(test)]
#[path = "sim_test.rs"]
mod sim_test;
