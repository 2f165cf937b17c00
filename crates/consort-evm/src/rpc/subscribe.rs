//! `eth_subscribe` over the WebSocket endpoint `/app/eth/ws` (same authentication as
//! `/app/eth`): `newHeads`, `logs` (with `address`/`topics`), `newPendingTransactions`
//! (accepted; Consort has no public mempool, so it never fires), and `eth_unsubscribe`.
//! Every other message runs as a JSON-RPC request to `/app/eth`; `eth_sendRawTransaction` is
//! answered once its transaction is committed.
//!
//! Events are pushed for committed blocks only, in block order, as the commit point moves;
//! logs pass the caller's visibility as `eth_getLogs` does. A caller holds at most
//! [`PER_CALLER`] connections and each at most [`PER_CONNECTION`] subscriptions; one push
//! covers at most [`STEP`] blocks (the node drops a reader that falls behind).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use consort_endpoints::{
    socket::{Inbound, Session, SocketApp},
    ApiError, Ctx,
};
use serde_json::{json, Value};

use super::{blocks, chain_of, filters::new_id, Eth, RpcError};
use crate::visibility::Viewer;

/// Most WebSocket connections one caller holds at once.
pub(crate) const PER_CALLER: usize = 16;
/// Most subscriptions on one connection.
pub(crate) const PER_CONNECTION: usize = 32;
/// Most blocks one push covers.
pub(crate) const STEP: u64 = 256;

/// The socket endpoint: sessions, counted per caller.
pub(crate) struct Sockets {
    pub(crate) eth: Arc<Eth>,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl Sockets {
    pub(crate) fn new(eth: Arc<Eth>) -> Sockets {
        Sockets {
            eth,
            open: Arc::default(),
        }
    }
}

#[derive(Debug, Clone)]
enum Sub {
    Heads,
    Logs(blocks::Criteria),
    Pending,
}

struct EthSession {
    eth: Arc<Eth>,
    owner: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
    /// Each subscription and the first block it reports (the one after the commit point
    /// when it was made).
    subs: BTreeMap<String, (Sub, u64)>,
    /// The first block not pushed yet.
    next: u64,
    /// The latest state a request of this connection was answered from (on the primary,
    /// maybe ahead of this node): what the client may have seen.
    seen: u64,
}

impl Drop for EthSession {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("socket count lock");
        if let Some(n) = open.get_mut(&self.owner) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.owner);
            }
        }
    }
}

impl SocketApp for Sockets {
    fn open(&self, ctx: &mut Ctx<'_>) -> Result<Box<dyn Session>, ApiError> {
        let viewer = Viewer::of(ctx.tx, &ctx.req.caller);
        let owner = viewer.identity.clone().unwrap_or_default();
        let mut open = self.open.lock().expect("socket count lock");
        let n = open.entry(owner.clone()).or_default();
        if *n >= PER_CALLER {
            return Err(ApiError::new(
                http::StatusCode::TOO_MANY_REQUESTS,
                "TooManyConnections",
                format!("A caller may hold at most {PER_CALLER} WebSocket connections."),
            ));
        }
        *n += 1;
        Ok(Box::new(EthSession {
            eth: self.eth.clone(),
            owner,
            open: self.open.clone(),
            subs: BTreeMap::new(),
            next: ctx.ledger.committed().seqno + 1,
            seen: 0,
        }))
    }

    fn request_path(&self) -> &str {
        "/app/eth"
    }
}

fn answer(id: &Value, r: Result<Value, RpcError>) -> String {
    match r {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err((code, message, _)) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        }
    }
    .to_string()
}

impl EthSession {
    fn subscribe(&mut self, ctx: &Ctx<'_>, params: &Value) -> Result<Value, RpcError> {
        if self.subs.len() >= PER_CONNECTION {
            return Err((
                -32005,
                format!("at most {PER_CONNECTION} subscriptions per connection"),
                None,
            ));
        }
        let sub = match params.get(0).and_then(Value::as_str) {
            Some("newHeads") => Sub::Heads,
            Some("newPendingTransactions") => Sub::Pending,
            Some("logs") => {
                let f = params.get(1).cloned().unwrap_or(json!({}));
                Sub::Logs(blocks::criteria(&f)?)
            }
            other => {
                return Err((
                    -32602,
                    format!(
                    "unsupported subscription {other:?}: newHeads, logs or newPendingTransactions"
                ),
                    None,
                ))
            }
        };
        let id = new_id();
        let start = ctx.ledger.committed().seqno.max(self.seen) + 1;
        if self.subs.is_empty() {
            self.next = start;
        }
        self.subs.insert(id.clone(), (sub, start));
        Ok(json!(id))
    }
}

/// Block `n`'s header as `newHeads` shows it (the block without its body).
fn head(ctx: &mut Ctx<'_>, viewer: &Viewer, chain: &crate::exec::Chain, n: u64) -> Option<Value> {
    let none = |_: &mut Ctx<'_>, _: &alloy_primitives::B256| Ok(Value::Null);
    let mut h = blocks::block_json(ctx, viewer, chain, (n, false), &none).ok()?;
    if let Some(o) = h.as_object_mut() {
        for k in ["transactions", "uncles", "size", "totalDifficulty"] {
            o.remove(k);
        }
    }
    Some(h)
}

impl Session for EthSession {
    fn on_message(&mut self, ctx: &mut Ctx<'_>, text: &str) -> Inbound {
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            return Inbound::AsRequest {
                until_committed: false,
            };
        };
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let params = req.get("params").cloned().unwrap_or(json!([]));
        match req.get("method").and_then(Value::as_str) {
            Some("eth_subscribe") => Inbound::Reply(answer(&id, self.subscribe(ctx, &params))),
            Some("eth_unsubscribe") => {
                let gone = params
                    .get(0)
                    .and_then(Value::as_str)
                    .is_some_and(|s| self.subs.remove(s).is_some());
                Inbound::Reply(answer(&id, Ok(json!(gone))))
            }
            // A transaction sent over the socket is answered once it is committed, as
            // anvil answers once it is mined: a client that then waits for its receipt
            // finds it at once (ethers' wait() would otherwise wait for a later block,
            // which an idle network does not make).
            Some("eth_sendRawTransaction") => Inbound::AsRequest {
                until_committed: true,
            },
            _ => Inbound::AsRequest {
                until_committed: false,
            },
        }
    }

    fn answered_at(&mut self, seqno: u64) {
        self.seen = self.seen.max(seqno);
    }

    fn on_commit(&mut self, ctx: &mut Ctx<'_>, committed: u64) -> (Vec<String>, bool) {
        // Never past the state `ctx` reads (events for later blocks come with a later call).
        let committed = committed.min(ctx.tx.read_version());
        if self.next > committed {
            return (Vec::new(), false);
        }
        let to = committed.min(self.next + STEP - 1);
        let from = std::mem::replace(&mut self.next, to + 1);
        let mut out = Vec::new();
        if self.subs.values().all(|(s, _)| matches!(s, Sub::Pending)) {
            return (out, to < committed);
        }
        let viewer = Viewer::of(ctx.tx, &ctx.req.caller);
        let chain = chain_of(ctx, &self.eth);
        let push = |out: &mut Vec<String>, id: &str, result: Value| {
            out.push(
                json!({"jsonrpc": "2.0", "method": "eth_subscription",
                       "params": {"subscription": id, "result": result}})
                .to_string(),
            );
        };
        // Each block's head and the range's logs are read once, whatever the number of
        // subscriptions that report them.
        let heads: Vec<Option<Value>> = if self.subs.values().any(|(s, _)| matches!(s, Sub::Heads))
        {
            (from..=to).map(|n| head(ctx, &viewer, &chain, n)).collect()
        } else {
            Vec::new()
        };
        let criteria: Vec<&blocks::Criteria> = self
            .subs
            .values()
            .filter_map(|(s, _)| match s {
                Sub::Logs(c) => Some(c),
                _ => None,
            })
            .collect();
        let logs = if criteria.is_empty() {
            Vec::new()
        } else {
            blocks::visible_logs(ctx, &viewer, (from, to), &|l| {
                criteria.iter().any(|c| blocks::matches(c, l))
            })
        };
        for (id, (sub, start)) in &self.subs {
            let first = from.max(*start);
            match sub {
                Sub::Pending => {}
                Sub::Heads => {
                    for h in heads.iter().skip((first - from) as usize).flatten() {
                        push(&mut out, id, h.clone());
                    }
                }
                Sub::Logs(c) => {
                    for (_, _, l) in logs
                        .iter()
                        .filter(|(n, l, _)| *n >= first && blocks::matches(c, l))
                    {
                        push(&mut out, id, l.clone());
                    }
                }
            }
        }
        (out, to < committed)
    }
}
