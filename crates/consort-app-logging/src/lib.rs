//! CCF's logging sample, the standard workload: records by integer id in a private map
//! (`records`, encrypted in the ledger) and a public one (`public:records`).
//!
//! Keys are big-endian u64, so the maps are ordered by id and `GET …/range` pages through
//! them (CCF's maps are unordered).

use bytes::Bytes;
use consort_kv::{TxId, Version};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use consort_endpoints::{
    receipts::receipt_in,
    ApiError,
    AuthPolicy::{self, *},
    Ctx,
    Mode::*,
    Registry, Response,
};

const PRIVATE: &str = "records";
/// Who may use the app: users by certificate, COSE-signed request, or JWT.
const USERS: &[AuthPolicy] = &[UserCert, UserCose, Jwt];
const PUBLIC: &str = "public:records";
/// Most records one `/range` page returns.
const MAX_PAGE: usize = 1000;
/// Longest message accepted.
pub const MAX_MSG_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogEntry {
    id: u64,
    msg: String,
}

fn key(id: u64) -> Bytes {
    Bytes::copy_from_slice(&id.to_be_bytes())
}

fn decode_msg(v: &[u8]) -> Result<String, ApiError> {
    serde_json::from_slice(v).map_err(|_| ApiError::internal("stored record is not a JSON string"))
}

fn historical(
    ctx: &Ctx<'_>,
    map: &str,
    id: u64,
    seqno: Version,
) -> Result<(TxId, String), ApiError> {
    let j = ctx.ledger;
    let view = j.view_of(seqno).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "TransactionPendingOrUnknown",
            format!("No transaction at seqno {seqno}."),
        )
    })?;
    let txid = TxId::new(view, seqno);
    if seqno > j.committed().seqno {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "TransactionPendingOrUnknown",
            format!("Transaction {txid} is not committed yet."),
        ));
    }
    let entry = j
        .entry(seqno)
        .map_err(|e| ApiError::internal(format!("cannot read the ledger at {seqno}: {e}")))?;
    match entry.write_set.get(map).and_then(|w| w.get(&key(id)[..])) {
        Some(Some(v)) => Ok((txid, decode_msg(v)?)),
        Some(None) => Err(ApiError::not_found(format!(
            "Record {id} was deleted at {txid}."
        ))),
        None => Err(ApiError::not_found(format!(
            "Transaction {txid} did not write record {id}."
        ))),
    }
}

fn write(ctx: &mut Ctx<'_>, map: &'static str) -> Result<Response, ApiError> {
    let e: LogEntry = ctx.req.json()?;
    if e.msg.len() > MAX_MSG_BYTES {
        return Err(ApiError::invalid_input(format!(
            "msg is longer than {MAX_MSG_BYTES} bytes"
        )));
    }
    ctx.tx
        .put(map, key(e.id), serde_json::to_vec(&e.msg).expect("json"));
    Ok(Response::json(&true))
}

fn read(ctx: &mut Ctx<'_>, map: &'static str) -> Result<Response, ApiError> {
    let id: u64 = ctx.req.query_param("id")?;
    match ctx.tx.get(map, &key(id)) {
        Some(v) => Ok(Response::json(&json!({"msg": decode_msg(&v)?}))),
        None => Err(ApiError::not_found(format!("No such record: {id}."))),
    }
}

fn delete(ctx: &mut Ctx<'_>, map: &'static str) -> Result<Response, ApiError> {
    let id: u64 = ctx.req.query_param("id")?;
    let existed = ctx.tx.remove(map, key(id));
    Ok(Response::json(&existed))
}

fn range(ctx: &mut Ctx<'_>, map: &'static str) -> Result<Response, ApiError> {
    let from: u64 = ctx.req.query_opt("from")?.unwrap_or(0);
    let to: Option<u64> = ctx.req.query_opt("to")?;
    let limit: usize = ctx.req.query_opt::<usize>("limit")?.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_query(format!(
            "limit must be from 1 to {MAX_PAGE}, not {limit}"
        )));
    }
    let start = std::ops::Bound::Included(key(from));
    let end = to.map_or(std::ops::Bound::Unbounded, |t| {
        std::ops::Bound::Excluded(key(t))
    });
    let (lo, hi) = (start.as_ref().map(|b| &b[..]), end.as_ref().map(|b| &b[..]));
    // One more than the page, to name where the next one starts: the cost is the page's,
    // however many keys follow.
    let (rows, _) = ctx.tx.range_page(map, &(lo, hi), limit + 1);
    let mut out = Vec::new();
    let mut next = None;
    for (k, v) in rows {
        let id = u64::from_be_bytes(
            k[..]
                .try_into()
                .map_err(|_| ApiError::internal("bad key"))?,
        );
        if out.len() == limit {
            next = Some(id);
            break;
        }
        out.push(json!({"id": id, "msg": decode_msg(&v)?}));
    }
    Ok(Response::json(&json!({"records": out, "next": next})))
}

fn read_historical(ctx: &mut Ctx<'_>, map: &'static str) -> Result<Response, ApiError> {
    let id: u64 = ctx.req.query_param("id")?;
    let seqno: u64 = ctx.req.query_param("seqno")?;
    let (txid, msg) = historical(ctx, map, id, seqno)?;
    Ok(Response::json(
        &json!({"msg": msg, "transaction_id": txid.to_string()}),
    ))
}

fn read_historical_receipt(ctx: &mut Ctx<'_>, map: &'static str) -> Result<Response, ApiError> {
    let id: u64 = ctx.req.query_param("id")?;
    let seqno: u64 = ctx.req.query_param("seqno")?;
    let (txid, msg) = historical(ctx, map, id, seqno)?;
    let receipt = receipt_in(ctx.tx, ctx.ledger, txid)?;
    Ok(Response::json(
        &json!({"msg": msg, "transaction_id": txid.to_string(), "receipt": receipt}),
    ))
}

type MapHandler = fn(&mut Ctx<'_>, &'static str) -> Result<Response, ApiError>;

/// The app's endpoints under `/app/log/{scope}`: (method, suffix, mode, summary, handler).
type Route = (
    Method,
    &'static str,
    consort_endpoints::Mode,
    &'static str,
    MapHandler,
);

const ENDPOINTS: &[Route] = &[
    (Method::POST, "", ReadWrite, "Write a record", write),
    (Method::GET, "", ReadOnly, "Read a record", read),
    (Method::DELETE, "", ReadWrite, "Delete a record", delete),
    (
        Method::GET,
        "/range",
        ReadOnly,
        "Records with ids in [from, to), in order, at most `limit` (default 100) per page",
        range,
    ),
    (
        Method::GET,
        "/historical",
        ReadOnly,
        "The record as written by the transaction at `seqno` (from the ledger)",
        read_historical,
    ),
    (
        Method::GET,
        "/historical_receipt",
        ReadOnly,
        "The record written at `seqno` with the receipt of that transaction",
        read_historical_receipt,
    ),
];

/// Register the logging app's endpoints.
pub fn register(r: &mut Registry) {
    for (scope, map) in [("private", PRIVATE), ("public", PUBLIC)] {
        for (method, suffix, mode, summary, handler) in ENDPOINTS {
            let handler = *handler;
            r.add(
                method.clone(),
                &format!("/app/log/{scope}{suffix}"),
                *mode,
                USERS,
                summary,
                move |ctx| handler(ctx, map),
            );
        }
    }
}

#[cfg(test)]
#[path = "lib_test.rs"]
mod lib_test;
