//! The rest of the read surface tools call: transactions and receipts of a block by its
//! number or hash (`eth_getBlockTransactionCountBy*`, `eth_getTransactionByBlock*AndIndex`,
//! `eth_getBlockReceipts`), uncles (none), the node's peers, `web3_sha3`, and the caller's
//! own transactions waiting in the pool (`txpool_status`, `txpool_content`). What a block
//! holds is filtered as `eth_getBlockBy*` filters it: the caller's view.

use std::collections::BTreeMap;

use alloy_consensus::Transaction as _;
use alloy_primitives::{keccak256, Address, Bytes as ABytes, B256, U256};
use consort_endpoints::Ctx;
use serde_json::{json, Value};

use super::{blocks, param, quantity, txs, Eth, RpcError};
use crate::{exec::Receipt, visibility::Viewer};

/// The block a `…ByNumber` / `…ByHash` method names in its first parameter (`None`: no
/// such block).
fn named_block(
    ctx: &Ctx<'_>,
    eth: &Eth,
    method: &str,
    params: &Value,
    (committed, known): (u64, u64),
) -> Result<Option<u64>, RpcError> {
    // `eth_getBlockReceipts` takes a number, a tag, a hash or an EIP-1898 object.
    let by_hash = match params.get(0) {
        _ if method.contains("ByBlockHash") || method.contains("ByHash") => true,
        Some(Value::String(s)) => method == "eth_getBlockReceipts" && s.len() == 66,
        Some(Value::Object(o)) if method == "eth_getBlockReceipts" => {
            return match o.get("blockHash") {
                Some(h) => Ok(serde_json::from_value::<B256>(h.clone())
                    .map_err(|e| super::invalid_params(format!("bad blockHash: {e}")))
                    .map(|h| eth.index.number_of(ctx, &h, committed, known))?),
                None => blocks::block_number(o.get("blockNumber"), committed, known),
            };
        }
        _ => false,
    };
    if by_hash {
        let h: B256 = param(params, 0)?;
        Ok(eth.index.number_of(ctx, &h, committed, known))
    } else {
        blocks::block_number(params.get(0), committed, known)
    }
}

/// The receipts of block `n` that `viewer` may see, in block order.
fn visible(ctx: &mut Ctx<'_>, viewer: &Viewer, n: u64) -> Vec<Receipt> {
    let mut rs = if n == 0 {
        Vec::new()
    } else {
        blocks::receipts_of(ctx, n)
    };
    rs.retain(|r| viewer.sees(ctx.tx, r));
    rs
}

/// Methods of this module; `None` if `method` is not one.
pub(crate) fn dispatch(
    ctx: &mut Ctx<'_>,
    eth: &Eth,
    viewer: &Viewer,
    method: &str,
    params: &Value,
    heights: (u64, u64),
) -> Option<Result<Value, RpcError>> {
    let r = match method {
        "eth_getBlockTransactionCountByNumber" | "eth_getBlockTransactionCountByHash" => {
            block_read(ctx, eth, method, params, heights, |ctx, n| {
                Ok(quantity(visible(ctx, viewer, n).len() as u64))
            })
        }
        "eth_getTransactionByBlockNumberAndIndex" | "eth_getTransactionByBlockHashAndIndex" => {
            block_read(ctx, eth, method, params, heights, |ctx, n| {
                let i: U256 = param(params, 1)?;
                match visible(ctx, viewer, n)
                    .iter()
                    .find(|r| U256::from(r.index) == i)
                {
                    Some(r) => txs::transaction_json(ctx, viewer, &r.transaction_hash),
                    None => Ok(Value::Null),
                }
            })
        }
        "eth_getBlockReceipts" => block_read(ctx, eth, method, params, heights, |ctx, n| {
            let hash = blocks::hash_of(ctx, n);
            let rs = visible(ctx, viewer, n);
            Ok(json!(rs
                .iter()
                .map(|r| blocks::receipt_json(r, n, hash))
                .collect::<Vec<_>>()))
        }),
        "eth_getUncleCountByBlockNumber" | "eth_getUncleCountByBlockHash" => {
            block_read(ctx, eth, method, params, heights, |_, _| Ok(quantity(0)))
        }
        "eth_getUncleByBlockNumberAndIndex" | "eth_getUncleByBlockHashAndIndex" => Ok(Value::Null),
        "net_listening" => Ok(json!(true)),
        "net_peerCount" => Ok(quantity(peers(ctx))),
        "web3_sha3" => param::<ABytes>(params, 0).map(|d| json!(keccak256(&d))),
        "txpool_status" | "txpool_content" => Ok(txpool(ctx, eth, viewer, method)),
        // Blocks carry no Merkle-Patricia state root: what it would cost per transaction is
        // measured by `cargo bench -p consort-evm --bench state_root` (README).
        "eth_getProof" => Err((
            -32601,
            "eth_getProof is not available: blocks carry no Merkle-Patricia state root (their \
             hash is the ledger's Merkle leaf; a Consort receipt proves a transaction instead)"
                .into(),
            None,
        )),
        _ => return None,
    };
    Some(r)
}

/// `f` on the block `params` name, once this node holds it; `null` for a block that does
/// not exist, as geth answers.
fn block_read(
    ctx: &mut Ctx<'_>,
    eth: &Eth,
    method: &str,
    params: &Value,
    heights: (u64, u64),
    f: impl FnOnce(&mut Ctx<'_>, u64) -> Result<Value, RpcError>,
) -> Result<Value, RpcError> {
    match named_block(ctx, eth, method, params, heights)? {
        None => Ok(Value::Null),
        Some(n) => {
            blocks::check_held(ctx, n)?;
            f(ctx, n)
        }
    }
}

/// The other trusted nodes of the service.
fn peers(ctx: &mut Ctx<'_>) -> u64 {
    let trusted = ctx
        .tx
        .range("public:ccf.gov.nodes.info", &..)
        .iter()
        .filter(|(_, v)| serde_json::from_slice::<Value>(v).is_ok_and(|i| i["status"] == "Trusted"))
        .count() as u64;
    trusted.saturating_sub(1)
}

/// `txpool_status` / `txpool_content` over the caller's own transactions (an auditor's:
/// all): `pending` are queued in the lane to execute now, `queued` wait in the pool for an
/// earlier nonce. Keys as geth's: sender, then the nonce in decimal.
fn txpool(ctx: &mut Ctx<'_>, eth: &Eth, viewer: &Viewer, method: &str) -> Value {
    let (pending, queued) = eth.lane.waiting();
    let mut mine = |jobs: Vec<(alloy_consensus::TxEnvelope, Address)>| {
        jobs.into_iter()
            .filter(|(_, from)| viewer.auditor || viewer.owns(ctx.tx, from))
            .collect::<Vec<_>>()
    };
    let (pending, queued) = (mine(pending), mine(queued));
    if method == "txpool_status" {
        return json!({"pending": quantity(pending.len() as u64), "queued": quantity(queued.len() as u64)});
    }
    let mut content = |jobs: Vec<(alloy_consensus::TxEnvelope, Address)>| {
        let mut by: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
        for (env, from) in jobs {
            let h = *env.tx_hash();
            let j = txs::envelope_json(ctx, &env, from, &h, None, None);
            by.entry(from.to_checksum(None))
                .or_default()
                .insert(env.nonce().to_string(), j);
        }
        json!(by)
    };
    json!({"pending": content(pending), "queued": content(queued)})
}

#[cfg(test)]
#[path = "reads_test.rs"]
mod reads_test;
