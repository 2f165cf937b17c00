//! Snapshots, as a handler over the replica's borrowed state. Every node's journal pins the
//! state at each signature crossing a multiple of `snapshot_every` and serializes it off
//! the lock (`Journal::set_snapshot_interval`); the primary records the evidence once its
//! serialization is done (the caller then signs); a backup writes its own copy when the
//! evidence has arrived and its serialization gives the same hash; every node completes
//! `snapshot_S_E` when its evidence `E` commits, and drops it if `E` is rolled back.

use consort_consensus::Seqno;
use consort_ledger::{journal::PendingSnapshot, Journal};

use super::{ReplicaError, ReplicaOptions};

/// The snapshot handler.
pub(super) struct Snapshots<'a> {
    pub(super) journal: &'a Journal,
    pub(super) opts: &'a ReplicaOptions,
    pub(super) pending: &'a mut Vec<PendingSnapshot>,
}

impl Snapshots<'_> {
    /// Primary: record the evidence of a snapshot serialized since it was pinned, if one
    /// is. True if one was (the caller signs and proposes).
    pub(super) fn record_if_serialized(&mut self) -> Result<bool, ReplicaError> {
        let Some(dir) = self.opts.snapshot_dir.as_ref() else {
            return Ok(false);
        };
        match self.journal.record_serialized_snapshot(dir)? {
            Some(p) => {
                self.pending.push(p);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Backup, after appending a replicated entry (and on its timer): the snapshots whose
    /// evidence arrived and that it has serialized too.
    pub(super) fn replicated(&mut self) -> Result<(), ReplicaError> {
        if let Some(dir) = &self.opts.snapshot_dir {
            self.pending
                .extend(self.journal.take_replicated_snapshots(dir)?);
        }
        Ok(())
    }

    /// Complete the pending snapshots whose evidence is committed at `seqno`.
    pub(super) fn committed(&mut self, seqno: Seqno) {
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(self.pending)
            .into_iter()
            .partition(|p| p.evidence <= seqno);
        *self.pending = keep;
        for p in done {
            match self.journal.complete_snapshot(&p) {
                Ok(path) => tracing::info!("snapshot written: {}", path.display()),
                Err(e) => tracing::error!("cannot complete snapshot {}: {e}", p.path.display()),
            }
        }
    }

    /// Drop the pending snapshots whose evidence was rolled back (after `after`).
    pub(super) fn truncated(&mut self, after: Seqno) {
        let storage = self.journal.config().storage.clone();
        self.pending.retain(|p| {
            if p.evidence > after {
                // Best effort: a leftover uncommitted snapshot is never used.
                let _ = storage.remove_file(&p.path);
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
#[path = "snapshots_test.rs"]
mod snapshots_test;
