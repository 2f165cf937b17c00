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
    assert!(!err.is_fatal() && !err.is_retryable());
    assert!(b.fatal_error().is_none());
    assert_eq!((b.last_txid(), b.merkle_root()), before);
    // The genuine entry is still accepted afterwards.
    b.append_replicated(&primary.journal.read_entry(11).unwrap())
        .unwrap();
}

#[test]
fn a_backup_starts_from_a_snapshot_and_replays_the_suffix() {
    let (pd, sd, bd) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let primary = TestService::create(pd.path(), |c| {
        c.chunk_threshold = 4096;
        c.sig_tx_interval = 20;
    })
    .unwrap();
    primary.write_records(100, "before").unwrap();
    primary.journal.sign().unwrap();
    let snap = primary.journal.write_snapshot(sd.path()).unwrap();
    let name = snap.file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with("snapshot_") && name.ends_with(".committed"),
        "{name}"
    );
    let s: u64 = name.split('_').nth(1).unwrap().parse().unwrap();
    primary.write_records(60, "after").unwrap();
    primary.journal.sign().unwrap();

    let node = Arc::new(NodeIdentity::generate(&primary.service, &Default::default()).unwrap());
    let mut cfg = JournalConfig::new(bd.path());
    replicated(&mut cfg);
    let b = Journal::open_from_snapshot(
        cfg,
        Arc::new(Store::new()),
        node,
        primary.secrets.clone(),
        &snap,
        &primary.service.cert,
    )
    .unwrap();
    assert_eq!(b.last_txid().seqno, s);
    for seqno in s + 1..=primary.journal.last_txid().seqno {
        b.append_replicated(&primary.journal.read_entry(seqno).unwrap())
            .unwrap();
    }
    let (ps, bs) = (primary.journal.store().snapshot(), b.store().snapshot());
    for m in ps.map_names() {
        assert_eq!(ps.entries(&m), bs.entries(&m), "{m}");
    }
    assert_eq!(b.merkle_root(), primary.journal.merkle_root());
    // An auditor with no secret verifies the backup's ledger from the snapshot on...
    b.flush().unwrap();
    let snap_bytes = fs::read(&snap).unwrap();
    let auditor = crate::verify::Auditor::from_snapshot(&snap_bytes)
        .unwrap()
        .with_service_cert(primary.service.cert.clone());
    let report = crate::verify::verify_dir_with(bd.path(), auditor).unwrap();
    assert_eq!(
        report.last_txid.unwrap().seqno,
        primary.journal.last_txid().seqno
    );
    // ...and refuses it with a snapshot whose public state was altered (genuine receipt).
    let len = consort_kv::entry::entry_len(&snap_bytes).unwrap() as usize;
    let mut forged = snap_bytes.clone();
    let at = forged[..len]
        .windows(10)
        .position(|w| w == b"before-000")
        .expect("a public value");
    forged[at] = b'B';
    let auditor = crate::verify::Auditor::from_snapshot(&forged).unwrap();
    let err = crate::verify::verify_dir_with(bd.path(), auditor).unwrap_err();
    assert!(
        err.to_string().contains("not the one the ledger attests"),
        "{err}"
    );

    // Only the suffix is on the backup's disk.
    let first = files(bd.path()).first().unwrap().0.clone();
    assert!(first.starts_with(&format!("ledger_{}", s + 1)), "{first}");
}

#[test]
fn snapshots_that_do_not_match_their_evidence_are_refused() {
    let (pd, sd, bd, bd2) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let primary = TestService::create(pd.path(), |c| c.sig_tx_interval = 1000).unwrap();
    primary.write_records(20, "v").unwrap();
    primary.journal.sign().unwrap();
    let snap = primary.journal.write_snapshot(sd.path()).unwrap();
    let bytes = fs::read(&snap).unwrap();
    let len = consort_kv::entry::entry_len(&bytes).unwrap() as usize;
    let mk = |dir: &Path| {
        let node = Arc::new(NodeIdentity::generate(&primary.service, &Default::default()).unwrap());
        let mut cfg = JournalConfig::new(dir);
        replicated(&mut cfg);
        (cfg, node)
    };
    // A forged state with the genuine receipt: accepted at first (the receipt is valid),
    // refused when the evidence transaction arrives.
    let decoded = consort_kv::snapshot::decode_snapshot(&bytes[..len], &primary.secrets).unwrap();
    let mut ws = consort_kv::WriteSet::default();
    ws.put("records", &b"00000001"[..], &b"FORGED"[..]);
    let forged_state = decoded.snapshot.with_writes(&ws);
    let forged = consort_kv::snapshot::serialize_snapshot(
        decoded.txid,
        &forged_state,
        &decoded.root,
        &decoded.view_history,
        &primary.secrets,
    )
    .unwrap();
    let forged_path = sd.path().join("forged.committed");
    fs::write(&forged_path, [forged, bytes[len..].to_vec()].concat()).unwrap();
    let (cfg, node) = mk(bd.path());
    let b = Journal::open_from_snapshot(
        cfg,
        Arc::new(Store::new()),
        node,
        primary.secrets.clone(),
        &forged_path,
        &primary.service.cert,
    )
    .unwrap();
    let s = decoded.txid.seqno;
    let err = (s + 1..=primary.journal.last_txid().seqno)
        .map(|q| b.append_replicated(&primary.journal.read_entry(q).unwrap()))
        .find_map(Result::err)
        .expect("the forged snapshot must be caught");
    assert!(
        err.to_string().contains("not the one the ledger attests"),
        "{err}"
    );

    // A damaged receipt: refused at once.
    let mut bad = bytes.clone();
    let at = len + (bytes.len() - len) / 2;
    bad[at] = if bad[at] == b'a' { b'b' } else { b'a' };
    let bad_path = sd.path().join("bad.committed");
    fs::write(&bad_path, bad).unwrap();
    let (cfg, node) = mk(bd2.path());
    assert!(Journal::open_from_snapshot(
        cfg,
        Arc::new(Store::new()),
        node,
        primary.secrets.clone(),
        &bad_path,
        &primary.service.cert
    )
    .is_err());
}

#[test]
fn a_rekey_rotates_the_secret_on_primary_and_backups_and_survives_restart() {
    let (pd, bd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let primary = TestService::create(pd.path(), replicated).unwrap();
    let put = |k: &str, v: &str| {
        let mut tx = primary.journal.begin();
        tx.put("private:x", k.as_bytes().to_vec(), v.as_bytes().to_vec());
        primary.journal.commit(tx).unwrap();
    };
    put("a", "before");
    let mut tx = primary.journal.begin();
    primary.journal.rekey(&mut tx).unwrap();
    let rekey_at = match primary.journal.commit(tx).unwrap() {
        CommitOutcome::Committed(c) => c.txid.seqno,
        CommitOutcome::ReadOnly { .. } => unreachable!(),
    };
    put("b", "after");
    primary.journal.sign().unwrap();
    let b = backup(&primary, bd.path());
    for s in 1..=primary.journal.last_txid().seqno {
        b.append_replicated(&primary.journal.read_entry(s).unwrap())
            .unwrap();
    }
    let secrets = primary.journal.export_secrets();
    assert_eq!(secrets.len(), 2);
    assert_eq!(secrets[1].0, rekey_at + 1);
    assert_ne!(secrets[0].1, secrets[1].1);
    assert_eq!(
        b.export_secrets(),
        secrets,
        "the backup learned it from the ledger"
    );
    // The entry after the rekey is encrypted under the new secret only.
    let after = primary.journal.read_entry(rekey_at + 1).unwrap();
    let old_only = consort_kv::LedgerSecrets::single(
        consort_kv::LedgerSecret::from_raw(secrets[0].1).unwrap(),
    );
    assert!(consort_kv::entry::decode_entry(&after, &old_only).is_err());
    assert_eq!(
        b.store().snapshot().get("private:x", b"b").as_deref(),
        Some(&b"after"[..])
    );
    // Reopening learns it again from the ledger, with only the first secret in hand.
    b.flush().unwrap();
    drop(b);
    let node = Arc::new(NodeIdentity::generate(&primary.service, &Default::default()).unwrap());
    let mut cfg = JournalConfig::new(bd.path());
    replicated(&mut cfg);
    let (b, _) = Journal::open(cfg, Arc::new(Store::new()), node, old_only).unwrap();
    assert_eq!(b.export_secrets(), secrets);
    // Rolling the rekey back forgets the new secret.
    b.rollback(rekey_at - 1).unwrap();
    assert_eq!(b.export_secrets().len(), 1);
}

#[test]
fn a_rekey_in_the_unsigned_tail_is_forgotten_on_reopen() {
    let pd = tempfile::tempdir().unwrap();
    let primary = TestService::create(pd.path(), replicated).unwrap();
    primary.journal.sign().unwrap();
    let first = primary.journal.export_secrets();
    let mut tx = primary.journal.begin();
    primary.journal.rekey(&mut tx).unwrap();
    primary.journal.commit(tx).unwrap();
    assert_eq!(primary.journal.export_secrets().len(), 2);
    assert_eq!(
        primary.journal.export_committed_secrets(),
        first,
        "not committed: not handed to joiners"
    );
    primary.journal.flush().unwrap();
    let secrets = primary.secrets.clone();
    let service = primary.service;
    drop(primary.journal);
    let node = Arc::new(NodeIdentity::generate(&service, &Default::default()).unwrap());
    let mut cfg = JournalConfig::new(pd.path());
    replicated(&mut cfg);
    let (j, report) = Journal::open(cfg, Arc::new(Store::new()), node, secrets).unwrap();
    assert_eq!(report.rolled_back, 1);
    assert_eq!(
        j.export_secrets(),
        first,
        "the unsigned rekey never happened"
    );
}
