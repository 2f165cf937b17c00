//! The nodes' attestation evidence, in CCF's shape: `GET /node/quotes/self`,
//! `GET /node/quotes` (every trusted node), and CCF 6's `/node/attestations[/self]`.
//! Anyone may read them and re-verify them offline (`consort attest verify`).

use consort_endpoints::{ApiError, AuthPolicy::NoAuth, Ctx, Mode::ReadOnly, Registry, Response};
use consort_service::nodes::{self, NodeInfo, NodeStatus};
use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::lifecycle::attest;

/// CCF's `Quote` of a node record.
fn quote(node_id: &str, info: &NodeInfo) -> Value {
    let q = &info.quote_info;
    let measurement = info.code_digest.clone().or_else(|| {
        attest::evidence_of(&info.quote_info)
            .ok()
            .and_then(|e| consort_attestation::verify_unbound(&e).ok())
            .map(|c| c.measurement)
    });
    let mut v = json!({
        "node_id": node_id,
        "raw": q.quote,
        "endorsements": q.endorsements,
        "format": q.format,
    });
    if let Some(m) = measurement {
        v["measurement"] = json!(m);
    }
    if q.format == consort_attestation::Format::InsecureVirtual.as_str() {
        v["insecure"] = json!(true);
    }
    v
}

fn own(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let id = ctx.node.node_id().to_string();
    let info = nodes::INFO
        .get(ctx.tx, &id)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                "This node's record is not in the ledger yet.",
            )
        })?;
    Ok(quote(&id, &info))
}

fn trusted(ctx: &mut Ctx<'_>) -> Result<Vec<Value>, ApiError> {
    Ok(nodes::all(ctx.tx)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .iter()
        .filter(|(_, n)| n.status == NodeStatus::Trusted)
        .map(|(id, n)| quote(id, n))
        .collect())
}

/// Register the quote endpoints.
pub fn register(r: &mut Registry) {
    let get = |r: &mut Registry,
               path: &str,
               summary: &str,
               f: fn(&mut Ctx<'_>) -> Result<Response, ApiError>| {
        r.add(Method::GET, path, ReadOnly, &[NoAuth], summary, f);
    };
    get(
        r,
        "/node/quotes/self",
        "This node's attestation evidence",
        |c| Ok(Response::json(&own(c)?)),
    );
    get(
        r,
        "/node/attestations/self",
        "This node's attestation evidence",
        |c| Ok(Response::json(&own(c)?)),
    );
    get(
        r,
        "/node/quotes",
        "Every trusted node's attestation evidence",
        |c| Ok(Response::json(&json!({ "quotes": trusted(c)? }))),
    );
    get(
        r,
        "/node/attestations",
        "Every trusted node's attestation evidence",
        |c| Ok(Response::json(&json!({ "attestations": trusted(c)? }))),
    );
}
