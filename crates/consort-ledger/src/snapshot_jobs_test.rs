//! Snapshots serialized off the lock: primary and backup pin the same signature, the
//! primary records evidence later (E > S + 1) while writes go on, and the backup writes
//! an identical copy; a rolled-back pin is forgotten.

use std::{path::Path, sync::Arc, time::Duration};

use consort_kv::Store;

use super::*;
use crate::{identity::NodeIdentity, testing::TestService};

fn cfg(c: &mut JournalConfig) {
    c.chunk_threshold = 1 << 20;
    c.sig_tx_interval = 1000;
    c.commit_on_signature = false;
}

/// Poll `f` until it gives something (serializing runs on its own thread).
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..500 {
        if let Some(t) = f() {
            return t;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out");
}

fn replicate(from: &Journal, to: &Journal) {
    for s in to.last_txid().seqno + 1..=from.last_txid().seqno {
        to.append_replicated(&from.read_entry(s).unwrap()).unwrap();
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn primary_and_backup_snapshot_the_same_signature_off_the_lock() {
    let (pd, bd, ps, bs) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let p = TestService::create(pd.path(), cfg).unwrap();
    let node = Arc::new(NodeIdentity::generate(&p.service, &Default::default()).unwrap());
    let mut bc = JournalConfig::new(bd.path());
    cfg(&mut bc);
    let b = Journal::create(bc, Arc::new(Store::new()), node, p.secrets.clone()).unwrap();
    p.journal.set_snapshot_interval(50);
    b.set_snapshot_interval(50);
    // A signature before the first multiple of 50 pins nothing; the one after it does.
    p.write_records(10, "a").unwrap();
    p.journal.sign().unwrap();
    assert!(p
        .journal
        .record_serialized_snapshot(ps.path())
        .unwrap()
        .is_none());
    p.write_records(45, "b").unwrap();
    let s = p.journal.sign().unwrap().seqno;
    assert!(s >= 50);
    replicate(&p.journal, &b);
    // Writes go on while it serializes; the evidence comes after them.
    p.write_records(5, "c").unwrap();
    let pending = wait_for(|| p.journal.record_serialized_snapshot(ps.path()).unwrap());
    assert_eq!(pending.seqno, s);
    assert!(pending.evidence > s + 1, "{pending:?}");
    p.journal.sign().unwrap();
    replicate(&p.journal, &b);
    let copies = wait_for(|| {
        let v = b.take_replicated_snapshots(bs.path()).unwrap();
        (!v.is_empty()).then_some(v)
    });
    assert_eq!(copies.len(), 1);
    assert_eq!((copies[0].seqno, copies[0].evidence), (s, pending.evidence));
    assert_eq!(
        std::fs::read(&copies[0].path).unwrap(),
        std::fs::read(&pending.path).unwrap(),
        "identical state at S gives identical bytes"
    );
    // Completed when E commits, on both: a snapshot a node can start from.
    let last = p.journal.last_txid();
    p.journal.commit_to(last).unwrap();
    b.commit_to(last).unwrap();
    let done = p.journal.complete_snapshot(&pending).unwrap();
    b.complete_snapshot(&copies[0]).unwrap();
    assert_eq!(names(ps.path()), names(bs.path()));
    let joiner_dir = tempfile::tempdir().unwrap();
    let joiner_node = Arc::new(NodeIdentity::generate(&p.service, &Default::default()).unwrap());
    let mut jc = JournalConfig::new(joiner_dir.path());
    cfg(&mut jc);
    let j = Journal::open_from_snapshot(
        jc,
        Arc::new(Store::new()),
        joiner_node,
        p.secrets.clone(),
        &done,
        &p.service.cert,
    )
    .unwrap();
    assert_eq!(j.last_txid().seqno, s);
    for seqno in s + 1..=last.seqno {
        j.append_replicated(&p.journal.read_entry(seqno).unwrap())
            .unwrap();
    }
    assert_eq!(j.merkle_root(), p.journal.merkle_root());
}

#[test]
fn a_pin_that_is_rolled_back_is_forgotten() {
    let (pd, ps) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let p = TestService::create(pd.path(), cfg).unwrap();
    p.write_records(3, "a").unwrap();
    let keep = p.journal.sign().unwrap();
    p.journal.commit_to(keep).unwrap();
    p.journal.set_snapshot_interval(5);
    p.write_records(6, "b").unwrap();
    p.journal.sign().unwrap();
    p.journal.rollback(keep.seqno).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        p.journal
            .record_serialized_snapshot(ps.path())
            .unwrap()
            .is_none(),
        "a snapshot of a rolled-back state is never recorded"
    );
}
