//! CCF's governance API (2024-07-01): proposals, ballots, withdrawal, member activation,
//! and read-only views of the service's governance state.
//!
//! Writes are COSE Sign1 envelopes signed by a member (`application/cose`), carrying CCF's
//! protected headers: `ccf.gov.msg.type` must name the operation, `ccf.gov.msg.created_at`
//! must be recent, and for ballots and withdrawals `ccf.gov.msg.proposal_id` must be the
//! proposal in the path. An envelope is accepted once: replays are refused.

use consort_governance::{proposals, tables as gt, GovError, NodeRequest};
use consort_kv::TxId;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use consort_endpoints::{
    auth::{ENVELOPE, ENVELOPE_DIGEST},
    ApiError, AuthPolicy,
    AuthPolicy::{MemberCose, NoAuth},
    Caller, Ctx, Mode,
    Mode::{ReadOnly, ReadWrite},
    Registry, Response,
};
use std::sync::Arc;

/// What the governance frontend needs beyond a handler's context: the applications'
/// governance tables and their hooks on applied proposals.
#[derive(Debug)]
pub struct GovFrontend {
    pub(crate) app_tables: Vec<&'static str>,
    pub(crate) apps: Registry,
}

mod join_policy;
mod recovery;

type GovHandler = fn(&mut Ctx<'_>, &GovFrontend) -> Result<Response, ApiError>;

/// API versions accepted in `api-version`.
pub const API_VERSIONS: &[&str] = &["2023-06-01-preview", "2024-07-01"];

pub(crate) fn check_version(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    match ctx.req.query.get("api-version") {
        None => Err(ApiError::bad_request(
            "MissingApiVersionParameter",
            format!(
                "The api-version query parameter is required (one of {}).",
                API_VERSIONS.join(", ")
            ),
        )),
        Some(v) if API_VERSIONS.contains(&v.as_str()) => Ok(()),
        Some(v) => Err(ApiError::bad_request(
            "UnsupportedApiVersionValue",
            format!(
                "api-version {v} is not supported (use one of {}).",
                API_VERSIONS.join(", ")
            ),
        )),
    }
}

fn gov_error(e: GovError) -> ApiError {
    match e {
        GovError::NotFound(m) => ApiError::new(
            StatusCode::NOT_FOUND,
            "ProposalNotFound",
            format!("Proposal {m} does not exist."),
        ),
        e @ GovError::NotOpen { .. } => ApiError::bad_request("ProposalNotOpen", e.to_string()),
        GovError::Invalid(m) => ApiError::bad_request(
            "ProposalFailedToValidate",
            format!("The proposal failed validation: {m}"),
        ),
        GovError::Forbidden(m) => ApiError::forbidden(m),
        e @ GovError::Script(_) => ApiError::bad_request("ConstitutionFailed", e.to_string()),
        e @ GovError::Corrupt(_) => ApiError::internal(e.to_string()),
    }
}

/// The calling member, and checks of the signed headers: message type, freshness,
/// proposal id; records the envelope so it cannot be replayed.
pub(crate) fn signed_member(
    ctx: &mut Ctx<'_>,
    msg_type: &str,
    proposal_id: Option<&str>,
) -> Result<String, ApiError> {
    let Caller::Member { id } = &ctx.req.caller else {
        return Err(ApiError::forbidden("Only members may do this."));
    };
    let h = &ctx.req.cose_headers;
    let bad = |m: String| ApiError::bad_request("InvalidCoseHeaders", m);
    match h.get("ccf.gov.msg.type").and_then(Value::as_str) {
        Some(t) if t == msg_type => {}
        other => {
            return Err(bad(format!(
                "ccf.gov.msg.type must be \"{msg_type}\" here, not {other:?}"
            )))
        }
    }
    let created_at = h
        .get("ccf.gov.msg.created_at")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("ccf.gov.msg.created_at is missing".into()))?;
    if let Some(p) = proposal_id {
        if h.get("ccf.gov.msg.proposal_id").and_then(Value::as_str) != Some(p) {
            return Err(bad(format!(
                "ccf.gov.msg.proposal_id must be {p}, the proposal in the path"
            )));
        }
    }
    let digest = h
        .get(ENVELOPE_DIGEST)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::internal("no envelope digest"))?
        .to_string();
    let envelope = h
        .get(ENVELOPE)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let now = consort_endpoints::auth::now();
    let member = id.clone();
    proposals::check_replay(
        ctx.tx,
        proposals::SignedRequest {
            member: &member,
            digest: &digest,
            created_at,
            // A recovery share's envelope holds the share in clear: never kept.
            envelope_b64: (msg_type != "recovery_share").then_some(envelope.as_str()),
        },
        now,
    )
    .map_err(gov_error)?;
    Ok(member)
}

/// A governance effect's failure as a response: refusals keep their code.
pub(crate) fn effect_error(e: consort_endpoints::EffectError) -> ApiError {
    use consort_endpoints::EffectError;
    match e {
        EffectError::Refused {
            code,
            message,
            status,
        } => ApiError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message,
        ),
        e => ApiError::internal(e.to_string()),
    }
}

/// After a proposal was applied: the applications' hooks, what it asked of the node (a
/// ledger rekey, fresh recovery shares, opening the service), and the recovery shares a
/// change of members or threshold calls for — all in this transaction.
fn after_apply(
    ctx: &mut Ctx<'_>,
    gov: &GovFrontend,
    info: &consort_governance::ProposalInfo,
) -> Result<(), ApiError> {
    if info.state != consort_governance::FinalState::Accepted {
        return Ok(());
    }
    gov.apps
        .run_proposal_applied(ctx.tx)
        .map_err(|e| ApiError::invalid_input(format!("The proposal cannot be applied: {e}")))?;
    let mut refreshed = false;
    for r in &info.node_requests {
        match r {
            NodeRequest::RekeyLedger => {
                ctx.gov.rekey_ledger(ctx.tx).map_err(effect_error)?;
                refreshed = true;
            }
            NodeRequest::RefreshRecoveryShares => {
                ctx.gov
                    .refresh_recovery_shares(ctx.tx, true)
                    .map_err(effect_error)?;
                refreshed = true;
            }
            NodeRequest::OpenService {
                previous_identity,
                next_identity,
            } => ctx
                .gov
                .open_service(
                    ctx.tx,
                    previous_identity.as_deref(),
                    next_identity.as_deref(),
                )
                .map_err(|e| match effect_error(e) {
                    mut a if a.status.is_client_error() => {
                        a.message = format!("Unable to open service: {}", a.message);
                        a
                    }
                    a => a,
                })?,
        }
    }
    if !refreshed {
        ctx.gov
            .refresh_recovery_shares(ctx.tx, false)
            .map_err(effect_error)?;
    }
    Ok(())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

/// Create a proposal (COSE Sign1, ccf.gov.msg.type = proposal)
fn create_proposal(ctx: &mut Ctx<'_>, gov: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let member = signed_member(ctx, "proposal", None)?;
    let proposal = std::str::from_utf8(&ctx.req.body)
        .map_err(|_| ApiError::invalid_input("The proposal is not UTF-8."))?
        .to_string();
    // The id: the envelope's signature digest, unique per signed proposal.
    let id = ctx.req.cose_headers[ENVELOPE_DIGEST]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let info = proposals::create_with(ctx.tx, &member, &proposal, &id, &gov.app_tables)
        .map_err(gov_error)?;
    after_apply(ctx, gov, &info)?;
    Ok(Response::json(&info.to_api(&id)))
}

/// All proposals
fn list_proposals(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let mut v = Vec::new();
    for (k, raw) in ctx.tx.range(gt::PROPOSALS_INFO, &..) {
        if let Ok(info) = serde_json::from_slice::<consort_governance::ProposalInfo>(&raw) {
            v.push(info.to_api(&text(&k)));
        }
    }
    Ok(Response::json(&json!({ "value": v })))
}

/// A proposal's state and ballots
fn get_proposal(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let id = ctx.req.params["proposalId"].clone();
    let info = proposals::get(ctx.tx, &id).map_err(gov_error)?;
    Ok(Response::json(&info.to_api(&id)))
}

/// A proposal's actions
fn get_proposal_actions(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let id = ctx.req.params["proposalId"].clone();
    let p = proposals::proposal_text(ctx.tx, &id).map_err(gov_error)?;
    Ok(Response::text(StatusCode::OK, "application/json", p))
}

/// Submit a ballot (COSE Sign1, ccf.gov.msg.type = ballot)
fn submit_ballot(ctx: &mut Ctx<'_>, gov: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let id = ctx.req.params["proposalId"].clone();
    let member = signed_member(ctx, "ballot", Some(&id))?;
    if ctx.req.params["memberId"] != member {
        return Err(ApiError::forbidden(
            "A member may only submit its own ballot.",
        ));
    }
    let body: Value = ctx.req.json()?;
    let ballot = body["ballot"].as_str().ok_or_else(|| {
        ApiError::invalid_input("The body must be {\"ballot\": \"<JavaScript module>\"}.")
    })?;
    let info = proposals::submit_ballot_with(ctx.tx, &id, &member, ballot, &gov.app_tables)
        .map_err(gov_error)?;
    after_apply(ctx, gov, &info)?;
    Ok(Response::json(&info.to_api(&id)))
}

/// Withdraw a proposal (COSE Sign1, ccf.gov.msg.type = withdrawal)
fn withdraw_proposal(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let id = ctx.req.params["proposalId"].clone();
    let member = signed_member(ctx, "withdrawal", Some(&id))?;
    let info = proposals::withdraw(ctx.tx, &id, &member).map_err(gov_error)?;
    Ok(Response::json(&info.to_api(&id)))
}

/// Get a fresh state digest to acknowledge (COSE, ccf.gov.msg.type = state_digest)
fn update_state_digest(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let member = signed_member(ctx, "state_digest", None)?;
    if ctx.req.params["memberId"] != member {
        return Err(ApiError::forbidden(
            "A member may only update its own digest.",
        ));
    }
    let digest = ctx.ledger.merkle_root().to_hex();
    ctx.tx.put(
        MEMBERS_ACKS,
        bytes::Bytes::from(member.clone()),
        serde_json::to_vec(&json!({"state_digest": digest})).expect("json"),
    );
    Ok(Response::json(
        &json!({"memberId": member, "stateDigest": digest}),
    ))
}

/// Acknowledge the state digest: the member becomes Active (ccf.gov.msg.type = ack)
fn ack_state_digest(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let member = signed_member(ctx, "ack", None)?;
    if ctx.req.params["memberId"] != member {
        return Err(ApiError::forbidden(
            "A member may only acknowledge for itself.",
        ));
    }
    let body: Value = ctx.req.json()?;
    let expected = ctx
        .tx
        .get(MEMBERS_ACKS, member.as_bytes())
        .map(|v| json_of(&v)["state_digest"].clone())
        .ok_or_else(|| {
            ApiError::bad_request(
                "StateDigestMissing",
                "Call :update first to get the state digest to acknowledge.",
            )
        })?;
    if body["stateDigest"] != expected {
        return Err(ApiError::bad_request(
            "StateDigestMismatch",
            "The acknowledged digest is not the one this member was given.",
        ));
    }
    proposals::activate_member(ctx.tx, &member).map_err(gov_error)?;
    // A recovery member that becomes active gets a share.
    ctx.gov
        .refresh_recovery_shares(ctx.tx, false)
        .map_err(effect_error)?;
    Ok(Response::json(&json!({})).with_status(StatusCode::NO_CONTENT))
}

/// A member's last state digest
fn get_state_digest(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let id = ctx.req.params["memberId"].clone();
    let d = ctx
        .tx
        .get(MEMBERS_ACKS, id.as_bytes())
        .map(|v| json_of(&v)["state_digest"].clone())
        .ok_or_else(|| ApiError::not_found(format!("No state digest for {id}.")))?;
    Ok(Response::json(&json!({"memberId": id, "stateDigest": d})))
}

/// Service status and identity
fn service_info(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let info = ctx
        .tx
        .get(gt::SERVICE_INFO, &gt::SINGLETON)
        .map(|v| json_of(&v))
        .unwrap_or_default();
    let config = ctx
        .tx
        .get(gt::SERVICE_CONFIG, &gt::SINGLETON)
        .map(|v| json_of(&v))
        .unwrap_or(json!({}));
    Ok(Response::json(&json!({
        "status": info["status"],
        "certificate": info["cert"],
        "recoveryCount": info["recovery_count"],
        "creationTransactionId": info["current_service_create_txid"],
        "serviceData": info["service_data"],
        "configuration": config,
    })))
}

/// The constitution in force
fn service_constitution(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let c = proposals::constitution(ctx.tx);
    Ok(Response::text(StatusCode::OK, "text/javascript", c))
}

/// Members
fn service_members(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let mut v = Vec::new();
    for (k, cert) in ctx.tx.range(gt::MEMBERS_CERTS, &..) {
        let info = ctx
            .tx
            .get(gt::MEMBERS_INFO, &k)
            .map(|b| json_of(&b))
            .unwrap_or_default();
        let enc = ctx.tx.get(gt::MEMBERS_ENC_KEYS, &k).map(|b| text(&b));
        let mut m = json!({
            "memberId": text(&k),
            "status": info["status"],
            "certificate": text(&cert),
            "memberData": info["member_data"],
        });
        if let Some(e) = enc {
            m["publicEncryptionKey"] = json!(e);
        }
        v.push(m);
    }
    Ok(Response::json(&json!({ "value": v })))
}

/// Users
fn service_users(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let mut v = Vec::new();
    for (k, cert) in ctx.tx.range(gt::USERS_CERTS, &..) {
        let info = ctx
            .tx
            .get(gt::USERS_INFO, &k)
            .map(|b| json_of(&b))
            .unwrap_or_default();
        v.push(json!({
            "userId": text(&k),
            "certificate": text(&cert),
            "userData": info["user_data"],
        }));
    }
    Ok(Response::json(&json!({ "value": v })))
}

/// Nodes
fn service_nodes(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let mut v = Vec::new();
    for (k, raw) in ctx.tx.range(gt::NODES_INFO, &..) {
        let info = json_of(&raw);
        let cert = ctx.tx.get(gt::NODES_ENDORSED_CERTS, &k).map(|b| text(&b));
        v.push(json!({
            "nodeId": text(&k),
            "status": info["status"],
            "certificate": cert,
            "quoteInfo": info["quote_info"],
            "nodeData": info["node_data"],
            "retiredCommitted": info["retired_committed"],
            "rpcInterfaces": info["rpc_interfaces"],
        }));
    }
    Ok(Response::json(&json!({ "value": v })))
}

/// Status of a transaction
fn service_transaction(ctx: &mut Ctx<'_>, _: &GovFrontend) -> Result<Response, ApiError> {
    check_version(ctx)?;
    let raw = ctx.req.params["transactionId"].clone();
    let t: TxId = raw.parse().map_err(|_| {
        ApiError::invalid_input(format!("{raw} is not a transaction id (view.seqno)"))
    })?;
    let status = ctx.ledger.tx_status(t);
    Ok(Response::json(
        &json!({"transactionId": t.to_string(), "status": status}),
    ))
}

/// The governance endpoints: (method, path, mode, policies, summary, handler).
/// (method, path, mode, policies, summary, handler).
pub(crate) type Route = (
    Method,
    &'static str,
    Mode,
    &'static [AuthPolicy],
    &'static str,
    GovHandler,
);

const ENDPOINTS: &[Route] = &[
    (
        Method::POST,
        "/gov/members/proposals:create",
        ReadWrite,
        &[MemberCose],
        "Create a proposal (COSE Sign1, ccf.gov.msg.type = proposal)",
        create_proposal,
    ),
    (
        Method::GET,
        "/gov/members/proposals",
        ReadOnly,
        &[NoAuth],
        "All proposals",
        list_proposals,
    ),
    (
        Method::GET,
        "/gov/members/proposals/{proposalId}",
        ReadOnly,
        &[NoAuth],
        "A proposal's state and ballots",
        get_proposal,
    ),
    (
        Method::GET,
        "/gov/members/proposals/{proposalId}/actions",
        ReadOnly,
        &[NoAuth],
        "A proposal's actions",
        get_proposal_actions,
    ),
    (
        Method::POST,
        "/gov/members/proposals/{proposalId}/ballots/{memberId}:submit",
        ReadWrite,
        &[MemberCose],
        "Submit a ballot (COSE Sign1, ccf.gov.msg.type = ballot)",
        submit_ballot,
    ),
    (
        Method::POST,
        "/gov/members/proposals/{proposalId}:withdraw",
        ReadWrite,
        &[MemberCose],
        "Withdraw a proposal (COSE Sign1, ccf.gov.msg.type = withdrawal)",
        withdraw_proposal,
    ),
    (
        Method::POST,
        "/gov/members/state-digests/{memberId}:update",
        ReadWrite,
        &[MemberCose],
        "Get a fresh state digest to acknowledge (COSE, ccf.gov.msg.type = state_digest)",
        update_state_digest,
    ),
    (
        Method::POST,
        "/gov/members/state-digests/{memberId}:ack",
        ReadWrite,
        &[MemberCose],
        "Acknowledge the state digest: the member becomes Active (ccf.gov.msg.type = ack)",
        ack_state_digest,
    ),
    (
        Method::GET,
        "/gov/members/state-digests/{memberId}",
        ReadOnly,
        &[NoAuth],
        "A member's last state digest",
        get_state_digest,
    ),
    (
        Method::GET,
        "/gov/service/info",
        ReadOnly,
        &[NoAuth],
        "Service status and identity",
        service_info,
    ),
    (
        Method::GET,
        "/gov/service/constitution",
        ReadOnly,
        &[NoAuth],
        "The constitution in force",
        service_constitution,
    ),
    (
        Method::GET,
        "/gov/service/members",
        ReadOnly,
        &[NoAuth],
        "Members",
        service_members,
    ),
    (
        Method::GET,
        "/gov/service/users",
        ReadOnly,
        &[NoAuth],
        "Users",
        service_users,
    ),
    (
        Method::GET,
        "/gov/service/nodes",
        ReadOnly,
        &[NoAuth],
        "Nodes",
        service_nodes,
    ),
    (
        Method::GET,
        "/gov/service/transactions/{transactionId}",
        ReadOnly,
        &[NoAuth],
        "Status of a transaction",
        service_transaction,
    ),
];

/// Register the `/gov` endpoints; `apps` holds the applications' governance (tables,
/// hooks).
pub fn register(r: &mut Registry, apps: Registry) {
    let gov = Arc::new(GovFrontend {
        app_tables: apps.gov_tables().to_vec(),
        apps,
    });
    for (method, path, mode, auth, summary, handler) in ENDPOINTS
        .iter()
        .chain(recovery::ENDPOINTS)
        .chain(join_policy::ENDPOINTS)
    {
        let (gov, handler) = (gov.clone(), *handler);
        r.add(method.clone(), path, *mode, auth, summary, move |ctx| {
            handler(ctx, &gov)
        });
    }
}

/// State digests given to members to acknowledge.
pub const MEMBERS_ACKS: &str = consort_service::gov::MEMBERS_ACKS.name();
