//! Messages a replica sends, some of which first need committed entries read back from the
//! ledger (the consensus engine does not hold them: see `Config::retain_committed`).

use consort_consensus::{Entry, EntryKind, Message, NodeId, Seqno};
use consort_ledger::{journal::StoredEntry, Journal, LedgerError};

/// A ledger entry as the consensus engine knows it.
pub(super) fn entry_of(e: StoredEntry) -> Entry {
    Entry {
        view: e.view,
        seqno: e.seqno,
        kind: if e.signature {
            EntryKind::Signature
        } else {
            EntryKind::Normal
        },
        data: e.bytes,
    }
}

/// A message for a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Ready {
        to: NodeId,
        msg: Message,
    },
    /// An `AppendEntries` to fill with the committed entries `first..=last` from the ledger
    /// before it leaves ([`Outgoing::resolve`]); sent in order with the peer's other
    /// messages, and read without the replica's lock.
    Stored {
        to: NodeId,
        msg: Message,
        first: Seqno,
        last: Seqno,
    },
}

impl Outgoing {
    pub fn to(&self) -> NodeId {
        match self {
            Outgoing::Ready { to, .. } | Outgoing::Stored { to, .. } => *to,
        }
    }

    /// The message as it leaves, reading stored entries from `journal` (the journal's lock
    /// only to locate each batch). Fails on a read error, or a ledger that no longer holds
    /// the entries (the message is then dropped, as on a lossy network: the primary sends
    /// again).
    pub fn resolve(self, journal: &Journal) -> Result<(NodeId, Message), LedgerError> {
        let (to, mut msg, first, last) = match self {
            Outgoing::Ready { to, msg } => return Ok((to, msg)),
            Outgoing::Stored {
                to,
                msg,
                first,
                last,
            } => (to, msg, first, last),
        };
        let stored = journal.read_stored(first, last)?;
        if let Message::AppendEntries { entries, .. } = &mut msg {
            *entries = stored.into_iter().map(entry_of).collect();
        }
        Ok((to, msg))
    }
}
