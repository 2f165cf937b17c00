//! `eth_sendRawTransaction`: each transaction is decoded, its sender recovered and checked
//! against the caller here, in the request's thread, in parallel with other requests; then
//! every send of the request (a batch may hold many) goes to the ordered lane
//! ([`crate::lane`]) at once, and each element gets its own result or error. A transaction
//! that waits in the lane's pool for an earlier nonce is answered with its hash at once.

use std::sync::Arc;

use alloy_primitives::Bytes as ABytes;
use consort_endpoints::{ApiError, Ctx};
use consort_kv::{Tx, TxId};
use serde_json::{json, Value};

use super::{evm_error, invalid_params, param, Caller, Eth, RpcError, MAX_TX_BYTES};
use crate::{exec, lane::Job};

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
                    if let Some(t) = txid {
                        last = Some(last.map_or(t, |l| if t.seqno > l.seqno { t } else { l }));
                    }
                    Some(Ok(json!(hash)))
                }
                Err(e) => Some(Err(evm_error(e))),
            },
        });
    }
    Ok((results, last))
}
