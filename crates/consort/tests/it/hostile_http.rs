//! Requests a strict HTTP parser refuses, sent raw over TLS by Python's `ssl` module (a
//! client nobody here wrote): each refusal is a 4xx with CCF's JSON error body — also
//! those hyper makes before any handler runs (issue 18, defect 2) — and the node serves
//! normally afterwards.

use std::path::Path;

use serde_json::Value;

use crate::common::{run_python, text, Sandbox};

#[test]
fn protocol_errors_have_ccf_json_bodies() {
    let sb = Sandbox::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/hostile_http.py");
    let port = sb.port.to_string();
    let out = run_python(&[
        script.to_str().unwrap(),
        "127.0.0.1",
        &port,
        &sb.file("service_cert.pem"),
        &sb.file("user0_cert.pem"),
        &sb.file("user0_privk.pem"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let results: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expect = [
        ("header_60k", 431, "RequestHeaderTooLarge"),
        ("headers_5000", 431, "RequestHeaderTooLarge"),
        ("header_1m", 431, "RequestHeaderTooLarge"),
        ("http09", 400, "MalformedRequest"),
        ("content_length_abc", 400, "MalformedRequest"),
        ("nul_in_path", 400, "MalformedRequest"),
        ("absolute_form", 400, "InvalidRequestTarget"),
        ("text_plain_json", 415, "UnsupportedContentType"),
    ];
    assert_eq!(results.len(), expect.len(), "{results:?}");
    for ((case, status, code), r) in expect.iter().zip(&results) {
        assert_eq!(r["case"], *case);
        assert_eq!(r["status"], *status, "{case}: {r}");
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{case}: body is not JSON ({e}): {r}"));
        assert_eq!(body["error"]["code"], *code, "{case}: {r}");
        assert!(
            !body["error"]["message"].as_str().unwrap().is_empty(),
            "{case}"
        );
    }
    // Still serving.
    let (status, _, _) = sb.curl(Some("user0"), &[&sb.url("/node/state")]);
    assert_eq!(status, 200);
}
