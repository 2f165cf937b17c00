//! Reads at past versions ([`Store::snapshot_at`]) within the history window.

use crate::{CommitOutcome, KvError, Store};

fn put(store: &Store, k: &[u8], v: Option<u64>) -> u64 {
    let mut w = store.begin();
    match v {
        Some(v) => w.put("m", k.to_vec(), v.to_be_bytes().to_vec()),
        None => {
            w.remove("m", k.to_vec());
        }
    }
    match store.commit(w, |_| Ok::<_, String>(())).unwrap() {
        CommitOutcome::Committed(c) => {
            store.compact(c.txid.seqno);
            c.txid.seqno
        }
        CommitOutcome::ReadOnly { .. } => panic!("expected a write"),
    }
}

fn at(store: &Store, v: u64, k: &[u8]) -> Option<u64> {
    let snap = store.snapshot_at(v).unwrap();
    snap.get("m", k)
        .map(|b| u64::from_be_bytes(b[..].try_into().unwrap()))
}

#[test]
fn every_version_in_the_window_reads_as_it_was() {
    let store = Store::new();
    store.set_history(10);
    // "hot" is written at every version; "cold" once, early; "gone" removed at 25.
    put(&store, b"cold", Some(7));
    put(&store, b"gone", Some(1));
    for v in 3..=40u64 {
        if v == 25 {
            put(&store, b"gone", None);
        } else {
            put(&store, b"hot", Some(v));
        }
    }
    assert_eq!(store.version(), 40);
    assert_eq!(store.history_from(), 30);
    for v in 30..=40 {
        let hot = if v >= 26 { v } else { 24 };
        assert_eq!(at(&store, v, b"hot"), Some(hot), "hot at {v}");
        assert_eq!(at(&store, v, b"cold"), Some(7), "cold at {v}");
        assert_eq!(at(&store, v, b"gone"), None, "gone at {v}");
    }
    match store.snapshot_at(29) {
        Err(KvError::HistoryUnavailable {
            requested: 29,
            oldest: 30,
            newest: 40,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.snapshot_at(41),
        Err(KvError::HistoryUnavailable { .. })
    ));
    // Older values leave memory as they leave the window: at most window + 1 of "hot".
    let snap = store.snapshot();
    let tables = snap.pin.data.read();
    assert!(
        tables
            .get("m")
            .unwrap()
            .keys
            .get(&b"hot"[..])
            .unwrap()
            .len()
            <= 11
    );
}

#[test]
fn the_removal_of_a_key_is_seen_from_its_version_only() {
    let store = Store::new();
    store.set_history(100);
    put(&store, b"k", Some(1));
    put(&store, b"k", None);
    put(&store, b"other", Some(3));
    assert_eq!(at(&store, 1, b"k"), Some(1));
    assert_eq!(at(&store, 2, b"k"), None);
    assert_eq!(at(&store, 3, b"k"), None);
}

#[test]
fn without_a_window_only_the_current_version_is_served() {
    let store = Store::new();
    for v in 1..=5 {
        put(&store, b"k", Some(v));
    }
    assert_eq!(at(&store, 5, b"k"), Some(5));
    assert!(store.snapshot_at(4).is_err());
}

#[test]
fn a_rollback_never_exposes_pruned_versions() {
    let store = Store::new();
    store.set_history(5);
    for v in 1..=20u64 {
        let mut w = store.begin();
        w.put("m", b"k".to_vec(), v.to_be_bytes().to_vec());
        store.commit(w, |_| Ok::<_, String>(())).unwrap();
        if v <= 15 {
            store.compact(v);
        }
    }
    // Pruned at floors up to 14: rolled back to 16, the window would reach back to 11,
    // but the versions below the highest floor pruned at are not whole.
    store.rollback(16).unwrap();
    assert_eq!(store.history_from(), 14);
    for v in store.history_from()..=16 {
        assert_eq!(at(&store, v, b"k"), Some(v), "at {v}");
    }
}

#[test]
fn a_store_reset_to_a_snapshot_has_no_history_before_it() {
    let store = Store::new();
    store.set_history(100);
    for v in 1..=10 {
        put(&store, b"k", Some(v));
    }
    let other = Store::new();
    other.set_history(100);
    other.reset_to(store.snapshot());
    assert_eq!(other.history_from(), 10);
    assert!(other.snapshot_at(9).is_err());
}
