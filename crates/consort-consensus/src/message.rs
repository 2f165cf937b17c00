//! Log entries and the messages nodes exchange.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A position in the log (1-based; the transaction's seqno).
pub type Seqno = u64;
/// A Raft term (CCF's view).
pub type View = u64;
/// A node's identity.
pub type NodeId = u64;

/// What an entry is, as far as consensus cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// An ordinary transaction.
    Normal,
    /// A signature transaction: the only kind the commit index may land on.
    Signature,
}

/// One log entry. `data` is opaque to consensus (a serialized ledger entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub view: View,
    pub seqno: Seqno,
    pub kind: EntryKind,
    pub data: Bytes,
}

/// Node-to-node messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    RequestVote {
        view: View,
        /// View and seqno of the candidate's last signature.
        last_committable_view: View,
        last_committable_seqno: Seqno,
    },
    RequestVoteResponse {
        view: View,
        granted: bool,
    },
    AppendEntries {
        view: View,
        prev_seqno: Seqno,
        prev_view: View,
        entries: Vec<Entry>,
        leader_commit: Seqno,
    },
    AppendEntriesResponse {
        view: View,
        success: bool,
        /// On success, the last seqno now known to match; on failure, a hint: the
        /// follower's last seqno (or the point before the conflict).
        last_seqno: Seqno,
    },
}

impl Message {
    pub fn view(&self) -> View {
        match self {
            Message::RequestVote { view, .. }
            | Message::RequestVoteResponse { view, .. }
            | Message::AppendEntries { view, .. }
            | Message::AppendEntriesResponse { view, .. } => *view,
        }
    }
}
