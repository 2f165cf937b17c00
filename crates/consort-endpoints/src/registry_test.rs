use http::Method;

use super::*;
use crate::auth::AuthPolicy::NoAuth;

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
    // Only the canonical form of a path is that path.
    for other in [
        "//app/log/private",
        "/app/log/private/",
        "/app//log/private",
        "app/log/private",
        "/app/log/private//",
    ] {
        assert!(
            match_template("/app/log/private", other).is_none(),
            "{other}"
        );
    }
    assert!(match_template("/gov/members/{id}", "/gov/members//x").is_none());
}

/// The request helpers refuse what a loose parser would guess at: another content type
/// for a JSON body (415), a query parameter given twice (400).
#[test]
fn json_bodies_and_queries_are_taken_strictly() {
    let mut r = crate::testing::request(Method::POST, "/app/x");
    r.body = bytes::Bytes::from_static(br#"{"a": 1}"#);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["a"], 1, "no content type: read as JSON");
    for ok in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
    ] {
        r.headers
            .insert(http::header::CONTENT_TYPE, ok.parse().unwrap());
        assert!(r.json::<serde_json::Value>().is_ok(), "{ok}");
    }
    for bad in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        r.headers
            .insert(http::header::CONTENT_TYPE, bad.parse().unwrap());
        let e = r.json::<serde_json::Value>().unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code),
            (415, "UnsupportedContentType"),
            "{bad}"
        );
    }
    let q = crate::Request::parse_query(Some("a=1&b=x%20y")).unwrap();
    assert_eq!((q["a"].as_str(), q["b"].as_str()), ("1", "x y"));
    assert!(crate::Request::parse_query(None).unwrap().is_empty());
    let e = crate::Request::parse_query(Some("limit=1&limit=2")).unwrap_err();
    assert_eq!(
        (e.status.as_u16(), e.code),
        (400, "InvalidQueryParameterValue")
    );
    assert!(e.message.contains("limit"), "{}", e.message);
}

#[test]
fn routing_distinguishes_unknown_paths_from_wrong_methods() {
    let mut r = Registry::new();
    r.add(
        Method::GET,
        "/app/x",
        Mode::ReadOnly,
        &[NoAuth],
        "x",
        |_| Ok(Response::json(&1)),
    );
    assert!(r.route(&Method::GET, "/app/x").is_ok());
    assert_eq!(r.route(&Method::GET, "/app/y").unwrap_err().status, 404);
    let e = r.route(&Method::POST, "/app/x").unwrap_err();
    assert_eq!(e.status, 405);
    assert!(e.message.contains("GET"));
    let doc = crate::openapi::document(&r, "/app", "t");
    assert!(doc["paths"]["/app/x"]["get"].is_object());
}
