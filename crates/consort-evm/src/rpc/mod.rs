//! Web3 JSON-RPC 2.0 at `POST /app/eth` and `POST /` (batches included), for registered
//! users, and `GET /app/eth/receipt?hash=` (a Consort receipt for an Ethereum transaction).
//!
//! One block per KV transaction: block number = its seqno, block hash = its Merkle leaf
//! (see [`blocks`]). `eth_blockNumber` is the last committed seqno.

mod blocks;

use alloy_primitives::{Address, Bytes as ABytes, B256, U256};
use consort_kv::Tx;
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
    db::KvDb,
    exec::{self, BlockCtx, CallRequest, Chain, Receipt, RECEIPTS, TRANSACTIONS},
    settings, EvmError,
};

/// A JSON-RPC error: (code, message, data).
pub(crate) type RpcError = (i64, String, Option<Value>);

pub(crate) fn invalid_params(m: impl Into<String>) -> RpcError {
    (-32602, m.into(), None)
}

fn param<T: serde::de::DeserializeOwned>(params: &Value, i: usize) -> Result<T, RpcError> {
    serde_json::from_value(params.get(i).cloned().unwrap_or(Value::Null))
        .map_err(|e| invalid_params(format!("parameter {i}: {e}")))
}

pub(crate) fn quantity(v: u64) -> Value {
    json!(format!("{v:#x}"))
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn evm_error(e: EvmError) -> RpcError {
    let code = match e {
        EvmError::Decode(_) => -32602,
        EvmError::SenderNotAllowed(_) => -32003,
        EvmError::InsufficientFunds(_) => -32000,
        _ => -32000,
    };
    (code, e.to_string(), None)
}

fn call_request(v: &Value) -> Result<CallRequest, RpcError> {
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
    })
}

/// The application's state shared by its endpoints.
#[derive(Debug)]
struct Eth {
    /// The chain as configured at service creation (governance may change its id).
    base: Chain,
    index: BlockIndex,
}

/// The receipt stored for `h`, and its block (seqno), if committed.
fn committed_receipt(ctx: &mut Ctx<'_>, h: &B256, committed: u64) -> Option<(Receipt, u64)> {
    let raw = ctx.tx.get(RECEIPTS, h.as_slice())?;
    let number = ctx.tx.get_version(RECEIPTS, h.as_slice())?;
    // Receipts are final: none until the transaction is committed.
    (number <= committed).then_some(())?;
    Some((serde_json::from_slice(&raw).ok()?, number))
}

fn transaction_json(ctx: &mut Ctx<'_>, h: &B256) -> Result<Value, RpcError> {
    let Some(raw) = ctx.tx.get(TRANSACTIONS, h.as_slice()) else {
        return Ok(Value::Null);
    };
    // Block fields only once the transaction is committed (before, its block may change).
    let committed = ctx.ledger.committed().seqno;
    let number = ctx
        .tx
        .get_version(TRANSACTIONS, h.as_slice())
        .filter(|n| *n <= committed);
    let index = ctx
        .tx
        .get(RECEIPTS, h.as_slice())
        .and_then(|r| serde_json::from_slice::<Receipt>(&r).ok())
        .map_or(0, |r| r.index);
    let (env, from) = exec::decode(&raw).map_err(evm_error)?;
    use alloy_consensus::Transaction as _;
    let sig = env.signature();
    let parity = u64::from(sig.v());
    // Legacy transactions carry EIP-155's v (chain id folded in); typed ones the parity.
    let v = match (env.is_legacy(), env.chain_id()) {
        (true, Some(id)) => id * 2 + 35 + parity,
        (true, None) => 27 + parity,
        _ => parity,
    };
    let mut j = json!({
        "hash": h,
        "type": quantity(env.tx_type() as u64),
        "chainId": env.chain_id().map(quantity),
        "nonce": quantity(env.nonce()),
        "from": from,
        "to": env.to(),
        "value": env.value(),
        "gas": quantity(env.gas_limit()),
        "gasPrice": format!("{:#x}", env.effective_gas_price(Some(0))),
        "input": env.input(),
        "r": sig.r(),
        "s": sig.s(),
        "v": quantity(v),
        "blockNumber": number.map(quantity),
        "blockHash": number.and_then(|n| blocks::hash_of(ctx, n)),
        "transactionIndex": number.map(|_| quantity(index)),
    });
    if !env.is_legacy() {
        j["yParity"] = quantity(parity);
        let list: Vec<Value> = env
            .access_list()
            .map(|l| {
                l.iter()
                    .map(|i| json!({"address": i.address, "storageKeys": i.storage_keys}))
                    .collect()
            })
            .unwrap_or_default();
        j["accessList"] = json!(list);
    }
    if env.is_eip1559() {
        j["maxFeePerGas"] = json!(format!("{:#x}", env.max_fee_per_gas()));
        j["maxPriorityFeePerGas"] = json!(format!(
            "{:#x}",
            env.max_priority_fee_per_gas().unwrap_or(0)
        ));
    }
    Ok(j)
}

/// State is read at the latest block only: a state query for an earlier block (a number,
/// `earliest`, or an EIP-1898 `{"blockNumber"|"blockHash"}` naming one) is refused, rather
/// than answered with today's state.
fn latest_state(v: Option<&Value>, committed: u64, known: u64) -> Result<(), RpcError> {
    let named = match v {
        Some(Value::Object(o)) => match (o.get("blockNumber"), o.get("blockHash")) {
            (Some(n), _) => Some(n),
            (None, Some(_)) => {
                return Err((
                    -32000,
                    "state by block hash is not kept: ask for \"latest\"".into(),
                    None,
                ))
            }
            _ => None,
        },
        other => other,
    };
    match blocks::block_number(named, committed, known)? {
        None => Err((-32000, "unknown block".into(), None)),
        Some(n) if n < committed => Err((
            -32000,
            format!(
                "historical state is not kept: block {n} is before the latest ({committed}); ask for \"latest\""
            ),
            None,
        )),
        Some(_) => Ok(()),
    }
}

/// `eth_call`, or `eth_estimateGas`: the least gas limit that succeeds.
fn call_or_estimate(
    tx: &mut Tx,
    block: &BlockCtx<'_>,
    chain: &Chain,
    method: &str,
    params: &Value,
) -> Result<Value, RpcError> {
    let req = call_request(&params.get(0).cloned().unwrap_or(Value::Null))?;
    let r = exec::call(tx, block, &req).map_err(evm_error)?;
    if let Some(why) = r.halted {
        return Err((-32000, why, None));
    }
    if !r.success {
        return Err((3, "execution reverted".into(), Some(json!(r.output))));
    }
    if method == "eth_call" {
        return Ok(json!(r.output));
    }
    // The least gas limit that succeeds: refunds and the 63/64 rule can make it
    // more than the gas used; binary search between the two.
    let cap = req.gas.unwrap_or(chain.block_gas_limit);
    let ok = |tx: &mut Tx, gas: u64| {
        let q = CallRequest {
            gas: Some(gas),
            ..req.clone()
        };
        exec::call(tx, block, &q).is_ok_and(|r| r.success)
    };
    if ok(tx, r.gas_used) {
        return Ok(quantity(r.gas_used));
    }
    let (mut lo, mut hi) = (r.gas_used, cap);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(tx, mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(quantity(hi))
}

/// One JSON-RPC method call.
fn dispatch(ctx: &mut Ctx<'_>, eth: &Eth, method: &str, params: &Value) -> Result<Value, RpcError> {
    let committed = ctx.ledger.committed().seqno;
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
    };
    let tx: &mut Tx = ctx.tx;
    match method {
        "eth_chainId" => Ok(quantity(chain.chain_id)),
        "net_version" => Ok(json!(chain.chain_id.to_string())),
        "web3_clientVersion" => Ok(json!(format!("consort/{}", env!("CARGO_PKG_VERSION")))),
        "eth_blockNumber" => Ok(quantity(committed)),
        "eth_gasPrice" | "eth_maxPriorityFeePerGas" => Ok(json!("0x0")),
        "eth_accounts" => Ok(json!([])),
        "eth_syncing" => Ok(json!(false)),
        "eth_getBalance" => {
            latest_state(params.get(1), committed, known)?;
            let a: Address = param(params, 0)?;
            Ok(json!(KvDb { tx }.account(&a).balance))
        }
        "eth_getTransactionCount" => {
            latest_state(params.get(1), committed, known)?;
            let a: Address = param(params, 0)?;
            Ok(quantity(KvDb { tx }.account(&a).nonce))
        }
        "eth_getCode" => {
            latest_state(params.get(1), committed, known)?;
            let a: Address = param(params, 0)?;
            Ok(json!(ABytes::from(KvDb { tx }.code_at(&a))))
        }
        "eth_getStorageAt" => {
            latest_state(params.get(2), committed, known)?;
            let a: Address = param(params, 0)?;
            let slot: U256 = param(params, 1)?;
            Ok(json!(B256::from(KvDb { tx }.slot(&a, &slot))))
        }
        "eth_call" | "eth_estimateGas" => {
            latest_state(params.get(1), committed, known)?;
            call_or_estimate(tx, &block, &chain, method, params)
        }
        "eth_sendRawTransaction" => {
            let raw: ABytes = param(params, 0)?;
            if raw.len() > MAX_TX_BYTES {
                return Err(invalid_params("transaction larger than 128 KiB"));
            }
            // Executed as the block it becomes if nothing commits first (else retried).
            let block = BlockCtx {
                number: tx.read_version() + 1,
                ..block
            };
            let r = exec::send_raw(tx, &block, &raw).map_err(evm_error)?;
            Ok(json!(r.transaction_hash))
        }
        "eth_getTransactionReceipt" => {
            let h: B256 = param(params, 0)?;
            Ok(match committed_receipt(ctx, &h, committed) {
                Some((r, n)) => blocks::receipt_json(&r, n, blocks::hash_of(ctx, n)),
                None => Value::Null,
            })
        }
        "eth_getTransactionByHash" => transaction_json(ctx, &param(params, 0)?),
        "eth_getBlockByNumber" | "eth_getBlockByHash" => {
            get_block(ctx, eth, &chain, method, params, (committed, known))
        }
        "eth_getLogs" => {
            let f = params.get(0).cloned().unwrap_or(Value::Null);
            blocks::get_logs(ctx, &eth.index, &f, committed, known)
        }
        "eth_feeHistory" => fee_history(params, committed, known),
        _ => Err((
            -32601,
            format!("the method {method} does not exist/is not available"),
            None,
        )),
    }
}

/// `eth_getBlockByNumber` / `eth_getBlockByHash`.
fn get_block(
    ctx: &mut Ctx<'_>,
    eth: &Eth,
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
    blocks::block_json(ctx, chain, number, full, &transaction_json)
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

fn one(ctx: &mut Ctx<'_>, eth: &Eth, req: &Value) -> Value {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req.get("method").and_then(Value::as_str);
    let result = match (req.get("jsonrpc").and_then(Value::as_str), method) {
        (Some("2.0"), Some(m)) => {
            let params = req.get("params").cloned().unwrap_or(json!([]));
            dispatch(ctx, eth, m, &params)
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

fn json_rpc(ctx: &mut Ctx<'_>, eth: &Eth) -> Response {
    let body: Value = match serde_json::from_slice(&ctx.req.body) {
        Ok(v) => v,
        Err(e) => {
            return Response::json(&json!({
                "jsonrpc": "2.0", "id": null,
                "error": {"code": -32700, "message": format!("parse error: {e}")}
            }))
        }
    };
    let out = match body {
        Value::Array(reqs) if reqs.is_empty() => json!({
            "jsonrpc": "2.0", "id": null,
            "error": {"code": -32600, "message": "empty batch"}
        }),
        Value::Array(reqs) if reqs.len() > MAX_BATCH => json!({
            "jsonrpc": "2.0", "id": null,
            "error": {"code": -32600, "message": format!("a batch holds at most {MAX_BATCH} requests")}
        }),
        Value::Array(reqs) => Value::Array(reqs.iter().map(|q| one(ctx, eth, q)).collect()),
        q => one(ctx, eth, &q),
    };
    Response::json(&out)
}

/// `GET /app/eth/receipt?hash=`: the Consort receipt of the block holding the Ethereum
/// transaction, with the block's claims (its Ethereum receipts, whose SHA-256 is the leaf's
/// claims digest) — everything needed to check offline that the transaction and its logs
/// are in the signed ledger.
fn consort_receipt(ctx: &mut Ctx<'_>) -> Result<Response, ApiError> {
    let h: String = ctx.req.query_param("hash")?;
    let h: B256 = h
        .parse()
        .map_err(|_| ApiError::invalid_query("hash must be a 0x-prefixed 32-byte hex string"))?;
    let committed = ctx.ledger.committed().seqno;
    let Some((r, n)) = committed_receipt(ctx, &h, committed) else {
        return Err(ApiError::not_found(
            "No committed Ethereum transaction has this hash (yet).",
        ));
    };
    let receipt = ctx.ledger.receipt(n).map_err(|e| {
        ApiError::unavailable(
            "TransactionPendingOrUnknown",
            format!("No receipt for this transaction yet: {e}"),
        )
    })?;
    let claims = exec::claims(&blocks::receipts_of(ctx, n));
    if consort_crypto::sha256(claims.as_bytes()) != receipt.leaf_components.claims_digest {
        return Err(ApiError::internal(
            "The block's receipts do not match its claims digest.",
        ));
    }
    let view = ctx.ledger.view_of(n).unwrap_or(0);
    Ok(Response::json(&json!({
        "transaction_id": format!("{view}.{n}"),
        "receipt": receipt,
        "claims": claims,
        "ethereum_receipt": blocks::receipt_json(&r, n, blocks::hash_of(ctx, n)),
    })))
}

/// Register the Ethereum endpoints for `chain` (its id as set at service creation).
pub fn register(r: &mut Registry, chain: Chain) {
    let eth = Arc::new(Eth {
        base: chain,
        index: BlockIndex::default(),
    });
    for path in ["/app/eth", "/"] {
        let eth = eth.clone();
        r.add(
            Method::POST,
            path,
            ReadWrite,
            &[UserCert, Jwt],
            "Ethereum JSON-RPC 2.0 (web3)",
            move |ctx| Ok(json_rpc(ctx, &eth)),
        );
    }
    r.add(
        Method::GET,
        "/app/eth/receipt",
        ReadOnly,
        &[UserCert, Jwt],
        "A Consort receipt for an Ethereum transaction (?hash=0x…)",
        consort_receipt,
    );
}
