use bytes::Bytes;
use proptest::prelude::*;

use crate::{CommitError, CommitOutcome, KvError, Store, TxId};

fn ok(store: &Store, tx: crate::Tx) -> TxId {
    match store.commit(tx, |_| Ok::<_, String>(())).unwrap() {
        CommitOutcome::Committed(c) => c.txid,
        CommitOutcome::ReadOnly { .. } => panic!("expected a write"),
    }
}

#[test]
fn versions_and_txids() {
    let store = Store::new();
    store.set_view(2);
    let mut tx = store.begin();
    tx.put("m", &b"a"[..], &b"1"[..]);
    assert_eq!(ok(&store, tx), TxId::new(2, 1));
    let mut tx = store.begin();
    tx.put("m", &b"b"[..], &b"2"[..]);
    assert_eq!(ok(&store, tx), TxId::new(2, 2));
    assert_eq!(store.version(), 2);
    let snap = store.snapshot();
    assert_eq!(snap.key_version("m", b"a"), Some(1));
    assert_eq!(snap.get("m", b"b").as_deref(), Some(&b"2"[..]));
}

#[test]
fn read_write_conflict_and_retry() {
    let store = Store::new();
    let mut t0 = store.begin();
    t0.put("m", &b"k"[..], &b"0"[..]);
    ok(&store, t0);

    let mut t1 = store.begin();
    let mut t2 = store.begin();
    let v1 = t1.get("m", b"k").unwrap();
    let v2 = t2.get("m", b"k").unwrap();
    t1.put("m", &b"k"[..], [v1.as_ref(), b"+1"].concat());
    t2.put("m", &b"k"[..], [v2.as_ref(), b"+2"].concat());
    ok(&store, t1);
    let err = store.commit(t2, |_| Ok::<_, String>(())).unwrap_err();
    assert!(
        matches!(err, CommitError::Kv(KvError::Conflict { .. })),
        "{err}"
    );
    assert!(err.is_retryable());
    // Retry on a fresh snapshot succeeds and sees t1's write.
    let mut t2 = store.begin();
    let v = t2.get("m", b"k").unwrap();
    t2.put("m", &b"k"[..], [v.as_ref(), b"+2"].concat());
    ok(&store, t2);
    assert_eq!(
        store.snapshot().get("m", b"k").as_deref(),
        Some(&b"0+1+2"[..])
    );
}

#[test]
fn blind_writes_and_disjoint_keys_do_not_conflict() {
    let store = Store::new();
    let mut t1 = store.begin();
    let mut t2 = store.begin();
    t1.get("m", b"a");
    t1.put("m", &b"a"[..], &b"1"[..]);
    t2.get("m", b"b");
    t2.put("m", &b"b"[..], &b"1"[..]);
    ok(&store, t1);
    ok(&store, t2);
}

#[test]
fn pinned_transactions_commit_only_right_after_their_snapshot() {
    let store = Store::new();
    let mut pinned = store.begin();
    let mut other = store.begin();
    pinned.put("m", &b"a"[..], &b"1"[..]);
    pinned.pin_next_version();
    other.put("n", &b"b"[..], &b"1"[..]);
    ok(&store, other);
    // Disjoint keys, but another commit took the version it computed with.
    assert!(matches!(
        store.commit(pinned, |_| Ok::<_, String>(())),
        Err(CommitError::Kv(KvError::Conflict { .. }))
    ));
    let mut retry = store.begin();
    retry.put("m", &b"a"[..], &b"1"[..]);
    retry.pin_next_version();
    let v = retry.read_version();
    ok(&store, retry);
    assert_eq!(store.version(), v + 1);
}

#[test]
fn read_only_transactions_never_conflict() {
    let store = Store::new();
    let mut w = store.begin();
    w.put("m", &b"a"[..], &b"1"[..]);
    ok(&store, w);
    let mut r = store.begin();
    assert!(r.get("m", b"a").is_some());
    let mut w = store.begin();
    w.put("m", &b"a"[..], &b"2"[..]);
    ok(&store, w);
    // The reader still sees its snapshot and commits fine.
    assert_eq!(r.get("m", b"a").as_deref(), Some(&b"1"[..]));
    assert!(matches!(
        store.commit(r, |_| Ok::<_, String>(())).unwrap(),
        CommitOutcome::ReadOnly { read_version: 1 }
    ));
}

#[test]
fn range_phantoms_conflict() {
    let store = Store::new();
    let mut w = store.begin();
    w.put("m", &b"a1"[..], &b"x"[..]);
    ok(&store, w);

    let mut t = store.begin();
    let seen = t.range(
        "m",
        &(
            std::ops::Bound::Included(&b"a"[..]),
            std::ops::Bound::Excluded(&b"b"[..]),
        ),
    );
    assert_eq!(seen.len(), 1);
    t.put("count", &b"a"[..], &b"1"[..]);

    // Another transaction inserts a key into the scanned range.
    let mut w = store.begin();
    w.put("m", &b"a2"[..], &b"y"[..]);
    ok(&store, w);
    assert!(matches!(
        store.commit(t, |_| Ok::<_, String>(())),
        Err(CommitError::Kv(KvError::Conflict { .. }))
    ));

    // An insert outside the range does not conflict.
    let mut t = store.begin();
    t.range(
        "m",
        &(
            std::ops::Bound::Included(&b"a"[..]),
            std::ops::Bound::Excluded(&b"b"[..]),
        ),
    );
    t.put("count", &b"a"[..], &b"2"[..]);
    let mut w = store.begin();
    w.put("m", &b"c"[..], &b"z"[..]);
    ok(&store, w);
    ok(&store, t);
}

#[test]
fn range_sees_own_writes_in_order() {
    let store = Store::new();
    let mut w = store.begin();
    for k in ["b", "d", "f"] {
        w.put("m", Bytes::from(k), Bytes::from("base"));
    }
    ok(&store, w);
    let mut t = store.begin();
    t.put("m", &b"c"[..], &b"mine"[..]);
    t.remove("m", &b"d"[..]);
    let keys: Vec<_> = t.range("m", &..).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        vec![Bytes::from("b"), Bytes::from("c"), Bytes::from("f")]
    );
}

#[test]
fn pagination_walks_everything_once() {
    let store = Store::new();
    let mut w = store.begin();
    for i in 0..25u32 {
        w.put(
            "m",
            Bytes::from(format!("k{i:03}")),
            Bytes::from(i.to_string()),
        );
    }
    ok(&store, w);
    let mut t = store.begin();
    let mut after: Option<Bytes> = None;
    let mut all = Vec::new();
    loop {
        let (page, next) = t.page("m", after.as_deref(), 10);
        assert!(page.len() <= 10);
        all.extend(page);
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(all.len(), 25);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
}

proptest! {
    /// A page of a range is exactly the head of the whole range (own writes and removals
    /// included), and says whether more follow.
    #[test]
    fn a_range_page_is_the_head_of_the_range(
        committed in proptest::collection::btree_set(0u8..60, 0..40),
        mine in proptest::collection::vec((0u8..60, any::<bool>()), 0..12),
        lo in 0u8..60,
        limit in 1usize..12,
    ) {
        let store = Store::new();
        let mut w = store.begin();
        for k in &committed {
            w.put("m", vec![*k], vec![*k]);
        }
        w.put("other", &b"x"[..], &b"x"[..]);
        ok(&store, w);
        let mut t = store.begin();
        for (k, put) in &mine {
            if *put { t.put("m", vec![*k], &b"mine"[..]); } else { t.remove("m", vec![*k]); }
        }
        let range = (std::ops::Bound::Included(&[lo][..]), std::ops::Bound::Unbounded);
        let whole = t.range("m", &range);
        let (page, more) = t.range_page("m", &range, limit);
        prop_assert_eq!(&page[..], &whole[..whole.len().min(limit)]);
        prop_assert_eq!(more, whole.len() > limit);
    }
}

#[test]
fn a_range_page_reads_only_up_to_its_last_key() {
    let store = Store::new();
    let mut w = store.begin();
    for i in 0..1000u32 {
        w.put("m", Bytes::from(format!("k{i:04}")), Bytes::from("v"));
    }
    ok(&store, w);
    let page_of_ten = |store: &Store| {
        let mut t = store.begin();
        let (page, more) = t.range_page(
            "m",
            &(
                std::ops::Bound::Included(&b"k0100"[..]),
                std::ops::Bound::Unbounded,
            ),
            10,
        );
        assert_eq!((page.len(), more), (10, true));
        assert_eq!(page[9].0, Bytes::from("k0109"));
        t.put("count", &b"c"[..], &b"1"[..]);
        t
    };
    // A write after the page does not conflict with it; one inside it does.
    let t = page_of_ten(&store);
    let mut w = store.begin();
    w.put("m", &b"k0500"[..], &b"w"[..]);
    ok(&store, w);
    ok(&store, t);
    let t = page_of_ten(&store);
    let mut w = store.begin();
    w.put("m", &b"k0105"[..], &b"w"[..]);
    ok(&store, w);
    assert!(matches!(
        store.commit(t, |_| Ok::<_, String>(())),
        Err(CommitError::Kv(KvError::Conflict { .. }))
    ));
}

#[test]
fn snapshot_isolation_for_readers() {
    let store = Store::new();
    let mut w = store.begin();
    w.put("m", &b"a"[..], &b"1"[..]);
    ok(&store, w);
    let snap = store.snapshot();
    let mut w = store.begin();
    w.put("m", &b"a"[..], &b"2"[..]);
    w.put("m", &b"b"[..], &b"2"[..]);
    ok(&store, w);
    assert_eq!(snap.get("m", b"a").as_deref(), Some(&b"1"[..]));
    assert_eq!(snap.get("m", b"b"), None);
    assert_eq!(snap.version(), 1);
}

#[test]
fn rollback_and_compact() {
    let store = Store::new();
    for i in 0..5u8 {
        let mut w = store.begin();
        w.put("m", vec![i], vec![i]);
        ok(&store, w);
    }
    store.rollback(3).unwrap();
    assert_eq!(store.version(), 3);
    assert_eq!(store.snapshot().len("m"), 3);
    // New transactions reuse the discarded seqnos.
    let mut w = store.begin();
    w.put("m", vec![9u8], vec![9u8]);
    assert_eq!(ok(&store, w).seqno, 4);
    store.compact(4);
    assert!(matches!(
        store.rollback(2),
        Err(KvError::RollbackOutOfRange { .. })
    ));
    store.rollback(4).unwrap();
    assert_eq!(store.oldest_rollback_point(), 4);
}

#[test]
fn failed_hook_applies_nothing() {
    let store = Store::new();
    let mut w = store.begin();
    w.put("m", &b"a"[..], &b"1"[..]);
    let e = store.commit(w, |_| Err("disk full")).unwrap_err();
    assert!(matches!(e, CommitError::Hook("disk full")), "{e}");
    assert!(!e.is_retryable());
    assert_eq!(store.version(), 0);
    assert_eq!(store.snapshot().get("m", b"a"), None);
}

#[test]
fn apply_requires_contiguous_seqnos() {
    let store = Store::new();
    let mut ws = crate::WriteSet::default();
    ws.put("public:m", &b"a"[..], &b"1"[..]);
    store.apply(TxId::new(3, 1), &ws).unwrap();
    assert_eq!(store.view(), 3);
    assert!(matches!(
        store.apply(TxId::new(3, 3), &ws),
        Err(KvError::NonContiguous { .. })
    ));
}

proptest! {
    /// Serializability: interleave many transactions `w := m[r] + 1`; replaying the
    /// committed ones serially, in commit order, must reproduce every value they wrote and
    /// the final state. Lost updates or stale reads would break the replay.
    #[test]
    fn committed_transactions_are_serializable(
        ops in proptest::collection::vec((0u8..4, 0u8..4, 0usize..4, any::<bool>()), 1..80)
    ) {
        let store = Store::new();
        let mut open: Vec<(u8, u8, crate::Tx)> = Vec::new();
        let mut committed: Vec<(u8, u8, u8)> = Vec::new();
        for (r, w, pick, do_commit) in ops {
            if do_commit && !open.is_empty() {
                let (r, w, tx) = open.remove(pick % open.len());
                let written = tx.write_set().get("m").unwrap().get(&[w][..]).unwrap().clone().unwrap()[0];
                if store.commit(tx, |_| Ok::<_, String>(())).is_ok() {
                    committed.push((r, w, written));
                }
            } else {
                let mut tx = store.begin();
                let v = tx.get("m", &[r]).map(|b| b[0]).unwrap_or(0);
                tx.put("m", vec![w], vec![v.wrapping_add(1)]);
                open.push((r, w, tx));
            }
        }
        let mut model = std::collections::BTreeMap::<u8, u8>::new();
        for (r, w, written) in &committed {
            let v = model.get(r).copied().unwrap_or(0).wrapping_add(1);
            prop_assert_eq!(v, *written);
            model.insert(*w, v);
        }
        let snap = store.snapshot();
        prop_assert_eq!(snap.version() as usize, committed.len());
        let state: std::collections::BTreeMap<u8, u8> =
            snap.entries("m").into_iter().map(|(k, v, _)| (k[0], v[0])).collect();
        prop_assert_eq!(state, model);
    }
}

proptest! {
    /// Rolling back to any version restores exactly the state seen at that version, whether
    /// or not snapshots of the discarded versions are still open (they keep reading what
    /// they saw), with compaction interleaved.
    #[test]
    fn rollback_restores_earlier_snapshots(
        writes in proptest::collection::vec((0u8..6, proptest::option::of(any::<u8>()), any::<bool>()), 1..40),
        target_frac in 0.0f64..1.0,
        base_frac in 0.0f64..1.0,
        hold in any::<bool>(),
    ) {
        let store = Store::new();
        let dump = |s: &crate::Snapshot| (s.entries("a"), s.entries("public:b"));
        let mut seen = vec![dump(&store.snapshot())];
        let mut held = vec![store.snapshot()];
        let n = writes.len() as u64;
        let base = (n as f64 * base_frac) as u64;
        for (k, v, second_map) in writes {
            let map = if second_map { "public:b" } else { "a" };
            let mut tx = store.begin();
            match v {
                Some(v) => tx.put(map, vec![k], vec![v]),
                None => { tx.remove(map, vec![k]); }
            }
            store.commit(tx, |_| Ok::<_, String>(())).unwrap();
            seen.push(dump(&store.snapshot()));
            if hold {
                held.push(store.snapshot());
            }
            if store.version() == base {
                store.compact(base);
            }
        }
        let target = base + ((n - base) as f64 * target_frac) as u64;
        store.rollback(target).unwrap();
        let now = store.snapshot();
        prop_assert_eq!(now.version(), target);
        prop_assert_eq!(dump(&now), seen[target as usize].clone());
        // And the store keeps working from there; open snapshots are unaffected.
        let mut tx = store.begin();
        tx.put("a", vec![99u8], vec![1u8]);
        tx.remove("public:b", vec![0u8]);
        store.commit(tx, |_| Ok::<_, String>(())).unwrap();
        prop_assert_eq!(store.version(), target + 1);
        for s in &held {
            prop_assert_eq!(dump(s), seen[s.version() as usize].clone());
        }
        store.compact(store.version());
        for s in &held {
            prop_assert_eq!(dump(s), seen[s.version() as usize].clone());
        }
    }
}

#[test]
fn reversed_or_empty_ranges_are_empty_not_a_panic() {
    use std::ops::Bound;
    let store = Store::new();
    let mut w = store.begin();
    for k in [b"a", b"b", b"c"] {
        w.put("m", &k[..], &b"v"[..]);
    }
    ok(&store, w);
    let snap = store.snapshot();
    let b = |s: &[u8]| Bytes::copy_from_slice(s);
    assert!(snap
        .range("m", (Bound::Included(b(b"c")), Bound::Included(b(b"a"))))
        .is_empty());
    assert!(snap
        .range("m", (Bound::Excluded(b(b"b")), Bound::Excluded(b(b"b"))))
        .is_empty());
    let mut tx = store.begin();
    assert!(tx
        .range(
            "m",
            &(Bound::Included(&b"c"[..]), Bound::Excluded(&b"a"[..]))
        )
        .is_empty());
    assert!(tx
        .range(
            "absent",
            &(Bound::Included(&b"c"[..]), Bound::Excluded(&b"a"[..]))
        )
        .is_empty());
    tx.put("m", &b"d"[..], &b"v"[..]);
    let mut other = store.begin();
    other.put("absent", &b"x"[..], &b"v"[..]);
    other.put("m", &b"b"[..], &b"w"[..]);
    ok(&store, other);
    // Validation walks the recorded (empty) ranges too.
    ok(&store, tx);
}

#[test]
fn removing_a_removed_key_changes_nothing() {
    let store = Store::new();
    let mut w = store.begin();
    w.put("m", &b"k"[..], &b"v"[..]);
    ok(&store, w);
    let mut w = store.begin();
    w.remove("m", &b"k"[..]);
    ok(&store, w);
    let mut reader = store.begin();
    assert_eq!(reader.get("m", b"k"), None);
    reader.put("m", &b"other"[..], &b"v"[..]);
    let mut again = store.begin();
    again.remove("m", &b"k"[..]);
    again.put("m", &b"z"[..], &b"v"[..]);
    ok(&store, again);
    // The key was absent before and after: the reader's view of it still holds.
    ok(&store, reader);
}

#[test]
fn map_stamps_change_with_the_map() {
    let store = Store::new();
    let put = |m: &str| {
        let mut w = store.begin();
        w.put(m, &b"k"[..], &b"v"[..]);
        ok(&store, w)
    };
    put("a");
    let a = store.map_stamp("a");
    put("b");
    assert_eq!(store.map_stamp("a"), a);
    put("a");
    let a2 = store.map_stamp("a");
    assert_ne!(a2, a);
    // Rolled back and written again at the same version: still a different stamp.
    store.rollback(2).unwrap();
    put("a");
    assert_eq!(store.map_stamp("a").1, a2.1);
    assert_ne!(store.map_stamp("a"), a2);
}

#[test]
fn transactions_begun_before_a_rollback_conflict() {
    let store = Store::new();
    let mut w = store.begin();
    w.put("m", &b"a"[..], &b"1"[..]);
    ok(&store, w);
    let mut stale = store.begin();
    assert!(stale.get("m", b"a").is_some());
    stale.put("m", &b"b"[..], &b"2"[..]);
    store.rollback(0).unwrap();
    let e = store.commit(stale, |_| Ok::<_, String>(())).unwrap_err();
    assert!(
        matches!(e, CommitError::Kv(KvError::Conflict { .. })),
        "{e}"
    );
}

#[test]
fn versions_nobody_can_see_are_dropped() {
    let store = Store::new();
    let chain_len = |s: &Store, k: &[u8]| {
        let snap = s.snapshot();
        let tables = snap.pin.data.read();
        tables
            .get("m")
            .and_then(|t| t.keys.get(k))
            .map_or(0, |c| c.len())
    };
    let put = |k: &[u8], v: u32| {
        let mut w = store.begin();
        w.put("m", k.to_vec(), v.to_be_bytes().to_vec());
        ok(&store, w)
    };
    put(b"hot", 0);
    store.compact(store.version());
    for i in 1..100u32 {
        put(b"hot", i);
        store.compact(store.version());
    }
    assert_eq!(chain_len(&store, b"hot"), 1);
    // An open snapshot keeps what it reads, however many versions come after it.
    let old = store.snapshot();
    for i in 100..200u32 {
        put(b"hot", i);
        store.compact(store.version());
    }
    assert_eq!(
        old.get("m", b"hot").as_deref(),
        Some(&99u32.to_be_bytes()[..])
    );
    assert!(chain_len(&store, b"hot") <= 101);
    drop(old);
    put(b"hot", 200);
    store.compact(store.version());
    assert_eq!(chain_len(&store, b"hot"), 1);
    // A removed key goes once nothing can see it.
    let mut w = store.begin();
    w.remove("m", &b"hot"[..]);
    ok(&store, w);
    assert_eq!(chain_len(&store, b"hot"), 2);
    store.compact(store.version());
    assert_eq!(chain_len(&store, b"hot"), 0);
    assert_eq!(store.snapshot().get("m", b"hot"), None);
}

/// Threads incrementing shared counters (retrying on conflict) while another compacts and
/// holds snapshots: no increment is lost, and every snapshot stays consistent (the
/// counters always sum to its version, one increment per transaction).
#[test]
fn concurrent_increments_lose_nothing() {
    use std::sync::Arc;
    let store = Arc::new(Store::new());
    let threads = 4;
    let per = 2000u64;
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    let key = [((t as u64 + i) % 3) as u8];
                    loop {
                        let mut tx = store.begin();
                        let v = tx
                            .get("c", &key)
                            .map_or(0, |b| u64::from_be_bytes(b[..].try_into().unwrap()));
                        tx.put("c", key.to_vec(), (v + 1).to_be_bytes().to_vec());
                        match store.commit(tx, |_| Ok::<_, String>(())) {
                            Ok(_) => break,
                            Err(e) if e.is_retryable() => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    let sum = |s: &crate::Snapshot| -> u64 {
        s.entries("c")
            .iter()
            .map(|(_, v, _)| u64::from_be_bytes(v[..].try_into().unwrap()))
            .sum()
    };
    let mut held = Vec::new();
    while !workers.iter().all(|w| w.is_finished()) {
        let s = store.snapshot();
        assert_eq!(sum(&s), s.version());
        held.push(s);
        if held.len() > 8 {
            held.remove(0);
        }
        store.compact(store.version());
        for s in &held {
            assert_eq!(sum(s), s.version());
        }
    }
    for w in workers {
        w.join().unwrap();
    }
    let s = store.snapshot();
    assert_eq!(s.version(), threads as u64 * per);
    assert_eq!(sum(&s), threads as u64 * per);
}

/// A state whose private maps were missing below 4 gets them back: newer writes (and
/// removals) win, open snapshots and transactions keep what they saw.
#[test]
fn merge_missing_fills_in_private_state_below_a_version() {
    use std::collections::{BTreeMap, BTreeSet};
    let put = |store: &Store, map: &str, k: &str, v: Option<&str>| {
        let mut tx = store.begin();
        match v {
            Some(v) => tx.put(map, k.as_bytes().to_vec(), v.as_bytes().to_vec()),
            None => {
                tx.remove(map, k.as_bytes().to_vec());
            }
        }
        ok(store, tx)
    };
    // The old private state, rebuilt: versions 1..=3.
    let old = Store::new();
    put(&old, "p", "k1", Some("old1"));
    put(&old, "p", "k2", Some("old2"));
    let mut tx = old.begin();
    for (k, v) in [("k3", "old3"), ("k4", "old4"), ("k5", "old5")] {
        tx.put("p", k.as_bytes().to_vec(), v.as_bytes().to_vec());
    }
    tx.put("q", &b"only-old"[..], &b"q"[..]);
    tx.put("public:m", &b"stale"[..], &b"x"[..]);
    ok(&old, tx);
    put(&old, "p", "k4", None);
    assert_eq!(old.version(), 4);
    // The live store saw 1..=4 public-only; from 5 on everything.
    let live = Store::new();
    for i in 0..4 {
        put(&live, "public:m", &format!("k{i}"), Some("pub"));
    }
    let below = 5;
    // Versions before 5 may still be rolled back: refused.
    assert!(matches!(
        live.merge_missing(&old.snapshot(), below, &BTreeMap::new()),
        Err(KvError::MergeOutOfRange { .. })
    ));
    live.compact(4);
    put(&live, "p", "k1", Some("new1"));
    // Removing a key the live store never held leaves no trace: the caller names it.
    put(&live, "p", "k2", None);
    put(&live, "p", "k5", Some("new5"));
    put(&live, "p", "k5", None);
    live.compact(live.version());
    let before = live.snapshot();
    let mut pending = live.begin();
    assert_eq!(pending.get("p", b"k3"), None);
    pending.put("p", &b"k3"[..], &b"blind"[..]);
    let stamp = live.map_stamp("p");
    let written: BTreeMap<String, BTreeSet<Bytes>> = [(
        "p".to_string(),
        [Bytes::from_static(b"k2"), Bytes::from_static(b"k5")].into(),
    )]
    .into();
    let too_late = Store::new();
    for _ in 0..5 {
        put(&too_late, "p", "x", Some("x"));
    }
    assert!(matches!(
        live.merge_missing(&too_late.snapshot(), below, &written),
        Err(KvError::MergeOutOfRange { .. })
    ));
    assert_eq!(
        live.merge_missing(&old.snapshot(), below, &written)
            .unwrap(),
        2,
        "k3 and q's key"
    );
    let s = live.snapshot();
    let get = |m: &str, k: &str| s.get(m, k.as_bytes()).map(|v| v.to_vec());
    assert_eq!(get("p", "k1").as_deref(), Some(&b"new1"[..]));
    assert_eq!(get("p", "k2"), None, "removed at 6: stays removed");
    assert_eq!(get("p", "k3").as_deref(), Some(&b"old3"[..]));
    assert_eq!(s.key_version("p", b"k3"), Some(3), "keeps its version");
    assert_eq!(get("p", "k4"), None, "removed in the old state");
    assert_eq!(
        get("p", "k5"),
        None,
        "removed at 8 (and tidied): stays removed"
    );
    assert_eq!(get("q", "only-old").as_deref(), Some(&b"q"[..]));
    assert_eq!(get("public:m", "stale"), None, "public maps are not merged");
    assert_eq!(s.version(), live.version(), "no new version");
    // What was open before stays as it was; a transaction begun before conflicts.
    assert_eq!(before.get("p", b"k3"), None);
    assert_ne!(live.map_stamp("p"), stamp);
    let e = live.commit(pending, |_| Ok::<_, String>(())).unwrap_err();
    assert!(e.is_retryable(), "{e}");
    // New writes and rollbacks work on the merged state.
    let v = live.version();
    put(&live, "p", "k3", Some("newer3"));
    live.rollback(v).unwrap();
    assert_eq!(
        live.snapshot().get("p", b"k3").as_deref(),
        Some(&b"old3"[..])
    );
}
