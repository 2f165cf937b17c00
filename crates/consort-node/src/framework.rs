//! The endpoint framework: applications register handlers; the framework routes,
//! authenticates, runs each handler in a KV transaction, commits (retrying on conflict),
//! and returns the transaction id in `x-ms-ccf-transaction-id`.

use std::{collections::BTreeMap, sync::Arc};

use consort_kv::{CommitOutcome, KvError, Tx, TxId};
use consort_ledger::LedgerError;
use http::{Method, StatusCode};
use serde_json::json;

use crate::{
    api::{ApiError, Request, Response},
    node::NodeState,
    replica::ReplicaError,
};

/// Header carrying the id of the transaction a response reflects, as in CCF.
pub const TXID_HEADER: &str = "x-ms-ccf-transaction-id";
/// How many times a conflicting read-write transaction is re-executed.
pub const MAX_RETRIES: usize = 32;

pub use crate::auth::AuthPolicy;

/// Whether a handler may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadOnly,
    ReadWrite,
}

/// What a handler gets.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub tx: &'a mut Tx,
    pub req: &'a Request,
    pub node: &'a NodeState,
}

pub type Handler = Arc<dyn Fn(&mut Ctx<'_>) -> Result<Response, ApiError> + Send + Sync>;

/// One endpoint.
#[derive(Clone)]
pub struct Endpoint {
    pub method: Method,
    /// Path template, e.g. `/app/log/private` or `/gov/members/{id}`.
    pub path: String,
    pub mode: Mode,
    pub auth: Vec<AuthPolicy>,
    pub summary: String,
    pub handler: Handler,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({:?}, {:?})",
            self.method, self.path, self.mode, self.auth
        )
    }
}

/// Writes an application makes in the genesis transaction of a new service.
pub type GenesisHook = Arc<dyn Fn(&mut Tx) + Send + Sync>;

/// Writes an application makes when a governance proposal is applied, in the same
/// transaction (e.g. settings the constitution left in a governance table). An error
/// fails the whole request: nothing of the proposal is applied.
pub type GovernanceHook = Arc<dyn Fn(&mut Tx) -> Result<(), String> + Send + Sync>;

/// All endpoints of a node, and the applications' genesis writes.
#[derive(Default, Clone)]
pub struct Registry {
    endpoints: Vec<Endpoint>,
    genesis: Vec<GenesisHook>,
    governance: Vec<GovernanceHook>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("endpoints", &self.endpoints)
            .field("genesis_hooks", &self.genesis.len())
            .finish()
    }
}

fn match_template(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = BTreeMap::new();
    for (a, b) in t.iter().zip(&p) {
        if let Some((name, suffix)) = a.strip_prefix('{').and_then(|n| n.split_once('}')) {
            // `{name}` or `{name}:verb` (CCF's custom methods).
            let b = b.strip_suffix(suffix)?;
            if b.is_empty() {
                return None;
            }
            let v = url::form_urlencoded::parse(format!("x={b}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            params.insert(name.to_string(), v);
        } else if a != b {
            return None;
        }
    }
    Some(params)
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Run `f` in the genesis transaction of a new service (e.g. initial balances).
    pub fn on_genesis(&mut self, f: impl Fn(&mut Tx) + Send + Sync + 'static) {
        self.genesis.push(Arc::new(f));
    }

    /// Apply every application's genesis writes to `tx`.
    pub fn run_genesis(&self, tx: &mut Tx) {
        for g in &self.genesis {
            g(tx);
        }
    }

    /// Run `f` in every transaction that applies an accepted proposal.
    pub fn on_proposal_applied(
        &mut self,
        f: impl Fn(&mut Tx) -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.governance.push(Arc::new(f));
    }

    /// Run every application's governance hook on `tx`.
    pub fn run_proposal_applied(&self, tx: &mut Tx) -> Result<(), String> {
        self.governance.iter().try_for_each(|g| g(tx))
    }

    /// Register a handler.
    pub fn add(
        &mut self,
        method: Method,
        path: &str,
        mode: Mode,
        auth: &[AuthPolicy],
        summary: &str,
        handler: impl Fn(&mut Ctx<'_>) -> Result<Response, ApiError> + Send + Sync + 'static,
    ) {
        self.endpoints.push(Endpoint {
            method,
            path: path.to_string(),
            mode,
            auth: auth.to_vec(),
            summary: summary.to_string(),
            handler: Arc::new(handler),
        });
    }

    /// Find the endpoint for `method` and `path`: 404 if no endpoint has the path, 405 if
    /// none has the method.
    pub fn route(
        &self,
        method: &Method,
        path: &str,
    ) -> Result<(&Endpoint, BTreeMap<String, String>), ApiError> {
        let mut allowed = Vec::new();
        for e in &self.endpoints {
            if let Some(params) = match_template(&e.path, path) {
                if e.method == *method {
                    return Ok((e, params));
                }
                allowed.push(e.method.as_str().to_string());
            }
        }
        if allowed.is_empty() {
            Err(ApiError::not_found(format!("Unknown path: {path}.")))
        } else {
            Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "UnsupportedHttpVerb",
                format!("Allowed methods for '{path}' are: {}.", allowed.join(", ")),
            ))
        }
    }

    /// OpenAPI 3 document of the endpoints under `prefix` (`/app`, `/node`, `/gov`).
    pub fn openapi(&self, prefix: &str, title: &str) -> serde_json::Value {
        let mut paths = serde_json::Map::new();
        for e in self.endpoints.iter().filter(|e| e.path.starts_with(prefix)) {
            let security: Vec<serde_json::Value> = e
                .auth
                .iter()
                .filter_map(|a| a.openapi_name())
                .map(|n| json!({ n: [] }))
                .collect();
            let params: Vec<serde_json::Value> = e
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.split_once('}')).map(|(n, _)| n))
                .map(|n| json!({"name": n, "in": "path", "required": true, "schema": {"type": "string"}}))
                .collect();
            let mut op = json!({
                "summary": e.summary,
                "operationId": format!("{} {}", e.method, e.path),
                "responses": {
                    "200": {"description": "Success"},
                    "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                },
                "x-consort-mode": if e.mode == Mode::ReadOnly { "readonly" } else { "readwrite" },
            });
            if !security.is_empty() {
                op["security"] = json!(security);
            }
            if !params.is_empty() {
                op["parameters"] = json!(params);
            }
            let entry = paths.entry(e.path.clone()).or_insert_with(|| json!({}));
            entry[e.method.as_str().to_lowercase()] = op;
        }
        json!({
            "openapi": "3.0.0",
            "info": {"title": title, "version": env!("CARGO_PKG_VERSION")},
            "servers": [],
            "paths": paths,
            "components": {
                "schemas": {
                    "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"}}}}}
                },
                "securitySchemes": {
                    "user_cert": {"type": "http", "scheme": "mutual TLS", "description": "TLS client certificate of a registered user"},
                    "member_cert": {"type": "http", "scheme": "mutual TLS", "description": "TLS client certificate of a registered member"},
                    "user_cose_sign1": {"type": "http", "scheme": "cose_sign1", "description": "Request body is a COSE Sign1 envelope signed by a registered user (kid = certificate fingerprint)"},
                    "member_cose_sign1": {"type": "http", "scheme": "cose_sign1", "description": "Request body is a COSE Sign1 envelope signed by a registered member"},
                    "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            }
        })
    }
}

fn trusted_ids(
    entries: impl IntoIterator<Item = (consort_kv::Bytes, consort_kv::Bytes)>,
) -> std::collections::BTreeSet<String> {
    entries
        .into_iter()
        .filter(|(_, v)| {
            serde_json::from_slice::<consort_ledger::tables::NodeInfo>(v)
                .is_ok_and(|n| n.status == consort_ledger::tables::NodeStatus::Trusted)
        })
        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
        .collect()
}

/// A transaction that changes which nodes are trusted changes consensus membership: one
/// node at a time, and only once the previous change has committed.
fn check_membership_change(node: &NodeState, tx: &mut Tx) -> Result<(), ApiError> {
    use consort_ledger::tables::NODES_INFO;
    if !tx.write_set().maps.contains_key(NODES_INFO) {
        return Ok(());
    }
    let before = trusted_ids(
        node.journal
            .store()
            .snapshot()
            .entries(NODES_INFO)
            .into_iter()
            .map(|(k, v, _)| (k, v)),
    );
    let after = trusted_ids(tx.range(NODES_INFO, &..));
    let changed = before.symmetric_difference(&after).count();
    if changed > 1 {
        return Err(ApiError::bad_request(
            "MembershipChangeTooLarge",
            format!(
                "This would change {changed} trusted nodes at once; change one node at a time."
            ),
        ));
    }
    if changed == 1 && !node.cluster.with(|r| r.membership_settled()) {
        return Err(ApiError::unavailable(
            "MembershipChangeInProgress",
            "The previous change of the service's nodes has not committed yet; retry.",
        ));
    }
    Ok(())
}

/// Run `endpoint` for `req` (already authenticated): execute, commit, retry on conflict.
pub(crate) fn execute(
    node: &NodeState,
    endpoint: &Endpoint,
    req: &Request,
) -> Result<Response, ApiError> {
    for _ in 0..MAX_RETRIES {
        let mut tx = node.journal.begin();
        let read_version = tx.read_version();
        let mut resp = {
            let mut ctx = Ctx {
                tx: &mut tx,
                req,
                node,
            };
            (endpoint.handler)(&mut ctx)?
        };
        if endpoint.mode == Mode::ReadOnly {
            if !tx.is_read_only() {
                return Err(ApiError::internal("read-only endpoint attempted a write"));
            }
            let view = node.journal.view_of(read_version).unwrap_or(0);
            resp.headers.push((
                http::HeaderName::from_static(TXID_HEADER),
                TxId::new(view, read_version).to_string(),
            ));
            return Ok(resp);
        }
        if !resp.status.is_success() {
            // Only successful responses commit.
            return Ok(resp);
        }
        check_membership_change(node, &mut tx)?;
        let started = std::time::Instant::now();
        match node.cluster.submit(tx) {
            Ok(CommitOutcome::Committed(c)) => {
                node.metrics.observe_commit(started.elapsed());
                resp.headers.push((
                    http::HeaderName::from_static(TXID_HEADER),
                    c.txid.to_string(),
                ));
                return Ok(resp);
            }
            Ok(CommitOutcome::ReadOnly { read_version }) => {
                let view = node.journal.view_of(read_version).unwrap_or(0);
                resp.headers.push((
                    http::HeaderName::from_static(TXID_HEADER),
                    TxId::new(view, read_version).to_string(),
                ));
                return Ok(resp);
            }
            Err(ReplicaError::Ledger(LedgerError::Kv(KvError::Conflict { .. }))) => {
                node.metrics.conflicts.inc();
                continue;
            }
            Err(ReplicaError::NotPrimary(_)) => {
                return Err(ApiError::unavailable(
                    "NotPrimary",
                    "This node stopped being the primary; retry.",
                ));
            }
            Err(e) => {
                tracing::error!("commit failed: {e}");
                return Err(ApiError::internal(
                    "The transaction could not be committed.",
                ));
            }
        }
    }
    Err(ApiError::unavailable(
        "TransactionCommitAttemptsExceedLimit",
        format!("Transaction conflicted {MAX_RETRIES} times; try again."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert!(match_template("/app/log/private", "/app/log/private").is_some());
        assert!(match_template("/app/log/private", "/app/log/private/x").is_none());
        let p = match_template("/gov/members/{id}", "/gov/members/ab%20c").unwrap();
        assert_eq!(p["id"], "ab c");
        assert!(match_template("/gov/members/{id}", "/gov/members/").is_none());
        let p = match_template("/gov/p/{id}:withdraw", "/gov/p/abc:withdraw").unwrap();
        assert_eq!(p["id"], "abc");
        assert!(match_template("/gov/p/{id}:withdraw", "/gov/p/abc:submit").is_none());
    }
}
