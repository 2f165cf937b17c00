//! Snapshots and ledger chunks served to the service's other nodes over the node's HTTPS
//! interface, at CCF's paths: a joiner (or a node behind) fetches the latest committed
//! snapshot, then the ledger after it, without an operator copying files.
//!
//! - `GET|HEAD /node/snapshot[?since=N]`: 308 to `/node/snapshot/{name}`, the newest
//!   committed snapshot of this node whose seqno is above `since` (404 if none).
//! - `GET|HEAD /node/snapshot/{name}`, `GET|HEAD /node/ledger-chunk/{name}`: the committed
//!   file. HEAD gives its size (`content-length`, `accept-ranges: bytes`); GET without a
//!   `Range` gives it whole (200), with `Range: bytes=a-b`, `a-` or `-n` the bytes asked
//!   for (206, `content-range`; RFC 9110, end inclusive); one range per request.
//! - `GET /node/ledger-chunk?since=S`: 308 to the committed chunk that holds seqno `S`: on
//!   this node if it has it, else on another trusted node (one that joined from a snapshot
//!   has no chunks before it); 404 if no chunk holding `S` is committed yet.
//!
//! Only trusted nodes may fetch (`AuthPolicy::NodeCert`: the TLS client certificate's key
//! is a trusted node's). Only files with a committed name are served, and names are parsed
//! strictly (no path can be named). The fetcher verifies what it gets (the snapshot's
//! receipt, the chunk's entries and signatures) before using it.

use std::{
    io::{Read, Seek, SeekFrom},
    path::PathBuf,
    sync::Arc,
};

use consort_endpoints::{ApiError, AuthPolicy::NodeCert, Ctx, Mode, Registry, Response};
use consort_ledger::chunk::ChunkName;
use http::{Method, StatusCode};

use crate::lifecycle::snapshots::latest_snapshot_after;
pub use crate::lifecycle::snapshots::snapshot_seqno;

/// What the file endpoints read: this node's snapshot and ledger directories.
#[derive(Debug)]
pub struct FileService {
    pub(crate) snapshot_dir: PathBuf,
    pub(crate) ledger_dir: PathBuf,
    /// This node's id (a chunk it lacks is looked for on the next trusted node).
    pub(crate) node_id: String,
}

fn redirect(location: String) -> Response {
    let mut r = Response::text(StatusCode::PERMANENT_REDIRECT, "text/plain", Vec::new());
    r.headers.push((http::header::LOCATION, location));
    r
}

fn since(ctx: &Ctx<'_>, required: bool) -> Result<u64, ApiError> {
    match ctx.req.query.get("since") {
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_request(
                "InvalidQueryParameterValue",
                format!("since must be a seqno, not {v:?}"),
            )
        }),
        None if required => Err(ApiError::bad_request(
            "MissingQueryParameter",
            "Missing required query parameter 'since'.",
        )),
        None => Ok(0),
    }
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn snapshot_redirect(ctx: &mut Ctx<'_>, svc: &FileService) -> Result<Response, ApiError> {
    let since = since(ctx, false)?;
    match latest_snapshot_after(&svc.snapshot_dir, since) {
        Some((name, _)) => Ok(redirect(format!("/node/snapshot/{name}"))),
        None => Err(ApiError::not_found(format!(
            "This node has no committed snapshot after seqno {since}."
        ))),
    }
}

/// The committed chunk holding `seqno` on this node, else a trusted node that may have it.
fn chunk_for(ctx: &mut Ctx<'_>, svc: &FileService) -> Result<Response, ApiError> {
    let s = since(ctx, true)?;
    let all: Vec<ChunkName> = names_in(&svc.ledger_dir)
        .iter()
        .filter_map(|n| ChunkName::parse(n))
        .collect();
    let chunks: Vec<&ChunkName> = all.iter().filter(|c| c.committed).collect();
    if let Some(c) = chunks
        .iter()
        .find(|c| c.start <= s && c.end.is_some_and(|e| s <= e))
    {
        return Ok(redirect(format!("/node/ledger-chunk/{}", c.file_name())));
    }
    // This node's ledger holds `s` (or will): it is only not in a committed chunk yet.
    let first = all.iter().map(|c| c.start).min();
    if first.is_some_and(|f| s >= f) {
        let last = chunks.iter().filter_map(|c| c.end).max().unwrap_or(0);
        return Err(ApiError::not_found(format!(
            "No committed ledger chunk holds seqno {s} (this node's committed chunks end at {last})."
        )));
    }
    // Before this node's first chunk (it joined from a snapshot): the next trusted node.
    match next_trusted(ctx, &svc.node_id)? {
        Some(addr) => Ok(redirect(format!(
            "https://{addr}/node/ledger-chunk?since={s}"
        ))),
        None => Err(ApiError::not_found(format!(
            "No node of this service is known to hold seqno {s}."
        ))),
    }
}

/// The published client address of the trusted node after `me` (by id, wrapping).
fn next_trusted(ctx: &mut Ctx<'_>, me: &str) -> Result<Option<String>, ApiError> {
    use consort_service::nodes::{self, NodeStatus};
    let corrupt = |e: consort_kv::KvError| ApiError::internal(format!("nodes table: {e}"));
    let ids = nodes::with_status(ctx.tx, NodeStatus::Trusted).map_err(corrupt)?;
    let pos = ids.iter().position(|i| i.as_str() > me).unwrap_or(0);
    for id in ids[pos..].iter().chain(&ids[..pos]) {
        if id == me {
            continue;
        }
        let info = nodes::INFO.get(ctx.tx, id).map_err(corrupt)?;
        if let Some(a) = info.as_ref().and_then(nodes::NodeInfo::rpc_address) {
            return Ok(Some(a.to_string()));
        }
    }
    Ok(None)
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` of a `len`-byte file: the first and last byte
/// (inclusive). `None`: no `Range` header.
pub fn parse_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(h) = header else { return Ok(None) };
    let bad = |m: &str| ApiError::bad_request("InvalidHeaderValue", format!("Range {h:?}: {m}"));
    let spec = h
        .strip_prefix("bytes=")
        .ok_or_else(|| bad("only byte ranges are supported"))?;
    if spec.contains(',') {
        return Err(bad("multiple ranges are not supported"));
    }
    let (a, b) = spec
        .split_once('-')
        .ok_or_else(|| bad("expected first-last"))?;
    let num = |s: &str| -> Result<u64, ApiError> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("not a number"));
        }
        s.parse().map_err(|_| bad("not a number"))
    };
    let unsatisfiable = || {
        ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidHeaderValue",
            format!("Range {h:?} is outside the file's {len} bytes."),
        )
    };
    let (first, last) = match (a.is_empty(), b.is_empty()) {
        (true, true) => return Err(bad("expected first-last")),
        (true, false) => {
            let n = num(b)?;
            if n == 0 || len == 0 {
                return Err(unsatisfiable());
            }
            (len.saturating_sub(n), len - 1)
        }
        (false, true) => (num(a)?, len.saturating_sub(1)),
        (false, false) => {
            let (f, l) = (num(a)?, num(b)?);
            if l < f {
                return Err(bad("last byte before first"));
            }
            (f, l.min(len.saturating_sub(1)))
        }
    };
    if first >= len {
        return Err(unsatisfiable());
    }
    Ok(Some((first, last)))
}

/// Serve `dir/name` (already checked to be a committed file's name) for GET or HEAD.
fn serve(ctx: &Ctx<'_>, dir: &std::path::Path, name: &str) -> Result<Response, ApiError> {
    let path = dir.join(name);
    let gone = || ApiError::not_found(format!("This node has no file named {name}."));
    let mut f = std::fs::File::open(&path).map_err(|_| gone())?;
    let len = f
        .metadata()
        .map_err(|e| ApiError::internal(format!("cannot read {name}: {e}")))?
        .len();
    let io = |e: std::io::Error| ApiError::internal(format!("cannot read {name}: {e}"));
    let mut headers = vec![(http::header::ACCEPT_RANGES, "bytes".to_string())];
    if ctx.req.method == Method::HEAD {
        headers.push((http::header::CONTENT_LENGTH, len.to_string()));
        let mut r = Response::text(StatusCode::OK, "application/octet-stream", Vec::new());
        r.headers = headers;
        return Ok(r);
    }
    let range = ctx
        .req
        .headers
        .get(http::header::RANGE)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let (status, first, last) = match parse_range(range, len)? {
        Some((a, b)) => {
            headers.push((http::header::CONTENT_RANGE, format!("bytes {a}-{b}/{len}")));
            (StatusCode::PARTIAL_CONTENT, a, b)
        }
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
    };
    let size = if len == 0 { 0 } else { last - first + 1 };
    let mut body = vec![0u8; usize::try_from(size).map_err(|_| gone())?];
    f.seek(SeekFrom::Start(first)).map_err(io)?;
    f.read_exact(&mut body).map_err(io)?;
    let mut r = Response::text(status, "application/octet-stream", body);
    r.headers = headers;
    Ok(r)
}

fn snapshot_file(ctx: &mut Ctx<'_>, svc: &FileService) -> Result<Response, ApiError> {
    let name = ctx.req.params.get("name").cloned().unwrap_or_default();
    if snapshot_seqno(&name).is_none() {
        return Err(ApiError::not_found(format!(
            "{name:?} is not the name of a committed snapshot."
        )));
    }
    serve(ctx, &svc.snapshot_dir, &name)
}

fn chunk_file(ctx: &mut Ctx<'_>, svc: &FileService) -> Result<Response, ApiError> {
    let name = ctx.req.params.get("name").cloned().unwrap_or_default();
    if !ChunkName::parse(&name).is_some_and(|c| c.committed) {
        return Err(ApiError::not_found(format!(
            "{name:?} is not the name of a committed ledger chunk."
        )));
    }
    serve(ctx, &svc.ledger_dir, &name)
}

/// Register the snapshot and ledger-chunk endpoints (GET and HEAD each).
pub fn register(r: &mut Registry, svc: Arc<FileService>) {
    type Handler = fn(&mut Ctx<'_>, &FileService) -> Result<Response, ApiError>;
    let routes: [(&str, &str, Handler); 4] = [
        (
            "/node/snapshot",
            "The newest committed snapshot after ?since= (308 to it)",
            snapshot_redirect,
        ),
        (
            "/node/snapshot/{name}",
            "A committed snapshot (CCF format, with its receipt); ranges",
            snapshot_file,
        ),
        (
            "/node/ledger-chunk",
            "The committed ledger chunk holding ?since= (308 to it, here or on a node that has it)",
            chunk_for,
        ),
        (
            "/node/ledger-chunk/{name}",
            "A committed ledger chunk; ranges",
            chunk_file,
        ),
    ];
    for (path, what, handler) in routes {
        for method in [Method::GET, Method::HEAD] {
            let s = svc.clone();
            r.add(
                method,
                path,
                Mode::ReadOnly,
                &[NodeCert],
                what,
                move |ctx| handler(ctx, &s),
            );
        }
    }
}

#[cfg(test)]
#[path = "files_test.rs"]
mod files_test;
