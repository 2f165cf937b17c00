//! Three replicas in one process on a simulated network: a service grows from one node to
//! three, replicates, loses its primary, elects another and carries on; committed ledgers
//! are byte-identical and verify.

use std::{collections::VecDeque, path::Path, sync::Arc};

use consort_kv::{Bytes, Store};
use consort_ledger::{
    identity::NodeIdentity,
    storage::sim::SimStorage,
    tables::{self, NodeInfo},
    testing::TestService,
    Journal, JournalConfig,
};

use super::*;
use crate::replica::test_support::committed_files;

struct Cluster {
    replicas: Vec<Replica>,
    net: VecDeque<(NodeId, NodeId, Message)>,
    down: Vec<bool>,
    now: u64,
}

impl Cluster {
    fn idx(&self, id: NodeId) -> usize {
        self.replicas
            .iter()
            .position(|r| r.id() == id)
            .expect("known replica")
    }

    fn send(&mut self, from: NodeId, out: Vec<Outgoing>) {
        let journal = self.replicas[self.idx(from)].journal.clone();
        for o in out {
            let (to, m) = o.resolve(&journal).expect("stored entries read back");
            self.net.push_back((from, to, m));
        }
    }

    /// Deliver everything and tick everyone, `steps` times.
    fn run(&mut self, steps: usize) {
        for _ in 0..steps {
            self.now += 10;
            while let Some((from, to, m)) = self.net.pop_front() {
                let (fi, ti) = (self.idx(from), self.idx(to));
                if self.down[fi] || self.down[ti] {
                    continue;
                }
                let out = self.replicas[ti].receive(from, m).unwrap();
                self.send(to, out);
            }
            for i in 0..self.replicas.len() {
                if self.down[i] {
                    continue;
                }
                let id = self.replicas[i].id();
                let out = self.replicas[i].tick(self.now).unwrap();
                self.send(id, out);
            }
        }
    }

    fn primary(&self) -> Option<usize> {
        (0..self.replicas.len()).find(|&i| !self.down[i] && self.replicas[i].is_primary())
    }

    fn write(&mut self, map: &str, key: &str, value: &str) -> TxId {
        let p = self.primary().expect("a primary");
        let mut tx = self.replicas[p].journal.begin();
        tx.put(
            map,
            Bytes::from(key.to_string()),
            Bytes::from(value.to_string()),
        );
        let (outcome, out) = self.replicas[p].submit(tx).unwrap();
        let id = self.replicas[p].id();
        self.send(id, out);
        match outcome {
            CommitOutcome::Committed(c) => c.txid,
            CommitOutcome::ReadOnly { .. } => unreachable!(),
        }
    }
}

fn replicated(c: &mut JournalConfig) {
    c.commit_on_signature = false;
    c.sig_tx_interval = 10;
    c.chunk_threshold = 2048;
}

fn backup_journal(svc: &TestService, dir: &Path) -> (Journal, Arc<NodeIdentity>) {
    let node = Arc::new(NodeIdentity::generate(&svc.service, &Default::default()).unwrap());
    let mut cfg = JournalConfig::new(dir);
    replicated(&mut cfg);
    (
        Journal::create(
            cfg,
            Arc::new(Store::new()),
            node.clone(),
            svc.secrets.clone(),
        )
        .unwrap(),
        node,
    )
}

fn trust(tx: &mut Tx, node: &NodeIdentity) {
    let info = NodeInfo::trusted(node.public_key_pem());
    tx.put(
        tables::NODES_INFO,
        Bytes::from(node.node_id.clone()),
        serde_json::to_vec(&info).unwrap(),
    );
    tx.put(
        tables::ENDORSED_CERTIFICATES,
        Bytes::from(node.node_id.clone()),
        node.cert.to_pem().into_bytes(),
    );
}

#[test]
fn grow_replicate_fail_over_and_agree() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let svc = TestService::create(dirs[0].path(), replicated).unwrap();
    let (jb, nb) = backup_journal(&svc, dirs[1].path());
    let (jc, nc) = backup_journal(&svc, dirs[2].path());
    let a_id = raft_id(&svc.node.node_id);
    let a_journal = Arc::new(svc_journal(svc));
    let ra = Replica::new(a_journal.clone(), vec![a_id], (0, None), 1, 0).unwrap();
    let rb = Replica::new(
        Arc::new(jb),
        vec![a_id, raft_id(&nb.node_id)],
        (0, None),
        2,
        0,
    )
    .unwrap();
    let rc = Replica::new(
        Arc::new(jc),
        vec![a_id, raft_id(&nc.node_id)],
        (0, None),
        3,
        0,
    )
    .unwrap();
    let mut cl = Cluster {
        replicas: vec![ra, rb, rc],
        net: VecDeque::new(),
        down: vec![false; 3],
        now: 0,
    };
    cl.run(50);
    assert_eq!(cl.primary(), Some(0), "the founding node leads alone");

    // Grow: trust B, then C (one configuration change at a time).
    for node in [&nb, &nc] {
        let p = cl.primary().unwrap();
        let mut tx = cl.replicas[p].journal.begin();
        trust(&mut tx, node);
        let (_, out) = cl.replicas[p].submit(tx).unwrap();
        let id = cl.replicas[p].id();
        cl.send(id, out);
        cl.run(60);
    }
    assert_eq!(cl.replicas[0].raft.members().len(), 3);
    for i in 0..30 {
        cl.write("public:records", &format!("k{i}"), &format!("v{i}"));
        cl.write("records", &format!("p{i}"), "secret");
        cl.run(2);
    }
    // Sign so the last writes are committable; then let it replicate.
    let out = cl.replicas[0].sign().unwrap();
    let id = cl.replicas[0].id();
    cl.send(id, out);
    cl.run(100);
    let commit = cl.replicas[0].commit_seqno();
    assert_eq!(
        commit,
        cl.replicas[0].journal.last_txid().seqno,
        "everything signed is committed"
    );
    assert!(commit > 60, "commit advanced with three members: {commit}");
    for r in &cl.replicas {
        assert_eq!(
            r.journal.committed().seqno,
            commit,
            "every replica knows the commit point"
        );
    }

    // The primary fails; one of the others takes over and the service continues.
    cl.down[0] = true;
    cl.run(200);
    let p = cl.primary().expect("a new primary");
    assert_ne!(p, 0);
    let t = cl.write("public:records", "after", "failover");
    let out = cl.replicas[p].sign().unwrap();
    let id = cl.replicas[p].id();
    cl.send(id, out);
    cl.run(100);
    let new_commit = cl.replicas[p].commit_seqno();
    assert!(new_commit > t.seqno, "{new_commit} vs {t}");
    for i in [1, 2] {
        let snap = cl.replicas[i].journal.store().snapshot();
        assert_eq!(
            snap.get("public:records", b"after").as_deref(),
            Some(&b"failover"[..])
        );
        assert_eq!(
            snap.get("public:records", b"k29").as_deref(),
            Some(&b"v29"[..])
        );
    }
    // Committed ledgers: identical bytes on B and C; A's committed chunks are a prefix.
    for r in &cl.replicas {
        r.journal.flush().unwrap();
    }
    let (fb, fc) = (
        committed_files(dirs[1].path()),
        committed_files(dirs[2].path()),
    );
    assert!(!fb.is_empty());
    assert_eq!(fb, fc);
    for f in committed_files(dirs[0].path()) {
        assert!(fb.contains(&f), "{} differs on the old primary", f.0);
    }
    for d in &dirs {
        consort_ledger::verify_dir(d.path()).unwrap();
    }
    drop(a_journal);
}

fn svc_journal(svc: TestService) -> Journal {
    svc.journal
}

/// A one-node service on a simulated disk, with its vote file next to the ledger.
fn sim_single(disk: &SimStorage) -> (Replica, NodeId) {
    let svc = TestService::create(Path::new("/n0/ledger"), |c| {
        replicated(c);
        c.storage = disk.shared();
    })
    .unwrap();
    let id = raft_id(&svc.node.node_id);
    let opts = ReplicaOptions {
        vote_file: Some("/n0/vote".into()),
        election_timeout_ms: Some((50, 100)),
        ..Default::default()
    };
    let r = Replica::with_options(Arc::new(svc.journal), vec![id], opts, 1, 0).unwrap();
    (r, id)
}

#[test]
fn vote_is_written_through_the_journal_storage_and_survives_a_crash() {
    let disk = SimStorage::new(7);
    let (mut r, id) = sim_single(&disk);
    for t in 1..50 {
        r.tick(t * 10).unwrap();
    }
    assert!(r.is_primary());
    let vote = read_vote(&disk, Path::new("/n0/vote")).unwrap();
    assert_eq!(vote, r.vote);
    assert_eq!(vote.1, Some(id));
    assert!(vote.0 >= 1);
    disk.crash();
    assert_eq!(read_vote(&disk, Path::new("/n0/vote")).unwrap(), vote);
}

#[test]
fn a_failed_vote_write_is_fatal_and_a_conflict_is_not() {
    let disk = SimStorage::new(8);
    let (mut r, _) = sim_single(&disk);
    disk.fail_next_fsync();
    let err = (1..50)
        .find_map(|t| r.tick(t * 10).err())
        .expect("the election persists a vote");
    assert!(matches!(err, ReplicaError::Vote(_)), "{err}");
    assert!(err.is_fatal());
    assert!(!ReplicaError::NotPrimary(None).is_fatal());
    assert!(r.fatal_error().is_none(), "the journal itself still runs");
}

#[test]
fn a_stopped_journal_makes_the_replica_error_fatal() {
    let disk = SimStorage::new(9);
    let (mut r, _) = sim_single(&disk);
    for t in 1..50 {
        r.tick(t * 10).unwrap();
    }
    assert!(r.is_primary());
    disk.fail_next_fsync();
    let err = r.sign().unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert!(r.fatal_error().is_some());
    let mut tx = r.journal.begin();
    tx.put("public:records", Bytes::from("k"), Bytes::from("v"));
    assert!(r.submit(tx).unwrap_err().is_fatal());
}
