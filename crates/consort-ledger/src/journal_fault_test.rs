use std::path::{Path, PathBuf};

use super::*;
use crate::{
    storage::sim::SimStorage,
    testing::TestService,
    verify::{verify_dir_with_in, Auditor},
};

fn ledger_dir() -> PathBuf {
    PathBuf::from("/sim/node0/ledger")
}

fn on(sim: &SimStorage) -> impl FnOnce(&mut JournalConfig) + '_ {
    move |c: &mut JournalConfig| {
        c.chunk_threshold = 4096;
        c.sig_tx_interval = 20;
        c.storage = sim.shared();
    }
}

fn reopen(svc: TestService, sim: &SimStorage, dir: &Path) -> Journal {
    let config = svc.journal.config().clone();
    let TestService { node, secrets, .. } = svc;
    assert_eq!(config.dir, dir);
    let (j, _) = Journal::open(config, Arc::new(Store::new()), node, secrets).unwrap();
    verify_dir_with_in(sim, dir, Auditor::new()).unwrap();
    j
}

#[test]
fn a_failed_fsync_at_a_signature_stops_the_journal_and_a_restart_keeps_the_committed() {
    let sim = SimStorage::new(11);
    let svc = TestService::create(&ledger_dir(), on(&sim)).unwrap();
    let written = svc.write_records(50, "v").unwrap();
    let committed = svc.journal.committed();
    assert!(committed.seqno > 40);
    let mut tx = svc.journal.begin();
    tx.put("records", &b"late"[..], &b"x"[..]);
    svc.journal.commit(tx).unwrap();

    sim.fail_next_fsync();
    let e = svc.journal.sign().unwrap_err();
    assert!(e.is_fatal(), "{e}");
    assert!(e.to_string().contains("injected fsync failure"), "{e}");
    // Stopped: every later change is refused with the same error, reads still work.
    let mut tx = svc.journal.begin();
    tx.put("records", &b"after"[..], &b"y"[..]);
    let again = svc.journal.commit(tx).unwrap_err();
    assert_eq!(again.to_string(), e.to_string());
    assert!(svc.journal.sign().unwrap_err().is_fatal());
    assert!(svc.journal.flush().unwrap_err().is_fatal());
    assert!(svc.journal.commit_to(svc.journal.last_txid()).is_err());
    assert!(svc
        .journal
        .rollback(committed.seqno)
        .unwrap_err()
        .is_fatal());
    assert!(svc.journal.fatal_error().is_some_and(|f| f.is_fatal()));
    assert_eq!(svc.journal.committed(), committed);

    sim.crash();
    let j = reopen(svc, &sim, &ledger_dir());
    assert!(j.committed().seqno >= committed.seqno);
    let snap = j.store().snapshot();
    for w in written.iter().filter(|w| w.txid.seqno <= committed.seqno) {
        let key = &w.key;
        let exists_now = snap.get(&w.map, key);
        // Later writes may remove a key again: compare with the primary's history.
        if let Some(v) = exists_now {
            assert!(v.starts_with(b"v-"), "{w:?}");
        }
        let e = j.decode_entry(w.txid.seqno).unwrap();
        assert_eq!(e.txid, w.txid);
    }
    assert!(snap.get("records", b"after").is_none());
    // It works again.
    let mut tx = j.begin();
    tx.put("records", &b"after"[..], &b"y"[..]);
    j.commit(tx).unwrap();
    j.sign().unwrap();
}

#[test]
fn a_failed_write_of_a_replicated_entry_stops_the_backup() {
    let pd = tempfile::tempdir().unwrap();
    let primary = TestService::create(pd.path(), |c| {
        c.sig_tx_interval = 10;
        c.commit_on_signature = false;
    })
    .unwrap();
    primary.write_records(25, "v").unwrap();
    let sim = SimStorage::new(3);
    let mut config = JournalConfig::new(ledger_dir());
    config.commit_on_signature = false;
    config.storage = sim.shared();
    let b = Journal::create(
        config,
        Arc::new(Store::new()),
        primary.node.clone(),
        primary.secrets.clone(),
    )
    .unwrap();
    let sigs: Vec<Version> = (1..=primary.journal.last_txid().seqno)
        .filter(|s| primary.journal.is_signature(*s))
        .collect();
    let first_sig = sigs[0];
    for s in 1..=first_sig {
        b.append_replicated(&primary.journal.read_entry(s).unwrap())
            .unwrap();
    }
    b.commit_to(TxId::new(b.view_of(first_sig).unwrap(), first_sig))
        .unwrap();
    // The entries up to the next signature are buffered; its write fails.
    sim.fail_next_write();
    let next_sig = sigs[1];
    let mut err = None;
    for s in first_sig + 1..=next_sig {
        if let Err(e) = b.append_replicated(&primary.journal.read_entry(s).unwrap()) {
            err = Some((s, e));
            break;
        }
    }
    let (at, e) = err.expect("the write failed");
    assert_eq!(at, next_sig);
    assert!(e.is_fatal(), "{e}");
    let retry = b
        .append_replicated(&primary.journal.read_entry(next_sig + 1).unwrap())
        .unwrap_err();
    assert!(retry.is_fatal());
    drop(b);
    sim.crash();
    let mut config = JournalConfig::new(ledger_dir());
    config.commit_on_signature = false;
    config.storage = sim.shared();
    let (b, _) = Journal::open(
        config,
        Arc::new(Store::new()),
        primary.node.clone(),
        primary.secrets.clone(),
    )
    .unwrap();
    assert!(b.last_txid().seqno >= first_sig);
    assert!(b.committed().seqno <= first_sig);
    assert_eq!(b.decode_entry(first_sig).unwrap().txid.seqno, first_sig);
}
