use consort_ledger::testing::TestService;

use super::*;

#[test]
fn a_snapshot_is_begun_when_due_completed_at_its_evidence_and_dropped_if_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::create(&dir.path().join("ledger"), |_| {}).unwrap();
    let j = &svc.journal;
    svc.write_records(5, "r").unwrap();
    j.sign().unwrap();
    let snaps = dir.path().join("snapshots");
    std::fs::create_dir_all(&snaps).unwrap();
    let opts = ReplicaOptions {
        snapshot_every: 3,
        snapshot_dir: Some(snaps.clone()),
        ..Default::default()
    };
    let (mut pending, mut last) = (Vec::new(), 0);
    let mut h = Snapshots {
        journal: j,
        opts: &opts,
        pending: &mut pending,
        last: &mut last,
    };
    assert!(!h.begin_if_due(2).unwrap(), "not due yet");
    let committed = j.committed().seqno;
    assert!(h.begin_if_due(committed).unwrap());
    assert!(
        !h.begin_if_due(committed + 10).unwrap(),
        "one pending at a time"
    );
    let evidence = h.pending[0].evidence;
    // Rolled back before its evidence: dropped. Committed at it: completed.
    h.truncated(evidence - 1);
    assert!(h.pending.is_empty());
    *h.last = 0;
    assert!(h.begin_if_due(committed).unwrap());
    let evidence = h.pending[0].evidence;
    j.sign().unwrap();
    j.commit_to(j.last_txid()).unwrap();
    h.committed(evidence);
    assert!(h.pending.is_empty());
    let files: Vec<String> = std::fs::read_dir(&snaps)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().any(|f| f.ends_with(".committed")), "{files:?}");
}
