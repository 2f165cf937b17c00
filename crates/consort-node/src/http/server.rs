//! The HTTPS server: our own TLS accept loop (so handlers see client certificates), hyper
//! for HTTP/1.1 and HTTP/2, bounded connections, body sizes, queue and worker pool.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    future::Future,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use consort_crypto::cert::Certificate;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_rustls::TlsAcceptor;

use consort_endpoints::{auth, execute::execute, ApiError, Caller, Mode, Request, Response};

use super::tls;
use crate::{
    metrics::RequestLabels,
    net::cluster::{ForwardedRequest, ForwardedResponse},
    node::NodeState,
    NodeError,
};

pub(super) struct Limits {
    /// Handler threads at work; a permit is held until the handler returns, even past the
    /// request's timeout, so an overloaded node does not pile up threads.
    workers: Arc<Semaphore>,
    queued: AtomicUsize,
}

/// Serve HTTPS on `listener` until `shutdown` resolves.
pub async fn serve(
    state: Arc<NodeState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    // Requests forwarded by backups run here through the same pipeline.
    let weak = Arc::downgrade(&state);
    state.cluster.set_forward_handler(Arc::new(move |req| {
        let weak = weak.clone();
        Box::pin(async move {
            match weak.upgrade() {
                Some(s) => run_forwarded(s, req).await,
                None => unavailable_reply("The node is stopping."),
            }
        })
    }));
    let acceptor = TlsAcceptor::from(tls::server_config(&state.node)?);
    let conns = Arc::new(Semaphore::new(state.config.max_connections));
    let limits = Arc::new(Limits {
        workers: Arc::new(Semaphore::new(state.config.max_concurrent_requests.max(1))),
        queued: AtomicUsize::new(0),
    });
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            tracing::warn!("connection limit reached; dropping {peer}");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, state, limits) = (acceptor.clone(), state.clone(), limits.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        tracing::debug!("TLS handshake with {peer} failed: {e}");
                        return;
                    }
                    Err(_) => return,
                };
            let client_cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| Certificate::from_der(c).ok());
            state.metrics.open_connections.inc();
            let svc = {
                let state = state.clone();
                service_fn(move |req| {
                    let (state, limits, cert) =
                        (state.clone(), limits.clone(), client_cert.clone());
                    async move { Ok::<_, Infallible>(handle(state, limits, cert, req).await) }
                })
            };
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                // CCF's defaults: a request head of at most 16 KiB and 256 headers (431).
                .max_buf_size(MAX_HEAD_BYTES)
                .max_headers(MAX_HEADERS);
            builder.http2().max_concurrent_streams(64);
            if let Err(e) = builder
                .serve_connection_with_upgrades(
                    TokioIo::new(super::proto_errors::JsonErrors::new(tls)),
                    svc,
                )
                .await
            {
                tracing::debug!("connection from {peer} ended: {e}");
            }
            state.metrics.open_connections.dec();
        });
    }
}

/// Largest request head (request line and headers) accepted over HTTP/1, as in CCF.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most headers in a request, as in CCF.
const MAX_HEADERS: usize = 256;

/// Most bytes of an oversized body read (and discarded) so the client sees a clean 413
/// rather than a reset; beyond this the connection is dropped.
const DRAIN_LIMIT: u64 = 64 << 20;

/// Read a body of at most `max` bytes. `Ok(None)`: too large (the rest was drained, up to
/// [`DRAIN_LIMIT`]); memory use never exceeds `max`.
async fn read_body(
    mut body: Incoming,
    max: usize,
    declared: Option<u64>,
) -> Result<Option<Bytes>, ApiError> {
    let mut buf = bytes::BytesMut::new();
    let mut total: u64 = 0;
    let mut too_large = declared.is_some_and(|d| d > max as u64);
    if declared.is_some_and(|d| d > DRAIN_LIMIT) {
        return Ok(None);
    }
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::invalid_input(format!("could not read request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if total > max as u64 {
                too_large = true;
                buf = bytes::BytesMut::new();
            }
            if too_large {
                if total > DRAIN_LIMIT {
                    break;
                }
                continue;
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(if too_large { None } else { Some(buf.freeze()) })
}

pub(super) fn to_http(r: Result<Response, ApiError>) -> http::Response<Full<Bytes>> {
    let (status, ctype, body, headers) = match r {
        Ok(r) => (r.status, r.content_type, r.body, r.headers),
        Err(e) => (e.status, "application/json".into(), e.body(), Vec::new()),
    };
    // Header values may come from the primary (forwarded answers): keep only valid ones.
    let ctype = http::HeaderValue::from_str(ctype.as_ref())
        .unwrap_or(http::HeaderValue::from_static("application/octet-stream"));
    let mut resp = http::Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, ctype);
    for (k, v) in headers {
        if let Ok(v) = http::HeaderValue::from_str(&v) {
            resp.headers_mut().append(k, v);
        }
    }
    resp
}

async fn handle(
    state: Arc<NodeState>,
    limits: Arc<Limits>,
    client_cert: Option<Certificate>,
    req: http::Request<Incoming>,
) -> http::Response<Full<Bytes>> {
    if super::ws::is_upgrade(&req) {
        return super::ws::upgrade(state, limits, client_cert, req).await;
    }
    let started = Instant::now();
    let method = req.method().clone();
    let r = handle_inner(&state, &limits, client_cert, req).await;
    let resp = to_http(r);
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.to_string(),
            status: resp.status().as_u16(),
        })
        .inc();
    state
        .metrics
        .request_latency
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// Send a write to the primary. `Ok(None)`: this node is the primary after all.
async fn forward(
    state: &Arc<NodeState>,
    req: ForwardedRequest,
) -> Result<Option<Response>, ApiError> {
    let timeout = Duration::from_millis(state.config.request_timeout_ms);
    // Without a primary, wait about as long as an election takes, not the whole timeout.
    let deadline =
        Instant::now() + timeout.min(Duration::from_millis(4 * state.config.election_timeout_ms));
    loop {
        match state.cluster.primary() {
            Some(p) if p == state.cluster.id() => return Ok(None),
            Some(p) => {
                state.metrics.forwarded.inc();
                let r = state
                    .cluster
                    .forward(p, req, timeout)
                    .await
                    .ok_or_else(|| {
                        ApiError::unavailable(
                            "RequestForwardingFailed",
                            "The primary did not answer the forwarded request; retry.",
                        )
                    })?;
                let mut resp = Response::text(
                    http::StatusCode::from_u16(r.status)
                        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
                    "application/json",
                    Bytes::from(r.body),
                );
                resp.content_type = r.content_type.into();
                for (k, v) in r.headers {
                    if let Ok(name) = http::HeaderName::from_bytes(k.as_bytes()) {
                        resp.headers.push((name, v));
                    }
                }
                return Ok(Some(resp));
            }
            None if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            None => {
                return Err(ApiError::unavailable(
                    "NoPrimary",
                    "The service has no primary at the moment (election in progress); retry.",
                ))
            }
        }
    }
}

/// A 503 answer to a forwarded request.
pub(crate) fn unavailable_reply(msg: &str) -> ForwardedResponse {
    to_forwarded(Err(ApiError::unavailable("NodeUnavailable", msg)))
}

fn to_forwarded(r: Result<Response, ApiError>) -> ForwardedResponse {
    match r {
        Ok(r) => ForwardedResponse {
            status: r.status.as_u16(),
            content_type: r.content_type.into_owned(),
            headers: r
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            body: r.body.to_vec(),
        },
        Err(e) => ForwardedResponse {
            status: e.status.as_u16(),
            content_type: "application/json".into(),
            headers: Vec::new(),
            body: e.body().to_vec(),
        },
    }
}

/// The caller's identity (through a fresh transaction), then the handler: what a
/// worker thread does with a request.
/// Run `request` on a worker once one is free: refused when too many wait, answered 503
/// past the request timeout (the worker finishes the handler either way).
async fn run_queued(
    state: &Arc<NodeState>,
    limits: &Arc<Limits>,
    endpoint: consort_endpoints::Endpoint,
    request: Request,
) -> Result<Response, ApiError> {
    if limits.queued.fetch_add(1, Ordering::SeqCst) >= state.config.max_queued_requests {
        limits.queued.fetch_sub(1, Ordering::SeqCst);
        return Err(ApiError::unavailable(
            "TooManyPendingRequests",
            "The node is overloaded; retry later.",
        ));
    }
    let timeout = Duration::from_millis(state.config.request_timeout_ms);
    let run = async {
        let permit = limits
            .workers
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        let state = state.clone();
        let res = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            authenticate_and_execute(&state, &endpoint, request)
        })
        .await;
        res.unwrap_or_else(|e| {
            tracing::error!("handler panicked: {e}");
            Err(ApiError::internal("The request handler failed."))
        })
    };
    let out = tokio::time::timeout(timeout, run).await;
    limits.queued.fetch_sub(1, Ordering::SeqCst);
    out.unwrap_or_else(|_| {
        Err(ApiError::unavailable(
            "RequestTimeout",
            "The request timed out.",
        ))
    })
}

fn authenticate_and_execute(
    state: &NodeState,
    endpoint: &consort_endpoints::Endpoint,
    mut request: Request,
) -> Result<Response, ApiError> {
    authenticate(state, endpoint, &mut request)?;
    execute(state, endpoint, &request)
}

/// Set `request.caller` by the endpoint's policies (through a fresh transaction); the
/// application frontend must be open for `/app/` paths.
pub(super) fn authenticate(
    state: &NodeState,
    endpoint: &consort_endpoints::Endpoint,
    request: &mut Request,
) -> Result<(), ApiError> {
    if request.path.starts_with("/app/") && !state.app_frontend_open() {
        return Err(ApiError::new(
            http::StatusCode::NOT_FOUND,
            "FrontendNotOpen",
            "Frontend is not open.",
        ));
    }
    let mut tx = state.journal.begin();
    request.caller = auth::authenticate(&mut tx, &endpoint.auth, request, auth::now())?;
    Ok(())
}

/// Run a request forwarded by a backup, as if its caller had sent it here.
pub(crate) async fn run_forwarded(state: Arc<NodeState>, f: ForwardedRequest) -> ForwardedResponse {
    let r = async {
        let method = http::Method::from_bytes(f.method.as_bytes())
            .map_err(|_| ApiError::invalid_input("bad forwarded method"))?;
        let uri: http::Uri = f
            .uri
            .parse()
            .map_err(|_| ApiError::invalid_input("bad forwarded URI"))?;
        let path = uri.path().to_string();
        let (endpoint, params) = state.registry.route(&method, &path)?;
        let endpoint = endpoint.clone();
        if endpoint.mode == Mode::ReadWrite && !state.is_primary() {
            return Err(ApiError::unavailable(
                "NotPrimary",
                "This node is no longer the primary; retry.",
            ));
        }
        let mut headers = http::HeaderMap::new();
        for (k, v) in &f.headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_bytes(v),
            ) {
                headers.append(k, v);
            }
        }
        let client_cert = f
            .client_cert
            .as_deref()
            .and_then(|d| Certificate::from_der(d).ok());
        let query = Request::parse_query(uri.query())?;
        let request = Request {
            method,
            path,
            params,
            query,
            headers,
            body: Bytes::from(f.body),
            caller: Caller::Anonymous,
            client_cert,
            cose_headers: BTreeMap::new(),
        };
        let timeout = Duration::from_millis(state.config.request_timeout_ms);
        let state = state.clone();
        let run = tokio::task::spawn_blocking(move || {
            authenticate_and_execute(&state, &endpoint, request)
        });
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(ApiError::internal("The request handler failed.")),
            Err(_) => Err(ApiError::unavailable(
                "RequestTimeout",
                "The request timed out.",
            )),
        }
    }
    .await;
    to_forwarded(r)
}

async fn handle_inner(
    state: &Arc<NodeState>,
    limits: &Arc<Limits>,
    client_cert: Option<Certificate>,
    req: http::Request<Incoming>,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    if parts.version < http::Version::HTTP_2 && parts.uri.authority().is_some() {
        // An absolute-form target is for a proxy, which a node is not.
        return Err(ApiError::new(
            http::StatusCode::BAD_REQUEST,
            "InvalidRequestTarget",
            "Absolute-form request targets are not accepted: send the path (origin form).",
        ));
    }
    let path = parts.uri.path().to_string();
    let (endpoint, params) = state.registry.route(&parts.method, &path)?;
    let endpoint = endpoint.clone();
    let query = Request::parse_query(parts.uri.query())?;
    let max = state.config.max_body_bytes;
    let too_large = || {
        ApiError::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            format!("Request body exceeds the limit of {max} bytes."),
        )
    };
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|l| l.to_str().ok()?.parse::<u64>().ok());
    let body = read_body(body, max, declared)
        .await?
        .ok_or_else(too_large)?;
    let request = Request {
        method: parts.method,
        path,
        params,
        query,
        headers: parts.headers,
        body,
        caller: Caller::Anonymous,
        client_cert,
        cose_headers: BTreeMap::new(),
    };
    let path_and_query = parts.uri.path_and_query().map(|p| p.to_string());
    dispatch(state, limits, endpoint, request, path_and_query).await
}

/// Run `request` for `endpoint` here, or on the primary for a write on a backup.
pub(super) async fn dispatch(
    state: &Arc<NodeState>,
    limits: &Arc<Limits>,
    endpoint: consort_endpoints::Endpoint,
    request: Request,
    path_and_query: Option<String>,
) -> Result<Response, ApiError> {
    if endpoint.mode == Mode::ReadWrite && !state.is_primary() {
        let fwd = ForwardedRequest {
            method: request.method.to_string(),
            uri: path_and_query.unwrap_or_else(|| request.path.clone()),
            headers: request
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body: request.body.to_vec(),
            client_cert: request.client_cert.as_ref().map(|c| c.der().to_vec()),
        };
        if let Some(r) = forward(state, fwd).await? {
            return Ok(r);
        }
        // This node became the primary meanwhile: run it here.
    }
    run_queued(state, limits, endpoint, request).await
}
