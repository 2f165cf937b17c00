//! The block model: block n is the KV transaction with seqno n; its hash is that
//! transaction's Merkle leaf (so a block hash is bound to the signed ledger); its Ethereum
//! transactions are the receipts it wrote, in execution order.

use std::sync::Mutex;

use alloy_primitives::{Address, B256};
use consort_endpoints::Ctx;
use serde_json::{json, Value};

use super::{invalid_params, quantity, RpcError};
use crate::{
    exec::{Chain, Receipt, RECEIPTS},
    visibility::Viewer,
};

/// Most blocks one `eth_getLogs` may scan.
const MAX_LOG_BLOCKS: u64 = 10_000;
/// Leaves read under one journal lock while indexing.
const INDEX_STEP: u64 = 4096;

/// Block hash → number for committed blocks, extended as the commit point advances (hashes
/// of blocks not yet committed may still change, so they are looked up directly).
///
/// Compact: 16 bytes per block (the hash's first 8 bytes and the number) in two sorted
/// arrays, a large one and a tail merged into it once it reaches an eighth of its size; a
/// prefix match is confirmed against the block's full hash.
#[derive(Debug, Default)]
pub(crate) struct BlockIndex {
    inner: Mutex<Sorted>,
}

#[derive(Debug, Default)]
struct Sorted {
    /// The next block to index.
    next: u64,
    main: Vec<(u64, u64)>,
    tail: Vec<(u64, u64)>,
}

fn prefix(h: &[u8; 32]) -> u64 {
    u64::from_be_bytes(h[..8].try_into().expect("8 bytes"))
}

impl Sorted {
    fn add(&mut self, batch: impl Iterator<Item = (u64, u64)>) {
        self.tail.extend(batch);
        self.tail.sort_unstable();
        if self.tail.len() * 8 >= self.main.len() {
            let mut merged = Vec::with_capacity(self.main.len() + self.tail.len());
            let mut a = std::mem::take(&mut self.main).into_iter().peekable();
            let mut b = std::mem::take(&mut self.tail).into_iter().peekable();
            while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
                merged.push(if x <= y { a.next() } else { b.next() }.expect("peeked"));
            }
            merged.extend(a.chain(b));
            self.main = merged;
        }
    }

    /// Blocks whose hash starts with `p`.
    fn candidates(&self, p: u64) -> Vec<u64> {
        [&self.main, &self.tail]
            .into_iter()
            .flat_map(|v| {
                let i = v.partition_point(|(q, _)| *q < p);
                v[i..]
                    .iter()
                    .take_while(move |(q, _)| *q == p)
                    .map(|(_, n)| *n)
            })
            .collect()
    }
}

/// The hash of block `n` (its Merkle leaf), if this node has it.
pub(crate) fn hash_of(ctx: &Ctx<'_>, n: u64) -> Option<B256> {
    ctx.ledger
        .leaves(n, n)
        .pop()
        .flatten()
        .map(|d| B256::from(d.0))
}

impl BlockIndex {
    /// The number of the block with hash `h` (up to `known`, the last appended).
    pub(crate) fn number_of(
        &self,
        ctx: &Ctx<'_>,
        h: &B256,
        committed: u64,
        known: u64,
    ) -> Option<u64> {
        let mut g = self.inner.lock().expect("block index lock poisoned");
        while g.next <= committed {
            let from = g.next;
            let to = committed.min(from + INDEX_STEP - 1);
            let leaves = ctx.ledger.leaves(from, to);
            g.add(
                leaves
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, l)| l.map(|l| (prefix(&l.0), from + i as u64))),
            );
            g.next = to + 1;
        }
        let found = g.candidates(prefix(&h.0));
        drop(g);
        if let Some(n) = found.into_iter().find(|n| hash_of(ctx, *n) == Some(*h)) {
            return Some(n);
        }
        let pending = ctx.ledger.leaves(committed + 1, known);
        pending
            .iter()
            .position(|l| l.is_some_and(|l| l.0 == h.0))
            .map(|i| committed + 1 + i as u64)
    }
}

/// The receipts of block `n`, in execution order (none for blocks without Ethereum
/// transactions, or that this node does not have).
///
/// Read from the block's own ledger entry (the receipts it wrote), not from the request's
/// store snapshot, which may predate a block the ledger already holds.
pub(crate) fn receipts_of(ctx: &Ctx<'_>, n: u64) -> Vec<Receipt> {
    let Ok(e) = ctx.ledger.entry(n) else {
        return Vec::new();
    };
    let Some(m) = e.write_set.maps.get(RECEIPTS) else {
        return Vec::new();
    };
    let mut out: Vec<Receipt> = m
        .values()
        .filter_map(|raw| serde_json::from_slice(raw.as_ref()?).ok())
        .collect();
    out.sort_by_key(|r| r.index);
    out
}

/// A node that started from a snapshot does not hold the blocks before it: say so rather
/// than answer as if they were empty.
pub(crate) fn check_held(ctx: &Ctx<'_>, number: u64) -> Result<(), RpcError> {
    let first = ctx.ledger.first_seqno();
    if number > 0 && number < first {
        return Err((
            -32000,
            format!("this node holds blocks from {first} on (it started from a snapshot); ask another node"),
            None,
        ));
    }
    Ok(())
}

/// A receipt in web3's shape, in block `number` with hash `block_hash`.
pub(crate) fn receipt_json(r: &Receipt, number: u64, block_hash: Option<B256>) -> Value {
    let logs: Vec<Value> = r
        .logs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({
                "address": l.address, "topics": l.topics, "data": l.data,
                "blockNumber": quantity(number), "blockHash": block_hash,
                "transactionHash": r.transaction_hash, "transactionIndex": quantity(r.index),
                "logIndex": quantity(r.first_log_index + i as u64), "removed": false,
            })
        })
        .collect();
    json!({
        "transactionHash": r.transaction_hash,
        "transactionIndex": quantity(r.index),
        "blockHash": block_hash,
        "blockNumber": quantity(number),
        "from": r.from,
        "to": r.to,
        "contractAddress": r.contract_address,
        "cumulativeGasUsed": quantity(r.cumulative_gas_used),
        "gasUsed": quantity(r.gas_used),
        "effectiveGasPrice": format!("{:#x}", r.effective_gas_price),
        "status": if r.status { "0x1" } else { "0x0" },
        "type": quantity(u64::from(r.tx_type)),
        "logs": logs,
        "logsBloom": crate::exec::bloom(&r.logs),
    })
}

/// A block tag or number: `latest`, `pending`, `safe`, `finalized` are the commit point
/// (committed state only); `earliest` is 0; a number up to the last one appended. `None`:
/// a block that does not exist (yet).
pub(crate) fn block_number(
    v: Option<&Value>,
    committed: u64,
    known: u64,
) -> Result<Option<u64>, RpcError> {
    match v {
        None | Some(Value::Null) => Ok(Some(committed)),
        Some(Value::String(s)) => match s.as_str() {
            "latest" | "pending" | "safe" | "finalized" => Ok(Some(committed)),
            "earliest" => Ok(Some(0)),
            q => {
                let n = q
                    .strip_prefix("0x")
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                    .ok_or_else(|| invalid_params(format!("bad block number {q}")))?;
                Ok((n <= known).then_some(n))
            }
        },
        Some(other) => Err(invalid_params(format!("bad block {other}"))),
    }
}

/// `eth_getBlockByNumber` / `eth_getBlockByHash` for block `number`, with the transactions
/// `viewer` may see (its gas used counts them all).
pub(crate) fn block_json(
    ctx: &mut Ctx<'_>,
    viewer: &Viewer,
    chain: &Chain,
    (number, full): (u64, bool),
    tx_json: &dyn Fn(&mut Ctx<'_>, &B256) -> Result<Value, RpcError>,
) -> Result<Value, RpcError> {
    let mut receipts = if number == 0 {
        Vec::new()
    } else {
        receipts_of(ctx, number)
    };
    check_held(ctx, number)?;
    let gas_used: u64 = receipts.iter().map(|r| r.gas_used).sum();
    // The time the block's transactions saw. Blocks without any (e.g. signatures) record
    // none: the latest reports the time a transaction sent now would see (clients derive
    // deadlines from it), older ones 0.
    let committed = ctx.ledger.committed().seqno;
    let timestamp = match receipts.first() {
        Some(r) => r.timestamp,
        None if number >= committed => super::now(),
        None => 0,
    };
    receipts.retain(|r| viewer.sees(ctx.tx, r));
    let mut txs = Vec::new();
    for r in &receipts {
        txs.push(if full {
            tx_json(ctx, &r.transaction_hash)?
        } else {
            json!(r.transaction_hash)
        });
    }
    let hash = hash_of(ctx, number);
    let parent = number
        .checked_sub(1)
        .and_then(|p| hash_of(ctx, p))
        .unwrap_or(B256::ZERO);
    Ok(json!({
        "number": quantity(number),
        "hash": hash,
        "parentHash": parent,
        "timestamp": quantity(timestamp),
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
        "logsBloom": crate::exec::bloom(receipts.iter().flat_map(|r| &r.logs)),
        "size": "0x0",
        "uncles": [],
        "transactions": txs,
    }))
}

/// Does `filter` (a filter's positional topic list) match `log`?
fn topics_match(filter: &[Option<Vec<B256>>], log: &[B256]) -> bool {
    filter.iter().enumerate().all(|(i, want)| match want {
        None => true,
        Some(alts) => log.get(i).is_some_and(|t| alts.contains(t)),
    })
}

/// A log filter's criteria: its addresses (any, if none) and positional topics.
pub(crate) type Criteria = (Vec<Address>, Vec<Option<Vec<B256>>>);

/// The criteria of the filter object `f` (`address`, `topics`).
pub(crate) fn criteria(f: &Value) -> Result<Criteria, RpcError> {
    Ok((addresses(f)?, topics(f)?))
}

fn addresses(f: &Value) -> Result<Vec<Address>, RpcError> {
    match f.get("address") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| serde_json::from_value(x.clone()))
            .collect::<Result<_, _>>()
            .map_err(|e| invalid_params(format!("address: {e}"))),
        Some(x) => Ok(vec![serde_json::from_value(x.clone())
            .map_err(|e| invalid_params(format!("address: {e}")))?]),
    }
}

fn topics(f: &Value) -> Result<Vec<Option<Vec<B256>>>, RpcError> {
    match f.get("topics") {
        None | Some(Value::Null) => Ok(Vec::new()),
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
            .map_err(|e| invalid_params(format!("topics: {e}"))),
        Some(_) => Err(invalid_params("topics must be an array")),
    }
}

/// Does log `l` meet criteria `c`?
pub(crate) fn matches(c: &Criteria, l: &crate::exec::LogRecord) -> bool {
    let (addresses, topics) = c;
    (addresses.is_empty() || addresses.contains(&l.address)) && topics_match(topics, &l.topics)
}

/// The logs of blocks `from..=to` that `wanted` picks, of the transactions `viewer` may
/// see, in block order: each with its block and its web3 JSON.
pub(crate) fn visible_logs(
    ctx: &mut Ctx<'_>,
    viewer: &Viewer,
    (from, to): (u64, u64),
    wanted: &dyn Fn(&crate::exec::LogRecord) -> bool,
) -> Vec<(u64, crate::exec::LogRecord, Value)> {
    let mut out = Vec::new();
    for n in from..=to {
        let receipts = receipts_of(ctx, n);
        if receipts.is_empty() {
            continue;
        }
        let hash = hash_of(ctx, n);
        for r in receipts {
            if !r.logs.iter().any(wanted) || !viewer.sees(ctx.tx, &r) {
                continue;
            }
            let rj = receipt_json(&r, n, hash);
            for (l, lj) in r
                .logs
                .iter()
                .zip(rj["logs"].as_array().into_iter().flatten())
            {
                if wanted(l) {
                    out.push((n, l.clone(), lj.clone()));
                }
            }
        }
    }
    out
}

/// `eth_getLogs`: committed blocks only, logs of the transactions `viewer` may see.
pub(crate) fn get_logs(
    ctx: &mut Ctx<'_>,
    index: &BlockIndex,
    viewer: &Viewer,
    f: &Value,
    committed: u64,
    known: u64,
) -> Result<Value, RpcError> {
    let (from, to) = if let Some(h) = f.get("blockHash").filter(|v| !v.is_null()) {
        let h: B256 = serde_json::from_value(h.clone())
            .map_err(|e| invalid_params(format!("blockHash: {e}")))?;
        let n = index
            .number_of(ctx, &h, committed, known)
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
    check_held(ctx, from)?;
    let c = criteria(f)?;
    let logs = visible_logs(ctx, viewer, (from, to), &|l| matches(&c, l));
    let out: Vec<Value> = logs.into_iter().map(|(_, _, j)| j).collect();
    Ok(Value::Array(out))
}

#[cfg(test)]
#[path = "blocks_test.rs"]
mod blocks_test;
