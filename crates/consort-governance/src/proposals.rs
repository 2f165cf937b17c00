//! Proposals and ballots, as transactions on the governance tables.
//!
//! A proposal is validated by the constitution, stored, and resolved with the ballots of
//! active members each time one arrives; when the constitution accepts it, its actions are
//! applied by the constitution's `apply` in the same transaction. Every step is a write to
//! `public:ccf.gov.*`, so the ledger is the audit trail.

use std::collections::BTreeMap;

use bytes::Bytes;
use consort_kv::Tx;
use serde::{Deserialize, Serialize};
use serde_json::json;
use thiserror::Error;

use crate::{
    constitution::{Engine, Limits, ProposalState, ScriptError, Vote},
    tables::*,
    DEFAULT_CONSTITUTION,
};

/// Why a governance request was refused (nothing was changed).
#[derive(Debug, Error)]
pub enum GovError {
    #[error("proposal {0} does not exist")]
    NotFound(String),
    #[error("proposal {id} is {state:?}, not Open")]
    NotOpen { id: String, state: FinalState },
    #[error("the proposal is not valid: {0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the constitution failed: {0}")]
    Script(#[from] ScriptError),
    #[error("the governance state is damaged: {0}")]
    Corrupt(String),
}

/// Every state a proposal can be in, as CCF names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinalState {
    Open,
    Accepted,
    Withdrawn,
    Rejected,
    Failed,
    Dropped,
}

/// A proposal's record in `public:ccf.gov.proposals_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalInfo {
    pub proposer_id: String,
    pub state: FinalState,
    /// Ballot scripts by member id.
    #[serde(default)]
    pub ballots: BTreeMap<String, String>,
    /// How each ballot evaluated at the last resolution.
    #[serde(default)]
    pub final_votes: BTreeMap<String, bool>,
    /// Ballots that failed to evaluate, with why.
    #[serde(default)]
    pub vote_failures: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// What this resolution's applied proposal asked of the node (`ccf.node.*`: rotate
    /// the ledger secret, refresh recovery shares, open the service); the node does it in
    /// the same transaction. Not stored.
    #[serde(skip)]
    pub node_requests: Vec<crate::constitution::NodeRequest>,
}

impl ProposalInfo {
    /// CCF's 2024-07-01 JSON shape.
    pub fn to_api(&self, id: &str) -> serde_json::Value {
        let mut v = json!({
            "proposalId": id,
            "proposerId": self.proposer_id,
            "proposalState": self.state,
            "ballotCount": self.ballots.len(),
        });
        if !self.final_votes.is_empty() {
            v["finalVotes"] = json!(self.final_votes);
        }
        if !self.vote_failures.is_empty() {
            v["voteFailures"] = json!(self.vote_failures);
        }
        if let Some(f) = &self.failure {
            v["failure"] = json!({ "reason": f });
        }
        v
    }
}

/// Actions that widen trust: applying one drops every other open proposal (they were made
/// under the old rules).
pub const TRUST_WIDENING: &[&str] = &[
    "set_constitution",
    "add_node_code",
    "set_jwt_issuer",
    "add_snp_measurement",
    "add_snp_host_data",
    "set_snp_minimum_tcb_version",
    "set_snp_minimum_tcb_version_hex",
    "add_virtual_measurement",
    "add_virtual_host_data",
];

/// Governance tables the constitution's `apply` sees and may change (applications add
/// their own: see [`create_with`]).
pub const APPLY_TABLES: &[&str] = &[
    MEMBERS_CERTS,
    MEMBERS_INFO,
    MEMBERS_ENC_KEYS,
    USERS_CERTS,
    USERS_INFO,
    NODES_INFO,
    NODES_ENDORSED_CERTS,
    NODES_CODE_IDS,
    SNP_MEASUREMENTS,
    SNP_HOST_DATA,
    SNP_TCB_VERSIONS,
    VIRTUAL_MEASUREMENTS,
    VIRTUAL_HOST_DATA,
    SERVICE_INFO,
    SERVICE_CONFIG,
    JWT_ISSUERS,
    JWT_KEYS,
    CONSTITUTION,
];

/// Whether `table` may be written by `apply`, given the applications' `app_tables`.
fn writable(table: &str, app_tables: &[&str]) -> bool {
    APPLY_TABLES.contains(&table)
        || (table.starts_with("public:ccf.gov.") && app_tables.contains(&table))
}

fn put_json<T: Serialize>(tx: &mut Tx, map: &str, key: &str, v: &T) {
    tx.put(
        map,
        Bytes::from(key.to_string()),
        serde_json::to_vec(v).expect("json"),
    );
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The constitution in force.
pub fn constitution(tx: &mut Tx) -> String {
    tx.get(CONSTITUTION, &SINGLETON)
        .and_then(|v| serde_json::from_slice::<String>(&v).ok())
        .unwrap_or_else(|| DEFAULT_CONSTITUTION.to_string())
}

/// Set the constitution (service creation).
pub fn set_constitution(tx: &mut Tx, source: &str) {
    tx.put(
        CONSTITUTION,
        Bytes::from_static(&SINGLETON),
        serde_json::to_vec(source).expect("json"),
    );
}

/// Members whose state is `Active`.
pub fn active_members(tx: &mut Tx) -> Vec<String> {
    tx.range(MEMBERS_INFO, &..)
        .into_iter()
        .filter(|(_, v)| {
            serde_json::from_slice::<serde_json::Value>(v).is_ok_and(|j| j["status"] == "Active")
        })
        .map(|(k, _)| text(&k))
        .collect()
}

/// A member's state (`Accepted`, `Active`), if it is a member.
pub fn member_status(tx: &mut Tx, id: &str) -> Option<String> {
    let v = tx.get(MEMBERS_INFO, id.as_bytes())?;
    let j: serde_json::Value = serde_json::from_slice(&v).ok()?;
    j["status"].as_str().map(str::to_string)
}

/// Record a member's acknowledgement: `Accepted` → `Active`.
pub fn activate_member(tx: &mut Tx, id: &str) -> Result<(), GovError> {
    let v = tx
        .get(MEMBERS_INFO, id.as_bytes())
        .ok_or_else(|| GovError::Forbidden(format!("{id} is not a member")))?;
    let mut j: serde_json::Value =
        serde_json::from_slice(&v).map_err(|e| GovError::Corrupt(e.to_string()))?;
    j["status"] = json!("Active");
    put_json(tx, MEMBERS_INFO, id, &j);
    Ok(())
}

fn engine(tx: &mut Tx) -> Result<Engine, GovError> {
    Ok(Engine::new(&constitution(tx), Limits::default())?)
}

fn load_info(tx: &mut Tx, id: &str) -> Result<ProposalInfo, GovError> {
    let v = tx
        .get(PROPOSALS_INFO, id.as_bytes())
        .ok_or_else(|| GovError::NotFound(id.to_string()))?;
    serde_json::from_slice(&v).map_err(|e| GovError::Corrupt(e.to_string()))
}

/// A stored proposal's info.
pub fn get(tx: &mut Tx, id: &str) -> Result<ProposalInfo, GovError> {
    load_info(tx, id)
}

/// A stored proposal's text.
pub fn proposal_text(tx: &mut Tx, id: &str) -> Result<String, GovError> {
    tx.get(PROPOSALS, id.as_bytes())
        .map(|v| text(&v))
        .ok_or_else(|| GovError::NotFound(id.to_string()))
}

/// Seconds a signed governance request is valid either side of its `created_at`; it is
/// remembered (for replay checks) about that long.
pub const REQUEST_WINDOW_SECS: i64 = 3600;

/// A member's signed request, as governance received it.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub member: &'a str,
    /// Identifies the envelope (hex SHA-256 of its signature).
    pub digest: &'a str,
    /// Its signed creation time (seconds since the epoch).
    pub created_at: i64,
    /// The whole COSE Sign1 envelope, base64, kept in `public:ccf.gov.history`; `None`
    /// for a request whose payload is secret (a recovery share), which is not kept.
    pub envelope_b64: Option<&'a str>,
}

/// Refuse an envelope seen before (or too old to be checked); remember this one, keep it
/// as the member's latest signed request in `public:ccf.gov.history` (so the ledger holds
/// every signed governance request), and forget envelopes older than the window.
pub fn check_replay(tx: &mut Tx, req: SignedRequest<'_>, now: i64) -> Result<(), GovError> {
    if req.created_at < now - REQUEST_WINDOW_SECS {
        return Err(GovError::Forbidden("this signed request is too old".into()));
    }
    if tx.get(COSE_RECENT, req.digest.as_bytes()).is_some() {
        return Err(GovError::Forbidden(
            "this signed request was already submitted (replay)".into(),
        ));
    }
    let expired: Vec<Bytes> = tx
        .range(COSE_RECENT, &..)
        .into_iter()
        .filter(|(_, v)| {
            text(v)
                .parse::<i64>()
                // Twice the window: nodes' clocks may differ, and an envelope forgotten
                // here must be refused as stale by any node that could become primary.
                .is_ok_and(|t| t < now - 2 * REQUEST_WINDOW_SECS)
        })
        .map(|(k, _)| k)
        .collect();
    for k in expired {
        tx.remove(COSE_RECENT, k);
    }
    tx.put(
        COSE_RECENT,
        Bytes::from(req.digest.to_string()),
        req.created_at.to_string().into_bytes(),
    );
    if let Some(envelope) = req.envelope_b64 {
        put_json(
            tx,
            HISTORY,
            req.member,
            &json!({"created_at": req.created_at, "cose_sign1": envelope}),
        );
    }
    Ok(())
}

/// Create a proposal by `proposer` (an active member); resolves it at once.
pub fn create(
    tx: &mut Tx,
    proposer: &str,
    proposal: &str,
    id: &str,
) -> Result<ProposalInfo, GovError> {
    create_with(tx, proposer, proposal, id, &[])
}

/// [`create`], where `apply` also sees and may write the applications' `app_tables`
/// (which must be `public:ccf.gov.*` tables).
pub fn create_with(
    tx: &mut Tx,
    proposer: &str,
    proposal: &str,
    id: &str,
    app_tables: &[&str],
) -> Result<ProposalInfo, GovError> {
    if member_status(tx, proposer).as_deref() != Some("Active") {
        return Err(GovError::Forbidden(format!(
            "member {proposer} is not active and cannot propose"
        )));
    }
    let e = engine(tx)?;
    let v = e.validate(proposal)?;
    if !v.valid {
        return Err(GovError::Invalid(v.description));
    }
    if tx.get(PROPOSALS_INFO, id.as_bytes()).is_some() {
        return Err(GovError::Forbidden(format!("proposal {id} already exists")));
    }
    tx.put(
        PROPOSALS,
        Bytes::from(id.to_string()),
        proposal.as_bytes().to_vec(),
    );
    let info = ProposalInfo {
        proposer_id: proposer.to_string(),
        state: FinalState::Open,
        ballots: BTreeMap::new(),
        final_votes: BTreeMap::new(),
        vote_failures: BTreeMap::new(),
        failure: None,
        node_requests: Vec::new(),
    };
    resolve(tx, &e, id, info, proposal, app_tables)
}

/// A member's ballot on an open proposal; resolves it.
pub fn submit_ballot(
    tx: &mut Tx,
    id: &str,
    member: &str,
    ballot: &str,
) -> Result<ProposalInfo, GovError> {
    submit_ballot_with(tx, id, member, ballot, &[])
}

/// [`submit_ballot`] with the applications' governance tables (see [`create_with`]).
pub fn submit_ballot_with(
    tx: &mut Tx,
    id: &str,
    member: &str,
    ballot: &str,
    app_tables: &[&str],
) -> Result<ProposalInfo, GovError> {
    if member_status(tx, member).as_deref() != Some("Active") {
        return Err(GovError::Forbidden(format!(
            "member {member} is not active and cannot vote"
        )));
    }
    let mut info = load_info(tx, id)?;
    if info.state != FinalState::Open {
        return Err(GovError::NotOpen {
            id: id.to_string(),
            state: info.state,
        });
    }
    if info.ballots.contains_key(member) {
        return Err(GovError::Forbidden(format!(
            "member {member} already voted on {id}"
        )));
    }
    info.ballots.insert(member.to_string(), ballot.to_string());
    let proposal = proposal_text(tx, id)?;
    let e = engine(tx)?;
    resolve(tx, &e, id, info, &proposal, app_tables)
}

/// The proposer withdraws an open proposal.
pub fn withdraw(tx: &mut Tx, id: &str, member: &str) -> Result<ProposalInfo, GovError> {
    let mut info = load_info(tx, id)?;
    if info.proposer_id != member {
        return Err(GovError::Forbidden(format!(
            "only the proposer may withdraw {id}"
        )));
    }
    if info.state != FinalState::Open {
        return Err(GovError::NotOpen {
            id: id.to_string(),
            state: info.state,
        });
    }
    info.state = FinalState::Withdrawn;
    put_json(tx, PROPOSALS_INFO, id, &info);
    Ok(info)
}

/// The governance tables as `apply` sees them: `{table: {key: value}}`.
fn gov_state(tx: &mut Tx, app_tables: &[&str]) -> serde_json::Value {
    let mut state = serde_json::Map::new();
    for t in APPLY_TABLES.iter().chain(app_tables) {
        let mut m = serde_json::Map::new();
        for (k, v) in tx.range(t, &..) {
            m.insert(text(&k), json!(text(&v)));
        }
        state.insert(t.to_string(), json!(m));
    }
    json!(state)
}

fn resolve(
    tx: &mut Tx,
    e: &Engine,
    id: &str,
    mut info: ProposalInfo,
    proposal: &str,
    app_tables: &[&str],
) -> Result<ProposalInfo, GovError> {
    let active = active_members(tx);
    info.final_votes.clear();
    info.vote_failures.clear();
    let mut votes = Vec::new();
    for (member, ballot) in &info.ballots {
        if !active.contains(member) {
            continue;
        }
        // Each ballot in its own runtime: a ballot must not be able to tamper with the
        // constitution, its helpers or other members' ballots.
        match Engine::run_ballot(Limits::default(), ballot, proposal, &info.proposer_id) {
            Ok(v) => {
                info.final_votes.insert(member.clone(), v);
                votes.push(Vote {
                    member_id: member.clone(),
                    vote: v,
                });
            }
            Err(err) => {
                info.vote_failures.insert(member.clone(), err.to_string());
            }
        }
    }
    let state = e.resolve(proposal, &info.proposer_id, &votes, &active)?;
    info.state = match state {
        ProposalState::Open => FinalState::Open,
        ProposalState::Rejected => FinalState::Rejected,
        ProposalState::Accepted => FinalState::Accepted,
    };
    if info.state == FinalState::Accepted {
        match e.apply(proposal, id, gov_state(tx, app_tables)) {
            Ok(changes) => {
                for (table, key, value) in changes {
                    if table == crate::constitution::NODE_MARKER {
                        let r = crate::constitution::NodeRequest::parse(&key, value.as_deref())
                            .ok_or_else(|| {
                                GovError::Corrupt(format!("unknown node request {key}"))
                            })?;
                        info.node_requests.push(r);
                        continue;
                    }
                    if !writable(&table, app_tables) {
                        return Err(GovError::Forbidden(format!(
                            "the constitution may not write {table}"
                        )));
                    }
                    match value {
                        Some(v) => tx.put(&table, Bytes::from(key), v.into_bytes()),
                        None => {
                            tx.remove(&table, Bytes::from(key));
                        }
                    }
                }
                drop_after_apply(tx, id, proposal)?;
            }
            Err(err) => {
                info.state = FinalState::Failed;
                info.failure = Some(err.to_string());
            }
        }
    }
    put_json(tx, PROPOSALS_INFO, id, &info);
    Ok(info)
}

/// After `id` was applied: if it widened trust, drop every other open proposal; drop open
/// proposals of members it removed.
fn drop_after_apply(tx: &mut Tx, id: &str, proposal: &str) -> Result<(), GovError> {
    let p: serde_json::Value =
        serde_json::from_str(proposal).map_err(|e| GovError::Corrupt(e.to_string()))?;
    let names: Vec<&str> = p["actions"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    let widening = names.iter().any(|n| TRUST_WIDENING.contains(n));
    for (k, v) in tx.range(PROPOSALS_INFO, &..) {
        let other = text(&k);
        if other == id {
            continue;
        }
        let Ok(mut info) = serde_json::from_slice::<ProposalInfo>(&v) else {
            continue;
        };
        if info.state != FinalState::Open {
            continue;
        }
        let proposer_gone = tx.get(MEMBERS_CERTS, info.proposer_id.as_bytes()).is_none();
        if widening || proposer_gone {
            info.state = FinalState::Dropped;
            put_json(tx, PROPOSALS_INFO, &other, &info);
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "proposals_test.rs"]
mod proposals_test;

#[cfg(test)]
#[path = "attestation_actions_test.rs"]
mod attestation_actions_test;
