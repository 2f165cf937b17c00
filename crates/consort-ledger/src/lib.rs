//! Consort's ledger, in CCF's on-disk format.
//!
//! - [`chunk`] / [`files`]: chunk files `ledger_<first>[-<last>][.committed]` with CCF's
//!   positions table; append, fsync, completion at a signature past a size threshold,
//!   commit renames, truncation, crash recovery (a torn last entry is cut off).
//! - [`merkle`]: the Merkle tree over transaction leaves, O(log n) append and truncation.
//! - [`journal`]: KV transactions → encrypted entries → files + tree; periodic signature
//!   transactions; restart with full re-verification; receipts; disaster recovery (reopen
//!   an old ledger with no secret as a new service, then recover its private state).
//! - [`receipt`]: CCF-shaped receipts and their verification.
//! - [`storage`]: the filesystem operations behind a trait: [`storage::DiskStorage`], and
//!   an in-memory disk with crash and fault injection for simulations (`test-utils`).
//! - [`check`]: typed reasons an entry's signature, service or evidence record is refused.
//! - [`verify`]: offline verification of a ledger directory, with no secret.
//! - [`tables`] / [`identity`]: CCF's well-known tables, service and node identities.

pub mod check;
pub mod chunk;
mod error;
pub mod files;
pub mod identity;
pub mod journal;
pub mod merkle;
pub mod receipt;
pub mod storage;
pub mod tables;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
pub mod verify;

pub use check::VerifyError;
pub use error::LedgerError;
pub use journal::{Journal, JournalConfig, OpenReport, RecoveryOpen};
pub use receipt::Receipt;
pub use verify::{verify_dir, VerifyReport};
