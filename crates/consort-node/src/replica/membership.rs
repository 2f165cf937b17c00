//! Membership: the `Trusted` nodes of `public:ccf.gov.nodes.info`, re-read only when that
//! table changed (parsing it on every proposal showed in profiles), as a handler over the
//! replica's borrowed state.

use consort_consensus::{NodeId, Seqno};
use consort_ledger::{
    tables::{self, NodeStatus},
    Journal,
};

use super::raft_id;

/// Trusted members recorded in the journal's state.
pub fn trusted_members(journal: &Journal) -> Vec<NodeId> {
    // The nodes table decides membership: a record that does not decode is our own state
    // gone wrong, never something to read around.
    let mut m: Vec<NodeId> =
        consort_service::nodes::with_status(&mut journal.store().snapshot(), NodeStatus::Trusted)
            .unwrap_or_else(|e| panic!("the nodes table does not decode: {e}"))
            .iter()
            .map(|id| raft_id(id))
            .collect();
    m.sort_unstable();
    m
}

/// The nodes table's stamp and the trusted set read at it.
pub(super) type Seen = Option<((u64, Seqno), Vec<NodeId>)>;

/// The membership handler: the journal, what was last read, and where the current
/// configuration was made.
pub(super) struct Membership<'a> {
    pub(super) journal: &'a Journal,
    pub(super) seen: &'a mut Seen,
    pub(super) config_seqno: &'a mut Seqno,
}

impl Membership<'_> {
    /// The trusted set if it is not empty and differs from `current` (and then the
    /// configuration is recorded as made at the journal's last entry).
    pub(super) fn changed(&mut self, current: &[NodeId]) -> Option<Vec<NodeId>> {
        let stamp = self.journal.store().map_stamp(tables::NODES_INFO);
        let m = match &*self.seen {
            Some((s, m)) if *s == stamp => m.clone(),
            _ => trusted_members(self.journal),
        };
        *self.seen = Some((stamp, m.clone()));
        if m.is_empty() || m == current {
            return None;
        }
        *self.config_seqno = self.journal.last_txid().seqno;
        Some(m)
    }
}

#[cfg(test)]
#[path = "membership_test.rs"]
mod membership_test;
