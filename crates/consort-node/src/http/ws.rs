//! WebSocket endpoints ([`consort_endpoints::socket`]): an authenticated HTTP/1.1 `GET`
//! with `Upgrade: websocket` to a socket endpoint becomes a session. Text messages go to
//! the application's session (or run as requests to its HTTP endpoint, forwarded to the
//! primary like any write); as the commit point moves, the session's pushes are queued to
//! the client. The queue is bounded: a reader that lets [`QUEUE`] messages pile up is sent
//! a close frame (1008) and dropped, so a slow reader costs at most that much memory.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use consort_crypto::cert::Certificate;
use consort_endpoints::{
    socket::{with_ctx, Inbound, Session, SocketHandler},
    ApiError, Caller, Request,
};
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::{
    tungstenite::{
        handshake::derive_accept_key,
        protocol::{frame::coding::CloseCode, CloseFrame, Role, WebSocketConfig},
        Message,
    },
    WebSocketStream,
};

use super::server::{authenticate, dispatch, to_http, Limits};
use crate::node::NodeState;

/// Most messages waiting for a client; past this it is dropped as too slow.
pub(crate) const QUEUE: usize = 1024;
/// A connection's session, shared by its loop and the requests in flight.
type SharedSession = Arc<std::sync::Mutex<Box<dyn Session>>>;

/// Most messages of one connection being answered at once.
const IN_FLIGHT: usize = 64;
/// How often a session looks at the commit point.
const TICK: Duration = Duration::from_millis(20);
/// How long a write to the client may take before the connection is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Is `req` a WebSocket upgrade?
pub(super) fn is_upgrade(req: &http::Request<Incoming>) -> bool {
    req.method() == http::Method::GET
        && req
            .headers()
            .get(http::header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn bad(msg: &str) -> ApiError {
    ApiError::invalid_input(msg.to_string())
}

/// Authenticate, open the application's session, answer 101 and serve the socket.
pub(super) async fn upgrade(
    state: Arc<NodeState>,
    limits: Arc<Limits>,
    client_cert: Option<Certificate>,
    mut req: http::Request<Incoming>,
) -> http::Response<Full<Bytes>> {
    match accept(&state, client_cert, &mut req).await {
        Ok((key, request, app, session)) => {
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                match on_upgrade.await {
                    Ok(io) => serve(state, limits, TokioIo::new(io), request, app, session).await,
                    Err(e) => tracing::debug!("WebSocket upgrade failed: {e}"),
                }
            });
            let mut resp = http::Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
            let h = resp.headers_mut();
            h.insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("Upgrade"),
            );
            h.insert(
                http::header::UPGRADE,
                http::HeaderValue::from_static("websocket"),
            );
            if let Ok(v) = http::HeaderValue::from_str(&key) {
                h.insert(http::header::SEC_WEBSOCKET_ACCEPT, v);
            }
            resp
        }
        Err(e) => to_http(Err(e)),
    }
}

type Accepted = (String, Request, SocketHandler, Box<dyn Session>);

async fn accept(
    state: &Arc<NodeState>,
    client_cert: Option<Certificate>,
    req: &mut http::Request<Incoming>,
) -> Result<Accepted, ApiError> {
    let path = req.uri().path().to_string();
    let (endpoint, params) = state.registry.route(req.method(), &path)?;
    let endpoint = endpoint.clone();
    let app = endpoint
        .socket
        .clone()
        .ok_or_else(|| bad("This endpoint does not speak WebSocket."))?;
    if req.version() != http::Version::HTTP_11 {
        return Err(bad("WebSocket needs HTTP/1.1."));
    }
    let h = req.headers();
    if h.get(http::header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v != "13")
    {
        return Err(bad("Sec-WebSocket-Version must be 13."));
    }
    let key = h
        .get(http::header::SEC_WEBSOCKET_KEY)
        .map(|k| derive_accept_key(k.as_bytes()))
        .ok_or_else(|| bad("Sec-WebSocket-Key is missing."))?;
    let mut request = Request {
        method: http::Method::GET,
        path,
        params,
        query: Default::default(),
        headers: req.headers().clone(),
        body: Bytes::new(),
        caller: Caller::Anonymous,
        client_cert,
        cose_headers: Default::default(),
    };
    let s = state.clone();
    let app2 = app.clone();
    let (request, session) = tokio::task::spawn_blocking(move || {
        authenticate(&s, &endpoint, &mut request)?;
        let session = with_ctx(&*s, &request, |ctx| app2.open(ctx))?;
        Ok::<_, ApiError>((request, session))
    })
    .await
    .map_err(|_| ApiError::internal("The WebSocket handler failed."))??;
    Ok((key, request, app, session))
}

/// One connection: read messages, push what commits bring, until either side stops.
async fn serve(
    state: Arc<NodeState>,
    limits: Arc<Limits>,
    io: TokioIo<hyper::upgrade::Upgraded>,
    request: Request,
    app: SocketHandler,
    session: Box<dyn Session>,
) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(state.config.max_body_bytes))
        .max_frame_size(Some(state.config.max_body_bytes));
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    let (mut sink, mut stream) = ws.split();
    let (out, mut queue) = mpsc::channel::<Message>(QUEUE);
    let (close, mut closing) = oneshot::channel::<CloseFrame>();
    // The writer: queued messages in order; a close (a slow reader, a bad message) goes out
    // next, also while a message waits for a reader that does not read (that message stays
    // buffered whole, and the close follows it).
    let writer = tokio::spawn(async move {
        let mut frame = None;
        loop {
            let m = tokio::select! {
                biased;
                c = &mut closing => { frame = c.ok(); break; }
                m = queue.recv() => match m { Some(m) => m, None => break },
            };
            tokio::select! {
                biased;
                c = &mut closing => { frame = c.ok(); break; }
                r = tokio::time::timeout(WRITE_TIMEOUT, sink.send(m)) => {
                    if !matches!(r, Ok(Ok(()))) { break; }
                }
            }
        }
        if let Some(c) = frame {
            let close = sink.send(Message::Close(Some(c)));
            let _ = tokio::time::timeout(WRITE_TIMEOUT, close).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    });
    let session = Arc::new(std::sync::Mutex::new(session));
    let request = Arc::new(request);
    let mut tick = tokio::time::interval(TICK);
    let inflight = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let (slow_tx, mut slow_rx) = mpsc::channel::<()>(1);
    let mut seen = 0;
    let mut more = false;
    let slow_close = || CloseFrame {
        code: CloseCode::Policy,
        reason: "too slow: messages were not read".into(),
    };
    let end: Option<CloseFrame> = loop {
        tokio::select! {
            m = stream.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let t = t.to_string();
                    let until_committed = match inbound(&state, &request, &session, &t).await {
                        Inbound::Reply(r) => {
                            if out.try_send(Message::text(r)).is_err() {
                                break Some(slow_close());
                            }
                            continue;
                        }
                        Inbound::AsRequest { until_committed } => until_committed,
                    };
                    // Requests run side by side (answers carry their ids), up to IN_FLIGHT.
                    let Ok(permit) = inflight.clone().acquire_owned().await else { break None };
                    let (state, limits, request, app, session) =
                        (state.clone(), limits.clone(), request.clone(), app.clone(), session.clone());
                    let (out, slow) = (out.clone(), slow_tx.clone());
                    tokio::spawn(async move {
                        let _permit = permit;
                        let reply = request_reply(&state, &limits, (&request, &app, &session), t, until_committed).await;
                        if out.try_send(Message::text(reply)).is_err() {
                            let _ = slow.try_send(());
                        }
                    });
                }
                Some(Ok(Message::Binary(_))) => {
                    break Some(CloseFrame { code: CloseCode::Unsupported, reason: "text messages only".into() });
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                Some(Ok(_)) => {}
            },
            _ = slow_rx.recv() => break Some(slow_close()),
            _ = tick.tick() => {
                let committed = state.journal.committed().seqno;
                if committed == seen && !more {
                    continue;
                }
                seen = committed;
                let (s, r) = (session.clone(), request.clone());
                let st = state.clone();
                let Ok((pushed, again)) = tokio::task::spawn_blocking(move || {
                    let mut s = s.lock().expect("session lock");
                    with_ctx(&*st, &r, |ctx| s.on_commit(ctx, committed))
                }).await else { break None };
                more = again;
                if pushed.into_iter().any(|m| out.try_send(Message::text(m)).is_err()) {
                    tracing::debug!("dropping a slow WebSocket reader");
                    break Some(slow_close());
                }
            }
        }
    };
    if let Some(frame) = end {
        let _ = close.send(frame);
    }
    drop(out);
    let _ = writer.await;
}

/// What the session makes of one text message (in the order messages came: a
/// subscription's answer always precedes its first event).
async fn inbound(
    state: &Arc<NodeState>,
    request: &Arc<Request>,
    session: &SharedSession,
    text: &str,
) -> Inbound {
    let (s, r, st, t) = (
        session.clone(),
        request.clone(),
        state.clone(),
        text.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let mut s = s.lock().expect("session lock");
        with_ctx(&*st, &r, |ctx| s.on_message(ctx, &t))
    })
    .await
    .unwrap_or_else(|_| {
        Inbound::Reply(error_body(&ApiError::internal(
            "The WebSocket handler failed.",
        )))
    })
}

/// The answer to a message run as a request (see [`Inbound::AsRequest`]).
async fn request_reply(
    state: &Arc<NodeState>,
    limits: &Arc<Limits>,
    (request, app, session): (&Arc<Request>, &SocketHandler, &SharedSession),
    text: String,
    until_committed: bool,
) -> String {
    let (body, at) = as_request(state, limits, request, app, text).await;
    if let Some(seqno) = at {
        session.lock().expect("session lock").answered_at(seqno);
        if until_committed {
            let deadline = tokio::time::Instant::now()
                + Duration::from_millis(state.config.request_timeout_ms);
            while state.journal.committed().seqno < seqno && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    body
}

fn error_body(e: &ApiError) -> String {
    String::from_utf8_lossy(&e.body()).into_owned()
}

/// Run `text` as the body of a `POST` to the application's request endpoint, with the
/// connection's credentials.
async fn as_request(
    state: &Arc<NodeState>,
    limits: &Arc<Limits>,
    conn: &Request,
    app: &SocketHandler,
    text: String,
) -> (String, Option<u64>) {
    let path = app.request_path().to_string();
    let routed = state
        .registry
        .route(&http::Method::POST, &path)
        .map(|(e, p)| (e.clone(), p));
    let (endpoint, params) = match routed {
        Ok(x) => x,
        Err(e) => return (error_body(&e), None),
    };
    let mut headers = conn.headers.clone();
    for h in [
        http::header::UPGRADE,
        http::header::CONNECTION,
        http::header::SEC_WEBSOCKET_KEY,
        http::header::SEC_WEBSOCKET_VERSION,
        http::header::SEC_WEBSOCKET_EXTENSIONS,
        http::header::CONTENT_LENGTH,
    ] {
        headers.remove(h);
    }
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let request = Request {
        method: http::Method::POST,
        path: path.clone(),
        params,
        query: Default::default(),
        headers,
        body: Bytes::from(text),
        caller: Caller::Anonymous,
        client_cert: conn.client_cert.clone(),
        cose_headers: Default::default(),
    };
    match dispatch(state, limits, endpoint, request, Some(path)).await {
        Ok(r) => {
            // The state it was answered from: the transaction id header, `view.seqno`.
            let at = r
                .headers
                .iter()
                .find(|(k, _)| k.as_str() == consort_endpoints::TXID_HEADER)
                .and_then(|(_, v)| v.split_once('.')?.1.parse().ok());
            (String::from_utf8_lossy(&r.body).into_owned(), at)
        }
        Err(e) => (error_body(&e), None),
    }
}
