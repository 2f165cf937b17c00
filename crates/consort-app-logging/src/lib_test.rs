//! The logging app against the endpoint framework's node stub (no node process).

use bytes::Bytes;
use consort_crypto::{cert::self_signed_leaf, keys::SigningKey};
use consort_endpoints::testing::{request, TestHost};
use http::Method;

use super::*;

fn app() -> (TestHost, consort_crypto::cert::Certificate) {
    let mut r = Registry::new();
    register(&mut r);
    let host = TestHost::new(r);
    let key = SigningKey::generate().unwrap();
    let cert = self_signed_leaf(&key, "user", 30).unwrap();
    host.write(|tx| {
        consort_service::genesis::add_user(tx, &cert, &serde_json::Value::Null);
    });
    (host, cert)
}

fn call(
    h: &TestHost,
    cert: &consort_crypto::cert::Certificate,
    method: Method,
    path: &str,
    body: &str,
) -> Result<serde_json::Value, ApiError> {
    let mut req = request(method, path);
    req.client_cert = Some(cert.clone());
    req.body = Bytes::from(body.to_string());
    let r = h.call(req)?;
    Ok(serde_json::from_slice(&r.body).unwrap())
}

#[test]
fn records_are_written_read_paged_and_deleted() {
    let (h, c) = app();
    for id in [3u64, 1, 2, 10] {
        let body = format!(r#"{{"id": {id}, "msg": "m{id}"}}"#);
        assert_eq!(
            call(&h, &c, Method::POST, "/app/log/private", &body).unwrap(),
            true
        );
    }
    let got = call(&h, &c, Method::GET, "/app/log/private?id=2", "").unwrap();
    assert_eq!(got["msg"], "m2");
    // Ordered pages: ids in [1, 10), two per page.
    let page = call(
        &h,
        &c,
        Method::GET,
        "/app/log/private/range?from=1&to=10&limit=2",
        "",
    )
    .unwrap();
    assert_eq!(page["records"][0]["id"], 1);
    assert_eq!(page["records"][1]["id"], 2);
    assert_eq!(page["next"], 3);
    // A page holds 1 to 1,000 records: other limits are refused, not bent.
    for bad in ["limit=0", "limit=1001", "limit=-1"] {
        let path = format!("/app/log/private/range?from=1&{bad}");
        let e = call(&h, &c, Method::GET, &path, "").unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code),
            (400, "InvalidQueryParameterValue"),
            "{bad}"
        );
    }
    // Private and public maps are apart.
    assert_eq!(
        call(&h, &c, Method::GET, "/app/log/public?id=2", "")
            .unwrap_err()
            .status,
        404
    );
    assert_eq!(
        call(&h, &c, Method::DELETE, "/app/log/private?id=2", "").unwrap(),
        true
    );
    assert_eq!(
        call(&h, &c, Method::GET, "/app/log/private?id=2", "")
            .unwrap_err()
            .status,
        404
    );
}

#[test]
fn historical_reads_come_from_the_ledger_with_a_receipt() {
    let (h, c) = app();
    let mut req = request(Method::POST, "/app/log/public");
    req.client_cert = Some(c.clone());
    req.body = Bytes::from_static(br#"{"id": 7, "msg": "old"}"#);
    let r = h.call(req).unwrap();
    let txid: consort_kv::TxId = r
        .headers
        .iter()
        .find(|(k, _)| k.as_str() == consort_endpoints::TXID_HEADER)
        .unwrap()
        .1
        .parse()
        .unwrap();
    call(
        &h,
        &c,
        Method::POST,
        "/app/log/public",
        r#"{"id": 7, "msg": "new"}"#,
    )
    .unwrap();
    let path = format!(
        "/app/log/public/historical_receipt?id=7&seqno={}",
        txid.seqno
    );
    let got = call(&h, &c, Method::GET, &path, "").unwrap();
    assert_eq!(got["msg"], "old");
    assert_eq!(got["transaction_id"], txid.to_string());
    assert!(got["receipt"]["proof"].is_array());
    // A transaction that did not write the record, and bad input.
    let path = format!("/app/log/public/historical?id=8&seqno={}", txid.seqno);
    assert_eq!(
        call(&h, &c, Method::GET, &path, "").unwrap_err().status,
        404
    );
    let e = call(&h, &c, Method::POST, "/app/log/public", "{").unwrap_err();
    assert_eq!((e.status.as_u16(), e.code), (400, "InvalidInput"));
}
