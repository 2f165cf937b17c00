//! Built-in endpoints with CCF's paths and JSON shapes: `/node/*`, `/app/receipt`, and the
//! OpenAPI documents.

use consort_kv::TxId;
use consort_ledger::{journal::TxStatus, tables, LedgerError};
use http::{Method, StatusCode};
use serde_json::json;

use crate::{
    api::{ApiError, Response},
    framework::{AuthPolicy::*, Ctx, Mode::ReadOnly, Registry},
};

fn txid_param(ctx: &Ctx<'_>) -> Result<TxId, ApiError> {
    ctx.req.query_param::<TxId>("transaction_id")
}

/// A receipt for `txid`, or CCF's errors for pending, unknown and invalid ids.
pub(crate) fn receipt_for(ctx: &Ctx<'_>, txid: TxId) -> Result<consort_ledger::Receipt, ApiError> {
    match ctx.node.journal.tx_status(txid) {
        TxStatus::Committed => {}
        TxStatus::Invalid => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "TransactionInvalid",
                format!("Transaction {txid} is invalid."),
            ))
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "TransactionPendingOrUnknown",
                format!("Transaction {txid} is not committed yet."),
            ))
        }
    }
    ctx.node.journal.receipt(txid.seqno).map_err(|e| match e {
        LedgerError::NotSigned(_) => ApiError::new(
            StatusCode::NOT_FOUND,
            "TransactionPendingOrUnknown",
            format!("No signature covers {txid} yet."),
        ),
        e => ApiError::internal(format!("cannot build receipt: {e}")),
    })
}

/// Register the built-in endpoints.
pub fn register(r: &mut Registry) {
    r.add(
        Method::GET,
        "/node/commit",
        ReadOnly,
        &[NoAuth],
        "Last committed transaction id",
        |ctx| {
            Ok(Response::json(
                &json!({"transaction_id": ctx.node.journal.committed().to_string()}),
            ))
        },
    );
    r.add(
        Method::GET,
        "/node/tx",
        ReadOnly,
        &[NoAuth],
        "Status of a transaction id",
        |ctx| {
            let t = txid_param(ctx)?;
            let status = ctx.node.journal.tx_status(t);
            Ok(Response::json(
                &json!({"transaction_id": t.to_string(), "status": status}),
            ))
        },
    );
    r.add(
        Method::GET,
        "/node/state",
        ReadOnly,
        &[NoAuth],
        "This node's state",
        |ctx| {
            let j = &ctx.node.journal;
            Ok(Response::json(&json!({
                "node_id": ctx.node.node.node_id,
                "state": "PartOfNetwork",
                "last_signed_seqno": j.last_signature().unwrap_or(0),
                "startup_seqno": ctx.node.startup_seqno,
            })))
        },
    );
    r.add(
        Method::GET,
        "/node/version",
        ReadOnly,
        &[NoAuth],
        "Software version",
        |_| {
            Ok(Response::json(&json!({
                "ccf_version": format!("consort-{}", env!("CARGO_PKG_VERSION")),
                "consort_version": env!("CARGO_PKG_VERSION"),
                "unsafe": false,
            })))
        },
    );
    r.add(
        Method::GET,
        "/node/network",
        ReadOnly,
        &[NoAuth],
        "Service status and identity",
        |ctx| {
            let raw = ctx.tx.get(tables::SERVICE_INFO, &tables::SINGLETON_KEY);
            let info: serde_json::Value = raw
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            Ok(Response::json(&json!({
                "service_status": info.get("status"),
                "service_certificate": info.get("cert"),
                "current_view": ctx.node.cluster.with(|r| r.raft.view()),
                "primary_id": ctx.node.primary_node_id(),
                "recovery_count": info.get("recovery_count").cloned().unwrap_or(json!(0)),
                "service_data": info.get("service_data"),
                "current_service_create_txid": info.get("current_service_create_txid"),
            })))
        },
    );
    r.add(
        Method::GET,
        "/node/network/nodes",
        ReadOnly,
        &[NoAuth],
        "Nodes of the service",
        |ctx| {
            let primary = ctx.node.primary_node_id();
            let mut nodes = Vec::new();
            for (k, v) in ctx.tx.range(tables::NODES_INFO, &..) {
                let id = String::from_utf8_lossy(&k).to_string();
                let info: serde_json::Value = serde_json::from_slice(&v).unwrap_or_default();
                nodes.push(json!({
                    "node_id": id,
                    "status": info.get("status"),
                    "primary": primary.as_deref() == Some(id.as_str()),
                    "node_data": info.get("node_data"),
                    "rpc_interfaces": info.get("rpc_interfaces"),
                    "node_to_node_interface": info.get("node_to_node_interface"),
                }));
            }
            Ok(Response::json(&json!({"nodes": nodes})))
        },
    );
    r.add(
        Method::GET,
        "/node/consensus",
        ReadOnly,
        &[NoAuth],
        "This node's view of consensus",
        |ctx| {
            let primary = ctx.node.primary_node_id();
            let d = ctx.node.cluster.with(|r| {
                json!({
                    "leadership_state": format!("{:?}", r.raft.role()),
                    "current_view": r.raft.view(),
                    "commit_seqno": r.commit_seqno(),
                    "last_seqno": r.raft.last_seqno(),
                    "members": r.raft.members().len(),
                })
            });
            let mut d = d;
            d["primary_id"] = json!(primary);
            d["node_id"] = json!(ctx.node.node.node_id);
            Ok(Response::json(&json!({"details": d})))
        },
    );
    r.add(
        Method::GET,
        "/node/metrics",
        ReadOnly,
        &[NoAuth],
        "Prometheus metrics",
        |ctx| {
            let m = &ctx.node.metrics;
            m.ledger_bytes.set(ctx.node.ledger_size() as i64);
            Ok(Response::text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                m.render(),
            ))
        },
    );
    r.add(
        Method::GET,
        "/app/receipt",
        ReadOnly,
        &[UserCert, MemberCert, UserCose, MemberCose, Jwt],
        "Receipt for a committed transaction",
        |ctx| {
            let t = txid_param(ctx)?;
            Ok(Response::json(&receipt_for(ctx, t)?))
        },
    );
    for (prefix, title) in [
        ("/app", "Consort application"),
        ("/node", "Consort node"),
        ("/gov", "Consort governance"),
    ] {
        r.add(
            Method::GET,
            &format!("{prefix}/api"),
            ReadOnly,
            &[NoAuth],
            "OpenAPI document",
            move |ctx| Ok(Response::json(&ctx.node.registry.openapi(prefix, title))),
        );
    }
}
