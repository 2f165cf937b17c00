//! Snapshots serialized off the consensus path.
//!
//! Serializing a large state takes long (≈ 1 s at a million keys): under the journal's lock
//! it would stall commits, replication and heartbeats. Instead every node, primary and
//! backups alike, *pins* the state at the same point — each signature `S` that crosses a
//! multiple of the snapshot interval (a rule every node applies to the same ledger) — which
//! costs a reference to the store's versions, and serializes it on a thread of its own.
//! When the primary's is done it records the evidence `E` (some seqno after `S`, as in CCF)
//! and writes `snapshot_<S>_<E>`; a backup that appends `E` writes its own copy once its
//! serialization is done and gives the same hash (if it differs, it says so and keeps none).

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Instant,
};

use super::{snapshot_support::Evidence, *};

/// Most serializations kept at once (a backup whose primary never recorded evidence for
/// an older one drops it).
const MAX_JOBS: usize = 2;

type Outcome = Arc<Mutex<Option<Result<Vec<u8>, String>>>>;

#[derive(Debug)]
struct Job {
    seqno: Version,
    outcome: Outcome,
}

impl Job {
    fn is_done(&self) -> bool {
        self.outcome.lock().expect("snapshot job").is_some()
    }

    /// The serialized bytes, once done (`Some(Err)` if serializing failed), moved out.
    fn take(&self) -> Option<Result<Vec<u8>, String>> {
        self.outcome.lock().expect("snapshot job").take()
    }
}

/// The snapshot jobs of a journal.
#[derive(Debug, Default)]
pub(super) struct SnapshotJobs {
    /// Pin at signatures crossing a multiple of this (0: never).
    every: u64,
    jobs: Vec<Job>,
    /// Backup: evidence appended `(S, E, hash)` whose snapshot is still serializing.
    awaiting: Vec<(Version, Version, String)>,
}

impl SnapshotJobs {
    fn due(&self, s: Version, prev_signature: Version) -> bool {
        self.every > 0 && s / self.every > prev_signature / self.every
    }

    /// Forget what a rollback to `seqno` undid.
    pub(super) fn rolled_back(&mut self, seqno: Version) {
        self.jobs.retain(|j| j.seqno <= seqno);
        self.awaiting.retain(|(_, e, _)| *e <= seqno);
    }

    /// Backup: evidence for `s` was appended at `e`.
    pub(super) fn evidence(&mut self, s: Version, e: Version, hash: String) {
        self.awaiting.push((s, e, hash));
    }

    /// Whether a job serializes the state at `s`.
    pub(super) fn has(&self, s: Version) -> bool {
        self.jobs.iter().any(|j| j.seqno == s)
    }
}

impl Journal {
    /// Serialize a snapshot at every signature that crosses a multiple of `every`
    /// transactions (0: never), off the journal's lock (see the module docs).
    pub fn set_snapshot_interval(&self, every: u64) {
        self.lock().snapshot_jobs.every = every;
    }

    /// After appending signature `s` (the previous one at `prev`): pin the state and start
    /// serializing it, if a snapshot is due here. Cheap: the state is only referenced.
    pub(super) fn maybe_pin_snapshot(&self, inner: &mut Inner, s: Version, prev: Version) {
        if !inner.snapshot_jobs.due(s, prev) || inner.missing.is_some() {
            return;
        }
        let input = self.snapshot_input(inner);
        debug_assert_eq!(input.txid.seqno, s);
        let outcome: Outcome = Arc::default();
        let out = outcome.clone();
        let job = move || {
            let started = Instant::now();
            let r = input.serialize().map_err(|e| e.to_string());
            tracing::info!(
                "snapshot at {s} serialized in {}ms",
                started.elapsed().as_millis()
            );
            *out.lock().expect("snapshot job") = Some(r);
        };
        if !self.config.snapshot_threads {
            job();
        } else if let Err(e) = std::thread::Builder::new()
            .name(format!("snapshot-{s}"))
            .spawn(job)
        {
            tracing::warn!("cannot start serializing a snapshot at {s}: {e}");
            return;
        }
        let jobs = &mut inner.snapshot_jobs.jobs;
        jobs.push(Job { seqno: s, outcome });
        if jobs.len() > MAX_JOBS {
            jobs.remove(0);
        }
    }

    /// Primary: the oldest snapshot serialized since it was pinned: record its evidence (a
    /// transaction, not signed yet) and write `snapshot_<S>_<E>` into `dir`. `None` while
    /// none is ready. The caller signs; the file is completed when `E` commits.
    pub fn record_serialized_snapshot(
        &self,
        dir: &Path,
    ) -> Result<Option<PendingSnapshot>, LedgerError> {
        let (s, bytes) = {
            let mut inner = self.lock_live()?;
            let jobs = &mut inner.snapshot_jobs.jobs;
            let Some(i) = jobs.iter().position(Job::is_done) else {
                return Ok(None);
            };
            let job = jobs.remove(i);
            match job.take().expect("done") {
                Ok(bytes) => (job.seqno, bytes),
                Err(e) => {
                    tracing::error!("cannot serialize the snapshot at {}: {e}", job.seqno);
                    return Ok(None);
                }
            }
        };
        self.record_evidence(dir, s, &bytes).map(Some)
    }

    /// Backup: the snapshots whose evidence was appended and whose own serialization is
    /// done, checked against the evidence's hash and written as `snapshot_<S>_<E>` into
    /// `dir` (completed like the primary's once `E` commits).
    pub(super) fn write_awaited_snapshots(
        &self,
        inner: &mut Inner,
        dir: &Path,
    ) -> Result<Vec<PendingSnapshot>, LedgerError> {
        let mut out = Vec::new();
        let awaiting = std::mem::take(&mut inner.snapshot_jobs.awaiting);
        for (s, e, hash) in awaiting {
            let Some(i) = inner.snapshot_jobs.jobs.iter().position(|j| j.seqno == s) else {
                tracing::info!("no snapshot of my own at {s} (evidence {e})");
                continue;
            };
            if !inner.snapshot_jobs.jobs[i].is_done() {
                inner.snapshot_jobs.awaiting.push((s, e, hash));
                continue;
            }
            let done = inner.snapshot_jobs.jobs.remove(i).take().expect("done");
            match done {
                Ok(bytes) if sha256(&bytes).to_hex() == hash => {
                    out.push(self.write_pending(dir, s, e, &bytes)?);
                }
                Ok(_) => tracing::warn!("snapshot at {s} differs from the primary's"),
                Err(err) => tracing::warn!("cannot reproduce snapshot at {s}: {err}"),
            }
        }
        Ok(out)
    }
}

/// The snapshot evidence an entry records, if any.
pub(super) fn evidence_in(decoded: &consort_kv::entry::DecodedEntry) -> Option<Evidence> {
    decoded
        .public
        .maps
        .get(SNAPSHOT_EVIDENCE)
        .and_then(|w| w.values().next().cloned().flatten())
        .and_then(|v| serde_json::from_slice::<Evidence>(&v).ok())
}
