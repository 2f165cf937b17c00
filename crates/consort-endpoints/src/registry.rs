//! The registry: endpoints (method, path template, mode, auth policies, handler), and the
//! applications' hooks into service creation and governance.

use std::{collections::BTreeMap, sync::Arc};

use consort_kv::Tx;
use http::{Method, StatusCode};

use crate::{
    api::{ApiError, Response},
    auth::AuthPolicy,
    context::Ctx,
};

/// Header carrying the id of the transaction a response reflects, as in CCF.
pub const TXID_HEADER: &str = "x-ms-ccf-transaction-id";

/// Whether a handler may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadOnly,
    ReadWrite,
}

/// A handler: a plain function (or closure) of its context.
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
    /// For a socket endpoint: the application that serves its upgraded connections (a
    /// plain `GET` gets the handler's 426).
    pub socket: Option<crate::socket::SocketHandler>,
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

/// An application's error from a governance hook: the proposal cannot be applied.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Writes an application makes in the genesis transaction of a new service.
pub type GenesisHook = Arc<dyn Fn(&mut Tx) + Send + Sync>;

/// Writes an application makes when a governance proposal is applied, in the same
/// transaction (e.g. settings the constitution left in a governance table). An error
/// fails the whole request: nothing of the proposal is applied.
pub type GovernanceHook = Arc<dyn Fn(&mut Tx) -> Result<(), HookError> + Send + Sync>;

/// All endpoints of a node, and the applications' hooks and governance.
#[derive(Default, Clone)]
pub struct Registry {
    endpoints: Vec<Endpoint>,
    genesis: Vec<GenesisHook>,
    governance: Vec<GovernanceHook>,
    gov_tables: Vec<&'static str>,
    gov_actions: Vec<&'static str>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("endpoints", &self.endpoints)
            .field("genesis_hooks", &self.genesis.len())
            .field("gov_tables", &self.gov_tables)
            .finish()
    }
}

/// Match `path` against a template with `{name}` and CCF's `{name}:verb` segments; the
/// segment values, percent-decoded.
pub(crate) fn match_template(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    // Exactly the canonical form: one leading slash, no empty segment, no trailing slash
    // (`//app/x` and `/app/x/` are other paths, as in CCF).
    let p: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = BTreeMap::new();
    for (a, b) in t.iter().zip(&p) {
        if let Some((name, suffix)) = a.strip_prefix('{').and_then(|n| n.split_once('}')) {
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
        f: impl Fn(&mut Tx) -> Result<(), HookError> + Send + Sync + 'static,
    ) {
        self.governance.push(Arc::new(f));
    }

    /// Run every application's governance hook on `tx`.
    pub fn run_proposal_applied(&self, tx: &mut Tx) -> Result<(), HookError> {
        self.governance.iter().try_for_each(|g| g(tx))
    }

    /// An application's governance: the `public:ccf.gov.*` tables its actions write, and
    /// the actions themselves (constitution code extending `APPLY`; see
    /// `consort_governance::with_app_actions`).
    pub fn add_governance(&mut self, tables: &[&'static str], actions_js: &'static str) {
        self.gov_tables.extend_from_slice(tables);
        self.gov_actions.push(actions_js);
    }

    /// The applications' governance tables.
    pub fn gov_tables(&self) -> &[&'static str] {
        &self.gov_tables
    }

    /// The applications' governance actions (constitution fragments).
    pub fn gov_actions(&self) -> &[&'static str] {
        &self.gov_actions
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
            socket: None,
        });
    }

    /// Register a WebSocket endpoint at `GET path`, served by `app` once upgraded (with
    /// the same authentication as any endpoint); a `GET` without an upgrade gets 426.
    pub fn add_socket(
        &mut self,
        path: &str,
        auth: &[AuthPolicy],
        summary: &str,
        app: crate::socket::SocketHandler,
    ) {
        self.add(Method::GET, path, Mode::ReadOnly, auth, summary, |_| {
            Err(ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                "UpgradeRequired",
                "This endpoint speaks WebSocket: send Upgrade: websocket.",
            ))
        });
        self.endpoints.last_mut().expect("just added").socket = Some(app);
    }

    /// Every endpoint, in registration order.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
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
}

#[cfg(test)]
#[path = "registry_test.rs"]
mod registry_test;
