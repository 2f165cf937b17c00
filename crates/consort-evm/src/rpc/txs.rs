//! Transactions and receipts as the caller may see them: `eth_getTransactionByHash`,
//! `eth_getTransactionReceipt`, and the ledger receipt upgrade `GET /app/eth/receipt`. A
//! transaction the caller may not see answers exactly as an unknown hash does.

use alloy_primitives::{Address, B256};
use consort_endpoints::{ApiError, Ctx, Response};
use serde_json::{json, Value};

use super::{blocks, evm_error, quantity, RpcError};
use crate::{
    exec::{self, LogRecord, Receipt, RECEIPTS, TRANSACTIONS},
    visibility::Viewer,
};

/// The receipt stored for `h`, if `viewer` may see its transaction (committed or not).
fn visible_receipt(ctx: &mut Ctx<'_>, viewer: &Viewer, h: &B256) -> Option<Receipt> {
    let Some(raw) = ctx.tx.get(RECEIPTS, h.as_slice()) else {
        decoy(ctx, viewer);
        return None;
    };
    let r: Receipt = serde_json::from_slice(&raw).ok()?;
    viewer.sees(ctx.tx, &r).then_some(r)
}

/// The work of refusing a hidden receipt, spent on a missing one too, so that the time of
/// a "not found" does not tell a hidden transaction from an unknown hash: an ERC-20
/// `Transfer`-shaped receipt between unbound addresses, decoded and checked as a stored one.
fn decoy(ctx: &mut Ctx<'_>, viewer: &Viewer) {
    static DECOY: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        let party = |b| B256::left_padding_from(&[b; 20]);
        let r = Receipt {
            transaction_hash: B256::repeat_byte(0xde),
            index: 0,
            first_log_index: 0,
            cumulative_gas_used: 51_000,
            timestamp: 1_700_000_000,
            from: Address::repeat_byte(0xd1),
            to: Some(Address::repeat_byte(0xd2)),
            contract_address: None,
            status: true,
            gas_used: 51_000,
            effective_gas_price: 1,
            tx_type: 2,
            logs: vec![LogRecord {
                address: Address::repeat_byte(0xd2),
                topics: vec![B256::repeat_byte(0xdd), party(0xd1), party(0xd3)],
                data: B256::repeat_byte(0x01).0.to_vec().into(),
            }],
            output: Default::default(),
        };
        crate::receipt::claim(&r).into_bytes()
    });
    if let Ok(r) = serde_json::from_slice::<Receipt>(&DECOY) {
        std::hint::black_box(viewer.sees(ctx.tx, &r));
    }
}

/// The receipt stored for `h` and its block (seqno), if committed and visible to `viewer`.
pub(crate) fn committed_receipt(
    ctx: &mut Ctx<'_>,
    viewer: &Viewer,
    h: &B256,
    committed: u64,
) -> Option<(Receipt, u64)> {
    let Some(number) = ctx.tx.get_version(RECEIPTS, h.as_slice()) else {
        decoy(ctx, viewer);
        return None;
    };
    // Receipts are final: none until the transaction is committed.
    (number <= committed).then_some(())?;
    Some((visible_receipt(ctx, viewer, h)?, number))
}

/// `eth_getTransactionReceipt`.
pub(crate) fn receipt(ctx: &mut Ctx<'_>, viewer: &Viewer, h: &B256) -> Value {
    let committed = ctx.ledger.committed().seqno;
    match committed_receipt(ctx, viewer, h, committed) {
        Some((r, n)) => blocks::receipt_json(&r, n, blocks::hash_of(ctx, n)),
        None => Value::Null,
    }
}

/// `eth_getTransactionByHash`: `null` for an unknown or hidden transaction.
pub(crate) fn transaction_json(
    ctx: &mut Ctx<'_>,
    viewer: &Viewer,
    h: &B256,
) -> Result<Value, RpcError> {
    let Some(receipt) = visible_receipt(ctx, viewer, h) else {
        return Ok(Value::Null);
    };
    let Some(raw) = ctx.tx.get(TRANSACTIONS, h.as_slice()) else {
        return Ok(Value::Null);
    };
    // Block fields only once the transaction is committed (before, its block may change).
    let committed = ctx.ledger.committed().seqno;
    let number = ctx
        .tx
        .get_version(TRANSACTIONS, h.as_slice())
        .filter(|n| *n <= committed);
    let (env, from) = exec::decode(&raw).map_err(evm_error)?;
    let index = number.map(|_| receipt.index);
    Ok(envelope_json(ctx, &env, from, h, number, index))
}

/// A transaction as `eth_getTransactionByHash` shows it; `number` and `index`: its block
/// and position once committed (`None`: pending).
pub(crate) fn envelope_json(
    ctx: &mut Ctx<'_>,
    env: &alloy_consensus::TxEnvelope,
    from: alloy_primitives::Address,
    h: &B256,
    number: Option<u64>,
    index: Option<u64>,
) -> Value {
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
        "transactionIndex": index.map(quantity),
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
    j
}

/// `GET /app/eth/receipt?hash=`: the Consort receipt of the block holding the Ethereum
/// transaction, the block's claims (the digest of each of its Ethereum receipts; their
/// SHA-256 is the leaf's claims digest) and this transaction's claim (its receipt, whose
/// digest is among them) — everything needed to check offline that the transaction and its
/// logs are in the signed ledger, and nothing about the block's other transactions.
pub(crate) fn consort_receipt(ctx: &mut Ctx<'_>) -> Result<Response, ApiError> {
    let h: String = ctx.req.query_param("hash")?;
    let h: B256 = h
        .parse()
        .map_err(|_| ApiError::invalid_query("hash must be a 0x-prefixed 32-byte hex string"))?;
    let committed = ctx.ledger.committed().seqno;
    let viewer = Viewer::of(ctx.tx, &ctx.req.caller);
    let Some((r, n)) = committed_receipt(ctx, &viewer, &h, committed) else {
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
        "claim": exec::claim(&r),
        "ethereum_receipt": blocks::receipt_json(&r, n, blocks::hash_of(ctx, n)),
    })))
}
