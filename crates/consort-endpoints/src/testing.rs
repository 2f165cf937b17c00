//! A node stub for tests (feature `test-utils`): a real one-node journal in a temporary
//! directory behind [`Host`], with no consensus, network or server. Handlers and the
//! authentication policies run against it exactly as on a node.

use std::collections::BTreeMap;

use bytes::Bytes;
use consort_crypto::cert::Certificate;
use consort_kv::{CommitOutcome, KvError, Tx};
use consort_ledger::{testing::TestService, LedgerError};
use http::{HeaderMap, Method};

use crate::{
    api::{ApiError, Caller, Request, Response},
    auth,
    context::{GovEffects, LedgerView, NodeView},
    execute::{self, Host, SubmitError},
    registry::Registry,
};

/// A one-node service with a registry, for handler and auth tests.
#[derive(Debug)]
pub struct TestHost {
    pub service: TestService,
    pub registry: Registry,
    node_id: String,
    service_cert: Certificate,
    _dir: tempfile::TempDir,
}

impl NodeView for TestHost {
    fn node_id(&self) -> &str {
        &self.node_id
    }
    fn service_cert(&self) -> &Certificate {
        &self.service_cert
    }
}

impl Host for TestHost {
    fn begin(&self) -> Tx {
        self.service.journal.begin()
    }
    fn begin_at(&self, version: consort_kv::Version) -> Result<Tx, KvError> {
        self.service.journal.store().begin_at(version)
    }
    fn submit(&self, tx: Tx) -> Result<CommitOutcome, SubmitError> {
        match self.service.journal.commit(tx) {
            Ok(o) => Ok(o),
            Err(LedgerError::Kv(KvError::Conflict { .. })) => Err(SubmitError::Conflict),
            Err(e) => Err(SubmitError::Fatal(e.to_string())),
        }
    }
    fn ledger(&self) -> &dyn LedgerView {
        &self.service.journal
    }
    fn gov(&self) -> &dyn GovEffects {
        &self.service.journal
    }
    fn node(&self) -> &dyn NodeView {
        self
    }
}

impl TestHost {
    /// A new service (open, signing every transaction) serving `registry`.
    pub fn new(registry: Registry) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let service =
            TestService::create(dir.path(), |c| c.sig_tx_interval = 1).expect("test service");
        // As a node keeps by default: the state of past versions, for reads at them.
        service.journal.store().set_history(10_000);
        Self {
            node_id: service.node.node_id.clone(),
            service_cert: service.service.cert.clone(),
            service,
            registry,
            _dir: dir,
        }
    }

    /// Commit `f`'s writes (test setup, e.g. registering identities).
    pub fn write(&self, f: impl FnOnce(&mut Tx)) {
        let mut tx = self.begin();
        f(&mut tx);
        self.service.journal.commit(tx).expect("setup commit");
    }

    /// Route, authenticate and execute `req` as the node's server does.
    pub fn call(&self, mut req: Request) -> Result<Response, ApiError> {
        let (endpoint, params) = self.registry.route(&req.method, &req.path)?;
        req.params = params;
        let mut tx = self.begin();
        req.caller = auth::authenticate(&mut tx, &endpoint.auth, &mut req, auth::now())?;
        execute::execute(self, endpoint, &req)
    }
}

/// A request with no credentials, headers or body.
pub fn request(method: Method, path_and_query: &str) -> Request {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let query: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    Request {
        method,
        path: path.to_string(),
        params: BTreeMap::new(),
        query,
        headers: HeaderMap::new(),
        body: Bytes::new(),
        caller: Caller::Anonymous,
        client_cert: None,
        cose_headers: BTreeMap::new(),
    }
}
