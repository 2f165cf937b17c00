//! A linearizability checker for key-value histories (Wing & Gong's search with Lowe's
//! memoisation, as in Porcupine), used on histories recorded from real clients.
//!
//! Each key is a register: linearizability is compositional, so keys are checked
//! separately. An operation has an invocation and, if the client saw one, a response time;
//! an operation without a response (the node died, the connection dropped) may have taken
//! effect at any point after its invocation, or never.

use std::collections::{BTreeMap, HashSet};

/// What a client did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Write(String),
    /// A read and what it returned (`None`: not found).
    Read(Option<String>),
}

/// One operation in a history.
#[derive(Debug, Clone)]
pub struct Event {
    pub key: u64,
    pub op: Op,
    pub invoked: u64,
    /// `None`: outcome unknown.
    pub returned: Option<u64>,
}

/// Why a history is not linearizable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotLinearizable {
    pub key: u64,
    pub ops: usize,
}

/// Check a whole history, key by key.
pub fn check(history: &[Event]) -> Result<(), NotLinearizable> {
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

fn check_register(evs: &[&Event]) -> bool {
    // Unknown-outcome reads constrain nothing.
    let evs: Vec<&Event> = evs
        .iter()
        .copied()
        .filter(|e| !(matches!(e.op, Op::Read(_)) && e.returned.is_none()))
        .collect();
    let n = evs.len();
    assert!(
        n <= 128,
        "register history too long for the bitset ({n} ops)"
    );
    let ret = |e: &Event| e.returned.unwrap_or(u64::MAX);
    let mut memo: HashSet<(u128, Option<String>)> = HashSet::new();
    // Depth-first search over (linearized set, register value).
    fn dfs(
        evs: &[&Event],
        done: u128,
        state: Option<String>,
        memo: &mut HashSet<(u128, Option<String>)>,
        ret: &dyn Fn(&Event) -> u64,
    ) -> bool {
        let n = evs.len();
        // Finished when every op with a known outcome is linearized (unknown writes may be
        // dropped).
        if (0..n).all(|i| done & (1 << i) != 0 || evs[i].returned.is_none()) {
            return true;
        }
        if !memo.insert((done, state.clone())) {
            return false;
        }
        // The earliest response among pending ops bounds which ops may go next.
        let bound = (0..n)
            .filter(|i| done & (1 << i) == 0)
            .map(|i| ret(evs[i]))
            .min()
            .unwrap_or(u64::MAX);
        for i in 0..n {
            if done & (1 << i) != 0 || evs[i].invoked > bound {
                continue;
            }
            let next = match &evs[i].op {
                Op::Write(v) => Some(Some(v.clone())),
                Op::Read(seen) => (*seen == state).then(|| state.clone()),
            };
            if let Some(s) = next {
                if dfs(evs, done | (1 << i), s, memo, ret) {
                    return true;
                }
            }
        }
        false
    }
    dfs(&evs, 0, None, &mut memo, &ret)
}
