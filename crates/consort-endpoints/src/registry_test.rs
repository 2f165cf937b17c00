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
