//! The simulator's invariants, checked after every step, and the final healing phase.

use std::collections::BTreeMap;

use consort_ledger::storage::Storage;

use super::{ReplicaSim, Violation, Write};

/// Rounds the healed cluster gets to elect, settle its membership and commit a write.
const HEAL_ROUNDS: usize = 600;

impl ReplicaSim {
    /// Every property that must hold between any two steps.
    pub(super) fn check(&mut self) -> Result<(), Violation> {
        self.check_leaders()?;
        for i in self.up() {
            self.check_commit(i)?;
            self.check_acked(i, false)?;
        }
        Ok(())
    }

    fn check_leaders(&mut self) -> Result<(), Violation> {
        for i in self.up() {
            let r = self.nodes[i].replica.as_ref().expect("up");
            if !r.is_primary() {
                continue;
            }
            let (view, id) = (r.raft.view(), r.id());
            match self.leaders.get(&view) {
                Some(&other) if other != id => {
                    return Err(self.violation(
                        "one leader per view",
                        format!("nodes {other:x} and {id:x} both lead view {view}"),
                    ))
                }
                _ => {
                    self.leaders.insert(view, id);
                }
            }
        }
        Ok(())
    }

    /// Commit never goes backwards on a live node, and every committed entry has the bytes
    /// every other node committed at that seqno.
    pub(super) fn check_commit(&mut self, i: usize) -> Result<(), Violation> {
        let r = self.nodes[i].replica.as_ref().expect("up");
        let committed = r.journal.committed().seqno;
        let seen = self.nodes[i].commit_seen;
        if !r.is_primary() && committed > self.leader_commit.max(seen) {
            return Err(self.violation(
                "backups follow the leader's commit",
                format!(
                    "node {i} committed {committed}, past every primary's commit point ({})",
                    self.leader_commit
                ),
            ));
        }
        if committed < seen {
            return Err(self.violation(
                "commit monotonic",
                format!("node {i} committed {seen}, now {committed}"),
            ));
        }
        let mut entries = Vec::new();
        let from = self.nodes[i].entries_checked + 1;
        for s in from.max(r.journal.first_seqno())..=committed {
            match r.journal.read_entry(s) {
                Ok(b) => entries.push((s, b)),
                Err(e) => {
                    return Err(self.violation(
                        "identical committed ledgers",
                        format!("node {i} cannot read committed entry {s}: {e}"),
                    ))
                }
            }
        }
        for (s, b) in entries {
            let k = (s - 1) as usize;
            if k < self.canonical.len() {
                if self.canonical[k] != b {
                    return Err(self.violation(
                        "identical committed ledgers",
                        format!("node {i}'s committed entry {s} differs from another node's"),
                    ));
                }
            } else if k == self.canonical.len() {
                self.canonical.push(b);
            } else {
                return Err(self.violation(
                    "identical committed ledgers",
                    format!("node {i} committed {s} before anyone committed {}", k),
                ));
            }
        }
        self.nodes[i].commit_seen = committed;
        self.nodes[i].entries_checked = committed;
        Ok(())
    }

    /// Acknowledged writes are in node `i`'s store once its commit point passed them (all
    /// of them when `all`, else those not checked since it started).
    pub(super) fn check_acked(&mut self, i: usize, all: bool) -> Result<(), Violation> {
        let r = self.nodes[i].replica.as_ref().expect("up");
        let committed = r.journal.committed().seqno;
        let from = if all { 0 } else { self.nodes[i].acked_checked };
        let snap = r.journal.store().snapshot();
        let mut done = from;
        for w in &self.acked[from..] {
            if w.txid.seqno > committed {
                if all {
                    continue;
                }
                break;
            }
            let view = r.journal.view_of(w.txid.seqno);
            let got = snap.get(w.map, &w.key);
            if view != Some(w.txid.view) || got.as_deref() != Some(&w.value[..]) {
                return Err(self.lost(i, w, view, got.map(|b| b.to_vec())));
            }
            if !all {
                done += 1;
            }
        }
        self.nodes[i].acked_checked = done.max(self.nodes[i].acked_checked);
        Ok(())
    }

    fn lost(&self, i: usize, w: &Write, view: Option<u64>, got: Option<Vec<u8>>) -> Violation {
        self.violation(
            "acknowledged writes durable",
            format!(
                "write {} ({} {}) acknowledged committed; node {i} (committed {}) has entry \
                 view {view:?} and value {:?}",
                w.txid,
                w.map,
                String::from_utf8_lossy(&w.key),
                self.nodes[i]
                    .replica
                    .as_ref()
                    .map_or(0, |r| r.journal.committed().seqno),
                got.map(|g| String::from_utf8_lossy(&g).into_owned()),
            ),
        )
    }

    /// One fault-free round: time passes, everything sent is delivered, down nodes restart.
    fn heal_round(&mut self) -> Result<(), Violation> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].replica.is_none() {
                self.restart(i)?;
            }
        }
        self.now += 10;
        self.tick_all();
        let mut budget = 10_000;
        while !self.net.is_empty() && budget > 0 {
            let (from, to, msg) = self.net.remove(0);
            self.deliver(from, to, msg);
            budget -= 1;
        }
        self.poll_acks();
        self.check()
    }

    /// No more faults; every node up; all members trusted; then a new write must commit on
    /// every node, and every acknowledged write must be in every store.
    pub(super) fn heal(&mut self) -> Result<(), Violation> {
        for n in &self.nodes {
            n.disk.set_faults(Default::default());
        }
        let mut target = None;
        for _ in 0..HEAL_ROUNDS {
            self.heal_round()?;
            if !self.fully_grown() {
                self.add_member();
                continue;
            }
            let lost = |t: &consort_kv::TxId| {
                !self.pending.iter().any(|w| w.txid == *t)
                    && !self.acked.iter().any(|w| w.txid == *t)
            };
            // A write rolled back by a change of primary is written again.
            let t = match target {
                Some(t) if !lost(&t) => t,
                _ => {
                    self.client_write();
                    target = self.pending.last().map(|w| w.txid);
                    self.on_primary(|r| r.sign());
                    continue;
                }
            };
            if self.acked.iter().any(|w| w.txid == t) && self.all_committed(t.seqno) {
                for i in 0..self.nodes.len() {
                    self.check_acked(i, true)?;
                }
                return Ok(());
            }
        }
        let commits: Vec<_> = self
            .nodes
            .iter()
            .map(|n| n.replica.as_ref().map(|r| r.journal.committed().seqno))
            .collect();
        Err(self.violation(
            "liveness",
            format!(
                "healed for {HEAL_ROUNDS} rounds: write {target:?} not committed everywhere; \
                 members {:?}, primary {:?}, commits {commits:?}; the primary's engine \
                 (commit, last, membership change at): {:?}",
                self.primary()
                    .and_then(|p| self.nodes[p].replica.as_ref())
                    .map(|r| r.raft.members().len()),
                self.primary(),
                self.primary()
                    .and_then(|p| self.nodes[p].replica.as_ref())
                    .map(|r| (r.raft.commit_seqno(), r.raft.last_seqno(), r.config_seqno))
            ),
        ))
    }

    fn all_committed(&self, seqno: u64) -> bool {
        self.nodes.iter().all(|n| {
            n.replica
                .as_ref()
                .is_some_and(|r| r.journal.committed().seqno >= seqno)
        })
    }

    /// The committed chunk files every node holds agree byte for byte.
    pub(super) fn check_chunk_files(&mut self) -> Result<(), Violation> {
        let mut seen: BTreeMap<String, (usize, Vec<u8>)> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let r = n.replica.as_ref().expect("healed");
            r.journal.flush().map_err(|e| {
                self.violation("identical committed ledgers", format!("flush {i}: {e}"))
            })?;
            let dir = r.journal.config().dir.clone();
            let names = n.disk.list_dir(&dir).unwrap_or_default();
            for name in names.into_iter().filter(|f| f.ends_with(".committed")) {
                let bytes = n.disk.read(&dir.join(&name)).map_err(|e| {
                    self.violation("identical committed ledgers", format!("{name}: {e}"))
                })?;
                match seen.get(&name) {
                    Some((j, b)) if *b != bytes => {
                        return Err(self.violation(
                            "identical committed ledgers",
                            format!("{name} differs between nodes {j} and {i}"),
                        ))
                    }
                    Some(_) => {}
                    None => {
                        seen.insert(name, (i, bytes));
                    }
                }
            }
        }
        if seen.is_empty() {
            return Err(self.violation(
                "identical committed ledgers",
                "no committed chunk file on any node".into(),
            ));
        }
        Ok(())
    }
}
