//! Snapshots, as a handler over the replica's borrowed state: the primary begins one every
//! `snapshot_every` committed transactions (the caller then signs, which records the
//! evidence); a backup reproduces the same bytes when the snapshot transaction arrives;
//! every node completes `snapshot_S_E` when its evidence `E` commits, and drops it if `E`
//! is rolled back.

use consort_consensus::Seqno;
use consort_ledger::{journal::PendingSnapshot, Journal};

use super::{ReplicaError, ReplicaOptions};

/// The snapshot handler.
pub(super) struct Snapshots<'a> {
    pub(super) journal: &'a Journal,
    pub(super) opts: &'a ReplicaOptions,
    pub(super) pending: &'a mut Vec<PendingSnapshot>,
    /// The commit point of the last snapshot begun.
    pub(super) last: &'a mut Seqno,
}

impl Snapshots<'_> {
    /// Primary: begin a snapshot if one is due at `committed` and none is pending. True if
    /// one was begun (the caller signs and proposes).
    pub(super) fn begin_if_due(&mut self, committed: Seqno) -> Result<bool, ReplicaError> {
        let (every, Some(dir)) = (self.opts.snapshot_every, self.opts.snapshot_dir.as_ref()) else {
            return Ok(false);
        };
        if every == 0 || committed < *self.last + every || !self.pending.is_empty() {
            return Ok(false);
        }
        let started = std::time::Instant::now();
        let p = self.journal.begin_snapshot(dir)?;
        tracing::info!(
            "snapshot at {} (evidence {}) pending, serialized in {}ms",
            p.seqno,
            p.evidence,
            started.elapsed().as_millis()
        );
        *self.last = committed;
        self.pending.push(p);
        Ok(true)
    }

    /// Backup, after appending a replicated entry: the snapshot it starts, if any.
    pub(super) fn replicated(&mut self) -> Result<(), ReplicaError> {
        if let Some(dir) = &self.opts.snapshot_dir {
            if let Some(p) = self.journal.take_replicated_snapshot(dir)? {
                tracing::info!("snapshot at {} (evidence {}) pending", p.seqno, p.evidence);
                self.pending.push(p);
            }
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
