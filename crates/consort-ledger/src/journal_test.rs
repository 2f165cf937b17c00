use std::{
    fs,
    time::{Duration, Instant},
};

use consort_kv::LedgerSecret;

use super::*;
use crate::{testing::TestService, verify_dir};

fn small(c: &mut JournalConfig) {
    c.chunk_threshold = 4096;
    c.sig_tx_interval = 20;
}

#[test]
fn writes_sign_commit_and_verify() {
    let d = tempfile::tempdir().unwrap();
    let svc = TestService::create(d.path(), small).unwrap();
    let written = svc.write_records(95, "v").unwrap();
    // bootstrap (1) + sig (2) + open (3) + sig (4), then 95 writes with a signature after
    // every 20.
    assert_eq!(written[0].txid.seqno, 5);
    let last_sig = svc.journal.last_signature().unwrap();
    assert_eq!(svc.journal.committed().seqno, last_sig);
    assert!(
        svc.journal.last_txid().seqno > last_sig,
        "an unsigned tail remains"
    );
    svc.journal.flush().unwrap();
    let report = verify_dir(d.path()).unwrap();
    assert_eq!(report.verified_up_to.unwrap().seqno, last_sig);
    assert_eq!(report.transactions, svc.journal.last_txid().seqno);
    assert!(report.chunks > 2, "{report:?}");
    assert_eq!(report.signatures, 2 + 95 / 20);
}

#[test]
fn receipts_verify_and_tampering_fails() {
    let d = tempfile::tempdir().unwrap();
    let svc = TestService::create(d.path(), small).unwrap();
    let written = svc.write_records(45, "v").unwrap();
    let committed = svc.journal.committed().seqno;
    for w in written.iter().filter(|w| w.txid.seqno <= committed) {
        let r = svc.journal.receipt(w.txid.seqno).unwrap();
        assert_eq!(r.verify(&svc.service.cert).unwrap(), w.txid);
        // Round trip through JSON, as clients get it.
        let j = serde_json::to_string(&r).unwrap();
        let back: Receipt = serde_json::from_str(&j).unwrap();
        assert_eq!(back.verify(&svc.service.cert).unwrap(), w.txid);
    }
    let r = svc.journal.receipt(written[3].txid.seqno).unwrap();
    let mut bad = r.clone();
    bad.leaf_components.write_set_digest = sha256(b"other");
    assert!(bad.verify(&svc.service.cert).is_err());
    let mut bad = r.clone();
    bad.leaf_components.commit_evidence =
        bad.leaf_components.commit_evidence.replace("ce:", "ce:1");
    assert!(bad.verify(&svc.service.cert).is_err());
    let other = crate::identity::ServiceIdentity::generate().unwrap();
    assert!(r.verify(&other.cert).is_err());
    // Not yet signed / not committed: no receipt, no commit evidence.
    let tail = svc.journal.last_txid().seqno;
    assert!(matches!(
        svc.journal.receipt(tail),
        Err(LedgerError::NotSigned(_))
    ));
}

#[test]
fn restart_rebuilds_state_and_rolls_back_unsigned_tail() {
    let d = tempfile::tempdir().unwrap();
    let svc = TestService::create(d.path(), small).unwrap();
    svc.write_records(50, "v").unwrap();
    let last_sig = svc.journal.sign().unwrap().seqno;
    let before = svc.journal.store().snapshot();
    let root_at_sig = svc.journal.merkle_root();
    svc.write_records(7, "tail").unwrap();
    let view_before = svc.journal.store().view();
    let last_before = svc.journal.last_txid().seqno;
    svc.journal.flush().unwrap();
    let (svc, report) = svc.reopen().unwrap();
    assert_eq!(report.last_signature.unwrap().seqno, last_sig);
    assert_eq!(report.rolled_back, last_before - last_sig);
    assert_eq!(report.rolled_back, 7);
    let after = svc.journal.store().snapshot();
    assert_eq!(after.version(), last_sig);
    assert_eq!(after.map_names(), before.map_names());
    for map in before.map_names() {
        assert_eq!(after.entries(&map), before.entries(&map), "{map}");
    }
    assert_eq!(svc.journal.merkle_root(), root_at_sig);
    assert_eq!(svc.journal.store().view(), view_before + 1);
    // Writing continues at the next seqno, in the new view, and verifies.
    let w = svc.write_records(30, "after").unwrap();
    assert_eq!(w[0].txid, TxId::new(view_before + 1, last_sig + 1));
    svc.journal.sign().unwrap();
    let report = verify_dir(d.path()).unwrap();
    assert_eq!(report.unsigned_tail, 0);
    let r = svc.journal.receipt(w[0].txid.seqno).unwrap();
    assert_eq!(r.verify(&svc.service.cert).unwrap(), w[0].txid);
}

#[test]
fn restart_with_wrong_secret_fails_at_first_entry() {
    let d = tempfile::tempdir().unwrap();
    let svc = TestService::create(d.path(), small).unwrap();
    svc.write_records(5, "v").unwrap();
    let config = svc.journal.config().clone();
    let node = svc.node.clone();
    drop(svc);
    let wrong = LedgerSecrets::single(LedgerSecret::generate().unwrap());
    let e = Journal::open(config, Arc::new(Store::new()), node, wrong).unwrap_err();
    assert_eq!(e.bad_seqno(), Some(1), "{e}");
}

#[test]
fn private_values_never_on_disk_in_clear() {
    let d = tempfile::tempdir().unwrap();
    let svc = TestService::create(d.path(), small).unwrap();
    let w = svc.write_records(60, "S3CR3T-MARKER").unwrap();
    svc.journal.sign().unwrap();
    drop(svc);
    let mut public_seen = 0;
    for e in fs::read_dir(d.path()).unwrap() {
        let bytes = fs::read(e.unwrap().path()).unwrap();
        for x in &w {
            let found = bytes.windows(x.value.len()).any(|win| win == &x.value[..]);
            if x.map == "records" {
                assert!(
                    !found,
                    "private value {:?} in clear",
                    String::from_utf8_lossy(&x.value)
                );
            } else if found {
                public_seen += 1;
            }
        }
    }
    assert_eq!(public_seen, 30, "public values are readable in the ledger");
}

#[test]
fn flipped_byte_in_signed_prefix_is_caught_by_verify_and_restart() {
    let d = tempfile::tempdir().unwrap();
    let svc = TestService::create(d.path(), small).unwrap();
    svc.write_records(40, "v").unwrap();
    svc.journal.sign().unwrap();
    let config = svc.journal.config().clone();
    let (node, secrets) = (svc.node.clone(), svc.secrets.clone());
    drop(svc);
    let first = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("ledger_1-")
        })
        .unwrap();
    let mut bytes = fs::read(&first).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    fs::write(&first, &bytes).unwrap();
    let e = verify_dir(d.path()).unwrap_err();
    assert!(e.bad_seqno().is_some(), "{e}");
    let e = Journal::open(config, Arc::new(Store::new()), node, secrets).unwrap_err();
    assert!(e.bad_seqno().is_some(), "{e}");
}

#[test]
fn tick_signs_after_interval_only_when_needed() {
    let d = tempfile::tempdir().unwrap();
    let svc = TestService::create(d.path(), |c| {
        c.sig_tx_interval = 1_000_000;
        c.sig_ms_interval = 10;
    })
    .unwrap();
    let t0 = Instant::now();
    assert_eq!(svc.journal.tick(t0).unwrap(), None);
    svc.write_records(3, "v").unwrap();
    assert_eq!(
        svc.journal.tick(t0 + Duration::from_millis(5)).unwrap(),
        None
    );
    let s = svc
        .journal
        .tick(t0 + Duration::from_millis(11))
        .unwrap()
        .unwrap();
    assert_eq!(s.seqno, 4 + 3 + 1);
    // Nothing new: no empty signatures.
    assert_eq!(
        svc.journal.tick(t0 + Duration::from_millis(30)).unwrap(),
        None
    );
}

#[test]
fn rollback_discards_uncommitted_tail_only() {
    let d = tempfile::tempdir().unwrap();
    let svc = TestService::create(d.path(), |c| c.sig_tx_interval = 1_000_000).unwrap();
    let w = svc.write_records(10, "v").unwrap();
    let committed = svc.journal.committed().seqno;
    svc.journal.rollback(w[4].txid.seqno).unwrap();
    assert_eq!(svc.journal.last_txid().seqno, w[4].txid.seqno);
    assert!(svc.journal.rollback(committed - 1).is_err());
    svc.journal.sign().unwrap();
    assert_eq!(verify_dir(d.path()).unwrap().unsigned_tail, 0);
}

#[test]
fn conflicting_commit_leaves_ledger_untouched() {
    let d = tempfile::tempdir().unwrap();
    let svc = TestService::create(d.path(), small).unwrap();
    let mut a = svc.journal.begin();
    let mut b = svc.journal.begin();
    a.get("records", b"k");
    b.get("records", b"k");
    a.put("records", &b"k"[..], &b"a"[..]);
    b.put("records", &b"k"[..], &b"b"[..]);
    svc.journal.commit(a).unwrap();
    let before = svc.journal.last_txid();
    let e = svc.journal.commit(b).unwrap_err();
    assert!(
        matches!(e, LedgerError::Kv(consort_kv::KvError::Conflict { .. })),
        "{e}"
    );
    assert!(e.is_retryable() && !e.is_fatal());
    assert!(svc.journal.fatal_error().is_none());
    assert_eq!(svc.journal.last_txid(), before);
    svc.journal.sign().unwrap();
    verify_dir(d.path()).unwrap();
}

#[test]
fn tx_status_follows_ccf() {
    use crate::journal::TxStatus::*;
    let d = tempfile::tempdir().unwrap();
    let svc = TestService::create(d.path(), |c| c.sig_tx_interval = 1_000_000).unwrap();
    let w = svc.write_records(3, "v").unwrap();
    let j = &svc.journal;
    let t = w[0].txid;
    assert_eq!(j.tx_status(t), Pending);
    assert_eq!(j.tx_status(TxId::new(t.view + 1, t.seqno)), Unknown);
    assert_eq!(j.tx_status(TxId::new(t.view, 1000)), Unknown);
    j.sign().unwrap();
    assert_eq!(j.tx_status(t), Committed);
    assert_eq!(j.tx_status(TxId::new(t.view + 1, t.seqno)), Invalid);
    assert_eq!(j.tx_status(TxId::new(t.view, 0)), Invalid);
    // A rolled-back seqno reused in a new view: the old id is Invalid.
    let w = svc.write_records(2, "tail").unwrap();
    j.flush().unwrap();
    let (svc, _) = svc.reopen().unwrap();
    let j = &svc.journal;
    assert_eq!(
        j.tx_status(w[0].txid),
        Invalid,
        "rolled back, and the view moved on"
    );
    let again = svc.write_records(1, "new").unwrap();
    assert_eq!(again[0].txid.seqno, w[0].txid.seqno);
    assert_eq!(j.tx_status(w[0].txid), Invalid);
    assert_eq!(j.tx_status(again[0].txid), Pending);
    assert_eq!(j.view_of(again[0].txid.seqno), Some(again[0].txid.view));
}
