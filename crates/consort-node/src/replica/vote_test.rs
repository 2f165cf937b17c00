use consort_ledger::storage::sim::SimStorage;

use super::*;

#[test]
fn a_vote_round_trips_and_survives_a_crash_once_written() {
    let disk = SimStorage::new(3);
    let p = Path::new("/d/vote");
    assert_eq!(
        read_vote(&disk, p).unwrap(),
        (0, None),
        "no file: no vote yet"
    );
    write_vote(&disk, p, (4, Some(7))).unwrap();
    disk.crash();
    assert_eq!(read_vote(&disk, p).unwrap(), (4, Some(7)));
    // A failed fsync is an error, not a silent loss.
    disk.fail_next_fsync();
    assert!(write_vote(&disk, p, (5, Some(8))).is_err());
    assert!(matches!(
        write_vote(&disk, Path::new("/"), (1, None)),
        Err(ReplicaError::Vote(_))
    ));
}
