//! A linearizability checker for key-value histories (Wing & Gong's search with Lowe's
//! memoisation, as in Porcupine), used on histories recorded from real clients.
//!
//! Each key is a register: linearizability is compositional, so keys are checked
//! separately. An operation has an invocation and, if the client saw one, a response time;
//! an operation without a response (the node died, the connection dropped) may have taken
//! effect at any point after its invocation, or never.

use std::collections::{BTreeMap, HashMap, HashSet};

/// What a client did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Write(String),
    /// A read and what it returned (`None`: not found).
    Read(Option<String>),
}

/// One operation in a history.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) key: u64,
    pub(crate) op: Op,
    pub(crate) invoked: u64,
    /// `None`: outcome unknown.
    pub(crate) returned: Option<u64>,
}

/// Why a history is not linearizable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotLinearizable {
    pub(crate) key: u64,
    pub(crate) ops: usize,
}

/// Check a whole history, key by key.
pub(crate) fn check(history: &[Event]) -> Result<(), NotLinearizable> {
    let mut by_key: BTreeMap<u64, Vec<&Event>> = BTreeMap::new();
    for e in history {
        by_key.entry(e.key).or_default().push(e);
    }
    for (key, evs) in by_key {
        if !check_register(&evs) {
            return Err(NotLinearizable {
                key,
                ops: evs.len(),
            });
        }
    }
    Ok(())
}

/// A set of operation indices.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn has(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn with(&self, i: usize) -> Self {
        let mut b = self.clone();
        b.0[i / 64] |= 1 << (i % 64);
        b
    }
}

fn check_register(evs: &[&Event]) -> bool {
    // Unknown-outcome reads constrain nothing. Nor does an unknown-outcome write whose
    // value no read returned: any linearization with it has it overwritten before any
    // read, so it may as well never have happened (which its unknown outcome allows).
    // Dropping these keeps the search from trying every subset of them (a killed primary
    // leaves many), which once took minutes and gigabytes.
    let seen: HashSet<&String> = evs
        .iter()
        .filter_map(|e| match &e.op {
            Op::Read(Some(v)) => Some(v),
            _ => None,
        })
        .collect();
    let mut evs: Vec<Event> = evs
        .iter()
        .filter(|e| match &e.op {
            Op::Read(_) => e.returned.is_some(),
            Op::Write(v) => e.returned.is_some() || seen.contains(v),
        })
        .map(|e| (*e).clone())
        .collect();
    // An unknown-outcome write whose value a read returned did take effect, before that
    // read answered: it ends, at the latest, at the earliest such answer. Giving it that end
    // (when no other write wrote the same value) is exact, and keeps it from staying a
    // candidate at every later step, which made the search of a long history with a
    // killed primary run out of memory.
    let mut writers: HashMap<&String, usize> = HashMap::new();
    let mut first_seen: HashMap<String, u64> = HashMap::new();
    for e in &evs {
        match &e.op {
            Op::Write(v) => *writers.entry(v).or_default() += 1,
            Op::Read(Some(v)) => {
                if let Some(r) = e.returned {
                    let t = first_seen.entry(v.clone()).or_insert(r);
                    *t = (*t).min(r);
                }
            }
            Op::Read(None) => {}
        }
    }
    let unique: HashSet<String> = writers
        .into_iter()
        .filter(|(_, n)| *n == 1)
        .map(|(v, _)| v.clone())
        .collect();
    for e in &mut evs {
        if let (Op::Write(v), None) = (&e.op, e.returned) {
            if unique.contains(v) {
                e.returned = first_seen.get(v).copied();
            }
        }
    }
    // By invocation, so the candidates for "next" are a prefix of the pending ones.
    evs.sort_by_key(|e| e.invoked);
    // Long histories recurse deeply: search on a thread with room for it.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let mut memo = HashSet::new();
            dfs(&evs, 0, Bits::new(evs.len()), None, &mut memo)
        })
        .expect("spawn checker")
        .join()
        .expect("checker thread")
}

fn ret(e: &Event) -> u64 {
    e.returned.unwrap_or(u64::MAX)
}

/// Depth-first search over (linearized set, register value), Wing & Gong with memoisation.
fn dfs(
    evs: &[Event],
    first: usize,
    done: Bits,
    state: Option<String>,
    memo: &mut HashSet<(Bits, Option<String>)>,
) -> bool {
    let n = evs.len();
    // Everything before `first` is linearized.
    let mut first = first;
    while first < n && done.has(first) {
        first += 1;
    }
    // Finished when every op with a known outcome is linearized (unknown writes may be
    // dropped).
    if (first..n).all(|i| done.has(i) || evs[i].returned.is_none()) {
        return true;
    }
    if !memo.insert((done.clone(), state.clone())) {
        return false;
    }
    // The earliest response among pending ops bounds which ops may go next.
    let bound = (first..n)
        .filter(|&i| !done.has(i))
        .map(|i| ret(&evs[i]))
        .min()
        .unwrap_or(u64::MAX);
    for i in first..n {
        if evs[i].invoked > bound {
            break;
        }
        if done.has(i) {
            continue;
        }
        let next = match &evs[i].op {
            Op::Write(v) => Some(Some(v.clone())),
            Op::Read(seen) => (*seen == state).then(|| state.clone()),
        };
        if let Some(s) = next {
            if dfs(evs, first, done.with(i), s, memo) {
                return true;
            }
        }
    }
    false
}
