//! Running a handler: a fresh transaction, the handler, then (read-write endpoints with a
//! successful response) commit through the [`Host`], re-executing on conflict.

use std::time::{Duration, Instant};

use consort_kv::{CommitOutcome, Tx, TxId};

use crate::{
    api::{ApiError, Request, Response},
    context::{Ctx, GovEffects, LedgerView, NodeView},
    registry::{Endpoint, Mode, TXID_HEADER},
};

/// How many times a conflicting read-write transaction is re-executed.
pub const MAX_RETRIES: usize = 32;

/// Why the host did not commit a transaction.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// A key or range the transaction read changed since: re-execute (retryable).
    #[error("transaction conflict")]
    Conflict,
    /// This node is not (or no longer) the primary (retryable elsewhere).
    #[error("this node is not the primary")]
    NotPrimary,
    /// The host refuses the transaction as it stands (e.g. a membership change too large):
    /// the caller gets this error.
    #[error("{0}")]
    Refused(ApiError),
    /// The node cannot go on (its state may no longer match its files); it is stopping.
    #[error("fatal: {0}")]
    Fatal(String),
}

impl SubmitError {
    /// Whether trying again (here or on the primary) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict | Self::NotPrimary)
    }
}

/// What the framework needs from the node to run handlers.
pub trait Host: Send + Sync {
    /// A transaction on the current state.
    fn begin(&self) -> Tx;
    /// Commit `tx` and replicate it.
    fn submit(&self, tx: Tx) -> Result<CommitOutcome, SubmitError>;
    fn ledger(&self) -> &dyn LedgerView;
    fn gov(&self) -> &dyn GovEffects;
    fn node(&self) -> &dyn NodeView;
    /// A transaction conflicted and is re-executed (metrics).
    fn on_conflict(&self) {}
    /// A transaction committed after `elapsed` in `submit` (metrics).
    fn on_committed(&self, elapsed: Duration) {
        let _ = elapsed;
    }
}

fn with_txid(mut resp: Response, txid: TxId) -> Response {
    resp.headers
        .push((http::HeaderName::from_static(TXID_HEADER), txid.to_string()));
    resp
}

/// Run `endpoint` for `req` (already authenticated): execute, commit, retry on conflict.
pub fn execute(host: &dyn Host, endpoint: &Endpoint, req: &Request) -> Result<Response, ApiError> {
    for _ in 0..MAX_RETRIES {
        let mut tx = host.begin();
        let read_version = tx.read_version();
        let resp = {
            let mut ctx = Ctx {
                tx: &mut tx,
                req,
                ledger: host.ledger(),
                gov: host.gov(),
                node: host.node(),
            };
            (endpoint.handler)(&mut ctx)?
        };
        let read_txid = |v| TxId::new(host.ledger().view_of(v).unwrap_or(0), v);
        if endpoint.mode == Mode::ReadOnly {
            if !tx.is_read_only() {
                return Err(ApiError::internal("read-only endpoint attempted a write"));
            }
            return Ok(with_txid(resp, read_txid(read_version)));
        }
        if !resp.status.is_success() {
            return Ok(resp); // only successful responses commit
        }
        let started = Instant::now();
        match host.submit(tx) {
            Ok(CommitOutcome::Committed(c)) => {
                host.on_committed(started.elapsed());
                return Ok(with_txid(resp, c.txid));
            }
            Ok(CommitOutcome::ReadOnly { read_version }) => {
                return Ok(with_txid(resp, read_txid(read_version)))
            }
            Err(SubmitError::Conflict) => host.on_conflict(),
            Err(SubmitError::NotPrimary) => {
                return Err(ApiError::unavailable(
                    "NotPrimary",
                    "This node stopped being the primary; retry.",
                ))
            }
            Err(SubmitError::Refused(e)) => return Err(e),
            Err(SubmitError::Fatal(e)) => {
                tracing::error!("commit failed: {e}");
                return Err(ApiError::internal(
                    "The transaction could not be committed.",
                ));
            }
        }
    }
    Err(ApiError::unavailable(
        "TransactionCommitAttemptsExceedLimit",
        format!("Transaction conflicted {MAX_RETRIES} times; try again."),
    ))
}

#[cfg(test)]
#[path = "execute_test.rs"]
mod execute_test;
