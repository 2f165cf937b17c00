//! The join service: `POST /node/join` (a joiner then fetches a snapshot from `files`).
//!
//! A joining node presents a self-signed certificate as its TLS client certificate
//! (proving it holds the key). The service records it in `public:ccf.gov.nodes.info` as
//! `Pending`, or `Trusted` at once when the operators enabled auto-trust and the node
//! presents their join token. While `Pending`, the node polls. Once `Trusted`, the service
//! endorses its key with the service identity and the response carries what a trusted node
//! holds: the endorsed certificate, the service key and the ledger secrets — only over this
//! mutually authenticated channel, to the key that the record names. (The joining node's
//! side is `lifecycle::join`.)

use std::{collections::BTreeMap, sync::Arc};

use consort_attestation::{policy, report_data_for_key, verify, Claims, Evidence};
use consort_crypto::{cert::Certificate, sha256};
use consort_endpoints::{ApiError, AuthPolicy::NoAuth, Ctx, Mode, Registry, Response};
use consort_ledger::{identity::ServiceIdentity, Journal};
use consort_service::{
    attestation,
    nodes::{self, NodeInfo, NodeStatus, QuoteInfo},
};
use http::{Method, StatusCode};

use crate::{
    join_protocol::{JoinRequest, JoinResponse, NetworkInfo},
    lifecycle::{attest, node_info, published},
};

/// Most nodes waiting to be trusted at once.
pub const MAX_PENDING_NODES: usize = 32;

/// What the join service holds: the operators' join policy, the service identity (to
/// endorse joiners and hand its key to them) and the ledger secrets.
pub struct JoinService {
    pub(crate) auto_trust: bool,
    pub(crate) join_token: Option<String>,
    pub(crate) service: ServiceIdentity,
    /// The ledger secrets are the journal's (rekeys included).
    pub(crate) journal: Arc<Journal>,
}

impl std::fmt::Debug for JoinService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinService(<redacted>)")
    }
}

fn token_matches(given: Option<&str>, expected: Option<&str>) -> bool {
    match (given, expected) {
        (Some(g), Some(e)) if !e.is_empty() => sha256(g.as_bytes()) == sha256(e.as_bytes()),
        _ => false,
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

fn invalid_quote(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "InvalidQuote",
        format!("The node's attestation was refused: {e}"),
    )
}

/// The joiner's evidence, verified (it binds the key of its TLS client certificate) and
/// allowed by the join policy of its platform, with what it proves.
fn attested(
    ctx: &mut Ctx<'_>,
    cert: &Certificate,
    quote: Option<&QuoteInfo>,
) -> Result<(Evidence, Claims), ApiError> {
    let q = quote.ok_or_else(|| invalid_quote("the join request carries no quote_info"))?;
    let evidence = attest::evidence_of(q).map_err(invalid_quote)?;
    let claims =
        verify(&evidence, &report_data_for_key(&cert.public_key_der())).map_err(invalid_quote)?;
    let policy = attestation::join_policy(ctx.tx, evidence.format).map_err(internal)?;
    policy::check(&claims, &policy).map_err(invalid_quote)?;
    Ok((evidence, claims))
}

/// Record a new joiner (`Pending`, or `Trusted` with the join token under auto-trust).
fn record_joiner(
    ctx: &mut Ctx<'_>,
    svc: &JoinService,
    node_id: &str,
    cert: &Certificate,
    body: JoinRequest,
) -> Result<NodeStatus, ApiError> {
    let auto =
        svc.auto_trust && token_matches(body.join_token.as_deref(), svc.join_token.as_deref());
    if svc.auto_trust && !auto {
        return Err(ApiError::forbidden("The join token is missing or wrong."));
    }
    let status = if auto {
        NodeStatus::Trusted
    } else {
        NodeStatus::Pending
    };
    // Unauthenticated callers may register Pending nodes: bounded.
    let pending = nodes::with_status(ctx.tx, NodeStatus::Pending)
        .map_err(internal)?
        .len();
    if status == NodeStatus::Pending && pending >= MAX_PENDING_NODES {
        return Err(ApiError::unavailable(
            "TooManyPendingNodes",
            format!(
                "{pending} nodes already wait to be trusted; governance must act on them first."
            ),
        ));
    }
    let (evidence, claims) = attested(ctx, cert, body.quote_info.as_ref())?;
    let pk = consort_ledger::identity::pem_public_key(&cert.public_key_der());
    let mut info = node_info(pk, body.node_to_node_address, body.rpc_address, status);
    attest::record(&mut info, &evidence, &claims);
    nodes::INFO.put(ctx.tx, &node_id.to_string(), &info);
    tracing::info!("node {node_id} joined as {status:?}");
    Ok(status)
}

/// What a trusted joiner receives: its endorsed certificate (made now if need be), the
/// service key, the committed ledger secrets, the trusted nodes and their addresses.
fn network_info(
    ctx: &mut Ctx<'_>,
    svc: &JoinService,
    node_id: &str,
    cert: &Certificate,
    rpc: std::net::SocketAddr,
) -> Result<NetworkInfo, ApiError> {
    let id = node_id.to_string();
    let endorsed = match nodes::ENDORSED_CERTIFICATES
        .get(ctx.tx, &id)
        .map_err(internal)?
    {
        Some(pem) => pem,
        None => {
            let mut s = consort_crypto::cert::Sans::default();
            s.ips.push(published(rpc).ip());
            s.dns.push("localhost".into());
            let pem = svc
                .service
                .endorse(&cert.public_key_der(), &s)
                .map_err(internal)?
                .to_pem();
            nodes::ENDORSED_CERTIFICATES.put(ctx.tx, &id, &pem);
            pem
        }
    };
    let mut trusted = Vec::new();
    let mut addresses = BTreeMap::new();
    for (nid, n) in nodes::all(ctx.tx).map_err(internal)? {
        if let Some(a) = n.node_to_node_address() {
            addresses.insert(nid.clone(), a);
        }
        if n.status == NodeStatus::Trusted {
            trusted.push(nid);
        }
    }
    if !trusted.contains(&id) {
        trusted.push(id);
    }
    // Every ledger secret, rekeys included (a joiner starting from a snapshot would not
    // see the rekey transactions before it).
    let ledger_secrets = svc
        .journal
        .export_committed_secrets()
        .into_iter()
        .map(|(v, s)| (v, hex::encode(s)))
        .collect();
    Ok(NetworkInfo {
        endorsed_certificate: endorsed,
        service_certificate: svc.service.cert.to_pem(),
        service_key: hex::encode(svc.service.key.pkcs8_der()),
        ledger_secrets,
        trusted_nodes: trusted,
        node_to_node_addresses: addresses,
    })
}

fn join(ctx: &mut Ctx<'_>, svc: &JoinService) -> Result<Response, ApiError> {
    let cert = ctx.req.client_cert.clone().ok_or_else(|| {
        ApiError::unauthorized("Joining needs the node's certificate as TLS client certificate.")
    })?;
    let body: JoinRequest = ctx.req.json()?;
    let node_id = cert.public_key_id();
    let existing: Option<NodeInfo> = nodes::INFO.get(ctx.tx, &node_id).map_err(internal)?;
    let rpc = body.rpc_address;
    let status = match existing {
        Some(info) => info.status,
        None => record_joiner(ctx, svc, &node_id, &cert, body)?,
    };
    if status == NodeStatus::Retired {
        return Err(ApiError::forbidden(format!("Node {node_id} is retired.")));
    }
    let network_info = match status {
        NodeStatus::Trusted => Some(network_info(ctx, svc, &node_id, &cert, rpc)?),
        _ => None,
    };
    Ok(Response::json(&JoinResponse {
        node_id,
        node_status: status,
        network_info,
    }))
}

/// Register `/node/join` (snapshots are fetched from `frontends::files`).
pub fn register(r: &mut Registry, svc: Arc<JoinService>) {
    let s = svc;
    r.add(
        Method::POST,
        "/node/join",
        Mode::ReadWrite,
        &[NoAuth],
        "A new node asks to join (TLS client certificate = the node's own)",
        move |ctx| join(ctx, &s),
    );
}
