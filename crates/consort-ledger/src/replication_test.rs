//! A backup journal fed the primary's entries ends up with the same state and a
//! byte-identical ledger; bad or forged entries are refused without effect.

use std::{fs, path::Path, sync::Arc};

use consort_kv::Store;

use super::*;
use crate::{identity::NodeIdentity, testing::TestService};

fn replicated(c: &mut JournalConfig) {
    c.chunk_threshold = 4096;
    c.sig_tx_interval = 20;
    c.commit_on_signature = false;
}

fn backup(primary: &TestService, dir: &Path) -> Journal {
    let node = Arc::new(NodeIdentity::generate(&primary.service, &Default::default()).unwrap());
    let mut cfg = JournalConfig::new(dir);
    replicated(&mut cfg);
    Journal::create(cfg, Arc::new(Store::new()), node, primary.secrets.clone()).unwrap()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn backup_replays_primary_byte_for_byte() {
    let (pd, bd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let primary = TestService::create(pd.path(), replicated).unwrap();
    primary.write_records(150, "v").unwrap();
    let last_sig = primary.journal.sign().unwrap();
    let b = backup(&primary, bd.path());
    for s in 1..=primary.journal.last_txid().seqno {
        let t = b
            .append_replicated(&primary.journal.read_entry(s).unwrap())
            .unwrap();
        assert_eq!(t.seqno, s);
    }
    // Consensus commits the same point on both.
    primary.journal.commit_to(last_sig).unwrap();
    b.commit_to(last_sig).unwrap();
    primary.journal.flush().unwrap();
    b.flush().unwrap();
    assert_eq!(files(pd.path()), files(bd.path()), "byte-identical ledgers");
    let (ps, bs) = (primary.journal.store().snapshot(), b.store().snapshot());
    assert_eq!(ps.map_names(), bs.map_names());
    for m in ps.map_names() {
        assert_eq!(ps.entries(&m), bs.entries(&m), "{m}");
    }
    // The backup can serve receipts for committed transactions.
    let r = b.receipt(10).unwrap();
    assert_eq!(r.verify(&primary.service.cert).unwrap().seqno, 10);
    assert_eq!(b.merkle_root(), primary.journal.merkle_root());
}

#[test]
fn bad_entries_are_refused_and_change_nothing() {
    let (pd, bd, rd) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let primary = TestService::create(pd.path(), replicated).unwrap();
    primary.write_records(30, "v").unwrap();
    let b = backup(&primary, bd.path());
    for s in 1..=10 {
        b.append_replicated(&primary.journal.read_entry(s).unwrap())
            .unwrap();
    }
    let before = (b.last_txid(), b.merkle_root());
    // Out of order.
    assert!(b
        .append_replicated(&primary.journal.read_entry(12).unwrap())
        .is_err());
    // Tampered.
    let mut e = primary.journal.read_entry(11).unwrap();
    let n = e.len();
    e[n - 3] ^= 1;
    assert!(b.append_replicated(&e).is_err());
    assert_eq!((b.last_txid(), b.merkle_root()), before);

    // A signature by a node that is not part of the service: a rogue replica with the
    // ledger secret replays the prefix, then signs it itself.
    let rogue = backup(&primary, rd.path());
    for s in 1..=10 {
        rogue
            .append_replicated(&primary.journal.read_entry(s).unwrap())
            .unwrap();
    }
    rogue.sign().unwrap();
    let forged = rogue.read_entry(11).unwrap();
    let err = b.append_replicated(&forged).unwrap_err();
    assert!(err.to_string().contains("no endorsed certificate"), "{err}");
    assert_eq!((b.last_txid(), b.merkle_root()), before);
    // The genuine entry is still accepted afterwards.
    b.append_replicated(&primary.journal.read_entry(11).unwrap())
        .unwrap();
}
