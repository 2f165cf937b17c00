//! The engine's log: every entry's view (kept as runs, a few bytes per view change), and the
//! bytes of only the entries still *held* — the uncommitted suffix and what a lagging
//! follower may still need, up to a bound. Older entries live in the driver's durable log
//! (the ledger files), which the engine asks to read them back ([`crate::Action::SendStored`]).

use std::collections::VecDeque;

use crate::message::{Entry, EntryKind, Seqno, View};

/// What a driver restarting from its durable log hands the engine.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// The committed point the log starts after (a snapshot), and its view; `(0, 0)` for a
    /// log from the start.
    pub base: (Seqno, View),
    /// `(first seqno, view)` of each run of entries of one view after `base`, in order.
    pub views: Vec<(Seqno, View)>,
    /// The last entry in the durable log.
    pub last: Seqno,
    /// Known committed (a signature, or `base`).
    pub commit: Seqno,
    /// The entries after some point at or before `commit + 1`, up to `last`, with bytes.
    pub held: Vec<Entry>,
}

#[derive(Debug, Clone)]
pub(crate) struct Log {
    base: Seqno,
    base_view: View,
    views: Vec<(Seqno, View)>,
    last: Seqno,
    held: VecDeque<Entry>,
}

impl Log {
    /// A log after `base` whose every entry is held.
    pub(crate) fn with_entries(base: (Seqno, View), entries: Vec<Entry>) -> Self {
        let mut log = Self {
            base: base.0,
            base_view: base.1,
            views: Vec::new(),
            last: base.0,
            held: VecDeque::new(),
        };
        for e in entries {
            log.push(e);
        }
        log
    }

    /// A log as a driver restored it. Panics on a description that cannot be a log (a
    /// driver bug): runs out of order or outside `(base, last]`, held entries not ending at
    /// `last` or starting after `commit + 1`.
    pub(crate) fn restore(r: Restored) -> Self {
        let (base, base_view) = r.base;
        assert!(
            r.views
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1),
            "view runs out of order"
        );
        assert!(
            r.views.first().is_none_or(|v| v.0 == base + 1)
                && (r.last == base || !r.views.is_empty()),
            "view runs must start right after the base"
        );
        assert!(r.views.last().is_none_or(|v| v.0 <= r.last));
        let held_from = r.last + 1 - r.held.len() as Seqno;
        assert!(
            held_from <= r.commit.max(base) + 1 && held_from > base,
            "held entries must cover everything after the commit point"
        );
        assert!(r
            .held
            .iter()
            .enumerate()
            .all(|(i, e)| e.seqno == held_from + i as Seqno));
        let log = Self {
            base,
            base_view,
            views: r.views,
            last: r.last,
            held: r.held.into(),
        };
        debug_assert!(log
            .held
            .iter()
            .all(|e| log.view_at(e.seqno) == Some(e.view)));
        log
    }

    pub(crate) fn base(&self) -> Seqno {
        self.base
    }
    pub(crate) fn last(&self) -> Seqno {
        self.last
    }
    /// The first held entry's seqno (`last + 1` when none is held).
    pub(crate) fn held_from(&self) -> Seqno {
        self.last + 1 - self.held.len() as Seqno
    }
    pub(crate) fn held(&self) -> &VecDeque<Entry> {
        &self.held
    }

    /// The view of entry `seqno`: `None` before the base or after the last entry.
    pub(crate) fn view_at(&self, seqno: Seqno) -> Option<View> {
        if seqno < self.base || seqno > self.last {
            return None;
        }
        if seqno == self.base {
            return Some(self.base_view);
        }
        let i = self.views.partition_point(|(first, _)| *first <= seqno);
        Some(self.views[i - 1].1)
    }

    /// Append the next entry.
    pub(crate) fn push(&mut self, e: Entry) {
        assert_eq!(e.seqno, self.last + 1, "log entries are contiguous");
        if self.views.last().is_none_or(|(_, v)| *v != e.view) {
            assert!(
                self.views.last().is_none_or(|(_, v)| *v < e.view),
                "views only grow along the log"
            );
            self.views.push((e.seqno, e.view));
        }
        self.last = e.seqno;
        self.held.push_back(e);
    }

    /// Discard every entry after `after`, which must not be before the held ones.
    pub(crate) fn truncate(&mut self, after: Seqno) {
        if after >= self.last {
            return;
        }
        assert!(
            after + 1 >= self.held_from(),
            "truncating entries no longer held"
        );
        self.held.truncate((after + 1 - self.held_from()) as usize);
        let keep = self.views.partition_point(|(first, _)| *first <= after);
        self.views.truncate(keep);
        self.last = after;
    }

    /// Entries `first..=last`, if all are held.
    pub(crate) fn held_range(&self, first: Seqno, last: Seqno) -> Option<Vec<Entry>> {
        if first < self.held_from() || last > self.last {
            return None;
        }
        let from = (first - self.held_from()) as usize;
        let to = (last + 1 - self.held_from()) as usize;
        Some(self.held.range(from..to.max(from)).cloned().collect())
    }

    /// The last held signature (in `view` if given) in `(after, upto]`.
    pub(crate) fn last_signature_in(
        &self,
        after: Seqno,
        upto: Seqno,
        view: Option<View>,
    ) -> Option<Seqno> {
        self.held
            .iter()
            .rev()
            .skip_while(|e| e.seqno > upto)
            .take_while(|e| e.seqno > after)
            .find(|e| e.kind == EntryKind::Signature && view.is_none_or(|v| e.view == v))
            .map(|e| e.seqno)
    }

    /// Stop holding the bytes of entries before `seqno` (never past the last entry).
    pub(crate) fn forget_before(&mut self, seqno: Seqno) {
        while self.held.front().is_some_and(|e| e.seqno < seqno) {
            self.held.pop_front();
        }
    }
}

#[cfg(test)]
#[path = "log_test.rs"]
mod log_test;
