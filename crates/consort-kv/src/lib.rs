//! Consort's key-value store.
//!
//! - Named maps of byte keys to byte values, **ordered by key** (range scans, pagination).
//!   A map whose name starts with `public:` is public: its writes are readable in the ledger.
//!   All other maps are private: their writes are encrypted with the ledger secret.
//! - [`Store`]: MVCC over multi-version maps (each key keeps the versions open snapshots
//!   still read); every applied transaction gets the next version (seqno) and the current
//!   view, giving its [`TxId`] `view.seqno`. Readers work on an immutable snapshot while
//!   writers commit, and a commit copies nothing however many snapshots are open;
//!   [`Store::rollback`] returns to an earlier version (consensus discards unsigned tails
//!   this way).
//! - [`Tx`]: optimistic, serializable transactions. A commit whose reads (keys or ranges)
//!   were overwritten by a later committed version fails with [`KvError::Conflict`];
//!   read-only transactions never conflict.
//! - [`entry`]: the exact CCF ledger entry format for a transaction's write set, and its
//!   inverse.
//! - [`typed`]: typed handles over serde codecs (JSON for governance tables).

pub mod entry;
mod error;
mod mvcc;
pub mod secrets;
pub mod snapshot;
mod source;
mod store;
mod tx;
mod txid;
pub mod typed;
mod writeset;

pub use bytes::Bytes;
pub use error::{CommitError, KvError};
pub use secrets::{LedgerSecret, LedgerSecrets};
pub use source::Source;
pub use store::{CommitOutcome, Committed, Snapshot, Store};
pub use tx::Tx;
pub use txid::{TxId, Version, View};
pub use writeset::{MapWrites, WriteSet};

/// Prefix that makes a map public (readable in the ledger).
pub const PUBLIC_PREFIX: &str = "public:";

/// Whether `map` is public (written in clear to the ledger).
pub fn is_public(map: &str) -> bool {
    map.starts_with(PUBLIC_PREFIX)
}
