use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::Method;

use crate::{
    execute::{execute, Host, SubmitError},
    testing::{request, TestHost},
    AuthPolicy::NoAuth,
    Mode, Registry, Response, TXID_HEADER,
};

fn txid_header(r: &Response) -> String {
    r.headers
        .iter()
        .find(|(k, _)| k.as_str() == TXID_HEADER)
        .map(|(_, v)| v.clone())
        .expect("transaction id header")
}

#[test]
fn writes_commit_and_reads_see_them_with_transaction_ids() {
    let mut r = Registry::new();
    r.add(
        Method::POST,
        "/app/w",
        Mode::ReadWrite,
        &[NoAuth],
        "w",
        |ctx| {
            ctx.tx
                .put("m", Bytes::from_static(b"k"), ctx.req.body.clone());
            Ok(Response::json(&true))
        },
    );
    r.add(
        Method::GET,
        "/app/r",
        Mode::ReadOnly,
        &[NoAuth],
        "r",
        |ctx| {
            let v = ctx.tx.get("m", b"k").unwrap_or_default();
            Ok(Response::json(&String::from_utf8_lossy(&v)))
        },
    );
    r.add(
        Method::GET,
        "/app/bad",
        Mode::ReadOnly,
        &[NoAuth],
        "bad",
        |ctx| {
            ctx.tx
                .put("m", Bytes::from_static(b"k"), Bytes::from_static(b"no"));
            Ok(Response::json(&true))
        },
    );
    let h = TestHost::new(r);
    let mut w = request(Method::POST, "/app/w");
    w.body = Bytes::from_static(b"v1");
    let written = h.call(w).unwrap();
    let txid: consort_kv::TxId = txid_header(&written).parse().unwrap();
    assert!(txid.seqno > 0);
    let read = h.call(request(Method::GET, "/app/r")).unwrap();
    assert_eq!(read.body.as_ref(), b"\"v1\"");
    assert!(
        txid_header(&read)
            .parse::<consort_kv::TxId>()
            .unwrap()
            .seqno
            >= txid.seqno
    );
    // A read-only endpoint that writes is a bug: 500, and nothing is written.
    assert_eq!(
        h.call(request(Method::GET, "/app/bad")).unwrap_err().status,
        500
    );
    let read = h.call(request(Method::GET, "/app/r")).unwrap();
    assert_eq!(read.body.as_ref(), b"\"v1\"");
}

/// A host whose first `conflicts` submissions conflict, and which counts submissions.
struct Flaky {
    inner: TestHost,
    conflicts: AtomicUsize,
    submitted: AtomicUsize,
}

impl Host for Flaky {
    fn begin(&self) -> consort_kv::Tx {
        self.inner.begin()
    }
    fn begin_at(&self, v: consort_kv::Version) -> Result<consort_kv::Tx, consort_kv::KvError> {
        self.inner.begin_at(v)
    }
    fn submit(&self, tx: consort_kv::Tx) -> Result<consort_kv::CommitOutcome, SubmitError> {
        self.submitted.fetch_add(1, Ordering::SeqCst);
        if self
            .conflicts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(SubmitError::Conflict);
        }
        self.inner.submit(tx)
    }
    fn ledger(&self) -> &dyn crate::LedgerView {
        self.inner.ledger()
    }
    fn gov(&self) -> &dyn crate::GovEffects {
        self.inner.gov()
    }
    fn node(&self) -> &dyn crate::NodeView {
        self.inner.node()
    }
}

#[test]
fn a_conflicting_transaction_is_re_executed_until_the_limit() {
    let mut r = Registry::new();
    r.add(
        Method::POST,
        "/app/c",
        Mode::ReadWrite,
        &[NoAuth],
        "c",
        |ctx| {
            ctx.tx
                .put("m", Bytes::from_static(b"k"), Bytes::from_static(b"v"));
            Ok(Response::json(&true))
        },
    );
    r.add(
        Method::POST,
        "/app/e",
        Mode::ReadWrite,
        &[NoAuth],
        "e",
        |ctx| {
            ctx.tx
                .put("m", Bytes::from_static(b"e"), Bytes::from_static(b"x"));
            Ok(Response::json(&false).with_status(http::StatusCode::BAD_REQUEST))
        },
    );
    let host = Flaky {
        inner: TestHost::new(r.clone()),
        conflicts: AtomicUsize::new(3),
        submitted: AtomicUsize::new(0),
    };
    let (ep, _) = r.route(&Method::POST, "/app/c").unwrap();
    let req = request(Method::POST, "/app/c");
    let ok = execute(&host, ep, &req).unwrap();
    assert_eq!(
        host.submitted.load(Ordering::SeqCst),
        4,
        "3 conflicts, then the commit"
    );
    assert!(txid_header(&ok).parse::<consort_kv::TxId>().is_ok());
    host.conflicts.store(usize::MAX, Ordering::SeqCst);
    let e = execute(&host, ep, &req).unwrap_err();
    assert_eq!(e.status, 503);
    assert_eq!(e.code, "TransactionCommitAttemptsExceedLimit");
    // An error response commits nothing (and is not submitted).
    let before = host.submitted.load(Ordering::SeqCst);
    let (ep, _) = r.route(&Method::POST, "/app/e").unwrap();
    assert_eq!(
        execute(&host, ep, &request(Method::POST, "/app/e"))
            .unwrap()
            .status,
        400
    );
    assert_eq!(host.submitted.load(Ordering::SeqCst), before);
    assert!(host.begin().get("m", b"e").is_none());
}

#[test]
fn refusals_and_fatal_errors_reach_the_caller_as_errors() {
    assert!(SubmitError::Conflict.is_retryable());
    assert!(SubmitError::NotPrimary.is_retryable());
    assert!(!SubmitError::Fatal("disk".into()).is_retryable());
    assert!(!SubmitError::Refused(crate::ApiError::invalid_input("x")).is_retryable());
}
