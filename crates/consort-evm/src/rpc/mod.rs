//! Web3 JSON-RPC 2.0 at `POST /app/eth` and `POST /` (batches included), for registered
//! users, and `GET /app/eth/receipt?hash=` (a Consort receipt for an Ethereum transaction).
//!
//! One block per KV transaction: block number = its seqno, block hash = its Merkle leaf
//! (see [`blocks`]). `eth_blockNumber` is the last committed seqno.
//!
//! Every read answers as [`crate::visibility`] allows the caller: a hidden transaction,
//! receipt, log or account reads as a nonexistent one.

mod blocks;
mod debug;
mod filters;
mod history;
mod reads;
mod send;
mod state;
mod subscribe;
mod txs;

use alloy_primitives::{Bytes as ABytes, B256, U256};
use std::sync::Arc;

use consort_endpoints::{
    ApiError,
    AuthPolicy::*,
    Ctx,
    Mode::{ReadOnly, ReadWrite},
    Registry, Response,
};
use http::Method;
use serde_json::{json, Value};

use blocks::BlockIndex;

use crate::{
    exec::{BlockCtx, CallRequest, Chain},
    privacy::Privacy,
    settings,
    visibility::Viewer,
    EvmError,
};

/// A JSON-RPC error: (code, message, data).
pub(crate) type RpcError = (i64, String, Option<Value>);

pub(crate) fn invalid_params(m: impl Into<String>) -> RpcError {
    (-32602, m.into(), None)
}

pub(crate) fn param<T: serde::de::DeserializeOwned>(
    params: &Value,
    i: usize,
) -> Result<T, RpcError> {
    serde_json::from_value(params.get(i).cloned().unwrap_or(Value::Null))
        .map_err(|e| invalid_params(format!("parameter {i}: {e}")))
}

pub(crate) fn quantity(v: u64) -> Value {
    json!(format!("{v:#x}"))
}

pub(crate) use crate::chain::now;

pub(crate) fn evm_error(e: EvmError) -> RpcError {
    let code = match e {
        EvmError::Decode(_) => -32602,
        EvmError::SenderNotAllowed(_) => -32003,
        EvmError::InsufficientFunds(_) => -32000,
        _ => -32000,
    };
    (code, e.to_string(), None)
}

pub(crate) fn call_request(v: &Value) -> Result<CallRequest, RpcError> {
    let get = |k: &str| v.get(k).filter(|x| !x.is_null()).cloned();
    let parse = |x: Option<Value>, what: &str| -> Result<Option<U256>, RpcError> {
        x.map(|x| {
            serde_json::from_value::<U256>(x).map_err(|e| invalid_params(format!("{what}: {e}")))
        })
        .transpose()
    };
    Ok(CallRequest {
        from: get("from")
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| invalid_params(format!("from: {e}")))?,
        to: get("to")
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| invalid_params(format!("to: {e}")))?,
        data: get("input")
            .or_else(|| get("data"))
            .map(serde_json::from_value::<ABytes>)
            .transpose()
            .map_err(|e| invalid_params(format!("data: {e}")))?
            .unwrap_or_default(),
        value: parse(get("value"), "value")?.unwrap_or_default(),
        gas: parse(get("gas"), "gas")?.map(|g| g.saturating_to::<u64>()),
        access_list: get("accessList")
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| invalid_params(format!("accessList: {e}")))?
            .unwrap_or_default(),
    })
}

/// The application's state shared by its endpoints.
#[derive(Debug)]
struct Eth {
    /// The chain as configured at service creation (governance may change its id).
    base: Chain,
    index: BlockIndex,
    filters: filters::Filters,
    lane: crate::lane::Lane,
}

/// Who is asking, and how contracts they create are to be kept.
struct Caller<'a> {
    viewer: &'a Viewer,
    /// The deployer's choice (`x-consort-eth-privacy`) for the contracts it deploys.
    deploy: Option<Privacy>,
}

/// The header with which a deployer chooses the privacy of the contracts its transactions
/// create.
pub const PRIVACY_HEADER: &str = "x-consort-eth-privacy";

/// The chain settings in force.
fn chain_of(ctx: &mut Ctx<'_>, eth: &Eth) -> Chain {
    settings::chain(ctx.tx, eth.base)
}

/// One JSON-RPC method call.
fn dispatch(
    ctx: &mut Ctx<'_>,
    eth: &Eth,
    who: &Caller<'_>,
    method: &str,
    params: &Value,
) -> Result<Value, RpcError> {
    // The commit point as of the state this request reads, as filters see it: read live, a
    // batch's `eth_blockNumber` could name a block its `eth_getFilterChanges` (capped at the
    // request's state) did not report — and ethers then never asks for that block again.
    let committed = ctx.ledger.committed().seqno.min(ctx.tx.read_version());
    // Blocks named by number or hash may be pending (a receipt names its block at once).
    let known = ctx.ledger.last_txid().seqno;
    let chain = settings::chain(ctx.tx, eth.base);
    let ledger = ctx.ledger;
    let hashes = move |n: u64| ledger.leaves(n, n).pop().flatten().map(|d| B256::from(d.0));
    let block = BlockCtx {
        chain: &chain,
        number: committed + 1,
        timestamp: now(),
        hashes: &hashes,
        earlier: None,
    };
    let viewer = who.viewer;
    match method {
        "eth_chainId" => Ok(quantity(chain.chain_id)),
        "net_version" => Ok(json!(chain.chain_id.to_string())),
        "web3_clientVersion" => Ok(json!(format!("consort/{}", env!("CARGO_PKG_VERSION")))),
        "eth_blockNumber" => Ok(quantity(committed)),
        "eth_gasPrice" | "eth_maxPriorityFeePerGas" => Ok(json!("0x0")),
        "eth_accounts" => Ok(json!([])),
        "eth_syncing" => Ok(json!(false)),
        "eth_getBalance" | "eth_getTransactionCount" | "eth_getCode" | "eth_getStorageAt" => {
            let at = if method == "eth_getStorageAt" { 2 } else { 1 };
            match history::block_of(ctx, &eth.index, params.get(at), committed, known)? {
                None => state::account_read(ctx.tx, viewer, method, params),
                Some(n) => {
                    let mut past = history::state_after(ctx, n)?;
                    state::account_read(&mut past, viewer, method, params)
                }
            }
        }
        "eth_call" | "eth_estimateGas" | "eth_createAccessList" => {
            match history::block_of(ctx, &eth.index, params.get(1), committed, known)? {
                None => state::call_or_estimate(ctx.tx, viewer, &block, &chain, method, params),
                Some(n) => {
                    // As the block after `n` would run it, on the state `n` left.
                    let mut past = history::state_after(ctx, n)?;
                    let at = BlockCtx {
                        number: n + 1,
                        timestamp: history::timestamp(ctx, n),
                        ..block
                    };
                    state::call_or_estimate(&mut past, viewer, &at, &chain, method, params)
                }
            }
        }
        "eth_getTransactionReceipt" => Ok(txs::receipt(ctx, viewer, &param(params, 0)?)),
        "eth_getTransactionByHash" => {
            let h: B256 = param(params, 0)?;
            match txs::transaction_json(ctx, viewer, &h)? {
                // Waiting in the pool: pending, for whoever may see its sender's.
                Value::Null => Ok(eth
                    .lane
                    .pooled(&h)
                    .filter(|(_, from)| viewer.auditor || viewer.owns(ctx.tx, from))
                    .map_or(Value::Null, |(env, from)| {
                        txs::envelope_json(ctx, &env, from, &h, None, None)
                    })),
                v => Ok(v),
            }
        }
        "eth_getBlockByNumber" | "eth_getBlockByHash" => get_block(
            ctx,
            (eth, viewer),
            &chain,
            method,
            params,
            (committed, known),
        ),
        "eth_getLogs" => {
            let f = params.get(0).cloned().unwrap_or(Value::Null);
            blocks::get_logs(ctx, &eth.index, viewer, &f, committed, known)
        }
        "eth_newFilter"
        | "eth_newBlockFilter"
        | "eth_newPendingTransactionFilter"
        | "eth_getFilterChanges"
        | "eth_getFilterLogs"
        | "eth_uninstallFilter" => eth
            .filters
            .dispatch(ctx, &eth.index, viewer, method, params),
        "eth_feeHistory" => fee_history(params, committed, known),
        "debug_traceTransaction" => {
            debug::trace_transaction(ctx, viewer, &block, params, committed)
        }
        "debug_traceCall" => debug::trace_call(
            ctx,
            (&eth.index, viewer),
            &block,
            params,
            (committed, known),
        ),
        _ => reads::dispatch(ctx, eth, viewer, method, params, (committed, known)).unwrap_or_else(
            || {
                Err((
                    -32601,
                    format!("the method {method} does not exist/is not available"),
                    None,
                ))
            },
        ),
    }
}

/// `eth_sendRawTransaction`: only from an address bound to the caller, unless the caller
/// is a relayer (whose relayed transactions it may then follow).
/// `eth_getBlockByNumber` / `eth_getBlockByHash`.
fn get_block(
    ctx: &mut Ctx<'_>,
    (eth, viewer): (&Eth, &Viewer),
    chain: &crate::chain::Chain,
    method: &str,
    params: &Value,
    (committed, known): (u64, u64),
) -> Result<Value, RpcError> {
    let number = if method == "eth_getBlockByHash" {
        let h: B256 = param(params, 0)?;
        match eth.index.number_of(ctx, &h, committed, known) {
            Some(n) => n,
            None => return Ok(Value::Null),
        }
    } else {
        match blocks::block_number(params.get(0), committed, known)? {
            Some(n) => n,
            None => return Ok(Value::Null),
        }
    };
    let full: bool = params.get(1).and_then(Value::as_bool).unwrap_or(false);
    let tx_json = |ctx: &mut Ctx<'_>, h: &B256| txs::transaction_json(ctx, viewer, h);
    blocks::block_json(ctx, viewer, chain, (number, full), &tx_json)
}

/// `eth_feeHistory`: fees are zero.
fn fee_history(params: &Value, committed: u64, known: u64) -> Result<Value, RpcError> {
    let count: U256 = param(params, 0)?;
    let count = count.saturating_to::<u64>().clamp(1, 1024);
    let newest = blocks::block_number(params.get(1), committed, known)?.unwrap_or(committed);
    let pct = params.get(2).and_then(Value::as_array).map_or(0, Vec::len);
    if pct > MAX_PERCENTILES {
        return Err(invalid_params(format!(
            "at most {MAX_PERCENTILES} reward percentiles"
        )));
    }
    let count = count.min(newest + 1);
    Ok(json!({
        "oldestBlock": quantity(newest + 1 - count),
        "baseFeePerGas": vec!["0x0"; count as usize + 1],
        "gasUsedRatio": vec![0.0; count as usize],
        "reward": vec![vec!["0x0"; pct]; count as usize],
    }))
}

/// Largest raw transaction accepted.
const MAX_TX_BYTES: usize = 128 * 1024;
/// Most requests in one batch (geth's default).
const MAX_BATCH: usize = 1000;
/// Most reward percentiles in `eth_feeHistory` (geth's limit).
const MAX_PERCENTILES: usize = 100;

/// The answer to one request of a call or batch; `sent`: its result, if it was a send
/// the lane executed.
fn one(
    ctx: &mut Ctx<'_>,
    eth: &Eth,
    who: &Caller<'_>,
    req: &Value,
    sent: Option<Result<Value, RpcError>>,
) -> Value {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req.get("method").and_then(Value::as_str);
    let result = match (sent, req.get("jsonrpc").and_then(Value::as_str), method) {
        (Some(r), _, _) => r,
        (None, Some("2.0"), Some(m)) => {
            let params = req.get("params").cloned().unwrap_or(json!([]));
            dispatch(ctx, eth, who, m, &params)
        }
        _ => Err((-32600, "invalid request".into(), None)),
    };
    match result {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err((code, message, data)) => {
            let mut e = json!({"code": code, "message": message});
            if let Some(d) = data {
                e["data"] = d;
            }
            json!({"jsonrpc": "2.0", "id": id, "error": e})
        }
    }
}

fn rpc_error(code: i64, message: String) -> Response {
    Response::json(&json!({
        "jsonrpc": "2.0", "id": null,
        "error": {"code": code, "message": message}
    }))
}

fn json_rpc(ctx: &mut Ctx<'_>, eth: &Eth) -> Result<Response, ApiError> {
    let deploy = match ctx.req.headers.get(PRIVACY_HEADER).map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => match v.parse::<Privacy>() {
            Ok(p) => Some(p),
            Err(e) => return Ok(rpc_error(-32602, format!("{PRIVACY_HEADER}: {e}"))),
        },
        Some(Err(_)) => return Ok(rpc_error(-32602, format!("{PRIVACY_HEADER}: not text"))),
    };
    let viewer = Viewer::of(ctx.tx, &ctx.req.caller);
    let who = Caller {
        viewer: &viewer,
        deploy,
    };
    let body: Value = match serde_json::from_slice(&ctx.req.body) {
        Ok(v) => v,
        Err(e) => return Ok(rpc_error(-32700, format!("parse error: {e}"))),
    };
    let (reqs, batch) = match body {
        Value::Array(reqs) if reqs.is_empty() => {
            return Ok(rpc_error(-32600, "empty batch".into()))
        }
        Value::Array(reqs) if reqs.len() > MAX_BATCH => {
            return Ok(rpc_error(
                -32600,
                format!("a batch holds at most {MAX_BATCH} requests"),
            ))
        }
        Value::Array(reqs) => (reqs, true),
        q => (vec![q], false),
    };
    // Sends first, all at once through the lane; then everything else, in order, on this
    // request's snapshot.
    let (sent, last) = send::run(ctx, eth, &who, &reqs)?;
    let mut out: Vec<Value> = reqs
        .iter()
        .zip(sent)
        .map(|(q, s)| one(ctx, eth, &who, q, s))
        .collect();
    let mut resp = Response::json(&if batch {
        Value::Array(out)
    } else {
        out.pop().expect("one request")
    });
    if let Some(txid) = last {
        resp.headers.push((
            http::HeaderName::from_static(consort_endpoints::TXID_HEADER),
            txid.to_string(),
        ));
    }
    Ok(resp)
}

/// Register the Ethereum endpoints for `chain` (its id as set at service creation).
pub fn register(r: &mut Registry, chain: Chain) {
    let eth = Arc::new(Eth {
        base: chain,
        index: BlockIndex::default(),
        filters: filters::Filters::default(),
        lane: crate::lane::Lane::default(),
    });
    for path in ["/app/eth", "/"] {
        let eth = eth.clone();
        r.add(
            Method::POST,
            path,
            ReadWrite,
            &[UserCert, Jwt],
            "Ethereum JSON-RPC 2.0 (web3)",
            move |ctx| json_rpc(ctx, &eth),
        );
    }
    r.add_socket(
        "/app/eth/ws",
        &[UserCert, Jwt],
        "Ethereum JSON-RPC over WebSocket, with eth_subscribe (newHeads, logs)",
        Arc::new(subscribe::Sockets::new(eth.clone())),
    );
    r.add(
        Method::GET,
        "/app/eth/receipt",
        ReadOnly,
        &[UserCert, Jwt],
        "A Consort receipt for an Ethereum transaction (?hash=0x…)",
        txs::consort_receipt,
    );
}
