//! A replica: the consensus engine driving a journal. The engine's log *is* the ledger (each
//! entry's data is the serialized ledger entry), so the primary proposes what its journal
//! appended, backups append what the primary sent with `Journal::append_replicated`,
//! truncations roll the journal back, and commits come from consensus.
//!
//! Membership is the set of `Trusted` nodes in `public:ccf.gov.nodes.info`, re-read after
//! every append or rollback (a configuration takes effect when appended, as in Raft's
//! single-server changes). This type does no I/O of its own: the caller delivers the
//! returned messages (in-process in tests, over `n2n` channels in a node).

use std::sync::Arc;

use consort_consensus::{
    Action, Config, Entry, EntryKind, Message, NodeId, Raft, Role, Seqno, View,
};
use consort_kv::{entry, CommitOutcome, Tx, TxId};
use consort_ledger::{
    tables::{self, NodeInfo, NodeStatus},
    Journal, LedgerError,
};
use thiserror::Error;

/// Errors of a replica.
#[derive(Debug, Error)]
pub enum ReplicaError {
    #[error("this node is not the primary (primary: {0:?})")]
    NotPrimary(Option<NodeId>),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("consensus and ledger disagree: {0}")]
    Diverged(String),
}

/// The consensus id of a node: the first 64 bits of its (hex) node id.
pub fn raft_id(node_id: &str) -> NodeId {
    u64::from_str_radix(node_id.get(..16).unwrap_or("0"), 16).unwrap_or(0)
}

/// Consensus + journal for one node.
#[derive(Debug)]
pub struct Replica {
    pub raft: Raft,
    pub journal: Arc<Journal>,
    /// Last persisted (view, vote); a node writes it to disk.
    pub vote: (View, Option<NodeId>),
}

fn is_signature(bytes: &[u8]) -> bool {
    entry::EntryView::parse(bytes)
        .ok()
        .and_then(|v| entry::decode_public(v.public).ok())
        .is_some_and(|p| p.maps.get(tables::SIGNATURES).is_some())
}

/// Trusted members recorded in the journal's state.
pub fn trusted_members(journal: &Journal) -> Vec<NodeId> {
    let snap = journal.store().snapshot();
    let mut m: Vec<NodeId> = snap
        .entries(tables::NODES_INFO)
        .into_iter()
        .filter(|(_, v, _)| {
            serde_json::from_slice::<NodeInfo>(v).is_ok_and(|n| n.status == NodeStatus::Trusted)
        })
        .map(|(k, _, _)| raft_id(&String::from_utf8_lossy(&k)))
        .collect();
    m.sort_unstable();
    m
}

impl Replica {
    /// A replica over `journal`, whose entries become the consensus log. `members` is used
    /// until the journal's state names any (a joining node knows its primary).
    pub fn new(
        journal: Arc<Journal>,
        members: Vec<NodeId>,
        vote: (View, Option<NodeId>),
        seed: u64,
        now: u64,
    ) -> Result<Self, ReplicaError> {
        let last = journal.last_txid().seqno;
        let mut log = Vec::new();
        for seqno in 1..=last {
            let data = journal.read_entry(seqno)?;
            log.push(Entry {
                view: journal.view_of(seqno).unwrap_or(0),
                seqno,
                kind: if is_signature(&data) {
                    EntryKind::Signature
                } else {
                    EntryKind::Normal
                },
                data: data.into(),
            });
        }
        let known = trusted_members(&journal);
        let id = raft_id(&journal.node().node_id);
        let cfg = Config::new(id, if known.is_empty() { members } else { known });
        Ok(Self {
            raft: Raft::new(cfg, vote.0, vote.1, log, seed, now),
            journal,
            vote,
        })
    }

    pub fn id(&self) -> NodeId {
        self.raft.id()
    }

    pub fn is_primary(&self) -> bool {
        self.raft.role() == Role::Leader
    }

    /// Primary only: commit `tx` to the journal and propose what it appended.
    pub fn submit(
        &mut self,
        tx: Tx,
    ) -> Result<(CommitOutcome, Vec<(NodeId, Message)>), ReplicaError> {
        if !self.is_primary() {
            return Err(ReplicaError::NotPrimary(self.raft.leader()));
        }
        let outcome = self.journal.commit(tx)?;
        let out = self.propose_new()?;
        Ok((outcome, out))
    }

    /// Primary only: append a signature transaction now (e.g. to commit a write promptly).
    pub fn sign(&mut self) -> Result<Vec<(NodeId, Message)>, ReplicaError> {
        if !self.is_primary() {
            return Err(ReplicaError::NotPrimary(self.raft.leader()));
        }
        self.journal.sign()?;
        self.propose_new()
    }

    /// Time passes; the primary also signs on its journal's timer.
    pub fn tick(
        &mut self,
        now: u64,
        wall: std::time::Instant,
    ) -> Result<Vec<(NodeId, Message)>, ReplicaError> {
        let mut out = Vec::new();
        if self.is_primary() && self.journal.tick(wall)?.is_some() {
            out.extend(self.propose_new()?);
        }
        let acts = self.raft.tick(now);
        out.extend(self.drive(acts)?);
        Ok(out)
    }

    /// A message from another replica.
    pub fn receive(
        &mut self,
        from: NodeId,
        msg: Message,
    ) -> Result<Vec<(NodeId, Message)>, ReplicaError> {
        let acts = self.raft.receive(from, msg);
        self.drive(acts)
    }

    /// Hand every journal entry the engine has not seen to it, in order.
    fn propose_new(&mut self) -> Result<Vec<(NodeId, Message)>, ReplicaError> {
        let mut out = Vec::new();
        let last = self.journal.last_txid().seqno;
        for seqno in self.raft.last_seqno() + 1..=last {
            let data = self.journal.read_entry(seqno)?;
            let (got, acts) = if is_signature(&data) {
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

    fn refresh_members(&mut self) -> Result<Vec<(NodeId, Message)>, ReplicaError> {
        let m = trusted_members(&self.journal);
        if m.is_empty() || m == self.raft.members() {
            return Ok(Vec::new());
        }
        let acts = self.raft.set_members(m);
        self.drive(acts)
    }

    fn drive(&mut self, actions: Vec<Action>) -> Result<Vec<(NodeId, Message)>, ReplicaError> {
        let mut out = Vec::new();
        let mut appended = false;
        for a in actions {
            match a {
                Action::Send { to, msg } => out.push((to, msg)),
                Action::Append(entries) => {
                    for e in entries {
                        if e.seqno <= self.journal.last_txid().seqno {
                            continue; // our own proposal, already in the journal
                        }
                        self.journal.append_replicated(&e.data)?;
                        appended = true;
                    }
                }
                Action::Truncate { after } => {
                    self.journal.rollback(after)?;
                    appended = true;
                }
                Action::Commit { seqno } => {
                    let view = self.journal.view_of(seqno).unwrap_or(0);
                    self.journal.commit_to(TxId::new(view, seqno))?;
                }
                Action::PersistVote { view, voted_for } => self.vote = (view, voted_for),
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
