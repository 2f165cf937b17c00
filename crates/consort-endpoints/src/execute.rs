//! Running a handler: a fresh transaction, the handler, then (read-write endpoints with a
//! successful response) commit through the [`Host`], re-executing on conflict.

use std::time::Instant;

use consort_kv::{CommitOutcome, TxId};

pub use crate::context::{Host, SubmitError};
use crate::{
    api::{ApiError, Request, Response},
    context::Ctx,
    registry::{Endpoint, Mode, TXID_HEADER},
};

/// How many times a conflicting read-write transaction is re-executed.
pub const MAX_RETRIES: usize = 32;

/// `resp` with the transaction id header, unless the handler set one (a write it
/// committed itself, e.g. through an application's ordered lane).
fn with_txid(mut resp: Response, txid: TxId) -> Response {
    if resp.headers.iter().any(|(k, _)| k == TXID_HEADER) {
        return resp;
    }
    resp.headers
        .push((http::HeaderName::from_static(TXID_HEADER), txid.to_string()));
    resp
}

/// Run `endpoint` for `req` (already authenticated): execute, commit, retry on conflict.
pub fn execute(host: &dyn Host, endpoint: &Endpoint, req: &Request) -> Result<Response, ApiError> {
    for _ in 0..MAX_RETRIES {
        let mut tx = host.begin();
        let read_version = tx.read_version();
        let resp = (endpoint.handler)(&mut Ctx::new(host, req, &mut tx))?;
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
            Err(e) => return Err(e.into_api_error()),
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
