//! A deterministic simulator (in the spirit of TigerBeetle's VOPR): a cluster of [`Raft`]
//! engines on a simulated network that loses, duplicates, delays and reorders messages,
//! partitions nodes, and crashes and restarts them — all driven by one seed, so a failing
//! seed replays exactly. After every step it checks the safety properties by name.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::{Action, Config, Entry, EntryKind, Message, NodeId, Raft, Restored, Role, Seqno, View};

/// Deterministic PRNG (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `p` per mille.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// Fault rates and sizes for a run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub nodes: usize,
    pub steps: usize,
    pub drop_per_mille: u64,
    pub dup_per_mille: u64,
    pub max_delay_ms: u64,
    pub crash_per_mille: u64,
    pub restart_per_mille: u64,
    pub partition_per_mille: u64,
    pub heal_per_mille: u64,
    pub propose_per_mille: u64,
    pub signature_per_mille: u64,
    /// The engine's batching and how many committed entries it holds: small values make
    /// leaders read entries back from the durable log for lagging followers.
    pub max_batch: usize,
    pub pipeline: usize,
    pub retain_committed: usize,
}

impl SimConfig {
    /// Rates drawn from the seed, so different seeds stress different mixes.
    pub fn from_seed(rng: &mut Rng) -> Self {
        Self {
            nodes: 3 + rng.below(5) as usize,
            steps: 1500,
            drop_per_mille: rng.below(150),
            dup_per_mille: rng.below(100),
            max_delay_ms: 1 + rng.below(60),
            crash_per_mille: rng.below(8),
            restart_per_mille: 20 + rng.below(60),
            partition_per_mille: rng.below(6),
            heal_per_mille: 10 + rng.below(40),
            propose_per_mille: 100 + rng.below(500),
            signature_per_mille: 30 + rng.below(200),
            // At least 64 entries in flight, or followers could never catch up with the
            // clients at the longest delays.
            max_batch: 16 + rng.below(48) as usize,
            pipeline: 4 + rng.below(5) as usize,
            retain_committed: match rng.below(4) {
                0 => 0,
                1 => 1 + rng.below(4) as usize,
                2 => 8 + rng.below(64) as usize,
                _ => 4096,
            },
        }
    }
}

/// What survives a crash: the persisted log, view, vote and commit point.
#[derive(Debug, Clone, Default)]
struct Disk {
    view: View,
    voted_for: Option<NodeId>,
    log: Vec<Entry>,
    commit: Seqno,
}

impl Disk {
    /// What a restarting driver hands the engine: the bytes of only the entries after the
    /// commit point, every entry's view as runs.
    fn restored(&self) -> Restored {
        let mut views: Vec<(Seqno, View)> = Vec::new();
        for e in &self.log {
            if views.last().is_none_or(|(_, v)| *v != e.view) {
                views.push((e.seqno, e.view));
            }
        }
        Restored {
            base: (0, 0),
            views,
            last: self.log.len() as Seqno,
            commit: self.commit,
            held: self.log[self.commit as usize..].to_vec(),
        }
    }
}

#[derive(Debug)]
struct SimNode {
    raft: Option<Raft>,
    disk: Disk,
}

#[derive(Debug)]
struct InFlight {
    at: u64,
    from: NodeId,
    to: NodeId,
    msg: Message,
}

/// A safety violation, named after the property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub property: &'static str,
    pub detail: String,
    pub step: usize,
}

/// A simulated cluster.
#[derive(Debug)]
pub struct Sim {
    pub seed: u64,
    pub cfg: SimConfig,
    rng: Rng,
    now: u64,
    step: usize,
    nodes: Vec<SimNode>,
    net: Vec<InFlight>,
    /// Nodes cut off from everyone else (a partition isolates this set).
    isolated: BTreeSet<NodeId>,
    leaders: BTreeMap<View, NodeId>,
    /// Every entry ever reported committed, by seqno: (view, data).
    committed: BTreeMap<Seqno, (View, EntryKind, Bytes)>,
    /// The earliest view (of the reporting node) in which each seqno was known committed.
    committed_in_view: BTreeMap<Seqno, View>,
    proposals: u64,
    /// Entries leaders read back from their durable logs for lagging followers.
    stored_reads: u64,
    final_check: bool,
}

fn members(n: usize) -> Vec<NodeId> {
    (1..=n as u64).collect()
}

fn engine_config(id: NodeId, cfg: &SimConfig) -> Config {
    let mut c = Config::new(id, members(cfg.nodes));
    c.max_batch = cfg.max_batch;
    c.pipeline = cfg.pipeline;
    c.retain_committed = cfg.retain_committed;
    c
}

impl Sim {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let cfg = SimConfig::from_seed(&mut rng);
        Self::with_config(seed, cfg)
    }

    pub fn with_config(seed: u64, cfg: SimConfig) -> Self {
        let mut rng = Rng::new(seed ^ 0xC0FFEE);
        let ids = members(cfg.nodes);
        // Node 1 holds the genesis (a signature, as a new service's first node does); the
        // others start empty and wait to be caught up.
        let genesis = vec![Entry {
            view: 0,
            seqno: 1,
            kind: EntryKind::Signature,
            data: Bytes::from_static(b"genesis"),
        }];
        let nodes = ids
            .iter()
            .map(|&id| {
                let log = if id == 1 { genesis.clone() } else { Vec::new() };
                SimNode {
                    raft: Some(Raft::new(
                        engine_config(id, &cfg),
                        0,
                        None,
                        log.clone(),
                        rng.next_u64(),
                        0,
                    )),
                    disk: Disk {
                        log,
                        ..Disk::default()
                    },
                }
            })
            .collect();
        Self {
            seed,
            cfg,
            rng,
            now: 0,
            step: 0,
            nodes,
            net: Vec::new(),
            isolated: BTreeSet::new(),
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            committed_in_view: BTreeMap::new(),
            proposals: 0,
            stored_reads: 0,
            final_check: false,
        }
    }

    fn connected(&self, a: NodeId, b: NodeId) -> bool {
        self.isolated.contains(&a) == self.isolated.contains(&b)
    }

    fn apply(&mut self, id: NodeId, actions: Vec<Action>) -> Result<(), Violation> {
        let mut pending = Vec::new();
        for a in actions {
            let a = match a {
                Action::SendStored {
                    to,
                    msg,
                    first,
                    last,
                } => {
                    self.stored_reads += last + 1 - first;
                    self.read_stored(id, to, msg, first, last)?
                }
                a => a,
            };
            match a {
                Action::SendStored { .. } => unreachable!("resolved above"),
                Action::Send { to, msg } => {
                    if self.rng.chance(self.cfg.drop_per_mille) {
                        continue;
                    }
                    let copies = if self.rng.chance(self.cfg.dup_per_mille) {
                        2
                    } else {
                        1
                    };
                    for _ in 0..copies {
                        let at = self.now + 1 + self.rng.below(self.cfg.max_delay_ms);
                        self.net.push(InFlight {
                            at,
                            from: id,
                            to,
                            msg: msg.clone(),
                        });
                    }
                }
                Action::Append(entries) => {
                    for e in entries {
                        let len = self.nodes[id as usize - 1].disk.log.len() as u64;
                        if e.seqno != len + 1 {
                            return Err(self.violation(
                                "DurableLogContiguity",
                                format!("node {id} appended {} after {len}", e.seqno),
                            ));
                        }
                        self.nodes[id as usize - 1].disk.log.push(e);
                    }
                }
                Action::Truncate { after } => {
                    self.nodes[id as usize - 1]
                        .disk
                        .log
                        .truncate(after as usize);
                }
                Action::PersistVote { view, voted_for } => {
                    let d = &mut self.nodes[id as usize - 1].disk;
                    d.view = view;
                    d.voted_for = voted_for;
                }
                Action::Commit { seqno } => {
                    self.record_commit(id, seqno)?;
                    self.nodes[id as usize - 1].disk.commit = seqno;
                }
                Action::RoleChanged { .. } => {}
                Action::EmitSignature => {
                    let r = self.nodes[id as usize - 1].raft.as_mut().expect("live");
                    let (_, acts) = r.propose_signature(Bytes::from_static(b"opening signature"));
                    // Applied after the current batch, as a driver would.
                    pending.extend(acts);
                }
            }
        }
        if !pending.is_empty() {
            self.apply(id, pending)?;
        }
        Ok(())
    }

    /// A driver filling an [`Action::SendStored`] from its durable log: the entries must be
    /// there, and committed as far as the sender knows (so they cannot change).
    fn read_stored(
        &self,
        id: NodeId,
        to: NodeId,
        msg: Message,
        first: Seqno,
        last: Seqno,
    ) -> Result<Action, Violation> {
        let n = &self.nodes[id as usize - 1];
        let commit = n.raft.as_ref().map_or(0, Raft::commit_seqno);
        let Message::AppendEntries {
            view,
            prev_seqno,
            prev_view,
            leader_commit,
            entries,
        } = msg
        else {
            return Err(self.violation("StoredSendIsAppend", format!("{msg:?}")));
        };
        if !entries.is_empty() || first != prev_seqno + 1 || last < first || last > commit {
            return Err(self.violation(
                "StoredEntriesCommitted",
                format!(
                    "node {id} asked to read {first}..={last} (commit {commit}, prev {prev_seqno})"
                ),
            ));
        }
        let Some(stored) = n.disk.log.get(first as usize - 1..last as usize) else {
            return Err(self.violation(
                "StoredEntriesDurable",
                format!("node {id} asked to read {first}..={last} beyond its log"),
            ));
        };
        Ok(Action::Send {
            to,
            msg: Message::AppendEntries {
                view,
                prev_seqno,
                prev_view,
                entries: stored.to_vec(),
                leader_commit,
            },
        })
    }

    fn violation(&self, property: &'static str, detail: String) -> Violation {
        Violation {
            property,
            detail: format!("seed {}: {detail}", self.seed),
            step: self.step,
        }
    }

    /// StateMachineSafety: no two nodes commit different entries at a seqno; commits land
    /// on signatures.
    fn record_commit(&mut self, id: NodeId, seqno: Seqno) -> Result<(), Violation> {
        let n = &self.nodes[id as usize - 1];
        let view = n.raft.as_ref().expect("live").view();
        // The durable log mirrors the engine's (checked below), and holds every entry's bytes.
        let full = &n.disk.log;
        // Entries up to the highest seqno already known committed were checked before.
        let from = self
            .committed
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .min(seqno) as usize;
        let from = from.saturating_sub(1);
        let log = full[from.min(full.len())..].to_vec();
        let Some(e) = log.get(seqno as usize - 1 - from) else {
            return Err(self.violation(
                "CommitWithinLog",
                format!("node {id} committed {seqno} beyond its log"),
            ));
        };
        if e.kind != EntryKind::Signature {
            return Err(self.violation(
                "CommitOnSignature",
                format!("node {id} committed {seqno}, not a signature"),
            ));
        }
        for e in &log[..seqno as usize - from] {
            let v = (e.view, e.kind, e.data.clone());
            let cv = self.committed_in_view.entry(e.seqno).or_insert(view);
            *cv = (*cv).min(view);
            match self.committed.get(&e.seqno) {
                None => {
                    self.committed.insert(e.seqno, v);
                }
                Some(prev) if *prev == v => {}
                Some(prev) => {
                    return Err(self.violation(
                        "StateMachineSafety",
                        format!(
                            "node {id} committed {:?} at {} but {:?} was committed before",
                            v.0, e.seqno, prev.0
                        ),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Check every invariant on the current state.
    pub fn check(&mut self) -> Result<(), Violation> {
        // ElectionSafety: at most one leader per view.
        for n in &self.nodes {
            if let Some(r) = &n.raft {
                if r.role() == Role::Leader {
                    match self.leaders.get(&r.view()) {
                        Some(&l) if l != r.id() => {
                            return Err(self.violation(
                                "ElectionSafety",
                                format!("nodes {l} and {} both lead view {}", r.id(), r.view()),
                            ))
                        }
                        _ => {
                            self.leaders.insert(r.view(), r.id());
                        }
                    }
                }
            }
        }
        // The checks below are O(nodes² × log): run them every few steps (and always at the
        // end of a run), which still pins a violation to a short window of one seed.
        if self.step % 8 != 0 && !self.final_check {
            return Ok(());
        }
        // LogMatching: same (seqno, view) implies identical prefixes — on durable logs.
        let logs: Vec<&[Entry]> = self.nodes.iter().map(|n| n.disk.log.as_slice()).collect();
        for i in 0..logs.len() {
            for j in i + 1..logs.len() {
                let (a, b) = (logs[i], logs[j]);
                let n = a.len().min(b.len());
                if let Some(k) = (0..n).rev().find(|&k| a[k].view == b[k].view) {
                    if a[..=k] != b[..=k] {
                        return Err(self.violation(
                            "LogMatching",
                            format!(
                                "nodes {} and {} agree on view at {} but differ before",
                                i + 1,
                                j + 1,
                                k + 1
                            ),
                        ));
                    }
                }
            }
        }
        // LeaderCompleteness / no committed entry lost: a leader of any view after the one an
        // entry was committed in holds that entry.
        for n in &self.nodes {
            if let Some(r) = &n.raft {
                if r.role() == Role::Leader {
                    for (s, (v, k, d)) in &self.committed {
                        if self.committed_in_view[s] >= r.view() {
                            continue;
                        }
                        let ok = r.view_of(*s) == Some(*v)
                            && n.disk
                                .log
                                .get(*s as usize - 1)
                                .is_some_and(|e| e.view == *v && e.kind == *k && e.data == *d);
                        if !ok {
                            return Err(self.violation(
                                "LeaderCompleteness",
                                format!(
                                    "leader {} of view {} lacks committed entry {s}",
                                    r.id(),
                                    r.view()
                                ),
                            ));
                        }
                    }
                }
            }
        }
        // Durability: a durable log mirrors the engine's log (the bytes it holds, and every
        // entry's view).
        for n in &self.nodes {
            if let Some(r) = &n.raft {
                let held_from = r.held_from() as usize;
                let same = r.last_seqno() == n.disk.log.len() as Seqno
                    && r.held().eq(n.disk.log[held_from - 1..].iter())
                    && n.disk
                        .log
                        .iter()
                        .all(|e| r.view_of(e.seqno) == Some(e.view));
                if !same || r.view() != n.disk.view || r.voted_for() != n.disk.voted_for {
                    return Err(self.violation(
                        "DurableStateMatchesEngine",
                        format!("node {} diverged from its disk", r.id()),
                    ));
                }
                // Bounded: the engine holds the bytes of the uncommitted suffix and at most
                // `retain_committed` committed entries.
                let committed_held = (r.commit_seqno() + 1).saturating_sub(r.held_from());
                if committed_held > self.cfg.retain_committed as Seqno {
                    return Err(self.violation(
                        "HeldEntriesBounded",
                        format!(
                            "node {} holds {committed_held} committed entries (bound {})",
                            r.id(),
                            self.cfg.retain_committed
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn live(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter_map(|n| n.raft.as_ref().map(|r| r.id()))
            .collect()
    }

    fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter_map(|n| n.raft.as_ref())
            .filter(|r| r.role() == Role::Leader)
            .max_by_key(|r| r.view())
            .map(|r| r.id())
    }

    /// One step: time advances, due messages are delivered, faults and clients act.
    pub fn step(&mut self, faults: bool) -> Result<(), Violation> {
        self.step += 1;
        self.now += 1 + self.rng.below(5);
        // Deliver due messages (in a seed-determined order).
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.net.len() {
            if self.net[i].at <= self.now {
                due.push(self.net.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|m| (m.at, m.from, m.to));
        for m in due {
            if !self.connected(m.from, m.to) {
                continue;
            }
            if let Some(r) = self.nodes[m.to as usize - 1].raft.as_mut() {
                let acts = r.receive(m.from, m.msg);
                self.apply(m.to, acts)?;
            }
        }
        for id in self.live() {
            let now = self.now;
            let acts = self.nodes[id as usize - 1]
                .raft
                .as_mut()
                .expect("live")
                .tick(now);
            self.apply(id, acts)?;
        }
        // Clients.
        if let Some(l) = self.leader() {
            if self.rng.chance(self.cfg.propose_per_mille) {
                self.proposals += 1;
                let data = Bytes::from(format!("tx-{}-{}", self.seed, self.proposals));
                let (_, acts) = self.nodes[l as usize - 1]
                    .raft
                    .as_mut()
                    .expect("live")
                    .propose(data);
                self.apply(l, acts)?;
            }
            if self.rng.chance(self.cfg.signature_per_mille) {
                let (_, acts) = self.nodes[l as usize - 1]
                    .raft
                    .as_mut()
                    .expect("live")
                    .propose_signature(Bytes::from_static(b"sig"));
                self.apply(l, acts)?;
            }
        }
        if faults {
            self.faults();
        }
        self.check()
    }

    fn faults(&mut self) {
        let n = self.nodes.len() as u64;
        if self.rng.chance(self.cfg.crash_per_mille) {
            let id = 1 + self.rng.below(n);
            self.nodes[id as usize - 1].raft = None;
        }
        for id in 1..=n {
            if self.nodes[id as usize - 1].raft.is_none()
                && self.rng.chance(self.cfg.restart_per_mille)
            {
                self.restart(id);
            }
        }
        if self.rng.chance(self.cfg.partition_per_mille) {
            self.isolated = (1..=n).filter(|_| self.rng.chance(350)).collect();
        }
        if !self.isolated.is_empty() && self.rng.chance(self.cfg.heal_per_mille) {
            self.isolated.clear();
        }
    }

    fn restart(&mut self, id: NodeId) {
        let d = &self.nodes[id as usize - 1].disk;
        let (view, voted_for, restored) = (d.view, d.voted_for, d.restored());
        let seed = self.rng.next_u64();
        self.nodes[id as usize - 1].raft = Some(Raft::restore(
            engine_config(id, &self.cfg),
            view,
            voted_for,
            restored,
            seed,
            self.now,
        ));
    }

    /// Run the configured steps with faults, then heal everything and require progress:
    /// a leader commits a new signature and every node catches up to it.
    pub fn run(&mut self) -> Result<SimReport, Violation> {
        for _ in 0..self.cfg.steps {
            self.step(true)?;
        }
        self.final_check = true;
        self.check()?;
        self.final_check = false;
        self.isolated.clear();
        for id in 1..=self.nodes.len() as u64 {
            if self.nodes[id as usize - 1].raft.is_none() {
                self.restart(id);
            }
        }
        self.cfg.drop_per_mille = 0;
        self.cfg.dup_per_mille = 0;
        let target = self.committed.keys().next_back().copied().unwrap_or(0);
        for _ in 0..20_000 {
            self.step(false)?;
            let all_caught_up = self.nodes.iter().all(|n| {
                n.raft.as_ref().is_some_and(|r| {
                    r.commit_seqno() > target && r.commit_seqno() == self.max_commit()
                })
            });
            if all_caught_up {
                self.final_check = true;
                self.check()?;
                return Ok(SimReport {
                    committed: self.committed.len() as u64,
                    views: self.leaders.len() as u64,
                    stored_reads: self.stored_reads,
                });
            }
        }
        Err(self.violation(
            "Liveness",
            format!("no progress past {target} after healing"),
        ))
    }

    fn max_commit(&self) -> Seqno {
        self.nodes
            .iter()
            .filter_map(|n| n.raft.as_ref().map(|r| r.commit_seqno()))
            .max()
            .unwrap_or(0)
    }
}

/// Summary of a passing run.
#[derive(Debug, Clone, Copy)]
pub struct SimReport {
    pub committed: u64,
    pub views: u64,
    /// Entries read back from a durable log (the engine no longer held them).
    pub stored_reads: u64,
}
