//! Polled filters, as geth keeps them: `eth_newFilter`, `eth_newBlockFilter`,
//! `eth_newPendingTransactionFilter`, `eth_getFilterChanges`, `eth_getFilterLogs`,
//! `eth_uninstallFilter`.
//!
//! A filter lives in the memory of the node that made it (JSON-RPC requests go to the
//! primary) and belongs to its caller: another caller's id answers as an unknown one. It
//! expires after [`IDLE`] without a poll; a caller holds at most [`PER_CALLER`], the node
//! at most [`TOTAL`]. Changes cover committed blocks only, at most [`MAX_STEP`] blocks per
//! poll, and logs pass the same visibility check as `eth_getLogs`.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use alloy_primitives::B256;
use consort_endpoints::Ctx;
use serde_json::{json, Value};

use super::{blocks, invalid_params, param, quantity, RpcError};
use crate::visibility::Viewer;

/// A filter not polled for this long is removed (geth: 5 minutes).
pub(crate) const IDLE: Duration = Duration::from_secs(300);
/// Most filters one caller holds.
pub(crate) const PER_CALLER: usize = 64;
/// Most filters a node holds.
pub(crate) const TOTAL: usize = 10_000;
/// Most blocks one poll covers (the next poll continues).
pub(crate) const MAX_STEP: u64 = 10_000;

#[derive(Debug, Clone)]
enum Kind {
    /// The criteria as given (`address`, `topics`, `fromBlock`, `toBlock`).
    Logs(Value),
    Blocks,
    Pending,
}

#[derive(Debug)]
struct Filter {
    owner: String,
    kind: Kind,
    /// The first block the next `eth_getFilterChanges` reports.
    next: u64,
    used: Instant,
}

/// This node's filters.
#[derive(Debug, Default)]
pub(crate) struct Filters {
    inner: Mutex<HashMap<String, Filter>>,
}

fn not_found() -> RpcError {
    (-32000, "filter not found".into(), None)
}

/// Who a filter belongs to (callers without an identity share one owner).
fn owner(viewer: &Viewer) -> String {
    viewer.identity.clone().unwrap_or_default()
}

/// A fresh random id (filters, subscriptions).
pub(crate) fn new_id() -> String {
    let mut b = [0u8; 16];
    consort_crypto::random_bytes(&mut b).expect("system randomness");
    format!("0x{}", hex::encode(b))
}

impl Filters {
    fn create(&self, viewer: &Viewer, kind: Kind, next: u64) -> Result<Value, RpcError> {
        let mut g = self.inner.lock().expect("filters lock poisoned");
        let now = Instant::now();
        g.retain(|_, f| now.duration_since(f.used) < IDLE);
        let me = owner(viewer);
        if g.values().filter(|f| f.owner == me).count() >= PER_CALLER {
            return Err((
                -32000,
                format!("at most {PER_CALLER} filters per caller: uninstall some"),
                None,
            ));
        }
        if g.len() >= TOTAL {
            return Err((-32000, "too many filters on this node".into(), None));
        }
        let id = new_id();
        g.insert(
            id.clone(),
            Filter {
                owner: me,
                kind,
                next,
                used: now,
            },
        );
        Ok(json!(id))
    }

    /// Take the caller's filter `id` for a poll: its kind and the block range `[next, to]`
    /// it has not reported (empty when nothing is new), which the filter then moves past.
    fn advance(
        &self,
        viewer: &Viewer,
        id: &str,
        committed: u64,
    ) -> Result<(Kind, u64, u64), RpcError> {
        let mut g = self.inner.lock().expect("filters lock poisoned");
        let f = g
            .get_mut(id)
            .filter(|f| f.owner == owner(viewer) && f.used.elapsed() < IDLE)
            .ok_or_else(not_found)?;
        f.used = Instant::now();
        let from = f.next;
        let to = committed.min(from.saturating_add(MAX_STEP - 1));
        if to >= from {
            f.next = to + 1;
        }
        Ok((f.kind.clone(), from, to))
    }

    /// Handle one filter method.
    pub(crate) fn dispatch(
        &self,
        ctx: &mut Ctx<'_>,
        index: &blocks::BlockIndex,
        viewer: &Viewer,
        method: &str,
        params: &Value,
    ) -> Result<Value, RpcError> {
        // Never past the state this request reads: the commit point may move on while it
        // runs, and a poll that reported blocks it could not see would skip their logs.
        let committed = ctx.ledger.committed().seqno.min(ctx.tx.read_version());
        let known = ctx.ledger.last_txid().seqno;
        match method {
            "eth_newFilter" => {
                let c = params.get(0).cloned().unwrap_or(json!({}));
                if !c.is_object() {
                    return Err(invalid_params("the filter must be an object"));
                }
                // Check the criteria now, as geth does.
                blocks::criteria(&c)?;
                if c.get("blockHash").is_some_and(|h| !h.is_null()) {
                    return Err(invalid_params(
                        "filters take fromBlock/toBlock, not blockHash",
                    ));
                }
                let from = blocks::block_number(c.get("fromBlock"), committed, known)?
                    .map_or(committed + 1, |n| n.max(committed + 1));
                self.create(viewer, Kind::Logs(c), from)
            }
            "eth_newBlockFilter" => self.create(viewer, Kind::Blocks, committed + 1),
            "eth_newPendingTransactionFilter" => self.create(viewer, Kind::Pending, committed + 1),
            "eth_uninstallFilter" => {
                let id: String = param(params, 0)?;
                let mut g = self.inner.lock().expect("filters lock poisoned");
                let mine = g.get(&id).is_some_and(|f| f.owner == owner(viewer));
                if mine {
                    g.remove(&id);
                }
                Ok(json!(mine))
            }
            "eth_getFilterChanges" => {
                let id: String = param(params, 0)?;
                let (kind, from, to) = self.advance(viewer, &id, committed)?;
                let mut c = match kind {
                    _ if to < from => return Ok(json!([])),
                    Kind::Pending => return Ok(json!([])),
                    Kind::Blocks => {
                        let hashes = ctx.ledger.leaves(from, to).into_iter().flatten();
                        return Ok(hashes.map(|l| json!(B256::from(l.0))).collect());
                    }
                    Kind::Logs(c) => c,
                };
                let until =
                    blocks::block_number(c.get("toBlock"), committed, known)?.unwrap_or(committed);
                if until < from {
                    return Ok(json!([]));
                }
                c["fromBlock"] = quantity(from);
                c["toBlock"] = quantity(to.min(until));
                blocks::get_logs(ctx, index, viewer, &c, committed, known)
            }
            "eth_getFilterLogs" => {
                let id: String = param(params, 0)?;
                let g = self.inner.lock().expect("filters lock poisoned");
                let c = match g.get(&id) {
                    Some(f) if f.owner == owner(viewer) => match &f.kind {
                        Kind::Logs(c) => c.clone(),
                        _ => return Err(invalid_params("not a log filter")),
                    },
                    _ => return Err(not_found()),
                };
                drop(g);
                blocks::get_logs(ctx, index, viewer, &c, committed, known)
            }
            other => Err(invalid_params(format!("not a filter method: {other}"))),
        }
    }
}

#[cfg(test)]
#[path = "filters_test.rs"]
pub(crate) mod filters_test;
