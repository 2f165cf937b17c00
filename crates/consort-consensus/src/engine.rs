//! The Raft engine: one handler per message kind and role transition.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::{
    log::{Log, Restored},
    message::{Entry, EntryKind, Message, NodeId, Seqno, View},
};

/// Timing and batching.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: NodeId,
    /// Every voting member, including `id`.
    pub members: Vec<NodeId>,
    /// An election starts after a random timeout in `[min, max)` ms without a leader.
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// The leader sends (possibly empty) AppendEntries this often.
    pub heartbeat_ms: u64,
    /// Most entries per AppendEntries.
    pub max_batch: usize,
    /// Most batches in flight to one follower.
    pub pipeline: usize,
    /// A leader that has not heard from a majority within `election_timeout_max_ms` steps
    /// down (CCF's "check quorum"), so a partitioned primary stops accepting writes it
    /// could never commit.
    pub check_quorum: bool,
    /// Most committed entries whose bytes stay held for lagging followers; older ones are
    /// read back from the driver's durable log ([`Action::SendStored`]). The uncommitted
    /// suffix is always held.
    pub retain_committed: usize,
}

impl Config {
    pub fn new(id: NodeId, members: Vec<NodeId>) -> Self {
        Self {
            id,
            members,
            election_timeout_min_ms: 150,
            election_timeout_max_ms: 300,
            heartbeat_ms: 30,
            max_batch: 256,
            pipeline: 8,
            check_quorum: true,
            retain_committed: 2048,
        }
    }
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send {
        to: NodeId,
        msg: Message,
    },
    /// Send `msg`, an `AppendEntries` with no entries yet, to `to` once its entries are
    /// filled with `first..=last` read from the durable log: committed entries the engine
    /// no longer holds (so they can never change). Messages to one peer go in order.
    SendStored {
        to: NodeId,
        msg: Message,
        first: Seqno,
        last: Seqno,
    },
    /// Append these entries to the durable log (after any truncation in the same batch).
    Append(Vec<Entry>),
    /// Discard every entry after `seqno` (never a committed one).
    Truncate {
        after: Seqno,
    },
    /// Everything up to `seqno` (a signature) is committed.
    Commit {
        seqno: Seqno,
    },
    /// The persistent view or vote changed; persist `(view, voted_for)`.
    PersistVote {
        view: View,
        voted_for: Option<NodeId>,
    },
    RoleChanged {
        role: Role,
        view: View,
        leader: Option<NodeId>,
    },
    /// This node just became leader: produce a signature transaction (over the ledger as
    /// it stands) and hand it to [`Raft::propose_signature`], which opens the view.
    EmitSignature,
}

/// Deterministic PRNG (splitmix64) for election timeouts, seeded by the driver.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The consensus state machine of one node.
#[derive(Debug, Clone)]
pub struct Raft {
    cfg: Config,
    // Persistent.
    view: View,
    voted_for: Option<NodeId>,
    /// Entries after the base (a node started from a snapshot at the base has none before);
    /// the bytes of only those still in flight.
    log: Log,
    // Volatile.
    role: Role,
    leader: Option<NodeId>,
    commit: Seqno,
    now: u64,
    election_deadline: u64,
    last_heartbeat: u64,
    votes: BTreeSet<NodeId>,
    next: BTreeMap<NodeId, Seqno>,
    matched: BTreeMap<NodeId, Seqno>,
    /// Leader: when each peer last answered in this view.
    contact: BTreeMap<NodeId, u64>,
    leader_since: u64,
    /// The seqno of the configuration that removed this node, if one did.
    removed_at: Option<Seqno>,
    rng: Rng,
}

impl Raft {
    /// A node starting from its persisted state (`log` must be contiguous from seqno 1).
    pub fn new(
        cfg: Config,
        view: View,
        voted_for: Option<NodeId>,
        log: Vec<Entry>,
        seed: u64,
        now: u64,
    ) -> Self {
        Self::with_base(cfg, view, voted_for, (0, 0), log, seed, now)
    }

    /// A node whose log starts after `base = (seqno, view)`, a committed point it holds as a
    /// snapshot (`log` must be contiguous from `seqno + 1`).
    pub fn with_base(
        cfg: Config,
        view: View,
        voted_for: Option<NodeId>,
        base: (Seqno, View),
        log: Vec<Entry>,
        seed: u64,
        now: u64,
    ) -> Self {
        Self::from_log(
            cfg,
            view,
            voted_for,
            Log::with_entries(base, log),
            base.0,
            seed,
            now,
        )
    }

    /// A node restarting from its durable log, holding the bytes of only the entries after
    /// its commit point (see [`Restored`]).
    pub fn restore(
        cfg: Config,
        view: View,
        voted_for: Option<NodeId>,
        log: Restored,
        seed: u64,
        now: u64,
    ) -> Self {
        let commit = log.commit.max(log.base.0);
        Self::from_log(cfg, view, voted_for, Log::restore(log), commit, seed, now)
    }

    fn from_log(
        cfg: Config,
        view: View,
        voted_for: Option<NodeId>,
        log: Log,
        commit: Seqno,
        seed: u64,
        now: u64,
    ) -> Self {
        let mut r = Self {
            cfg,
            view,
            voted_for,
            log,
            role: Role::Follower,
            leader: None,
            commit,
            now,
            election_deadline: 0,
            last_heartbeat: 0,
            votes: BTreeSet::new(),
            next: BTreeMap::new(),
            matched: BTreeMap::new(),
            contact: BTreeMap::new(),
            leader_since: 0,
            removed_at: None,
            rng: Rng(seed ^ 0x5EED),
        };
        r.reset_election_timer();
        r
    }

    pub fn id(&self) -> NodeId {
        self.cfg.id
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn view(&self) -> View {
        self.view
    }
    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted_for
    }
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    pub fn commit_seqno(&self) -> Seqno {
        self.commit
    }
    /// The entries whose bytes are held, in order, ending at [`Raft::last_seqno`]: at least
    /// every one after the commit point.
    pub fn held(&self) -> impl DoubleEndedIterator<Item = &Entry> + ExactSizeIterator {
        self.log.held().iter()
    }
    /// The first entry whose bytes are held (`last_seqno() + 1` when none is).
    pub fn held_from(&self) -> Seqno {
        self.log.held_from()
    }
    /// The snapshot point the log starts after (0 for a full log).
    pub fn base(&self) -> Seqno {
        self.log.base()
    }
    pub fn last_seqno(&self) -> Seqno {
        self.log.last()
    }
    /// The view of entry `seqno` (held or not), or of the base; `None` outside.
    pub fn view_of(&self, seqno: Seqno) -> Option<View> {
        self.log.view_at(seqno)
    }

    /// The view of entry `seqno`. Entries up to the base are committed and so match any
    /// leader's: asked about one before the base, answer as if it matched (`None`).
    fn view_at_opt(&self, seqno: Seqno) -> Option<View> {
        self.log.view_at(seqno)
    }

    fn view_at(&self, seqno: Seqno) -> View {
        self.view_at_opt(seqno).unwrap_or(0)
    }

    /// The last signature entry: (view, seqno), or the base (or (0, 0)). Every entry after
    /// the commit point is held, and the commit point is a signature (or the base).
    pub fn last_committable(&self) -> (View, Seqno) {
        let s = self
            .log
            .last_signature_in(self.commit, self.last_seqno(), None)
            .unwrap_or(self.commit);
        (self.view_at(s), s)
    }

    fn majority(&self) -> usize {
        self.cfg.members.len() / 2 + 1
    }

    /// Whether the votes won make this node leader: it is a member of its current
    /// configuration and a majority of that configuration voted for it (a configuration
    /// may change while it campaigns: votes of nodes no longer members do not count).
    fn won(&self) -> bool {
        self.is_member()
            && self
                .votes
                .iter()
                .filter(|v| self.cfg.members.contains(v))
                .count()
                >= self.majority()
    }

    /// Whether this node is a voting member of the current configuration.
    pub fn is_member(&self) -> bool {
        self.cfg.members.contains(&self.cfg.id)
    }

    fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        let me = self.cfg.id;
        self.cfg.members.iter().copied().filter(move |m| *m != me)
    }

    fn reset_election_timer(&mut self) {
        let span = self
            .cfg
            .election_timeout_max_ms
            .saturating_sub(self.cfg.election_timeout_min_ms)
            .max(1);
        self.election_deadline =
            self.now + self.cfg.election_timeout_min_ms + self.rng.next() % span;
    }

    fn set_role(&mut self, role: Role, out: &mut Vec<Action>) {
        self.role = role;
        out.push(Action::RoleChanged {
            role,
            view: self.view,
            leader: self.leader,
        });
    }

    fn become_follower(&mut self, view: View, leader: Option<NodeId>, out: &mut Vec<Action>) {
        if view > self.view {
            self.view = view;
            self.voted_for = None;
            out.push(Action::PersistVote {
                view,
                voted_for: None,
            });
        }
        let changed = self.role != Role::Follower || self.leader != leader;
        self.leader = leader;
        if changed {
            self.set_role(Role::Follower, out);
        }
        self.reset_election_timer();
    }

    fn truncate(&mut self, after: Seqno, out: &mut Vec<Action>) {
        if after < self.last_seqno() {
            assert!(
                after >= self.commit,
                "node {} would truncate committed entries",
                self.cfg.id
            );
            self.log.truncate(after);
            out.push(Action::Truncate { after });
        }
    }

    /// At start: entries up to `seqno` are known committed (the durable ledger says so).
    /// Ignored beyond the log or below the current commit point.
    pub fn restore_commit(&mut self, seqno: Seqno) {
        if seqno <= self.last_seqno() && seqno > self.commit {
            self.commit = seqno;
        }
    }

    /// The configuration (timing, members).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The current voting members.
    pub fn members(&self) -> &[NodeId] {
        &self.cfg.members
    }

    /// Replace the voting members. Configuration changes take effect when the entry making
    /// them is appended (not committed), one at a time, as in Raft's single-server changes:
    /// the driver calls this when such an entry is appended, and again after a truncation.
    pub fn set_members(&mut self, members: Vec<NodeId>) -> Vec<Action> {
        let mut out = Vec::new();
        if members == self.cfg.members {
            return out;
        }
        self.cfg.members = members;
        // Removed (retired): a leader keeps replicating until the configuration that
        // removed it commits, then steps down; a follower never campaigns again.
        self.removed_at = (!self.is_member()).then_some(self.last_seqno());
        if self.role == Role::Leader {
            let next = self.last_seqno() + 1;
            let peers: Vec<NodeId> = self.peers().collect();
            self.next.retain(|p, _| peers.contains(p));
            self.matched.retain(|p, _| peers.contains(p));
            self.contact.retain(|p, _| peers.contains(p));
            for p in peers {
                self.next.entry(p).or_insert(next);
                self.matched.entry(p).or_insert(0);
                // A new member gets a full timeout to answer before it counts as absent.
                self.contact.entry(p).or_insert(self.now);
            }
            self.advance_commit(&mut out);
            self.broadcast_append(&mut out);
        }
        out
    }

    /// Time passes.
    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        self.now = now.max(self.now);
        match self.role {
            Role::Leader => {
                if self.cfg.check_quorum && !self.has_quorum_contact() {
                    self.become_follower(self.view, None, &mut out);
                    return out;
                }
                if self.now >= self.last_heartbeat + self.cfg.heartbeat_ms {
                    self.broadcast_append(&mut out);
                }
            }
            Role::Follower | Role::Candidate => {
                // A node with an empty log is joining: it waits to be caught up rather than
                // disrupting the service with elections it cannot win. A node that is the
                // only member need not wait for a timeout to lead.
                let alone = self.cfg.members == [self.cfg.id];
                if (self.now >= self.election_deadline || alone)
                    && self.last_seqno() > 0
                    && self.is_member()
                {
                    self.start_election(&mut out);
                }
            }
        }
        out
    }

    fn start_election(&mut self, out: &mut Vec<Action>) {
        // CCF: roll back the unsigned tail; it can never be committed.
        let (_, lc) = self.last_committable();
        self.truncate(lc.max(self.commit), out);
        self.view += 1;
        self.voted_for = Some(self.cfg.id);
        out.push(Action::PersistVote {
            view: self.view,
            voted_for: self.voted_for,
        });
        self.leader = None;
        self.votes = BTreeSet::from([self.cfg.id]);
        self.set_role(Role::Candidate, out);
        self.reset_election_timer();
        let (lcv, lcs) = self.last_committable();
        for p in self.peers().collect::<Vec<_>>() {
            out.push(Action::Send {
                to: p,
                msg: Message::RequestVote {
                    view: self.view,
                    last_committable_view: lcv,
                    last_committable_seqno: lcs,
                },
            });
        }
        if self.won() {
            self.become_leader(out);
        }
    }

    /// Leader: whether a majority (counting itself) answered within the last election
    /// timeout, or it has not led that long yet.
    fn has_quorum_contact(&self) -> bool {
        let window = self.cfg.election_timeout_max_ms;
        if self.now < self.leader_since + window {
            return true;
        }
        let cutoff = self.now - window;
        let live = usize::from(self.is_member())
            + self
                .peers()
                .filter(|p| self.contact.get(p).is_some_and(|t| *t >= cutoff))
                .count();
        live >= self.majority()
    }

    fn become_leader(&mut self, out: &mut Vec<Action>) {
        self.leader = Some(self.cfg.id);
        self.leader_since = self.now;
        self.contact.clear();
        self.set_role(Role::Leader, out);
        let next = self.last_seqno() + 1;
        for p in self.peers().collect::<Vec<_>>() {
            self.next.insert(p, next);
            self.matched.insert(p, 0);
        }
        // A signature opens the view, so that earlier entries become committable; the
        // driver makes it (it is a real ledger transaction) and proposes it.
        out.push(Action::EmitSignature);
        self.broadcast_append(out);
    }

    fn append_local(&mut self, kind: EntryKind, data: Bytes, out: &mut Vec<Action>) -> Seqno {
        let e = Entry {
            view: self.view,
            seqno: self.last_seqno() + 1,
            kind,
            data,
        };
        let seqno = e.seqno;
        self.log.push(e.clone());

        out.push(Action::Append(vec![e]));
        if self.cfg.members.len() == 1 {
            self.advance_commit(out);
        }
        seqno
    }

    /// Leader only: append a client transaction. Returns its seqno, or `None` when this node
    /// is not the leader.
    pub fn propose(&mut self, data: Bytes) -> (Option<(View, Seqno)>, Vec<Action>) {
        let mut out = Vec::new();
        if self.role != Role::Leader {
            return (None, out);
        }
        let s = self.append_local(EntryKind::Normal, data, &mut out);
        (Some((self.view, s)), out)
    }

    /// Leader only: append a signature entry (the driver decides when: every N
    /// transactions or T ms) and replicate.
    pub fn propose_signature(&mut self, data: Bytes) -> (Option<(View, Seqno)>, Vec<Action>) {
        let mut out = Vec::new();
        if self.role != Role::Leader {
            return (None, out);
        }
        let s = self.append_local(EntryKind::Signature, data, &mut out);
        self.broadcast_append(&mut out);
        (Some((self.view, s)), out)
    }

    fn broadcast_append(&mut self, out: &mut Vec<Action>) {
        self.last_heartbeat = self.now;
        for p in self.peers().collect::<Vec<_>>() {
            self.send_append(p, out);
        }
    }

    fn send_append(&mut self, to: NodeId, out: &mut Vec<Action>) {
        // A peer behind our base would need a snapshot transfer; we can only send from it.
        let next = (*self.next.get(&to).unwrap_or(&1)).max(self.base() + 1);
        let prev = next - 1;
        // Pipelining: batches go out without waiting for acknowledgements, up to a window
        // of unacknowledged entries; beyond it, only heartbeats (no entries).
        let matched = *self.matched.get(&to).unwrap_or(&0);
        let window = (self.cfg.max_batch * self.cfg.pipeline) as u64;
        let end = if prev.saturating_sub(matched) >= window {
            prev
        } else {
            self.last_seqno().min(prev + self.cfg.max_batch as u64)
        };
        // Entries no longer held are committed: the driver reads them back, up to the
        // first held one (the rest follow in the next batch).
        let held_from = self.log.held_from();
        let end = if next < held_from {
            end.min(held_from - 1)
        } else {
            end
        };
        let msg = |entries| Message::AppendEntries {
            view: self.view,
            prev_seqno: prev,
            prev_view: self.view_at(prev),
            entries,
            leader_commit: self.commit,
        };
        let action = match self.log.held_range(next, end) {
            Some(entries) => Action::Send {
                to,
                msg: msg(entries),
            },
            None if end < next => Action::Send {
                to,
                msg: msg(Vec::new()),
            },
            None => Action::SendStored {
                to,
                msg: msg(Vec::new()),
                first: next,
                last: end,
            },
        };
        if end > prev {
            self.next.insert(to, end + 1);
        }
        out.push(action);
    }

    /// Stop holding the bytes of committed entries no follower is likely to need: keep
    /// those after the slowest follower's match point, at most `retain_committed` of them.
    fn forget_settled(&mut self) {
        let floor = self.commit + 1;
        let mut need = floor;
        if self.role == Role::Leader {
            for p in self.peers() {
                need = need.min(self.matched.get(&p).map_or(1, |m| m + 1));
            }
        }
        let keep_from = need.max(floor.saturating_sub(self.cfg.retain_committed as Seqno));
        self.log.forget_before(keep_from);
    }

    /// A message from `from`.
    pub fn receive(&mut self, from: NodeId, msg: Message) -> Vec<Action> {
        let mut out = Vec::new();
        if from == self.cfg.id {
            return out;
        }
        // Non-members take no part in elections; a removed primary still replicates until
        // its removal commits, so replication from (and to) it is accepted.
        if !self.cfg.members.contains(&from)
            && matches!(
                msg,
                Message::RequestVote { .. } | Message::RequestVoteResponse { .. }
            )
        {
            return out;
        }
        if msg.view() > self.view {
            let leader = matches!(msg, Message::AppendEntries { .. }).then_some(from);
            self.become_follower(msg.view(), leader, &mut out);
        }
        match msg {
            Message::RequestVote {
                view,
                last_committable_view,
                last_committable_seqno,
            } => self.on_request_vote(
                from,
                view,
                (last_committable_view, last_committable_seqno),
                &mut out,
            ),
            Message::RequestVoteResponse { view, granted } => {
                self.on_vote(from, view, granted, &mut out)
            }
            Message::AppendEntries {
                view,
                prev_seqno,
                prev_view,
                entries,
                leader_commit,
            } => self.on_append(
                from,
                view,
                prev_seqno,
                prev_view,
                entries,
                leader_commit,
                &mut out,
            ),
            Message::AppendEntriesResponse {
                view,
                success,
                last_seqno,
            } => self.on_append_response(from, view, success, last_seqno, &mut out),
        }
        out
    }

    fn on_request_vote(
        &mut self,
        from: NodeId,
        view: View,
        candidate_lc: (View, Seqno),
        out: &mut Vec<Action>,
    ) {
        let up_to_date = candidate_lc >= self.last_committable();
        let granted = view == self.view
            && self.role != Role::Leader
            && self.voted_for.is_none_or(|v| v == from)
            && up_to_date;
        if granted {
            self.voted_for = Some(from);
            out.push(Action::PersistVote {
                view: self.view,
                voted_for: self.voted_for,
            });
            self.reset_election_timer();
        }
        out.push(Action::Send {
            to: from,
            msg: Message::RequestVoteResponse {
                view: self.view,
                granted,
            },
        });
    }

    fn on_vote(&mut self, from: NodeId, view: View, granted: bool, out: &mut Vec<Action>) {
        if self.role != Role::Candidate || view != self.view || !granted {
            return;
        }
        self.votes.insert(from);
        if self.won() {
            self.become_leader(out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append(
        &mut self,
        from: NodeId,
        view: View,
        prev_seqno: Seqno,
        prev_view: View,
        entries: Vec<Entry>,
        leader_commit: Seqno,
        out: &mut Vec<Action>,
    ) {
        let reply = |success, last_seqno, view| Action::Send {
            to: from,
            msg: Message::AppendEntriesResponse {
                view,
                success,
                last_seqno,
            },
        };
        if view < self.view {
            out.push(reply(false, self.last_seqno(), self.view));
            return;
        }
        // Same view: from the leader of this view.
        if self.role != Role::Follower || self.leader != Some(from) {
            self.become_follower(view, Some(from), out);
        } else {
            self.reset_election_timer();
        }
        if prev_seqno > self.last_seqno() {
            out.push(reply(false, self.last_seqno(), self.view));
            return;
        }
        if self.view_at_opt(prev_seqno).is_some_and(|v| v != prev_view) {
            // Conflict at prev: the leader will back up; hint before our commit point is
            // never needed because committed entries always match.
            out.push(reply(
                false,
                prev_seqno.saturating_sub(1).max(self.commit),
                self.view,
            ));
            return;
        }
        let matched_end = prev_seqno + entries.len() as u64;
        let mut appended = Vec::new();
        for e in entries {
            let s = e.seqno;
            if s <= self.base() {
                continue; // in our snapshot: committed, so the same
            }
            if s <= self.last_seqno() {
                if self.view_at(s) == e.view {
                    continue;
                }
                self.truncate(s - 1, out);
            }
            self.log.push(e.clone());
            appended.push(e);
        }
        if !appended.is_empty() {
            out.push(Action::Append(appended));
        }
        // Commit: the last signature at or below both the leader's commit and what we know
        // matches the leader's log.
        let bound = leader_commit.min(matched_end);
        if bound > self.commit {
            if let Some(sig) = self.log.last_signature_in(self.commit, bound, None) {
                self.commit = sig;
                out.push(Action::Commit { seqno: sig });
                self.forget_settled();
            }
        }
        out.push(reply(true, matched_end, self.view));
    }

    fn on_append_response(
        &mut self,
        from: NodeId,
        view: View,
        success: bool,
        last_seqno: Seqno,
        out: &mut Vec<Action>,
    ) {
        if self.role != Role::Leader || view != self.view {
            return;
        }
        self.contact.insert(from, self.now);
        if success {
            let m = self.matched.entry(from).or_insert(0);
            if last_seqno > *m {
                *m = last_seqno;
            }
            let m = *m;
            let n = self.next.entry(from).or_insert(m + 1);
            *n = (*n).max(m + 1);
            self.advance_commit(out);
            self.forget_settled();
            // Keep the pipeline full.
            let mut sent = 0;
            while sent < self.cfg.pipeline
                && *self.next.get(&from).unwrap_or(&1) <= self.last_seqno()
            {
                let before = *self.next.get(&from).unwrap_or(&1);
                self.send_append(from, out);
                if *self.next.get(&from).unwrap_or(&1) == before {
                    break; // window full
                }
                sent += 1;
            }
        } else {
            let n = self.next.entry(from).or_insert(1);
            *n = (last_seqno + 1).min(n.saturating_sub(1)).max(1);
            self.send_append(from, out);
        }
    }

    fn advance_commit(&mut self, out: &mut Vec<Action>) {
        let mut m: Vec<Seqno> = self
            .peers()
            .map(|p| *self.matched.get(&p).unwrap_or(&0))
            .collect();
        if self.is_member() {
            m.push(self.last_seqno());
        }
        m.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&replicated) = m.get(self.majority() - 1) else {
            return;
        };
        if replicated <= self.commit {
            return;
        }
        // Only a signature of the current view commits (and with it, everything before).
        if let Some(sig) = self
            .log
            .last_signature_in(self.commit, replicated, Some(self.view))
        {
            self.commit = sig;
            out.push(Action::Commit { seqno: sig });
            self.forget_settled();
            if self.removed_at.is_some_and(|r| sig >= r) && self.role == Role::Leader {
                // Retired, and the service knows it: hand over.
                self.become_follower(self.view, None, out);
            }
        }
    }
}

#[cfg(test)]
#[path = "engine_test.rs"]
mod engine_test;
