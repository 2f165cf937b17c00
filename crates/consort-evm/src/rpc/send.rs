//! `eth_sendRawTransaction`: each transaction is decoded, its sender recovered and checked
//! against the caller here, in the request's thread. The first time, the request's sends
//! execute optimistically in its own KV transaction, in parallel with other requests'; if
//! that conflicts, the framework runs the handler again and this time every send of the
//! request (a batch may hold many) goes to the ordered lane ([`crate::lane`]), which never
//! throws it back. Either way each element gets its own result or error.

use std::sync::Arc;

use alloy_primitives::{Bytes as ABytes, B256};
use consort_endpoints::{ApiError, Ctx};
use consort_kv::{Tx, TxId};
use serde_json::{json, Value};

use super::{evm_error, invalid_params, param, Caller, Eth, RpcError, MAX_TX_BYTES};
use crate::{
    exec::{self, BlockCtx},
    lane::Job,
    privacy, settings,
};

/// Whether `req` is a well-formed `eth_sendRawTransaction` call.
pub(super) fn is_send(req: &Value) -> bool {
    req.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
        && req.get("method").and_then(Value::as_str) == Some("eth_sendRawTransaction")
}

/// The lane's job for one send, or why it is refused before it gets there.
fn prepare(tx: &mut Tx, who: &Caller<'_>, req: &Value) -> Result<Arc<Job>, RpcError> {
    let params = req.get("params").cloned().unwrap_or(json!([]));
    let raw: ABytes = param(&params, 0)?;
    if raw.len() > MAX_TX_BYTES {
        return Err(invalid_params("transaction larger than 128 KiB"));
    }
    let decoded = exec::decode(&raw).map_err(evm_error)?;
    let from = decoded.1;
    let relayed = match &who.viewer.identity {
        _ if who.viewer.owns(tx, &from) => None,
        Some(id) if who.viewer.relayer => Some(id.clone()),
        _ => {
            return Err((
                -32003,
                format!(
                    "sender {from:#x} is not bound to the caller (bind it: POST /app/eth/bind)"
                ),
                None,
            ))
        }
    };
    Ok(Job::new(decoded, who.deploy, relayed))
}

/// A send ready for execution, or why it was refused.
type Prepared = Result<Arc<Job>, RpcError>;

/// A request's result if it was a send (`None`: another method).
pub(super) type Sent = Option<Result<Value, RpcError>>;

/// The results of the sends among `reqs` (by position; `None` for other methods), and the
/// last KV transaction that holds one of them. A failure of the lane itself (this node no
/// longer the primary) fails the whole request, as nothing of it was executed.
pub(super) fn run(
    ctx: &mut Ctx<'_>,
    eth: &Eth,
    who: &Caller<'_>,
    reqs: &[Value],
) -> Result<(Vec<Sent>, Option<TxId>), ApiError> {
    let mut prepared: Vec<Option<Prepared>> = reqs
        .iter()
        .map(|q| is_send(q).then(|| prepare(ctx.tx, who, q)))
        .collect();
    if ctx.attempt == 0 {
        return Ok((optimistic(ctx, eth, prepared), None));
    }
    let jobs: Vec<Arc<Job>> = prepared
        .iter()
        .filter_map(|p| p.as_ref()?.as_ref().ok().cloned())
        .collect();
    let mut outcomes = if jobs.is_empty() {
        Vec::new()
    } else {
        eth.lane.run(ctx.host, eth.base, &jobs)
    }
    .into_iter();
    let mut last: Option<TxId> = None;
    let mut results = Vec::with_capacity(reqs.len());
    for p in prepared.drain(..) {
        results.push(match p {
            None => None,
            Some(Err(e)) => Some(Err(e)),
            Some(Ok(_)) => match outcomes.next().expect("one outcome per job")? {
                Ok((hash, txid)) => {
                    last = Some(last.map_or(txid, |l| if txid.seqno > l.seqno { txid } else { l }));
                    Some(Ok(json!(hash)))
                }
                Err(e) => Some(Err(evm_error(e))),
            },
        });
    }
    Ok((results, last))
}

/// The sends executed in the request's own KV transaction (committed by the framework),
/// as the block it becomes if nothing commits first.
fn optimistic(ctx: &mut Ctx<'_>, eth: &Eth, prepared: Vec<Option<Prepared>>) -> Vec<Sent> {
    let chain = settings::chain(ctx.tx, eth.base);
    let ledger = ctx.ledger;
    let hashes = move |n: u64| ledger.leaves(n, n).pop().flatten().map(|d| B256::from(d.0));
    let block = BlockCtx {
        chain: &chain,
        number: ctx.tx.read_version() + 1,
        timestamp: super::now(),
        hashes: &hashes,
    };
    prepared
        .into_iter()
        .map(|p| {
            let job = match p? {
                Ok(j) => j,
                Err(e) => return Some(Err(e)),
            };
            let r = exec::send_decoded(ctx.tx, &block, (job.env.clone(), job.from), job.deploy)
                .map_err(evm_error);
            Some(r.map(|r| {
                if let Some(id) = &job.relayed_by {
                    privacy::record_relayed(ctx.tx, r.transaction_hash.as_slice(), id);
                }
                json!(r.transaction_hash)
            }))
        })
        .collect()
}
