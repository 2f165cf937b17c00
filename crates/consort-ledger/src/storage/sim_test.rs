use super::*;

fn dir() -> PathBuf {
    PathBuf::from("/sim/ledger")
}

/// A disk with `dir()` holding `name`, whose entry is durable.
fn disk_with_file(seed: u64, name: &str) -> (SimStorage, PathBuf, Box<dyn StorageFile>) {
    let s = SimStorage::new(seed);
    s.create_dir_all(&dir()).unwrap();
    let p = dir().join(name);
    let f = s.open(&p, OpenMode::CreateNew).unwrap();
    s.sync_dir(&dir()).unwrap();
    (s, p, f)
}

#[test]
fn fsynced_data_survives_a_crash_and_unsynced_appends_keep_a_prefix() {
    let mut torn_lengths = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let (s, p, f) = disk_with_file(seed, "a");
        f.write_at(b"durable-", 0).unwrap();
        f.sync_data().unwrap();
        f.write_at(b"unsynced", 8).unwrap();
        assert_eq!(s.read(&p).unwrap(), b"durable-unsynced");
        assert_eq!(s.durable_contents(&p).unwrap(), b"durable-");
        s.crash();
        let got = s.read(&p).unwrap();
        assert!(got.starts_with(b"durable-"), "{got:?}");
        assert!(b"durable-unsynced".starts_with(&got), "{got:?}");
        torn_lengths.insert(got.len());
    }
    // Torn writes keep different prefixes (seeded), including none and all of it.
    assert!(torn_lengths.len() > 3, "{torn_lengths:?}");
}

#[test]
fn directory_entries_are_durable_only_after_a_directory_sync() {
    let (s, p, f) = disk_with_file(1, "a");
    f.write_at(b"x", 0).unwrap();
    f.sync_all().unwrap();
    // A new file whose data is synced but whose entry is not.
    let q = dir().join("b");
    let g = s.open(&q, OpenMode::CreateNew).unwrap();
    g.write_at(b"y", 0).unwrap();
    g.sync_all().unwrap();
    // A rename and a removal, not synced.
    let r = dir().join("renamed");
    s.rename(&p, &r).unwrap();
    assert!(!s.exists(&p) && s.exists(&r));
    s.crash();
    let mut names = s.list_dir(&dir()).unwrap();
    names.sort();
    assert_eq!(names, vec!["a"]);
    assert_eq!(s.read(&p).unwrap(), b"x");

    // Synced: the rename and removal stick.
    s.rename(&p, &r).unwrap();
    let g = s.open(&q, OpenMode::CreateNew).unwrap();
    g.sync_all().unwrap();
    s.remove_file(&q).unwrap();
    s.sync_dir(&dir()).unwrap();
    s.crash();
    assert_eq!(s.list_dir(&dir()).unwrap(), vec!["renamed"]);
    assert_eq!(s.read(&r).unwrap(), b"x");
}

#[test]
fn a_handle_follows_its_file_across_a_rename() {
    let (s, p, f) = disk_with_file(2, "a");
    let r = dir().join("b");
    s.rename(&p, &r).unwrap();
    f.write_at(b"after", 0).unwrap();
    assert_eq!(s.read(&r).unwrap(), b"after");
    assert!(s.read(&p).is_err());
}

#[test]
fn a_failed_fsync_leaves_the_data_non_durable() {
    let (s, p, f) = disk_with_file(3, "a");
    f.write_at(b"data", 0).unwrap();
    s.fail_next_fsync();
    assert!(f.sync_data().is_err());
    assert_eq!(s.durable_contents(&p).unwrap(), b"");
    // Readers still see it; the next fsync succeeds and makes it durable.
    assert_eq!(s.read(&p).unwrap(), b"data");
    f.sync_data().unwrap();
    assert_eq!(s.durable_contents(&p).unwrap(), b"data");
    // Directory syncs fail too.
    s.fail_next_fsync();
    assert!(s.sync_dir(&dir()).is_err());
    let st = s.stats();
    assert_eq!((st.fsyncs, st.failed_fsyncs), (4, 2));
}

#[test]
fn a_failed_write_may_leave_a_torn_prefix() {
    let mut prefixes = std::collections::BTreeSet::new();
    for seed in 0..30 {
        let (s, p, f) = disk_with_file(seed, "a");
        s.fail_next_write();
        assert!(f.write_at(b"0123456789", 0).is_err());
        let got = s.read(&p).unwrap();
        assert!(b"0123456789".starts_with(&got), "{got:?}");
        prefixes.insert(got.len());
        // One-shot: the next write succeeds.
        f.write_at(b"ok", 0).unwrap();
    }
    assert!(prefixes.len() > 3, "{prefixes:?}");
}

#[test]
fn random_faults_are_reproducible_from_the_seed() {
    let run = |seed| {
        let s = SimStorage::with_faults(
            seed,
            Faults {
                fsync_fail: 0.3,
                write_fail: 0.2,
            },
        );
        s.create_dir_all(&dir()).unwrap();
        let f = s.open(&dir().join("a"), OpenMode::CreateNew).unwrap();
        let mut outcomes = Vec::new();
        for i in 0..200u64 {
            outcomes.push(f.write_at(&i.to_le_bytes(), i * 8).is_ok());
            outcomes.push(f.sync_data().is_ok());
        }
        (outcomes, s.stats())
    };
    let (a, sa) = run(7);
    let (b, sb) = run(7);
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    assert!(sa.failed_writes > 10 && sa.failed_writes < 80, "{sa:?}");
    assert!(sa.failed_fsyncs > 20 && sa.failed_fsyncs < 110, "{sa:?}");
    assert_ne!(run(8).0, a);
}

#[test]
fn handles_opened_before_a_crash_are_dead() {
    let (s, p, f) = disk_with_file(4, "a");
    f.write_at(b"x", 0).unwrap();
    f.sync_data().unwrap();
    s.crash();
    assert!(f.write_at(b"y", 1).is_err());
    assert!(f.sync_data().is_err());
    assert_eq!(s.read(&p).unwrap(), b"x");
    assert_eq!(s.stats().crashes, 1);
    let g = s.open(&p, OpenMode::Existing).unwrap();
    g.write_at(b"y", 1).unwrap();
    assert_eq!(s.read(&p).unwrap(), b"xy");
}

#[test]
fn atomic_writes_are_whole_or_absent() {
    let s = SimStorage::new(5);
    let p = crate::storage::write_atomic(&s, &dir(), "snap", b"contents").unwrap();
    s.crash();
    assert_eq!(s.read(&p).unwrap(), b"contents");
    // A failed fsync of the temporary file: the target never appears.
    s.fail_next_fsync();
    assert!(crate::storage::write_atomic(&s, &dir(), "other", b"x").is_err());
    s.crash();
    assert!(!s.exists(&dir().join("other")));
    // Truncate is durable.
    s.truncate(&p, 3).unwrap();
    s.crash();
    assert_eq!(s.read(&p).unwrap(), b"con");
}
