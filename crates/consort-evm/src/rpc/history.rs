//! State at past blocks: block `n`'s state is the store's version `n`, kept for the node's
//! history window (`history_window` transactions, [`consort_kv::Store::snapshot_at`]);
//! each key's value there is found by binary search in its version chain, with no replay.
//! A block older than the window, or before the snapshot this node started from, gets
//! [`not_kept`]'s error.

use alloy_primitives::B256;
use consort_endpoints::Ctx;
use consort_kv::{KvError, Tx};
use serde_json::Value;

use super::{blocks, invalid_params, RpcError};

/// The block a state query names: `None` for the latest (the current state, also for a
/// number at or past the commit point), `Some(n)` for an earlier committed block.
/// Accepts a number or tag, or EIP-1898's `{"blockNumber"}` / `{"blockHash"}`.
pub(crate) fn block_of(
    ctx: &Ctx<'_>,
    index: &blocks::BlockIndex,
    v: Option<&Value>,
    committed: u64,
    known: u64,
) -> Result<Option<u64>, RpcError> {
    let number = match v {
        Some(Value::Object(o)) => match (o.get("blockNumber"), o.get("blockHash")) {
            (Some(n), _) => blocks::block_number(Some(n), committed, known)?,
            (None, Some(h)) => {
                let h: B256 = serde_json::from_value(h.clone())
                    .map_err(|e| invalid_params(format!("bad blockHash: {e}")))?;
                index.number_of(ctx, &h, committed, known)
            }
            _ => {
                return Err(invalid_params(
                    "a block object needs blockNumber or blockHash",
                ))
            }
        },
        other => blocks::block_number(other, committed, known)?,
    };
    match number {
        None => Err((-32000, "unknown block".into(), None)),
        Some(n) if n < committed => Ok(Some(n)),
        Some(_) => Ok(None),
    }
}

/// The error for a block whose state this node no longer (or never) held.
pub(crate) fn not_kept(n: u64, e: &KvError) -> RpcError {
    let kept = match e {
        KvError::HistoryUnavailable { oldest, .. } => {
            format!("; it keeps blocks {oldest} and later")
        }
        _ => String::new(),
    };
    (
        -32000,
        format!("state at block {n} is not kept by this node (outside its history window{kept})"),
        None,
    )
}

/// A read-only transaction on the state right after block `n`.
pub(crate) fn state_after(ctx: &Ctx<'_>, n: u64) -> Result<Tx, RpcError> {
    ctx.host.begin_at(n).map_err(|e| not_kept(n, &e))
}

/// The time block `n`'s transactions saw (now, for a block without any).
pub(crate) fn timestamp(ctx: &Ctx<'_>, n: u64) -> u64 {
    blocks::receipts_of(ctx, n)
        .first()
        .map_or_else(crate::chain::now, |r| r.timestamp)
}
