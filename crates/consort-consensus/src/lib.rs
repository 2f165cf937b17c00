//! Consensus for Consort: CCF's variant of Raft as a **sans-IO** engine.
//!
//! [`Raft`] owns no sockets, clocks or threads: the driver feeds it events — time
//! ([`Raft::tick`]), messages ([`Raft::receive`]), client proposals ([`Raft::propose`]) and
//! signatures ([`Raft::propose_signature`]) — and carries out the [`Action`]s it returns
//! (send a message, append or truncate the log, report a commit). The same engine runs in
//! a node and in the deterministic simulator ([`sim`]).
//!
//! CCF's rules on top of Raft:
//! - a transaction is committed only when a **signature** entry at or after it is
//!   replicated on a majority in the leader's current view; the commit index always lands
//!   on a signature;
//! - a node that starts an election first rolls back its unsigned tail (everything after
//!   its last signature), and votes compare the *last committable* (signature) entry;
//! - a new leader appends a signature at the start of its view.
//!
//! The engine holds the bytes of only the entries still in flight (the uncommitted suffix
//! and, up to [`Config::retain_committed`], what lagging followers need); it asks the
//! driver to read older ones back from its durable log ([`Action::SendStored`]).

mod engine;
mod log;
mod message;
#[cfg(any(test, feature = "test-utils"))]
pub mod sim;

pub use engine::{Action, Config, Raft, Role};
pub use log::Restored;
pub use message::{Entry, EntryKind, Message, NodeId, Seqno, View};
