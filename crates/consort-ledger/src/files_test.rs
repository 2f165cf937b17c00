use std::fs;

use super::*;

/// A structurally valid entry of `len` bytes (the files layer does not look inside).
fn fake(seqno: u64, len: usize) -> Vec<u8> {
    assert!(len >= 44);
    let mut e = vec![0u8; len];
    e[0] = 1;
    e[2..8].copy_from_slice(&((len - 8) as u64).to_le_bytes()[..6]);
    e[24..32].copy_from_slice(&seqno.to_le_bytes());
    e
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn chunks_complete_after_signature_past_threshold_and_commit() {
    let d = tempfile::tempdir().unwrap();
    let (mut f, _) = LedgerFiles::open(d.path(), 300).unwrap();
    for s in 1..=5 {
        assert_eq!(f.append(&fake(s, 100)).unwrap(), s);
    }
    // Signature at 5: chunk is 508 bytes >= 300, so it completes.
    assert!(f.after_signature().unwrap());
    assert_eq!(names(d.path()), vec!["ledger_1-5"]);
    f.commit(5).unwrap();
    assert_eq!(names(d.path()), vec!["ledger_1-5.committed"]);
    f.append(&fake(6, 100)).unwrap();
    assert!(!f.after_signature().unwrap());
    assert_eq!(names(d.path()), vec!["ledger_1-5.committed", "ledger_6"]);

    // The committed file: header points at the table; the table lists the entries.
    let bytes = fs::read(d.path().join("ledger_1-5.committed")).unwrap();
    let table_at = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    assert_eq!(table_at, 8 + 500);
    let offs: Vec<u32> = bytes[table_at as usize..]
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(offs, vec![8, 108, 208, 308, 408]);
    // The open chunk: header 0.
    f.sync().unwrap();
    let open = fs::read(d.path().join("ledger_6")).unwrap();
    assert_eq!(&open[..8], &[0u8; 8]);

    assert_eq!(f.read_entry(3).unwrap(), fake(3, 100));
    assert_eq!(f.read_entry(6).unwrap(), fake(6, 100));
    assert!(f.read_entry(7).is_err());
}

#[test]
fn reopen_recovers_layout_and_cuts_torn_tail() {
    let d = tempfile::tempdir().unwrap();
    {
        let (mut f, _) = LedgerFiles::open(d.path(), 250).unwrap();
        for s in 1..=3 {
            f.append(&fake(s, 100)).unwrap();
        }
        f.after_signature().unwrap();
        f.commit(3).unwrap();
        for s in 4..=6 {
            f.append(&fake(s, 100)).unwrap();
        }
        f.sync().unwrap();
    }
    // Simulate a crash mid-write of entry 7: half an entry at the end of the open chunk.
    let open_path = d.path().join("ledger_4");
    let mut bytes = fs::read(&open_path).unwrap();
    bytes.extend_from_slice(&fake(7, 100)[..60]);
    fs::write(&open_path, &bytes).unwrap();

    let (mut f, report) = LedgerFiles::open(d.path(), 250).unwrap();
    assert_eq!(report.torn_bytes_truncated, 60);
    assert_eq!(f.last_seqno(), 6);
    assert_eq!(f.committed_seqno(), 3);
    assert_eq!(f.append(&fake(7, 100)).unwrap(), 7);
    f.sync().unwrap();
    assert_eq!(f.read_entry(7).unwrap(), fake(7, 100));
}

#[test]
fn interrupted_completion_is_repaired() {
    let d = tempfile::tempdir().unwrap();
    {
        let (mut f, _) = LedgerFiles::open(d.path(), 1 << 20).unwrap();
        for s in 1..=3 {
            f.append(&fake(s, 100)).unwrap();
        }
        f.sync().unwrap();
    }
    // Crash after the table was written but before the header was updated.
    let p = d.path().join("ledger_1");
    let mut bytes = fs::read(&p).unwrap();
    bytes.extend_from_slice(&chunk::encode_table(&[8, 108, 208]));
    fs::write(&p, &bytes).unwrap();
    let (f, report) = LedgerFiles::open(d.path(), 1 << 20).unwrap();
    assert!(report.repaired_completion);
    assert_eq!(f.last_seqno(), 3);

    // Crash after the header was updated but before the rename.
    drop(f);
    let mut bytes = fs::read(&p).unwrap();
    let table_at = bytes.len() as u64;
    bytes.extend_from_slice(&chunk::encode_table(&[8, 108, 208]));
    bytes[..8].copy_from_slice(&table_at.to_le_bytes());
    fs::write(&p, &bytes).unwrap();
    let (f, report) = LedgerFiles::open(d.path(), 1 << 20).unwrap();
    assert!(report.repaired_completion);
    assert_eq!(names(d.path()), vec!["ledger_1-3"]);
    assert_eq!(f.last_seqno(), 3);
}

#[test]
fn truncate_reopens_complete_chunk_and_refuses_committed() {
    let d = tempfile::tempdir().unwrap();
    let (mut f, _) = LedgerFiles::open(d.path(), 150).unwrap();
    for s in 1..=2 {
        f.append(&fake(s, 100)).unwrap();
    }
    f.after_signature().unwrap();
    f.commit(2).unwrap();
    for s in 3..=5 {
        f.append(&fake(s, 100)).unwrap();
    }
    f.after_signature().unwrap(); // ledger_3-5, not committed
    for s in 6..=7 {
        f.append(&fake(s, 100)).unwrap();
    }
    assert_eq!(
        names(d.path()),
        vec!["ledger_1-2.committed", "ledger_3-5", "ledger_6"]
    );
    f.truncate(4).unwrap();
    assert_eq!(names(d.path()), vec!["ledger_1-2.committed", "ledger_3"]);
    assert_eq!(f.last_seqno(), 4);
    assert_eq!(f.append(&fake(5, 100)).unwrap(), 5);
    assert!(matches!(
        f.truncate(1),
        Err(LedgerError::TruncateCommitted { .. })
    ));
    drop(f);
    let (f, _) = LedgerFiles::open(d.path(), 150).unwrap();
    assert_eq!(f.last_seqno(), 5);
}

#[test]
fn structural_damage_is_an_error_not_a_repair() {
    let d = tempfile::tempdir().unwrap();
    {
        let (mut f, _) = LedgerFiles::open(d.path(), 150).unwrap();
        for s in 1..=2 {
            f.append(&fake(s, 100)).unwrap();
        }
        f.after_signature().unwrap();
        f.commit(2).unwrap();
        for s in 3..=4 {
            f.append(&fake(s, 100)).unwrap();
        }
        f.after_signature().unwrap();
        f.commit(4).unwrap();
    }
    // A missing chunk in the middle.
    fs::rename(d.path().join("ledger_1-2.committed"), d.path().join("x")).unwrap();
    fs::write(d.path().join("ledger_0-0.committed"), b"").unwrap();
    fs::remove_file(d.path().join("ledger_0-0.committed")).unwrap();
    // With chunk 1-2 gone, the ledger starts at 3 - that alone is fine structurally, but
    // a gap between chunks is not.
    fs::rename(d.path().join("x"), d.path().join("ledger_1-2.committed")).unwrap();
    let p = d.path().join("ledger_3-4.committed");
    fs::rename(&p, d.path().join("ledger_4-5.committed")).unwrap();
    let e = LedgerFiles::open(d.path(), 150).unwrap_err();
    assert!(matches!(e, LedgerError::Corrupt { seqno: 3, .. }), "{e}");
}

#[test]
fn complete_chunk_at_any_size_and_batched_reads() {
    let d = tempfile::tempdir().unwrap();
    let (mut f, _) = LedgerFiles::open(d.path(), 1 << 20).unwrap();
    assert!(!f.complete_chunk().unwrap(), "nothing open");
    for s in 1..=4 {
        f.append(&fake(s, 60 + s as usize)).unwrap();
    }
    f.commit(4).unwrap();
    assert!(f.complete_chunk().unwrap());
    assert_eq!(names(d.path()), vec!["ledger_1-4.committed"]);
    for s in 5..=7 {
        f.append(&fake(s, 50)).unwrap();
    }
    assert_eq!(names(d.path()), vec!["ledger_1-4.committed", "ledger_5"]);
    // One read per batch, never across chunks; the open chunk from its buffer too.
    let (mut bytes, mut ranges) = (Vec::new(), Vec::new());
    f.read_batch(2, 10, &mut bytes, &mut ranges).unwrap();
    assert_eq!(ranges.len(), 3);
    for (i, r) in ranges.iter().enumerate() {
        assert_eq!(bytes[r.clone()], f.read_entry(2 + i as u64).unwrap()[..]);
    }
    f.read_batch(1, 2, &mut bytes, &mut ranges).unwrap();
    assert_eq!(ranges, vec![0..61, 61..123]);
    assert_eq!(bytes.len(), 123);
    f.read_batch(6, 10, &mut bytes, &mut ranges).unwrap();
    assert_eq!(ranges.len(), 2);
    assert_eq!(bytes[ranges[1].clone()], f.read_entry(7).unwrap()[..]);
    f.read_batch(8, 10, &mut bytes, &mut ranges).unwrap();
    assert!(ranges.is_empty() && bytes.is_empty());
    // Planned reads (made without the ledger): a committed chunk's file range; the open
    // chunk's buffer by value, or its file once written.
    let read = |f: &LedgerFiles, from, max| {
        let plan = f.plan_batch(from, max).unwrap().unwrap();
        let in_file = matches!(plan.source, BatchSource::File { .. });
        let (first, bytes, ranges) = plan.read().unwrap();
        assert_eq!(first, from);
        let entries: Vec<Vec<u8>> = ranges.into_iter().map(|r| bytes[r].to_vec()).collect();
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(*e, f.read_entry(from + i as u64).unwrap());
        }
        (entries.len(), in_file)
    };
    assert_eq!(read(&f, 2, 10), (3, true));
    assert_eq!(read(&f, 6, 10), (2, false), "still buffered");
    f.flush().unwrap();
    assert_eq!(read(&f, 6, 10), (2, true));
    f.append(&fake(8, 50)).unwrap();
    assert_eq!(
        read(&f, 5, 10),
        (3, true),
        "the written prefix of the open chunk"
    );
    assert_eq!(read(&f, 8, 10), (1, false));
    assert!(f.plan_batch(9, 1).unwrap().is_none());
    // Reopened, the new entries still go after the completed chunk.
    drop(f);
    let (f, _) = LedgerFiles::open(d.path(), 1 << 20).unwrap();
    assert_eq!((f.first_seqno(), f.last_seqno()), (1, 8));
}

/// A committed chunk keeps no offsets in memory: its reads use the positions table on
/// disk, and a table changed behind the node's back is reported as corruption.
#[test]
fn committed_chunks_read_through_their_table() {
    let d = tempfile::tempdir().unwrap();
    let (mut f, _) = LedgerFiles::open(d.path(), 200).unwrap();
    let sizes: Vec<usize> = (0..9).map(|i| 50 + 7 * i).collect();
    for (i, n) in sizes.iter().enumerate() {
        f.append(&fake(i as u64 + 1, *n)).unwrap();
        f.after_signature().unwrap();
    }
    f.commit(7).unwrap();
    let committed: Vec<_> = f.chunks.iter().filter(|c| c.name.committed).collect();
    assert!(committed.len() >= 2, "{:?}", names(d.path()));
    assert!(committed.iter().all(|c| c.offsets.is_none()));
    let expect = |s: u64| fake(s, sizes[s as usize - 1]);
    for s in 1..=9 {
        assert_eq!(f.read_entry(s).unwrap(), expect(s), "entry {s}");
        let plan = f.plan_batch(s, 3).unwrap().unwrap();
        let (first, bytes, ranges) = plan.read().unwrap();
        for (i, r) in ranges.into_iter().enumerate() {
            assert_eq!(bytes[r], expect(first + i as u64)[..]);
        }
    }
    let mut seen = Vec::new();
    f.for_each_entry(|s, b| {
        seen.push((s, b.to_vec()));
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, (1..=9).map(|s| (s, expect(s))).collect::<Vec<_>>());
    // Reopened: the same, from the table.
    drop(f);
    let (f, _) = LedgerFiles::open(d.path(), 200).unwrap();
    assert!(f.chunks[0].offsets.is_none());
    assert_eq!(f.read_entry(2).unwrap(), expect(2));
    // The first chunk's table overwritten with garbage: an error, never a panic.
    let first = d.path().join(f.chunks[0].name.file_name());
    let len = fs::metadata(&first).unwrap().len();
    let mut bytes = fs::read(&first).unwrap();
    let table_at = f.chunks[0].len as usize;
    bytes[table_at..len as usize].fill(0xff);
    fs::write(&first, &bytes).unwrap();
    let e = f.read_entry(1).unwrap_err();
    assert!(matches!(e, LedgerError::Corrupt { .. }), "{e}");
    assert!(f.plan_batch(1, 2).is_err());
}
