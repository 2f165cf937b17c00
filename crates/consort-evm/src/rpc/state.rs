//! State reads as the caller may make them: balances and nonces (the caller's own, public
//! ones, or all for auditors — others read as a fresh account), code and storage (refused
//! for private contracts), and calls (`eth_call`, `eth_estimateGas`) whose `from` is the
//! caller's own.

use alloy_primitives::{Address, Bytes as ABytes, B256, U256};
use consort_kv::Tx;
use serde_json::{json, Value};

use super::{call_request, evm_error, invalid_params, param, quantity, RpcError};
use crate::{
    bindings,
    db::KvDb,
    exec::{self, BlockCtx, CallRequest, Chain},
    visibility::{Refused, Viewer},
};

/// The error for a call whose `from` is another's.
pub(crate) const FROM_NOT_BOUND: &str = "from is not bound to the caller";

fn refused(e: Refused) -> RpcError {
    (-32000, e.to_string(), None)
}

/// `eth_getBalance`, `eth_getTransactionCount`, `eth_getCode`, `eth_getStorageAt` (the
/// block parameter already checked).
pub(crate) fn account_read(
    tx: &mut Tx,
    viewer: &Viewer,
    method: &str,
    params: &Value,
) -> Result<Value, RpcError> {
    let a: Address = param(params, 0)?;
    match method {
        "eth_getBalance" => Ok(if viewer.sees_account(tx, &a) {
            json!(KvDb { tx }.account(&a).balance)
        } else {
            json!(U256::ZERO)
        }),
        "eth_getTransactionCount" => Ok(if viewer.sees_account(tx, &a) {
            quantity(KvDb { tx }.account(&a).nonce)
        } else {
            quantity(0)
        }),
        "eth_getCode" => {
            viewer.may_read_code(tx, &a).map_err(refused)?;
            Ok(json!(ABytes::from(KvDb { tx }.code_at(&a))))
        }
        "eth_getStorageAt" => {
            let slot: U256 = param(params, 1)?;
            viewer.may_read_storage(tx, &a).map_err(refused)?;
            Ok(json!(B256::from(KvDb { tx }.slot(&a, &slot))))
        }
        other => Err(invalid_params(format!("not an account read: {other}"))),
    }
}

/// The `from` a call runs as: the one given if it is the caller's (any for auditors), else
/// the caller's first bound address (the zero address if it has none). A `from` of the
/// zero address, which no key holds and which tools such as `cast call` send when given
/// none, counts as missing.
pub(crate) fn call_from(
    tx: &mut Tx,
    viewer: &Viewer,
    from: Option<Address>,
) -> Result<Address, RpcError> {
    match from.filter(|f| !f.is_zero()) {
        Some(f) if viewer.auditor || viewer.owns(tx, &f) => Ok(f),
        Some(_) => Err((-32000, FROM_NOT_BOUND.into(), None)),
        None => Ok(viewer
            .identity
            .as_deref()
            .and_then(|id| bindings::addresses(tx, id).first().copied())
            .unwrap_or(Address::ZERO)),
    }
}

/// `eth_call`, or `eth_estimateGas`: the least gas limit that succeeds.
pub(crate) fn call_or_estimate(
    tx: &mut Tx,
    viewer: &Viewer,
    block: &BlockCtx<'_>,
    chain: &Chain,
    method: &str,
    params: &Value,
) -> Result<Value, RpcError> {
    let mut req = call_request(&params.get(0).cloned().unwrap_or(Value::Null))?;
    req.from = Some(call_from(tx, viewer, req.from)?);
    if method == "eth_createAccessList" {
        return access_list(tx, viewer, block, &req);
    }
    let r = exec::call(tx, block, &req, viewer).map_err(evm_error)?;
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
        exec::call(tx, block, &q, viewer).is_ok_and(|r| r.success)
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

/// `eth_createAccessList`: shown if the caller may read the code of every contract in it
/// (the slots a private contract's code touches are its layout).
fn access_list(
    tx: &mut Tx,
    viewer: &Viewer,
    block: &BlockCtx<'_>,
    req: &CallRequest,
) -> Result<Value, RpcError> {
    let r = crate::trace::access_list(tx, block, req, viewer).map_err(evm_error)?;
    for item in r.access_list.iter() {
        viewer.may_read_code(tx, &item.address).map_err(refused)?;
    }
    let mut out = json!({"accessList": r.access_list, "gasUsed": quantity(r.gas_used)});
    if let Some(e) = r.error {
        out["error"] = json!(e);
    }
    Ok(out)
}
