use super::*;
use crate::{merkle::BLOCK, testing::TestService, verify::for_each_entry};

fn config(c: &mut JournalConfig) {
    c.chunk_threshold = 64 * 1024;
    c.sig_tx_interval = 50;
}

/// Every leaf, recomputed by an auditor from the files.
fn leaves_on_disk(dir: &std::path::Path) -> Vec<Sha256Digest> {
    let mut a = Auditor::new();
    let mut out = vec![Sha256Digest::ZERO];
    for_each_entry(dir, |s, b| {
        out.push(a.add(s, b)?.leaf);
        Ok(())
    })
    .unwrap();
    out
}

fn check_receipts(svc: &TestService, seqnos: impl Iterator<Item = Version>) -> usize {
    let mut n = 0;
    for s in seqnos {
        if svc.journal.is_signature(s) {
            continue;
        }
        let r = svc
            .journal
            .receipt(s)
            .unwrap_or_else(|e| panic!("receipt {s}: {e}"));
        assert_eq!(r.verify(&svc.service.cert).unwrap().seqno, s);
        n += 1;
    }
    n
}

/// Long after a transaction committed, its tree nodes and its signature's record are gone
/// from memory; its receipt (and Merkle leaf) is recomputed from the ledger, and verifies.
#[test]
fn old_receipts_and_leaves_come_back_from_the_ledger() {
    let d = tempfile::tempdir().unwrap();
    let svc = TestService::create(d.path(), config).unwrap();
    svc.write_records(4 * BLOCK as usize + 300, "v").unwrap();
    svc.journal.sign().unwrap();
    let committed = svc.journal.committed().seqno;
    {
        let inner = svc.journal.lock();
        assert!(
            inner.tree.flushed() >= 2 * BLOCK,
            "{}",
            inner.tree.flushed()
        );
        assert!(inner.tree.leaf(1).is_none(), "old leaves are flushed");
        assert!(inner.signatures.recent.len() <= RECENT_RECORDS + 1);
        assert!(!inner
            .signatures
            .recent
            .contains_key(&inner.signatures.first_after(1).unwrap()));
    }
    // Old (flushed, records forgotten), at block edges, and recent.
    let probes = (1..committed).step_by(97).chain([
        1,
        BLOCK - 1,
        BLOCK,
        BLOCK + 1,
        2 * BLOCK,
        committed - 1,
    ]);
    assert!(check_receipts(&svc, probes) > 40);
    svc.journal.flush().unwrap();
    let disk = leaves_on_disk(d.path());
    let last = svc.journal.last_txid().seqno;
    let got = svc.journal.leaves(1, last);
    assert_eq!(got.len() as u64, last);
    for (i, l) in got.iter().enumerate() {
        assert_eq!(*l, Some(disk[i + 1]), "leaf {}", i + 1);
    }
    assert_eq!(svc.journal.leaves(last + 1, last + 3), vec![None; 3]);

    // A restart replays with the same bounds and serves the same receipts.
    let (svc, _) = svc.reopen().unwrap();
    assert!(svc.journal.lock().tree.flushed() >= 2 * BLOCK);
    assert!(check_receipts(&svc, (1..committed).step_by(301).chain([2 * BLOCK + 5])) > 10);
    // And it goes on: rollbacks to the commit point and new receipts still work.
    let c = svc.journal.committed();
    svc.write_records(10, "tail").unwrap();
    svc.journal.rollback(c.seqno).unwrap();
    assert_eq!(svc.journal.last_txid().seqno, c.seqno);
    svc.write_records(120, "after").unwrap();
    svc.journal.sign().unwrap();
    let c2 = svc.journal.committed().seqno;
    assert!(check_receipts(&svc, c.seqno + 1..c2) > 100);
}
