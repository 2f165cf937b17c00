//! `debug_traceTransaction` and `debug_traceCall` with geth's default struct logger and
//! `callTracer` ([`crate::trace`]), for callers who may see what the trace shows:
//! - a transaction only for those who may see it (a hidden one answers as an unknown one);
//! - a struct log shows storage, so every contract whose code ran must be one whose storage
//!   the caller may read; a call trace shows calls' data, so their code (see
//!   [`crate::visibility`]: private contracts' code is their deployer's and auditors').
//!
//! A transaction is re-executed on the state its block started from (kept for the node's
//! history window) after the transactions ahead of it in that block.

use alloy_primitives::B256;
use consort_endpoints::Ctx;
use serde_json::{json, Value};

use super::{blocks, call_request, evm_error, history, param, state, txs, RpcError};
use crate::{
    exec::{self, BlockCtx, TRANSACTIONS},
    trace::{self, Traced},
    visibility::Viewer,
};

fn not_found() -> RpcError {
    (-32000, "transaction not found".into(), None)
}

/// Refuse a trace that would show what the caller may not see.
fn shown_to(
    ctx: &mut Ctx<'_>,
    viewer: &Viewer,
    t: Traced,
    calls_only: bool,
) -> Result<Value, RpcError> {
    for a in &t.executed {
        let allowed = if calls_only {
            viewer.may_read_code(ctx.tx, a)
        } else {
            viewer.may_read_storage(ctx.tx, a)
        };
        allowed.map_err(|e| (-32000, format!("the trace is not shown: {e}"), None))?;
    }
    let mut v = serde_json::to_value(&t.trace).map_err(|e| (-32603, e.to_string(), None))?;
    if let Some(logs) = v.get_mut("structLogs").and_then(Value::as_array_mut) {
        logs.iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(as_geth);
    }
    Ok(v)
}

/// One struct log step as geth writes it: no zero refund counter, and memory words and
/// storage slots in hex without `0x` (the stack keeps it).
fn as_geth(step: &mut serde_json::Map<String, Value>) {
    let bare = |v: &Value| json!(v.as_str().map_or("", |s| s.trim_start_matches("0x")));
    if step.get("refund").is_some_and(|r| r == 0) {
        step.remove("refund");
    }
    if let Some(Value::Array(words)) = step.get_mut("memory") {
        words.iter_mut().for_each(|w| *w = bare(w));
    }
    if let Some(Value::Object(slots)) = step.get_mut("storage") {
        *slots = std::mem::take(slots)
            .into_iter()
            .map(|(k, v)| (k.trim_start_matches("0x").to_string(), bare(&v)))
            .collect();
    }
}

fn calls_only(opts: &alloy_rpc_types_trace::geth::GethDebugTracingOptions) -> bool {
    opts.tracer.as_ref().is_some_and(|t| !t.as_str().is_empty())
}

/// `debug_traceTransaction(hash, options)`.
pub(crate) fn trace_transaction(
    ctx: &mut Ctx<'_>,
    viewer: &Viewer,
    block: &BlockCtx<'_>,
    params: &Value,
    committed: u64,
) -> Result<Value, RpcError> {
    let h: B256 = param(params, 0)?;
    let opts = trace::options(params.get(1)).map_err(evm_error)?;
    let only_calls = calls_only(&opts);
    let (receipt, n) = txs::committed_receipt(ctx, viewer, &h, committed).ok_or_else(not_found)?;
    let decode = |ctx: &mut Ctx<'_>, h: &B256| {
        let raw = ctx
            .tx
            .get(TRANSACTIONS, h.as_slice())
            .ok_or_else(not_found)?;
        exec::decode(&raw).map_err(evm_error)
    };
    let mut before = Vec::new();
    for r in blocks::receipts_of(ctx, n)
        .iter()
        .filter(|r| r.index < receipt.index)
    {
        before.push(decode(ctx, &r.transaction_hash)?);
    }
    let (env, from) = decode(ctx, &h)?;
    let mut past = history::state_after(ctx, n - 1)?;
    let at = BlockCtx {
        number: n,
        timestamp: receipt.timestamp,
        ..*block
    };
    let t = trace::transaction(&mut past, &at, before, (&env, from), opts).map_err(evm_error)?;
    shown_to(ctx, viewer, t, only_calls)
}

/// `debug_traceCall(call, block, options)`: as `eth_call` runs it.
pub(crate) fn trace_call(
    ctx: &mut Ctx<'_>,
    (index, viewer): (&blocks::BlockIndex, &Viewer),
    block: &BlockCtx<'_>,
    params: &Value,
    (committed, known): (u64, u64),
) -> Result<Value, RpcError> {
    let mut req = call_request(&params.get(0).cloned().unwrap_or(Value::Null))?;
    let opts = trace::options(params.get(2)).map_err(evm_error)?;
    let only_calls = calls_only(&opts);
    let t = match history::block_of(ctx, index, params.get(1), committed, known)? {
        None => {
            req.from = Some(state::call_from(ctx.tx, viewer, req.from)?);
            trace::call(ctx.tx, block, &req, viewer, opts)
        }
        Some(n) => {
            let mut past = history::state_after(ctx, n)?;
            req.from = Some(state::call_from(&mut past, viewer, req.from)?);
            let at = BlockCtx {
                number: n + 1,
                timestamp: history::timestamp(ctx, n),
                ..*block
            };
            trace::call(&mut past, &at, &req, viewer, opts)
        }
    }
    .map_err(evm_error)?;
    shown_to(ctx, viewer, t, only_calls)
}

#[cfg(test)]
#[path = "debug_test.rs"]
mod debug_test;
