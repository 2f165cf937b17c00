//! Three networked replicas in one process, over real mutual-TLS sockets: grow 1→3,
//! replicate, lose the primary, elect another, carry on; committed ledgers agree.

use std::time::Duration;

use consort_kv::{Bytes, Store};
use consort_ledger::{tables, testing::TestService, Journal, JournalConfig};

use super::*;
use crate::replica::test_support::committed_files;

fn replicated(c: &mut JournalConfig) {
    c.commit_on_signature = false;
    c.sig_tx_interval = 10;
    c.sig_ms_interval = 50;
    c.chunk_threshold = 2048;
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networked_replicas_grow_replicate_and_fail_over() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let svc = TestService::create(dirs[0].path(), replicated).unwrap();
    let service_cert = svc.service.cert.clone();
    let sans = consort_crypto::cert::Sans {
        ips: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    };
    let mut identities = vec![svc.node.clone()];
    let mut journals = Vec::new();
    for d in &dirs[1..] {
        let node = Arc::new(NodeIdentity::generate(&svc.service, &sans).unwrap());
        let mut cfg = JournalConfig::new(d.path());
        replicated(&mut cfg);
        journals.push(
            Journal::create(
                cfg,
                Arc::new(Store::new()),
                node.clone(),
                svc.secrets.clone(),
            )
            .unwrap(),
        );
        identities.push(node);
    }
    // The founding node's endorsed certificate needs a SAN for 127.0.0.1 for n2n; the test
    // service's node already has one.
    let ids: Vec<NodeId> = identities.iter().map(|n| raft_id(&n.node_id)).collect();
    let book: AddressBook = Arc::default();
    let mut listeners = Vec::new();
    for id in &ids {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        book.lock().unwrap().insert(*id, l.local_addr().unwrap());
        listeners.push(l);
    }
    let mut replicas =
        vec![Replica::new(Arc::new(svc.journal), vec![ids[0]], (0, None), 1, 0).unwrap()];
    for (i, j) in journals.into_iter().enumerate() {
        replicas.push(
            Replica::new(
                Arc::new(j),
                vec![ids[0], ids[i + 1]],
                (0, None),
                i as u64 + 2,
                0,
            )
            .unwrap(),
        );
    }
    let mut clusters = Vec::new();
    for ((r, l), n) in replicas.into_iter().zip(listeners).zip(&identities) {
        clusters.push(
            Cluster::start(
                r,
                n,
                &service_cert,
                l,
                book.clone(),
                Duration::from_millis(10),
                None,
                crate::fatal::FatalLatch::new(std::sync::Arc::new(|line| panic!("{line}"))),
            )
            .unwrap(),
        );
    }
    until("the founder to lead", || {
        clusters[0].with(|r| r.is_primary())
    })
    .await;

    for n in &identities[1..] {
        let mut tx = clusters[0].with(|r| r.journal.begin());
        tx.put(
            tables::NODES_INFO,
            Bytes::from(n.node_id.clone()),
            serde_json::to_vec(&tables::NodeInfo::trusted(n.public_key_pem())).unwrap(),
        );
        tx.put(
            tables::ENDORSED_CERTIFICATES,
            Bytes::from(n.node_id.clone()),
            n.cert.to_pem().into_bytes(),
        );
        clusters[0].submit(tx).unwrap();
        clusters[0].sign().unwrap();
        let want = clusters[0].with(|r| r.journal.last_txid().seqno);
        until("the new member to catch up", || {
            clusters[0].with(|r| r.commit_seqno()) >= want
        })
        .await;
    }
    for i in 0..20 {
        let mut tx = clusters[0].with(|r| r.journal.begin());
        tx.put(
            "records",
            Bytes::from(format!("k{i}")),
            Bytes::from(format!("v{i}")),
        );
        clusters[0].submit(tx).unwrap();
    }
    clusters[0].sign().unwrap();
    let last = clusters[0].with(|r| r.journal.last_txid().seqno);
    until("all replicas to commit everything", || {
        clusters
            .iter()
            .all(|c| c.with(|r| r.journal.committed().seqno) >= last)
    })
    .await;

    // The primary goes silent; one of the others takes over.
    clusters[0].stop();
    until("a new primary", || {
        clusters[1..].iter().any(|c| c.with(|r| r.is_primary()))
    })
    .await;
    let p = if clusters[1].with(|r| r.is_primary()) {
        1
    } else {
        2
    };
    let mut tx = clusters[p].with(|r| r.journal.begin());
    tx.put("records", &b"after"[..], &b"failover"[..]);
    clusters[p].submit(tx).unwrap();
    clusters[p].sign().unwrap();
    let last = clusters[p].with(|r| r.journal.last_txid().seqno);
    until("the survivors to commit", || {
        clusters[1..]
            .iter()
            .all(|c| c.with(|r| r.journal.committed().seqno) >= last)
    })
    .await;
    for c in &clusters[1..] {
        c.stop();
        let snap = c.with(|r| r.journal.store().snapshot());
        assert_eq!(
            snap.get("records", b"after").as_deref(),
            Some(&b"failover"[..])
        );
        assert_eq!(snap.get("records", b"k19").as_deref(), Some(&b"v19"[..]));
        c.with(|r| r.journal.flush()).unwrap();
    }
    let (fb, fc) = (
        committed_files(dirs[1].path()),
        committed_files(dirs[2].path()),
    );
    assert!(!fb.is_empty());
    assert_eq!(fb, fc, "byte-identical committed ledgers");
    for d in &dirs[1..] {
        consort_ledger::verify_dir(d.path()).unwrap();
    }
}
