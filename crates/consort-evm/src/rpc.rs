//! Web3 JSON-RPC 2.0 at `POST /app/eth` (batches included), for registered users.
//!
//! One block per transaction: block number = the KV seqno of the transaction, block hash
//! derived from it. `eth_blockNumber` is the last committed seqno.

use alloy_primitives::{Address, Bytes as ABytes, B256, U256};
use consort_kv::Tx;
use consort_node::{
    api::Response,
    framework::{AuthPolicy::*, Ctx, Mode::ReadWrite, Registry},
};
use http::Method;
use serde_json::{json, Value};

use crate::{
    db::KvDb,
    exec::{self, CallRequest, Chain, Receipt, RECEIPTS, TRANSACTIONS},
    EvmError,
};

/// A JSON-RPC error: (code, message, data).
type RpcError = (i64, String, Option<Value>);

fn invalid_params(m: impl Into<String>) -> RpcError {
    (-32602, m.into(), None)
}

fn param<T: serde::de::DeserializeOwned>(params: &Value, i: usize) -> Result<T, RpcError> {
    serde_json::from_value(params.get(i).cloned().unwrap_or(Value::Null))
        .map_err(|e| invalid_params(format!("parameter {i}: {e}")))
}

fn quantity(v: u64) -> Value {
    json!(format!("{v:#x}"))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn evm_error(e: EvmError) -> RpcError {
    let code = match e {
        EvmError::Decode(_) => -32602,
        _ => -32000,
    };
    (code, e.to_string(), None)
}

fn receipt_json(r: &Receipt, number: u64) -> Value {
    let block_hash = crate::block_hash(number);
    let logs: Vec<Value> = r
        .logs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({
                "address": l.address, "topics": l.topics, "data": l.data,
                "blockNumber": quantity(number), "blockHash": block_hash,
                "transactionHash": r.transaction_hash, "transactionIndex": "0x0",
                "logIndex": quantity(i as u64), "removed": false,
            })
        })
        .collect();
    json!({
        "transactionHash": r.transaction_hash,
        "transactionIndex": "0x0",
        "blockHash": block_hash,
        "blockNumber": quantity(number),
        "from": r.from,
        "to": r.to,
        "contractAddress": r.contract_address,
        "cumulativeGasUsed": quantity(r.gas_used),
        "gasUsed": quantity(r.gas_used),
        "effectiveGasPrice": format!("{:#x}", r.effective_gas_price),
        "status": if r.status { "0x1" } else { "0x0" },
        "type": quantity(u64::from(r.tx_type)),
        "logs": logs,
        "logsBloom": format!("0x{}", "0".repeat(512)),
    })
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

/// Most blocks one `eth_getLogs` may scan.
const MAX_LOG_BLOCKS: u64 = 10_000;

/// Does `topics` (a filter's positional topic list) match `log`?
fn topics_match(filter: &[Option<Vec<B256>>], log: &[B256]) -> bool {
    filter.iter().enumerate().all(|(i, want)| match want {
        None => true,
        Some(alts) => log.get(i).is_some_and(|t| alts.contains(t)),
    })
}

fn get_logs(ctx: &mut Ctx<'_>, f: &Value, committed: u64, known: u64) -> Result<Value, RpcError> {
    let (from, to) = if let Some(h) = f.get("blockHash").filter(|v| !v.is_null()) {
        let h: B256 = serde_json::from_value(h.clone())
            .map_err(|e| invalid_params(format!("blockHash: {e}")))?;
        let n = crate::block_number_of(&h)
            .filter(|n| *n <= committed)
            .ok_or_else(|| invalid_params("unknown blockHash"))?;
        (n, n)
    } else {
        let from = block_number(f.get("fromBlock"), committed, known)?.unwrap_or(committed + 1);
        let to = block_number(f.get("toBlock"), committed, known)?
            .unwrap_or(committed)
            .min(committed);
        (from.max(1), to)
    };
    if to >= from && to - from >= MAX_LOG_BLOCKS {
        return Err((
            -32005,
            format!("query exceeds the limit of {MAX_LOG_BLOCKS} blocks"),
            None,
        ));
    }
    let addresses: Vec<Address> = match f.get("address") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| serde_json::from_value(x.clone()))
            .collect::<Result<_, _>>()
            .map_err(|e| invalid_params(format!("address: {e}")))?,
        Some(x) => vec![serde_json::from_value(x.clone())
            .map_err(|e| invalid_params(format!("address: {e}")))?],
    };
    let topics: Vec<Option<Vec<B256>>> = match f.get("topics") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ts)) => ts
            .iter()
            .map(|t| match t {
                Value::Null => Ok(None),
                Value::Array(alts) => alts
                    .iter()
                    .map(|a| serde_json::from_value(a.clone()))
                    .collect::<Result<Vec<B256>, _>>()
                    .map(Some),
                one => serde_json::from_value(one.clone()).map(|t| Some(vec![t])),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| invalid_params(format!("topics: {e}")))?,
        Some(_) => return Err(invalid_params("topics must be an array")),
    };
    let mut out = Vec::new();
    for n in from..=to {
        let Ok(e) = ctx.node.journal.decode_entry(n) else {
            continue;
        };
        let Some(m) = e.write_set.maps.get(TRANSACTIONS) else {
            continue;
        };
        for k in m.keys() {
            let Some(raw) = ctx.tx.get(RECEIPTS, k) else {
                continue;
            };
            let Ok(r) = serde_json::from_slice::<Receipt>(&raw) else {
                continue;
            };
            let rj = receipt_json(&r, n);
            for (l, lj) in r
                .logs
                .iter()
                .zip(rj["logs"].as_array().cloned().unwrap_or_default())
            {
                if (addresses.is_empty() || addresses.contains(&l.address))
                    && topics_match(&topics, &l.topics)
                {
                    out.push(lj);
                }
            }
        }
    }
    Ok(Value::Array(out))
}

/// A block tag or number: `latest`, `pending`, `safe`, `finalized` are the commit point
/// (committed state only); `earliest` is 0; a number up to the last one appended. `None`:
/// a block that does not exist (yet).
fn block_number(v: Option<&Value>, committed: u64, known: u64) -> Result<Option<u64>, RpcError> {
    match v {
        None | Some(Value::Null) => Ok(Some(committed)),
        Some(Value::String(s)) => match s.as_str() {
            "latest" | "pending" | "safe" | "finalized" => Ok(Some(committed)),
            "earliest" => Ok(Some(0)),
            q => {
                let n = u64::from_str_radix(q.trim_start_matches("0x"), 16)
                    .map_err(|_| invalid_params(format!("bad block number {q}")))?;
                Ok((n <= known).then_some(n))
            }
        },
        Some(other) => Err(invalid_params(format!("bad block {other}"))),
    }
}

/// One JSON-RPC method call.
fn dispatch(
    ctx: &mut Ctx<'_>,
    chain: &Chain,
    method: &str,
    params: &Value,
) -> Result<Value, RpcError> {
    let committed = ctx.node.journal.committed().seqno;
    // Blocks named by number or hash may be pending (a receipt names its block at once).
    let known = ctx.node.journal.last_txid().seqno;
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
            let a: Address = param(params, 0)?;
            Ok(json!(KvDb { tx }.account(&a).balance))
        }
        "eth_getTransactionCount" => {
            let a: Address = param(params, 0)?;
            Ok(quantity(KvDb { tx }.account(&a).nonce))
        }
        "eth_getCode" => {
            let a: Address = param(params, 0)?;
            Ok(json!(ABytes::from(KvDb { tx }.code_at(&a))))
        }
        "eth_getStorageAt" => {
            let a: Address = param(params, 0)?;
            let slot: U256 = param(params, 1)?;
            Ok(json!(B256::from(KvDb { tx }.slot(&a, &slot))))
        }
        "eth_call" | "eth_estimateGas" => {
            let req = call_request(&params.get(0).cloned().unwrap_or(Value::Null))?;
            let r = exec::call(tx, chain, &req, committed + 1, now()).map_err(evm_error)?;
            if !r.success {
                return Err((3, "execution reverted".into(), Some(json!(r.output))));
            }
            if method == "eth_call" {
                Ok(json!(r.output))
            } else {
                // Headroom for the refund and stipend rules eth_call does not model.
                Ok(quantity(r.gas_used + r.gas_used / 5 + 21_000 / 10))
            }
        }
        "eth_sendRawTransaction" => {
            let raw: ABytes = param(params, 0)?;
            if raw.len() > 128 * 1024 {
                return Err(invalid_params("transaction larger than 128 KiB"));
            }
            let r = exec::send_raw(tx, chain, &raw, committed + 1, now()).map_err(evm_error)?;
            Ok(json!(r.transaction_hash))
        }
        "eth_getTransactionReceipt" => {
            let h: B256 = param(params, 0)?;
            let Some(raw) = tx.get(RECEIPTS, h.as_slice()) else {
                return Ok(Value::Null);
            };
            let number = tx.get_version(RECEIPTS, h.as_slice()).unwrap_or(0);
            if number > committed {
                // Receipts are final: none until the transaction is committed.
                return Ok(Value::Null);
            }
            let r: Receipt = serde_json::from_slice(&raw)
                .map_err(|e| (-32000, format!("stored receipt: {e}"), None))?;
            Ok(receipt_json(&r, number))
        }
        "eth_getTransactionByHash" => {
            let h: B256 = param(params, 0)?;
            let Some(raw) = tx.get(TRANSACTIONS, h.as_slice()) else {
                return Ok(Value::Null);
            };
            let number = tx.get_version(TRANSACTIONS, h.as_slice()).unwrap_or(0);
            let (env, from) = exec::decode(&raw).map_err(evm_error)?;
            use alloy_consensus::Transaction as _;
            let sig = env.signature();
            Ok(json!({
                "hash": h,
                "type": quantity(env.tx_type() as u64),
                "chainId": env.chain_id().map(quantity),
                "nonce": quantity(env.nonce()),
                "from": from,
                "to": env.to(),
                "value": env.value(),
                "gas": quantity(env.gas_limit()),
                "gasPrice": format!("{:#x}", env.max_fee_per_gas()),
                "maxFeePerGas": format!("{:#x}", env.max_fee_per_gas()),
                "maxPriorityFeePerGas": env.max_priority_fee_per_gas().map(|p| format!("{p:#x}")),
                "input": env.input(),
                "r": sig.r(),
                "s": sig.s(),
                "v": quantity(u64::from(sig.v())),
                "yParity": quantity(u64::from(sig.v())),
                "blockNumber": quantity(number),
                "blockHash": crate::block_hash(number),
                "transactionIndex": "0x0",
            }))
        }
        "eth_getBlockByNumber" | "eth_getBlockByHash" => {
            let number = if method == "eth_getBlockByHash" {
                let h: B256 = param(params, 0)?;
                match crate::block_number_of(&h) {
                    Some(n) if n <= known => n,
                    _ => return Ok(Value::Null),
                }
            } else {
                match block_number(params.get(0), committed, known)? {
                    Some(n) => n,
                    None => return Ok(Value::Null),
                }
            };
            let full: bool = params.get(1).and_then(Value::as_bool).unwrap_or(false);
            let mut hashes = Vec::new();
            if number > 0 {
                if let Ok(e) = ctx.node.journal.decode_entry(number) {
                    if let Some(m) = e.write_set.maps.get(TRANSACTIONS) {
                        hashes.extend(m.keys().map(|k| B256::from_slice(k)));
                    }
                }
            }
            let mut gas_used = 0;
            let mut txs = Vec::new();
            for h in hashes {
                if let Some(raw) = ctx.tx.get(RECEIPTS, h.as_slice()) {
                    if let Ok(r) = serde_json::from_slice::<Receipt>(&raw) {
                        gas_used += r.gas_used;
                    }
                }
                txs.push(if full {
                    dispatch(ctx, chain, "eth_getTransactionByHash", &json!([h]))?
                } else {
                    json!(h)
                });
            }
            Ok(json!({
                "number": quantity(number),
                "hash": crate::block_hash(number),
                "parentHash": if number == 0 { B256::ZERO } else { crate::block_hash(number - 1) },
                "timestamp": quantity(number),
                "gasLimit": quantity(chain.block_gas_limit),
                "gasUsed": quantity(gas_used),
                "baseFeePerGas": "0x0",
                "miner": Address::ZERO,
                "difficulty": "0x0",
                "totalDifficulty": "0x0",
                "extraData": "0x",
                "nonce": "0x0000000000000000",
                "mixHash": B256::ZERO,
                "sha3Uncles": B256::ZERO,
                "stateRoot": B256::ZERO,
                "transactionsRoot": B256::ZERO,
                "receiptsRoot": B256::ZERO,
                "logsBloom": format!("0x{}", "0".repeat(512)),
                "size": "0x0",
                "uncles": [],
                "transactions": txs,
            }))
        }
        "eth_getLogs" => {
            let f = params.get(0).cloned().unwrap_or(Value::Null);
            get_logs(ctx, &f, committed, known)
        }
        "eth_feeHistory" => {
            let count: U256 = param(params, 0)?;
            let count = count.saturating_to::<u64>().clamp(1, 1024);
            let newest = block_number(params.get(1), committed, known)?.unwrap_or(committed);
            let pct = params.get(2).and_then(Value::as_array).map_or(0, Vec::len);
            let count = count.min(newest + 1);
            Ok(json!({
                "oldestBlock": quantity(newest + 1 - count),
                "baseFeePerGas": vec!["0x0"; count as usize + 1],
                "gasUsedRatio": vec![0.0; count as usize],
                "reward": vec![vec!["0x0"; pct]; count as usize],
            }))
        }
        _ => Err((
            -32601,
            format!("the method {method} does not exist/is not available"),
            None,
        )),
    }
}

fn one(ctx: &mut Ctx<'_>, chain: &Chain, req: &Value) -> Value {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req.get("method").and_then(Value::as_str);
    let result = match (req.get("jsonrpc").and_then(Value::as_str), method) {
        (Some("2.0"), Some(m)) => {
            let params = req.get("params").cloned().unwrap_or(json!([]));
            dispatch(ctx, chain, m, &params)
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

/// Register `POST /app/eth` for `chain`.
pub fn register(r: &mut Registry, chain: Chain) {
    r.add(
        Method::POST,
        "/app/eth",
        ReadWrite,
        &[UserCert, Jwt],
        "Ethereum JSON-RPC 2.0 (web3)",
        move |ctx| {
            let body: Value = match serde_json::from_slice(&ctx.req.body) {
                Ok(v) => v,
                Err(e) => {
                    return Ok(Response::json(&json!({
                        "jsonrpc": "2.0", "id": null,
                        "error": {"code": -32700, "message": format!("parse error: {e}")}
                    })))
                }
            };
            let out = match body {
                Value::Array(reqs) if reqs.is_empty() => json!({
                    "jsonrpc": "2.0", "id": null,
                    "error": {"code": -32600, "message": "empty batch"}
                }),
                Value::Array(reqs) => {
                    Value::Array(reqs.iter().map(|q| one(ctx, &chain, q)).collect())
                }
                q => one(ctx, &chain, &q),
            };
            Ok(Response::json(&out))
        },
    );
}
