//! The node frontend, with CCF's paths and JSON shapes: `/node/*`, `/app/receipt`, and the
//! OpenAPI documents.

use std::sync::{Arc, OnceLock};

use consort_endpoints::{
    receipts::receipt_in, ApiError, AuthPolicy, AuthPolicy::*, Ctx, Mode::ReadOnly, Registry,
    Response,
};
use consort_kv::TxId;
use consort_service::service;
use http::{Method, StatusCode};
use serde_json::json;

use crate::{metrics::Metrics, net::cluster::ConsensusView};

/// What the node frontend reads beyond a handler's context.
pub struct NodeFrontend {
    pub(crate) startup_seqno: u64,
    pub(crate) consensus: Arc<dyn ConsensusView>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) ledger_dir: std::path::PathBuf,
    /// The finished registry (for the OpenAPI documents), set once registration is done.
    pub(crate) registry: OnceLock<Registry>,
    /// Whether the application frontend serves (the node's `app_open`).
    pub(crate) app_open: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for NodeFrontend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeFrontend").finish_non_exhaustive()
    }
}

type NodeHandler = fn(&mut Ctx<'_>, &NodeFrontend) -> Result<Response, ApiError>;

fn txid_param(ctx: &Ctx<'_>) -> Result<TxId, ApiError> {
    ctx.req.query_param::<TxId>("transaction_id")
}

fn commit(ctx: &mut Ctx<'_>, _: &NodeFrontend) -> Result<Response, ApiError> {
    Ok(Response::json(
        &json!({"transaction_id": ctx.ledger.committed().to_string()}),
    ))
}

fn tx_status(ctx: &mut Ctx<'_>, _: &NodeFrontend) -> Result<Response, ApiError> {
    let t = txid_param(ctx)?;
    let status = ctx.ledger.tx_status(t);
    Ok(Response::json(
        &json!({"transaction_id": t.to_string(), "status": status}),
    ))
}

fn state(ctx: &mut Ctx<'_>, n: &NodeFrontend) -> Result<Response, ApiError> {
    let recovering = service::INFO.get(ctx.tx).ok().flatten().is_some_and(|i| {
        matches!(
            i.status,
            service::ServiceStatus::Recovering | service::ServiceStatus::WaitingForRecoveryShares
        )
    });
    let state = match (
        recovering,
        n.app_open.load(std::sync::atomic::Ordering::Acquire),
    ) {
        (true, _) => "PartOfPublicNetwork",
        _ => "PartOfNetwork",
    };
    Ok(Response::json(&json!({
        "node_id": ctx.node.node_id(),
        "state": state,
        "last_signed_seqno": ctx.ledger.last_signature().unwrap_or(0),
        "startup_seqno": n.startup_seqno,
    })))
}

fn version(_: &mut Ctx<'_>, _: &NodeFrontend) -> Result<Response, ApiError> {
    Ok(Response::json(&json!({
        "ccf_version": format!("consort-{}", env!("CARGO_PKG_VERSION")),
        "consort_version": env!("CARGO_PKG_VERSION"),
        "unsafe": false,
    })))
}

fn network(ctx: &mut Ctx<'_>, n: &NodeFrontend) -> Result<Response, ApiError> {
    let info = service::INFO
        .get(ctx.tx)
        .map_err(|e| ApiError::internal(format!("service record: {e}")))?;
    let info = info.as_ref();
    Ok(Response::json(&json!({
        "service_status": info.map(|i| i.status),
        "service_certificate": info.map(|i| &i.cert),
        "current_view": n.consensus.status().view,
        "primary_id": n.consensus.primary_node_id(),
        "recovery_count": info.map_or(0, |i| i.recovery_count),
        "service_data": info.map(|i| &i.service_data),
        "current_service_create_txid": info.and_then(|i| i.current_service_create_txid.as_ref()),
    })))
}

fn network_nodes(ctx: &mut Ctx<'_>, n: &NodeFrontend) -> Result<Response, ApiError> {
    let primary = n.consensus.primary_node_id();
    let all = consort_service::nodes::all(ctx.tx)
        .map_err(|e| ApiError::internal(format!("nodes table: {e}")))?;
    let nodes: Vec<_> = all
        .into_iter()
        .map(|(id, info)| {
            json!({
                "node_id": id,
                "status": info.status,
                "primary": primary.as_deref() == Some(id.as_str()),
                "node_data": info.node_data,
                "rpc_interfaces": info.rpc_interfaces,
                "node_to_node_interface": info.node_to_node_interface,
            })
        })
        .collect();
    Ok(Response::json(&json!({"nodes": nodes})))
}

fn consensus(ctx: &mut Ctx<'_>, n: &NodeFrontend) -> Result<Response, ApiError> {
    let s = n.consensus.status();
    Ok(Response::json(&json!({"details": {
        "leadership_state": s.role,
        "current_view": s.view,
        "commit_seqno": s.commit_seqno,
        "last_seqno": s.last_seqno,
        "members": s.members,
        "primary_id": n.consensus.primary_node_id(),
        "node_id": ctx.node.node_id(),
    }})))
}

fn ledger_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn metrics(_: &mut Ctx<'_>, n: &NodeFrontend) -> Result<Response, ApiError> {
    n.metrics
        .ledger_bytes
        .set(ledger_size(&n.ledger_dir) as i64);
    Ok(Response::text(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        n.metrics.render(),
    ))
}

fn previous_identity(ctx: &mut Ctx<'_>, _: &NodeFrontend) -> Result<Response, ApiError> {
    match consort_service::recovery::PREVIOUS_SERVICE_IDENTITY.get(ctx.tx) {
        Ok(Some(pem)) => Ok(Response::json(&json!({ "previous_service_identity": pem }))),
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "This service is not a recovery of a previous service.",
        )),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

fn ready_app(_: &mut Ctx<'_>, n: &NodeFrontend) -> Result<Response, ApiError> {
    if n.app_open.load(std::sync::atomic::Ordering::Acquire) {
        Ok(Response::json(&json!({})).with_status(StatusCode::NO_CONTENT))
    } else {
        Err(ApiError::unavailable(
            "FrontendNotOpen",
            "The application frontend is not open yet.",
        ))
    }
}

fn ready_gov(_: &mut Ctx<'_>, _: &NodeFrontend) -> Result<Response, ApiError> {
    Ok(Response::json(&json!({})).with_status(StatusCode::NO_CONTENT))
}

fn receipt(ctx: &mut Ctx<'_>, _: &NodeFrontend) -> Result<Response, ApiError> {
    let t = txid_param(ctx)?;
    Ok(Response::json(&receipt_in(ctx.tx, ctx.ledger, t)?))
}

const ANYONE: &[AuthPolicy] = &[NoAuth];
const ANY_IDENTITY: &[AuthPolicy] = &[UserCert, MemberCert, UserCose, MemberCose, Jwt];

/// The node endpoints (all read-only): (method, path, policies, summary, handler).
const ENDPOINTS: &[(&str, &[AuthPolicy], &str, NodeHandler)] = &[
    (
        "/node/commit",
        ANYONE,
        "Last committed transaction id",
        commit,
    ),
    ("/node/tx", ANYONE, "Status of a transaction id", tx_status),
    ("/node/state", ANYONE, "This node's state", state),
    ("/node/version", ANYONE, "Software version", version),
    (
        "/node/network",
        ANYONE,
        "Service status and identity",
        network,
    ),
    (
        "/node/network/nodes",
        ANYONE,
        "Nodes of the service",
        network_nodes,
    ),
    (
        "/node/consensus",
        ANYONE,
        "This node's view of consensus",
        consensus,
    ),
    ("/node/metrics", ANYONE, "Prometheus metrics", metrics),
    (
        "/node/service/previous_identity",
        ANYONE,
        "The identity of the service this one recovered",
        previous_identity,
    ),
    (
        "/node/ready/app",
        ANYONE,
        "204 once the application frontend serves",
        ready_app,
    ),
    (
        "/node/ready/gov",
        ANYONE,
        "204 once governance serves",
        ready_gov,
    ),
    (
        "/app/receipt",
        ANY_IDENTITY,
        "Receipt for a committed transaction",
        receipt,
    ),
];

/// Register the node frontend. Call [`NodeFrontend::registry`]`.set` with the finished
/// registry once every endpoint is in, for the OpenAPI documents.
pub fn register(r: &mut Registry, n: Arc<NodeFrontend>) {
    for (path, auth, summary, handler) in ENDPOINTS {
        let (n, handler) = (n.clone(), *handler);
        r.add(Method::GET, path, ReadOnly, auth, summary, move |ctx| {
            handler(ctx, &n)
        });
    }
    for (prefix, title) in [
        ("/app", "Consort application"),
        ("/node", "Consort node"),
        ("/gov", "Consort governance"),
    ] {
        let n = n.clone();
        r.add(
            Method::GET,
            &format!("{prefix}/api"),
            ReadOnly,
            ANYONE,
            "OpenAPI document",
            move |_| match n.registry.get() {
                Some(r) => Ok(Response::json(&consort_endpoints::openapi::document(
                    r, prefix, title,
                ))),
                None => Err(ApiError::unavailable(
                    "NodeStarting",
                    "The node is starting.",
                )),
            },
        );
    }
}
