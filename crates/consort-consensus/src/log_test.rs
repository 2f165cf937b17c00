use bytes::Bytes;

use super::*;

fn e(view: View, seqno: Seqno, sig: bool) -> Entry {
    Entry {
        view,
        seqno,
        kind: if sig {
            EntryKind::Signature
        } else {
            EntryKind::Normal
        },
        data: Bytes::from(format!("{view}.{seqno}")),
    }
}

#[test]
fn views_are_kept_as_runs_and_survive_forgetting_bytes() {
    let mut log = Log::with_entries((10, 2), Vec::new());
    for (s, v) in [(11, 2), (12, 2), (13, 3), (14, 3), (15, 5)] {
        log.push(e(v, s, s % 2 == 0));
    }
    assert_eq!(log.views, vec![(11, 2), (13, 3), (15, 5)]);
    log.forget_before(14);
    assert_eq!(log.held_from(), 14);
    assert_eq!(
        (9..=16).map(|s| log.view_at(s)).collect::<Vec<_>>(),
        [
            None,
            Some(2),
            Some(2),
            Some(2),
            Some(3),
            Some(3),
            Some(5),
            None
        ]
    );
    assert_eq!(log.held_range(13, 15), None, "13 is no longer held");
    assert_eq!(log.held_range(14, 15).map(|v| v.len()), Some(2));
    assert_eq!(log.last_signature_in(10, 15, None), Some(14));
    assert_eq!(log.last_signature_in(10, 15, Some(5)), None);
}

#[test]
fn truncation_drops_runs_and_never_reaches_forgotten_entries() {
    let mut log = Log::with_entries((0, 0), (1..=6).map(|s| e(s / 3, s, false)).collect());
    log.truncate(3);
    assert_eq!((log.last(), log.views.clone()), (3, vec![(1, 0), (3, 1)]));
    log.truncate(2);
    assert_eq!(log.views, vec![(1, 0)]);
    log.push(e(4, 3, true));
    assert_eq!(log.view_at(3), Some(4));
    log.forget_before(3);
    let forgotten = std::panic::catch_unwind(move || log.truncate(1));
    assert!(
        forgotten.is_err(),
        "entries whose bytes are gone are committed"
    );
}

#[test]
fn a_restored_log_must_hold_everything_after_its_commit_point() {
    let held = vec![e(3, 8, false), e(3, 9, true)];
    let ok = Restored {
        base: (4, 1),
        views: vec![(5, 1), (7, 3)],
        last: 9,
        commit: 7,
        held: held.clone(),
    };
    let log = Log::restore(ok.clone());
    assert_eq!(
        (log.held_from(), log.view_at(6), log.view_at(8)),
        (8, Some(1), Some(3))
    );
    let gap = Restored {
        commit: 6,
        ..ok.clone()
    };
    assert!(std::panic::catch_unwind(|| Log::restore(gap)).is_err());
    let unordered = Restored {
        views: vec![(5, 3), (7, 1)],
        ..ok
    };
    assert!(std::panic::catch_unwind(|| Log::restore(unordered)).is_err());
}
