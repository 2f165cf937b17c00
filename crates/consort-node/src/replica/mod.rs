//! A replica: the consensus engine driving a journal. The engine's log *is* the ledger (each
//! entry's data is the serialized ledger entry), so the primary proposes what its journal
//! appended, backups append what the primary sent with `Journal::append_replicated`,
//! truncations roll the journal back, and commits come from consensus.
//!
//! Membership is the set of `Trusted` nodes in `public:ccf.gov.nodes.info`, re-read after
//! every append or rollback (a configuration takes effect when appended, as in Raft's
//! single-server changes). This type does no network I/O: the caller delivers the returned
//! messages (in-process in tests, over `n2n` channels in a node). It persists the vote
//! (before any message that depends on it leaves) and, on the primary, snapshots.

use std::{path::PathBuf, sync::Arc};

use consort_consensus::{Action, Config, Message, NodeId, Raft, Restored, Role, Seqno, View};
use consort_kv::{CommitOutcome, Tx, TxId};
use consort_ledger::{journal::PendingSnapshot, Journal, LedgerError};
use thiserror::Error;

mod membership;
mod outgoing;
mod snapshots;
mod vote;

pub use membership::trusted_members;
pub use outgoing::Outgoing;
pub use vote::read_vote;

/// Errors of a replica.
#[derive(Debug, Error)]
pub enum ReplicaError {
    #[error("this node is not the primary (primary: {0:?})")]
    NotPrimary(Option<NodeId>),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("consensus and ledger disagree: {0}")]
    Diverged(String),
    /// The vote could not be read, or written (then it may or may not be durable).
    #[error("cannot persist the vote: {0}")]
    Vote(String),
    #[error("the node is stopping after a fatal error")]
    Stopped,
}

impl ReplicaError {
    /// Whether the node must stop (its process would exit) and restart from its storage:
    /// the journal is stopped ([`LedgerError::Fatal`]), or a vote write failed, so what is
    /// durable is unknown and voting on could vote twice in a view.
    pub fn is_fatal(&self) -> bool {
        match self {
            ReplicaError::Ledger(e) => e.is_fatal(),
            ReplicaError::Vote(_) => true,
            ReplicaError::NotPrimary(_) | ReplicaError::Diverged(_) | ReplicaError::Stopped => {
                false
            }
        }
    }
}

/// The consensus id of a node: the first 64 bits of its (hex) node id.
pub fn raft_id(node_id: &str) -> NodeId {
    u64::from_str_radix(node_id.get(..16).unwrap_or("0"), 16).unwrap_or(0)
}

/// How a replica persists its vote and snapshots, and its consensus timing.
#[derive(Debug, Clone, Default)]
pub struct ReplicaOptions {
    /// Where `(view, voted_for)` is kept (through the journal's `Storage`), written
    /// atomically before any message that
    /// depends on it leaves. `None`: in memory only (tests).
    pub vote_file: Option<PathBuf>,
    /// Snapshot the state at each signature that crosses a multiple of this many
    /// transactions (0: never), serialized off the lock, into `snapshot_dir`.
    pub snapshot_every: u64,
    pub snapshot_dir: Option<PathBuf>,
    /// Election timeout range and heartbeat, in ms (`None`: the engine's defaults).
    pub election_timeout_ms: Option<(u64, u64)>,
    pub heartbeat_ms: Option<u64>,
    /// Committed entries the consensus engine keeps in memory for lagging peers (`None`:
    /// the engine's default); older ones are read back from the ledger.
    pub retain_committed: Option<usize>,
}

/// Consensus + journal for one node.
#[derive(Debug)]
pub struct Replica {
    pub raft: Raft,
    pub journal: Arc<Journal>,
    /// Last persisted (view, vote).
    pub vote: (View, Option<NodeId>),
    opts: ReplicaOptions,
    pending_snapshots: Vec<PendingSnapshot>,
    seed: u64,
    now: u64,
    /// Seqno of the entry that made the current configuration.
    config_seqno: Seqno,
    /// The trusted nodes, and the nodes table's stamp they were read at.
    members_seen: membership::Seen,
}

impl Replica {
    /// A replica over `journal` with an in-memory vote, starting at `vote`.
    pub fn new(
        journal: Arc<Journal>,
        members: Vec<NodeId>,
        vote: (View, Option<NodeId>),
        seed: u64,
        now: u64,
    ) -> Result<Self, ReplicaError> {
        Self::build(journal, members, vote, ReplicaOptions::default(), seed, now)
    }

    /// A replica over `journal`, whose entries become the consensus log, with the vote
    /// read from `opts.vote_file`. `members` is used until the journal's state names any
    /// (a joining node is told the current members).
    pub fn with_options(
        journal: Arc<Journal>,
        members: Vec<NodeId>,
        opts: ReplicaOptions,
        seed: u64,
        now: u64,
    ) -> Result<Self, ReplicaError> {
        let vote = match &opts.vote_file {
            Some(p) => read_vote(&*journal.config().storage, p)?,
            None => (0, None),
        };
        Self::build(journal, members, vote, opts, seed, now)
    }

    fn build(
        journal: Arc<Journal>,
        members: Vec<NodeId>,
        vote: (View, Option<NodeId>),
        opts: ReplicaOptions,
        seed: u64,
        now: u64,
    ) -> Result<Self, ReplicaError> {
        // The engine holds the bytes of the entries after the commit point only (read
        // here); it knows every entry's view from the journal's runs.
        let base = journal.first_seqno().saturating_sub(1);
        let last = journal.last_txid().seqno;
        let commit = journal.committed().seqno.clamp(base, last);
        let held = journal
            .read_stored(commit + 1, last)?
            .into_iter()
            .map(outgoing::entry_of)
            .collect();
        let views = journal.view_runs();
        let max_view = views.last().map_or(0, |(_, v)| *v);
        let base_view = if base > 0 {
            journal.view_of(base).unwrap_or(0)
        } else {
            0
        };
        let known = trusted_members(&journal);
        let id = raft_id(&journal.node().node_id);
        let mut cfg = Config::new(id, if known.is_empty() { members } else { known });
        if let Some((lo, hi)) = opts.election_timeout_ms {
            cfg.election_timeout_min_ms = lo;
            cfg.election_timeout_max_ms = hi.max(lo + 1);
        }
        if let Some(h) = opts.heartbeat_ms {
            cfg.heartbeat_ms = h;
        }
        if let Some(n) = opts.retain_committed {
            cfg.retain_committed = n;
        }
        // Never below a view the ledger already holds: views name AES-GCM IVs.
        let view = vote.0.max(max_view).max(base_view);
        let restored = Restored {
            base: (base, base_view),
            views,
            last,
            commit,
            held,
        };
        let raft = Raft::restore(cfg, view, vote.1, restored, seed, now);
        if opts.snapshot_dir.is_some() {
            journal.set_snapshot_interval(opts.snapshot_every);
        }
        Ok(Self {
            raft,
            journal,
            vote: (view, vote.1),
            opts,
            pending_snapshots: Vec::new(),
            seed,
            now,
            config_seqno: 0,
            members_seen: None,
        })
    }

    /// Whether the last configuration change has committed (only then may another begin:
    /// Raft's single-server changes are safe one at a time).
    pub fn membership_settled(&self) -> bool {
        self.raft.commit_seqno() >= self.config_seqno
    }

    /// After a failed step (the engine's log and the journal may disagree): rebuild the
    /// engine from the journal, as a restart would, keeping the persisted vote. The
    /// primary then re-sends whatever this node lacks.
    pub fn resync(&mut self) -> Result<(), ReplicaError> {
        let members = self.raft.members().to_vec();
        let mut fresh = Self::build(
            self.journal.clone(),
            members,
            self.vote,
            self.opts.clone(),
            self.seed.wrapping_add(1),
            self.now,
        )?;
        fresh.pending_snapshots = std::mem::take(&mut self.pending_snapshots);
        *self = fresh;
        Ok(())
    }

    pub fn id(&self) -> NodeId {
        self.raft.id()
    }

    pub fn is_primary(&self) -> bool {
        self.raft.role() == Role::Leader
    }

    /// Primary only: commit `tx` to the journal and propose what it appended.
    pub fn submit(&mut self, tx: Tx) -> Result<(CommitOutcome, Vec<Outgoing>), ReplicaError> {
        if !self.is_primary() {
            return Err(ReplicaError::NotPrimary(self.raft.leader()));
        }
        let outcome = self.journal.commit(tx)?;
        let out = self.propose_new()?;
        Ok((outcome, out))
    }

    /// Primary only: append a signature transaction now (e.g. to commit a write promptly).
    pub fn sign(&mut self) -> Result<Vec<Outgoing>, ReplicaError> {
        if !self.is_primary() {
            return Err(ReplicaError::NotPrimary(self.raft.leader()));
        }
        self.journal.sign()?;
        self.propose_new()
    }

    /// The error that stopped this replica's journal, if any: the node must restart.
    pub fn fatal_error(&self) -> Option<LedgerError> {
        self.journal.fatal_error()
    }

    /// Time passes: `now` is the caller's clock in ms (monotonic). The primary also signs
    /// on its journal's timer and snapshots.
    pub fn tick(&mut self, now: u64) -> Result<Vec<Outgoing>, ReplicaError> {
        self.now = now;
        let mut out = Vec::new();
        if self.is_primary() && self.journal.tick_ms(now)?.is_some() {
            out.extend(self.propose_new()?);
        }
        if self.is_primary() {
            out.extend(self.maybe_snapshot()?);
        } else {
            self.snapshots().replicated()?;
        }
        let acts = self.raft.tick(now);
        out.extend(self.drive(acts)?);
        Ok(out)
    }

    /// A message from another replica.
    pub fn receive(&mut self, from: NodeId, msg: Message) -> Result<Vec<Outgoing>, ReplicaError> {
        let acts = self.raft.receive(from, msg);
        self.drive(acts)
    }

    /// Primary: once a snapshot pinned at a signature is serialized (off the lock), record
    /// its evidence and sign; the file is completed when the evidence commits.
    fn maybe_snapshot(&mut self) -> Result<Vec<Outgoing>, ReplicaError> {
        if self.snapshots().record_if_serialized()? {
            self.journal.sign()?;
            return self.propose_new();
        }
        Ok(Vec::new())
    }

    /// Hand every journal entry the engine has not seen to it, in order.
    fn propose_new(&mut self) -> Result<Vec<Outgoing>, ReplicaError> {
        let mut out = Vec::new();
        let last = self.journal.last_txid().seqno;
        for seqno in self.raft.last_seqno() + 1..=last {
            let data = self.journal.read_entry(seqno)?;
            let (got, acts) = if self.journal.is_signature(seqno) {
                self.raft.propose_signature(data.into())
            } else {
                self.raft.propose(data.into())
            };
            if got.map(|(_, s)| s) != Some(seqno) {
                return Err(ReplicaError::Diverged(format!(
                    "journal at {seqno}, consensus at {got:?}"
                )));
            }
            out.extend(self.drive(acts)?);
        }
        out.extend(self.refresh_members()?);
        Ok(out)
    }

    fn refresh_members(&mut self) -> Result<Vec<Outgoing>, ReplicaError> {
        let current = self.raft.members().to_vec();
        match self.membership().changed(&current) {
            Some(m) => {
                let acts = self.raft.set_members(m);
                self.drive(acts)
            }
            None => Ok(Vec::new()),
        }
    }

    fn drive(&mut self, actions: Vec<Action>) -> Result<Vec<Outgoing>, ReplicaError> {
        let mut out = Vec::new();
        let mut appended = false;
        for a in actions {
            match a {
                Action::Send { to, msg } => out.push(Outgoing::Ready { to, msg }),
                Action::SendStored {
                    to,
                    msg,
                    first,
                    last,
                } => out.push(Outgoing::Stored {
                    to,
                    msg,
                    first,
                    last,
                }),
                Action::Append(entries) => {
                    for e in entries {
                        if e.seqno <= self.journal.last_txid().seqno {
                            continue; // our own proposal, already in the journal
                        }
                        self.journal.append_replicated(&e.data)?;
                        appended = true;
                        self.snapshots().replicated()?;
                    }
                }
                Action::Truncate { after } => {
                    self.journal.rollback(after)?;
                    self.snapshots().truncated(after);
                    // A configuration made by a rolled-back entry is gone: the current
                    // one was made at or before `after` (re-read below).
                    self.config_seqno = self.config_seqno.min(after);
                    appended = true;
                }
                Action::Commit { seqno } => {
                    let view = self.journal.view_of(seqno).unwrap_or(0);
                    self.journal.commit_to(TxId::new(view, seqno))?;
                    self.snapshots().committed(seqno);
                }
                Action::PersistVote { view, voted_for } => {
                    if let Some(p) = &self.opts.vote_file {
                        vote::write_vote(&*self.journal.config().storage, p, (view, voted_for))?;
                    }
                    self.vote = (view, voted_for);
                }
                Action::RoleChanged { role, view, .. } => {
                    if role == Role::Leader {
                        self.journal.store().set_view(view);
                    }
                }
                Action::EmitSignature => {
                    self.journal.sign()?;
                    out.extend(self.propose_new()?);
                }
            }
        }
        if appended {
            out.extend(self.refresh_members()?);
        }
        Ok(out)
    }

    fn snapshots(&mut self) -> snapshots::Snapshots<'_> {
        snapshots::Snapshots {
            journal: &self.journal,
            opts: &self.opts,
            pending: &mut self.pending_snapshots,
        }
    }

    fn membership(&mut self) -> membership::Membership<'_> {
        membership::Membership {
            journal: &self.journal,
            seen: &mut self.members_seen,
            config_seqno: &mut self.config_seqno,
        }
    }

    /// The last seqno committed by consensus.
    pub fn commit_seqno(&self) -> Seqno {
        self.raft.commit_seqno()
    }
}

#[cfg(test)]
#[path = "replica_test.rs"]
mod replica_test;

#[cfg(test)]
pub(crate) mod test_support {
    /// The committed chunk files of a ledger directory (name, bytes), sorted.
    pub(crate) fn committed_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".committed"))
            .map(|e| {
                (
                    e.file_name().into_string().unwrap(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    }
}

#[cfg(any(test, feature = "test-utils"))]
pub mod sim;
