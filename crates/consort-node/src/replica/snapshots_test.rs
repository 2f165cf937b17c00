use std::time::Duration;

use consort_ledger::testing::TestService;

use super::*;

#[test]
fn a_snapshot_is_recorded_once_serialized_completed_at_its_evidence_and_dropped_if_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::create(&dir.path().join("ledger"), |_| {}).unwrap();
    let j = &svc.journal;
    let snaps = dir.path().join("snapshots");
    std::fs::create_dir_all(&snaps).unwrap();
    let opts = ReplicaOptions {
        snapshot_dir: Some(snaps.clone()),
        ..Default::default()
    };
    let mut pending = Vec::new();
    let mut h = Snapshots {
        journal: j,
        opts: &opts,
        pending: &mut pending,
    };
    assert!(!h.record_if_serialized().unwrap(), "nothing pinned");
    let pin = |h: &mut Snapshots<'_>| {
        j.set_snapshot_interval(3);
        svc.write_records(5, "r").unwrap();
        let s = j.sign().unwrap().seqno;
        j.set_snapshot_interval(0);
        for _ in 0..500 {
            if h.record_if_serialized().unwrap() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("never serialized");
    };
    let s = pin(&mut h);
    assert_eq!(h.pending[0].seqno, s);
    let evidence = h.pending[0].evidence;
    // Rolled back before its evidence: dropped. Committed at it: completed.
    h.truncated(evidence - 1);
    assert!(h.pending.is_empty());
    pin(&mut h);
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
